"""GatewaySession: one gateway, its address, TLS, auth state and polite request handling."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import ssl
import time
from collections.abc import Coroutine, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import aiohttp
from aiohttp import hdrs
from multidict import CIMultiDict, CIMultiDictProxy

from enphase_local import endpoints as ep
from enphase_local._version import __version__
from enphase_local.auth.legacy import envoy_password, installer_password
from enphase_local.auth.manager import TokenManager
from enphase_local.auth.sources import TokenSource, as_token_source
from enphase_local.auth.token import DEFAULT_REFRESH_MARGIN, RefreshMargin, Token
from enphase_local.endpoints import Endpoint
from enphase_local.errors import (
    AuthenticationError,
    CertificateMismatchError,
    EndpointForbiddenError,
    EnphaseError,
    GatewayConnectionError,
    GatewayTimeoutError,
    HttpStatusError,
    NotSupportedError,
    PayloadError,
    ResponseTooLargeError,
    TokenRejectedError,
    TokenSerialMismatchError,
)
from enphase_local.models import (
    ConsumptionReport,
    DeviceList,
    Energy,
    GridReading,
    Info,
    Inverter,
    LiveData,
    LiveStreamState,
    Meter,
    MeterReading,
    Production,
)
from enphase_local.parsing import parse_stream_status
from enphase_local.transport import (
    DEFAULT_MAX_BODY_BYTES,
    GatewayAddress,
    gateway_connector,
    gateway_ssl_context,
    normalize_fingerprint,
    parse_address,
    peer_certificate_sha256,
    ssl_for,
)
from enphase_local.trust import TrustStore
from enphase_local.wire import (
    BadReplyError,
    BodyTooLargeError,
    ConnectionClosedError,
    ConnectTimeoutError,
    FingerprintMismatchError,
    RawHeader,
    WireClient,
    WireError,
)

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

#: Statuses that mean "the gateway is struggling, try again later" (openresty's 504 above all).
_RETRY_STATUSES: Final = frozenset({502, 503, 504})
_SESSION_COOKIE: Final = "sessionId"
_USER_AGENT: Final = f"enphase-local/{__version__}"
#: What every request accepts: JSON from /ivp and /api, XML from /info.
_ACCEPT: Final = "application/json, text/xml;q=0.9, */*;q=0.5"
_VALID_TOKEN_MARK: Final = b"Valid token"
_NOT_FOUND_HTML = re.compile(rb"not\s*found|\b404\b", re.IGNORECASE)
_SOFT_ERROR_KEYS: Final = frozenset({"error", "err", "status", "info", "moreInfo"})
#: The ``aud`` of tokens for gateways that are not yet commissioned to a system.
UNCOMMISSIONED: Final = "un-commissioned"


class _Reply:
    """Status, headers and body of one answered request."""

    __slots__ = ("_headers", "_raw_headers", "body", "status")

    def __init__(
        self,
        status: int,
        headers: CIMultiDictProxy[str] | None,
        body: bytes,
        raw_headers: list[RawHeader] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self._headers = headers
        self._raw_headers = raw_headers

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The headers, built from the raw ones on first use (most replies never need them)."""
        if self._headers is None:
            self._headers = CIMultiDictProxy(
                CIMultiDict(
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in self._raw_headers or ()
                )
            )
        return self._headers


class _Deadline:
    """Cancels the running task if a request outlasts ``seconds``: one plain timer.

    ``asyncio.timeout`` (or aiohttp's total timeout) does the same with more work per
    request. When ``CancelledError`` arrives, :meth:`passed` tells whether the deadline alone
    caused it (and takes that cancellation back); :meth:`done` stands the timer down and
    takes back a cancellation the deadline made that surfaced as another error.
    """

    __slots__ = ("_handle", "_pending", "_task", "fired")

    def __init__(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        #: Whether the deadline came and cancelled the task.
        self.fired = False
        self._pending = False
        self._handle = loop.call_at(loop.time() + seconds, self._fire)

    def _fire(self) -> None:
        if self._task is not None and not self._task.done():
            self.fired = self._pending = True
            self._task.cancel()

    def _take_back(self) -> int:
        self._pending = False
        assert self._task is not None  # only set when fired
        return self._task.uncancel()

    def passed(self) -> bool:
        """Whether the deadline cancelled the task, and nothing else did."""
        return self._pending and self._take_back() == 0

    def done(self) -> None:
        """Stand the timer down (the request is over)."""
        self._handle.cancel()
        if self._pending:
            self._take_back()


class GatewaySession:
    """An async session with one IQ Gateway.

    Use it as ``async with GatewaySession("envoy.local", token="eyJ...") as gateway:`` and
    await its endpoint methods. The session fetches ``/info`` once on first use to learn the
    firmware (legacy gateways below 7.0 speak plain HTTP and need no token), keeps at most
    one request in flight, retries idempotent reads a bounded number of times, and maps
    every failure to an :class:`~enphase_local.errors.EnphaseError`.
    """

    def __init__(
        self,
        host: str,
        *,
        token: str | Token | TokenSource | TokenManager | None = None,
        session: aiohttp.ClientSession | None = None,
        refresh_margin: RefreshMargin | timedelta = DEFAULT_REFRESH_MARGIN,
        fingerprint: str | bytes | None = None,
        trust: TrustStore | None = None,
        allow_http: bool = False,
        connect_timeout: float = 10.0,
        read_timeout: float = 45.0,
        retries: int = 2,
        retry_backoff: float = 0.5,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        keep_alive: bool = True,
        strict: bool = False,
    ) -> None:
        """Describe a gateway; nothing is sent until the first request.

        Args:
            host: ``envoy.local``, an address (``192.168.1.20``, ``[fe80::1]``), or a URL
                with scheme and port (``https://127.0.0.1:8443``).
            token: the access token for firmware 7 and newer: the JWT text, a parsed
                :class:`~enphase_local.auth.token.Token`, or a token source (a file, the
                cloud, a callback) that the session asks again before the token expires,
                or a ready :class:`~enphase_local.auth.manager.TokenManager` (for its
                clock, skew and retry settings).
            session: an ``aiohttp.ClientSession`` the caller owns (and closes). Requests then
                go through it (its connector, proxies and trace hooks apply); without it the
                session keeps one HTTP/1.1 connection of its own, which costs about half
                the client CPU per request.
            refresh_margin: how long before expiry a new token is fetched (the default
                suits both 12-hour installer and year-long owner tokens).
            fingerprint: SHA-256 fingerprint of the gateway certificate to pin (hex).
            trust: a trust-on-first-use store: the certificate seen on first contact (before
                any token is sent) is recorded and pinned from then on; a different one is
                refused until accepted in the store. Ignored when ``fingerprint`` is given.
            allow_http: allow plain HTTP for firmware that needs a token (explicit opt-in).
            connect_timeout: seconds to wait for a new connection to open (the TCP connect
                and the TLS handshake; the TCP connect only through a caller's ``session``).
            read_timeout: seconds one request may take in all, from sending it (opening a
                connection first if need be) to the last byte of the answer.
            retries: extra attempts for idempotent reads after a transient failure.
            retry_backoff: base delay in seconds of the jittered exponential backoff.
            max_body_bytes: a longer body is cut off with ``ResponseTooLargeError``.
            keep_alive: reuse connections; turn off for gateways with broken keep-alive.
            strict: make unknown keys in bodies errors (for tests over real captures).
        """
        self._address: GatewayAddress = parse_address(host)
        if isinstance(token, str) and not token.strip():
            token = None
        if isinstance(token, TokenManager) or token is None:
            self._tokens = token
        else:
            self._tokens = TokenManager(as_token_source(token), refresh_margin=refresh_margin)
        #: The token the gateway last accepted at check_jwt (the session cookie belongs to it).
        self._checked: Token | None = None
        self._candidate: asyncio.Task[Token] | None = None
        self._external_client = session
        self._client: aiohttp.ClientSession | None = session
        pin = normalize_fingerprint(fingerprint) if fingerprint else None
        self._trust = trust if pin is None else None
        self._trust_key = self._address.authority
        if self._trust is not None:
            pin = self._trust.get(self._trust_key)
        #: True until the certificate of a first contact has been recorded in the trust store.
        self._learn_certificate = self._trust is not None and pin is None
        self._retired: aiohttp.ClientSession | None = None
        self._wire_client: WireClient | None = None
        self._set_pin(pin)
        self._allow_http = allow_http
        self._deadline = read_timeout
        self._connect_timeout = connect_timeout
        # aiohttp times the TCP connect only; the request's deadline is one timer of our own
        # (see _send), which also bounds a TLS handshake that stalls and a body that drips in
        # forever. aiohttp's total and per-read timers would cost about a tenth of the client
        # CPU of a kept-alive GET.
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=connect_timeout, sock_read=None
        )
        self._retries = max(0, retries)
        self._retried = 0
        self._retry_backoff = retry_backoff
        self._max_body_bytes = max_body_bytes
        self._keep_alive = keep_alive
        self._strict = strict
        self._lock = asyncio.Lock()
        self._info: Info | None = None
        self._legacy = False
        self._session_id: str | None = None
        #: The headers last sent with a token: (token, cookie, headers).
        self._header_cache: tuple[Token | None, str | None, dict[str, str]] | None = None
        #: Those headers as lines for the wire: (the headers above, their lines).
        self._head_cache: tuple[dict[str, str], bytes] | None = None
        self._digest: dict[str, aiohttp.DigestAuthMiddleware] = {}
        self._closed = False

    def __repr__(self) -> str:
        serial = self._info.serial_number if self._info else None
        return (
            f"GatewaySession(url={self._address.base_url!r}, serial={serial!r}, "
            f"token={self.token!r})"
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this object created it; a caller's session stays open."""
        self._closed = True
        candidate, self._candidate = self._candidate, None
        if candidate is not None and not candidate.done():
            candidate.cancel()
            await asyncio.gather(candidate, return_exceptions=True)
        if self._tokens is not None:
            await self._tokens.close()
        await self._close_retired()
        if self._wire_client is not None:
            self._wire_client.close()
            self._wire_client = None
        if self._client is not None and self._client is not self._external_client:
            await self._client.close()
        self._client = None

    # -- what the session knows ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The URL prefix requests go to (the scheme may change to HTTP for legacy firmware)."""
        return self._address.base_url

    @property
    def host(self) -> str:
        """The gateway's host name or address."""
        return self._address.host

    @property
    def serial(self) -> str | None:
        """The gateway serial number, once ``/info`` has been read."""
        return self._info.serial_number if self._info else None

    @property
    def firmware(self) -> str | None:
        """The firmware version (``8.3.5169``), once ``/info`` has been read."""
        return self._info.firmware if self._info else None

    @property
    def token(self) -> Token | None:
        """The token in use (its claims; the text itself only via ``Token.secret()``)."""
        return self._tokens.token if self._tokens else None

    @property
    def is_legacy(self) -> bool:
        """True for firmware below 7 (plain HTTP, no token, digest auth on inverters)."""
        return self._legacy

    # -- endpoints ------------------------------------------------------------------------

    @property
    def retried(self) -> int:
        """How many times a GET was sent again after a transient failure (a dropped, refused or
        timed-out connection, or a 502/503/504), since the session was created."""
        return self._retried

    async def info(self) -> Info:
        """``/info``: serial, part number, firmware and packages (XML, no auth needed)."""
        async with self._lock:
            return await self._load_info()

    async def device_list(self) -> DeviceList:
        """``/ivp/ensemble/device_list``: provisioned devices (batteries, inverters)."""
        return await self.fetch(ep.DEVICE_LIST)

    async def meters(self) -> tuple[Meter, ...]:
        """``/ivp/meters``: the current transformers (CT meters) and their configuration."""
        return await self.fetch(ep.METERS)

    async def meter_readings(self) -> tuple[MeterReading, ...]:
        """``/ivp/meters/readings``: live readings of every CT meter, with per-phase channels."""
        return await self.fetch(ep.METER_READINGS)

    async def production(self) -> Production:
        """``/api/v1/production``: production power and energy today, 7 days, lifetime."""
        return await self.fetch(ep.PRODUCTION)

    async def energy(self) -> Energy:
        """``/ivp/pdm/energy``: production and consumption counters per metering source."""
        return await self.fetch(ep.ENERGY)

    async def inverters(self) -> tuple[Inverter, ...]:
        """``/api/v1/production/inverters``: last and maximum report of every microinverter."""
        return await self.fetch(ep.INVERTERS)

    async def live_data(self) -> LiveData:
        """``/ivp/livedata/status``: live power of PV, storage, grid, load and generator."""
        return await self.fetch(ep.LIVE_DATA)

    async def consumption_reports(self) -> tuple[ConsumptionReport, ...]:
        """``/ivp/meters/reports/consumption``: net and total consumption reports."""
        return await self.fetch(ep.CONSUMPTION_REPORTS)

    async def grid_readings(self) -> tuple[GridReading, ...]:
        """``/ivp/meters/gridReading``: per-phase readings at the grid connection point."""
        return await self.fetch(ep.GRID_READINGS)

    async def enable_live_stream(self) -> LiveStreamState:
        """Switch live data streaming on (``POST /ivp/livedata/stream``); it lapses in ~15 min."""
        async with self._lock:
            await self._ensure_ready()
            reply = await self._authorized("POST", ep.LIVE_STREAM_PATH, payload={"enable": 1})
            body = self._checked_body(ep.LIVE_STREAM_PATH, reply, xml=False)
            return parse_stream_status(body, strict=self._strict)

    async def fetch(self, endpoint: Endpoint[T]) -> T:
        """Read any declared endpoint and parse it into its model."""
        if endpoint is ep.INFO:
            return await self.info()  # type: ignore[return-value]  # INFO is Endpoint[Info]
        async with self._lock:
            if self._info is None or self._closed:
                await self._ensure_ready()
            reply = await self._authorized(
                "GET", endpoint.path, digest=self._wants_digest(endpoint)
            )
            body = self._checked_body(endpoint.path, reply, xml=endpoint.xml)
            result: T = endpoint.parse(body, strict=self._strict)
            return result

    # -- readiness: /info, scheme and auth mode --------------------------------------------

    async def _ensure_ready(self) -> None:
        if self._closed:
            raise EnphaseError("the gateway session is closed")
        if self._info is None:
            await self._load_info()

    async def _load_info(self) -> Info:
        if self._closed:
            raise EnphaseError("the gateway session is closed")
        try:
            reply = await self._get_with_retries(ep.INFO.path)
        except GatewayConnectionError as err:
            if isinstance(err, GatewayTimeoutError | CertificateMismatchError):
                raise
            if self._address.explicit_scheme or self._address.scheme != "https":
                raise
            # Legacy firmware may not listen on 443 at all: ask over HTTP, which is only
            # kept if /info then says the firmware needs no token.
            self._address = self._address.with_scheme("http")
            try:
                reply = await self._get_with_retries(ep.INFO.path)
            except GatewayConnectionError:
                self._address = self._address.with_scheme("https")
                raise err  # noqa: B904 - the HTTPS failure, with its own cause, is the one to report
        body = self._checked_body(ep.INFO.path, reply, xml=True)
        info = ep.INFO.parse(body, strict=self._strict)
        self._adopt_info(info)
        return info

    def _adopt_info(self, info: Info) -> None:
        legacy = not info.requires_token
        if not legacy and self._address.scheme == "http":
            if not self._address.explicit_scheme:
                self._address = self._address.with_scheme("https")
                raise GatewayConnectionError(
                    f"gateway {self.host} runs firmware {info.firmware}, which needs HTTPS, "
                    "but it did not answer over HTTPS"
                )
            if not self._allow_http:
                raise AuthenticationError(
                    f"firmware {info.firmware} needs a token, which is not sent over plain "
                    "HTTP: use https:// or opt in with allow_http=True"
                )
        if self._info is not None and self._info.serial_number != info.serial_number:
            raise TokenSerialMismatchError(
                f"gateway {self.host} now reports serial {info.serial_number}, "
                f"not {self._info.serial_number}: refusing to send it this gateway's token"
            )
        if self._tokens is not None and not legacy:
            self._tokens.serial = info.serial_number
        self._info = info
        self._legacy = legacy

    def _wants_digest(self, endpoint: Endpoint[Any]) -> bool:
        return self._legacy and endpoint is ep.INVERTERS

    # -- authorization ---------------------------------------------------------------------

    async def _authorized(
        self,
        method: str,
        path: str,
        *,
        payload: Mapping[str, Any] | None = None,
        digest: bool = False,
    ) -> _Reply:
        if digest:
            return await self._digest_request(path)
        if self._legacy:
            return await self._request_maybe_retried(method, path, payload=payload)
        # The steady state, checked here rather than in another coroutine: a checked token
        # that is neither expired nor due for renewal, and no renewal waiting to be adopted.
        manager = self._tokens
        token = manager.steady_token() if manager is not None and self._candidate is None else None
        if token is None or token is not self._checked:
            token = await self._usable_token()
        reply = await self._request_maybe_retried(method, path, payload=payload, token=token)
        if reply.status != 401:
            return reply
        # A 401: re-check the token (the session may have idled out); if the gateway now
        # refuses the token itself, get a new one; then retry once.
        _LOGGER.debug("%s %s: 401, re-checking the token", method, path)
        self._session_id = None
        self._checked = None
        try:
            await self._check_jwt(token)
        except TokenRejectedError:
            token = await self._replace(token)
        reply = await self._request_maybe_retried(method, path, payload=payload, token=token)
        if reply.status == 401:
            raise EndpointForbiddenError(
                f"{path}: the gateway accepts the token but refuses this endpoint "
                "(the token's role may be too low)"
            )
        return reply

    async def _usable_token(self) -> Token:
        """The token to send, checked with the gateway; called with the request lock held."""
        manager = self._tokens
        if manager is None:
            raise AuthenticationError(
                f"gateway {self.serial} (firmware {self.firmware}) needs an access token"
            )
        if self._candidate is not None:
            await self._adopt_candidate(manager)
        token = await manager.current()
        self._check_serial(token)
        if token is not self._checked and token != self._checked:
            try:
                await self._check_jwt(token)
            except TokenRejectedError:
                token = await self._replace(token)
        if (self._candidate is None or self._candidate.done()) and manager.needs_refresh():
            # Fetch the next token in the background; it is checked with the gateway and put
            # in use by a later request, so the request in hand goes ahead at once.
            self._candidate = asyncio.create_task(manager.fetch_candidate())
        return token

    async def _adopt_candidate(self, manager: TokenManager) -> None:
        task = self._candidate
        if task is None or not task.done():
            return
        self._candidate = None
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            current = manager.token
            _LOGGER.warning(
                "gateway %s: token refresh failed, still using %s: %s", self.serial, current, error
            )
            return
        candidate = task.result()
        if candidate == manager.token:
            return
        try:
            self._check_serial(candidate)
            await self._check_jwt(candidate)
        except AuthenticationError as err:
            _LOGGER.warning("gateway %s: the refreshed token was refused: %s", self.serial, err)
            await manager.reject(candidate)
            return
        manager.commit(candidate)
        _LOGGER.info("gateway %s: now using %s", self.serial, candidate)

    async def _replace(self, refused: Token) -> Token:
        assert self._tokens is not None
        token = await self._tokens.replace(refused, validate=self._check_jwt)
        self._check_serial(token)
        if token != self._checked:
            await self._check_jwt(token)
        return token

    def _check_serial(self, token: Token) -> None:
        if token.serial == UNCOMMISSIONED:
            return  # Entrez issues these for gateways not yet tied to a system
        if self.serial is not None and token.serial != self.serial:
            raise TokenSerialMismatchError(
                f"the token is for gateway {token.serial}, but {self.host} is {self.serial}: "
                "it is not sent"
            )

    async def _check_jwt(self, token: Token) -> None:
        """Ask the gateway whether it accepts ``token``; keep the session cookie it hands out."""
        self._check_serial(token)
        reply = await self._get_with_retries(ep.CHECK_JWT_PATH, token=token, with_cookie=False)
        if reply.status == 401:
            raise TokenRejectedError(
                f"gateway {self.serial} rejected the access token {token} (expired, revoked, "
                "or issued for another gateway)"
            )
        if reply.status == 200 and _VALID_TOKEN_MARK not in reply.body:
            # Not a refusal (that is a 401): a busy or confused gateway. The token keeps
            # its good name; the request fails and is tried again later.
            raise PayloadError(
                "the gateway's answer to the token check is not the 'Valid token' page",
                endpoint=ep.CHECK_JWT_PATH,
            )
        if reply.status != 200:
            raise HttpStatusError(
                f"{ep.CHECK_JWT_PATH}: unexpected HTTP status {reply.status}",
                status=reply.status,
                endpoint=ep.CHECK_JWT_PATH,
            )
        self._session_id = _session_cookie(reply.headers)
        self._checked = token

    async def _digest_request(self, path: str) -> _Reply:
        serial = self.serial or ""
        reply: _Reply | None = None
        for user, password in (
            ("envoy", envoy_password(serial)),
            ("installer", installer_password(serial)),
        ):
            middleware = self._digest.get(user)
            if middleware is None:
                middleware = aiohttp.DigestAuthMiddleware(user, password)
                self._digest[user] = middleware
            reply = await self._get_with_retries(path, middleware=middleware)
            if reply.status != 401:
                return reply
        raise AuthenticationError(
            f"{path}: the gateway refused digest authentication as 'envoy' and 'installer'"
        )

    # -- sending ---------------------------------------------------------------------------

    def _request_maybe_retried(
        self,
        method: str,
        path: str,
        *,
        payload: Mapping[str, Any] | None = None,
        token: Token | None = None,
    ) -> Coroutine[Any, Any, _Reply]:
        # Hands back the coroutine rather than awaiting it: one frame less per request.
        if method == "GET":
            return self._get_with_retries(path, token=token)
        return self._send(method, path, payload=payload, token=token)

    async def _get_with_retries(
        self,
        path: str,
        *,
        token: Token | None = None,
        with_cookie: bool = True,
        middleware: aiohttp.DigestAuthMiddleware | None = None,
    ) -> _Reply:
        attempt = 0
        while True:
            try:
                reply = await self._send(
                    "GET", path, token=token, with_cookie=with_cookie, middleware=middleware
                )
            except CertificateMismatchError:
                raise
            except GatewayConnectionError:
                if attempt >= self._retries:
                    raise
            else:
                if reply.status not in _RETRY_STATUSES or attempt >= self._retries:
                    return reply
            self._retried += 1
            delay = self._retry_backoff * (2**attempt) * random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not crypto
            _LOGGER.debug("GET %s: transient failure, retry %d in %.2f s", path, attempt + 1, delay)
            await asyncio.sleep(delay)
            attempt += 1

    async def _send(
        self,
        method: str,
        path: str,
        *,
        payload: Mapping[str, Any] | None = None,
        token: Token | None = None,
        with_cookie: bool = True,
        middleware: aiohttp.DigestAuthMiddleware | None = None,
    ) -> _Reply:
        if self._learn_certificate and self._address.scheme == "https":
            await self._learn_first_certificate()
        if self._retired is not None:
            await self._close_retired()
        debug = _LOGGER.isEnabledFor(logging.DEBUG)
        started = time.monotonic() if debug else 0.0
        deadline = _Deadline(self._deadline)
        try:
            if middleware is None and self._external_client is None:
                # Our own requests go over the session's own HTTP/1.1 connection.
                head = self._head_lines(token, with_cookie)
                body = None
                if payload is not None:
                    head += b"Content-Type: application/json\r\n"
                    body = json.dumps(payload).encode()
                answer = await self._wire().request(method, path, head, body)
                reply = _Reply(answer.status, None, answer.body, answer.headers)
            else:
                reply = await self._aiohttp_exchange(
                    method,
                    path,
                    payload=payload,
                    token=token,
                    with_cookie=with_cookie,
                    middleware=middleware,
                )
        except asyncio.CancelledError:
            if deadline.passed():
                raise self._timed_out(path) from None
            raise
        except (WireError, aiohttp.ClientError, TimeoutError) as err:
            if deadline.fired:  # the deadline's cancellation, turned into another error
                raise self._timed_out(path) from err
            raise self._failure(path, err, digest=middleware is not None) from err
        finally:
            deadline.done()
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

    async def _aiohttp_exchange(
        self,
        method: str,
        path: str,
        *,
        payload: Mapping[str, Any] | None,
        token: Token | None,
        with_cookie: bool,
        middleware: aiohttp.DigestAuthMiddleware | None,
    ) -> _Reply:
        """One request through aiohttp: a caller's own session, or digest authentication."""
        request = self._http().request(
            method,
            self._address.base_url + path,
            headers=self._headers(token, with_cookie),
            json=payload,
            allow_redirects=False,
            ssl=self._ssl if self._address.scheme == "https" else False,
            timeout=self._timeout,
            middlewares=(middleware,) if middleware is not None else (),
        )
        async with request as response:
            length = response.content_length
            if (
                length is not None
                and length <= self._max_body_bytes
                and hdrs.CONTENT_ENCODING not in response.headers
            ):
                body = await response.read()  # announced, within the cap, not compressed
            else:
                body = await self._read_body(path, response)
            return _Reply(response.status, response.headers, body)

    def _headers(self, token: Token | None, with_cookie: bool) -> dict[str, str]:
        """The request headers; those of the steady state (token and cookie) are built once."""
        cookie = self._session_id if with_cookie and token is not None else None
        cached = self._header_cache
        if cached is not None and cached[0] is token and cached[1] == cookie:
            return cached[2]
        headers = {"Accept": _ACCEPT}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.secret()}"
            if cookie is not None:
                headers["Cookie"] = f"{_SESSION_COOKIE}={cookie}"
        if with_cookie:
            # aiohttp copies the headers it is given: the dict can be shared by requests.
            self._header_cache = (token, cookie, headers)
        return headers

    def _head_lines(self, token: Token | None, with_cookie: bool) -> bytes:
        """The same headers as CRLF-terminated lines for the wire, built once per token."""
        headers = self._headers(token, with_cookie)
        cached = self._head_cache
        if cached is not None and cached[0] is headers:
            return cached[1]
        text = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        if text.count("\n") != len(headers) or text.count("\r") != len(headers):
            # A line break inside a value would let it forge headers of its own.
            raise AuthenticationError("the token or session cookie contains a line break")
        lines = text.encode("latin-1")
        if with_cookie:
            self._head_cache = (headers, lines)
        return lines

    def _timed_out(self, path: str) -> GatewayTimeoutError:
        return GatewayTimeoutError(
            f"{path}: gateway {self.host} did not answer within {self._deadline:g} s"
        )

    def _certificate_mismatch(self, got: bytes) -> CertificateMismatchError:
        return CertificateMismatchError(
            f"gateway {self.host}: its TLS certificate does not match the pinned "
            f"fingerprint (got {got.hex()})"
        )

    def _connect_timed_out(self, path: str) -> GatewayTimeoutError:
        return GatewayTimeoutError(
            f"{path}: cannot connect to gateway {self.host} within {self._connect_timeout:g} s"
        )

    def _failure(self, path: str, err: Exception, *, digest: bool) -> EnphaseError:
        """The library's error for what the wire or aiohttp raised during a request."""
        if isinstance(err, WireError):
            return self._wire_failure(path, err)
        if isinstance(err, aiohttp.ClientResponseError):
            # Its request_info (also in args and repr) holds our request headers: the token
            # and the session cookie. Chain it, but without them.
            _forget_request_headers(err)
            return GatewayConnectionError(
                f"{path}: {self.host} sent a reply that cannot be read: {_describe(err)}"
            )
        if isinstance(err, aiohttp.ServerFingerprintMismatch):
            return self._certificate_mismatch(err.got)
        if isinstance(err, TimeoutError):  # aiohttp's: the TCP connect took too long
            return self._connect_timed_out(path)
        if isinstance(err, aiohttp.ClientPayloadError):
            text = f"the response from {self.host} was cut off ({err.__class__.__name__})"
        elif isinstance(err, aiohttp.ClientConnectionError):
            text = f"cannot reach gateway {self.host}: {_describe(err)}"
        elif digest:
            return AuthenticationError(
                f"{path}: the gateway's digest challenge cannot be used ({_describe(err)})"
            )
        else:
            text = f"request to {self.host} failed: {_describe(err)}"
        return GatewayConnectionError(f"{path}: {text}")

    def _wire_failure(self, path: str, err: WireError) -> EnphaseError:
        if isinstance(err, FingerprintMismatchError):
            return self._certificate_mismatch(err.got)
        if isinstance(err, ConnectTimeoutError):
            return self._connect_timed_out(path)
        if isinstance(err, BodyTooLargeError):
            return ResponseTooLargeError(str(err), endpoint=path)
        if isinstance(err, ConnectionClosedError) and err.received:
            text = f"the response from {self.host} was cut off ({err})"
        elif isinstance(err, BadReplyError):
            text = f"{self.host} sent a reply that cannot be read: {err}"
        else:
            text = f"cannot reach gateway {self.host}: {_describe(err)}"
        return GatewayConnectionError(f"{path}: {text}")

    async def _read_body(self, path: str, response: aiohttp.ClientResponse) -> bytes:
        """A body that is not plain and announced within the cap (``_send`` reads those).

        One announced over the cap is refused unread. Otherwise (no length announced, or
        a compressed body, whose announced length counts compressed bytes) the cap is held
        against what arrives, chunk by chunk.
        """
        cap = self._max_body_bytes
        length = response.content_length
        if length is not None and length > cap:
            raise ResponseTooLargeError(
                f"the gateway announced {length} bytes, more than the {cap}-byte cap",
                endpoint=path,
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > cap:
                response.close()
                raise ResponseTooLargeError(
                    f"the body exceeded the {cap}-byte cap and was cut off", endpoint=path
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _set_pin(self, pin: bytes | None) -> None:
        self._pin = pin
        if self._wire_client is not None:
            self._wire_client.set_pin(pin)
        # With our own connector the pin sits on it and every request passes the lean shared
        # context; a caller's session gets the pin per request.
        self._ssl = gateway_ssl_context() if self._external_client is None else ssl_for(pin)

    async def _close_retired(self) -> None:
        retired, self._retired = self._retired, None
        if retired is not None:
            await retired.close()

    async def _learn_first_certificate(self) -> None:
        """Trust on first use: look at the certificate before anything is sent, record it, pin it.

        A bare TLS handshake, once in the life of a store entry, so that even the first
        request (which carries no token) goes to a pinned certificate.
        """
        assert self._trust is not None
        try:
            async with asyncio.timeout(self._deadline):
                seen = await peer_certificate_sha256(self._address)
        except TimeoutError as err:
            raise GatewayTimeoutError(
                f"gateway {self.host} did not complete a TLS handshake within {self._deadline:g} s"
            ) from err
        except (OSError, ssl.SSLError) as err:
            raise GatewayConnectionError(
                f"cannot reach gateway {self.host} to read its certificate: {_describe(err)}"
            ) from err
        if seen is None:
            raise CertificateMismatchError(f"gateway {self.host} presented no certificate")
        trusted = self._trust.remember(self._trust_key, seen)
        self._learn_certificate = False
        if trusted != seen:
            raise CertificateMismatchError(
                f"gateway {self.host}: its TLS certificate (sha256 {seen.hex()}) is not the "
                f"one trusted on first use (sha256 {trusted.hex()}); accept the new one in "
                f"{self._trust.path} if the change is expected"
            )
        self._set_pin(trusted)
        if self._client is not None and self._client is not self._external_client:
            # New connections of our own connector must carry the pin: build a new one.
            self._retired, self._client = self._client, None

    def _wire(self) -> WireClient:
        wire = self._wire_client
        if wire is None or wire.address is not self._address:
            if wire is not None:
                wire.close()  # the address changed (the legacy HTTP fallback)
            if self._closed:
                raise EnphaseError("the gateway session is closed")
            wire = self._wire_client = WireClient(
                self._address,
                ssl_context=gateway_ssl_context(),
                pin=self._pin,
                connect_timeout=self._connect_timeout,
                keep_alive=self._keep_alive,
                max_body_bytes=self._max_body_bytes,
                user_agent=_USER_AGENT,
            )
        return wire

    def _http(self) -> aiohttp.ClientSession:
        if self._client is None:
            if self._closed:
                raise EnphaseError("the gateway session is closed")
            # Only digest-authenticated requests of legacy gateways come this way: no second
            # connection is kept open beside the wire's.
            pin = aiohttp.Fingerprint(self._pin) if self._pin is not None else None
            self._client = aiohttp.ClientSession(
                connector=gateway_connector(pin=pin, keep_alive=False),
                cookie_jar=aiohttp.DummyCookieJar(),
                raise_for_status=False,
            )
        return self._client

    # -- interpreting replies --------------------------------------------------------------

    def _checked_body(self, path: str, reply: _Reply, *, xml: bool) -> bytes:
        status = reply.status
        if status == 200:
            if not xml:
                _raise_if_soft_error(path, reply.body)
            return reply.body
        if status == 404:
            raise NotSupportedError(f"{path}: not served by this gateway (404)", endpoint=path)
        if status == 401:
            raise TokenRejectedError(f"{path}: the gateway answered 401 (token not accepted)")
        if 300 <= status < 400:
            target = _redirect_host(reply.headers)
            raise HttpStatusError(
                f"{path}: the gateway redirected ({status}) to {target}; redirects are "
                "never followed",
                status=status,
                endpoint=path,
            )
        raise HttpStatusError(
            f"{path}: unexpected HTTP status {status}", status=status, endpoint=path
        )


def _forget_request_headers(err: aiohttp.ClientResponseError) -> None:
    info = err.request_info
    err.request_info = aiohttp.RequestInfo(
        url=info.url,
        method=info.method,
        headers=CIMultiDictProxy(CIMultiDict()),
        real_url=info.real_url,
    )
    err.args = (err.request_info, err.history)


def _raise_if_soft_error(path: str, body: bytes) -> None:
    """Turn the gateway's in-band "not found" forms into NotSupportedError.

    Missing endpoints answer ``{"error": "404 - Not Found"}`` or ``{"err": ...}``; old
    firmware answers an HTML "Page Not Found" page with status 200.
    """
    head = body[:1] if body[:1] not in (b" ", b"\n", b"\r", b"\t") else body.lstrip()[:1]
    if head == b"<":
        if _NOT_FOUND_HTML.search(body[:4096]):
            raise NotSupportedError(
                f"{path}: not served by this gateway (HTML 'not found' page)", endpoint=path
            )
        raise PayloadError("an HTML page came where JSON was expected", endpoint=path)
    if head == b"{" and len(body) < 512 and b'"err' in body:
        try:
            decoded = json.loads(body)
        except ValueError:
            return  # the parser reports the broken JSON with its position
        if (
            isinstance(decoded, dict)
            and decoded.keys() <= _SOFT_ERROR_KEYS
            and ("error" in decoded or "err" in decoded)
        ):
            message = decoded.get("error") or decoded.get("err")
            raise NotSupportedError(
                f"{path}: not served by this gateway ({message})", endpoint=path
            )


def _session_cookie(headers: CIMultiDictProxy[str]) -> str | None:
    for value in headers.getall("Set-Cookie", ()):
        name, _, rest = value.partition("=")
        if name.strip() == _SESSION_COOKIE:
            return rest.split(";", 1)[0].strip() or None
    return None


def _redirect_host(headers: CIMultiDictProxy[str]) -> str:
    location = headers.get("Location", "")
    match = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#]*)", location)
    return match.group(1) if match else "another path"


def _describe(err: BaseException) -> str:
    text = str(err) or err.__class__.__name__
    return text if len(text) <= 200 else text[:200] + "..."
