"""The Enphase cloud's token service: Enlighten login, then one Entrez token per gateway serial.

The flow (GATEWAY-FACTS.md, "Getting a token from the cloud"): ``POST /login/login.json`` on
Enlighten with the account's email and password gives a ``session_id``; ``POST /tokens`` on
Entrez with that session, the gateway serial and the username gives the raw JWT as the body.
Both services have changed more than once, so their base URLs are parameters, every reply is
checked, and anything unexpected is a :class:`CloudUnavailableError` rather than a token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl as ssl_module
import time
from types import TracebackType
from typing import Any, Self

import aiohttp
import attrs

from enphase_local._version import __version__
from enphase_local.auth.token import Token
from enphase_local.errors import (
    CloudError,
    CloudLoginError,
    CloudSerialError,
    CloudUnavailableError,
    InvalidTokenError,
    MfaRequiredError,
)

_LOGGER = logging.getLogger(__name__)

#: Where Enlighten (the login) lives unless told otherwise.
DEFAULT_ENLIGHTEN_URL = "https://enlighten.enphaseenergy.com"
#: Where Entrez (the token service) lives unless told otherwise.
DEFAULT_ENTREZ_URL = "https://entrez.enphaseenergy.com"

#: Sent with every cloud request: some Enphase services refuse requests without one.
USER_AGENT = f"enphase-local/{__version__}"

#: Cloud replies are a small JSON object or a ~400-character token; more is not one of them.
_MAX_BODY_BYTES = 64 * 1024
#: Statuses worth another attempt: the service is overloaded or restarting.
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


@attrs.frozen
class _Reply:
    status: int
    body: bytes
    content_type: str


class _SessionRejected(Exception):
    """Entrez refused the session id (or the serial): decided by the caller."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class EnphaseCloud:
    """A client for Enlighten login and Entrez tokens, for one Enlighten account.

    One login serves every serial of the account for ``session_reuse`` seconds; a token is
    fetched per serial. Transient failures (connection errors, timeouts, 429 and 5xx) are
    retried ``attempts`` times in all, with jittered exponential backoff starting at
    ``retry_delay`` seconds; nothing else is retried. TLS is verified by default; ``ssl`` takes
    an :class:`ssl.SSLContext` (for example one trusting a test CA) or ``False`` to skip the
    check, which is only for a local test service. A caller-owned ``session`` is used as is and
    left open; otherwise the client makes its own and :meth:`close` closes it.
    """

    def __init__(
        self,
        username: str,
        password: str,
        *,
        enlighten_url: str = DEFAULT_ENLIGHTEN_URL,
        entrez_url: str = DEFAULT_ENTREZ_URL,
        session: aiohttp.ClientSession | None = None,
        ssl: ssl_module.SSLContext | bool = True,
        timeout: float = 30.0,
        attempts: int = 3,
        retry_delay: float = 1.0,
        session_reuse: float = 300.0,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._username = username
        self._password = password
        self._enlighten_url = enlighten_url.rstrip("/")
        self._entrez_url = entrez_url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self._ssl = ssl
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._attempts = attempts
        self._retry_delay = retry_delay
        self._session_reuse = session_reuse
        self._login_lock = asyncio.Lock()
        self._session_id: str | None = None
        self._session_id_at = 0.0

    @property
    def username(self) -> str:
        """The Enlighten account (an email address)."""
        return self._username

    def __repr__(self) -> str:
        return (
            f"EnphaseCloud(username={self._username!r}, enlighten_url={self._enlighten_url!r}, "
            f"entrez_url={self._entrez_url!r})"
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
        """Close the HTTP session if this client created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch_token(self, serial: str) -> Token:
        """Log in (or reuse a recent login) and fetch a fresh token for the gateway ``serial``.

        Raises :class:`CloudLoginError` for wrong credentials, :class:`MfaRequiredError` when
        the account has multi-factor auth on, :class:`CloudSerialError` when the account has no
        gateway with this serial, and :class:`CloudUnavailableError` for everything else.
        """
        session_id, reused = await self._current_session_id()
        try:
            return await self._request_token(session_id, serial)
        except _SessionRejected as rejected:
            if not reused:
                raise _serial_error(serial, rejected.status) from None
        # A reused login may have lapsed on the server: log in once more, then decide.
        self._forget_session_id(session_id)
        session_id, _ = await self._current_session_id()
        try:
            return await self._request_token(session_id, serial)
        except _SessionRejected as rejected:
            raise _serial_error(serial, rejected.status) from None

    async def login(self) -> None:
        """Log in to Enlighten now (``fetch_token`` does it when needed), checking credentials."""
        async with self._login_lock:
            self._session_id = None
            await self._login_locked()

    async def _current_session_id(self) -> tuple[str, bool]:
        async with self._login_lock:
            age = time.monotonic() - self._session_id_at
            if self._session_id is not None and age < self._session_reuse:
                return self._session_id, True
            return await self._login_locked(), False

    def _forget_session_id(self, session_id: str) -> None:
        if self._session_id == session_id:
            self._session_id = None

    async def _login_locked(self) -> str:
        reply = await self._post(
            "Enlighten login",
            f"{self._enlighten_url}/login/login.json",
            data={"user[email]": self._username, "user[password]": self._password},
        )
        if reply.status == 401:
            raise CloudLoginError("Enlighten refused the username or password (HTTP 401)")
        if reply.status != 200:
            raise CloudUnavailableError(
                f"Enlighten login answered HTTP {reply.status}; the service may have changed"
            )
        data = _json_object(reply, "Enlighten login")
        session_id = data.get("session_id")
        if isinstance(session_id, str) and session_id:
            self._session_id = session_id
            self._session_id_at = time.monotonic()
            return session_id
        if "session_id" in data:
            raise CloudUnavailableError("Enlighten login answered an unusable session_id")
        raise MfaRequiredError(
            "Enlighten accepted the login but gave no session: multi-factor authentication "
            "seems to be on for this account. Turn it off to fetch tokens automatically, "
            "or paste a token obtained from Enphase instead (a token string or token file)"
        )

    async def _request_token(self, session_id: str, serial: str) -> Token:
        reply = await self._post(
            "Entrez token request",
            f"{self._entrez_url}/tokens",
            json={"session_id": session_id, "serial_num": serial, "username": self._username},
        )
        if reply.status in (401, 403):
            raise _SessionRejected(reply.status)
        if reply.status != 200:
            raise CloudUnavailableError(
                f"Entrez answered HTTP {reply.status} to the token request for {serial}; "
                "the service may have changed"
            )
        try:
            text = reply.body.decode("utf-8")
            return Token.parse(text)
        except (UnicodeDecodeError, InvalidTokenError) as err:
            # InvalidTokenError never carries the body; the decode error would, so it is dropped.
            reason = err if isinstance(err, InvalidTokenError) else "the body is not UTF-8"
            raise CloudUnavailableError(
                f"Entrez answered HTTP 200 to the token request for {serial} without a usable "
                f"token ({len(reply.body)} bytes, {reply.content_type or 'no content type'}): "
                f"{reason}"
            ) from None

    async def _post(self, what: str, url: str, **kwargs: Any) -> _Reply:
        """POST with bounded, jittered retries of transient failures; returns the final reply."""
        failure = ""
        cause: BaseException | None = None
        for attempt in range(self._attempts):
            if attempt:
                delay = self._retry_delay * 2 ** (attempt - 1)
                await asyncio.sleep(delay * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not crypto
            try:
                reply = await self._post_once(url, **kwargs)
            except CloudError:
                raise
            except TimeoutError as err:
                failure, cause = "timed out", err
            except aiohttp.ClientSSLError as err:
                # A certificate problem does not heal by retrying.
                raise CloudUnavailableError(f"{what}: TLS failed ({err})") from err
            except aiohttp.ClientError as err:
                # The exception's text names the host and the OS error, never the form fields.
                failure, cause = f"could not connect ({type(err).__name__}: {err})", err
            else:
                if reply.status not in _TRANSIENT_STATUSES:
                    return reply
                failure, cause = f"answered HTTP {reply.status}", None
            _LOGGER.debug("%s attempt %d of %d %s", what, attempt + 1, self._attempts, failure)
        raise CloudUnavailableError(f"{what} {failure} ({self._attempts} attempts)") from cause

    async def _post_once(self, url: str, **kwargs: Any) -> _Reply:
        session = self._http_session()
        async with session.post(
            url,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json, text/plain, */*"},
            ssl=self._ssl,
            timeout=self._timeout,
            allow_redirects=False,
            **kwargs,
        ) as response:
            body = bytearray()
            async for chunk in response.content.iter_chunked(16 * 1024):
                body += chunk
                if len(body) > _MAX_BODY_BYTES:
                    raise CloudUnavailableError(
                        f"{url} answered more than {_MAX_BODY_BYTES} bytes; not a cloud reply"
                    )
            return _Reply(
                status=response.status,
                body=bytes(body),
                content_type=response.headers.get("Content-Type", ""),
            )

    def _http_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # No cookie jar: the session id travels in the JSON body, and cloud cookies
            # have no business living on in a long-running poller.
            self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        return self._session


def _serial_error(serial: str, status: int) -> CloudSerialError:
    return CloudSerialError(
        f"Entrez refused a token for gateway {serial} (HTTP {status}): this Enlighten account "
        "does not seem to have access to that serial"
    )


def _json_object(reply: _Reply, what: str) -> dict[str, Any]:
    try:
        value = json.loads(reply.body)
    except (ValueError, RecursionError):
        # The decode error keeps the body, which may echo the credentials: do not chain it.
        raise CloudUnavailableError(
            f"{what} answered HTTP {reply.status} with a non-JSON body"
        ) from None
    if not isinstance(value, dict):
        raise CloudUnavailableError(f"{what} answered HTTP {reply.status} with unexpected JSON")
    return value
