"""Store and forward: messages go into an :class:`~enphase_local.sinks.outbox.Outbox` first,
then to a publisher, in order, and leave the outbox only once the publisher has returned
(for MQTT with QoS 1: once the broker has acknowledged them).

Whenever the publisher can send (:meth:`Forwarder.connected`), a *round* begins. It sends
on two lanes:

live
    Messages committed during the round, as soon as they are committed, in order.
catch-up
    What the outbox held when the round began (left by an outage, or by an earlier run
    of the process), oldest first, at most ``drain_rate`` messages a second, in the gaps
    between live messages.

A round ends when the connection drops, when a message fails (then after a pause that
grows while failures go on), or when more than ``max_live`` messages wait for the live lane
(the publisher is slower than the events come: they become catch-up). The next round
begins once every message of the last one is settled, and sends everything left in the
outbox again, oldest first.

What this guarantees:

- **At least once.** A message is committed before it is sent and deleted only after the
  publisher returned. A message that was being sent when a connection failed, or that was
  acknowledged just before the process was killed, is sent again: consumers drop the second
  copy by its idempotency key (:mod:`enphase_local.sinks.keys`).
- **Order within each lane.** Live messages are sent in the order they were added, and so
  are caught-up ones; every caught-up message of a round was added before every live one.
  So per gateway and per topic (endpoint), the live messages arrive in the order they were
  read, and the caught-up ones too, older than the live ones they are interleaved with. A
  consumer that wants one order per topic sorts by the time in the key. After a failed send,
  the message comes again after later ones that had gone through.
- **Fresh live data.** Live messages never wait behind the catch-up lane.
- **Bounded work.** At most ``drain_rate`` caught-up messages a second, ``window``
  messages awaiting acknowledgement, ``max_live`` waiting in memory for the live lane and
  ``max_pending`` waiting to be committed (beyond that, the oldest are dropped and counted:
  the outbox's file is failing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final

from enphase_local.sinks.base import SinkStats, stop_task
from enphase_local.sinks.outbox import Entry, Message, Outbox, WriteResult

_LOGGER = logging.getLogger(__name__)

#: Sends one message; returns once the receiver has it (raising means it may not have it).
Publish = Callable[[Message], Awaitable[None]]

#: Caught-up messages a second, by default: a week of one gateway (about 140,000 messages)
#: in under an hour, a ten-minute outage of twenty in under a minute.
DEFAULT_DRAIN_RATE: Final = 50.0
#: First and longest pause after a failed send or write, seconds.
RETRY_DELAY_S: Final = (0.2, 10.0)
#: Below this share of its limit, an outbox that was dropping messages has caught up.
_RECOVERED: Final = 0.9


class Forwarder:
    """Moves messages through an outbox to a publisher; see the module for the rules.

    :meth:`put` never blocks; :meth:`connected` and :meth:`disconnected` tell it when the
    publisher can send. Must be used from one event loop.
    """

    def __init__(
        self,
        name: str,
        outbox: Outbox,
        publish: Publish,
        *,
        drain_rate: float = DEFAULT_DRAIN_RATE,
        window: int = 20,
        batch_size: int = 500,
        flush_interval_s: float = 0.05,
        max_live: int = 1_000,
        max_pending: int = 10_000,
        retry_delay_s: tuple[float, float] = RETRY_DELAY_S,
    ) -> None:
        if not drain_rate > 0 or window < 1 or batch_size < 1 or max_live < 1 or max_pending < 1:
            raise ValueError("drain rate, window, batch size and queue bounds must be positive")
        self._name = name
        #: The outbox.
        self.outbox = outbox
        self._publish = publish
        self._interval_s = 1.0 / drain_rate
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._max_live = max_live
        self._max_pending = max_pending
        self._retry_delay_s = retry_delay_s
        self._delay_s = retry_delay_s[0]
        self._pending: deque[Entry] = deque()
        self._acked: list[int] = []
        self._acked_ids: set[int] = set()
        self._live: deque[Message] = deque()
        self._catchup: deque[Message] = deque()
        self._cursor = 0
        self._boundary = 0
        self._trimmed_upto = 0
        self._round = 0
        self._in_round = False
        self._failed = False
        self._next_catchup = 0.0
        self._online = asyncio.Event()
        self._wake_writer = asyncio.Event()
        self._wake_sender = asyncio.Event()
        self._progress = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._slots = asyncio.Semaphore(window)
        self._in_flight = 0
        self._sends: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._stopping = False
        self._committed_upto = 0
        self._submitted = 0
        self._published = 0
        self._lost = 0
        self._max_seen = 0
        self._failures = 0
        self._last_error: str | None = None
        self._dropping = False
        self._dropped_in_episode = 0
        self._refused = 0
        self._kept = 0

    # --- the sink's side --------------------------------------------------------------------

    async def start(self) -> None:
        """Open the outbox and start the writer and the sender."""
        await self.outbox.open()
        if self.outbox.rows:
            _LOGGER.warning(
                "%s: %d messages (%.1f MB) left in the outbox %s by an earlier run: "
                "sending them again",
                self._name,
                self.outbox.rows,
                self.outbox.bytes / 1e6,
                self.outbox.path,
            )
        self._max_seen = self.outbox.rows
        self._committed_upto = self.outbox.last_id
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._send_loop(), name=f"enphase-local {self._name} sender"),
            loop.create_task(self._write_loop(), name=f"enphase-local {self._name} outbox"),
        ]

    def put(self, entry: Entry) -> None:
        """Queue a message to be committed, then sent. Never blocks."""
        self._submitted += 1
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self._lost += 1
            self._refused += 1
            if self._refused == 1:
                _LOGGER.warning(
                    "%s: the outbox is not taking messages (%s): dropping the oldest",
                    self._name,
                    self._last_error,
                )
        self._pending.append(entry)
        self._max_seen = max(self._max_seen, self._backlog())
        self._wake_writer.set()

    def connected(self) -> None:
        """The publisher can send: a round begins (once the last one has settled)."""
        self._online.set()

    def disconnected(self) -> None:
        """The publisher cannot send: the round ends."""
        self._online.clear()
        self._end_round()

    def stats(self) -> SinkStats:
        """Messages put, acknowledged, dropped (limit or failing file) and waiting."""
        return SinkStats(
            name=self._name,
            submitted=self._submitted,
            written=self._published,
            dropped=self.outbox.dropped + self._lost,
            backlog=self._backlog(),
            max_backlog_seen=self._max_seen,
            failures=self._failures,
            last_error=self._last_error,
            kept=self._kept,
        )

    async def close(self, timeout_s: float = 10.0, *, connecting: bool = False) -> None:
        """Commit what was put, send the live lane (everything, when the outbox is in
        memory) within ``timeout_s``, then close the outbox.

        Without a connection there is nothing to wait for, unless ``connecting`` says one
        is being set up. What a file outbox still holds is kept for the next start; an
        outbox in memory loses it (counted as dropped).
        """
        self._closing = True
        self._wake_writer.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while not self._drained(connecting=connecting):
                    self._progress.clear()
                    await self._progress.wait()
        self._end_round()
        sender, writer = self._tasks or (None, None)
        for task in (sender, *self._sends):
            if task is not None:
                await stop_task(task)
        self._stopping = True  # no acknowledgement comes any more: the writer may finish
        self._wake_writer.set()
        if writer is not None:
            try:
                async with asyncio.timeout(max(timeout_s, 1.0)):
                    await writer
            except TimeoutError:  # the file keeps failing
                self._lost += len(self._pending)
                self._pending.clear()
        self._tasks = []
        left = self.outbox.rows
        if self.outbox.durable:
            self._kept = left
            if left:
                _LOGGER.warning(
                    "%s: %d messages kept in the outbox %s for the next start",
                    self._name,
                    left,
                    self.outbox.path,
                )
        elif left:
            _LOGGER.warning("%s: %d messages not delivered at close", self._name, left)
            self._lost += left
        await self.outbox.close()

    def _backlog(self) -> int:
        return self.outbox.rows - len(self._acked_ids) + len(self._pending)

    def _drained(self, *, connecting: bool) -> bool:
        if self._pending or self._acked:
            return False
        if not self._online.is_set():
            return not connecting
        if self.outbox.durable:
            return not self._live and self._in_flight == 0
        return self.outbox.rows == 0 and self._in_flight == 0

    # --- committing -------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            if not (self._pending or self._acked):
                if self._stopping:
                    return
                self._wake_writer.clear()
                await self._wake_writer.wait()
                continue
            if len(self._pending) < self._batch_size and not self._closing:
                await asyncio.sleep(self._flush_interval_s)  # gather a batch
            count = min(len(self._pending), self._batch_size)
            entries = [self._pending.popleft() for _ in range(count)]
            acked, self._acked = self._acked, []
            try:
                result = await self.outbox.write(entries, acked)
            except Exception as err:  # noqa: BLE001 - a failing file must never end the writer
                self._pending.extendleft(reversed(entries))
                self._acked = acked + self._acked
                self._failures += 1
                self._last_error = f"{type(err).__name__}: {err}"
                _LOGGER.warning(
                    "%s: cannot write the outbox (%s), retrying in %.1f s",
                    self._name,
                    self._last_error,
                    self._delay_s,
                )
                await asyncio.sleep(self._delay_s)
                self._delay_s = min(self._delay_s * 2, self._retry_delay_s[1])
                continue
            self._acked_ids.difference_update(acked)
            if self._refused:
                _LOGGER.warning(
                    "%s: the outbox takes messages again after %d were dropped",
                    self._name,
                    self._refused,
                )
                self._refused = 0
            self._committed(result)
            self._progress.set()

    def _committed(self, result: WriteResult) -> None:
        if result.trimmed:
            self._trimmed(result)
        elif self._dropping and self._below_limit():
            _LOGGER.warning(
                "%s: the outbox is below its limit again after dropping %d messages",
                self._name,
                self._dropped_in_episode,
            )
            self._dropping = False
            self._dropped_in_episode = 0
        if result.added:
            self._committed_upto = result.added[-1].id
        self._max_seen = max(self._max_seen, self._backlog())
        if not self._in_round:
            return  # they wait in the outbox for the next round
        self._live.extend(result.added)
        if len(self._live) > self._max_live:
            self._end_round()  # the publisher lags: these become the next round's catch-up
        self._wake_sender.set()

    def _trimmed(self, result: WriteResult) -> None:
        self._trimmed_upto = max(self._trimmed_upto, result.trimmed_upto)
        self._cursor = max(self._cursor, self._trimmed_upto)
        self._live = deque(m for m in self._live if m.id > self._trimmed_upto)
        self._catchup = deque(m for m in self._catchup if m.id > self._trimmed_upto)
        self._dropped_in_episode += result.trimmed
        if not self._dropping:
            self._dropping = True
            _LOGGER.warning(
                "%s: the outbox is full (%s): dropping the oldest messages",
                self._name,
                self.outbox.limit.describe(),
            )

    def _below_limit(self) -> bool:
        limit = self.outbox.limit
        return (limit.max_bytes is None or self.outbox.bytes < _RECOVERED * limit.max_bytes) and (
            limit.max_rows is None or self.outbox.rows < _RECOVERED * limit.max_rows
        )

    # --- sending ----------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        while True:
            await self._online.wait()
            await self._idle.wait()  # every message of the last round has settled
            if not self._online.is_set():
                continue
            self._begin_round()
            await self._run_round()
            if self._failed:
                pause = self._delay_s * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not crypto
                self._delay_s = min(self._delay_s * 2, self._retry_delay_s[1])
                await asyncio.sleep(pause)

    def _begin_round(self) -> None:
        self._round += 1
        self._in_round = True
        self._failed = False
        # What the loop knows is committed: the outbox's own count may already include a
        # write whose messages are about to join the live lane.
        self._boundary = self._committed_upto
        self._cursor = self._trimmed_upto
        self._live.clear()
        self._catchup.clear()
        self._next_catchup = asyncio.get_running_loop().time()

    def _end_round(self, *, failed: bool = False) -> None:
        if self._in_round:
            self._in_round = False
            self._failed = failed
            self._live.clear()
            self._catchup.clear()
        self._wake_sender.set()
        self._progress.set()

    async def _run_round(self) -> None:
        this_round = self._round
        while True:
            message = await self._next_message(this_round)
            if message is None:
                return
            await self._slots.acquire()
            if self._round != this_round or not self._in_round:
                self._slots.release()
                return
            self._in_flight += 1
            self._idle.clear()
            task = asyncio.get_running_loop().create_task(self._send(message, this_round))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def _next_message(self, this_round: int) -> Message | None:
        loop = asyncio.get_running_loop()
        while self._in_round and self._round == this_round:
            self._wake_sender.clear()
            if self._live:
                return self._live.popleft()
            wait_s: float | None = None
            if self._catchup or self._cursor < self._boundary:
                now = loop.time()
                if now >= self._next_catchup or self._hurry():
                    message = await self._take_catchup(this_round)
                    if message is not None:
                        self._next_catchup = max(self._next_catchup, now) + self._interval_s
                        return message
                    continue
                wait_s = self._next_catchup - now
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._wake_sender.wait()
        return None

    def _hurry(self) -> bool:
        """Closing with an outbox in memory: what is not sent now is lost, so no pacing."""
        return self._closing and not self.outbox.durable

    async def _take_catchup(self, this_round: int) -> Message | None:
        while not self._catchup:
            if self._cursor >= self._boundary:
                return None
            batch = await self.outbox.read(self._cursor, self._boundary, self._batch_size)
            if self._round != this_round or not self._in_round:
                return None
            if not batch:
                self._cursor = self._boundary
                return None
            self._cursor = batch[-1].id
            # Acknowledged messages whose deletion is not committed yet are not sent again.
            self._catchup.extend(m for m in batch if m.id not in self._acked_ids)
        return self._catchup.popleft()

    async def _send(self, message: Message, this_round: int) -> None:
        try:
            await self._publish(message)
        except Exception as err:  # noqa: BLE001 - a failing publisher must never end the forwarder
            self._failures += 1
            self._last_error = f"{type(err).__name__}: {err}"
            if self._round == this_round and self._in_round:
                _LOGGER.warning(
                    "%s: sending failed (%s): sending what is left again in %.1f s",
                    self._name,
                    self._last_error,
                    self._delay_s,
                )
                self._end_round(failed=True)
        else:
            self._published += 1
            self._delay_s = self._retry_delay_s[0]
            self._acked.append(message.id)
            self._acked_ids.add(message.id)
            self._wake_writer.set()
        finally:
            self._slots.release()
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()
            self._progress.set()
