"""The poller's global cap on requests in flight, served earliest deadline first.

Every request of every gateway takes one of ``max_concurrent`` slots. When they are all
taken, the requests waiting get the next free one in the order of their deadlines: a live
poll's is its point on the grid, any other request's (configuration, 5-minute data, the
live-stream switch) the next live poll of its gateway, which cannot start before it ends
(a worker runs one request at a time). So a burst of other requests, such as thousands of
gateways reading their configuration at start or again every few hours, waits behind the
live polls due first instead of holding them up, and a gateway's own configuration read
still goes before the live poll it would otherwise make late. Equal deadlines go first
come, first served. A gateway in trouble also needs one of a quarter of the slots, so
that gateways hanging on timeouts cannot take them all.

asyncio's semaphores serve their waiters in order of arrival only, hence the small heap of
our own here.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math


class _Slots:
    """A semaphore whose waiters are served in the order of their deadlines."""

    __slots__ = ("_free", "_heap", "_order", "_waiting")

    def __init__(self, count: int) -> None:
        self._free = count
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._waiting = 0

    @property
    def free(self) -> int:
        return self._free

    @property
    def waiting(self) -> int:
        return self._waiting

    async def acquire(self, deadline: float) -> None:
        # A slot is free only while nobody waits: release hands it to a waiter at once.
        if self._free > 0:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (deadline, next(self._order), waiter))
        self._waiting += 1
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot just as it was cancelled: pass it on
            else:
                self._waiting -= 1  # left in the heap, skipped when its turn comes
            raise

    def release(self) -> None:
        """Hand the slot to the waiter with the earliest deadline, else free it."""
        heap = self._heap
        while heap:
            waiter = heapq.heappop(heap)[2]
            if not waiter.done():
                self._waiting -= 1
                waiter.set_result(None)
                return
        self._free += 1


class ConcurrencyLimits:
    """The global cap on requests in flight, with a smaller share for gateways in trouble;
    waiting requests get the next free slot earliest deadline first."""

    def __init__(self, max_concurrent: int) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        #: The cap over all gateways.
        self.max_concurrent = max_concurrent
        self._all = _Slots(max_concurrent)
        self._troubled = asyncio.Semaphore(max(1, max_concurrent // 4))

    def __repr__(self) -> str:
        return f"ConcurrencyLimits(max_concurrent={self.max_concurrent})"

    @property
    def in_flight(self) -> int:
        """Slots taken now."""
        return self.max_concurrent - self._all.free

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot now."""
        return self._all.waiting

    async def acquire(self, troubled: bool, *, deadline: float = math.inf) -> None:
        """Wait for a slot (a troubled gateway also needs one of its share); the waiter with
        the earliest ``deadline`` (the poller's monotonic seconds) is served first."""
        if not troubled:
            await self._all.acquire(deadline)
            return
        await self._troubled.acquire()
        try:
            await self._all.acquire(deadline)
        except BaseException:
            self._troubled.release()
            raise

    def release(self, troubled: bool) -> None:
        """Give back the slot taken with the same ``troubled``."""
        self._all.release()
        if troubled:
            self._troubled.release()
