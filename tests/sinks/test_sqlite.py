"""The SQLite sink against real files: schema, WAL, permissions, resume, kill, stall."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import sqlite3
import stat
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs
import pytest

from enphase_local import models
from enphase_local.energy import PRODUCTION, total
from enphase_local.errors import GatewayTimeoutError
from enphase_local.events import (
    ControlRevertedEvent,
    CounterDecision,
    CounterEvent,
    DataEvent,
    EnergyEvent,
    ErrorEvent,
    Event,
    SinkEvent,
)
from enphase_local.export import to_data
from enphase_local.power import PowerTracker
from enphase_local.simulator import Simulation
from enphase_local.sinks import (
    SchemaVersionError,
    SqliteSink,
    read_battery_samples,
    read_ledger,
    read_power_samples,
)
from enphase_local.sinks.samples import DeviceSampler
from enphase_local.sinks.sqlite import MIGRATIONS, SCHEMA_VERSION, migrate, open_database
from tests.sinks.builders import HOST, SERIAL, T0, data_event, production, wait_until

ROOT = Path(__file__).resolve().parents[2]


def query(path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Run with umask 0, so only the code's own chmod makes a file private."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


async def write_all(path: Path, events: Sequence[SinkEvent], **options: float) -> SqliteSink:
    sink = SqliteSink(path, **options)  # type: ignore[arg-type]  # numeric options only
    await sink.start()
    for event in events:
        sink.submit(event)
    await sink.close()
    return sink


@pytest.mark.usefixtures("open_umask")
async def test_file_is_private_wal_versioned_and_indexed(
    tmp_path: Path, simulated_events: list[Event]
) -> None:
    path = tmp_path / "data.sqlite"
    sink = SqliteSink(path, batch_size=10)
    await sink.start()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for event in simulated_events:
        sink.submit(event)
    await wait_until(lambda: sink.stats().written >= len(simulated_events) // 2)
    wal = path.with_name(path.name + "-wal")
    assert wal.exists()
    assert stat.S_IMODE(wal.stat().st_mode) == 0o600
    await sink.close()

    stats = sink.stats()
    assert (stats.submitted, stats.written, stats.dropped) == (len(simulated_events),) * 2 + (0,)
    assert query(path, "PRAGMA journal_mode") == [("wal",)]
    assert query(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    indexes = {row[0] for row in query(path, "SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"events_gateway_time", "power_samples_gateway_time"} <= indexes
    plan = " ".join(
        str(row[-1])
        for row in query(
            path,
            "EXPLAIN QUERY PLAN SELECT * FROM power_samples WHERE gateway = ? AND time_ms > ?",
            "x",
            0,
        )
    )
    assert "power_samples_gateway_time" in plan


async def test_rows_hold_the_events_and_their_power_samples(
    tmp_path: Path, simulated_events: list[Event], simulation: Simulation
) -> None:
    path = tmp_path / "data.sqlite"
    sink = await write_all(path, simulated_events)
    rows = query(
        path, "SELECT gateway, host, endpoint, kind, time_ms, data FROM events ORDER BY id"
    )
    assert len(rows) == len(simulated_events)
    for event, (gateway, host, endpoint, kind, time_ms, data) in zip(
        simulated_events, rows, strict=True
    ):
        assert host == event.host
        assert gateway == (event.serial or event.host)
        if isinstance(event, DataEvent):
            assert (endpoint, kind) == (event.endpoint, "data")
            assert json.loads(str(data)) == to_data(event.model)
            assert time_ms == round(event.fetched_at.timestamp() * 1000)
    kinds = {row[3] for row in rows}
    assert kinds == {"state", "data", "unsupported"}

    tracker = PowerTracker()
    expected = [s for s in map(tracker.update, simulated_events) if s is not None]
    assert sink.samples_written == len(expected)
    assert read_power_samples(path) == sorted(expected, key=lambda s: (s.gateway, s.at))
    # Reading leaves no write-ahead log files behind once the writer has closed.
    assert names_in(tmp_path) == ["data.sqlite"]
    sources = {s.gateway: s.source for s in expected}
    battery, metered, standard = (g.serial for g in simulation.gateways)
    assert sources == {battery: "meters", metered: "meters", standard: "production"}
    # Live data (the only source of the state of charge) comes after the first readings.
    socs = [s.battery_soc_pct is not None for s in expected if s.gateway == battery]
    assert socs == [False, True, True]

    secrets = [g.token for g in simulation.gateways if g.token is not None]
    assert secrets
    assert not files_contain(tmp_path, secrets)


def names_in(folder: Path) -> list[str]:
    """The names of the files in ``folder``, sorted."""
    return sorted(p.name for p in folder.iterdir())


def files_contain(folder: Path, secrets: list[str]) -> bool:
    """Whether any file in ``folder`` (the database, its WAL) holds one of ``secrets``."""
    everything = b"".join(p.read_bytes() for p in folder.iterdir())
    return any(secret.encode() in everything for secret in secrets)


async def test_error_text_is_written_as_given(tmp_path: Path) -> None:
    path = tmp_path / "data.sqlite"
    error = ErrorEvent(
        serial=SERIAL,
        host=HOST,
        endpoint="inverters",
        error=GatewayTimeoutError("no answer from envoy.local within 45 s"),
        at=T0,
        latency_s=45.0,
    )
    await write_all(path, [error])
    ((kind, endpoint, latency, data),) = query(
        path, "SELECT kind, endpoint, latency_s, data FROM events"
    )
    assert (kind, endpoint, latency) == ("error", "inverters", 45.0)
    assert json.loads(str(data)) == {
        "type": "GatewayTimeoutError",
        "message": "no answer from envoy.local within 45 s",
    }


async def test_a_control_revert_is_kept_as_its_own_kind(tmp_path: Path) -> None:
    path = tmp_path / "data.sqlite"
    revert = ControlRevertedEvent(
        serial=SERIAL,
        host=HOST,
        control="set_storage_mode",
        endpoint="tariff",
        expected={"mode": "savings"},
        observed={"mode": "self-consumption"},
        written_at=T0,
        at=T0 + dt.timedelta(seconds=95),
        reason="mode=self-consumption where set_storage_mode set mode=savings 95 s before",
    )
    await write_all(path, [revert])
    ((kind, endpoint, latency, data),) = query(
        path, "SELECT kind, endpoint, latency_s, data FROM events"
    )
    assert (kind, endpoint, latency) == ("control_reverted", "tariff", None)
    assert json.loads(str(data)) == {
        "control": "set_storage_mode",
        "expected": {"mode": "savings"},
        "observed": {"mode": "self-consumption"},
        "written_at": T0.isoformat(),
        "reason": revert.reason,
    }


def test_no_model_field_is_a_secret() -> None:
    secret_words = ("token", "password", "cookie", "session", "secret", "jwt")
    flags = {("Info", "web_tokens")}  # whether the gateway wants tokens: a bool, not a token
    for name in models.__all__:
        cls = getattr(models, name)
        if attrs.has(cls):
            for field in attrs.fields(cls):
                if (name, field.name) not in flags:
                    assert not any(word in field.name for word in secret_words), (name, field.name)


async def test_restart_appends(tmp_path: Path) -> None:
    path = tmp_path / "data.sqlite"
    first = [data_event("production", production(float(i))) for i in range(5)]
    later = [
        data_event("production", production(float(i)), at=T0 + dt.timedelta(minutes=5))
        for i in range(3)
    ]
    await write_all(path, first)
    await write_all(path, later)
    ids = [row[0] for row in query(path, "SELECT id FROM events ORDER BY id")]
    assert ids == list(range(1, 9))
    assert len(read_power_samples(path)) == 8
    assert len(read_power_samples(path, since=T0 + dt.timedelta(minutes=1))) == 3
    assert read_power_samples(path, gateway="someone else") == []


_KILLED_WRITER = """
import asyncio, sys
from enphase_local.sinks import SqliteSink
from tests.sinks.builders import data_event, production

async def main():
    sink = SqliteSink(sys.argv[1], batch_size=10, flush_interval_s=3600)
    await sink.start()
    for i in range(37):
        sink.submit(data_event("production", production(float(i))))
    while sink.stats().written < 30:
        await asyncio.sleep(0.01)
    print("READY", sink.stats().written, sink.stats().backlog, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_a_killed_writer_loses_at_most_the_last_batch(tmp_path: Path) -> None:
    path = tmp_path / "data.sqlite"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _KILLED_WRITER,
        str(path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    async with asyncio.timeout(60):
        line = await child.stdout.readline()
    assert line.split() == [b"READY", b"30", b"7"]
    child.send_signal(signal.SIGKILL)
    assert await child.wait() == -signal.SIGKILL

    assert query(path, "PRAGMA integrity_check") == [("ok",)]
    assert query(path, "SELECT COUNT(*), MAX(id) FROM events") == [(30, 30)]
    await write_all(path, [data_event("production", production(1.0))] * 4)
    assert query(path, "SELECT COUNT(*), MAX(id) FROM events") == [(34, 34)]


async def test_stalled_writer_bounds_the_backlog_and_counts_drops(tmp_path: Path) -> None:
    path = tmp_path / "data.sqlite"
    sink = SqliteSink(path, batch_size=10, max_backlog=50, max_attempts=1000, busy_timeout_s=0.01)
    await sink.start()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holding the file: writes stall
    try:
        for i in range(10):
            sink.submit(data_event("production", production(float(i))))
        await wait_until(lambda: sink.stats().failures > 0)
        for i in range(10, 1010):
            sink.submit(data_event("production", production(float(i))))
        stalled = sink.stats()
        assert stalled.backlog == 60
        assert stalled.dropped == 950
        assert stalled.last_error is not None
        assert "locked" in stalled.last_error
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await sink.close()
    stats = sink.stats()
    assert (stats.submitted, stats.written, stats.dropped) == (1010, 60, 950)
    powers = [row[0] for row in query(path, "SELECT production_w FROM power_samples ORDER BY id")]
    assert powers == [float(i) for i in range(10)] + [float(i) for i in range(960, 1010)]


def _add_note_column(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE events ADD COLUMN note TEXT")


def _broken_step(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE half_done (x)")
    raise sqlite3.OperationalError("step failed")


def test_migrations_run_in_order_and_roll_back_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "data.sqlite"
    conn = open_database(path)
    now, later = SCHEMA_VERSION, SCHEMA_VERSION + 1
    try:
        with pytest.raises(sqlite3.OperationalError, match="step failed"):
            migrate(conn, migrations={**MIGRATIONS, now: _broken_step}, target=later)
        assert conn.execute("PRAGMA user_version").fetchone() == (now,)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "half_done" not in tables

        assert migrate(conn, migrations={**MIGRATIONS, now: _add_note_column}, target=later) == now
        assert conn.execute("PRAGMA user_version").fetchone() == (later,)
        columns = {r[1] for r in conn.execute("PRAGMA table_info(events)")}
        assert "note" in columns
        with pytest.raises(SchemaVersionError, match=f"no migration from schema version {later}"):
            migrate(conn, target=later + 1)
    finally:
        conn.close()


def test_a_version_1_file_gets_the_ledger_and_device_tables_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=1)
    conn.execute(
        "INSERT INTO power_samples (gateway, time_ms, production_w, source)"
        " VALUES ('g', 0, 1.5, 'meters')"
    )
    conn.close()
    assert read_ledger(path) == []  # a version 1 file has none
    assert read_battery_samples(path) == []
    open_database(path).close()
    assert query(path, "PRAGMA user_version") == [(3,)]
    assert query(path, "SELECT production_w FROM power_samples") == [(1.5,)]
    assert query(path, "SELECT COUNT(*) FROM ledger") == [(0,)]
    assert query(path, "SELECT COUNT(*) FROM battery_samples") == [(0,)]
    assert query(path, "SELECT COUNT(*) FROM inverter_samples") == [(0,)]


async def test_a_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaVersionError, match="newer"):
        await SqliteSink(path).start()
    with pytest.raises(SchemaVersionError, match=f"schema version {SCHEMA_VERSION + 1}"):
        read_power_samples(path)


def test_reading_a_missing_or_foreign_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_power_samples(tmp_path / "nothing.sqlite")
    foreign = tmp_path / "other.sqlite"
    sqlite3.connect(foreign).close()
    foreign.write_bytes(foreign.read_bytes())
    with pytest.raises(SchemaVersionError, match="not an enphase-local database"):
        read_power_samples(foreign)


def test_an_existing_file_keeps_its_mode(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "shared.sqlite"
    path.touch(mode=0o644)
    path.chmod(0o644)
    open_database(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert "readable by others" in caplog.text


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


async def test_energy_events_make_the_ledger_and_decisions_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "data.sqlite"
    held = CounterEvent(
        serial=SERIAL,
        host=HOST,
        counter="meters.production.delivered_wh",
        decision=CounterDecision.HELD,
        value=0.0,
        previous=1000.0,
        at=T0,
        reason="dropped from 1000 to 0 Wh: held until confirmed",
    )
    events: list[SinkEvent] = [
        energy_event(0, production_wh=1000.0, grid_import_wh=50.0),
        held,
        *(
            energy_event(minutes, production_wh=1000.0 + 10 * minutes, grid_import_wh=imported)
            for minutes, imported in ((5, 50.0), (10, 50.0), (15, 65.0), (20, 80.0))
        ),
    ]
    await write_all(path, events)
    buckets = read_ledger(path)
    assert [b.start for b in buckets] == [T0, T0 + dt.timedelta(minutes=15)]
    assert [b.production_wh for b in buckets] == pytest.approx([150.0, 50.0])
    assert [b.grid_import_wh for b in buckets] == pytest.approx([15.0, 15.0])
    assert buckets[0].consumption_wh is None
    assert not any(b.filled for b in buckets)
    assert read_ledger(path, since=T0 + dt.timedelta(minutes=1)) == buckets[1:]
    rows = query(path, "SELECT kind, endpoint, data FROM events")
    assert [(kind, endpoint) for kind, endpoint, _ in rows] == [("counter", None)]
    assert json.loads(str(rows[0][2])) == {
        "counter": "meters.production.delivered_wh",
        "decision": "held",
        "value": 0.0,
        "previous": 1000.0,
        "reason": held.reason,
    }
    [(state_time,)] = query(path, "SELECT time_ms FROM energy_state")
    assert state_time == (T0 + dt.timedelta(minutes=20)).timestamp() * 1000


async def test_a_restarted_sink_goes_on_without_counting_twice(tmp_path: Path) -> None:
    path = tmp_path / "data.sqlite"
    await write_all(
        path, [energy_event(0, production_wh=0.0), energy_event(10, production_wh=100.0)]
    )
    sink = SqliteSink(path)
    await sink.start()
    [kept] = await sink.energy_state()
    assert (kept.source, kept.flows, kept.totals) == (
        "meters",
        {PRODUCTION: 100.0},
        {PRODUCTION: 100.0},
    )
    assert kept.at == T0 + dt.timedelta(minutes=10)
    sink.submit(energy_event(130, production_wh=1300.0, filled=True))  # two hours later
    await sink.close()
    buckets = read_ledger(path)
    assert total(buckets)[PRODUCTION] == pytest.approx(1300.0)
    assert [b.start for b in buckets] == [T0 + k * dt.timedelta(minutes=15) for k in range(9)]
    assert all(b.filled for b in buckets)  # the gap reaches into each quarter


async def test_a_failed_batch_is_retried_without_losing_or_doubling_energy(tmp_path: Path) -> None:
    path = tmp_path / "data.sqlite"
    await write_all(path, [energy_event(0, production_wh=0.0)])
    sink = SqliteSink(path, busy_timeout_s=0.01, max_attempts=1000, flush_interval_s=0.01)
    await sink.start()
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        for minute in range(1, 4):
            sink.submit(energy_event(minute, production_wh=100.0 * minute))
        await wait_until(lambda: sink.stats().failures >= 2)
        blocker.execute("COMMIT")
    finally:
        blocker.close()
    await sink.close()
    assert total(read_ledger(path))[PRODUCTION] == pytest.approx(300.0)


async def test_battery_and_inverter_samples_have_typed_rows(
    tmp_path: Path, simulated_events: list[Event], simulation: Simulation
) -> None:
    path = tmp_path / "data.sqlite"
    await write_all(path, simulated_events)
    battery_site = simulation.gateways[0].serial
    power = [
        e.model
        for e in simulated_events
        if isinstance(e, DataEvent) and e.endpoint == "battery_power" and e.serial == battery_site
    ]
    inventories = [
        e.model
        for e in simulated_events
        if isinstance(e, DataEvent) and e.endpoint == "inventory" and e.serial == battery_site
    ]
    rows = query(
        path,
        "SELECT serial, charge_pct, power_w, temperature_c FROM battery_samples"
        " WHERE gateway = ? ORDER BY id",
        battery_site,
    )
    # Each round reads the inventory before the power: the temperature is that round's.
    assert len(power) == len(inventories) == 3
    assert len(power[0].batteries) == 2
    temperatures = [{b.serial_number: b.temperature_c for b in i.batteries} for i in inventories]
    assert rows == [
        (b.serial_number, b.charge_percent, b.active_power_w, temperatures[n][b.serial_number])
        for n, model in enumerate(power)
        for b in model.batteries
    ]
    assert all(row[3] is not None for row in rows)
    inverters = query(
        path,
        "SELECT gateway, serial, power_w, dc_voltage_v, dc_current_a, temperature_c"
        " FROM inverter_samples ORDER BY id",
    )
    device_data = [
        e for e in simulated_events if isinstance(e, DataEvent) and e.endpoint == "device_data"
    ]
    expected = []
    for event in device_data:
        for device in event.model.inverters:
            channel = device.channels[0]
            reading = channel.last_reading
            assert reading is not None
            values = (reading.dc_voltage_v, reading.dc_current_a, reading.temperature_c)
            expected.append((event.serial, device.serial_number, channel.power_w, *values))
    assert expected
    assert inverters == expected
    assert all(isinstance(row[3], float) and row[3] > 0 for row in inverters)


async def test_battery_samples_read_back(
    tmp_path: Path, simulated_events: list[Event], simulation: Simulation
) -> None:
    path = tmp_path / "data.sqlite"
    await write_all(path, simulated_events)
    sampler = DeviceSampler()
    written = [sample for event in simulated_events for sample in sampler.batteries(event)]
    assert len(written) == 6  # two batteries, three rounds
    in_ms = [
        attrs.evolve(s, at=dt.datetime.fromtimestamp(round(s.at.timestamp() * 1000) / 1000, dt.UTC))
        for s in written
    ]
    assert read_battery_samples(path) == in_ms
    site = simulation.gateways[0].serial
    assert read_battery_samples(path, gateway=site) == in_ms
    assert read_battery_samples(path, gateway=simulation.gateways[1].serial) == []
    assert read_battery_samples(path, since=in_ms[2].at) == in_ms[2:]
