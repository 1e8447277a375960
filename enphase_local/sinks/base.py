"""What every sink shares: the ``Sink`` protocol, its statistics, and a bounded batching runner.

A sink takes the poller's events through :meth:`Sink.submit`, which never blocks and never
raises: the poller must keep its cadence whatever the sink's storage or broker does. Sinks that
do slow work put events into a :class:`BatchRunner`, which holds at most ``max_backlog`` of
them (dropping the oldest when full, counted and logged), and hands them to the sink's handler
in batches of up to ``batch_size``, or after ``flush_interval_s`` when fewer have arrived.

:class:`SinkSet` fans the events out to several sinks; made with an
:class:`~enphase_local.energy.EnergyTracker`, it also hands them the guarded energy and the
counter decisions derived from each event, right after it. A sink that keeps energy across
restarts (an :class:`EnergyStore`, such as the SQLite sink) gives the tracker its last state
when the set starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final, Generic, Protocol, TypeVar, runtime_checkable

import attrs

from enphase_local.energy import EnergyTracker
from enphase_local.events import (
    ControlRevertedEvent,
    CounterEvent,
    DataEvent,
    EnergyEvent,
    ErrorEvent,
    SinkEvent,
    StateEvent,
    UnsupportedEvent,
)

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class SinkStats:
    """How a sink is keeping up."""

    #: The sink's name, e.g. ``sqlite``.
    name: str
    #: Events submitted since start.
    submitted: int = 0
    #: Items delivered (written, published) since start.
    written: int = 0
    #: Items dropped because the backlog was full, delivery kept failing, or close timed out.
    dropped: int = 0
    #: Items waiting, including a batch being delivered.
    backlog: int = 0
    #: Largest backlog seen.
    max_backlog_seen: int = 0
    #: Failed delivery attempts.
    failures: int = 0
    #: The last delivery failure, as ``Type: message``; None when none happened.
    last_error: str | None = None
    #: Items kept for the next start when the sink closed (in a durable outbox).
    kept: int = 0


@runtime_checkable
class Sink(Protocol):
    """A consumer of the poller's events.

    ``start`` before the first ``submit``; ``submit`` from the event loop's thread (it never
    blocks and never raises); ``close`` delivers what it can within its timeout and releases
    everything. ``stats`` may be called at any time.
    """

    @property
    def name(self) -> str:
        """Short name for logs and metrics, e.g. ``sqlite``."""
        ...

    async def start(self) -> None:
        """Open files or connections and start background work."""
        ...

    def submit(self, event: SinkEvent) -> None:
        """Take an event without blocking."""
        ...

    async def close(self) -> None:
        """Deliver what is pending (bounded in time), then release everything."""
        ...

    def stats(self) -> SinkStats:
        """Counts of what was submitted, delivered and dropped."""
        ...


@runtime_checkable
class EnergyStore(Protocol):
    """A sink that keeps the energy tracker's state across restarts."""

    async def energy_state(self) -> list[EnergyEvent]:
        """The last energy event of each gateway's sources (after :meth:`Sink.start`)."""
        ...


#: The ``kind`` of each event class.
EVENT_KINDS: Final[Mapping[type, str]] = {
    DataEvent: "data",
    ErrorEvent: "error",
    StateEvent: "state",
    UnsupportedEvent: "unsupported",
    CounterEvent: "counter",
    EnergyEvent: "energy",
    ControlRevertedEvent: "control_reverted",
}


def event_kind(event: SinkEvent) -> str:
    """``data``, ``error``, ``state``, ``unsupported``, ``counter``, ``energy`` or
    ``control_reverted``."""
    return EVENT_KINDS[type(event)]


def event_time(event: SinkEvent) -> datetime:
    """When the event happened: the fetch time of data, else its ``at``."""
    return event.fetched_at if isinstance(event, DataEvent) else event.at


def event_endpoint(event: SinkEvent) -> str | None:
    """The endpoint an event is about; None for state changes and derived events."""
    if isinstance(event, StateEvent | CounterEvent | EnergyEvent):
        return None
    return event.endpoint


async def stop_task(task: asyncio.Task[Any], *, patience_s: float = 1.0) -> None:
    """Cancel ``task`` and wait for its end, cancelling it again while it goes on.

    Python 3.11's ``asyncio.wait_for`` (aiomqtt awaits every acknowledgement with it) loses a
    cancellation that arrives as the operation it waits for completes: the task then goes on
    as if never cancelled. A task that ended with an exception raises it here.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=patience_s)
    if not task.cancelled():
        task.result()


#: Handles one batch; raising means the batch was not delivered.
BatchHandler = Callable[[list[T]], Awaitable[None]]

#: First and longest wait before retrying a failed batch, seconds.
RETRY_DELAY_S = (0.5, 30.0)


class BatchRunner(Generic[T]):
    """A bounded queue drained in batches by one background task.

    ``put`` is O(1) and never blocks: when ``max_backlog`` items wait, the oldest is dropped
    and counted. A batch whose handler raises is retried after a growing delay; with
    ``max_attempts`` set it is dropped (and counted) after that many failures, otherwise it
    is retried until it succeeds or the runner closes. Must be used from one event loop.
    """

    def __init__(
        self,
        name: str,
        handler: BatchHandler[T],
        *,
        max_backlog: int = 10_000,
        batch_size: int = 100,
        flush_interval_s: float = 1.0,
        max_attempts: int | None = None,
        retry_delay_s: tuple[float, float] = RETRY_DELAY_S,
    ) -> None:
        if max_backlog < 1 or batch_size < 1 or flush_interval_s <= 0:
            raise ValueError("max_backlog and batch_size must be positive, flush interval > 0")
        self._name = name
        self._handler = handler
        self._max_backlog = max_backlog
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._max_attempts = max_attempts
        self._retry_delay_s = retry_delay_s
        self._items: deque[T] = deque()
        self._batch: list[T] = []
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._dropping = False
        self._dropped_in_episode = 0
        self._put = 0
        self._written = 0
        self._dropped = 0
        self._max_seen = 0
        self._failures = 0
        self._last_error: str | None = None

    @property
    def backlog(self) -> int:
        """Items waiting, including the batch being delivered."""
        return len(self._items) + len(self._batch)

    def start(self) -> None:
        """Start the background task (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"enphase-local sink {self._name}"
            )

    def put(self, item: T) -> None:
        """Queue an item; drop the oldest when the backlog is full. Never blocks."""
        self._put += 1
        if self._closing:
            self._dropped += 1
            return
        if len(self._items) >= self._max_backlog:
            self._items.popleft()
            self._overflow()
        self._items.append(item)
        self._max_seen = max(self._max_seen, self.backlog)
        self._wake.set()
        if len(self._items) >= self._batch_size:
            self._full.set()

    def stats(self) -> SinkStats:
        """Counts for :class:`SinkStats` (``submitted`` counts items put)."""
        return SinkStats(
            name=self._name,
            submitted=self._put,
            written=self._written,
            dropped=self._dropped,
            backlog=self.backlog,
            max_backlog_seen=self._max_seen,
            failures=self._failures,
            last_error=self._last_error,
        )

    async def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued within ``timeout_s``; drop (and count) the rest."""
        self._closing = True
        self._wake.set()
        self._full.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                async with asyncio.timeout(timeout_s):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        left = self.backlog
        if left:
            _LOGGER.warning("%s sink: %d items not delivered at close", self._name, left)
            self._items.clear()
            self._batch = []
            self._dropped += left

    def _overflow(self) -> None:
        self._dropped += 1
        self._dropped_in_episode += 1
        if not self._dropping:
            self._dropping = True
            _LOGGER.warning(
                "%s sink cannot keep up: backlog full (%d), dropping the oldest items",
                self._name,
                self._max_backlog,
            )

    def _maybe_recovered(self) -> None:
        if self._dropping and len(self._items) <= self._max_backlog // 2:
            _LOGGER.warning(
                "%s sink caught up after dropping %d items", self._name, self._dropped_in_episode
            )
            self._dropping = False
            self._dropped_in_episode = 0

    async def _run(self) -> None:
        while True:
            await self._fill_batch()
            if not self._batch:
                return
            await self._deliver()
            self._batch = []
            self._maybe_recovered()

    async def _fill_batch(self) -> None:
        while not self._items and not self._closing:
            self._wake.clear()
            await self._wake.wait()
        if len(self._items) < self._batch_size and not self._closing:
            self._full.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_interval_s):
                    await self._full.wait()
        count = min(self._batch_size, len(self._items))
        self._batch = [self._items.popleft() for _ in range(count)]

    async def _deliver(self) -> None:
        attempt = 0
        delay, longest = self._retry_delay_s
        while True:
            try:
                await self._handler(self._batch)
            except Exception as err:  # a failing sink must never end the runner
                attempt += 1
                self._failures += 1
                self._last_error = f"{type(err).__name__}: {err}"
                if self._max_attempts is not None and attempt >= self._max_attempts:
                    _LOGGER.exception(
                        "%s sink: dropping %d items after %d failed attempts: %s",
                        self._name,
                        len(self._batch),
                        attempt,
                        self._last_error,
                    )
                    self._dropped += len(self._batch)
                    return
                _LOGGER.warning(
                    "%s sink: delivery failed (%s), retrying in %.1f s",
                    self._name,
                    self._last_error,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest)
            else:
                self._written += len(self._batch)
                return


class SinkSet:
    """Several sinks used as one: every event goes to each of them, followed by what
    ``energy`` derives from it (when given)."""

    def __init__(self, sinks: Iterable[Sink], *, energy: EnergyTracker | None = None) -> None:
        #: The sinks, in the order they start (they close in reverse).
        self.sinks: tuple[Sink, ...] = tuple(sinks)
        #: The tracker between the poller and the sinks; None passes events on as they are.
        self.energy = energy

    @property
    def name(self) -> str:
        """The member names joined with ``+``."""
        return "+".join(sink.name for sink in self.sinks)

    async def start(self) -> None:
        """Start every sink, then give the energy tracker what the stores kept; if a sink
        fails, close those already started and re-raise."""
        started: list[Sink] = []
        try:
            for sink in self.sinks:
                await sink.start()
                started.append(sink)
            if self.energy is not None:
                for sink in self.sinks:
                    if isinstance(sink, EnergyStore):
                        self.energy.restore(await sink.energy_state())
        except BaseException:
            for sink in reversed(started):
                await sink.close()
            raise

    def submit(self, event: SinkEvent) -> None:
        """Give the event, then whatever the energy tracker derives from it, to every sink."""
        for sink in self.sinks:
            sink.submit(event)
        if self.energy is None or isinstance(event, CounterEvent | EnergyEvent):
            return
        for derived in self.energy.update(event):
            for sink in self.sinks:
                sink.submit(derived)

    async def close(self) -> None:
        """Close every sink, last started first."""
        for sink in reversed(self.sinks):
            await sink.close()

    def all_stats(self) -> list[SinkStats]:
        """Each member's statistics."""
        return [sink.stats() for sink in self.sinks]

    def stats(self) -> SinkStats:
        """The members' statistics added up."""
        parts = self.all_stats()
        errors = [s.last_error for s in parts if s.last_error is not None]
        return SinkStats(
            name=self.name,
            submitted=sum(s.submitted for s in parts),
            written=sum(s.written for s in parts),
            dropped=sum(s.dropped for s in parts),
            backlog=sum(s.backlog for s in parts),
            max_backlog_seen=sum(s.max_backlog_seen for s in parts),
            failures=sum(s.failures for s in parts),
            last_error=errors[-1] if errors else None,
            kept=sum(s.kept for s in parts),
        )
