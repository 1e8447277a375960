"""How often a source's readings come, learnt from them: what makes an interval a gap."""

from __future__ import annotations

import collections
import statistics
from typing import Final

#: An interval longer than this many typical ones is a gap.
GAP_FACTOR: Final = 3.5
#: No interval shorter than this is a gap, seconds.
MIN_GAP_S: Final = 30.0
#: The typical interval before any was seen (live data's default cadence), seconds.
DEFAULT_INTERVAL_S: Final = 300.0
#: How many recent intervals the typical one is the median of.
HISTORY: Final = 16


class Cadence:
    """The typical interval between readings: the median of the recent ones that were not gaps."""

    def __init__(self) -> None:
        self._intervals: collections.deque[float] = collections.deque(maxlen=HISTORY)

    def __repr__(self) -> str:
        return f"Cadence(typical={self.typical_s:.1f} s)"

    @property
    def known(self) -> bool:
        """Whether any interval was seen (or restored)."""
        return bool(self._intervals)

    @property
    def typical_s(self) -> float:
        """The typical interval, seconds (:data:`DEFAULT_INTERVAL_S` before any was seen)."""
        return statistics.median(self._intervals) if self._intervals else DEFAULT_INTERVAL_S

    @property
    def gap_s(self) -> float:
        """Intervals longer than this are gaps, seconds."""
        return max(GAP_FACTOR * self.typical_s, MIN_GAP_S)

    def observe(self, seconds: float) -> bool:
        """Take the interval since the previous reading; return whether it was a gap."""
        if seconds > self.gap_s:
            return True
        self._intervals.append(seconds)
        return False

    def seed(self, typical_s: float) -> None:
        """Start from a typical interval learnt earlier (by a previous run)."""
        self._intervals.append(typical_s)
