"""The control API drives faults, the clock, tokens and the cloud from outside the process."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from enphase_local.simulator.harness import Simulation
from enphase_local.simulator.pytest_plugin import SimulationFactory

from .conftest import NOON, fetch

pytestmark = pytest.mark.enphase_simulation(gateways=2, speed=0, start_time=NOON)

DATA = "/ivp/meters/readings"


async def control(
    http: aiohttp.ClientSession,
    simulation: Simulation,
    method: str,
    path: str,
    body: object = None,
) -> tuple[int, Any]:
    assert simulation.control_url is not None
    async with http.request(method, simulation.control_url + path, json=body) as response:
        return response.status, await response.json()


async def test_status_lists_gateways_clock_and_cloud(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    status, body = await control(http, enphase_simulation, "GET", "/status")
    assert status == 200
    assert body["clock"] == {"time": NOON.timestamp(), "speed": 0.0}
    assert [g["serial"] for g in body["gateways"]] == [
        g.serial for g in enphase_simulation.gateways
    ]
    first = body["gateways"][0]
    assert first["url"] == enphase_simulation.gateways[0].url
    assert first["online"] is True
    assert first["stats"]["max_in_flight"] == 0
    assert body["cloud"]["outage"] is False


async def test_fault_switches(enphase_simulation: Simulation, http: aiohttp.ClientSession) -> None:
    gateway, other = enphase_simulation.gateways
    base = f"/gateways/{gateway.serial}"
    await control(http, enphase_simulation, "POST", base + "/faults/error", {"count": 2})
    assert (await fetch(http, gateway, DATA)).status == 504
    assert (await fetch(http, other, DATA)).status == 200  # faults are per gateway
    await control(
        http, enphase_simulation, "POST", base + "/faults/html", {"count": None, "path": DATA}
    )
    await control(http, enphase_simulation, "POST", base + "/faults/latency", {"seconds": 0.01})
    await control(
        http,
        enphase_simulation,
        "POST",
        base + "/faults/nightly",
        {"start": "23:30", "duration_s": 60, "hang_s": 1},
    )
    await control(
        http, enphase_simulation, "POST", base + "/faults/truncate", {"close_connection": False}
    )
    await control(http, enphase_simulation, "POST", base + "/faults/hang", {"path": "/nowhere"})
    _, status = await control(http, enphase_simulation, "GET", "/status")
    faults = status["gateways"][0]["faults"]
    assert faults["error"] == {"remaining": 1, "path": None}
    assert faults["html"] == {"remaining": None, "path": DATA}
    assert faults["latency_s"] == 0.01
    assert faults["nightly"] == {"start": "23:30", "duration_s": 60.0, "hang_s": 1.0}
    assert set(faults) == {"error", "html", "latency_s", "nightly", "truncate", "hang"}
    await control(http, enphase_simulation, "DELETE", base + "/faults")
    assert gateway.faults.active() == {}
    await control(http, enphase_simulation, "POST", base + "/faults/nightly", {"enabled": False})
    assert gateway.faults.nightly is None


async def test_clock_tokens_revocation_and_roles(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    base = f"/gateways/{gateway.serial}"
    status, clock = await control(http, enphase_simulation, "POST", "/clock", {"advance": 3600})
    assert status == 200
    assert clock["time"] == NOON.timestamp() + 3600
    _, minted = await control(
        http, enphase_simulation, "POST", base + "/tokens", {"role": "installer"}
    )
    installer = minted["token"]
    await control(
        http, enphase_simulation, "PUT", base + "/installer-only", {"paths": ["/ivp/pdm/energy"]}
    )
    assert (await fetch(http, gateway, "/ivp/pdm/energy")).status == 401
    assert (await fetch(http, gateway, "/ivp/pdm/energy", token=installer)).status == 200
    await control(http, enphase_simulation, "POST", base + "/revoke", {})
    assert (await fetch(http, gateway, DATA, token=installer)).status == 401
    _, minted = await control(http, enphase_simulation, "POST", base + "/tokens", {})
    assert (await fetch(http, gateway, DATA, token=minted["token"])).status == 200
    await control(http, enphase_simulation, "POST", base + "/stats/reset")
    assert gateway.stats.requests == 0


async def test_reboot_and_cloud_outage(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    base = f"/gateways/{gateway.serial}"
    await control(http, enphase_simulation, "POST", base + "/reboot", {"downtime_s": 0.2})
    assert not gateway.online
    async with asyncio.timeout(5):
        await gateway.wait_online()
    assert (await fetch(http, gateway, DATA)).status == 200
    _, outage = await control(http, enphase_simulation, "POST", "/cloud/outage", {"enabled": True})
    assert outage == {"outage": True}
    assert enphase_simulation.cloud is not None
    assert enphase_simulation.cloud.outage


async def test_bad_requests(enphase_simulation: Simulation, http: aiohttp.ClientSession) -> None:
    serial = enphase_simulation.gateways[0].serial
    cases: list[tuple[str, str, object, int]] = [
        ("POST", "/gateways/000000000000/faults/error", {}, 404),
        ("POST", f"/gateways/{serial}/faults/latency", {}, 400),
        ("POST", f"/gateways/{serial}/faults/latency", {"seconds": -1}, 400),
        ("POST", f"/gateways/{serial}/faults/error", {"count": 0}, 400),
        ("POST", f"/gateways/{serial}/faults/nightly", {"start": "late"}, 400),
        ("PUT", f"/gateways/{serial}/installer-only", {"paths": "/x"}, 400),
        ("POST", f"/gateways/{serial}/tokens", {"role": "admin"}, 400),
        ("POST", f"/gateways/{serial}/faults/error", [1], 400),
        ("POST", "/clock", {"advance": -5}, 400),
    ]
    for method, path, body, expected in cases:
        status, answer = await control(http, enphase_simulation, method, path, body)
        assert status == expected, path
        assert "error" in answer


async def test_battery_relay_and_slow_pages(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    simulation = await enphase_simulation_factory(
        profile=["battery", "metered"], speed=0, start_time=NOON
    )
    battery, metered = simulation.gateways
    base = f"/gateways/{battery.serial}"
    assert (await control(http, simulation, "POST", base + "/battery", {"soc": 42.5}))[0] == 200
    assert (await control(http, simulation, "POST", base + "/relay", {"state": "open"}))[0] == 200
    await control(http, simulation, "POST", base + "/faults/slow", {"seconds": 0.5})
    _, described = await control(http, simulation, "GET", base)
    assert described["site"] == {
        "battery_soc_pct": 42.5,
        "relay": "open",
        "generator_running": False,
        "generator_mode": "auto",
        "storage_mode": "self-consumption",
        "reserve_pct": 10,
        "charge_from_grid": False,
        "acb_sleep": {},
    }
    assert described["faults"] == {"slow_s": 0.5}
    power = (await fetch(http, battery, "/ivp/ensemble/power")).json()
    assert {b["soc"] for b in power["devices:"]} == {42}
    relay = (await fetch(http, battery, "/ivp/ensemble/relay")).json()
    assert relay["mains_oper_state"] == "open"
    await control(http, simulation, "POST", base + "/relay", {"state": "closed"})
    _, described = await control(http, simulation, "GET", base)
    assert described["site"]["relay"] == "open synchronizing"
    cases: list[tuple[str, object]] = [
        (f"/gateways/{metered.serial}/relay", {"state": "open"}),  # no System Controller
        (f"/gateways/{metered.serial}/battery", {"soc": 50}),  # no battery
        (base + "/relay", {"state": "ajar"}),
        (base + "/battery", {"soc": 101}),
        (base + "/faults/slow", {"seconds": -1}),
    ]
    for path, body in cases:
        status, answer = await control(http, simulation, "POST", path, body)
        assert status == 400, path
        assert "error" in answer
