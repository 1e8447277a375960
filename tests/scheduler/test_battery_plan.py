"""The default plan at a simulated battery site over HTTPS: what it reads, and how often."""

from __future__ import annotations

import asyncio
import datetime as dt

from enphase_local import endpoints as ep
from enphase_local.events import DataEvent, Event
from enphase_local.scheduler import GatewaySpec, Poller, PollPlan, ScaledClock
from enphase_local.simulator.pytest_plugin import SimulationFactory

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
#: Simulated seconds per real second: 20 simulated minutes in about 4 real seconds.
SPEED = 300.0
MINUTES = 20

SLOW_PATHS = frozenset(e.path for e in ep.ENDPOINTS if e.slow)


def test_default_plan_stays_under_450_gets_an_hour_with_batteries() -> None:
    plan = PollPlan()
    battery = {ep.BATTERY_POWER.name, ep.ENSEMBLE_INVENTORY.name, ep.BATTERY_SUMMARY.name}
    assert battery | {ep.GRID_RELAY.name, ep.DRY_CONTACTS.name, ep.GENERATOR.name} <= set(plan.live)
    assert plan.live[ep.ENSEMBLE_INVENTORY.name] >= 60
    assert plan.live[ep.BATTERY_SUMMARY.name] >= 60
    assert ep.DEVICE_DATA.name in plan.periodic
    settings = (ep.TARIFF, ep.DRY_CONTACT_SETTINGS, ep.GENERATOR_CONFIG, ep.GENERATOR_SCHEDULE)
    assert {e.name for e in (*settings, ep.PV_LIMIT, ep.EXPORT_LIMIT)} <= set(plan.config)
    slow = {e.name for e in ep.ENDPOINTS if e.slow}
    assert not slow & {*plan.live, *plan.periodic, *plan.config}
    stream_posts = 3600 / plan.live_stream_interval_s
    assert plan.requests_per_hour() - stream_posts < 450


async def test_battery_site_polled_by_the_default_plan(
    enphase_simulation_factory: SimulationFactory,
) -> None:
    sim = await enphase_simulation_factory(profile="battery", start_time=NOON, speed=SPEED)
    (gateway,) = sim.gateways
    spec = GatewaySpec(
        host=gateway.url, token=gateway.token, options={"fingerprint": gateway.fingerprint}
    )
    events: list[Event] = []
    poller = Poller([spec], clock=ScaledClock(sim.clock.now, speed=SPEED), buffer_size=0)
    poller.subscribe(events.append)
    async with poller:
        await asyncio.sleep(MINUTES * 60 / SPEED)
    data = [e for e in events if isinstance(e, DataEvent)]
    read = {e.endpoint for e in data}
    plan = PollPlan()
    assert {*plan.live, *plan.config, ep.DEVICE_DATA.name} <= read
    by_path = gateway.stats.by_path
    assert not SLOW_PATHS & set(by_path)
    # Live reads no more often than their intervals: inventory and summary once in 20
    # minutes (hourly), battery power at most twice (every 15 minutes).
    assert by_path[ep.ENSEMBLE_INVENTORY.path] == 1
    assert by_path[ep.BATTERY_SUMMARY.path] == 1
    assert 1 <= by_path[ep.BATTERY_POWER.path] <= 2
    power = next(e.model for e in data if e.endpoint == ep.BATTERY_POWER.name)
    assert len(power.batteries) == 2


async def test_the_slow_production_page_is_read_only_where_nothing_faster_exists(
    enphase_simulation_factory: SimulationFactory,
) -> None:
    sim = await enphase_simulation_factory(
        profile=["legacy-html", "legacy"], start_time=NOON, speed=SPEED
    )
    specs = [
        GatewaySpec(
            host=g.url,
            token=g.token,
            options={"fingerprint": g.fingerprint} if g.fingerprint else {},
        )
        for g in sim.gateways
    ]
    events: list[Event] = []
    poller = Poller(specs, clock=ScaledClock(sim.clock.now, speed=SPEED), buffer_size=0)
    poller.subscribe(events.append)
    async with poller:
        await asyncio.sleep(MINUTES * 60 / SPEED)
    old, newer = sim.gateways
    page = ep.PRODUCTION_PAGE.path
    # Firmware 3.7 serves neither production nor meter readings: its HTML page every 15
    # minutes, from the first minute on, is all the data it has.
    assert 1 <= old.stats.by_path.get(page, 0) <= 2
    summaries = [
        e
        for e in events
        if isinstance(e, DataEvent)
        and e.endpoint == ep.PRODUCTION_SUMMARY.name
        and e.serial == old.serial
    ]
    assert summaries
    assert summaries[0].model.production
    # Firmware 5 serves production: the slow pages are never read there.
    assert not SLOW_PATHS & set(newer.stats.by_path)
    assert not any(
        isinstance(e, DataEvent) and e.endpoint == ep.PRODUCTION_SUMMARY.name
        for e in events
        if e.serial == newer.serial
    )
