"""The forwarder between the outbox and a publisher, with a publisher the test controls."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from enphase_local.sinks.forward import Forwarder
from enphase_local.sinks.outbox import Entry, Message, Outbox, OutboxLimit, WriteResult
from tests.sinks.builders import wait_until


def entry(number: int) -> Entry:
    return Entry(f"gw/{number}", str(number).encode(), f"gw/e/{number}")


class Publisher:
    """Records what it is given; fails while ``failing`` is set; can hold every send."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.failing = False
        self.gate = asyncio.Event()
        self.gate.set()
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, message: Message) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
            if self.failing:
                raise ConnectionError("broker away")
            self.sent.append(int(message.entry.payload))
        finally:
            self.in_flight -= 1


async def forwarder(
    publisher: Publisher, path: Path | None, *, limit: OutboxLimit | None = None, **options: float
) -> Forwarder:
    defaults: dict[str, float] = {"drain_rate": 10_000.0, "flush_interval_s": 0.005}
    defaults.update(options)
    outbox = Outbox(path, limit=limit)
    result = Forwarder(
        "test",
        outbox,
        publisher,
        retry_delay_s=(0.01, 0.05),
        **defaults,  # type: ignore[arg-type]  # the keyword options are floats or ints
    )
    await result.start()
    return result


async def test_messages_are_committed_sent_in_order_and_then_deleted(tmp_path: Path) -> None:
    publisher = Publisher()
    forward = await forwarder(publisher, tmp_path / "o.sqlite")
    forward.connected()
    for i in range(300):
        forward.put(entry(i))
    await wait_until(lambda: len(publisher.sent) == 300 and forward.outbox.rows == 0)
    assert publisher.sent == list(range(300))
    stats = forward.stats()
    assert (stats.submitted, stats.written, stats.dropped, stats.backlog) == (300, 300, 0, 0)
    await forward.close()
    assert forward.stats().kept == 0


async def test_while_disconnected_messages_wait_then_catch_up_in_order(tmp_path: Path) -> None:
    publisher = Publisher()
    forward = await forwarder(publisher, tmp_path / "o.sqlite")
    for i in range(50):
        forward.put(entry(i))
    await wait_until(lambda: forward.outbox.rows == 50)
    assert publisher.sent == []
    assert forward.stats().backlog == 50
    forward.connected()
    await wait_until(lambda: len(publisher.sent) == 50)
    assert publisher.sent == list(range(50))
    await wait_until(lambda: forward.outbox.rows == 0)
    await forward.close()


async def test_live_messages_do_not_wait_for_the_paced_catch_up(tmp_path: Path) -> None:
    publisher = Publisher()
    # One caught-up message now, the next in 1000 s: whatever else goes out is live.
    forward = await forwarder(publisher, tmp_path / "o.sqlite", drain_rate=0.001)
    for i in range(20):
        forward.put(entry(i))
    await wait_until(lambda: forward.outbox.rows == 20)
    forward.connected()
    await wait_until(lambda: publisher.sent == [0])
    for i in range(100, 110):
        forward.put(entry(i))
    await wait_until(lambda: len(publisher.sent) == 11)
    assert publisher.sent == [0, *range(100, 110)]
    await forward.close()
    # The rest stays for the next start, which catches up where this one stopped.
    assert forward.stats().kept == 19
    publisher = Publisher()
    forward = await forwarder(publisher, tmp_path / "o.sqlite")
    forward.connected()
    await wait_until(lambda: len(publisher.sent) == 19)
    assert publisher.sent == list(range(1, 20))
    await forward.close()


async def test_a_failing_publisher_loses_nothing(tmp_path: Path) -> None:
    publisher = Publisher()
    forward = await forwarder(publisher, tmp_path / "o.sqlite", window=5)
    forward.connected()
    for i in range(10):
        forward.put(entry(i))
    await wait_until(lambda: len(publisher.sent) == 10)
    publisher.failing = True
    for i in range(10, 40):
        forward.put(entry(i))
    await wait_until(lambda: forward.stats().failures >= 3)
    assert forward.outbox.rows == 30
    publisher.failing = False
    await wait_until(lambda: forward.outbox.rows == 0)
    # Every message went through, in order, each once: a failed send was not half done.
    assert publisher.sent == list(range(40))
    assert publisher.most_in_flight <= 5
    assert forward.stats().last_error == "ConnectionError: broker away"
    await forward.close()


async def test_messages_acknowledged_but_not_yet_deleted_are_not_sent_again(
    tmp_path: Path,
) -> None:
    publisher = Publisher()
    forward = await forwarder(publisher, tmp_path / "o.sqlite", flush_interval_s=0.2)
    forward.connected()
    for i in range(30):
        forward.put(entry(i))
    await wait_until(lambda: len(publisher.sent) == 30)
    forward.disconnected()  # before the deletions are committed
    forward.connected()
    await wait_until(lambda: forward.outbox.rows == 0)
    await asyncio.sleep(0.05)
    assert publisher.sent == list(range(30))
    await forward.close()


async def test_a_write_committed_as_a_round_begins_is_sent_once(tmp_path: Path) -> None:
    publisher = Publisher()
    forward = await forwarder(publisher, tmp_path / "o.sqlite")
    real_write = forward.outbox.write
    committed, gate = asyncio.Event(), asyncio.Event()

    async def write(entries: list[Entry], acked: list[int]) -> WriteResult:
        result = await real_write(entries, acked)
        committed.set()
        await gate.wait()  # committed, but the forwarder does not know yet
        return result

    forward.outbox.write = write  # type: ignore[method-assign,assignment]  # a slow return
    for i in range(5):
        forward.put(entry(i))
    await committed.wait()
    forward.connected()
    await asyncio.sleep(0.05)  # the round begins meanwhile
    gate.set()
    await wait_until(lambda: forward.outbox.rows == 0)
    await asyncio.sleep(0.05)
    assert publisher.sent == list(range(5))
    await forward.close()


async def test_the_limit_drops_the_oldest_while_disconnected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = Publisher()
    limit = OutboxLimit(max_bytes=None, max_rows=10)
    forward = await forwarder(publisher, tmp_path / "o.sqlite", limit=limit, batch_size=4)
    with caplog.at_level(logging.WARNING):
        for i in range(25):
            forward.put(entry(i))
        await wait_until(lambda: forward.stats().dropped == 15)
    assert "the outbox is full (10 rows): dropping the oldest messages" in caplog.text
    forward.connected()
    await wait_until(lambda: len(publisher.sent) == 10)
    assert publisher.sent == list(range(15, 25))
    with caplog.at_level(logging.WARNING):
        forward.put(entry(99))
        await wait_until(lambda: publisher.sent[-1] == 99)
    assert "below its limit again after dropping 15 messages" in caplog.text
    stats = forward.stats()
    assert (stats.submitted, stats.written, stats.dropped) == (26, 11, 15)
    await forward.close()


async def test_a_slow_publisher_turns_live_messages_into_catch_up(tmp_path: Path) -> None:
    publisher = Publisher()
    forward = await forwarder(publisher, tmp_path / "o.sqlite", max_live=5, window=2)
    forward.connected()
    publisher.gate.clear()  # sends hang
    for i in range(40):
        forward.put(entry(i))
    await wait_until(lambda: forward.outbox.rows == 40)
    publisher.gate.set()
    await wait_until(lambda: forward.outbox.rows == 0)
    assert sorted(publisher.sent) == list(range(40))
    assert publisher.sent == list(range(40))
    await forward.close()


async def test_close_keeps_a_file_outbox_and_drops_a_memory_one(tmp_path: Path) -> None:
    publisher = Publisher()
    forward = await forwarder(publisher, tmp_path / "o.sqlite")
    for i in range(7):
        forward.put(entry(i))
    await forward.close(timeout_s=0.5)  # never connected
    assert (forward.stats().kept, forward.stats().dropped) == (7, 0)

    memory = await forwarder(publisher, None)
    for i in range(7):
        memory.put(entry(i))
    await memory.close(timeout_s=0.5)
    assert (memory.stats().kept, memory.stats().dropped) == (0, 7)


async def test_close_of_a_memory_outbox_sends_everything_without_pacing() -> None:
    publisher = Publisher()
    forward = await forwarder(publisher, None, drain_rate=0.001)
    for i in range(30):
        forward.put(entry(i))
    forward.connected()
    await forward.close(timeout_s=10)
    assert publisher.sent == list(range(30))
    assert forward.stats().dropped == 0


async def test_a_failing_file_keeps_messages_in_memory_until_it_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = Publisher()
    forward = await forwarder(publisher, tmp_path / "o.sqlite", max_pending=5)
    forward.connected()
    real_write = forward.outbox.write
    broken = True

    async def write(entries: list[Entry], acked: list[int]) -> WriteResult:
        if broken:
            raise sqlite3.OperationalError("disk I/O error")
        return await real_write(entries, acked)

    forward.outbox.write = write  # type: ignore[method-assign,assignment]  # a failing file
    with caplog.at_level(logging.WARNING):
        for i in range(8):
            forward.put(entry(i))
        await wait_until(lambda: forward.stats().failures >= 2)
    assert "cannot write the outbox (OperationalError: disk I/O error)" in caplog.text
    assert "the outbox is not taking messages" in caplog.text
    assert publisher.sent == []  # nothing is sent before it is committed
    assert forward.stats().dropped == 3
    broken = False
    with caplog.at_level(logging.WARNING):
        await wait_until(lambda: len(publisher.sent) == 5)
    assert publisher.sent == [3, 4, 5, 6, 7]
    assert "the outbox takes messages again after 3 were dropped" in caplog.text
    await forward.close()


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        Forwarder("x", Outbox(tmp_path / "o"), Publisher(), drain_rate=0)
