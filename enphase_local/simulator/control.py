"""A small HTTP control API for switching faults and steering the clock from outside.

It listens on its own plain-HTTP loopback port (the real device has nothing there, so it
never collides with a device path, and it keeps answering while a gateway reboots). Bodies are
JSON; every route answers JSON. Gateways are addressed by serial.

Gateway routes are under ``/gateways/{serial}``:

| route | body | effect |
|---|---|---|
| ``GET /status`` | | clock, gateways (URL, stats, faults), cloud |
| ``POST /clock`` | ``{"speed"}``, ``{"time"}`` or ``{"advance"}`` | steer the clock |
| ``POST /cloud/outage`` | ``{"enabled"}`` | cloud outage on or off |
| ``POST /cloud/tokens`` | ``{"status"}`` (``null`` restores) | ``/tokens`` answers this status |
| ``GET /gateways/{serial}`` | | one gateway, as in ``/status`` |
| ``POST .../faults/latency`` | ``{"seconds"}`` | add latency |
| ``POST .../faults/slow`` | ``{"seconds"}`` | ``/production.json`` takes this long (others scale) |
| ``POST .../faults/error`` | ``{"count", "status", "path"}`` | 504 burst |
| ``POST .../faults/hang`` | ``{"count", "path"}`` | never answer |
| ``POST .../faults/truncate`` | ``{"count", "path", "close_connection"}`` | cut bodies |
| ``POST .../faults/html`` | ``{"count", "path", "not_found"}`` | HTML instead of JSON |
| ``POST .../faults/nightly`` | ``{"enabled", "start", "duration_s", "hang_s"}`` | 23:00 window |
| ``DELETE .../faults`` | | clear every fault |
| ``POST .../reboot`` | ``{"downtime_s"}`` | reboot |
| ``POST .../revoke`` | ``{"jti"}`` (or ``{}`` for all) | revoke tokens |
| ``PUT .../installer-only`` | ``{"paths": [...]}`` | installer-only paths |
| ``POST .../tokens`` | ``{"role", "lifetime_s", "issued_at"}`` | mint a token: ``{"token"}`` |
| ``POST .../stats/reset`` | | zero the counters |
| ``POST .../battery`` | ``{"soc"}`` | set the batteries' charge, percent |
| ``POST .../relay`` | ``{"state": "open"}`` or ``"closed"`` | take the site off grid or back |
| ``GET .../energy`` | | ground truth: ``{"time", "flows"}``, Wh per flow since start |
| ``POST .../faults/counters`` | ``{"kind", "count", "path", "wh"}`` | ``drop``, ``spike`` |
| ``POST .../counters/reset`` | | the lifetime counters restart from zero, for good |
| ``POST .../firmware`` | ``{"software"}`` | firmware update that restarts the counters |
| ``POST .../faults/ignore_writes`` | ``{"path", "enabled"}`` | writes answered, ignored |
| ``POST .../faults/cloud_overwrite`` | ``{"delay_s"}`` (``null``: off) | cloud undoes writes |
| ``POST .../faults/dry_contact_settle`` | ``{"seconds"}`` (``null``: off) | contacts read open |

``count`` is a number of requests, or ``null`` for "until cleared" (default 1). The ground
truth's flows are ``production_wh``, ``consumption_wh``, ``grid_import_wh``,
``grid_export_wh``, ``battery_charge_wh`` and ``battery_discharge_wh``, as the energy ledger
names them; counter faults never touch them. A counter fault spoils the counters of the next
replies: ``drop`` reads zero, ``spike`` jumps by ``wh`` (6.78 MWh by default).

The write faults (see :mod:`~enphase_local.simulator.writes`) stay on until switched off or
cleared with ``DELETE .../faults``: ``ignore_writes`` answers writes to ``path`` (the tariff,
``/admin/lib/tariff``, by default; ``enabled`` defaults to true) with 200 and changes nothing;
``cloud_overwrite`` puts the storage settings from before a tariff write back ``delay_s``
simulated seconds after it; ``dry_contact_settle`` makes every dry contact read ``open`` for
``seconds`` simulated seconds after a dry contact settings write. A malformed or partial write
body always answers 500, counted in the gateway's ``stats.bad_writes``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
from aiohttp import web
from aiohttp.typedefs import Handler

from enphase_local.simulator import writes
from enphase_local.simulator.auth.jwt import Role, TokenIssuer
from enphase_local.simulator.clock import SimClock
from enphase_local.simulator.cloud import FakeCloud
from enphase_local.simulator.faults import NightlyWindow
from enphase_local.simulator.gateway import SimulatedGateway

_Route = Callable[[SimulatedGateway, dict[str, Any]], Awaitable[object]]


class ControlApi:
    """The control API's request handlers over a set of gateways, a clock and a cloud."""

    def __init__(
        self,
        *,
        gateways: Mapping[str, SimulatedGateway],
        clock: SimClock,
        issuer: TokenIssuer,
        cloud: FakeCloud | None,
    ) -> None:
        self._gateways = gateways
        self._clock = clock
        self._issuer = issuer
        self._cloud = cloud

    def __repr__(self) -> str:
        return f"ControlApi(gateways={list(self._gateways)})"

    def make_app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(middlewares=[_bad_requests])
        app.router.add_get("/status", self._status)
        app.router.add_post("/clock", self._set_clock)
        app.router.add_post("/cloud/outage", self._cloud_outage)
        app.router.add_post("/cloud/tokens", self._cloud_tokens)
        gateway_routes: dict[tuple[str, str], _Route] = {
            ("GET", ""): self._gateway,
            ("POST", "/faults/latency"): self._latency,
            ("POST", "/faults/slow"): self._slow,
            ("POST", "/faults/error"): self._error,
            ("POST", "/faults/hang"): self._hang,
            ("POST", "/faults/truncate"): self._truncate,
            ("POST", "/faults/html"): self._html,
            ("POST", "/faults/nightly"): self._nightly,
            ("DELETE", "/faults"): self._clear,
            ("POST", "/reboot"): self._reboot,
            ("POST", "/revoke"): self._revoke,
            ("PUT", "/installer-only"): self._installer_only,
            ("POST", "/tokens"): self._mint,
            ("POST", "/stats/reset"): self._reset_stats,
            ("POST", "/battery"): self._battery,
            ("POST", "/relay"): self._relay,
            ("GET", "/energy"): self._energy,
            ("POST", "/faults/counters"): self._counters,
            ("POST", "/counters/reset"): self._reset_counters,
            ("POST", "/firmware"): self._firmware,
            ("POST", "/faults/ignore_writes"): self._ignore_writes,
            ("POST", "/faults/cloud_overwrite"): self._cloud_overwrite,
            ("POST", "/faults/dry_contact_settle"): self._dry_contact_settle,
        }
        for (method, suffix), route in gateway_routes.items():
            app.router.add_route(method, "/gateways/{serial}" + suffix, self._for_gateway(route))
        return app

    # --- plumbing -------------------------------------------------------------------------

    def _for_gateway(self, route: _Route) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            gateway = self._gateways.get(request.match_info["serial"])
            if gateway is None:
                return _answer({"error": "unknown gateway"}, status=404)
            result = await route(gateway, await _body(request))
            return _answer(result if result is not None else {"ok": True})

        return handler

    async def _status(self, request: web.Request) -> web.Response:
        del request
        return _answer(
            {
                "clock": {"time": self._clock.now(), "speed": self._clock.speed},
                "gateways": [_describe(g) for g in self._gateways.values()],
                "cloud": None
                if self._cloud is None
                else {"url": self._cloud.url, "outage": self._cloud.outage},
            }
        )

    async def _set_clock(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if "speed" in body:
            self._clock.set_speed(float(body["speed"]))
        if "time" in body:
            self._clock.set_time(float(body["time"]))
        if "advance" in body:
            self._clock.advance(float(body["advance"]))
        return _answer({"time": self._clock.now(), "speed": self._clock.speed})

    async def _cloud_outage(self, request: web.Request) -> web.Response:
        if self._cloud is None:
            return _answer({"error": "no cloud in this simulation"}, status=404)
        body = await _body(request)
        self._cloud.outage = bool(body.get("enabled", True))
        return _answer({"outage": self._cloud.outage})

    async def _cloud_tokens(self, request: web.Request) -> web.Response:
        if self._cloud is None:
            return _answer({"error": "no cloud in this simulation"}, status=404)
        status = (await _body(request)).get("status")
        self._cloud.fail_tokens(None if status is None else int(status))
        return _answer({"status": status})

    # --- gateway routes -------------------------------------------------------------------

    async def _gateway(self, gateway: SimulatedGateway, body: dict[str, Any]) -> object:
        del body
        return _describe(gateway)

    async def _latency(self, gateway: SimulatedGateway, body: dict[str, Any]) -> None:
        gateway.faults.set_latency(float(body["seconds"]))

    async def _slow(self, gateway: SimulatedGateway, body: dict[str, Any]) -> None:
        gateway.faults.set_slow(float(body["seconds"]))

    async def _battery(self, gateway: SimulatedGateway, body: dict[str, Any]) -> None:
        gateway.set_battery_soc(float(body["soc"]))

    async def _relay(self, gateway: SimulatedGateway, body: dict[str, Any]) -> None:
        state = body["state"]
        if state not in ("open", "closed"):
            raise ValueError("state must be 'open' or 'closed'")
        gateway.set_grid_relay(state == "closed")

    async def _energy(self, gateway: SimulatedGateway, body: dict[str, Any]) -> object:
        del body
        return {"time": self._clock.now(), "flows": attrs.asdict(gateway.energy_truth())}

    async def _counters(self, gateway: SimulatedGateway, body: dict[str, Any]) -> None:
        wh = body.get("wh")
        gateway.glitch_counters(
            str(body["kind"]),
            count=_count(body),
            path=body.get("path"),
            wh=None if wh is None else float(wh),
        )

    async def _reset_counters(self, gateway: SimulatedGateway, body: dict[str, Any]) -> None:
        del body
        gateway.reset_counters()

    async def _firmware(self, gateway: SimulatedGateway, body: dict[str, Any]) -> None:
        gateway.update_firmware(str(body["software"]))

    async def _ignore_writes(self, gateway: SimulatedGateway, body: dict[str, Any]) -> object:
        gateway.control_faults.ignore_writes(
            str(body.get("path", writes.TARIFF)), enabled=bool(body.get("enabled", True))
        )
        return gateway.control_faults.active()

    async def _cloud_overwrite(self, gateway: SimulatedGateway, body: dict[str, Any]) -> object:
        delay = body["delay_s"]
        gateway.control_faults.set_cloud_overwrite(None if delay is None else float(delay))
        return gateway.control_faults.active()

    async def _dry_contact_settle(self, gateway: SimulatedGateway, body: dict[str, Any]) -> object:
        seconds = body["seconds"]
        gateway.control_faults.set_dry_contact_settle(None if seconds is None else float(seconds))
        return gateway.control_faults.active()

    async def _error(self, gateway: SimulatedGateway, body: dict[str, Any]) -> None:
        gateway.faults.fail(
            _count(body), status=int(body.get("status", 504)), path=body.get("path")
        )

    async def _hang(self, gateway: SimulatedGateway, body: dict[str, Any]) -> None:
        gateway.faults.hang(_count(body), path=body.get("path"))

    async def _truncate(self, gateway: SimulatedGateway, body: dict[str, Any]) -> None:
        gateway.faults.truncate(
            _count(body),
            path=body.get("path"),
            close_connection=bool(body.get("close_connection", True)),
        )

    async def _html(self, gateway: SimulatedGateway, body: dict[str, Any]) -> None:
        gateway.faults.serve_html(
            _count(body), path=body.get("path"), not_found=bool(body.get("not_found", False))
        )

    async def _nightly(self, gateway: SimulatedGateway, body: dict[str, Any]) -> None:
        if not body.get("enabled", True):
            gateway.faults.set_nightly(None)
            return
        gateway.faults.set_nightly(
            NightlyWindow(
                start=dt.time.fromisoformat(str(body.get("start", "23:00"))),
                duration_s=float(body.get("duration_s", 300.0)),
                hang_s=float(body.get("hang_s", 60.0)),
            )
        )

    async def _clear(self, gateway: SimulatedGateway, body: dict[str, Any]) -> None:
        del body
        gateway.faults.clear()
        if gateway.plant is not None:
            gateway.clear_counter_faults()
            gateway.control_faults.clear()

    async def _reboot(self, gateway: SimulatedGateway, body: dict[str, Any]) -> None:
        await gateway.reboot(float(body.get("downtime_s", 5.0)))

    async def _revoke(self, gateway: SimulatedGateway, body: dict[str, Any]) -> None:
        if "jti" in body:
            gateway.revoke_token(str(body["jti"]))
        else:
            gateway.revoke_all_tokens()

    async def _installer_only(self, gateway: SimulatedGateway, body: dict[str, Any]) -> None:
        paths = body["paths"]
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise TypeError("paths must be a list of strings")
        gateway.installer_only = set(paths)

    async def _mint(self, gateway: SimulatedGateway, body: dict[str, Any]) -> dict[str, str]:
        lifetime, issued_at = body.get("lifetime_s"), body.get("issued_at")
        token = self._issuer.mint(
            gateway.serial,
            role=Role(str(body.get("role", "owner"))),
            lifetime_s=None if lifetime is None else float(lifetime),
            issued_at=None if issued_at is None else float(issued_at),
        )
        return {"token": token}

    async def _reset_stats(self, gateway: SimulatedGateway, body: dict[str, Any]) -> None:
        del body
        gateway.stats.reset()


def _describe(gateway: SimulatedGateway) -> dict[str, object]:
    stats = gateway.stats
    return {
        "serial": gateway.serial,
        "url": gateway.url,
        "fingerprint": gateway.fingerprint,
        "online": gateway.online,
        "stats": {
            "requests": stats.requests,
            "in_flight": stats.in_flight,
            "max_in_flight": stats.max_in_flight,
            "by_status": {str(k): v for k, v in stats.by_status.items()},
            "auth_failures": dict(stats.auth_failures),
            "faults_served": dict(stats.faults_served),
            "writes": dict(stats.writes),
            "bad_writes": dict(stats.bad_writes),
        },
        "faults": gateway.faults.active(),
        "counter_faults": gateway.counter_faults(),
        "control_faults": None if gateway.plant is None else gateway.control_faults.active(),
        "installer_only": sorted(gateway.installer_only),
        "site": _site(gateway),
    }


def _site(gateway: SimulatedGateway) -> dict[str, object] | None:
    """What the control API can steer (the batteries' charge, the grid relay) and what
    writes set."""
    plant = gateway.plant
    if plant is None:
        return None
    now = gateway.local_time().timestamp()
    storage = plant.storage
    return {
        "battery_soc_pct": round(plant.soc_pct, 1),
        "relay": plant.relay.state(now).value,
        "generator_running": plant.generator.running,
        "generator_mode": plant.generator.mode.value,
        "storage_mode": storage.mode.value,
        "reserve_pct": storage.reserve_pct,
        "charge_from_grid": storage.charge_from_grid,
        "acb_sleep": {serial: list(band) for serial, band in plant.acb_sleep.items()},
    }


@web.middleware
async def _bad_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bad JSON or bad values in a request body answer 400 with the reason."""
    try:
        return await handler(request)
    except (ValueError, TypeError, KeyError) as err:
        return _answer({"error": str(err)}, status=400)


def _count(body: dict[str, Any]) -> int | None:
    count = body.get("count", 1)
    return None if count is None else int(count)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise TypeError("the body must be a JSON object")
    return value


def _answer(value: object, *, status: int = 200) -> web.Response:
    return web.json_response(value, status=status)
