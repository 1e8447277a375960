"""Battery site states for the sinks (grid, generator, dry contacts, storage, battery states),
from every capture set replayed over HTTPS: shown where the hardware is, hidden where a
gateway without it answers the same endpoints anyway."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from enphase_local.models import Collar, EnsembleInventory, Generator, RelayState
from enphase_local.simulator.pytest_plugin import SimulationFactory
from enphase_local.sinks.ensemble import EnsembleView
from enphase_local.sinks.samples import IDLE_BELOW_W, BatterySample
from enphase_local.sinks.view import GatewayViews
from tests.conftest import capture_sets
from tests.sinks.conftest import poll_simulation

#: Site values but the reserve, the reserve, dry contacts, the set of battery states.
Shown = tuple[dict[str, str | None], float | None, dict[str, str], set[str]]

CLOSED = dict.fromkeys(("NC1", "NC2", "NO1", "NO2"), "closed")
#: What the sinks show of each capture set with battery hardware: site values, dry contacts,
#: the set of battery states. Every other set shows nothing (while it answers a closed
#: relay, four open dry contacts, a generator ``present`` with an unknown relay, or storage
#: settings without a battery).
EXPECTED: dict[str, Shown] = {
    "7.3.517": (
        {"grid_state": "on_grid", "generator_state": None, "storage_mode": "backup"},
        100.0,
        CLOSED,
        {"full"},
    ),
    "8.2.127_with_3cts_and_battery_split": (
        {"grid_state": "on_grid", "generator_state": None, "storage_mode": "self_consumption"},
        20.0,
        CLOSED,
        {"charging"},
    ),
    "8.3.5167_3rd-pv": (
        {"grid_state": "on_grid", "generator_state": None, "storage_mode": "self_consumption"},
        30.0,
        {"NC1": "closed", "NC2": "open", "NO1": "open", "NO2": "open"},
        {"full"},  # 16 W each at 100 %: standby, not discharging
    ),
    "8.3.5169_with_generator": (
        # A System Controller and a generator; no battery in its inventory or power.
        {"grid_state": "on_grid", "generator_state": "off", "storage_mode": None},
        None,
        CLOSED,
        set(),
    ),
}
NOTHING: Shown = (
    {"grid_state": None, "generator_state": None, "storage_mode": None},
    None,
    {},
    set(),
)


@pytest.mark.parametrize("folder", capture_sets(), ids=lambda p: p.name)
async def test_every_capture_set_shows_its_hardware_and_nothing_else(
    folder: Path, enphase_simulation_factory: SimulationFactory
) -> None:
    simulation = await enphase_simulation_factory(replay=folder, speed=0)
    views = GatewayViews()
    for event in await poll_simulation(simulation, rounds=2):
        views.update(event)
    [view] = views
    states, reserve, contacts, battery_states = EXPECTED.get(folder.name, NOTHING)
    values = view.site_values()
    assert values.pop("battery_reserve_pct") == reserve
    assert values == states
    assert view.ensemble.dry_contacts() == contacts
    assert {b.state.value for b in view.batteries.values() if b.state} == battery_states


def test_battery_state_from_power_and_charge() -> None:
    def state(power_w: float | None, charge_pct: float = 50.0) -> str | None:
        sample = BatterySample(
            gateway="g",
            serial="b",
            at=dt.datetime(2025, 6, 21, tzinfo=dt.UTC),
            charge_pct=charge_pct,
            power_w=power_w,
            temperature_c=None,
        )
        return None if sample.state is None else sample.state.value

    assert state(IDLE_BELOW_W) == "discharging"
    assert state(-IDLE_BELOW_W) == "charging"
    assert state(IDLE_BELOW_W - 1) == "idle"
    assert state(-3.0, charge_pct=100.0) == "full"
    assert state(2000.0, charge_pct=100.0) == "discharging"
    assert state(None) is None


def test_collar_grid_state_and_an_unknown_generator() -> None:
    view = EnsembleView()
    collar = Collar(serial_number="c", grid_state="off_grid")
    assert view.apply(EnsembleInventory(collars=(collar,)))
    assert view.grid_state is not None
    assert view.grid_state.value == "off_grid"
    assert view.dry_contacts() == {}  # no System Controller
    view.apply(Generator(present=True, admin_state=RelayState.UNKNOWN, state=RelayState.OPEN))
    assert view.generator_state is None
    view.apply(Generator(present=False, admin_state=RelayState.OPEN, state=RelayState.OPEN))
    assert view.generator_state is None
    assert not view.apply(object())
