"""The outbox's default limit holds a week of one gateway at the default plan.

Recomputed from the plan's cadences and the size of each message the MQTT sink makes of a
simulated battery site's answers (the largest site the simulator has): the bytes an hour are
each planned endpoint's reads an hour times its message, plus the energy events derived from
each reading.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict

from enphase_local.endpoints import ENDPOINTS
from enphase_local.energy import EnergyTracker
from enphase_local.events import DataEvent
from enphase_local.scheduler import PollPlan
from enphase_local.simulator import Simulation
from enphase_local.simulator.pytest_plugin import SimulationFactory
from enphase_local.sinks.mqtt import event_message
from enphase_local.sinks.outbox import DEFAULT_MAX_BYTES
from tests.sinks.conftest import poll_simulation

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
WEEK_H = 7 * 24


def reads_per_hour(plan: PollPlan) -> dict[str, float]:
    """How often the plan reads each endpoint (every periodic endpoint at each report)."""
    rates = {name: 3600.0 / interval for name, interval in plan.live.items()}
    rates |= dict.fromkeys(plan.periodic, 3600.0 / plan.report_interval_s)
    config = ("info", *plan.config)
    rates |= dict.fromkeys(config, 3600.0 / plan.config_interval_s)
    return rates


async def test_the_default_limit_holds_a_week_of_a_battery_site(
    enphase_simulation_factory: SimulationFactory,
) -> None:
    sim: Simulation = await enphase_simulation_factory(profile="battery", start_time=NOON, speed=0)
    events = await poll_simulation(sim, rounds=3)
    tracker = EnergyTracker()
    sizes: dict[str, list[int]] = defaultdict(list)
    derived: dict[str, list[int]] = defaultdict(list)  # bytes of energy events per reading
    for event in events:
        if not isinstance(event, DataEvent):
            continue
        sizes[event.endpoint].append(event_message(event).size)
        derived[event.endpoint].append(sum(event_message(e).size for e in tracker.update(event)))
    plan = PollPlan()
    rates = reads_per_hour(plan)
    assert set(rates) <= {e.name for e in ENDPOINTS}
    hourly = sum(
        rate * (statistics.mean(sizes[name]) + statistics.mean(derived[name][1:]))
        for name, rate in rates.items()
        if name in sizes  # the endpoints the site serves
    )
    week = WEEK_H * hourly
    assert plan.requests_per_hour() > 440  # the plan the limit was computed for
    assert week <= DEFAULT_MAX_BYTES
    assert week >= 0.75 * DEFAULT_MAX_BYTES  # a week, not a month
