"""The HTTP exchange with one gateway: aiohttp, bounded retries, the library's errors.

Every request to a gateway goes through an ``aiohttp.ClientSession``: the caller's, when one
is given (as Home Assistant does), else one this module owns with a connector made for one
fragile device (one connection, kept alive briefly, a small TLS read buffer, the pin).
Whatever aiohttp raises comes back as an :class:`~enphase_local.errors.EnphaseError`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Mapping
from http.cookies import Morsel
from typing import Any, Final

import aiohttp
from aiohttp import hdrs
from multidict import CIMultiDict, CIMultiDictProxy

from enphase_local.errors import (
    AuthenticationError,
    CertificateMismatchError,
    EnphaseError,
    GatewayConnectionError,
    GatewayTimeoutError,
    ResponseTooLargeError,
    SessionClosedError,
)
from enphase_local.replies import SESSION_COOKIE, Reply, describe
from enphase_local.transport import (
    GatewayAddress,
    gateway_connector,
    gateway_ssl_context,
    ssl_for,
)

_LOGGER = logging.getLogger("enphase_local.session")

#: Statuses that mean "the gateway is struggling, try again later" (openresty's 504 above all).
RETRY_STATUSES: Final = frozenset({502, 503, 504})


class Exchange:
    """Sends requests to one gateway and reads their replies, within a body cap.

    GETs are sent again, a bounded number of times with jittered backoff, after a failure
    that says nothing about the request itself (a dropped, refused or timed-out connection,
    or a 502/503/504). The caller bounds the time of a whole call (``asyncio.timeout``).
    """

    def __init__(
        self,
        address: GatewayAddress,
        *,
        session: aiohttp.ClientSession | None,
        pin: bytes | None,
        connect_timeout: float,
        retries: int,
        retry_backoff: float,
        max_body_bytes: int,
        keep_alive: bool,
    ) -> None:
        #: Where requests go (the scheme may change once, for legacy firmware over HTTP).
        self.address = address
        self._external = session
        self._client: aiohttp.ClientSession | None = session
        self._retired: aiohttp.ClientSession | None = None
        self._pin = pin
        self._ssl = self._request_ssl()
        # aiohttp times the connect (TCP and TLS handshake); the whole call is bounded by
        # the session's own deadline, so no per-read timer is needed.
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout)
        self._connect_timeout = connect_timeout
        self._retries = max(0, retries)
        self._retry_backoff = retry_backoff
        self._max_body_bytes = max_body_bytes
        self._keep_alive = keep_alive
        self._closed = False
        #: How many GETs were sent again after a transient failure.
        self.retried = 0

    @property
    def host(self) -> str:
        """The gateway's host name or address."""
        return self.address.host

    @property
    def pin(self) -> bytes | None:
        """The pinned SHA-256 certificate fingerprint, if any."""
        return self._pin

    def set_pin(self, pin: bytes) -> None:
        """Pin the certificate from now on: new connections carry the pin."""
        self._pin = pin
        self._ssl = self._request_ssl()
        if self._client is not None and self._client is not self._external:
            self._retired, self._client = self._client, None

    def _request_ssl(self) -> ssl.SSLContext | aiohttp.Fingerprint:
        # With our own connector the pin sits on it and every request passes the lean shared
        # context; a caller's session gets the pin on each request.
        return ssl_for(self._pin) if self._external is not None else gateway_ssl_context()

    async def close(self) -> None:
        """Close the HTTP session if this object created it; a caller's stays open."""
        self._closed = True
        await self._close_retired()
        if self._client is not None and self._client is not self._external:
            await self._client.close()
        self._client = None

    async def _close_retired(self) -> None:
        retired, self._retired = self._retired, None
        if retired is not None:
            await retired.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._closed:
            raise SessionClosedError(f"the session with gateway {self.host} is closed")
        if self._client is None:
            pin = aiohttp.Fingerprint(self._pin) if self._pin is not None else None
            self._client = aiohttp.ClientSession(
                connector=gateway_connector(pin=pin, keep_alive=self._keep_alive),
                # The session cookie is sent explicitly; the jar keeps nothing.
                cookie_jar=aiohttp.DummyCookieJar(),
                raise_for_status=False,
                auto_decompress=True,
            )
        return self._client

    async def get(
        self,
        path: str,
        headers: Mapping[str, str],
        *,
        middleware: aiohttp.DigestAuthMiddleware | None = None,
    ) -> Reply:
        """GET ``path``, sent again after transient failures (within the retry budget)."""
        attempt = 0
        while True:
            try:
                reply = await self.send("GET", path, headers, middleware=middleware)
            except CertificateMismatchError:
                raise
            except GatewayConnectionError:
                if attempt >= self._retries:
                    raise
            else:
                if reply.status not in RETRY_STATUSES or attempt >= self._retries:
                    return reply
            self.retried += 1
            delay = self._retry_backoff * (2**attempt) * random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not crypto
            _LOGGER.debug("GET %s: transient failure, retry %d in %.2f s", path, attempt + 1, delay)
            await asyncio.sleep(delay)
            attempt += 1

    async def send(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        *,
        payload: Mapping[str, Any] | None = None,
        data: bytes | None = None,
        middleware: aiohttp.DigestAuthMiddleware | None = None,
    ) -> Reply:
        """Send one request and read its whole reply; the library's error on any failure.

        ``payload`` goes as JSON serialised by aiohttp; ``data`` as these very bytes, labelled
        ``application/json`` (a control write, whose exact body was shown beforehand).
        """
        if self._retired is not None:
            await self._close_retired()
        client = self._http()
        debug = _LOGGER.isEnabledFor(logging.DEBUG)
        started = time.monotonic() if debug else 0.0
        if data is not None:
            headers = {**headers, hdrs.CONTENT_TYPE: "application/json"}
        request = client.request(
            method,
            self.address.base_url + path,
            headers=headers if self._keep_alive else {**headers, "Connection": "close"},
            json=payload,
            data=data,
            allow_redirects=False,
            ssl=self._ssl if self.address.scheme == "https" else False,
            timeout=self._timeout,
            middlewares=(middleware,) if middleware is not None else (),
        )
        try:
            # A reply left unread by a failure (a cap, the deadline) closes its connection
            # as the context ends: aiohttp reuses only connections whose reply was complete.
            async with request as response:
                body = await self._read_body(path, response)
                if self._external is not None and hdrs.SET_COOKIE in response.headers:
                    self._forget_session_cookie()
                reply = Reply(response.status, response.headers, body)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as err:
            raise self._failure(path, err, digest=middleware is not None) from err
        if debug:
            _LOGGER.debug(
                "%s %s -> %d (%d bytes) in %.1f ms",
                method,
                path,
                reply.status,
                len(reply.body),
                (time.monotonic() - started) * 1000,
            )
        return reply

    async def _read_body(self, path: str, response: aiohttp.ClientResponse) -> bytes:
        """The whole body, held to the cap.

        One announced over the cap is refused unread. Without an announced length, or for a
        compressed body (whose announced length counts compressed bytes), the cap is held
        against what arrives, chunk by chunk.
        """
        cap = self._max_body_bytes
        length = response.content_length
        if length is not None and hdrs.CONTENT_ENCODING not in response.headers:
            if length > cap:
                raise ResponseTooLargeError(
                    f"the gateway announced {length} bytes, more than the {cap}-byte cap",
                    endpoint=path,
                )
            return await response.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > cap:
                raise ResponseTooLargeError(
                    f"the body exceeded the {cap}-byte cap and was cut off", endpoint=path
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _forget_session_cookie(self) -> None:
        """Take the gateway's session cookie back out of a caller's cookie jar.

        The library sends the cookie itself, with the token it belongs to; left in the
        caller's jar it would ride along on their other requests to this host.
        """
        assert self._external is not None
        host = self.address.host

        def ours(morsel: Morsel[str]) -> bool:
            return morsel.key == SESSION_COOKIE and morsel["domain"] in ("", host)

        self._external.cookie_jar.clear(ours)

    def _failure(self, path: str, err: Exception, *, digest: bool) -> EnphaseError:
        """The library's error for what aiohttp raised during a request."""
        if isinstance(err, aiohttp.ServerFingerprintMismatch):
            return CertificateMismatchError(
                f"gateway {self.host}: its TLS certificate does not match the pinned "
                f"fingerprint (got {err.got.hex()})"
            )
        if isinstance(err, TimeoutError):  # aiohttp's only timer here: the connect
            return GatewayTimeoutError(
                f"{path}: cannot connect to gateway {self.host} within {self._connect_timeout:g} s"
            )
        if isinstance(err, aiohttp.ClientResponseError):
            # Its request_info (also in args and repr) holds our request headers: the token
            # and the session cookie. Chain it, but without them.
            _forget_request_headers(err)
            text = f"{self.host} sent a reply that cannot be read: {describe(err)}"
        elif isinstance(err, aiohttp.ClientPayloadError):
            text = f"the response from {self.host} was cut off ({err.__class__.__name__})"
        elif isinstance(err, aiohttp.ClientConnectionError | OSError):
            text = f"cannot reach gateway {self.host}: {describe(err)}"
        elif digest:
            return AuthenticationError(
                f"{path}: the gateway's digest challenge cannot be used ({describe(err)})"
            )
        elif isinstance(err, ValueError):
            # aiohttp refuses a header value with a line break (it could forge headers).
            return AuthenticationError(f"{path}: a request header cannot be sent: {err}")
        else:
            text = f"request to {self.host} failed: {describe(err)}"
        return GatewayConnectionError(f"{path}: {text}")


def _forget_request_headers(err: aiohttp.ClientResponseError) -> None:
    info = err.request_info
    err.request_info = aiohttp.RequestInfo(
        url=info.url,
        method=info.method,
        headers=CIMultiDictProxy(CIMultiDict()),
        real_url=info.real_url,
    )
    err.args = (err.request_info, err.history)
