"""``Ingest`` between a real mosquitto and a real PostgreSQL: what ``poll --postgres`` writes,
once per reading, through a database restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from enphase_local.events import Event
from enphase_local.fleet.ingest import Ingest, settings_for
from enphase_local.fleet.records import event_key, reading_from_event, reading_from_mqtt
from enphase_local.sinks.postgres import PostgresSink, connect
from tests.fleet.streams import PREFIX, publish, record, rows, running, shifted, wait_for_rows
from tests.postgres import PostgresServer
from tests.sinks.broker import Broker, require_mosquitto
from tests.sinks.builders import wait_until, with_energy


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    """mosquitto on a free loopback port (skipped when it is not installed)."""
    server = Broker(require_mosquitto(), tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def make_ingest(broker: Broker, dsn: str, **options: Any) -> Ingest:
    url = f"mqtt://127.0.0.1:{broker.port}/{PREFIX}"
    options.setdefault("flush_interval_s", 0.05)
    options.setdefault("reconnect_delay_s", (0.1, 0.5))
    return Ingest(settings_for(url), dsn, **options)


async def test_messages_carry_the_key_and_data_of_their_events(
    broker: Broker, simulated_events: list[Event]
) -> None:
    events = with_energy(simulated_events)
    messages = await record(broker.port, events)
    assert len(messages) == len(events)
    for event, (topic, payload) in zip(events, messages, strict=True):
        reading = reading_from_mqtt(PREFIX, topic, payload)
        assert reading is not None
        assert reading.key == event_key(event)
        direct = reading_from_event(event)
        if direct.key.kind == "energy":
            # The message has no counters (the tracker's restart state): the rest is equal.
            assert reading.data == {**direct.data, "counters": {}}
        else:
            assert reading.data == direct.data


async def table(dsn: str, sql: str) -> list[asyncpg.Record]:
    conn = await connect(dsn)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def test_ingest_writes_what_poll_postgres_writes(
    broker: Broker, postgres: PostgresServer, simulated_events: list[Event]
) -> None:
    events = with_energy(simulated_events)
    messages = await record(broker.port, events)
    admin = await connect(postgres.dsn)
    for name in ("direct", "ingested"):
        await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    direct, ingested = postgres.dsn_for("direct"), postgres.dsn_for("ingested")
    sink = PostgresSink(direct)
    await sink.start()
    for event in events:
        sink.submit(event)
    await sink.close()
    ingest = make_ingest(broker, ingested)
    task = asyncio.create_task(ingest.run())
    async with running(task):
        await ingest.wait_subscribed()
        await publish(broker.port, messages)
        await wait_until(lambda: ingest.stats.new == len(messages), 30)
    # mosquitto 2.0 also hands the retained state and availability to a shared subscription:
    # not readings, acknowledged and skipped.
    assert ingest.stats.acknowledged == ingest.stats.received == len(messages) + 7
    assert ingest.stats.skipped == 7
    for sql in (
        "SELECT gateway, kind, subject, time, latency_s, data FROM events"
        " ORDER BY gateway, kind, subject, time",
        "SELECT * FROM power_samples ORDER BY gateway, time",
        "SELECT * FROM battery_samples ORDER BY gateway, serial, time",
        "SELECT * FROM inverter_samples ORDER BY gateway, serial, time",
        "SELECT gateway, source, time, flows, filled, totals FROM energy_events"
        " ORDER BY gateway, source, time",
        "SELECT * FROM ledger ORDER BY gateway, start",
    ):
        want, got = await table(direct, sql), await table(ingested, sql)
        assert [tuple(r) for r in got] == [tuple(r) for r in want], sql
    assert len(await table(ingested, "SELECT * FROM power_samples")) >= 6


async def test_a_redelivered_message_is_one_row(
    broker: Broker, postgres: PostgresServer, simulated_events: list[Event]
) -> None:
    messages = await record(broker.port, with_energy(simulated_events))
    ingest = make_ingest(broker, postgres.dsn)
    task = asyncio.create_task(ingest.run())
    async with running(task):
        await ingest.wait_subscribed()
        await publish(broker.port, messages)
        await wait_until(lambda: ingest.stats.new == len(messages), 30)
        ledger = await table(postgres.dsn, "SELECT * FROM ledger ORDER BY gateway, start")
        await publish(broker.port, messages[::-1])  # all of it again, backwards
        await wait_until(lambda: ingest.stats.duplicates == len(messages), 30)
    assert ingest.stats.new == len(messages)
    assert await rows(postgres.dsn) == len(messages)
    assert await table(postgres.dsn, "SELECT * FROM ledger ORDER BY gateway, start") == ledger


async def test_a_database_restart_loses_nothing(
    broker: Broker, postgres: PostgresServer, simulated_events: list[Event]
) -> None:
    messages = await record(broker.port, shifted(with_energy(simulated_events), 4))
    ingest = make_ingest(broker, postgres.dsn, batch_size=50)
    task = asyncio.create_task(ingest.run())
    async with running(task):
        await ingest.wait_subscribed()
        publishing = asyncio.create_task(publish(broker.port, messages, per_second=400))
        await wait_until(lambda: ingest.stats.new >= 100, 30)
        await postgres.astop()
        await asyncio.sleep(1.5)  # the stream goes on while the database is away
        held = ingest.stats.received - ingest.stats.acknowledged
        await postgres.astart()
        await publishing
        await wait_for_rows(postgres.dsn, len(messages))
    assert await rows(postgres.dsn) == len(messages)
    assert ingest.stats.database_connections >= 2
    assert ingest.stats.acknowledged == ingest.stats.received
    assert held > 0  # messages waited, unacknowledged, for the database


async def test_malformed_messages_are_counted_and_do_not_stop_the_stream(
    broker: Broker, postgres: PostgresServer, simulated_events: list[Event]
) -> None:
    [good] = await record(broker.port, simulated_events[-1:])
    gateway = good[0].split("/")[1]
    bad = [
        (f"{PREFIX}/{gateway}/meter_readings", b"<html>"),
        (f"{PREFIX}/{gateway}/no_such_endpoint", b"{}"),
        (f"{PREFIX}/{gateway}/energy", b'{"at": "2025-06-21T12:00:00+00:00"}'),
        (f"{PREFIX}/{gateway}/meter_readings", b'{"at": "yesterday", "data": []}'),
        (f"{PREFIX}/{gateway}/state", b'{"gateway_state": "online"}'),
        # Valid JSON, but no PostgreSQL text can hold a NUL: refused, the rest written.
        (
            f"{PREFIX}/{gateway}/error",
            b'{"at": "2025-06-21T12:00:00Z", "endpoint": "info", "type": "E",'
            b' "message": "nul \\u0000 here"}',
        ),
    ]
    ingest = make_ingest(broker, postgres.dsn)
    task = asyncio.create_task(ingest.run())
    async with running(task):
        await ingest.wait_subscribed()
        await publish(broker.port, [*bad, good])
        await wait_until(lambda: ingest.stats.new == 1, 30)
    assert ingest.stats.bad == 5
    assert ingest.stats.skipped >= 1  # our state message, and the retained ones record() left
    assert ingest.stats.acknowledged == ingest.stats.received


async def test_a_broker_restart_is_survived(
    broker: Broker, postgres: PostgresServer, simulated_events: list[Event]
) -> None:
    messages = await record(broker.port, shifted(simulated_events, 2))
    half = len(messages) // 2
    ingest = make_ingest(broker, postgres.dsn)
    task = asyncio.create_task(ingest.run())
    async with running(task):
        await ingest.wait_subscribed()
        await publish(broker.port, messages[:half])
        await wait_until(lambda: ingest.stats.new == half, 30)
        await broker.stop()
        await broker.start()
        await wait_until(lambda: ingest.stats.broker_connections == 2, 30)
        await ingest.wait_subscribed()
        await publish(broker.port, messages[half:])
        await wait_until(lambda: ingest.stats.new == len(messages), 30)
    assert await rows(postgres.dsn) == len(messages)
