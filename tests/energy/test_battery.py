"""Battery energy from power samples: trapezoids, gaps, fills and restarts."""

from __future__ import annotations

import pytest

from enphase_local.energy.battery import (
    LEARN_MIN_WH,
    BatteryIntegrator,
    Sample,
    Step,
    trapezoid,
)
from enphase_local.energy.cadence import DEFAULT_INTERVAL_S, GAP_FACTOR, Cadence


def test_trapezoid_keeps_charge_and_discharge_apart() -> None:
    assert trapezoid(1000.0, 1000.0, 3600.0) == (0.0, 1000.0)
    assert trapezoid(-2000.0, 0.0, 3600.0) == (1000.0, 0.0)
    # Turned round in between: each side keeps its half of the hour, not a triangle.
    assert trapezoid(1000.0, -1000.0, 3600.0) == (500.0, 500.0)
    assert trapezoid(-3000.0, 1000.0, 3600.0) == (1500.0, 500.0)


def test_cadence_learns_the_typical_interval() -> None:
    cadence = Cadence()
    assert cadence.gap_s == GAP_FACTOR * DEFAULT_INTERVAL_S
    for _ in range(5):
        assert not cadence.observe(10.0)
    assert cadence.gap_s == 35.0  # 3.5 x 10 s, above the floor
    assert cadence.observe(36.0)
    assert cadence.typical_s == 10.0  # a gap does not count


def charging(integrator: BatteryIntegrator, count: int, *, power_w: float = -3600.0) -> None:
    """``count`` samples 10 s apart at ``power_w``, the stored energy rising at 90 %."""
    for k in range(count):
        stored = 5000.0 - power_w * 0.9 * k * 10 / 3600
        integrator.add(Sample(at=k * 10.0, power_w=power_w, stored_wh=stored))


def test_samples_are_integrated_and_old_ones_ignored() -> None:
    integrator = BatteryIntegrator()
    assert integrator.add(Sample(at=0.0, power_w=1800.0)) == Step(charge_wh=0.0, discharge_wh=0.0)
    step = integrator.add(Sample(at=10.0, power_w=1800.0))
    assert step is not None
    assert step.discharge_wh == pytest.approx(5.0)
    assert (step.charge_wh, step.gap_s) == (0.0, None)
    assert integrator.add(Sample(at=10.0, power_w=9999.0)) is None
    assert integrator.add(Sample(at=5.0, power_w=9999.0)) is None
    assert integrator.discharge_wh == pytest.approx(5.0)
    assert integrator.charge_wh == 0.0


def test_a_gap_is_filled_from_the_stored_energy_with_the_learnt_efficiency() -> None:
    integrator = BatteryIntegrator()
    count = 40  # 400 Wh charged at 3.6 kW, enough to learn from
    charging(integrator, count)
    assert integrator.charge_wh >= LEARN_MIN_WH
    assert integrator.charge_efficiency == pytest.approx(0.9)
    before = integrator.charge_wh
    stored_before = 5000.0 + 3600.0 * 0.9 * (count - 1) * 10 / 3600
    step = integrator.add(
        Sample(at=3600.0 + count * 10, power_w=-3600.0, stored_wh=stored_before + 900.0)
    )
    assert step is not None
    assert step.gap_s == pytest.approx(3600.0 + 10.0)
    assert step.filled
    assert step.charge_wh == pytest.approx(1000.0)  # 900 Wh stored at 90 %
    assert integrator.charge_wh == pytest.approx(before + 1000.0)


def test_a_discharge_gap_uses_the_discharge_ratio() -> None:
    integrator = BatteryIntegrator()
    for k in range(40):  # discharging 3.6 kW; the stored energy falls 1.1 Wh per Wh out
        integrator.add(Sample(at=k * 10.0, power_w=3600.0, stored_wh=8000.0 - 11.0 * k))
    assert integrator.discharge_ratio == pytest.approx(1 / 1.1)
    step = integrator.add(Sample(at=4000.0, power_w=3600.0, stored_wh=8000.0 - 11.0 * 39 - 1100.0))
    assert step is not None
    assert step.discharge_wh == pytest.approx(1000.0)
    assert step.charge_wh == 0.0


def test_a_gap_without_stored_energy_adds_nothing() -> None:
    integrator = BatteryIntegrator()
    for k in range(5):
        integrator.add(Sample(at=k * 10.0, power_w=-1000.0))
    before = integrator.charge_wh
    step = integrator.add(Sample(at=5000.0, power_w=-1000.0))
    assert step == Step(charge_wh=0.0, discharge_wh=0.0, gap_s=4960.0, filled=False)
    assert integrator.charge_wh == before


def test_efficiencies_stay_1_until_enough_was_seen_and_within_bounds() -> None:
    integrator = BatteryIntegrator()
    charging(integrator, 3)
    assert integrator.charge_efficiency == 1.0
    wild = BatteryIntegrator()
    for k in range(60):  # the stored energy "rises" 10 times what was charged
        wild.add(Sample(at=k * 10.0, power_w=-3600.0, stored_wh=1000.0 + 100.0 * k))
    assert wild.charge_efficiency == 1.5


def test_state_and_restore_go_on_where_the_last_run_stopped() -> None:
    first = BatteryIntegrator()
    charging(first, 40)
    state = first.state()
    assert set(state) >= {"at_s", "power_w", "stored_wh", "interval_s", "learnt_charge_wh"}
    second = BatteryIntegrator()
    second.restore(first.charge_wh, first.discharge_wh, state)
    assert second.charge_efficiency == first.charge_efficiency
    step = second.add(Sample(at=state["at_s"] + 10.0, power_w=-3600.0))
    assert step is not None
    assert step.gap_s is None  # the typical interval came back too
    assert second.charge_wh == pytest.approx(first.charge_wh + 10.0)
