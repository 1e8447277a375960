"""The PostgreSQL sink against a real server: the SQLite sink's tables, once per reading."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from enphase_local.energy import FLOWS, PRODUCTION, total
from enphase_local.energy.ledger import make_bucket
from enphase_local.errors import EnphaseError
from enphase_local.events import EnergyEvent, ErrorEvent, Event, SinkEvent
from enphase_local.fleet.records import reading_from_event
from enphase_local.sinks import SqliteSink, read_ledger
from enphase_local.sinks.postgres import (
    SCHEMA_VERSION,
    PostgresSink,
    SchemaVersionError,
    Writer,
    connect,
    describe_dsn,
    make_hypertables,
    migrate,
    schema_version,
)
from tests.postgres import PostgresServer
from tests.sinks.builders import HOST, SERIAL, T0, wait_until, with_energy


@pytest.fixture
async def conn(postgres: PostgresServer) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a migrated database."""
    connection = await connect(postgres.dsn)
    await migrate(connection)
    try:
        yield connection
    finally:
        await connection.close()


async def write_all(dsn: str, events: Sequence[SinkEvent], **options: Any) -> PostgresSink:
    sink = PostgresSink(dsn, **options)
    await sink.start()
    for event in events:
        sink.submit(event)
    await sink.close()
    return sink


def sqlite_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def ms(when: dt.datetime) -> int:
    return round(when.timestamp() * 1000)


async def test_same_rows_as_the_sqlite_sink(
    postgres: PostgresServer, simulated_events: list[Event], tmp_path: Path
) -> None:
    events = with_energy(simulated_events)
    path = tmp_path / "data.sqlite"
    lite = SqliteSink(path)
    await lite.start()
    for event in events:
        lite.submit(event)
    await lite.close()
    sink = await write_all(postgres.dsn, events, batch_size=37)
    assert sink.stats().written == len(events)
    assert sink.stats().dropped == 0
    conn = await connect(postgres.dsn)
    try:
        power = await conn.fetch(
            "SELECT gateway, time, production_w, consumption_w, net_w, storage_w,"
            " battery_soc_pct, grid_w, source FROM power_samples ORDER BY gateway, time"
        )
        assert [(r[0], ms(r[1]), *r[2:]) for r in power] == sqlite_rows(
            path,
            "SELECT gateway, time_ms, production_w, consumption_w, net_w, storage_w,"
            " battery_soc_pct, grid_w, source FROM power_samples ORDER BY gateway, time_ms",
        )
        assert len(power) >= 6  # the three sites, each sampled in every round after the first
        batteries = await conn.fetch("SELECT * FROM battery_samples ORDER BY gateway, time, serial")
        assert [(r[0], r[1], ms(r[2]), *r[3:]) for r in batteries] == sqlite_rows(
            path,
            "SELECT gateway, serial, time_ms, charge_pct, power_w, temperature_c"
            " FROM battery_samples ORDER BY gateway, time_ms, serial",
        )
        assert batteries
        inverters = await conn.fetch(
            "SELECT * FROM inverter_samples ORDER BY gateway, time, serial"
        )
        assert [(r[0], r[1], ms(r[2]), *r[3:]) for r in inverters] == sqlite_rows(
            path,
            "SELECT gateway, serial, time_ms, power_w, dc_voltage_v, dc_current_a, temperature_c"
            " FROM inverter_samples ORDER BY gateway, time_ms, serial",
        )
        assert inverters
        ledger = await conn.fetch("SELECT * FROM ledger ORDER BY gateway, start")
        buckets = [
            make_bucket(
                r["gateway"],
                int(r["start"].timestamp()),
                {f: r[f] for f in FLOWS},
                filled=r["filled"],
            )
            for r in ledger
        ]
        expected = read_ledger(path)
        assert [(b.gateway, b.start, b.filled) for b in buckets] == [
            (b.gateway, b.start, b.filled) for b in expected
        ]
        for got, want in zip(buckets, expected, strict=True):
            assert got.flows() == pytest.approx(want.flows())
        kinds = await conn.fetch("SELECT kind, count(*) FROM events GROUP BY kind ORDER BY kind")
        assert {r["kind"]: r["count"] for r in kinds} == dict(
            sqlite_rows(path, "SELECT kind, count(*) FROM events GROUP BY kind ORDER BY kind")
        )
    finally:
        await conn.close()


async def test_a_redelivered_batch_adds_no_row(
    conn: asyncpg.Connection, simulated_events: list[Event]
) -> None:
    readings = [reading_from_event(e) for e in with_energy(simulated_events)]
    writer = Writer()
    first = await writer.write(conn, readings)
    counts = await table_counts(conn)
    ledger = await conn.fetch("SELECT * FROM ledger ORDER BY gateway, start")
    again = await Writer().write(conn, readings[::-1])
    assert first.duplicates == 0
    assert (again.new, again.duplicates, again.samples) == (0, first.new, 0)
    assert await table_counts(conn) == counts
    assert await conn.fetch("SELECT * FROM ledger ORDER BY gateway, start") == ledger
    assert counts["events"] + counts["energy_events"] == len(readings)


async def table_counts(conn: asyncpg.Connection) -> dict[str, int]:
    tables = ("events", "energy_events", "power_samples", "battery_samples", "inverter_samples")
    return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables}  # noqa: S608


def energy_event(minutes: float, *, filled: bool = False, **flows: float) -> EnergyEvent:
    return EnergyEvent(
        serial=SERIAL,
        host=HOST,
        source="meters",
        at=T0 + dt.timedelta(minutes=minutes),
        flows=flows,
        filled=filled,
        totals=flows,
        counters={"meters.production.delivered_wh": flows.get(PRODUCTION, 0.0)},
    )


async def ledger_of(conn: asyncpg.Connection) -> dict[dt.datetime, float]:
    rows = await conn.fetch("SELECT start, production_wh FROM ledger ORDER BY start")
    return {row["start"]: row["production_wh"] for row in rows}


async def test_energy_out_of_order_ends_as_in_order(postgres: PostgresServer) -> None:
    # A minute-by-minute production counter over an hour and a half, one gap of 20 minutes.
    minutes = [m for m in range(90) if not 40 < m < 60]
    events = [energy_event(m, production_wh=5.0 * m + 0.01 * m * m) for m in minutes]
    readings = [reading_from_event(e) for e in events]
    ordered, shuffled = "ordered", "shuffled"
    admin = await connect(postgres.dsn)
    for name in (ordered, shuffled):
        await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    one = await connect(postgres.dsn_for(ordered))
    two = await connect(postgres.dsn_for(shuffled))
    try:
        for c in (one, two):
            await migrate(c)
        await Writer().write(one, readings)
        mixed = readings[:]
        random.Random(18).shuffle(mixed)
        writer = Writer()
        for start in range(0, len(mixed), 7):  # batches of seven, some delivered twice
            await writer.write(two, mixed[start : start + 7])
            await writer.write(two, mixed[start : start + 3])
        want, got = await ledger_of(one), await ledger_of(two)
        assert list(got) == list(want)
        assert list(got.values()) == pytest.approx(list(want.values()))
        assert sum(got.values()) == pytest.approx(5.0 * 89 + 0.01 * 89 * 89)
        filled = await two.fetch("SELECT start FROM ledger WHERE filled ORDER BY start")
        assert [r["start"] for r in filled] == [
            T0 + dt.timedelta(minutes=m) for m in (30, 45)
        ]  # the 20-minute gap: 40..60 reaches into these two quarters (and 60 starts anew)
        state = await two.fetch("SELECT gateway, source, time FROM energy_state")
        assert [tuple(r) for r in state] == [(SERIAL, "meters", T0 + dt.timedelta(minutes=89))]
    finally:
        await one.close()
        await two.close()


async def test_two_writers_at_once_count_each_link_once(postgres: PostgresServer) -> None:
    events = [energy_event(m, production_wh=10.0 * m) for m in range(60)]
    readings = [reading_from_event(e) for e in events]
    setup = await connect(postgres.dsn)
    await migrate(setup)
    await setup.close()
    conns = [await connect(postgres.dsn) for _ in range(2)]
    try:
        # Alternate readings, like a shared subscription hands them out, written concurrently.
        halves = [readings[0::2], readings[1::2]]

        async def write(conn: asyncpg.Connection, part: list[Any]) -> None:
            writer = Writer()
            for start in range(0, len(part), 4):
                await writer.write(conn, part[start : start + 4])

        await asyncio.gather(*(write(c, h) for c, h in zip(conns, halves, strict=True)))
        assert sum((await ledger_of(conns[0])).values()) == pytest.approx(590.0)
    finally:
        for c in conns:
            await c.close()


async def test_schema_is_versioned_and_a_newer_database_is_refused(
    postgres: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    conns = [await connect(postgres.dsn) for _ in range(3)]
    try:
        # Three processes starting together upgrade once.
        assert sorted(await asyncio.gather(*(migrate(c) for c in conns))) == [0, 1, 1]
        assert await schema_version(conns[0]) == SCHEMA_VERSION
        assert "TimescaleDB is not available" in caplog.text  # plain tables on this server
        hypertables = await conns[0].fetchval(
            "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"
        )
        assert hypertables == 0
        await conns[0].execute("INSERT INTO schema_version (version) VALUES (99)")
        with pytest.raises(SchemaVersionError, match="99 is newer"):
            await migrate(conns[1])
        with pytest.raises(SchemaVersionError, match="99 is newer"):
            await PostgresSink(postgres.dsn).start()
    finally:
        for c in conns:
            await c.close()


async def test_the_sink_waits_out_a_database_restart(postgres: PostgresServer) -> None:
    events = [energy_event(m, production_wh=10.0 * m) for m in range(40)]
    sink = PostgresSink(postgres.dsn, batch_size=5, flush_interval_s=0.05)
    await sink.start()
    for event in events[:10]:
        sink.submit(event)
    await wait_until(lambda: sink.stats().written == 10)
    await postgres.astop()
    for event in events[10:]:
        sink.submit(event)
    await wait_until(lambda: sink.stats().failures >= 1)
    await postgres.astart()
    await wait_until(lambda: sink.stats().written == 40, timeout_s=30)
    await sink.close()
    assert sink.stats().dropped == 0
    conn = await connect(postgres.dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM energy_events") == 40
        assert sum((await ledger_of(conn)).values()) == pytest.approx(390.0)
    finally:
        await conn.close()


async def test_a_restarted_sink_gives_the_tracker_its_last_energy(
    postgres: PostgresServer,
) -> None:
    await write_all(
        postgres.dsn, [energy_event(0, production_wh=0.0), energy_event(10, production_wh=100.0)]
    )
    sink = PostgresSink(postgres.dsn)
    await sink.start()
    try:
        [kept] = await sink.energy_state()
    finally:
        await sink.close()
    assert (kept.serial, kept.host, kept.source) == (SERIAL, HOST, "meters")
    assert (kept.flows, kept.totals) == ({PRODUCTION: 100.0}, {PRODUCTION: 100.0})
    assert kept.counters == {"meters.production.delivered_wh": 100.0}
    assert kept.at == T0 + dt.timedelta(minutes=10)
    assert total([]) == dict.fromkeys(FLOWS)


def test_the_password_never_shows() -> None:
    dsn = "postgresql://fleet:hunter2@db.example:5433/solar?sslmode=require"
    assert describe_dsn(dsn) == "postgresql://fleet@db.example:5433/solar?sslmode=require"
    assert "hunter2" not in repr(PostgresSink(dsn))
    assert describe_dsn("host=db user=fleet password=x") == "PostgreSQL (key=value DSN)"


async def test_hypertables_are_asked_for_with_timescaledbs_signature(
    conn: asyncpg.Connection,
) -> None:
    # No TimescaleDB in Debian's archive: a stand-in with the parameters of its
    # create_hypertable (relation, time column, ..., if_not_exists, migrate_data) that notes
    # each call shows what the migration asks for where the extension is installed.
    await conn.execute("CREATE TABLE calls (relation text, time_column text, flags text)")
    await conn.execute(
        """CREATE FUNCTION create_hypertable(
            relation regclass, time_column_name name, partitioning_column name DEFAULT NULL,
            number_partitions integer DEFAULT NULL, associated_schema_name name DEFAULT NULL,
            associated_table_prefix name DEFAULT NULL, chunk_time_interval anyelement DEFAULT
            NULL::bigint, create_default_indexes boolean DEFAULT true,
            if_not_exists boolean DEFAULT false, partitioning_func regproc DEFAULT NULL,
            migrate_data boolean DEFAULT false) RETURNS void LANGUAGE sql AS $$
            INSERT INTO calls VALUES (relation::text, time_column_name::text,
                                      if_not_exists::text || ' ' || migrate_data::text)
        $$"""
    )
    await make_hypertables(conn)
    calls = await conn.fetch("SELECT * FROM calls")
    assert [tuple(c) for c in calls] == [
        ("events", "time", "true true"),
        ("energy_events", "time", "true true"),
        ("power_samples", "time", "true true"),
        ("battery_samples", "time", "true true"),
        ("inverter_samples", "time", "true true"),
        ("ledger", "start", "true true"),
    ]


async def test_a_reading_the_database_refuses_does_not_hold_up_the_rest(
    postgres: PostgresServer,
) -> None:
    refused = ErrorEvent(
        serial=SERIAL,
        host=HOST,
        endpoint="info",
        error=EnphaseError("a NUL \x00 no PostgreSQL text can hold"),
        at=T0,
        latency_s=0.1,
    )
    events: list[SinkEvent] = [
        energy_event(0, production_wh=0.0),
        refused,
        energy_event(5, production_wh=50.0),
    ]
    sink = await write_all(postgres.dsn, events)
    assert (sink.new, sink.refused) == (2, 1)
    conn = await connect(postgres.dsn)
    try:
        assert sum((await ledger_of(conn)).values()) == pytest.approx(50.0)
    finally:
        await conn.close()
