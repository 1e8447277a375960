"""Getting events to consumers without ever holding up a poll.

Every consumer has its own bounded buffer: ``async for event in poller`` reads one, and each
coroutine callback is fed from one by its own task. Publishing never waits: when a buffer is
full, the oldest *expendable* event in it is dropped (live data, which the next live poll
supersedes within seconds, or an error, which the statistics keep counting); only when the
buffer holds nothing expendable does the oldest event of any kind go. Every drop is
counted, and logged at the 1st, 2nd, 4th, 8th... occurrence. Plain-function callbacks are
called at once, in the publishing task, and must not block.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Final

from enphase_local.endpoints import ENDPOINTS, Cadence
from enphase_local.events import DataEvent, ErrorEvent, Event

_LOGGER = logging.getLogger(__name__)

#: Names of the endpoints whose data a later poll supersedes within seconds.
LIVE_ENDPOINTS: Final = frozenset(e.name for e in ENDPOINTS if e.cadence is Cadence.LIVE)

#: What :meth:`Poller.subscribe` takes: ``callback(event)``, a function or a coroutine function.
EventCallback = Callable[[Event], Awaitable[None] | None]


def expendable(event: Event) -> bool:
    """Whether ``event`` may go first when a buffer is full (live data and errors)."""
    if isinstance(event, ErrorEvent):
        return True
    return isinstance(event, DataEvent) and event.endpoint in LIVE_ENDPOINTS


def _power_of_two(count: int) -> bool:
    return count & (count - 1) == 0


class EventBuffer:
    """A bounded FIFO of events that never blocks the writer (see the module docstring)."""

    __slots__ = (
        "_capacity",
        "_closed",
        "_expendable",
        "_kept",
        "_name",
        "_seq",
        "_waiter",
        "dropped",
    )

    def __init__(self, capacity: int, *, name: str) -> None:
        if capacity < 1:
            raise ValueError("an event buffer holds at least one event")
        self._capacity = capacity
        self._name = name
        self._expendable: deque[tuple[int, Event]] = deque()
        self._kept: deque[tuple[int, Event]] = deque()
        self._seq = itertools.count()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        #: Events dropped because the buffer was full.
        self.dropped = 0

    def __repr__(self) -> str:
        return f"EventBuffer({self._name}, {len(self)}/{self._capacity}, dropped={self.dropped})"

    def __len__(self) -> int:
        return len(self._expendable) + len(self._kept)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (what is buffered can still be read)."""
        return self._closed

    def put(self, event: Event) -> None:
        """Add ``event``; if full, drop the oldest expendable event (else the oldest one)."""
        if self._closed:
            return
        if len(self) >= self._capacity:
            self._drop()
        entry = (next(self._seq), event)
        (self._expendable if expendable(event) else self._kept).append(entry)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> Event | None:
        """The oldest event, or None when empty."""
        head = self._expendable
        if not head or (self._kept and self._kept[0][0] < head[0][0]):
            head = self._kept
        return head.popleft()[1] if head else None

    async def get(self) -> Event | None:
        """The oldest event, waiting for one; None once closed and empty."""
        while True:
            event = self.get_nowait()
            if event is not None or self._closed:
                return event
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def close(self) -> None:
        """Accept no more events; readers get what is left, then None."""
        self._closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> int:
        """Forget what is buffered; return how many events that was."""
        count = len(self)
        self._expendable.clear()
        self._kept.clear()
        return count

    def _drop(self) -> None:
        (self._expendable or self._kept).popleft()
        self.dropped += 1
        if _power_of_two(self.dropped):
            _LOGGER.warning(
                "%s cannot keep up: %d event(s) dropped so far (buffer of %d; oldest live "
                "data go first)",
                self._name,
                self.dropped,
                self._capacity,
            )


def _is_coroutine_function(callback: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(
        getattr(callback, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


class Subscription:
    """A callback that receives every event published while it is subscribed.

    Returned by :meth:`~enphase_local.scheduler.poller.Poller.subscribe`; :meth:`cancel` ends
    it. A coroutine callback runs in its own task, fed from a bounded buffer; a plain
    function is called at once. Exceptions from the callback are logged and counted, never
    passed on.
    """

    def __init__(
        self,
        callback: EventCallback,
        *,
        name: str,
        buffer_size: int,
        on_cancel: Callable[[Subscription], None],
    ) -> None:
        self._callback = callback
        #: A name for logs and statistics.
        self.name = name
        self._on_cancel = on_cancel
        #: Events handed to the callback.
        self.delivered = 0
        #: Callback calls that raised.
        self.errors = 0
        self._buffer = (
            EventBuffer(buffer_size, name=f"subscriber {name}")
            if _is_coroutine_function(callback)
            else None
        )
        self._task: asyncio.Task[None] | None = None
        self._strays: set[asyncio.Future[Any]] = set()
        self._cancelled = False

    def __repr__(self) -> str:
        kind = "async" if self._buffer is not None else "sync"
        return f"Subscription({self.name}, {kind}, delivered={self.delivered})"

    @property
    def dropped(self) -> int:
        """Events dropped because the callback did not keep up."""
        return self._buffer.dropped if self._buffer is not None else 0

    @property
    def running(self) -> bool:
        """Whether its delivery task is still running (or events wait for it)."""
        if self._buffer is None:
            return False
        return (self._task is not None and not self._task.done()) or len(self._buffer) > 0

    @property
    def pending(self) -> int:
        """Events waiting for the callback."""
        return len(self._buffer) if self._buffer is not None else 0

    def cancel(self) -> None:
        """Stop receiving events (what is buffered is still delivered)."""
        if not self._cancelled:
            self._cancelled = True
            if self._buffer is not None:
                self._buffer.close()
            self._on_cancel(self)

    def start(self) -> None:
        """Start the delivery task of a coroutine callback (needs a running loop)."""
        if self._buffer is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(self._buffer), name=f"enphase-subscriber-{self.name}"
            )

    def publish(self, event: Event) -> None:
        """Hand ``event`` to the callback (plain function) or its buffer (coroutine)."""
        if self._cancelled:
            return
        if self._buffer is not None:
            self._buffer.put(event)
            return
        try:
            result = self._callback(event)
        except Exception:  # noqa: BLE001 - a callback's error must never stop the poller
            self._failed()
        else:
            self.delivered += 1
            if inspect.isawaitable(result):
                # A plain function returned an awaitable: run it rather than lose it.
                stray = asyncio.ensure_future(result)
                self._strays.add(stray)
                stray.add_done_callback(self._stray_done)

    async def drain(self, timeout_s: float) -> int:
        """Deliver what is buffered within ``timeout_s``; return how many were not."""
        buffer, task = self._buffer, self._task
        if buffer is None:
            return 0
        buffer.close()
        if task is None:
            return buffer.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return buffer.clear()

    async def _run(self, buffer: EventBuffer) -> None:
        callback = self._callback
        while (event := await buffer.get()) is not None:
            try:
                result = callback(event)
                if result is not None:
                    await result
            except Exception:  # noqa: BLE001 - a callback's error must never stop its delivery
                self._failed()
            else:
                self.delivered += 1

    def _stray_done(self, future: asyncio.Future[Any]) -> None:
        self._strays.discard(future)
        if not future.cancelled() and future.exception() is not None:
            self.errors += 1
            _LOGGER.error("event callback %s failed: %r", self.name, future.exception())

    def _failed(self) -> None:
        self.errors += 1
        if _power_of_two(self.errors):
            _LOGGER.exception(
                "event callback %s raised (%d time(s) so far); polling goes on",
                self.name,
                self.errors,
            )
