"""When to poll 5-minute data: just after the gateway's next report, learned as it goes.

Microinverters report to the gateway about every 5 minutes, each at its own moment of the
cycle; ``/api/v1/production`` and ``/ivp/pdm/energy`` (inverter part) change with them. Polling
on a blind 5-minute timer delivers data up to 5 minutes old, and polling more often wastes
the gateway's patience. Instead:

- With report times (the inverters' ``last_report_at``), the cycle length is the lower
  quartile of how far each inverter's report moved between polls (missed cycles show up as
  multiples, never shorter), and the reports of one cycle are seen as a cluster on the
  circle of that length: the next poll goes ``margin`` after the cluster's last member is
  due again, so one poll per cycle picks up every report of that cycle.
- Without report times, only whether the data changed: after a change the next poll goes a
  little early (one retry step before the cycle ends), and retries step by step until the
  data change again, so the poll settles just after the change.
- When an expected report does not come (night, an inverter offline), a few retries follow,
  then one poll per cycle until reports resume.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

#: Cycle lengths outside this range are not believed (a shorter move of a report time is a
#: late report or a clock fix), seconds.
_MIN_CYCLE_S = 60.0
_MAX_CYCLE_S = 3600.0
#: Moves needed before the cycle length is re-estimated.
_MIN_SAMPLES = 3


class ReportTracker:
    """Learns one gateway's report cycle and says when to poll next (poller-clock seconds)."""

    __slots__ = ("_cycle", "_expected", "_margin", "_misses", "_retries", "_retry", "_timed")

    def __init__(self, *, cycle_s: float, margin_s: float, retry_s: float, retries: int) -> None:
        self._cycle = cycle_s
        self._margin = margin_s
        self._retry = retry_s
        self._retries = retries
        self._misses = 0
        self._expected: float | None = None
        self._timed = False

    def __repr__(self) -> str:
        return (
            f"ReportTracker(cycle_s={self._cycle:g}, expected={self._expected}, "
            f"misses={self._misses})"
        )

    @property
    def cycle_s(self) -> float:
        """The report cycle as learned so far, seconds."""
        return self._cycle

    @property
    def expected(self) -> float | None:
        """When the next report is expected to be complete (None before the first one)."""
        return self._expected

    def observe(
        self,
        now: float,
        *,
        changed: bool,
        reports: Mapping[str, float] | None = None,
        previous: Mapping[str, float] | None = None,
    ) -> float:
        """Take in one probe poll's outcome; return when to poll next.

        ``reports`` maps each reporting device to its last report time and ``previous`` is
        the same from the poll before (both in the poller's clock); without them only
        ``changed`` (whether the data differ from the last poll's) is used.
        """
        if not changed:
            return self._missed(now)
        self._misses = 0
        if reports:
            self._timed = True
            if previous:
                self._learn_cycle(reports, previous)
            self._expected = self._next_cluster_end(now, reports.values())
            return self._expected + self._margin
        self._timed = False
        self._expected = now + self._cycle
        return self._expected - self._retry

    def _missed(self, now: float) -> float:
        self._misses += 1
        if self._misses <= self._retries:
            return now + self._retry
        if self._expected is not None and self._timed:
            # Keep the learned phase: the next cycle's cluster, whenever reports resume.
            while self._expected + self._margin <= now:
                self._expected += self._cycle
            return self._expected + self._margin
        return now + self._cycle

    def _learn_cycle(self, reports: Mapping[str, float], previous: Mapping[str, float]) -> None:
        moves = sorted(
            moved
            for device, when in reports.items()
            if (moved := when - previous.get(device, when)) >= _MIN_CYCLE_S  # else: a late report
        )
        if len(moves) >= _MIN_SAMPLES:
            quartile = moves[(len(moves) - 1) // 4]
            self._cycle = min(_MAX_CYCLE_S, max(_MIN_CYCLE_S, quartile))

    def _next_cluster_end(self, now: float, times: Iterable[float]) -> float:
        """The first moment at or after ``now`` when the cluster's last report is due."""
        cycle = self._cycle
        phases = sorted(t % cycle for t in times)
        end = phases[-1]
        widest = phases[0] + cycle - phases[-1]  # the gap that wraps around
        for before, after in itertools.pairwise(phases):
            if after - before > widest:
                widest, end = after - before, before
        due = now - (now - end) % cycle
        return due if due >= now else due + cycle
