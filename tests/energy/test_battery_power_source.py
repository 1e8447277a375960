"""A battery site without a storage CT, read over HTTPS from the simulator: the tracker
integrates the IQ Batteries' own power (``/ivp/ensemble/power``), not live data's, and the
charge and discharge it counts match the simulator's ground truth."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from enphase_local import GatewaySession
from enphase_local.energy import BATTERY_CHARGE, BATTERY_DISCHARGE, EnergyTracker
from enphase_local.events import DataEvent, EnergyEvent
from enphase_local.models import MeasurementType, Meter, MeterState
from enphase_local.simulator.pytest_plugin import SimulationFactory

#: Evening at midsummer: the batteries charge, then turn round as the sun sets.
START = dt.datetime(2025, 6, 21, 17, tzinfo=dt.UTC)
STEP_S = 30.0
STEPS = 241  # two hours


def without_storage_ct(meters: tuple[Meter, ...]) -> tuple[Meter, ...]:
    """The meters as a gateway whose storage CT is not installed lists them."""
    return tuple(
        attrs.evolve(m, state=MeterState.DISABLED)
        if m.measurement_type is MeasurementType.STORAGE
        else m
        for m in meters
    )


async def test_the_batteries_own_power_is_integrated_and_matches_the_truth(
    enphase_simulation_factory: SimulationFactory,
) -> None:
    sim = await enphase_simulation_factory(profile="battery", start_time=START, speed=0)
    gateway = sim.gateways[0]
    tracker = EnergyTracker()
    derived: list[EnergyEvent] = []

    def feed(endpoint: str, model: object) -> None:
        at = dt.datetime.fromtimestamp(sim.clock.now(), dt.UTC)
        event = DataEvent(
            serial=gateway.serial,
            host=gateway.url,
            endpoint=endpoint,
            model=model,
            fetched_at=at,
            latency_s=0.01,
        )
        derived.extend(e for e in tracker.update(event) if isinstance(e, EnergyEvent))

    async with GatewaySession(
        gateway.url, token=gateway.token, fingerprint=gateway.fingerprint
    ) as client:
        feed("info", await client.info())
        feed("meters", without_storage_ct(await client.meters()))
        feed("inventory", await client.inventory())
        before = gateway.energy_truth()
        for step in range(STEPS):
            if step:
                sim.clock.advance(STEP_S)
            feed("battery_power", await client.battery_power())
            if step % 10 == 5:  # live data between: it must not be integrated as well
                await client.enable_live_stream()
                feed("live_data", await client.live_data())
        after = gateway.energy_truth()

    battery = [e for e in derived if e.source == "battery"]
    assert len(battery) == STEPS  # one per reading of the batteries' power, none from live data
    assert not any(e.filled for e in battery)
    first, last = battery[0], battery[-1]
    charged = last.flows[BATTERY_CHARGE] - first.flows[BATTERY_CHARGE]
    discharged = last.flows[BATTERY_DISCHARGE] - first.flows[BATTERY_DISCHARGE]
    true_charge = after.battery_charge_wh - before.battery_charge_wh
    true_discharge = after.battery_discharge_wh - before.battery_discharge_wh
    assert true_charge > 100.0
    assert true_discharge > 100.0
    # Measured: 391.5 Wh against 391.2, 1447.5 against 1459.1 (30 s samples).
    assert charged == pytest.approx(true_charge, rel=0.03, abs=5.0)
    assert discharged == pytest.approx(true_discharge, rel=0.03, abs=5.0)
    assert last.counters["battery.stored_wh"] > 0  # charge times the inventory's capacities
