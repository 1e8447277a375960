"""The embedded default sink: one SQLite file with every event, typed power, battery and
inverter tables, and the energy ledger.

The file is created with mode 0600 (whatever the umask) before SQLite opens it; SQLite gives
its ``-wal`` and ``-shm`` files the same mode. It runs in WAL mode with ``synchronous=NORMAL``:
a crash or kill of the process loses at most the batch not yet written (``batch_size`` events
or ``flush_interval_s`` seconds), a power cut may also lose the last few commits, and the file
always stays consistent. A restart appends to the same tables.

All SQLite work happens in one dedicated thread, never on the event loop. Schema (version 3,
kept in ``PRAGMA user_version``; :data:`MIGRATIONS` upgrades older files step by step)::

    events(id, gateway, host, endpoint, kind, time_ms, latency_s, data)
    power_samples(id, gateway, time_ms, production_w, consumption_w, net_w,
                  storage_w, battery_soc_pct, grid_w, source)
    ledger(gateway, start_ms, production_wh, consumption_wh, grid_import_wh,
           grid_export_wh, battery_charge_wh, battery_discharge_wh, filled)
    energy_state(gateway, source, serial, host, time_ms, flows, totals, counters)
    battery_samples(id, gateway, serial, time_ms, charge_pct, power_w, temperature_c)
    inverter_samples(id, gateway, serial, time_ms, power_w, dc_voltage_v, dc_current_a,
                     temperature_c)

``gateway`` is the serial number (the configured host before the serial is known),
``time_ms`` milliseconds since the Unix epoch (UTC), ``kind`` one of ``data``, ``error``,
``state``, ``unsupported``, ``counter``, ``control_reverted``, and ``data`` JSON:
``to_data(model)`` for data events, ``{"type", "message"}`` for errors, ``{"previous",
"state", "reason"}`` for state changes, ``{"reason"}`` for unsupported endpoints,
``{"counter", "decision", "value", "previous", "reason"}`` for the counter guard's decisions
and ``{"control", "expected", "observed", "written_at", "reason"}`` for a control write undone
without a write of ours (``endpoint`` the read that showed it). Power columns follow
:mod:`enphase_local.power`'s sign conventions.

The energy events (:class:`~enphase_local.events.EnergyEvent`, one per reading of an energy
source) are not kept one by one: they make the ``ledger``, one row per gateway and quarter
hour from ``start_ms`` on (see :mod:`enphase_local.energy.ledger`; a flow is NULL where
nothing measures it, ``filled`` is 1 where energy was spread over a gap), and
``energy_state`` keeps each source's last one, so that a restarted poller goes on from it
(:meth:`SqliteSink.energy_state`) without counting anything twice.

``battery_samples`` has one row per IQ Battery and ``battery_power`` reading (its temperature
from the latest inventory), ``inverter_samples`` one per microinverter and ``device_data``
reading (see :mod:`enphase_local.sinks.samples`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

from enphase_local.energy import FLOWS, Ledger, LedgerBucket
from enphase_local.energy.ledger import Mark, Share, make_bucket
from enphase_local.errors import EnphaseError
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
from enphase_local.export import to_data
from enphase_local.power import PowerSample, PowerTracker, gateway_key
from enphase_local.sinks.base import (
    BatchRunner,
    SinkStats,
    event_endpoint,
    event_kind,
    event_time,
)
from enphase_local.sinks.samples import BatterySample, DeviceSampler, InverterSample

_LOGGER = logging.getLogger(__name__)

R = TypeVar("R")

#: The schema version this code writes.
SCHEMA_VERSION = 3

#: A migration step: upgrades a connection's schema by one version inside a transaction.
Migration = Callable[[sqlite3.Connection], None]

_SCHEMA_V1 = (
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        gateway TEXT NOT NULL,
        host TEXT NOT NULL,
        endpoint TEXT,
        kind TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        latency_s REAL,
        data TEXT NOT NULL
    )""",
    "CREATE INDEX events_gateway_time ON events (gateway, time_ms)",
    """CREATE TABLE power_samples (
        id INTEGER PRIMARY KEY,
        gateway TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        production_w REAL,
        consumption_w REAL,
        net_w REAL,
        storage_w REAL,
        battery_soc_pct REAL,
        grid_w REAL,
        source TEXT NOT NULL
    )""",
    "CREATE INDEX power_samples_gateway_time ON power_samples (gateway, time_ms)",
)


_FLOW_COLUMNS = ", ".join(f"{flow} REAL" for flow in FLOWS)
_SCHEMA_V2 = (
    f"""CREATE TABLE ledger (
        gateway TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        {_FLOW_COLUMNS},
        filled INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (gateway, start_ms)
    ) WITHOUT ROWID""",
    """CREATE TABLE energy_state (
        gateway TEXT NOT NULL,
        source TEXT NOT NULL,
        serial TEXT,
        host TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        flows TEXT NOT NULL,
        totals TEXT NOT NULL,
        counters TEXT NOT NULL,
        PRIMARY KEY (gateway, source)
    ) WITHOUT ROWID""",
)


def _create_v1(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA_V1:
        conn.execute(statement)


def _add_ledger(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA_V2:
        conn.execute(statement)


_SCHEMA_V3 = (
    """CREATE TABLE battery_samples (
        id INTEGER PRIMARY KEY,
        gateway TEXT NOT NULL,
        serial TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        charge_pct REAL,
        power_w REAL,
        temperature_c REAL
    )""",
    "CREATE INDEX battery_samples_gateway_time ON battery_samples (gateway, time_ms)",
    """CREATE TABLE inverter_samples (
        id INTEGER PRIMARY KEY,
        gateway TEXT NOT NULL,
        serial TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        power_w REAL,
        dc_voltage_v REAL,
        dc_current_a REAL,
        temperature_c REAL
    )""",
    "CREATE INDEX inverter_samples_gateway_time ON inverter_samples (gateway, time_ms)",
)


def _add_devices(conn: sqlite3.Connection) -> None:
    """Typed per-battery and per-inverter samples."""
    for statement in _SCHEMA_V3:
        conn.execute(statement)


#: Upgrade steps by the version they start from: ``MIGRATIONS[n]`` turns version n into n + 1.
#: Version 0 is an empty file.
MIGRATIONS: Mapping[int, Migration] = {0: _create_v1, 1: _add_ledger, 2: _add_devices}


class SchemaVersionError(EnphaseError):
    """The file's schema is newer than this code, or the file is not one of ours."""


def create_private_file(path: Path) -> bool:
    """Create ``path`` with mode 0600 unless it exists; return whether it was created.

    The mode is set with ``fchmod`` after creation, so a permissive umask cannot widen it.
    An existing file keeps its mode (a warning says so when others can read it).
    """
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            _LOGGER.warning("%s is readable by others (mode %o); consider chmod 600", path, mode)
        return False
    try:
        if hasattr(os, "fchmod"):  # POSIX; Windows has no permission bits to set
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return True


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version stored in the file (``PRAGMA user_version``)."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(
    conn: sqlite3.Connection,
    *,
    migrations: Mapping[int, Migration] = MIGRATIONS,
    target: int = SCHEMA_VERSION,
) -> int:
    """Bring the schema up to ``target``, one transaction per step; return the old version.

    A failing step rolls back, leaving the file at the last version reached. The connection
    must be in autocommit mode (``isolation_level=None``).
    """
    start = version = user_version(conn)
    if version > target:
        raise SchemaVersionError(
            f"database schema version {version} is newer than this version of enphase-local "
            f"understands ({target})"
        )
    while version < target:
        step = migrations.get(version)
        if step is None:
            raise SchemaVersionError(f"no migration from schema version {version}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(conn)
            conn.execute(f"PRAGMA user_version = {version + 1:d}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        version += 1
        _LOGGER.info("database schema upgraded to version %d", version)
    return start


def _epoch_ms(when: dt.datetime) -> int:
    return round(when.timestamp() * 1000)


def _payload(event: SinkEvent) -> Any:
    if isinstance(event, DataEvent):
        return to_data(event.model)
    if isinstance(event, ErrorEvent):
        return {"type": type(event.error).__name__, "message": str(event.error)}
    if isinstance(event, StateEvent):
        return {
            "previous": event.previous.value,
            "state": event.state.value,
            "reason": event.reason,
        }
    if isinstance(event, CounterEvent):
        return {
            "counter": event.counter,
            "decision": event.decision.value,
            "value": event.value,
            "previous": event.previous,
            "reason": event.reason,
        }
    if isinstance(event, EnergyEvent):
        return {"source": event.source, "flows": event.flows, "filled": event.filled}
    return _reason_payload(event)


def _reason_payload(event: UnsupportedEvent | ControlRevertedEvent) -> Any:
    if isinstance(event, ControlRevertedEvent):
        return {
            "control": event.control,
            "expected": event.expected,
            "observed": event.observed,
            "written_at": event.written_at.isoformat(),
            "reason": event.reason,
        }
    return {"reason": event.reason}


def event_row(event: SinkEvent) -> tuple[Any, ...]:
    """The ``events`` row of an event (without ``id``)."""
    latency = event.latency_s if isinstance(event, DataEvent | ErrorEvent) else None
    return (
        gateway_key(event),
        event.host,
        event_endpoint(event),
        event_kind(event),
        _epoch_ms(event_time(event)),
        latency,
        # orjson writes NaN and infinities as null, keeping the column valid JSON.
        orjson.dumps(_payload(event)).decode(),
    )


def sample_row(sample: PowerSample) -> tuple[Any, ...]:
    """The ``power_samples`` row of a sample (without ``id``)."""
    return (
        sample.gateway,
        _epoch_ms(sample.at),
        sample.production_w,
        sample.consumption_w,
        sample.net_w,
        sample.storage_w,
        sample.battery_soc_pct,
        sample.grid_w,
        sample.source,
    )


_INSERT_EVENT = (
    "INSERT INTO events (gateway, host, endpoint, kind, time_ms, latency_s, data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_SAMPLE = (
    "INSERT INTO power_samples (gateway, time_ms, production_w, consumption_w, net_w,"
    " storage_w, battery_soc_pct, grid_w, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# A flow a share does not carry stays as it was (NULL when nothing ever measured it).
_ADD_FLOWS = ", ".join(
    f"{flow} = CASE WHEN excluded.{flow} IS NULL THEN {flow}"
    f" ELSE COALESCE({flow}, 0) + excluded.{flow} END"
    for flow in FLOWS
)
_ADD_SHARE = (
    f"INSERT INTO ledger (gateway, start_ms, {', '.join(FLOWS)}, filled)"  # noqa: S608 - fixed names
    f" VALUES (?, ?, {', '.join('?' for _ in FLOWS)}, ?)"
    f" ON CONFLICT (gateway, start_ms) DO UPDATE SET {_ADD_FLOWS},"
    " filled = filled OR excluded.filled"
)
_SAVE_STATE = (
    "INSERT OR REPLACE INTO energy_state (gateway, source, serial, host, time_ms, flows,"
    " totals, counters) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def share_row(share: Share) -> tuple[Any, ...]:
    """The ``ledger`` values a share adds (without the flows it does not carry)."""
    return (
        share.gateway,
        share.start_s * 1000,
        *(share.flows.get(flow) for flow in FLOWS),
        int(share.filled),
    )


def state_row(event: EnergyEvent) -> tuple[Any, ...]:
    """The ``energy_state`` row an energy event leaves."""
    return (
        gateway_key(event),
        event.source,
        event.serial,
        event.host,
        _epoch_ms(event.at),
        orjson.dumps(dict(event.flows)).decode(),
        orjson.dumps(dict(event.totals)).decode(),
        orjson.dumps(dict(event.counters)).decode(),
    )


def _state_event(row: sqlite3.Row) -> EnergyEvent:
    return EnergyEvent(
        serial=row["serial"],
        host=row["host"],
        source=row["source"],
        at=dt.datetime.fromtimestamp(row["time_ms"] / 1000, dt.UTC),
        flows=orjson.loads(row["flows"]),
        totals=orjson.loads(row["totals"]),
        counters=orjson.loads(row["counters"]),
    )


def read_energy_state(conn: sqlite3.Connection) -> list[EnergyEvent]:
    """The last energy event of every gateway's sources kept in the file."""
    conn.row_factory = sqlite3.Row
    try:
        return [_state_event(row) for row in conn.execute("SELECT * FROM energy_state")]
    finally:
        conn.row_factory = None


_INSERT_BATTERY = (
    "INSERT INTO battery_samples (gateway, serial, time_ms, charge_pct, power_w, temperature_c)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_INVERTER = (
    "INSERT INTO inverter_samples (gateway, serial, time_ms, power_w, dc_voltage_v,"
    " dc_current_a, temperature_c) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def battery_row(sample: BatterySample) -> tuple[Any, ...]:
    """The ``battery_samples`` row of ``sample``."""
    at = _epoch_ms(sample.at)
    return (sample.gateway, sample.serial, at, sample.charge_pct, sample.power_w,
            sample.temperature_c)  # fmt: skip


def inverter_row(sample: InverterSample) -> tuple[Any, ...]:
    """The ``inverter_samples`` row of ``sample``."""
    at = _epoch_ms(sample.at)
    return (sample.gateway, sample.serial, at, sample.power_w, sample.dc_voltage_v,
            sample.dc_current_a, sample.temperature_c)  # fmt: skip


def open_database(path: Path, *, busy_timeout_s: float = 5.0) -> sqlite3.Connection:
    """Create (0600) or open the file, switch on WAL, and migrate it to the current schema."""
    create_private_file(path)
    conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteSink:
    """Writes every event, a power sample per primary poll and the energy ledger to a SQLite
    file (events from the energy tracker: see :class:`~enphase_local.sinks.SinkSet`).

    ``batch_size`` events or ``flush_interval_s`` seconds make one transaction; at most
    ``max_backlog`` events wait (the oldest are dropped beyond that, counted in
    :meth:`stats`); a batch that fails ``max_attempts`` times is dropped and counted.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        batch_size: int = 200,
        flush_interval_s: float = 2.0,
        max_backlog: int = 20_000,
        max_attempts: int = 5,
        busy_timeout_s: float = 5.0,
        close_timeout_s: float = 30.0,
    ) -> None:
        #: The database file.
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._close_timeout_s = close_timeout_s
        self._runner: BatchRunner[SinkEvent] = BatchRunner(
            self.name,
            self._write,
            max_backlog=max_backlog,
            batch_size=batch_size,
            flush_interval_s=flush_interval_s,
            max_attempts=max_attempts,
        )
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._tracker = PowerTracker()
        self._ledger = Ledger()
        self._devices = DeviceSampler()
        self._samples_written = 0

    @property
    def name(self) -> str:
        """``sqlite``."""
        return "sqlite"

    @property
    def samples_written(self) -> int:
        """Power samples written since start."""
        return self._samples_written

    async def start(self) -> None:
        """Open (or create) the file in the writer thread and start writing."""
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="enphase-local-sqlite")
        try:
            await self._in_thread(self._open)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        self._runner.start()

    def submit(self, event: SinkEvent) -> None:
        """Queue an event for the next batch (never blocks)."""
        self._runner.put(event)

    async def energy_state(self) -> list[EnergyEvent]:
        """The last energy event of each gateway's sources written so far (after
        :meth:`start`), for the energy tracker to go on from."""
        conn = self._conn
        assert conn is not None, "start the sink first"
        return await self._in_thread(lambda: read_energy_state(conn))

    async def close(self) -> None:
        """Write what is queued (within ``close_timeout_s``), then close the file."""
        await self._runner.close(self._close_timeout_s)
        if self._executor is not None:
            await self._in_thread(self._close_db)
            self._executor.shutdown(wait=False)
            self._executor = None

    def stats(self) -> SinkStats:
        """Events submitted, written, dropped and waiting."""
        return self._runner.stats()

    async def _in_thread(self, func: Callable[[], R]) -> R:
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, func)

    def _open(self) -> None:
        self._conn = open_database(self.path, busy_timeout_s=self._busy_timeout_s)
        for event in read_energy_state(self._conn):
            mark = Mark(at_s=event.at.timestamp(), flows=event.flows)
            self._ledger.restore(gateway_key(event), event.source, mark)

    def _close_db(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _write(self, batch: list[SinkEvent]) -> None:
        await self._in_thread(lambda: self._write_batch(batch))

    def _write_batch(self, batch: list[SinkEvent]) -> None:
        conn = self._conn
        assert conn is not None
        rows = [event_row(event) for event in batch if not isinstance(event, EnergyEvent)]
        samples = [
            sample_row(sample)
            for sample in (
                self._tracker.update(event) for event in batch if isinstance(event, DataEvent)
            )
            if sample is not None
        ]
        energy = [event for event in batch if isinstance(event, EnergyEvent)]
        ledger = self._ledger.copy()  # kept only once the batch is written
        shares = [share_row(share) for event in energy for share in ledger.add(event)]
        states = {(gateway_key(e), e.source): state_row(e) for e in energy}
        sampler = self._devices
        batteries = [battery_row(b) for event in batch for b in sampler.batteries(event)]
        inverters = [inverter_row(i) for event in batch for i in sampler.inverters(event)]
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(_INSERT_EVENT, rows)
            conn.executemany(_INSERT_SAMPLE, samples)
            conn.executemany(_ADD_SHARE, shares)
            conn.executemany(_SAVE_STATE, states.values())
            conn.executemany(_INSERT_BATTERY, batteries)
            conn.executemany(_INSERT_INVERTER, inverters)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self._ledger = ledger
        self._samples_written += len(samples)


def _row_sample(row: sqlite3.Row) -> PowerSample:
    return PowerSample(
        gateway=row["gateway"],
        at=dt.datetime.fromtimestamp(row["time_ms"] / 1000, dt.UTC),
        production_w=row["production_w"],
        consumption_w=row["consumption_w"],
        net_w=row["net_w"],
        storage_w=row["storage_w"],
        battery_soc_pct=row["battery_soc_pct"],
        grid_w=row["grid_w"],
        source=row["source"],
    )


def _open_for_reading(path: Path) -> sqlite3.Connection:
    """A connection that only reads, and leaves no ``-wal``/``-shm`` files behind.

    Opened read-write (never created) when the file allows it, with ``query_only`` on: the
    last connection to close then tidies the write-ahead log away, which a ``mode=ro``
    connection may not. Read-only files are opened read-only.
    """
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=rw", uri=True)
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.OperationalError:
        return sqlite3.connect(f"{uri}?mode=ro", uri=True)
    return conn


def _select(
    path: str | os.PathLike[str],
    table: str,
    time_column: str,
    *,
    gateway: str | None,
    since: dt.datetime | None,
    since_version: int = 1,
) -> list[sqlite3.Row]:
    """Rows of ``table`` (read-only) by gateway then time; none in files older than
    ``since_version``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such database: {path}")
    conn = _open_for_reading(path)
    try:
        version = user_version(conn)
        if version == 0 or version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{path} is not an enphase-local database this version can read "
                f"(schema version {version})"
            )
        if version < since_version:
            return []
        conn.row_factory = sqlite3.Row
        clauses: list[str] = []
        params: list[Any] = []
        if gateway is not None:
            clauses.append("gateway = ?")
            params.append(gateway)
        if since is not None:
            clauses.append(f"{time_column} >= ?")
            params.append(_epoch_ms(since))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return conn.execute(
            f"SELECT * FROM {table}{where} ORDER BY gateway, {time_column}",  # noqa: S608 - fixed names and clauses, values bound
            params,
        ).fetchall()
    finally:
        conn.close()


def read_power_samples(
    path: str | os.PathLike[str],
    *,
    gateway: str | None = None,
    since: dt.datetime | None = None,
) -> list[PowerSample]:
    """Power samples from a file the SQLite sink wrote, by gateway then time (read-only)."""
    rows = _select(path, "power_samples", "time_ms", gateway=gateway, since=since)
    return [_row_sample(row) for row in rows]


def read_ledger(
    path: str | os.PathLike[str],
    *,
    gateway: str | None = None,
    since: dt.datetime | None = None,
) -> list[LedgerBucket]:
    """The energy ledger of a file the SQLite sink wrote, by gateway then time (read-only;
    empty for files written before the ledger existed). ``since`` takes quarter hours that
    start then or later."""
    rows = _select(path, "ledger", "start_ms", gateway=gateway, since=since, since_version=2)
    return [
        make_bucket(
            row["gateway"],
            row["start_ms"] // 1000,
            {flow: row[flow] for flow in FLOWS},
            filled=bool(row["filled"]),
        )
        for row in rows
    ]


def read_battery_samples(
    path: str | os.PathLike[str],
    *,
    gateway: str | None = None,
    since: dt.datetime | None = None,
) -> list[BatterySample]:
    """Per-battery samples from a file the SQLite sink wrote, by gateway then time
    (read-only; empty for files written before the battery table existed)."""
    rows = _select(
        path, "battery_samples", "time_ms", gateway=gateway, since=since, since_version=3
    )
    return [
        BatterySample(
            gateway=row["gateway"],
            serial=row["serial"],
            at=dt.datetime.fromtimestamp(row["time_ms"] / 1000, dt.UTC),
            charge_pct=row["charge_pct"],
            power_w=row["power_w"],
            temperature_c=row["temperature_c"],
        )
        for row in rows
    ]
