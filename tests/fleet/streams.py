"""Streams of pollers' MQTT messages for the ingest tests: what the MQTT sink publishes today,
recorded from a real broker, replayed at QoS 1 (as a store-and-forward poller would)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Sequence

import aiomqtt
import asyncpg
import attrs

from enphase_local.events import DataEvent, SinkEvent
from enphase_local.fleet.records import message_kind
from enphase_local.sinks.mqtt import MqttSettings, MqttSink
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


async def wait_for_rows(dsn: str, count: int, timeout_s: float = 30) -> None:
    """Wait until the database holds ``count`` readings (a missing table counts as none)."""
    async with asyncio.timeout(timeout_s):
        while True:
            with contextlib.suppress(asyncpg.UndefinedTableError, OSError):
                if await rows(dsn) >= count:
                    return
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running(task: asyncio.Task[None]) -> AsyncIterator[None]:
    """Cancel ``task`` at the end if it is still running."""
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
