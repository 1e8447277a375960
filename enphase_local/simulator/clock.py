"""The simulated clock: real time scaled by a speed factor, which tests can set or advance.

Everything that happens *inside* a simulated gateway runs on this clock: the sun, the load,
energy counters, inverter reports, local midnight, the 10-minute session idle-out, the
15-minute live-stream lapse and the nightly unresponsive window. Token lifetimes (``iat``,
``exp``) are the one exception: they use real wall-clock time, because clients compare them
with their own clock.

The clock only moves forward: lifetime counters never run backwards.
"""

from __future__ import annotations

import time


class SimClock:
    """Simulated time in Unix seconds, running ``speed`` times as fast as real time.

    ``speed=0`` freezes the clock so that only :meth:`advance` and :meth:`set_time` move it,
    which makes tests deterministic.
    """

    def __init__(self, start: float | None = None, *, speed: float = 1.0) -> None:
        if speed < 0:
            raise ValueError("speed must not be negative")
        self._anchor_sim = time.time() if start is None else float(start)
        self._anchor_real = time.monotonic()
        self._speed = float(speed)

    def __repr__(self) -> str:
        return f"SimClock(now={self.now():.3f}, speed={self._speed})"

    @property
    def speed(self) -> float:
        """How many simulated seconds pass per real second."""
        return self._speed

    def now(self) -> float:
        """The current simulated time, Unix seconds."""
        return self._anchor_sim + (time.monotonic() - self._anchor_real) * self._speed

    def set_speed(self, speed: float) -> None:
        """Change the speed factor from now on (0 freezes the clock)."""
        if speed < 0:
            raise ValueError("speed must not be negative")
        self._reanchor(self.now())
        self._speed = float(speed)

    def set_time(self, when: float) -> None:
        """Jump to ``when`` (Unix seconds); only forward jumps are allowed."""
        now = self.now()
        if when < now:
            raise ValueError("the simulated clock only moves forward")
        self._reanchor(when)

    def advance(self, seconds: float) -> None:
        """Jump ``seconds`` (>= 0) into the future."""
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        self._reanchor(self.now() + seconds)

    def _reanchor(self, sim_now: float) -> None:
        self._anchor_sim = sim_now
        self._anchor_real = time.monotonic()
