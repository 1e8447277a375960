"""The poller's sense of time: a small protocol, so tests and simulations can drive it.

Scheduling uses :meth:`Clock.monotonic` (never jumps back), event timestamps use
:meth:`Clock.time` (Unix seconds, UTC), and every wait goes through :meth:`Clock.sleep`.

- :class:`SystemClock` is real time (the default).
- :class:`ScaledClock` follows another time source that runs faster than real time, such
  as the simulator's clock: plans are then written in *simulated* seconds, and a simulated
  hour of polling takes ``3600 / speed`` real seconds.
- :class:`ManualClock` moves only when a test calls :meth:`ManualClock.advance`, so
  scheduler tests never sleep for real.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol

#: Event-loop turns :meth:`ManualClock.advance` grants woken tasks at each step.
_SETTLE_TURNS = 64


class Clock(Protocol):
    """Where the poller reads the time and how it waits."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (scheduling)."""
        ...

    def time(self) -> float:
        """Unix seconds (event timestamps, and comparing with the gateway's report times)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """Real time: ``time.monotonic``, ``time.time`` and ``asyncio.sleep``."""

    def __repr__(self) -> str:
        return "SystemClock()"

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def time(self) -> float:
        """``time.time()``."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep(seconds)``."""
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Follows a time source that runs ``speed`` times as fast as real time.

    ``ScaledClock(sim.clock.now, speed=lambda: sim.clock.speed)`` makes a poller live in
    the simulator's time: an interval of 10 means 10 simulated seconds, and a wait of 10
    simulated seconds lasts ``10 / speed`` real seconds. The source must never go back.
    """

    def __init__(self, now: Callable[[], float], *, speed: float | Callable[[], float]) -> None:
        self._now = now
        self._speed: Callable[[], float] = speed if callable(speed) else (lambda: speed)
        if self._speed() <= 0:
            raise ValueError("a scaled clock needs a positive speed")

    def __repr__(self) -> str:
        return f"ScaledClock(now={self._now():.3f}, speed={self._speed()})"

    def monotonic(self) -> float:
        """The source's time."""
        return self._now()

    def time(self) -> float:
        """The source's time (it is Unix seconds)."""
        return self._now()

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds / speed`` real seconds."""
        await asyncio.sleep(max(0.0, seconds) / self._speed())


class ManualClock:
    """A clock that stands still until :meth:`advance` moves it (for tests).

    Sleepers wake in deadline order; after each wake-up the event loop runs a few turns so
    the woken tasks get as far as they can before time moves on.
    """

    def __init__(self, start: float = 0.0, *, epoch: float = 1_750_507_200.0) -> None:
        self._now = start
        #: Unix time at monotonic 0 (default: 2025-06-21 12:00 UTC).
        self._epoch = epoch
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now}, sleepers={len(self._sleepers)})"

    def monotonic(self) -> float:
        """The current manual time."""
        return self._now

    def time(self) -> float:
        """``epoch`` plus the manual time."""
        return self._epoch + self._now

    async def sleep(self, seconds: float) -> None:
        """Wait until :meth:`advance` has moved the clock ``seconds`` on."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        await future

    @property
    def next_deadline(self) -> float | None:
        """When the earliest sleeper wakes (None when nobody sleeps)."""
        self._discard_cancelled()
        return self._sleepers[0][0] if self._sleepers else None

    async def settle(self) -> None:
        """Let ready tasks run without moving the clock."""
        for _ in range(_SETTLE_TURNS):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` on, waking every sleeper due on the way, in order."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        target = self._now + seconds
        await self.settle()
        while True:
            deadline = self.next_deadline
            if deadline is None or deadline > target:
                break
            self._now = max(self._now, deadline)
            while self._sleepers and self._sleepers[0][0] <= self._now:
                _, _, future = heapq.heappop(self._sleepers)
                if not future.done():
                    future.set_result(None)
            await self.settle()
        self._now = target
        await self.settle()

    def _discard_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
