"""Statistics: the ring buffer of samples and the percentiles."""

from __future__ import annotations

from enphase_local.events import GatewayState
from enphase_local.scheduler.stats import (
    EventStats,
    GatewayStats,
    Percentiles,
    PollerStats,
    Window,
    percentile,
)


def test_window_keeps_the_most_recent_samples() -> None:
    window = Window(4)
    assert window.values() == []
    assert window.recent(3) == []
    for value in range(1, 7):
        window.add(float(value))
    assert len(window) == 4
    assert sorted(window.values()) == [3.0, 4.0, 5.0, 6.0]
    assert window.recent(2) == [5.0, 6.0]
    assert window.recent(3) == [4.0, 5.0, 6.0]  # across the wrap
    assert sorted(window.recent(10)) == [3.0, 4.0, 5.0, 6.0]


def test_nearest_rank_percentiles() -> None:
    ordered = [float(n) for n in range(1, 101)]
    assert percentile(ordered, 0.5) == 50.0
    assert percentile(ordered, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None
    assert Percentiles.of([]) == Percentiles()
    assert Percentiles.of([3.0, 1.0, 2.0]) == Percentiles(p50=2.0, p90=3.0, p99=3.0, samples=3)


def gateway(
    host: str, state: GatewayState, polls: int, unsupported: tuple[str, ...]
) -> GatewayStats:
    return GatewayStats(
        host=host,
        serial=None,
        firmware=None,
        state=state,
        polls=polls,
        successes=polls - 1,
        failures=1,
        skipped=2,
        deferred=3,
        unsupported=unsupported,
        latency=Percentiles(),
        lateness=Percentiles(),
        last_success_at=None,
        last_error="GatewayTimeoutError: late",
        internal_errors=0,
    )


def test_totals() -> None:
    totals = PollerStats.combine(
        (
            gateway("a", GatewayState.ONLINE, 10, ("device_list",)),
            gateway("b", GatewayState.BACKING_OFF, 5, ("energy", "device_list")),
        ),
        latencies=[0.1, 0.2, 0.3],
        lateness=[],
        events=EventStats(published=12),
    )
    assert (totals.polls, totals.successes, totals.failures) == (15, 13, 2)
    assert (totals.skipped, totals.deferred, totals.unsupported) == (4, 6, 3)
    assert totals.states[GatewayState.ONLINE] == 1
    assert totals.states[GatewayState.UNREACHABLE] == 0
    assert totals.latency.p50 == 0.2
    assert totals.lateness.samples == 0
    assert totals.events.published == 12
