"""The simulated physics hold together over a simulated day, as seen over HTTPS.

The clock is frozen (``speed=0``) and moved by hand, so every sample is taken at a known
simulated time; one test also runs the clock fast in real time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from typing import Any

import aiohttp
import pytest

from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.harness import Simulation
from enphase_local.simulator.pytest_plugin import SimulationFactory

from .conftest import MIDSUMMER, NOON, fetch

PRODUCTION_EID = 704643328
NET_EID = 704643584
STORAGE_EID = 704643840
ENERGY_FIELDS = ("actEnergyDlvd", "actEnergyRcvd", "apparentEnergy", "reactEnergyLagg")


def meter(readings: list[dict[str, Any]], eid: int) -> dict[str, Any]:
    return next(r for r in readings if r["eid"] == eid)


def trapezoid(times: list[float], watts: list[float]) -> float:
    """Energy in Wh from power samples."""
    return sum(
        (t1 - t0) * (w0 + w1) / 2 / 3600
        for (t0, w0), (t1, w1) in itertools.pairwise(zip(times, watts, strict=True))
    )


def assert_monotonic(values: list[float]) -> None:
    assert all(b >= a for a, b in itertools.pairwise(values)), values


@pytest.mark.enphase_simulation(speed=0, start_time=MIDSUMMER)
async def test_a_simulated_day_is_consistent(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    clock = enphase_simulation.clock
    times: list[float] = []
    production_w: list[float] = []
    net_w: list[float] = []
    inverters_w: list[float] = []
    readings_log: list[list[dict[str, Any]]] = []
    lifetimes: list[int] = []
    midnight_lifetime = 0
    for minute in range(24 * 60 + 1):
        if minute:
            clock.advance(60)
        readings = (await fetch(http, gateway, "/ivp/meters/readings")).json()
        inverters = (await fetch(http, gateway, "/api/v1/production/inverters")).json()
        times.append(readings[0]["timestamp"])
        production_w.append(meter(readings, PRODUCTION_EID)["activePower"])
        net_w.append(meter(readings, NET_EID)["activePower"])
        inverters_w.append(sum(i["lastReportWatts"] for i in inverters))
        readings_log.append(readings)
        if minute % 30 == 0:
            await check_instant(http, gateway)
            production = (await fetch(http, gateway, "/api/v1/production")).json()
            lifetimes.append(production["wattHoursLifetime"])
            if minute == 0:
                midnight_lifetime = production["wattHoursLifetime"]
                assert production["wattHoursToday"] == 0  # the day starts at local midnight
            if minute == 23 * 60 + 30:
                today = production["wattHoursLifetime"] - midnight_lifetime
                assert production["wattHoursToday"] == pytest.approx(today, abs=2)
            if minute == 24 * 60:
                assert production["wattHoursToday"] == 0  # reset at the next midnight
                assert production["wattHoursSevenDays"] >= midnight_lifetime - lifetimes[0]
    assert times == [MIDSUMMER.timestamp() + 60 * k for k in range(24 * 60 + 1)]
    assert_monotonic([float(v) for v in lifetimes])
    for eid in (PRODUCTION_EID, NET_EID):
        for field in ENERGY_FIELDS:
            aggregate = [meter(r, eid)[field] for r in readings_log]
            assert_monotonic(aggregate)
            for channel in range(3):
                assert_monotonic([meter(r, eid)["channels"][channel][field] for r in readings_log])
    for eid, watts in ((PRODUCTION_EID, production_w), (NET_EID, net_w)):
        first, last = meter(readings_log[0], eid), meter(readings_log[-1], eid)
        counted = (last["actEnergyDlvd"] - first["actEnergyDlvd"]) - (
            last["actEnergyRcvd"] - first["actEnergyRcvd"]
        )
        integral = trapezoid(times, watts)
        magnitude = trapezoid(times, [abs(w) for w in watts])
        assert counted == pytest.approx(integral, abs=0.01 * magnitude + 20)
    produced = trapezoid(times, production_w)
    assert produced > 10_000  # a sunny midsummer day on a 4.4 kW site
    # The inverters' staggered 5-minute reports add up to what the production CT measured.
    assert trapezoid(times, inverters_w) == pytest.approx(produced, rel=0.02)
    assert max(production_w) > 3000
    assert production_w[0] == 0.0
    assert production_w[-1] == 0.0


async def check_instant(http: aiohttp.ClientSession, gateway: SimulatedGateway) -> None:
    """At one simulated instant: net = load - production, and every view agrees."""
    reports = (await fetch(http, gateway, "/ivp/meters/reports")).json()
    readings = (await fetch(http, gateway, "/ivp/meters/readings")).json()
    energy = (await fetch(http, gateway, "/ivp/pdm/energy")).json()
    inverters = (await fetch(http, gateway, "/api/v1/production/inverters")).json()
    kinds = {r["reportType"]: r["cumulative"] for r in reports}
    production = meter(readings, PRODUCTION_EID)["activePower"]
    net = meter(readings, NET_EID)["activePower"]
    load = kinds["total-consumption"]["currW"]
    assert net == pytest.approx(load - production, abs=0.01)
    assert kinds["production"]["currW"] == production
    assert kinds["net-consumption"]["currW"] == net
    assert energy["consumption"]["eim"]["wattsNow"] == round(load)
    assert energy["production"]["eim"]["wattsNow"] == round(production)
    assert energy["production"]["pcu"]["wattsNow"] == sum(i["lastReportWatts"] for i in inverters)


async def test_standard_gateway_production_is_the_inverter_sum(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    simulation = await enphase_simulation_factory(profile="standard", speed=0, start_time=NOON)
    gateway = simulation.gateways[0]
    lifetimes = []
    for _ in range(12):
        production = (await fetch(http, gateway, "/api/v1/production")).json()
        inverters = (await fetch(http, gateway, "/api/v1/production/inverters")).json()
        assert production["wattsNow"] == sum(i["lastReportWatts"] for i in inverters)
        lifetimes.append(production["wattHoursLifetime"])
        simulation.clock.advance(97)
    assert_monotonic(lifetimes)
    assert lifetimes[-1] > lifetimes[0]


async def test_inverters_report_every_five_minutes_staggered(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    simulation = await enphase_simulation_factory(speed=0, start_time=NOON)
    gateway = simulation.gateways[0]
    seen: dict[str, set[int]] = {}
    for _ in range(31):
        for inverter in (await fetch(http, gateway, "/api/v1/production/inverters")).json():
            seen.setdefault(inverter["serialNumber"], set()).add(inverter["lastReportDate"])
        simulation.clock.advance(30)
    offsets = set()
    for reports in seen.values():
        ordered = sorted(reports)
        assert {b - a for a, b in itertools.pairwise(ordered)} == {300}
        offsets.add(ordered[0] % 300)
    assert len(offsets) > len(seen) // 2  # each inverter keeps its own slot


@pytest.mark.enphase_simulation(speed=0, start_time=MIDSUMMER + dt.timedelta(hours=23))
async def test_inverters_keep_their_last_report_overnight(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    evening = (await fetch(http, gateway, "/api/v1/production/inverters")).json()
    enphase_simulation.clock.advance(3 * 3600)  # 02:00
    night = (await fetch(http, gateway, "/api/v1/production/inverters")).json()
    assert night == evening
    assert all(i["lastReportDate"] < MIDSUMMER.timestamp() + 23 * 3600 for i in night)


@pytest.mark.enphase_simulation(speed=0, start_time=NOON)
async def test_meters_update_once_a_second(
    enphase_gateway: SimulatedGateway,
    enphase_simulation: Simulation,
    http: aiohttp.ClientSession,
) -> None:
    first = (await fetch(http, enphase_gateway, "/ivp/meters/readings")).json()
    enphase_simulation.clock.advance(0.4)
    same = (await fetch(http, enphase_gateway, "/ivp/meters/readings")).json()
    enphase_simulation.clock.advance(1.0)
    later = (await fetch(http, enphase_gateway, "/ivp/meters/readings")).json()
    assert same == first
    assert later[0]["timestamp"] == first[0]["timestamp"] + 1
    assert later[1]["activePower"] != first[1]["activePower"]
    grid = (await fetch(http, enphase_gateway, "/ivp/meters/gridReading")).json()
    enphase_simulation.clock.advance(1.0)
    assert (await fetch(http, enphase_gateway, "/ivp/meters/gridReading")).json() != grid


@pytest.mark.enphase_simulation(speed=0, start_time=NOON)
async def test_live_data_moves_only_while_streaming_and_lapses_after_15_minutes(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    clock = enphase_simulation.clock

    async def live() -> dict[str, Any]:
        body: dict[str, Any] = (await fetch(http, gateway, "/ivp/livedata/status")).json()
        return body

    stale = await live()
    clock.advance(60)
    assert (await live())["meters"] == stale["meters"]  # never enabled: frozen
    await fetch(http, gateway, "/ivp/livedata/stream", method="POST", body={"enable": 1})
    moving = await live()
    assert moving["connection"]["sc_stream"] == "enabled"
    assert moving["meters"] != stale["meters"]
    clock.advance(5)
    later = await live()
    assert later["meters"]["last_update"] == moving["meters"]["last_update"] + 5
    assert later["meters"]["pv"] != moving["meters"]["pv"]
    clock.advance(900)  # the stream lapses 15 minutes after it was enabled
    lapsed = await live()
    assert lapsed["connection"]["sc_stream"] == "disabled"
    clock.advance(60)
    assert (await live())["meters"] == lapsed["meters"]
    grid = later["meters"]["grid"]["agg_p_mw"]
    expected = (
        later["meters"]["load"]["agg_p_mw"]
        - later["meters"]["pv"]["agg_p_mw"]
        - later["meters"]["storage"]["agg_p_mw"]
    )
    assert grid == pytest.approx(expected, abs=3)  # rounding of three milliwatt values


async def test_battery_charges_from_surplus_and_covers_the_evening(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    simulation = await enphase_simulation_factory(
        profile="battery", speed=0, start_time=MIDSUMMER + dt.timedelta(hours=8)
    )
    gateway = simulation.gateways[0]
    await fetch(http, gateway, "/ivp/livedata/stream", method="POST", body={"enable": 1})
    samples = []
    for _ in range(15):  # 08:00 to 22:00
        readings = (await fetch(http, gateway, "/ivp/meters/readings")).json()
        reports = (await fetch(http, gateway, "/ivp/meters/reports")).json()
        live = (await fetch(http, gateway, "/ivp/livedata/status")).json()
        await fetch(http, gateway, "/ivp/livedata/stream", method="POST", body={"enable": 1})
        load = next(r for r in reports if r["reportType"] == "total-consumption")
        production = meter(readings, PRODUCTION_EID)["activePower"]
        net = meter(readings, NET_EID)["activePower"]
        storage = meter(readings, STORAGE_EID)["activePower"]
        # The production CT sees the batteries too, so the gateway's net is load - production.
        assert net == pytest.approx(load["cumulative"]["currW"] - production, abs=0.01)
        samples.append((production, storage, live["meters"]["soc"]))
        simulation.clock.advance(3600)
    socs = [soc for _, _, soc in samples]
    assert any(storage < 0 for _, storage, _ in samples)  # charging: negative
    assert any(storage > 0 for _, storage, _ in samples)  # discharging: positive
    assert max(socs) > socs[0]
    assert socs[-1] < max(socs)
    for (_, storage, soc), (_, _, next_soc) in itertools.pairwise(samples):
        if storage < -100:
            assert next_soc >= soc
    devices = (await fetch(http, gateway, "/ivp/ensemble/device_list")).json()
    assert len(devices["devices"]) == 2


async def test_three_phase_voltages_and_frequency(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    simulation = await enphase_simulation_factory(profile="three-phase", speed=0, start_time=NOON)
    readings = (await fetch(http, simulation.gateways[0], "/ivp/meters/readings")).json()
    for reading in readings:
        assert reading["voltage"] == pytest.approx(3 * 230, rel=0.03)
        assert reading["freq"] == pytest.approx(50, abs=0.05)
        assert all(c["voltage"] == pytest.approx(230, rel=0.03) for c in reading["channels"])


async def test_fast_clock_keeps_the_books(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    simulation = await enphase_simulation_factory(speed=20_000, start_time=MIDSUMMER)
    gateway = simulation.gateways[0]
    samples: list[tuple[int, dict[str, Any]]] = []
    async with asyncio.timeout(10):
        while len(samples) < 40:
            reports = (await fetch(http, gateway, "/ivp/meters/reports")).json()
            kinds = {r["reportType"]: r for r in reports}
            cumulative = {k: r["cumulative"] for k, r in kinds.items()}
            assert cumulative["net-consumption"]["currW"] == pytest.approx(
                cumulative["total-consumption"]["currW"] - cumulative["production"]["currW"],
                abs=0.01,
            )
            samples.append((kinds["production"]["createdAt"], cumulative))
            await asyncio.sleep(0.025)
    times = [t for t, _ in samples]
    assert_monotonic([float(t) for t in times])
    assert times[-1] - times[0] > 3600  # the fast clock really ran
    for kind in ("production", "total-consumption"):
        assert_monotonic([c[kind]["whDlvdCum"] for _, c in samples])
