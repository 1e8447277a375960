"""A poller clock in lock step with a frozen simulation: whole simulated days in minutes.

:class:`LockstepClock` is a poller :class:`~enphase_local.scheduler.Clock` whose time is the
simulation's clock (frozen with ``speed=0``). Whenever every worker of the poller waits on
it (one per gateway), it moves the simulated time straight to the earliest wake-up, so a
simulated day runs as fast as the gateways answer, and every poll sees the simulated time it
was planned for, however busy the machine is::

    async with Simulation(profile=[...], speed=0, start_time=midnight) as sim:
        clock = LockstepClock(sim.clock, waiters=len(sim.gateways))
        async with Poller(gateways, clock=clock) as poller:
            await clock.run_until(midnight + 6 * 3600)  # time stops here
            sim.gateways[0].reset_counters()            # whatever the test does then
            await clock.run_until(midnight + 86400)

Real-time waits (session timeouts, a gateway's reboot downtime) still take real time, and
the simulation does not move meanwhile.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

from enphase_local.simulator.clock import SimClock


class LockstepClock:
    """The simulation's time for a poller, moved on when all ``waiters`` wait."""

    def __init__(self, clock: SimClock, *, waiters: int) -> None:
        if clock.speed:
            raise ValueError("freeze the simulation's clock (speed=0) to run in lock step")
        if waiters < 1:
            raise ValueError("at least one task must wait on the clock")
        self._clock = clock
        self._waiters = waiters
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._until = clock.now()
        self._reached = asyncio.Event()
        self._stepping = False

    def __repr__(self) -> str:
        return f"LockstepClock(now={self._clock.now():.3f}, until={self._until:.3f})"

    def monotonic(self) -> float:
        """The simulated time."""
        return self._clock.now()

    def time(self) -> float:
        """The simulated time (Unix seconds)."""
        return self._clock.now()

    async def sleep(self, seconds: float) -> None:
        """Wait until the simulated time has moved ``seconds`` on."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._clock.now() + seconds, next(self._order), future))
        self._schedule()
        await future

    async def run_until(self, when: float) -> None:
        """Let the simulated time run to ``when`` (Unix seconds), then stop there."""
        self._until = max(when, self._clock.now())
        self._reached.clear()
        self._schedule()
        await self._reached.wait()

    def _waiting(self) -> int:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)  # cancelled: its task is gone
        return sum(not future.done() for _, _, future in self._sleepers)

    def _schedule(self) -> None:
        if not self._stepping and self._waiting() >= self._waiters:
            self._stepping = True
            asyncio.get_running_loop().call_soon(self._step)

    def _step(self) -> None:
        """Wake the earliest sleepers (moving the time to them), or stop at the limit."""
        self._stepping = False
        if self._waiting() < self._waiters:
            return  # someone woke up meanwhile (or left): wait for them
        deadline = self._sleepers[0][0]
        if deadline > self._until:
            self._clock.set_time(max(self._clock.now(), self._until))
            self._reached.set()
            return
        self._clock.set_time(max(self._clock.now(), deadline))
        while self._sleepers and self._sleepers[0][0] <= deadline:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
