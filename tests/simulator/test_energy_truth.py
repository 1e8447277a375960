"""The simulator tells the truth: ground-truth energy per flow, and each counter fault."""

from __future__ import annotations

import itertools
from typing import Any

import aiohttp
import pytest

from enphase_local.events import DataEvent, Event
from enphase_local.scheduler import GatewaySpec, Poller, PollPlan
from enphase_local.simulator.clock import SimClock
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.harness import Simulation
from enphase_local.simulator.lockstep import LockstepClock
from enphase_local.simulator.pytest_plugin import SimulationFactory

from .conftest import MIDSUMMER, NOON, fetch
from .test_control import control

READINGS = "/ivp/meters/readings"
PRODUCTION = "/api/v1/production"
HOUR = 3600.0


async def registers(
    http: aiohttp.ClientSession, gateway: SimulatedGateway
) -> dict[str, tuple[float, float]]:
    """Each CT's (delivered, received) registers, by measurement type."""
    meters = {
        m["eid"]: m["measurementType"] for m in (await fetch(http, gateway, "/ivp/meters")).json()
    }
    answer = await fetch(http, gateway, READINGS)
    return {meters[r["eid"]]: (r["actEnergyDlvd"], r["actEnergyRcvd"]) for r in answer.json()}


async def lifetime(
    http: aiohttp.ClientSession, gateway: SimulatedGateway
) -> tuple[float, float, float]:
    body = (await fetch(http, gateway, PRODUCTION)).json()
    return body["wattHoursToday"], body["wattHoursSevenDays"], body["wattHoursLifetime"]


@pytest.mark.enphase_simulation(profile=["metered", "acb"], speed=0, start_time=NOON)
async def test_truth_agrees_with_what_the_meters_counted(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    for gateway in enphase_simulation.gateways:
        before, truth_before = await registers(http, gateway), gateway.energy_truth()
        enphase_simulation.clock.advance(HOUR)
        after, truth = await registers(http, gateway), gateway.energy_truth()
        change = {
            kind: (after[kind][0] - before[kind][0], after[kind][1] - before[kind][1])
            for kind in after
        }
        grid_in = truth.grid_import_wh - truth_before.grid_import_wh
        grid_out = truth.grid_export_wh - truth_before.grid_export_wh
        assert change["net-consumption"][0] == pytest.approx(grid_in, abs=0.01)
        assert change["net-consumption"][1] == pytest.approx(grid_out, abs=0.01)
        solar = truth.production_wh - truth_before.production_wh
        battery = (truth.battery_discharge_wh - truth_before.battery_discharge_wh) - (
            truth.battery_charge_wh - truth_before.battery_charge_wh
        )
        # The production CT sees the panels and the batteries on its circuit.
        assert change["production"][0] - change["production"][1] == pytest.approx(
            solar + battery, abs=0.01
        )
        house = truth.consumption_wh - truth_before.consumption_wh
        assert house == pytest.approx(solar + battery + grid_in - grid_out, rel=1e-9)
        assert solar > 1000  # a summer noon hour
    acb = enphase_simulation.gateways[1].energy_truth()
    assert acb.battery_charge_wh > 0


@pytest.mark.enphase_simulation(profile="metered", speed=0, start_time=NOON)
async def test_a_drop_spoils_one_reply_of_its_path(
    enphase_gateway: SimulatedGateway, http: aiohttp.ClientSession
) -> None:
    good = await registers(http, enphase_gateway)
    enphase_gateway.glitch_counters("drop", path=READINGS)
    assert await lifetime(http, enphase_gateway) != (0, 0, 0)  # another path: untouched
    assert set((await registers(http, enphase_gateway)).values()) == {(0.0, 0.0)}
    assert await registers(http, enphase_gateway) == good
    enphase_gateway.glitch_counters("drop")  # any path with counters
    assert await lifetime(http, enphase_gateway) == (0, 0, 0)
    assert await registers(http, enphase_gateway) == good


@pytest.mark.enphase_simulation(profile="metered", speed=0, start_time=NOON)
async def test_a_spike_jumps_the_lifetime_counters_of_count_replies(
    enphase_gateway: SimulatedGateway, http: aiohttp.ClientSession
) -> None:
    good = await registers(http, enphase_gateway)
    today, week, total = await lifetime(http, enphase_gateway)
    enphase_gateway.glitch_counters("spike", count=2, wh=1000.0)
    spiked = await registers(http, enphase_gateway)
    assert spiked["production"][0] == pytest.approx(good["production"][0] + 2 * 1000.0)  # 2 phases
    assert spiked["production"][1] == good["production"][1]
    assert await lifetime(http, enphase_gateway) == (today, week, total + 1000)
    assert await registers(http, enphase_gateway) == good


@pytest.mark.enphase_simulation(profile="metered", speed=0, start_time=NOON)
async def test_a_reset_stays_and_counting_goes_on_from_zero(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway, http: aiohttp.ClientSession
) -> None:
    today, _, _ = await lifetime(http, enphase_gateway)
    enphase_gateway.reset_counters()
    assert set((await registers(http, enphase_gateway)).values()) == {(0.0, 0.0)}
    enphase_simulation.clock.advance(600)
    after = await registers(http, enphase_gateway)
    assert 0 < after["production"][0] < 1000
    new_today, _, new_lifetime = await lifetime(http, enphase_gateway)
    assert new_today > today  # today goes on
    assert 0 < new_lifetime < 1000


@pytest.mark.enphase_simulation(profile="acb", speed=0, start_time=NOON)
async def test_a_firmware_update_restarts_counters_sessions_and_live_data(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway, http: aiohttp.ClientSession
) -> None:
    assert (
        await fetch(
            http, enphase_gateway, "/ivp/livedata/stream", method="POST", body={"enable": 1}
        )
    ).status == 200
    for _ in range(3):
        live = (await fetch(http, enphase_gateway, "/ivp/livedata/status")).json()
    enphase_gateway.update_firmware("D8.3.5167")
    assert b"<software>D8.3.5167</software>" in (await fetch(http, enphase_gateway, "/info")).body
    assert set((await registers(http, enphase_gateway)).values()) == {(0.0, 0.0)}
    after = (await fetch(http, enphase_gateway, "/ivp/livedata/status")).json()
    assert after["connection"]["sc_stream"] == "disabled"
    assert after["counters"]["rest_Status"] < live["counters"]["rest_Status"]
    assert enphase_gateway.stats.reboots == 0  # the front server kept answering


@pytest.mark.enphase_simulation(profile="metered", speed=0, start_time=NOON)
async def test_control_routes_for_truth_and_counter_faults(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway, http: aiohttp.ClientSession
) -> None:
    base = f"/gateways/{enphase_gateway.serial}"
    status, truth = await control(http, enphase_simulation, "GET", base + "/energy")
    assert status == 200
    assert truth["time"] == NOON.timestamp()
    assert set(truth["flows"]) == {
        "production_wh", "consumption_wh", "grid_import_wh", "grid_export_wh",
        "battery_charge_wh", "battery_discharge_wh",
    }  # fmt: skip
    enphase_simulation.clock.advance(HOUR)
    _, later = await control(http, enphase_simulation, "GET", base + "/energy")
    assert later["flows"]["production_wh"] > truth["flows"]["production_wh"]

    body: dict[str, Any] = {"kind": "spike", "count": None, "path": READINGS, "wh": 5.0}
    assert (await control(http, enphase_simulation, "POST", base + "/faults/counters", body))[
        0
    ] == 200
    _, described = await control(http, enphase_simulation, "GET", base)
    assert described["counter_faults"] == {
        "spike": {"remaining": None, "path": READINGS, "wh": 5.0}
    }
    await control(http, enphase_simulation, "DELETE", base + "/faults")
    _, described = await control(http, enphase_simulation, "GET", base)
    assert described["counter_faults"] == {}
    bad = {"kind": "drop", "path": "/info"}
    status, error = await control(http, enphase_simulation, "POST", base + "/faults/counters", bad)
    assert status == 400
    assert "carries no counters" in error["error"]

    assert (await control(http, enphase_simulation, "POST", base + "/counters/reset"))[0] == 200
    assert set((await registers(http, enphase_gateway)).values()) == {(0.0, 0.0)}
    firmware = {"software": "D8.2.4382"}
    assert (await control(http, enphase_simulation, "POST", base + "/firmware", firmware))[0] == 200
    assert b"D8.2.4382" in (await fetch(http, enphase_gateway, "/info")).body


async def test_a_poller_in_lock_step_lives_in_simulated_time(
    enphase_simulation_factory: SimulationFactory,
) -> None:
    sim = await enphase_simulation_factory(
        profile=["metered", "three-phase"], speed=0, start_time=MIDSUMMER
    )
    clock = LockstepClock(sim.clock, waiters=len(sim.gateways))
    events: list[Event] = []
    plan = PollPlan().with_live_interval(10.0)
    gateways = [
        GatewaySpec(host=g.url, token=g.token, options={"fingerprint": g.fingerprint})
        for g in sim.gateways
    ]
    async with Poller(gateways, plan=plan, clock=clock) as poller:
        poller.subscribe(events.append)
        await clock.run_until(MIDSUMMER.timestamp() + HOUR)
    assert sim.clock.now() == MIDSUMMER.timestamp() + HOUR
    readings = [
        e.fetched_at.timestamp()
        for e in events
        if isinstance(e, DataEvent) and e.endpoint == "meter_readings" and e.host == poller.hosts[0]
    ]
    assert len(readings) == pytest.approx(HOUR / 10, abs=2)
    assert all(b - a == pytest.approx(10.0) for a, b in itertools.pairwise(readings))


def test_lock_step_needs_a_frozen_clock() -> None:
    with pytest.raises(ValueError, match="speed=0"):
        LockstepClock(SimClock(speed=1.0), waiters=1)
    with pytest.raises(ValueError, match="at least one"):
        LockstepClock(SimClock(speed=0.0), waiters=0)
