"""What a gateway answers, apart from transport, auth and faults: the simulated device.

A *device* maps a request to a :class:`Reply`. :class:`SimulatedDevice` computes its replies
from a :class:`~enphase_local.simulator.physics.Plant`; the replay device
(:mod:`enphase_local.simulator.replay`) reads them from a capture set. The gateway server in
:mod:`enphase_local.simulator.gateway` wraps either with the real device's transport, auth and
faults.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import math
import urllib.parse
from collections.abc import Callable
from typing import Protocol

import attrs

from enphase_local.simulator import bodies, catalog, writes
from enphase_local.simulator.clock import SimClock
from enphase_local.simulator.contacts import DryContactBank
from enphase_local.simulator.counter_faults import CounterFaults
from enphase_local.simulator.firmware import Change, has, shows
from enphase_local.simulator.physics import Flows, FlowTotals, Plant
from enphase_local.simulator.profiles import Profile
from enphase_local.simulator.snapshot import BATTERY_REPORT_S, Snapshot

#: The live stream switches itself off this many simulated seconds after being enabled.
LIVE_STREAM_S = 900.0
#: Paths of the brief's endpoints (plus ``/ivp/meters/reports``) that the device serves.
INFO = "/info"
CHECK_JWT = "/auth/check_jwt"
INVERTERS = "/api/v1/production/inverters"
LIVE_STREAM = "/ivp/livedata/stream"
PRODUCTION_PAGE = "/production"
_NO_CACHE = (("Pragma", "no-cache"), ("Expires", "1"), ("Cache-Control", "no-cache"))
#: What openresty adds to every answer on firmware 7 and later.
OPENRESTY_HEADERS = (
    ("Server", bodies.SERVER),
    ("Strict-Transport-Security", "max-age=63072000; includeSubdomains"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
)


@attrs.frozen(kw_only=True)
class Reply:
    """A response before transport: status, body, Content-Type (None: no header) and extras."""

    #: HTTP status code.
    status: int = 200
    #: The body bytes.
    body: bytes = b""
    #: The Content-Type header, or None to send none (as ``/ivp/*`` JSON replies do).
    content_type: str | None = None
    #: Further headers, in order.
    headers: tuple[tuple[str, str], ...] = ()


class Device(Protocol):
    """The gateway's back end, as the server sees it."""

    #: The gateway serial (``aud`` of its tokens).
    serial: str
    #: HTTPS (firmware 7+) or plain HTTP.
    https: bool
    #: Whether data paths need a token.
    web_tokens: bool
    #: Whether the front server keeps connections alive.
    keep_alive: bool
    #: Where the HTML 401 page sends a browser.
    login_redirect: str
    #: Headers the front server adds to every answer (``Server`` and security headers).
    base_headers: tuple[tuple[str, str], ...]

    def is_open(self, path: str) -> bool:
        """Whether ``path`` needs no credentials."""

    def needs_digest(self, path: str) -> bool:
        """Whether ``path`` needs HTTP digest auth (legacy firmware)."""

    def handle(self, method: str, path: str, query: str, body: bytes) -> Reply:
        """Answer one authorised request."""

    def not_found(self, path: str) -> Reply:
        """The firmware's 404 for ``path``."""

    def reboot(self) -> None:
        """Forget volatile state, as a reboot does."""


def json_reply(body: bytes, *, content_type: str | None = None) -> Reply:
    """A 200 JSON reply (``/ivp/*`` replies carry no Content-Type)."""
    return Reply(body=body, content_type=content_type)


def firmware_not_found(path: str, version: tuple[int, ...]) -> Reply:
    """A 404 in the form firmware ``version`` uses for ``path``."""
    legacy = version < (7,)
    if path.startswith("/ivp/") and not legacy:
        return Reply(status=404, body=bodies.NOT_FOUND_ERR)
    if not legacy:
        page = bodies.openresty_page(404, "Not Found")
        return Reply(status=404, body=page, content_type="text/html")
    if path.startswith(("/ivp/ss/", "/ivp/sc/")) and shows(version, Change.SS_ERR_404):
        return Reply(status=404, body=bodies.NOT_FOUND_ERR)
    return Reply(status=404, body=bodies.NOT_FOUND_ERROR, content_type=bodies.NOT_FOUND_ERROR_TYPE)


def _dress(body: bytes, dress: catalog.Dress, profile: Profile) -> Reply:
    """A 200 reply with the headers the front end sends for this kind of endpoint."""
    if dress is catalog.Dress.IVP:
        return Reply(body=body)
    if dress is catalog.Dress.ADMIN:
        untyped = has(profile, Change.TARIFF_NO_CONTENT_TYPE)
        return Reply(body=body, content_type=None if untyped else "application/json")
    if dress is catalog.Dress.HTML:
        return Reply(body=body, content_type="text/html", headers=_NO_CACHE)
    return Reply(body=body, content_type="application/json", headers=_NO_CACHE)


class SimulatedDevice:
    """A gateway back end whose data come from a simulated plant."""

    def __init__(self, profile: Profile, serial: str, *, clock: SimClock, tz: dt.tzinfo) -> None:
        self.profile = profile
        self.serial = serial
        self.https = profile.https
        self.web_tokens = profile.web_tokens
        self.keep_alive = profile.keep_alive
        self.login_redirect = profile.login_redirect
        self.base_headers: tuple[tuple[str, str], ...] = OPENRESTY_HEADERS if profile.https else ()
        self._clock = clock
        self.plant = Plant(profile, serial, start=math.floor(clock.now()), tz=tz)
        #: Glitches waiting for the replies whose counters they spoil.
        self.counter_faults = CounterFaults()
        #: The System Controller's dry contacts.
        self.contacts = DryContactBank(profile)
        #: The control writes and their faults.
        self.writes = writes.Writes(profile, self.plant, self.contacts)
        self._booted_at = clock.now()
        self._rebooted = False
        self._requests: collections.Counter[str] = collections.Counter()
        self._flows_cache: Flows | None = None
        self._stream_until: float | None = None
        self._live = self._flows()
        self._live_counters = {
            "task_id": 27672012,
            "publish": 0,
            "stream_ctrl": 0,
            "rest_status": 0,
        }
        self._catalog = catalog.served(profile)
        self._routes = self._make_routes()

    def __repr__(self) -> str:
        return f"SimulatedDevice(profile={self.profile.name}, serial={self.serial})"

    def _make_routes(self) -> dict[tuple[str, str], Callable[[bytes], Reply]]:
        routes: dict[tuple[str, str], Callable[[bytes], Reply]] = {
            ("GET", INFO): lambda _: self._info(),
            ("GET", "/api/v1/production"): lambda _: self._api(bodies.production),
            ("GET", INVERTERS): lambda _: self._api(lambda p, _f, t: bodies.inverters(p, t)),
            ("GET", "/ivp/meters"): lambda _: json_reply(bodies.meters(self.profile)),
            ("GET", "/ivp/meters/readings"): lambda _: self._ivp(bodies.meter_readings),
        }
        if not has(self.profile, Change.API_PRODUCTION):
            return {("GET", INFO): routes[("GET", INFO)]}
        if self.profile.legacy:
            return routes
        routes.update(
            {
                ("GET", "/ivp/meters/gridReading"): lambda _: self._ivp(
                    lambda p, f, _t: bodies.grid_readings(p, f)
                ),
                ("GET", "/ivp/meters/reports/consumption"): lambda _: self._ivp(
                    bodies.consumption_reports
                ),
                ("GET", "/ivp/meters/reports"): lambda _: self._ivp(bodies.all_reports),
                ("GET", "/ivp/pdm/energy"): lambda _: self._ivp(bodies.energy),
                ("GET", "/ivp/livedata/status"): lambda _: self._live_status(),
                ("POST", LIVE_STREAM): self._stream_switch,
                ("GET", "/ivp/ensemble/device_list"): lambda _: self._device_list(),
            }
        )
        for method, path in writes.ROUTES:
            if path in self._catalog:  # the firmware serves the path (to read)
                routes[(method, path)] = self._writer(path, method)
        return routes

    # --- the Device protocol ---------------------------------------------------------------

    def is_open(self, path: str) -> bool:
        """``/info`` always; on legacy firmware everything but the digest paths."""
        return path == INFO or (not self.web_tokens and not self.needs_digest(path))

    def needs_digest(self, path: str) -> bool:
        """Legacy firmware protects the per-inverter data (and 5.x its production page) with
        digest auth."""
        if not self.profile.legacy:
            return False
        if path == PRODUCTION_PAGE:
            page = self._catalog[PRODUCTION_PAGE].dress is catalog.Dress.HTML
            return page and has(self.profile, Change.PRODUCTION_PAGE_DIGEST)
        return path == INVERTERS and ("GET", INVERTERS) in self._routes

    def handle(self, method: str, path: str, query: str, body: bytes) -> Reply:
        """Answer an authorised request from the plant's present state (and a counter
        glitch, if one is waiting for it)."""
        self._requests[path] += 1
        self.plant.glitch = self.counter_faults.take(path)
        try:
            return self._answer(method, path, query, body)
        finally:
            self.plant.glitch = None

    def _answer(self, method: str, path: str, query: str, body: bytes) -> Reply:
        route = self._routes.get((method, path))
        if route is not None:
            return route(body)
        endpoint = self._catalog.get(path) if method == "GET" else None
        if endpoint is None:
            return self.not_found(path)
        snapshot = self.snapshot(dict(urllib.parse.parse_qsl(query)))
        return _dress(endpoint.body(snapshot), endpoint.dress, self.profile)

    def not_found(self, path: str) -> Reply:
        """404 as this firmware sends it."""
        return firmware_not_found(path, self.profile.firmware_version)

    def reboot(self) -> None:
        """A reboot switches the live stream off and forgets the batteries' temperatures."""
        self._stream_until = None
        self._booted_at = self._clock.now()
        self._rebooted = True

    # --- control --------------------------------------------------------------------------

    def command_relay(self, closed: bool) -> None:
        """Open the grid relay now (the site goes off grid), or start closing it."""
        if not self.profile.grid_relay:
            raise ValueError("this gateway has no System Controller or Meter Collar")
        self._settle()
        self.plant.relay.command(closed, self.now())

    def set_soc(self, pct: float) -> None:
        """Put this much charge in the batteries, percent."""
        self._settle()
        self.plant.set_soc(pct)

    def reset_counters(self) -> None:
        """The lifetime counters start again from zero, now and for good."""
        self._settle()
        self.plant.reset_registers()

    def restart(self) -> None:
        """The back end restarts, as after a firmware update: a reboot that also restarts
        live data's diagnostic counters."""
        self.reboot()
        counters = self._live_counters
        counters["publish"] = counters["stream_ctrl"] = counters["rest_status"] = 0

    def truth(self) -> FlowTotals:
        """The ground truth now: the energy of each flow since the plant started."""
        self._settle()
        return attrs.evolve(self.plant.truth)

    def _settle(self) -> None:
        """Bring the plant to now before a state change, so that the past keeps its flows."""
        self._advance(self.now())
        self._flows_cache = None

    def _advance(self, now: int) -> None:
        """Bring the plant to ``now``, with a cloud overwrite that fell due on the way."""
        due = self.writes.cloud_due(now)
        if due is not None:
            self.plant.advance_to(due)
            self.writes.apply_cloud()
            self._flows_cache = None
        self.plant.advance_to(now)

    # --- state ----------------------------------------------------------------------------

    def now(self) -> int:
        """Simulated time, whole seconds: meters update once a second."""
        return math.floor(self._clock.now())

    def _flows(self) -> Flows:
        now = self.now()
        if self.writes.cloud_due(now) is not None:
            self._flows_cache = None
        if self._flows_cache is None or self._flows_cache.time != now:
            self._advance(now)
            self._flows_cache = self.plant.flows_at(now)
        return self._flows_cache

    def snapshot(self, query: dict[str, str] | None = None) -> Snapshot:
        """The state a body is rendered from, now."""
        flows = self._flows()
        uptime = self._clock.now() - self._booted_at
        return Snapshot(
            profile=self.profile,
            plant=self.plant,
            flows=flows,
            now=self.now(),
            query=query or {},
            uptime_s=uptime,
            fresh_boot=self._rebooted and uptime < BATTERY_REPORT_S,
            requests=dict(self._requests),
            contacts=self.contacts,
            tariff=self.writes.tariff,
        )

    @property
    def streaming(self) -> bool:
        """Whether the live stream is on (it lapses 15 simulated minutes after enabling)."""
        return self._stream_until is not None and self._clock.now() < self._stream_until

    # --- endpoints ------------------------------------------------------------------------

    def _info(self) -> Reply:
        return Reply(
            body=bodies.info_xml(self.profile, self.serial, self.now()),
            content_type=self.profile.info_content_type,
            headers=_NO_CACHE,
        )

    def _api(self, render: Callable[[Plant, Flows, int], bytes]) -> Reply:
        flows = self._flows()
        return json_reply(render(self.plant, flows, self.now()), content_type="application/json")

    def _ivp(self, render: Callable[[Plant, Flows, int], bytes]) -> Reply:
        flows = self._flows()
        return json_reply(render(self.plant, flows, self.now()))

    def _live_status(self) -> Reply:
        counters = self._live_counters
        counters["rest_status"] += 1
        streaming = self.streaming
        if streaming:
            self._live = self._flows()
            counters["task_id"] += 1
            counters["publish"] += 1
        body = bodies.live_data(self.plant, self._live, streaming=streaming, counters=counters)
        return json_reply(body)

    def _stream_switch(self, body: bytes) -> Reply:
        try:
            request = json.loads(body)
            enable = request["enable"]
        except (ValueError, TypeError, KeyError):
            return Reply(status=400, body=b'{"message": "Invalid request"}\n')
        if enable not in (0, 1):
            return Reply(status=400, body=b'{"message": "Invalid request"}\n')
        self._live_counters["stream_ctrl"] += 1
        self._stream_until = self._clock.now() + LIVE_STREAM_S if enable else None
        state = "enabled" if enable else "disabled"
        return json_reply(f'{{"sc_stream": "{state}"}}\n'.encode())

    def _writer(self, path: str, method: str) -> Callable[[bytes], Reply]:
        def write(body: bytes) -> Reply:
            snapshot = self.snapshot()
            try:
                answer = self.writes.handle(path, body, snapshot, method=method)
            except writes.HardwareAbsent:
                return self.not_found(path)
            except writes.WriteRefused as err:
                return _refusal(err)
            finally:
                self._flows_cache = None  # the state may have changed now
            return _dress(answer, self._catalog[path].dress, self.profile)

        return write

    def _device_list(self) -> Reply:
        body = bodies.device_list(self.plant)
        if body is None:
            return Reply(status=404, body=bodies.NOT_FOUND_ERR)
        return json_reply(body)


def _refusal(err: writes.WriteRefused) -> Reply:
    """A refused write: 500 in plain text (as a crashing back end), else JSON with a message."""
    if err.status == 500:
        return Reply(status=500, body=f"{err}\n".encode(), content_type="text/plain")
    return Reply(status=err.status, body=json.dumps({"message": str(err)}).encode() + b"\n")
