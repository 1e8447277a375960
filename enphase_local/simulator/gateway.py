"""A simulated IQ Gateway on loopback: transport, auth and faults around a device.

The server answers like the real front end (openresty): its headers, no Content-Type on
``/ivp/*`` JSON, the HTML 401 page without ``WWW-Authenticate``, ``/auth/check_jwt`` with its
``sessionId`` cookie, digest auth on legacy firmware, and 404s in the firmware's form. It
counts requests in flight (the scheduler must never have more than one outstanding per
gateway) and applies the faults switched on in :attr:`SimulatedGateway.faults`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import time
import weakref
from http import HTTPStatus

import attrs
from aiohttp import hdrs, web

from enphase_local.auth.legacy import DIGEST_REALM, envoy_password, installer_password
from enphase_local.simulator import bodies, writes
from enphase_local.simulator.auth.digest import DigestAuthenticator
from enphase_local.simulator.auth.jwt import Role, TokenClaims, TokenError, TokenIssuer
from enphase_local.simulator.auth.sessions import SESSION_COOKIE, TokenAuth
from enphase_local.simulator.certs import Certificate, make_certificate
from enphase_local.simulator.clock import SimClock
from enphase_local.simulator.device import CHECK_JWT, Device, Reply, SimulatedDevice
from enphase_local.simulator.faults import Faults
from enphase_local.simulator.physics import FlowTotals, GlitchKind, Plant
from enphase_local.simulator.profiles import Profile, TlsSetup
from enphase_local.simulator.server import Listener

_LOGGER = logging.getLogger(__name__)
_REQUEST_LOG_SIZE = 10_000


@attrs.frozen(kw_only=True)
class RequestRecord:
    """One request the gateway received."""

    #: HTTP method.
    method: str
    #: URL path.
    path: str
    #: Status answered, or 0 when no answer was sent (hang, reboot, client gave up).
    status: int
    #: When it arrived, ``time.monotonic()`` seconds.
    started: float
    #: When it ended, ``time.monotonic()`` seconds.
    finished: float
    #: Simulated time when it arrived, Unix seconds.
    sim_time: float


@attrs.define
class GatewayStats:
    """What a gateway has seen since start (or the last :meth:`reset`)."""

    #: Requests received.
    requests: int = 0
    #: Requests being handled right now.
    in_flight: int = 0
    #: The most requests ever handled at the same time.
    max_in_flight: int = 0
    #: Requests per path.
    by_path: collections.Counter[str] = attrs.field(factory=collections.Counter)
    #: Answers per status code (0: none sent).
    by_status: collections.Counter[int] = attrs.field(factory=collections.Counter)
    #: Refused credentials per reason (``missing``, ``expired``, ``wrong-audience``, ...).
    auth_failures: collections.Counter[str] = attrs.field(factory=collections.Counter)
    #: Sessions opened by ``/auth/check_jwt``.
    sessions_opened: int = 0
    #: Reboots so far.
    reboots: int = 0
    #: Faults applied per kind (``nightly``, ``hang``, ``error``, ``html``, ``truncate``;
    #: ``cut`` for a body cut by dropping the connection).
    faults_served: collections.Counter[str] = attrs.field(factory=collections.Counter)
    #: Control writes answered 200, per path (ignored ones included).
    writes: collections.Counter[str] = attrs.field(factory=collections.Counter)
    #: Control writes refused with 500 (not JSON, wrong shape, partial), per path.
    bad_writes: collections.Counter[str] = attrs.field(factory=collections.Counter)
    #: The most recent requests, oldest first.
    log: collections.deque[RequestRecord] = attrs.field(
        factory=lambda: collections.deque(maxlen=_REQUEST_LOG_SIZE), repr=False
    )

    def reset(self) -> None:
        """Zero every counter (requests in flight stay counted)."""
        self.requests = self.sessions_opened = self.reboots = 0
        self.max_in_flight = self.in_flight
        self.by_path.clear()
        self.by_status.clear()
        self.auth_failures.clear()
        self.faults_served.clear()
        self.writes.clear()
        self.bad_writes.clear()
        self.log.clear()


class SimulatedGateway:
    """One simulated gateway: a device behind a real HTTP(S) server on loopback."""

    def __init__(
        self,
        device: Device,
        *,
        issuer: TokenIssuer,
        clock: SimClock,
        tz: dt.tzinfo = dt.UTC,
        host: str = "127.0.0.1",
        port: int = 0,
        installer_only: frozenset[str] = frozenset(),
        http_redirect: str | None = None,
        tls: TlsSetup = TlsSetup.MODERN,
    ) -> None:
        if http_redirect not in (None, "https", "localhost"):
            raise ValueError("http_redirect must be None, 'https' or 'localhost'")
        self.device = device
        #: The gateway serial.
        self.serial = device.serial
        self._clock = clock
        self._tz = tz
        self._tls = tls
        #: The TLS certificate (None for plain-HTTP legacy gateways).
        self.certificate: Certificate | None = (
            make_certificate(f"envoy-{device.serial}", setup=tls) if device.https else None
        )
        #: Fault switches.
        self.faults = Faults()
        #: Request counters.
        self.stats = GatewayStats()
        #: Paths that refuse owner tokens (installer tokens only).
        self.installer_only: set[str] = set(installer_only)
        #: Paths answered with the firmware's 404, as after an update that removed them.
        self.removed_paths: set[str] = set()
        #: Token and session checks.
        self.auth = TokenAuth(serial=device.serial, issuer=issuer, now=clock.now)
        self._digest = DigestAuthenticator(
            realm=DIGEST_REALM,
            credentials={
                "envoy": envoy_password(device.serial),
                "installer": installer_password(device.serial),
            },
        )
        self._listener = Listener(
            self._make_app,
            host=host,
            port=port,
            ssl_context=self.certificate.server_context() if self.certificate else None,
        )
        #: An owner token for this gateway, minted when a :class:`Simulation` starts.
        self.token: str | None = None
        # Port 80 of 7.x answers 301 to HTTPS (some releases to https://localhost).
        self._redirect_to = http_redirect
        self._redirect = (
            Listener(self._make_redirect_app, host=host)
            if http_redirect is not None and device.https
            else None
        )
        self._restart: asyncio.Task[None] | None = None
        # Responses that go out without the Content-Type or Server header aiohttp adds (weak:
        # typed response keys would need aiohttp 3.14, string keys warn there).
        self._without_content_type: weakref.WeakSet[web.StreamResponse] = weakref.WeakSet()
        self._without_server: weakref.WeakSet[web.StreamResponse] = weakref.WeakSet()
        self._online = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def __repr__(self) -> str:
        return f"SimulatedGateway(serial={self.serial}, url={self.url}, online={self.online})"

    # --- identity -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``https://127.0.0.1:54321``."""
        return self._listener.url

    @property
    def port(self) -> int:
        """TCP port (fixed after the first start)."""
        return self._listener.port

    @property
    def redirect_url(self) -> str | None:
        """The plain-HTTP port that answers 301 to HTTPS (None unless asked for)."""
        return self._redirect.url if self._redirect is not None else None

    @property
    def fingerprint(self) -> str | None:
        """Lowercase hex SHA-256 of the DER certificate (None over plain HTTP)."""
        return self.certificate.fingerprint if self.certificate else None

    @property
    def plant(self) -> Plant | None:
        """The simulated plant (None in replay mode)."""
        return self.device.plant if isinstance(self.device, SimulatedDevice) else None

    @property
    def profile(self) -> Profile | None:
        """The simulated profile (None in replay mode)."""
        return self.device.profile if isinstance(self.device, SimulatedDevice) else None

    @property
    def online(self) -> bool:
        """Whether the port is open (False while rebooting)."""
        return self._listener.running

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the port (and the redirecting HTTP port, if any)."""
        await self._open()
        self._online.set()

    async def _open(self) -> None:
        await self._listener.start()
        if self._redirect is not None:
            await self._redirect.start()

    async def _close(self) -> None:
        await self._listener.stop()
        if self._redirect is not None:
            await self._redirect.stop()

    async def stop(self) -> None:
        """Close the port and every connection; cancel a pending restart."""
        if self._restart is not None:
            self._restart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._restart
            self._restart = None
        await self._close()
        self._online.clear()

    async def reboot(self, downtime_s: float = 5.0) -> None:
        """Stop listening now (connections are refused) and come back after ``downtime_s``.

        Sessions and the live stream are lost, as on the real device; the plant keeps
        running, so data resume consistently. Returns once the port is closed.
        """
        if self._restart is not None:
            self._restart.cancel()
        self._online.clear()
        await self._close()
        self.auth.clear_sessions()
        self.device.reboot()
        self.stats.reboots += 1
        self._restart = asyncio.create_task(self._come_back(downtime_s))

    async def _come_back(self, downtime_s: float) -> None:
        await asyncio.sleep(downtime_s)
        try:
            await self._open()
        except OSError:
            _LOGGER.exception("gateway %s could not reopen port %s", self.serial, self.port)
            return
        self._online.set()
        self._restart = None

    async def wait_online(self) -> None:
        """Wait until the gateway listens again (returns at once when it does)."""
        await self._online.wait()

    async def wait_idle(self) -> None:
        """Wait until no request is in flight (a hung one ends when its client gives up)."""
        await self._idle.wait()

    # --- control --------------------------------------------------------------------------

    async def replace_certificate(self) -> str:
        """Present a new self-signed certificate (as a replaced gateway, or an impostor would).

        The port closes and reopens with the new certificate, dropping open connections;
        returns the new fingerprint.
        """
        if self.certificate is None:
            raise ValueError("a plain-HTTP gateway has no certificate to replace")
        self.certificate = make_certificate(f"envoy-{self.device.serial}", setup=self._tls)
        self._listener.set_ssl_context(self.certificate.server_context())
        if self._listener.running:
            await self._listener.stop()
            await self._listener.start()
        return self.certificate.fingerprint

    def revoke_token(self, token_id: str) -> None:
        """Refuse the token with this ``jti`` (and end its sessions)."""
        self.auth.revoke(token_id)

    def revoke_all_tokens(self) -> None:
        """Refuse every token minted so far (and end all sessions)."""
        self.auth.revoke_all()

    def set_firmware(self, software: str) -> None:
        """Report another firmware version in ``/info`` (e.g. ``D8.3.5167``), as after an
        update pushed without notice; combine with :attr:`removed_paths` and :meth:`reboot`."""
        if not isinstance(self.device, SimulatedDevice):
            raise TypeError("only simulated gateways can change firmware")
        self.device.profile = attrs.evolve(self.device.profile, software=software)

    def update_firmware(self, software: str) -> None:
        """A firmware update pushed without notice, that restarts the counters: ``/info``
        reports ``software``, every lifetime counter starts again from zero, and the back
        end restarts (sessions, the live stream and live data's diagnostic counters are gone)
        while the front server keeps answering."""
        device = self._simulated()
        self.set_firmware(software)
        device.reset_counters()
        device.restart()
        self.auth.clear_sessions()

    def reset_counters(self) -> None:
        """Every lifetime counter starts again from zero and stays there (no restart)."""
        self._simulated().reset_counters()

    def glitch_counters(
        self,
        kind: GlitchKind | str,
        *,
        count: int | None = 1,
        path: str | None = None,
        wh: float | None = None,
    ) -> None:
        """Spoil the counters of the next ``count`` replies (of ``path``): ``drop`` reads
        zero, ``spike`` jumps ``wh`` (see :mod:`~enphase_local.simulator.counter_faults`)."""
        self._simulated().counter_faults.glitch(GlitchKind(kind), count=count, path=path, wh=wh)

    def counter_faults(self) -> dict[str, object]:
        """The counter glitches waiting (none on a replayed gateway)."""
        if not isinstance(self.device, SimulatedDevice):
            return {}
        return self.device.counter_faults.active()

    def clear_counter_faults(self) -> None:
        """Switch every counter glitch off."""
        self._simulated().counter_faults.clear()

    def energy_truth(self) -> FlowTotals:
        """What really flowed since the gateway started: the ground truth per flow, Wh."""
        return self._simulated().truth()

    def set_battery_soc(self, pct: float) -> None:
        """Put this much charge in the batteries, percent (as after a long outage)."""
        self._simulated().set_soc(pct)

    def set_grid_relay(self, closed: bool) -> None:
        """Open the grid relay (the site goes off grid) or close it again (after synchronising
        with the grid, as the System Controller does); only with a System Controller or Collar."""
        self._simulated().command_relay(closed)

    @property
    def control_faults(self) -> writes.ControlFaults:
        """The write faults: ``ignore_writes(path)``, ``set_cloud_overwrite(delay_s)``,
        ``set_dry_contact_settle(seconds)`` (see :class:`~enphase_local.simulator.writes.
        ControlFaults`)."""
        return self._simulated().writes.faults

    def _simulated(self) -> SimulatedDevice:
        if not isinstance(self.device, SimulatedDevice):
            raise TypeError("a replayed gateway has no plant to steer")
        return self.device

    def local_time(self) -> dt.datetime:
        """The gateway's local (simulated) time."""
        return dt.datetime.fromtimestamp(self._clock.now(), self._tz)

    # --- HTTP -----------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_response_prepare.append(self._strip_headers)
        return app

    def _make_redirect_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._moved)
        return app

    async def _moved(self, request: web.Request) -> web.Response:
        host = (
            "localhost"
            if self._redirect_to == "localhost"
            else f"{self._listener.host}:{self.port}"
        )
        return web.Response(
            status=301,
            body=bodies.openresty_page(301, "Moved Permanently"),
            headers={
                hdrs.LOCATION: f"https://{host}{request.path_qs}",
                hdrs.CONTENT_TYPE: "text/html",
                hdrs.SERVER: bodies.SERVER,
            },
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        stats = self.stats
        stats.requests += 1
        stats.by_path[request.path] += 1
        stats.in_flight += 1
        self._idle.clear()
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        started, sim_time, status = time.monotonic(), self._clock.now(), 0
        try:
            response = await self._respond(request)
            status = response.status
            return response
        finally:
            stats.in_flight -= 1
            if not stats.in_flight:
                self._idle.set()
            stats.by_status[status] += 1
            stats.log.append(
                RequestRecord(
                    method=request.method,
                    path=request.path,
                    status=status,
                    started=started,
                    finished=time.monotonic(),
                    sim_time=sim_time,
                )
            )

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        window = self.faults.nightly
        served = self.stats.faults_served
        if (
            window is not None
            and request.path not in window.spared_paths
            and window.contains(self.local_time())
        ):
            served["nightly"] += 1
            await asyncio.sleep(window.hang_s)
            return self._response(_error_reply(HTTPStatus.GATEWAY_TIMEOUT))
        plan = self.faults.plan(request.path)
        if plan.latency_s:
            await asyncio.sleep(plan.latency_s)
        if plan.hang:
            served["hang"] += 1
            await asyncio.get_running_loop().create_future()  # never answered
        if plan.error_status is not None:
            served["error"] += 1
            return self._response(_error_reply(HTTPStatus(plan.error_status)))
        reply = self._dispatch(request, await request.read())
        if (request.method, request.path) in writes.ROUTES:
            if reply.status == 200:
                self.stats.writes[request.path] += 1
            elif reply.status == 500:
                self.stats.bad_writes[request.path] += 1
        if plan.html is not None and reply.status == 200:
            served["html"] += 1
            reply = (
                Reply(body=bodies.PAGE_NOT_FOUND_HTML, content_type="application/json")
                if plan.html == "not-found"
                else Reply(body=bodies.WEB_UI_HTML, content_type="text/html")
            )
        if plan.truncate is not None and reply.body:
            served["cut" if plan.truncate else "truncate"] += 1
            return await self._truncated(request, reply, drop_connection=plan.truncate)
        return self._response(reply)

    def _dispatch(self, request: web.Request, body: bytes) -> Reply:
        answer = self._gate(request)
        if answer is not None:
            return answer
        if request.path in self.removed_paths:
            return self.device.not_found(request.path)
        return self.device.handle(request.method, request.path, request.query_string, body)

    def _gate(self, request: web.Request) -> Reply | None:
        """None when the request may reach the device, else the refusal (or check_jwt page)."""
        device, path, method = self.device, request.path, request.method
        if device.web_tokens and path == CHECK_JWT and method in ("GET", "POST"):
            return self._check_jwt(request)
        if not device.web_tokens:
            return self._check_digest(request)
        if device.is_open(path):
            return None
        claims = self._authorize(request)
        if claims is None or (path in self.installer_only and claims.role is not Role.INSTALLER):
            if claims is not None:
                self.stats.auth_failures["role"] += 1
            return Reply(
                status=401,
                body=bodies.unauthorized_page(device.login_redirect),
                content_type="text/html",
            )
        return None

    def _bearer(self, request: web.Request) -> str | None:
        scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def _verify(self, token: str) -> TokenClaims | None:
        try:
            return self.auth.verify(token)
        except TokenError as err:
            self.stats.auth_failures[err.reason] += 1
            return None

    def _authorize(self, request: web.Request) -> TokenClaims | None:
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            claims = self.auth.session(session_id)
            if claims is not None:
                return claims
        token = self._bearer(request)
        if token is None:
            self.stats.auth_failures["session-expired" if session_id else "missing"] += 1
            return None
        return self._verify(token)

    def _check_jwt(self, request: web.Request) -> Reply:
        token = self._bearer(request)
        if token is None:
            self.stats.auth_failures["missing"] += 1
        claims = None if token is None else self._verify(token)
        if claims is None:
            return Reply(
                status=401,
                body=bodies.unauthorized_page(self.device.login_redirect),
                content_type="text/html",
            )
        session_id = self.auth.open_session(claims)
        self.stats.sessions_opened += 1
        cookie = f"{SESSION_COOKIE}={session_id}; Path=/; Secure; HttpOnly"
        return Reply(
            body=bodies.CHECK_JWT_OK, content_type="text/html", headers=(("Set-Cookie", cookie),)
        )

    def _check_digest(self, request: web.Request) -> Reply | None:
        """None when the request may proceed, else the legacy firmware's 401."""
        path = request.path
        installer_only = path in self.installer_only
        if not (installer_only or self.device.needs_digest(path)):
            return None
        user = self._digest.verify(
            method=request.method,
            uri=request.path_qs,
            header=request.headers.get(hdrs.AUTHORIZATION),
        )
        if user is not None and (user == "installer" or not installer_only):
            return None
        self.stats.auth_failures["digest" if user is None else "role"] += 1
        challenge = (("WWW-Authenticate", self._digest.challenge()),)
        if installer_only:
            return Reply(
                status=401,
                body=bodies.LEGACY_INSTALLER_401,
                content_type="text/plain",
                headers=challenge,
            )
        if not path.startswith("/api/"):  # a web page, such as 5.x's /production
            return Reply(
                status=401, body=bodies.LEGACY_PAGE_401, content_type="text/html", headers=challenge
            )
        return Reply(
            status=401,
            body=bodies.LEGACY_DIGEST_401,
            content_type="application/json",
            headers=challenge,
        )

    def _response(self, reply: Reply) -> web.Response:
        response = web.Response(status=reply.status, body=reply.body)
        self._decorate(response, reply)
        return response

    def _decorate(self, response: web.StreamResponse, reply: Reply) -> None:
        if reply.content_type is None:
            self._without_content_type.add(response)
        else:
            response.headers[hdrs.CONTENT_TYPE] = reply.content_type
        for name, value in (*reply.headers, *self.device.base_headers):
            response.headers.add(name, value)
        if hdrs.SERVER not in response.headers:
            self._without_server.add(response)
        if not self.device.keep_alive:
            response.force_close()

    async def _strip_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        """Remove the headers aiohttp adds that the real device does not send."""
        del request
        if response in self._without_content_type:
            response.headers.popall(hdrs.CONTENT_TYPE, None)
        if response in self._without_server:
            response.headers.popall(hdrs.SERVER, None)

    async def _truncated(
        self, request: web.Request, reply: Reply, *, drop_connection: bool
    ) -> web.StreamResponse:
        cut = reply.body[: len(reply.body) // 2]
        if not drop_connection:
            return self._response(attrs.evolve(reply, body=cut))
        response = web.StreamResponse(status=reply.status)
        self._decorate(response, reply)
        response.content_length = len(reply.body)
        await response.prepare(request)
        await response.write(cut)
        if request.transport is not None:
            request.transport.close()  # the device drops the connection mid-body
        return response


def _error_reply(status: HTTPStatus) -> Reply:
    reason = "Gateway Time-out" if status is HTTPStatus.GATEWAY_TIMEOUT else status.phrase
    return Reply(
        status=status.value,
        body=bodies.openresty_page(status.value, reason),
        content_type="text/html",
    )
