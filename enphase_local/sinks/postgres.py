"""PostgreSQL for many sites: every reading once, typed power, battery and inverter tables,
and the energy ledger, written by ``poll --postgres`` or by ``ingest`` from MQTT.

Needs the ``postgres`` extra (asyncpg). Schema (version 1, kept in ``schema_version``, one
row per version applied; :data:`MIGRATIONS` upgrades older databases step by step, under an
advisory lock so that several processes may start at once)::

    events(gateway, kind, subject, time, host, latency_s, data)
    energy_events(gateway, source, time, host, flows, filled, totals, counters)
    power_samples(gateway, time, production_w, consumption_w, net_w, storage_w,
                  battery_soc_pct, grid_w, source)
    battery_samples(gateway, serial, time, charge_pct, power_w, temperature_c)
    inverter_samples(gateway, serial, time, power_w, dc_voltage_v, dc_current_a,
                     temperature_c)
    ledger(gateway, start, production_wh, consumption_wh, grid_import_wh, grid_export_wh,
           battery_charge_wh, battery_discharge_wh, filled_links, filled)
    energy_state(gateway, source, time)

Times are ``timestamptz``. ``events`` and ``energy_events`` are keyed by the reading's
idempotency key (:class:`~enphase_local.fleet.records.ReadingKey`: gateway, kind, subject,
time), the typed tables by gateway (and device serial) and time; every insert is ``ON
CONFLICT DO NOTHING``, so a reading delivered twice is one row. ``data`` is JSON as in the
SQLite sink (:mod:`enphase_local.sinks.sqlite`); energy events keep their running flows.

The ledger is derived from the energy events, one link per pair of consecutive events of a
source (the change of its flows, spread over the quarter hours between them as
:mod:`enphase_local.energy.ledger` does). Only an energy event that is new to
``energy_events`` adds to it, so a redelivered one adds nothing; one that arrives after a
later one of its source (two ingest processes, a redelivery after a takeover) replaces the
link it falls into by the two it splits it into, so the ledger ends as if the events had come
in order (``filled_links`` counts the links spread over a gap that reach into a quarter
hour, ``filled`` is whether there is one). Writers of the same source take turns (an
advisory lock per gateway and source). ``energy_state`` names each source's latest energy
event, for a restarted ``poll --postgres`` to go on from without reading the whole table.

The power, battery and inverter samples of a data reading are derived from it and the latest
readings of its gateway already in ``events`` (meters, device list, live data, inventory...),
so any ingest process can write any reading whatever reached another one before.

With the TimescaleDB extension available (``CREATE EXTENSION IF NOT EXISTS timescaledb``
succeeds), every table is made a hypertable on its time column when it is created; without
it, plain tables.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import attrs
import orjson

from enphase_local.energy import FLOWS
from enphase_local.energy.ledger import Ledger, Mark, Share
from enphase_local.errors import EnphaseError
from enphase_local.events import DataEvent, EnergyEvent, SinkEvent
from enphase_local.fleet.records import Reading, ReadingKey, reading_from_event
from enphase_local.power import FEEDS as POWER_FEEDS
from enphase_local.power import PowerSample, PowerTracker
from enphase_local.sinks.base import BatchRunner, SinkStats
from enphase_local.sinks.samples import DeviceSampler

_LOGGER = logging.getLogger(__name__)

#: The schema version this code writes.
SCHEMA_VERSION: Final = 1

#: A migration step: upgrades the schema by one version inside the migration transaction.
Migration = Callable[[asyncpg.Connection], Awaitable[None]]

#: The advisory lock held while migrating (any constant of our own).
_MIGRATION_LOCK: Final = 0x656E7068_61736531

_FLOW_COLUMNS: Final = ", ".join(f"{flow} double precision" for flow in FLOWS)
_SCHEMA_V1: Final = (
    """CREATE TABLE events (
        gateway text NOT NULL,
        kind text NOT NULL,
        subject text NOT NULL,
        time timestamptz NOT NULL,
        host text,
        latency_s double precision,
        data jsonb NOT NULL,
        PRIMARY KEY (gateway, kind, subject, time)
    )""",
    """CREATE TABLE energy_events (
        gateway text NOT NULL,
        source text NOT NULL,
        time timestamptz NOT NULL,
        host text,
        flows jsonb NOT NULL,
        filled boolean NOT NULL,
        totals jsonb NOT NULL,
        counters jsonb NOT NULL,
        PRIMARY KEY (gateway, source, time)
    )""",
    """CREATE TABLE power_samples (
        gateway text NOT NULL,
        time timestamptz NOT NULL,
        production_w double precision,
        consumption_w double precision,
        net_w double precision,
        storage_w double precision,
        battery_soc_pct double precision,
        grid_w double precision,
        source text NOT NULL,
        PRIMARY KEY (gateway, time)
    )""",
    """CREATE TABLE battery_samples (
        gateway text NOT NULL,
        serial text NOT NULL,
        time timestamptz NOT NULL,
        charge_pct double precision,
        power_w double precision,
        temperature_c double precision,
        PRIMARY KEY (gateway, serial, time)
    )""",
    """CREATE TABLE inverter_samples (
        gateway text NOT NULL,
        serial text NOT NULL,
        time timestamptz NOT NULL,
        power_w double precision,
        dc_voltage_v double precision,
        dc_current_a double precision,
        temperature_c double precision,
        PRIMARY KEY (gateway, serial, time)
    )""",
    """CREATE TABLE energy_state (
        gateway text NOT NULL,
        source text NOT NULL,
        time timestamptz NOT NULL,
        PRIMARY KEY (gateway, source)
    )""",
    f"""CREATE TABLE ledger (
        gateway text NOT NULL,
        start timestamptz NOT NULL,
        {_FLOW_COLUMNS},
        filled_links integer NOT NULL DEFAULT 0,
        filled boolean GENERATED ALWAYS AS (filled_links > 0) STORED,
        PRIMARY KEY (gateway, start)
    )""",
)
#: Each table and its time column (the hypertables' partitioning).
TABLES: Final = (
    ("events", "time"),
    ("energy_events", "time"),
    ("power_samples", "time"),
    ("battery_samples", "time"),
    ("inverter_samples", "time"),
    ("ledger", "start"),
)


async def timescale(conn: asyncpg.Connection) -> bool:
    """Whether the TimescaleDB extension is (or could now be) installed in the database."""
    try:
        async with conn.transaction():  # a savepoint: its failure leaves ours usable
            await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except asyncpg.PostgresError as err:
        _LOGGER.info("TimescaleDB is not available (%s): plain tables", err)
        return False
    return True


async def make_hypertables(conn: asyncpg.Connection) -> None:
    """Make every table a TimescaleDB hypertable on its time column (the extension must be
    there; tables that already are stay as they are)."""
    for table, column in TABLES:
        await conn.execute(
            "SELECT create_hypertable($1::regclass, $2::name, if_not_exists => true,"
            " migrate_data => true)",
            table,
            column,
        )
    _LOGGER.info("TimescaleDB hypertables made")


async def _create_v1(conn: asyncpg.Connection) -> None:
    for statement in _SCHEMA_V1:
        await conn.execute(statement)
    if await timescale(conn):
        await make_hypertables(conn)


#: Upgrade steps by the version they start from: ``MIGRATIONS[n]`` turns version n into n + 1.
#: Version 0 is an empty database.
MIGRATIONS: Final[Mapping[int, Migration]] = {0: _create_v1}


class SchemaVersionError(EnphaseError):
    """The database's schema is newer than this code, or cannot be upgraded."""


class DatabaseError(EnphaseError):
    """The PostgreSQL database cannot be reached or used (refused, bad credentials, no
    such database); the message names the database without its password."""


async def schema_version(conn: asyncpg.Connection) -> int:
    """The schema version of the database (0 when it has none of our tables)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(max(version), 0) FROM schema_version"))


async def migrate(
    conn: asyncpg.Connection,
    *,
    migrations: Mapping[int, Migration] = MIGRATIONS,
    target: int = SCHEMA_VERSION,
) -> int:
    """Bring the schema up to ``target`` in one transaction; return the old version.

    Holds an advisory lock meanwhile, so processes starting together upgrade once.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        start = version = await schema_version(conn)
        if version > target:
            raise SchemaVersionError(
                f"database schema version {version} is newer than this version of "
                f"enphase-local understands ({target})"
            )
        while version < target:
            step = migrations.get(version)
            if step is None:
                raise SchemaVersionError(f"no migration from schema version {version}")
            await step(conn)
            version += 1
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
            _LOGGER.info("PostgreSQL schema upgraded to version %d", version)
    return start


async def _init_connection(conn: asyncpg.Connection) -> None:
    """JSON columns as Python data, through orjson (NaN and infinities become null)."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name,
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def connect(dsn: str, *, timeout_s: float = 10.0) -> asyncpg.Connection:
    """A connection to ``dsn`` with JSON codecs set; asyncpg's or the OS's errors."""
    conn = await asyncpg.connect(dsn, timeout=timeout_s)
    try:
        await _init_connection(conn)
    except BaseException:
        await conn.close()
        raise
    return conn


def describe_dsn(dsn: str) -> str:
    """The DSN without its password, for start lines and logs."""
    parts = urlsplit(dsn)
    if not parts.scheme or parts.password is None:
        return dsn if parts.scheme else "PostgreSQL (key=value DSN)"
    host = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}"))


# --- writing -------------------------------------------------------------------------------

_INSERT_EVENTS: Final = (
    "INSERT INTO events (gateway, kind, subject, time, host, latency_s, data)"
    " SELECT g, k, s, t, h, l, d::jsonb FROM unnest($1::text[], $2::text[], $3::text[],"
    " $4::timestamptz[], $5::text[], $6::float8[], $7::text[]) AS x(g, k, s, t, h, l, d)"
    " ON CONFLICT DO NOTHING RETURNING gateway, kind, subject, time"
)
_INSERT_ENERGY: Final = (
    "INSERT INTO energy_events (gateway, source, time, host, flows, filled, totals, counters)"
    " SELECT g, s, t, h, f::jsonb, b, o::jsonb, c::jsonb FROM unnest($1::text[], $2::text[],"
    " $3::timestamptz[], $4::text[], $5::text[], $6::bool[], $7::text[], $8::text[])"
    " AS x(g, s, t, h, f, b, o, c)"
    " ON CONFLICT DO NOTHING RETURNING gateway, source, time"
)
_INSERT_POWER: Final = (
    "INSERT INTO power_samples (gateway, time, production_w, consumption_w, net_w, storage_w,"
    " battery_soc_pct, grid_w, source)"
    " SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::float8[], $4::float8[],"
    " $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::text[])"
    " ON CONFLICT DO NOTHING"
)
_INSERT_BATTERY: Final = (
    "INSERT INTO battery_samples (gateway, serial, time, charge_pct, power_w, temperature_c)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[],"
    " $5::float8[], $6::float8[])"
    " ON CONFLICT DO NOTHING"
)
_INSERT_INVERTER: Final = (
    "INSERT INTO inverter_samples (gateway, serial, time, power_w, dc_voltage_v, dc_current_a,"
    " temperature_c)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[],"
    " $5::float8[], $6::float8[], $7::float8[])"
    " ON CONFLICT DO NOTHING"
)
# A flow a share does not carry stays as it was (NULL when nothing ever measured it).
_ADD_FLOWS: Final = ", ".join(
    f"{flow} = CASE WHEN excluded.{flow} IS NULL THEN ledger.{flow}"
    f" ELSE COALESCE(ledger.{flow}, 0) + excluded.{flow} END"
    for flow in FLOWS
)
_ADD_SHARES: Final = (
    f"INSERT INTO ledger (gateway, start, {', '.join(FLOWS)}, filled_links)"  # noqa: S608 - fixed names
    " SELECT * FROM unnest($1::text[], $2::timestamptz[], "
    + ", ".join(f"${n}::float8[]" for n in range(3, 3 + len(FLOWS)))
    + f", ${3 + len(FLOWS)}::int[])"
    f" ON CONFLICT (gateway, start) DO UPDATE SET {_ADD_FLOWS},"
    " filled_links = ledger.filled_links + excluded.filled_links"
)
_SAVE_STATE: Final = (
    "INSERT INTO energy_state (gateway, source, time)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])"
    " ON CONFLICT (gateway, source) DO UPDATE SET time = excluded.time"
    " WHERE excluded.time > energy_state.time"
)
# The energy events before and after each new one of the same source.
_NEIGHBOURS: Final = """
    SELECT n.gateway, n.source, n.time,
           p.time AS p_time, p.flows AS p_flows,
           s.time AS s_time, s.flows AS s_flows, s.filled AS s_filled
    FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS n(gateway, source, time)
    LEFT JOIN LATERAL (
        SELECT e.time, e.flows FROM energy_events e
        WHERE e.gateway = n.gateway AND e.source = n.source AND e.time < n.time
        ORDER BY e.time DESC LIMIT 1
    ) p ON true
    LEFT JOIN LATERAL (
        SELECT e.time, e.flows, e.filled FROM energy_events e
        WHERE e.gateway = n.gateway AND e.source = n.source AND e.time > n.time
        ORDER BY e.time LIMIT 1
    ) s ON true
"""
# The latest data of each of some endpoints of some gateways (the derivations' context).
_CONTEXT: Final = """
    SELECT g.gateway, s.subject, e.time, e.host, e.data
    FROM unnest($1::text[]) AS g(gateway)
    CROSS JOIN unnest($2::text[]) AS s(subject)
    CROSS JOIN LATERAL (
        SELECT time, host, data FROM events
        WHERE gateway = g.gateway AND kind = 'data' AND subject = s.subject
        ORDER BY time DESC LIMIT 1
    ) e
"""

#: The endpoints whose latest data the typed samples are derived with.
CONTEXT_ENDPOINTS: Final = tuple(sorted({*POWER_FEEDS, "inventory"}))
#: Rebuilt context models kept (least recently used dropped first): about 10 KiB each, the
#: six endpoints other than meter readings of ten thousand gateways.
CONTEXT_CACHE: Final = 60_000
#: Endpoints whose readings make typed samples.
_SAMPLED: Final = frozenset({*POWER_FEEDS, "inventory", "battery_power", "device_data"})


def _json(value: Any) -> str:
    # orjson writes NaN and infinities as null, keeping the column valid JSON.
    return orjson.dumps(value).decode()


def _lock_id(gateway: str, source: str) -> int:
    digest = hashlib.blake2b(f"{gateway}\0{source}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows turned into one list per column (what ``unnest`` takes)."""
    return [[row[i] for row in rows] for i in range(width)]


@attrs.frozen
class _Neighbour:
    at: dt.datetime
    flows: Mapping[str, float]
    filled: bool = False


def _link(gateway: str, source: str, before: _Neighbour, after: _Neighbour) -> list[Share]:
    """The ledger shares of the change from one energy event of a source to the next."""
    ledger = Ledger()
    ledger.restore(gateway, source, Mark(at_s=before.at.timestamp(), flows=before.flows))
    event = EnergyEvent(
        serial=gateway, host=gateway, source=source, at=after.at, flows=after.flows,
        filled=after.filled,
    )  # fmt: skip
    return ledger.add(event)


def ledger_changes(
    new: Mapping[tuple[str, str, dt.datetime], _Neighbour],
    before: Mapping[tuple[str, str, dt.datetime], _Neighbour | None],
    after: Mapping[tuple[str, str, dt.datetime], _Neighbour | None],
) -> list[tuple[Share, int]]:
    """What new energy events change in the ledger, given each one's neighbours among all
    events now stored (the new ones included): shares to add (1) or take away (-1).

    Each new event adds its link from the event before it; an older event that now follows
    a new one trades its old link (from the last event stored before the new run) for the
    one from the new event.
    """
    shares: list[tuple[Share, int]] = []
    for (gateway, source, at), event in new.items():
        previous = before[gateway, source, at]
        if previous is not None:
            shares += [(share, 1) for share in _link(gateway, source, previous, event)]
        following = after[gateway, source, at]
        if following is None or (gateway, source, following.at) in new:
            continue
        shares += [(share, 1) for share in _link(gateway, source, event, following)]
        old = previous
        while old is not None and (gateway, source, old.at) in new:
            old = before[gateway, source, old.at]
        if old is not None:
            shares += [(share, -1) for share in _link(gateway, source, old, following)]
    return shares


def _summed(shares: Iterable[tuple[Share, int]]) -> list[tuple[Any, ...]]:
    """One ledger row per bucket (an upsert may touch a row once per statement): the flows
    to add and the change in the number of links spread over a gap that reach into it."""
    sums: dict[tuple[str, int], dict[str, float]] = {}
    filled: dict[tuple[str, int], int] = {}
    for share, sign in shares:
        key = (share.gateway, share.start_s)
        bucket = sums.setdefault(key, {})
        for flow, value in share.flows.items():
            bucket[flow] = bucket.get(flow, 0.0) + sign * value
        filled[key] = filled.get(key, 0) + (sign if share.filled else 0)
    return [
        (
            gateway,
            dt.datetime.fromtimestamp(start, dt.UTC),
            *(bucket.get(flow) for flow in FLOWS),
            filled[gateway, start],
        )
        for (gateway, start), bucket in sorted(sums.items())
    ]


def _power_row(sample: PowerSample) -> tuple[Any, ...]:
    return (sample.gateway, sample.at, sample.production_w, sample.consumption_w, sample.net_w,
            sample.storage_w, sample.battery_soc_pct, sample.grid_w, sample.source)  # fmt: skip


@attrs.frozen(kw_only=True)
class WriteResult:
    """What one batch changed."""

    #: Readings that were new (not in the database before).
    new: int
    #: Readings that were already there (redelivered).
    duplicates: int
    #: Power, battery and inverter samples written.
    samples: int


class Writer:
    """Writes batches of readings in one transaction each (see the module).

    Keeps only a cache of models rebuilt from the context rows (by gateway, endpoint and
    time: a row another process wrote since is a miss), never state that could go stale.
    """

    def __init__(self) -> None:
        self._models: collections.OrderedDict[
            tuple[str, str], tuple[dt.datetime, DataEvent | None]
        ] = collections.OrderedDict()
        #: Data readings whose typed samples could not be derived (their data did not fit).
        self.underived = 0

    async def write(self, conn: asyncpg.Connection, readings: Iterable[Reading]) -> WriteResult:
        """Write the readings (duplicates and all) in one transaction; readings of the same
        time are derived in the order given (a poll reads the meters before their readings)."""
        readings = list(readings)
        order: dict[ReadingKey, int] = {}
        for reading in readings:
            order.setdefault(reading.key, len(order))
        unique = sorted({r.key: r for r in readings}.values(), key=_sort_key)
        energy = [r for r in unique if r.key.kind == "energy"]
        others = [r for r in unique if r.key.kind != "energy"]
        async with conn.transaction():
            locks = sorted({_lock_id(r.key.gateway, r.key.subject) for r in energy})
            if locks:
                await conn.executemany("SELECT pg_advisory_xact_lock($1)", [(k,) for k in locks])
            context = await self._context(conn, others, order)
            new_others = await self._insert_events(conn, others)
            new_energy = await self._insert_energy(conn, energy)
            samples = await self._samples(conn, context, new_others, order)
            await self._ledger(conn, new_energy)
        new = len(new_others) + len(new_energy)
        return WriteResult(new=new, duplicates=len(unique) - new, samples=samples)

    async def write_or_split(
        self, conn: asyncpg.Connection, readings: Sequence[Reading]
    ) -> tuple[WriteResult, list[Reading]]:
        """Write the batch; when the database refuses its data (``DataError``: a string it
        cannot store, a number out of range), write the readings one by one instead and
        return those it refuses, so that one bad reading never holds up the rest. Any other
        failure (a lost connection, a restart) is raised, to retry the batch."""
        try:
            return await self.write(conn, readings), []
        except asyncpg.DataError as err:
            _LOGGER.warning("PostgreSQL refused a batch (%s); writing it one by one", err)
        new = duplicates = samples = 0
        refused: list[Reading] = []
        for reading in readings:
            try:
                result = await self.write(conn, [reading])
            except asyncpg.DataError as err:
                _LOGGER.warning("PostgreSQL refused %s: %s; dropped", reading.key, err)
                refused.append(reading)
                continue
            new, duplicates = new + result.new, duplicates + result.duplicates
            samples += result.samples
        return WriteResult(new=new, duplicates=duplicates, samples=samples), refused

    async def _insert_events(
        self, conn: asyncpg.Connection, readings: list[Reading]
    ) -> list[Reading]:
        if not readings:
            return []
        rows = [
            (r.key.gateway, r.key.kind, r.key.subject, r.key.at, r.host, r.latency_s, _json(r.data))
            for r in readings
        ]
        inserted = await conn.fetch(_INSERT_EVENTS, *_columns(rows, 7))
        done = {(row["gateway"], row["kind"], row["subject"], row["time"]) for row in inserted}
        return [r for r in readings if _sort_key(r) in done]

    async def _insert_energy(
        self, conn: asyncpg.Connection, readings: list[Reading]
    ) -> list[Reading]:
        if not readings:
            return []
        rows = [
            (r.key.gateway, r.key.subject, r.key.at, r.host, _json(r.data["flows"]),
             bool(r.data["filled"]), _json(r.data.get("totals") or {}),
             _json(r.data.get("counters") or {}))
            for r in readings
        ]  # fmt: skip
        inserted = await conn.fetch(_INSERT_ENERGY, *_columns(rows, 8))
        done = {(row["gateway"], row["source"], row["time"]) for row in inserted}
        return [r for r in readings if (r.key.gateway, r.key.subject, r.key.at) in done]

    async def _context(
        self, conn: asyncpg.Connection, readings: list[Reading], order: Mapping[ReadingKey, int]
    ) -> list[DataEvent]:
        """The latest stored data of the context endpoints of the gateways that need it, as
        data events (rebuilt models are kept, but for the meter readings, which change at
        every poll: see :data:`CONTEXT_CACHE`)."""
        first: dict[str, str] = {}  # each gateway's first sampled endpoint in the batch
        sampled = [r for r in readings if r.key.kind == "data" and r.key.subject in _SAMPLED]
        for reading in sorted(sampled, key=lambda r: (r.key.at, order[r.key]), reverse=True):
            first[reading.key.gateway] = reading.key.subject
        if not first:
            return []
        rows = await conn.fetch(_CONTEXT, sorted(first), list(CONTEXT_ENDPOINTS))
        context: list[DataEvent] = []
        for row in rows:
            key = (row["gateway"], row["subject"])
            if row["subject"] == first[row["gateway"]] == "meter_readings":
                continue  # the batch's own readings come before anything is derived
            cached = self._models.get(key)
            if cached is not None and cached[0] == row["time"]:
                self._models.move_to_end(key)
                event = cached[1]
            else:
                event = self._data_event(_stored_reading(row))
                if row["subject"] != "meter_readings":
                    self._models[key] = (row["time"], event)
                    if len(self._models) > CONTEXT_CACHE:
                        self._models.popitem(last=False)
            if event is not None:
                context.append(event)
        return context

    async def _samples(
        self,
        conn: asyncpg.Connection,
        context: list[DataEvent],
        new: list[Reading],
        order: Mapping[ReadingKey, int],
    ) -> int:
        tracker, sampler = PowerTracker(), DeviceSampler()
        for seed in sorted(context, key=lambda e: e.fetched_at):
            tracker.update(seed)
            sampler.batteries(seed)
        power, batteries, inverters = [], [], []
        for reading in sorted(new, key=lambda r: (r.key.at, order[r.key])):
            if reading.key.kind != "data" or reading.key.subject not in _SAMPLED:
                continue
            fed = self._data_event(reading)
            if fed is None:
                continue
            sample = tracker.update(fed)
            if sample is not None:
                power.append(_power_row(sample))
            batteries += [
                (b.gateway, b.serial, b.at, b.charge_pct, b.power_w, b.temperature_c)
                for b in sampler.batteries(fed)
            ]
            inverters += [
                (i.gateway, i.serial, i.at, i.power_w, i.dc_voltage_v, i.dc_current_a,
                 i.temperature_c)
                for i in sampler.inverters(fed)
            ]  # fmt: skip
        if power:
            await conn.execute(_INSERT_POWER, *_columns(power, 9))
        if batteries:
            await conn.execute(_INSERT_BATTERY, *_columns(batteries, 6))
        if inverters:
            await conn.execute(_INSERT_INVERTER, *_columns(inverters, 7))
        return len(power) + len(batteries) + len(inverters)

    def _data_event(self, reading: Reading) -> DataEvent | None:
        try:
            return reading.data_event()
        except (ValueError, TypeError, KeyError) as err:  # cattrs' errors are ValueErrors
            self.underived += 1
            _LOGGER.debug("no samples from %s: %s", reading.key, err)
            return None

    async def _ledger(self, conn: asyncpg.Connection, new: list[Reading]) -> None:
        if not new:
            return
        keys = [(r.key.gateway, r.key.subject, r.key.at) for r in new]
        rows = await conn.fetch(_NEIGHBOURS, *_columns(keys, 3))
        events = {
            (r.key.gateway, r.key.subject, r.key.at): _Neighbour(
                r.key.at, r.data["flows"], bool(r.data["filled"])
            )
            for r in new
        }
        before: dict[tuple[str, str, dt.datetime], _Neighbour | None] = {}
        after: dict[tuple[str, str, dt.datetime], _Neighbour | None] = {}
        for row in rows:
            key = (row["gateway"], row["source"], row["time"])
            before[key] = (
                None if row["p_time"] is None else _Neighbour(row["p_time"], row["p_flows"])
            )
            after[key] = (
                None
                if row["s_time"] is None
                else _Neighbour(row["s_time"], row["s_flows"], row["s_filled"])
            )
        latest: dict[tuple[str, str], dt.datetime] = {}
        for gateway, source, at in keys:
            latest[gateway, source] = max(at, latest.get((gateway, source), at))
        await conn.execute(
            _SAVE_STATE, *_columns([(g, s, at) for (g, s), at in sorted(latest.items())], 3)
        )
        shares = ledger_changes(events, before, after)
        if shares:
            rows_out = _summed(shares)
            await conn.execute(_ADD_SHARES, *_columns(rows_out, 3 + len(FLOWS)))


def _sort_key(reading: Reading) -> tuple[str, str, str, dt.datetime]:
    key = reading.key
    return (key.gateway, key.kind, key.subject, key.at)


def _stored_reading(row: asyncpg.Record) -> Reading:
    key = ReadingKey(gateway=row["gateway"], kind="data", subject=row["subject"], at=row["time"])
    return Reading(key=key, host=row["host"], latency_s=None, data=row["data"])


# --- the sink ------------------------------------------------------------------------------


class PostgresSink:
    """Writes every event to PostgreSQL (``poll --postgres``); see the module for the tables.

    ``batch_size`` events or ``flush_interval_s`` seconds make one transaction. While the
    database is away, events wait (at most ``max_backlog``, the oldest dropped beyond, counted
    in :meth:`stats`) and the batch is retried on a new connection with growing delays.
    """

    def __init__(
        self,
        dsn: str,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 2.0,
        max_backlog: int = 100_000,
        close_timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self._dsn = dsn
        self._connect_timeout_s = connect_timeout_s
        self._close_timeout_s = close_timeout_s
        self._runner: BatchRunner[SinkEvent] = BatchRunner(
            self.name,
            self._write,
            max_backlog=max_backlog,
            batch_size=batch_size,
            flush_interval_s=flush_interval_s,
        )
        self._conn: asyncpg.Connection | None = None
        self._writer = Writer()
        #: Readings written that were new, that were already there, and that the database
        #: refused (logged and dropped).
        self.new = 0
        self.duplicates = 0
        self.refused = 0

    def __repr__(self) -> str:
        return f"PostgresSink({describe_dsn(self._dsn)!r})"

    @property
    def name(self) -> str:
        """``postgres``."""
        return "postgres"

    def describe(self) -> str:
        """The database, without its password."""
        return describe_dsn(self._dsn)

    async def start(self) -> None:
        """Connect, bring the schema up to date and start writing (fails when the database
        cannot be reached or is newer than this code)."""
        try:
            self._conn = await connect(self._dsn, timeout_s=self._connect_timeout_s)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            raise DatabaseError(f"cannot connect to PostgreSQL {self.describe()}: {err}") from err
        try:
            await migrate(self._conn)
        except BaseException:
            await self._conn.close()
            self._conn = None
            raise
        self._runner.start()

    def submit(self, event: SinkEvent) -> None:
        """Queue an event for the next batch (never blocks)."""
        self._runner.put(event)

    async def energy_state(self) -> list[EnergyEvent]:
        """The last energy event of each gateway's sources in the database (after
        :meth:`start`)."""
        conn = await self._connection()
        rows = await conn.fetch(
            "SELECT e.* FROM energy_state s JOIN energy_events e"
            " USING (gateway, source, time) ORDER BY gateway, source"
        )
        return [
            EnergyEvent(
                serial=row["gateway"],
                host=row["host"] or row["gateway"],
                source=row["source"],
                at=row["time"],
                flows=row["flows"],
                filled=row["filled"],
                totals=row["totals"],
                counters=row["counters"],
            )
            for row in rows
        ]

    async def close(self) -> None:
        """Write what is queued (within ``close_timeout_s``), then disconnect."""
        await self._runner.close(self._close_timeout_s)
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await conn.close(timeout=5)

    def stats(self) -> SinkStats:
        """Events submitted, written, dropped and waiting."""
        return self._runner.stats()

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await connect(self._dsn, timeout_s=self._connect_timeout_s)
            _LOGGER.info("reconnected to PostgreSQL %s", self.describe())
        return self._conn

    async def _write(self, batch: list[SinkEvent]) -> None:
        conn = await self._connection()
        try:
            readings = [reading_from_event(e) for e in batch]
            result, refused = await self._writer.write_or_split(conn, readings)
        except BaseException:
            # Whatever failed, start the retry on a fresh connection.
            self._conn = None
            conn.terminate()
            raise
        self.new += result.new
        self.duplicates += result.duplicates
        self.refused += len(refused)
