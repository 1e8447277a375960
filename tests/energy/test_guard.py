"""The counter guard, reading by reading: what is counted, held, rejected and reset."""

from __future__ import annotations

import logging

import pytest

from enphase_local.energy.guard import (
    CONFIRM_READINGS,
    MARGIN,
    CounterGuard,
    Verdict,
    allowance_wh,
)
from enphase_local.events import CounterDecision

#: A site that makes at most 5 kW.
LIMIT_W = 5000.0
#: One reading every 10 s, each 10 Wh more (3.6 kW).
STEP_S, STEP_WH = 10.0, 10.0
START_WH = 1_000_000.0


def feed(
    guard: CounterGuard, values: list[float], *, start: float = 0.0
) -> list[tuple[float, CounterDecision | None]]:
    """Readings STEP_S apart; (energy counted, decision) of each."""
    out = []
    for index, value in enumerate(values):
        verdict = guard.update(start + index * STEP_S, value, LIMIT_W)
        out.append((verdict.delta_wh, verdict.decision))
    return out


def steady(count: int, *, start_wh: float = START_WH) -> list[float]:
    return [start_wh + k * STEP_WH for k in range(count)]


def test_rises_are_counted_and_the_first_reading_only_anchors() -> None:
    guard = CounterGuard("g")
    results = feed(guard, steady(4))
    assert results == [(0.0, None)] + [(STEP_WH, None)] * 3
    assert guard.value == START_WH + 3 * STEP_WH


def test_a_drop_for_one_reading_is_held_then_transient_and_nothing_is_lost() -> None:
    guard = CounterGuard("g")
    values = steady(6)
    values[3] = 0.0
    results = feed(guard, values)
    assert [d for _, d in results] == [
        None, None, None, CounterDecision.HELD, CounterDecision.TRANSIENT, None,
    ]  # fmt: skip
    assert results[3][0] == 0.0
    assert sum(delta for delta, _ in results) == pytest.approx(values[-1] - values[0])


def test_a_reset_that_stays_is_confirmed_and_counted_from_zero() -> None:
    guard = CounterGuard("g")
    before = steady(3)
    after = [5.0 + k * STEP_WH for k in range(5)]
    results = feed(guard, before + after)
    decisions = [d for _, d in results[3:]]
    assert decisions[: CONFIRM_READINGS - 1] == [CounterDecision.HELD] * (CONFIRM_READINGS - 1)
    assert decisions[CONFIRM_READINGS - 1] is CounterDecision.RESET
    assert decisions[CONFIRM_READINGS:] == [None] * (len(after) - CONFIRM_READINGS)
    counted = sum(delta for delta, _ in results)
    # The energy before the reset, then everything since the restart at zero.
    assert counted == pytest.approx((before[-1] - before[0]) + after[-1])
    assert guard.value == after[-1]


def test_after_a_restart_a_drop_is_a_reset_at_once() -> None:
    guard = CounterGuard("g")
    feed(guard, steady(3))
    guard.note_restart()
    verdict = guard.update(100.0, 20.0, LIMIT_W)
    assert verdict.decision is CounterDecision.RESET
    assert verdict.delta_wh == 20.0


def test_a_restart_without_a_drop_changes_nothing() -> None:
    guard = CounterGuard("g")
    feed(guard, steady(3))
    guard.note_restart()
    assert guard.update(30.0, START_WH + 30.0, LIMIT_W).decision is None
    held = guard.update(40.0, 0.0, LIMIT_W)
    assert held.decision is CounterDecision.HELD  # the restart was used up by the rise


def test_a_spike_is_rejected_logged_once_and_the_next_reading_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = CounterGuard("gateway 1: meters.production.delivered_wh")
    values = steady(6)
    values[2] += 6_780_000.0  # a Home Assistant user's 6.78 MWh
    with caplog.at_level(logging.WARNING):
        results = feed(guard, values)
    assert results[2] == (0.0, CounterDecision.SPIKE)
    assert [d for _, d in results if d is not None] == [CounterDecision.SPIKE]
    assert sum(delta for delta, _ in results) == pytest.approx(values[-1] - values[0])
    [record] = caplog.records
    assert "gateway 1: meters.production.delivered_wh" in record.getMessage()
    assert f"{values[2]:.0f}" in record.getMessage()


def test_a_wild_counter_is_rejected_each_time_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = CounterGuard("g")
    feed(guard, steady(2))
    with caplog.at_level(logging.WARNING):
        results = [guard.update(20.0 + k, 9e9 * (k % 2 + 1), LIMIT_W) for k in range(4)]
    assert all(r.decision is CounterDecision.SPIKE for r in results)
    assert len(caplog.records) == 1
    assert guard.update(30.0, START_WH + 2 * STEP_WH, LIMIT_W).delta_wh == STEP_WH


def test_a_jump_that_stays_is_re_based_without_counting_the_jump() -> None:
    guard = CounterGuard("g")
    feed(guard, steady(3))
    jumped = [9_000_000.0 + k * STEP_WH for k in range(4)]
    results = feed(guard, jumped, start=30.0)
    assert [d for _, d in results[:CONFIRM_READINGS]] == [
        *[CounterDecision.SPIKE] * (CONFIRM_READINGS - 1),
        CounterDecision.RESET,
    ]
    assert sum(delta for delta, _ in results) == pytest.approx(jumped[-1] - jumped[0])


def test_a_small_accepted_spike_that_drops_back_is_counted_from_the_drop() -> None:
    guard = CounterGuard("g")
    slow = [1000.0, 1001.0, 1002.0]
    feed(guard, slow)
    # 21 Wh in 10 s is within what 5 kW can make: taken as real, and counted.
    assert guard.update(30.0, 1023.0, LIMIT_W) == Verdict(21.0)
    results = feed(guard, [1004.0, 1005.0, 1006.0, 1007.0], start=40.0)
    assert [d for _, d in results] == [
        CounterDecision.HELD, CounterDecision.HELD, CounterDecision.RESET, None,
    ]  # fmt: skip
    # Back under the spike for good: counted from the drop (1004), not from zero.
    assert [delta for delta, _ in results] == [0.0, 0.0, 2.0, 1.0]


def test_batches_of_five_minute_data_are_not_spikes() -> None:
    live = CounterGuard("live")
    batched = CounterGuard("batched", batch_s=300.0)
    report_wh = LIMIT_W * 300 / 3600  # a 5-minute report arriving 15 s after the last poll
    for guard in (live, batched):
        guard.update(0.0, START_WH, LIMIT_W)
    assert live.update(15.0, START_WH + report_wh, LIMIT_W).decision is CounterDecision.SPIKE
    assert batched.update(15.0, START_WH + report_wh, LIMIT_W).delta_wh == pytest.approx(report_wh)


def test_allowance_grows_with_time_and_margin() -> None:
    assert allowance_wh(3600.0, 3600.0) == pytest.approx(3600.0 * MARGIN + 2.0)
    assert allowance_wh(3600.0, -5.0) == pytest.approx(2.0)


def test_restore_goes_on_from_an_earlier_value() -> None:
    guard = CounterGuard("g")
    guard.restore(0.0, START_WH)
    two_hours = 7200.0
    verdict = guard.update(two_hours, START_WH + 4000.0, LIMIT_W)
    assert (verdict.delta_wh, verdict.decision) == (4000.0, None)
