"""A fake Enphase cloud: the Enlighten login and the Entrez token service, on loopback.

``POST /login/login.json`` takes the form fields ``user[email]`` and ``user[password]`` and
answers 200 JSON with ``session_id``, ``manager_token`` and ``is_consumer``; 401 for a wrong
password or an unknown user; and, for an account with multi-factor auth, 200
``{"success": true, "isBlocked": false}`` without a session.

``POST /tokens`` takes JSON ``{"session_id", "serial_num", "username"}`` and answers 200
with the raw JWT as the body: an owner token of the configured lifetime, or a 12-hour
installer token. 400 for a malformed request or one without a ``User-Agent`` header, 401 for
an unknown session or a username that is not the session's, 403 for a serial the account
does not own.

Both services share one server (HTTPS by default, with a certificate for ``localhost`` and
``127.0.0.1`` that :meth:`FakeCloud.client_ssl_context` trusts). Switches: :attr:`outage`
(every request gets 503) and :meth:`FakeCloud.fail_tokens` (``/tokens`` answers a given
status, or 200 with an empty body).
"""

from __future__ import annotations

import json
import secrets
import ssl
from collections.abc import Iterable

import attrs
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from enphase_local.simulator.auth.jwt import OWNER_LIFETIME_S, Role, TokenIssuer
from enphase_local.simulator.certs import Certificate, make_certificate
from enphase_local.simulator.server import Listener

_JSON = "application/json; charset=utf-8"


@attrs.frozen(kw_only=True)
class CloudAccount:
    """An Enphase account known to the fake cloud."""

    #: Login e-mail address.
    username: str
    #: Password (never shown in ``repr``).
    password: str = attrs.field(repr=False)
    #: Serials of the gateways the account may get tokens for.
    serials: frozenset[str]
    #: Whether the account is an owner's or an installer's.
    role: Role = Role.OWNER
    #: Whether multi-factor auth is on (the login then never yields a session).
    mfa: bool = False


@attrs.define
class CloudStats:
    """What the fake cloud has seen."""

    #: Successful logins.
    logins: int = 0
    #: Refused logins.
    failed_logins: int = 0
    #: Tokens issued.
    tokens: int = 0
    #: Refused token requests.
    failed_tokens: int = 0


class FakeCloud:
    """Enlighten login and Entrez tokens for a set of accounts."""

    def __init__(
        self,
        issuer: TokenIssuer,
        *,
        accounts: Iterable[CloudAccount] = (),
        owner_lifetime_s: float = OWNER_LIFETIME_S,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
    ) -> None:
        self._issuer = issuer
        self._accounts = {a.username: a for a in accounts}
        self._sessions: dict[str, str] = {}
        #: Lifetime of owner tokens, seconds.
        self.owner_lifetime_s = owner_lifetime_s
        #: While True, every request gets ``503 Service Unavailable``.
        self.outage = False
        self._token_failure: int | None = None
        #: Counters.
        self.stats = CloudStats()
        #: The TLS certificate (None over plain HTTP).
        self.certificate: Certificate | None = (
            make_certificate("localhost", alt_names=("localhost", host)) if tls else None
        )
        self._listener = Listener(
            self._make_app,
            host=host,
            port=port,
            ssl_context=self.certificate.server_context() if self.certificate else None,
        )

    def __repr__(self) -> str:
        return f"FakeCloud(url={self.url}, accounts={sorted(self._accounts)})"

    @property
    def url(self) -> str:
        """Base URL of both Enlighten and Entrez."""
        return self._listener.url

    def client_ssl_context(self) -> ssl.SSLContext | None:
        """A client TLS context that trusts this cloud's certificate (None over HTTP)."""
        return self.certificate.client_context() if self.certificate else None

    def add_account(self, account: CloudAccount) -> None:
        """Add (or replace) an account."""
        self._accounts[account.username] = account

    def account(self, username: str) -> CloudAccount:
        """The account called ``username`` (``KeyError`` if unknown)."""
        return self._accounts[username]

    def fail_tokens(self, status: int | None) -> None:
        """Make ``/tokens`` answer ``status`` (200: an empty body); None restores it."""
        self._token_failure = status

    async def start(self) -> None:
        """Open the port."""
        await self._listener.start()

    async def stop(self) -> None:
        """Close the port."""
        await self._listener.stop()

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._outage_middleware])
        app.router.add_post("/login/login.json", self._login)
        app.router.add_post("/tokens", self._tokens)
        return app

    @web.middleware
    async def _outage_middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if self.outage:
            return web.Response(
                status=503,
                text="<html><body><h1>503 Service Unavailable</h1></body></html>",
                content_type="text/html",
            )
        return await handler(request)

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        username, password = form.get("user[email]"), form.get("user[password]")
        if not isinstance(username, str) or not isinstance(password, str):
            self.stats.failed_logins += 1
            return _json({"message": "user[email] and user[password] are required"}, status=400)
        account = self._accounts.get(username)
        if account is None or not secrets.compare_digest(
            account.password.encode(), password.encode()
        ):
            self.stats.failed_logins += 1
            return _json({"message": "Invalid email or password"}, status=401)
        if account.mfa:
            return _json({"success": True, "isBlocked": False})
        session_id = secrets.token_hex(16)
        self._sessions[session_id] = username
        self.stats.logins += 1
        return _json(
            {
                "message": "success",
                "session_id": session_id,
                "manager_token": secrets.token_urlsafe(48),
                "is_consumer": account.role is Role.OWNER,
            }
        )

    async def _tokens(self, request: web.Request) -> web.Response:
        try:
            account, serial = self._token_request(request, await request.read())
        except _Refusal as refusal:
            self.stats.failed_tokens += 1
            return _json({"message": refusal.message}, status=refusal.status)
        if self._token_failure is not None:
            self.stats.failed_tokens += 1
            if self._token_failure == 200:
                return web.Response(status=200, body=b"")
            return web.Response(status=self._token_failure, text="Request failed")
        lifetime = self.owner_lifetime_s if account.role is Role.OWNER else None
        token = self._issuer.mint(
            serial, role=account.role, username=account.username, lifetime_s=lifetime
        )
        self.stats.tokens += 1
        return web.Response(text=token, content_type="text/plain")

    def _token_request(self, request: web.Request, raw: bytes) -> tuple[CloudAccount, str]:
        """The account and serial a token request is for; raises :class:`_Refusal`."""
        if not request.headers.get(hdrs.USER_AGENT):
            raise _Refusal(400, "User-Agent header required")
        try:
            body = json.loads(raw)
            session_id, serial, username = body["session_id"], body["serial_num"], body["username"]
        except (ValueError, TypeError, KeyError) as err:
            raise _Refusal(400, "session_id, serial_num and username are required") from err
        account = self._accounts.get(str(username))
        if account is None or self._sessions.get(str(session_id)) != username:
            raise _Refusal(401, "Invalid session")
        if serial not in account.serials:
            raise _Refusal(403, "Not authorized for this gateway")
        return account, str(serial)


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json(value: object, *, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(value).encode(), headers={hdrs.CONTENT_TYPE: _JSON}
    )
