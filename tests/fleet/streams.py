"""Streams of pollers' MQTT messages for the ingest tests: what the MQTT sink publishes today,
recorded from a real broker, replayed at QoS 1 (as a store-and-forward poller would)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator, Sequence

import aiomqtt
import asyncpg
import attrs

from enphase_local.events import DataEvent, SinkEvent
from enphase_local.fleet.records import ReadingKey, message_kind
from enphase_local.sinks.keys import key_text
from enphase_local.sinks.mqtt import MqttSettings, MqttSink
from tests.cli.running import CliProcess, cli
from tests.sinks.builders import wait_until

PREFIX = "fleet"

#: One message: its topic and payload.
Message = tuple[str, bytes]


def shifted(events: Sequence[SinkEvent], rounds: int, step_s: float = 3600.0) -> list[SinkEvent]:
    """``events`` again ``rounds`` times, each round ``step_s`` later: distinct readings."""
    out: list[SinkEvent] = []
    for index in range(rounds):
        delta = dt.timedelta(seconds=index * step_s)
        for event in events:
            if isinstance(event, DataEvent):
                out.append(attrs.evolve(event, fetched_at=event.fetched_at + delta))
            else:
                out.append(attrs.evolve(event, at=event.at + delta))
    return out


def is_reading(topic: str) -> bool:
    """Whether the MQTT sink's message on ``topic`` is an event (not state or availability)."""
    parts = topic.split("/")
    return len(parts) == 3 and parts[1] != "bridge" and message_kind(parts[2]) is not None


async def record(port: int, events: Sequence[SinkEvent]) -> list[Message]:
    """What a real MQTT sink publishes for ``events``, in order (readings only)."""
    messages: list[Message] = []
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(f"{PREFIX}/+/+", qos=1)
        sink = MqttSink(MqttSettings(host="127.0.0.1", port=port, prefix=PREFIX))
        await sink.start()
        # Submitted while connected, the events go live, not paced as a backlog.
        await wait_until(lambda: sink.connected, 30)
        for event in events:
            sink.submit(event)
        await wait_until(lambda: sink.stats().written == len(events), 30)
        await sink.close()
        async with asyncio.timeout(30):
            async for message in client.messages:
                topic = str(message.topic)
                assert isinstance(message.payload, bytes)
                if is_reading(topic):
                    messages.append((topic, message.payload))
                if len(messages) == len(events):
                    break
    return messages


async def publish(port: int, messages: Sequence[Message], *, per_second: float = 0) -> None:
    """Publish at QoS 1 (each acknowledged by the broker), at most ``per_second`` a second."""
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        for index, (topic, payload) in enumerate(messages):
            await client.publish(topic, payload, qos=1)
            if per_second and index % 10 == 9:
                await asyncio.sleep(10 / per_second)


async def rows(dsn: str) -> int:
    """Readings in the database (events plus energy events)."""
    conn = await asyncpg.connect(dsn)
    try:
        events = await conn.fetchval("SELECT count(*) FROM events")
        energy = await conn.fetchval("SELECT count(*) FROM energy_events")
        return int(events) + int(energy)
    finally:
        await conn.close()


async def keys_of(conn: asyncpg.Connection) -> list[str]:
    """The idempotency key (as text) of every reading in the database, one per row."""
    events = await conn.fetch("SELECT gateway, kind, subject, time FROM events")
    energy = await conn.fetch("SELECT gateway, source, time FROM energy_events")
    keys = [ReadingKey(gateway=g, kind=k, subject=s, at=t) for g, k, s, t in events]
    keys += [ReadingKey(gateway=g, kind="energy", subject=s, at=t) for g, s, t in energy]
    return [key_text(key) for key in keys]


async def row_keys(dsn: str) -> list[str]:
    """:func:`keys_of` the database at ``dsn``."""
    conn = await asyncpg.connect(dsn)
    try:
        return await keys_of(conn)
    finally:
        await conn.close()


async def readings_twice(dsn: str) -> int:
    """Rows of the readings' tables beyond one per key (0 unless a reading is two rows)."""
    conn = await asyncpg.connect(dsn)
    try:
        events = await conn.fetchval(
            "SELECT count(*) - count(DISTINCT (gateway, kind, subject, time)) FROM events"
        )
        energy = await conn.fetchval(
            "SELECT count(*) - count(DISTINCT (gateway, source, time)) FROM energy_events"
        )
        return int(events) + int(energy)
    finally:
        await conn.close()


async def wait_for_rows(dsn: str, count: int, timeout_s: float = 30) -> None:
    """Wait until the database holds ``count`` readings (a missing table counts as none)."""
    async with asyncio.timeout(timeout_s):
        while True:
            with contextlib.suppress(asyncpg.UndefinedTableError, OSError):
                if await rows(dsn) >= count:
                    return
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def ingesting(port: int, prefix: str, dsn: str) -> AsyncIterator[CliProcess]:
    """``enphase-local ingest`` of ``<prefix>/+/+`` into ``dsn``, subscribed, with a named
    session (as a fleet that must lose nothing runs it: a persistent broker queues what comes
    while the connection is down)."""
    url = f"mqtt://127.0.0.1:{port}/{prefix}"
    async with cli(
        "ingest", "--mqtt", url, "--postgres", dsn, "--name", "ingest-0", "--verbose"
    ) as process:
        await process.wait_for("subscribed to ", stderr=True)
        yield process


def ingest_summary(process: CliProcess) -> tuple[int, int]:
    """The readings a stopped ingest process wrote, and the duplicates it found written."""
    found = re.search(r"(\d+) readings written, (\d+) duplicates", process.stdout)
    assert found is not None, f"no summary:\n{process.stdout}\n{process.stderr}"
    return int(found.group(1)), int(found.group(2))


async def wait_for_keys(dsn: str, wanted: set[str], timeout_s: float = 30) -> None:
    """Wait until every key of ``wanted`` is a row (a missing table counts as none)."""
    async with asyncio.timeout(timeout_s):
        while True:
            with contextlib.suppress(asyncpg.UndefinedTableError, OSError):
                if wanted <= set(await row_keys(dsn)):
                    return
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def running(task: asyncio.Task[None]) -> AsyncIterator[None]:
    """Cancel ``task`` at the end if it is still running."""
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
