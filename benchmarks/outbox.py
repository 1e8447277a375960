"""outbox: store and forward through a broker outage, counted event by event.

Twenty simulated gateways (battery, metered and standard sites in turn) are polled at the
default plan; every event goes through the MQTT sink's outbox (a SQLite file) to a mosquitto
of our own (persistent, so that consumers' sessions outlive a restart). After ``--before``
seconds the broker is stopped for ``--outage`` seconds while polling goes on, then started
again. What arrives is counted at one consumer:

PostgreSQL (the default when PostgreSQL and asyncpg are installed)
    ``enphase-local ingest`` (a named session, as a fleet runs it) writes the stream into a
    throwaway PostgreSQL (Debian's, started as the tests start it); the rows of ``events``
    and ``energy_events`` are read four times a second. The poller's sink waits for a
    subscriber (``--mqtt-wait-for-subscriber``): mosquitto 2.0 forgets the shared
    subscription of ingest's session when it restarts, until ingest connects again.
MQTT (``--no-postgres``)
    A consumer with a persistent MQTT 5 session (QoS 1) collects every message.

Measured: every event the poller handed the sinks against what the consumer holds (lost
must be 0; in PostgreSQL one row per event, none twice; duplicates delivered, each with its
key and the same payload, are allowed and collapse), the outbox's peak (messages and MB), how
long the sink took to reconnect, how long until every event of the outage was at the
consumer and at what rate (bounded by ``--drain-rate``), how fresh the live events were
meanwhile (from the poller's event to the consumer; for PostgreSQL to the first read that
shows the row), and (MQTT) whether each lane kept its order per topic.

Run: ``python -m benchmarks.outbox [--gateways 20] [--outage 600] [--speed 1]
[--no-postgres]``; the full run takes the outage plus about two minutes.
``tests/sinks/test_mqtt_outbox.py`` and ``tests/fleet/test_outbox_outage.py`` run the same
with a fast simulated clock for a few seconds. Exits 1 on any loss.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.util
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from benchmarks.harness import base_parser, write_json
from enphase_local.energy import EnergyTracker
from enphase_local.events import SinkEvent
from enphase_local.scheduler import GatewaySpec, Poller, ScaledClock
from enphase_local.simulator import Simulation
from enphase_local.sinks import SinkSet, SinkStats
from enphase_local.sinks.base import stop_task
from enphase_local.sinks.forward import DEFAULT_DRAIN_RATE
from enphase_local.sinks.keys import idempotency_key
from enphase_local.sinks.mqtt import RECONNECT_DELAY_S, MqttSettings, MqttSink
from tests.postgres import PostgresServer, postgres_bin
from tests.sinks.broker import Broker, Collector, mosquitto_binary, payload_key

if TYPE_CHECKING:
    from tests.cli.running import CliProcess

#: The sites, in turn.
PROFILES = ("battery", "metered", "standard")
#: Midsummer noon: the sun is up, every value moves.
NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
PREFIX = "outbox_bench"
#: Live messages submitted this close to the reconnection may be in either lane.
_LANE_MARGIN_S = 0.5
#: Seconds between two reads of the rows in PostgreSQL.
_READ_EVERY_S = 0.25


@attrs.frozen(kw_only=True)
class OutageConfig:
    """What to run."""

    #: Simulated gateways.
    gateways: int = 20
    #: Simulated seconds per real second (the poller follows the simulated clock).
    speed: float = 1.0
    #: Real seconds polled before the outage, with the broker up.
    before_s: float = 30.0
    #: Real seconds the broker is down.
    outage_s: float = 600.0
    #: Real seconds polled after the backlog drained.
    after_s: float = 30.0
    #: The sink's bound on caught-up messages a second.
    drain_rate: float = DEFAULT_DRAIN_RATE
    #: The sink's first and longest wait between connection attempts.
    reconnect_delay_s: tuple[float, float] = RECONNECT_DELAY_S
    #: Real seconds a step may take beyond its due (reconnecting, draining, the last
    #: events arriving) before the run fails.
    patience_s: float = 120.0


@attrs.frozen(kw_only=True)
class OutageReport:
    """What happened."""

    #: ``postgres`` (rows ingest wrote) or ``mqtt`` (messages a consumer received).
    consumer: str
    #: Events the poller (and the energy tracker) handed the MQTT sink.
    polled: int
    #: Rows in PostgreSQL; or messages the MQTT consumer received, duplicates included.
    received: int
    #: Events the consumer never got: must be 0.
    lost: int
    #: Rows or messages of no polled event: must be 0.
    unknown: int
    #: Messages delivered again (same key): ingest found them written, or the MQTT consumer
    #: received them twice.
    duplicates: int
    #: MQTT: duplicates with another payload, or a user property unlike the payload's key;
    #: PostgreSQL: rows beyond one per key. Must be 0.
    mismatched: int
    #: Rows per kind of event (``data``, ``energy``, ``state``, ...); empty for MQTT.
    kinds: dict[str, int]
    #: Messages the outbox's limit dropped.
    dropped: int
    #: Most messages waiting in the outbox.
    peak_messages: int
    #: Most bytes in the outbox, MB.
    peak_mb: float
    #: Messages waiting when the broker came back.
    waiting: int
    #: Seconds from the broker's return to the sink's reconnection.
    reconnect_s: float
    #: Seconds from the reconnection until every event of the outage was at the consumer.
    drain_s: float
    #: Events of the outage that reached the consumer per second meanwhile.
    drain_rate: float
    #: Live events at the consumer while the backlog drained.
    live_while_draining: int
    #: Their delay from the poller's event to the consumer, seconds: median, p99, most.
    live_lag_s: tuple[float, float, float]
    #: MQTT: messages of a lane that arrived before an older one of the same topic and lane;
    #: None for PostgreSQL (rows carry no arrival order).
    out_of_order: int | None
    #: The MQTT sink's statistics at the end.
    stats: SinkStats
    #: Real seconds the run took.
    real_s: float

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing unknown, no mismatch, each lane in order."""
        return not (self.lost or self.unknown or self.mismatched or self.out_of_order)


class Recorder:
    """A sink that notes each event's key and when it was handed over."""

    name = "recorder"

    def __init__(self) -> None:
        #: Key to ``time.monotonic()`` at submission.
        self.submitted: dict[str, float] = {}

    async def start(self) -> None:
        """Nothing to open."""

    def submit(self, event: SinkEvent) -> None:
        """Note the event."""
        self.submitted[idempotency_key(event)] = time.monotonic()

    async def close(self) -> None:
        """Nothing to close."""

    def stats(self) -> SinkStats:
        """How many events it saw."""
        count = len(self.submitted)
        return SinkStats(name=self.name, submitted=count, written=count)


@attrs.frozen(kw_only=True)
class _Counts:
    """What a consumer holds at the end."""

    received: int
    duplicates: int
    mismatched: int
    kinds: dict[str, int] = attrs.field(factory=dict)
    out_of_order: int | None = None


class _Consumer(Protocol):
    """Where the events are counted."""

    name: str

    def arrivals(self) -> Iterator[tuple[str, float]]:
        """Keys that arrived since the last call, with when (``time.monotonic()``)."""
        ...

    async def finish(self, recorder: Recorder, connected_at: float) -> _Counts:
        """The counts, once every event polled has arrived."""
        ...


class _MqttConsumer:
    """A persistent MQTT 5 session's messages (:class:`~tests.sinks.broker.Collector`)."""

    name = "mqtt"

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self._seen = 0

    def arrivals(self) -> Iterator[tuple[str, float]]:
        messages, arrived = self.collector.messages, self.collector.arrived
        end = len(messages)
        for index in range(self._seen, end):
            yield payload_key(messages[index][1]), arrived[index]
        self._seen = end

    async def finish(self, recorder: Recorder, connected_at: float) -> _Counts:
        messages = self.collector.messages
        return _Counts(
            received=len(messages),
            duplicates=len(messages) - len({payload_key(p) for _, p, _ in messages}),
            mismatched=_mismatched(self.collector),
            out_of_order=_out_of_order(self.collector, recorder, connected_at),
        )


class _DatabaseConsumer:
    """``enphase-local ingest`` into PostgreSQL; its rows read a few times a second."""

    name = "postgres"

    def __init__(self, process: CliProcess, dsn: str) -> None:
        self.process = process
        self.dsn = dsn
        self._new: list[tuple[str, float]] = []
        self._known: set[str] = set()
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        import asyncpg  # noqa: PLC0415 - an optional extra

        from tests.fleet.streams import keys_of  # noqa: PLC0415 - needs asyncpg

        conn = await asyncpg.connect(self.dsn)
        try:
            while True:
                with contextlib.suppress(asyncpg.UndefinedTableError):
                    now = time.monotonic()
                    for key in await keys_of(conn):
                        if key not in self._known:
                            self._known.add(key)
                            self._new.append((key, now))
                await asyncio.sleep(_READ_EVERY_S)
        finally:
            await conn.close()

    def arrivals(self) -> Iterator[tuple[str, float]]:
        if self._task.done():
            self._task.result()  # a failed read ends the run
        new, self._new = self._new, []
        yield from new

    async def close(self) -> None:
        await stop_task(self._task)

    async def finish(self, recorder: Recorder, connected_at: float) -> _Counts:
        """Stop ingest (it writes what it holds) and count the rows."""
        from tests.fleet.streams import ingest_summary, readings_twice, row_keys  # noqa: PLC0415

        status = await self.process.stop()
        if status != 0:
            raise RuntimeError(f"ingest exited with {status}: {self.process.stderr}")
        _, duplicates = ingest_summary(self.process)
        keys = await row_keys(self.dsn)
        kinds: dict[str, int] = {}
        for key in keys:
            kind = _kind(key)
            kinds[kind] = kinds.get(kind, 0) + 1
        return _Counts(
            received=len(keys),
            duplicates=duplicates,
            mismatched=await readings_twice(self.dsn),
            kinds=dict(sorted(kinds.items())),
        )


def _kind(key: str) -> str:
    """``data``, ``energy``, ``state``, ... of a key as text (see :mod:`enphase_local.sinks.
    keys`)."""
    what = key.split("/")[1]
    if what == "state":
        return what
    return what.split(":")[0] if ":" in what else "data"


class _Watch:
    """Samples the sink and the consumer while the run goes on."""

    def __init__(self, sink: MqttSink, consumer: _Consumer) -> None:
        self.sink = sink
        self.consumer = consumer
        self.first_arrival: dict[str, float] = {}
        self.peak_messages = 0
        self.peak_bytes = 0

    def sample(self) -> None:
        self.peak_messages = max(self.peak_messages, self.sink.stats().backlog)
        self.peak_bytes = max(self.peak_bytes, self.sink.outbox.bytes)
        for key, at in self.consumer.arrivals():
            self.first_arrival.setdefault(key, at)

    async def until(self, what: str, done: Any, timeout_s: float) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    self.sample()
                    if done():
                        return
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise RuntimeError(
                f"not {what} within {timeout_s:g} s: connected {self.sink.connected}, "
                f"{self.sink.stats()}, {self.sink.outbox!r}, "
                f"{len(self.first_arrival)} events at the consumer ({self.consumer.name})"
            ) from None

    async def for_seconds(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.sample()
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def _consumer(port: int, postgres: PostgresServer | None) -> AsyncIterator[_Consumer]:
    """The consumer, subscribed: ingest into ``postgres``, else an MQTT session."""
    if postgres is None:
        async with Collector(port, f"{PREFIX}/#") as collector:
            yield _MqttConsumer(collector)
        return
    from tests.fleet.streams import ingesting  # noqa: PLC0415 - needs asyncpg

    async with ingesting(port, PREFIX, postgres.dsn) as process:
        database = _DatabaseConsumer(process, postgres.dsn)
        try:
            yield database
        finally:
            await database.close()


async def run_outage(
    config: OutageConfig, folder: Path, postgres: PostgresServer | None = None
) -> OutageReport:
    """Poll through a broker outage; count what ``ingest`` wrote into ``postgres``, or
    without it what an MQTT consumer received."""
    binary = mosquitto_binary()
    if binary is None:
        raise RuntimeError("mosquitto is not installed (run scripts/mosquitto.sh as root)")
    started = time.monotonic()
    broker = Broker(binary, folder, persistent=True)
    await broker.start()
    try:
        async with _consumer(broker.port, postgres) as consumer:
            return await _run(config, folder, broker, consumer, started)
    finally:
        await broker.stop()


async def _run(
    config: OutageConfig, folder: Path, broker: Broker, consumer: _Consumer, started: float
) -> OutageReport:
    profiles = [PROFILES[i % len(PROFILES)] for i in range(config.gateways)]
    recorder = Recorder()
    sink = MqttSink(
        MqttSettings(host="127.0.0.1", port=broker.port, prefix=PREFIX, client_id="poller"),
        outbox=folder / "outbox.sqlite",
        drain_rate=config.drain_rate,
        reconnect_delay_s=config.reconnect_delay_s,
        wait_for_subscriber=consumer.name == "postgres",  # see the module
    )
    watch = _Watch(sink, consumer)
    sinks = SinkSet([recorder, sink], energy=EnergyTracker())
    async with Simulation(
        profile=profiles, start_time=NOON, speed=config.speed, cloud=False, control=False
    ) as sim:
        poller = Poller(
            [
                GatewaySpec(host=g.url, token=g.token, options={"fingerprint": g.fingerprint})
                for g in sim.gateways
            ],
            clock=ScaledClock(sim.clock.now, speed=config.speed),
            buffer_size=0,
        )
        poller.subscribe(sinks.submit)
        await sinks.start()
        await watch.until(
            "connected", lambda: sink.connected, 30
        )  # no catch-up lane in the first round
        await poller.start()
        try:
            await watch.for_seconds(config.before_s)
            await broker.stop()
            await watch.for_seconds(config.outage_s)
            outage = set(recorder.submitted)
            waiting = sink.stats().backlog
            await broker.start()
            up_at = time.monotonic()
            await watch.until(
                "reconnected",
                lambda: sink.connected,
                config.patience_s + config.reconnect_delay_s[1],
            )
            connected_at = time.monotonic()
            drain_s = config.patience_s + 3 * len(outage) / config.drain_rate
            await watch.until("drained", lambda: outage <= watch.first_arrival.keys(), drain_s)
            drained_at = time.monotonic()
            await watch.for_seconds(config.after_s)
        finally:
            await poller.close()
        await watch.until(
            "all received",
            lambda: recorder.submitted.keys() <= watch.first_arrival.keys(),
            config.patience_s,
        )
        await sinks.close()
    watch.sample()
    counts = await consumer.finish(recorder, connected_at)
    caught_up = [k for k in outage if watch.first_arrival[k] >= connected_at]
    live = [
        watch.first_arrival[key] - at
        for key, at in recorder.submitted.items()
        if at > connected_at + _LANE_MARGIN_S and watch.first_arrival.get(key, 1e18) < drained_at
    ]
    lag = sorted(live)
    drain_s = drained_at - connected_at
    return OutageReport(
        consumer=consumer.name,
        polled=len(recorder.submitted),
        received=counts.received,
        lost=len(recorder.submitted.keys() - watch.first_arrival.keys()),
        unknown=len(watch.first_arrival.keys() - recorder.submitted.keys()),
        duplicates=counts.duplicates,
        mismatched=counts.mismatched,
        kinds=counts.kinds,
        dropped=sink.stats().dropped,
        peak_messages=watch.peak_messages,
        peak_mb=watch.peak_bytes / 1e6,
        waiting=waiting,
        reconnect_s=connected_at - up_at,
        drain_s=drain_s,
        drain_rate=len(caught_up) / drain_s if drain_s > 0 else float("nan"),
        live_while_draining=len(lag),
        live_lag_s=_spread(lag),
        out_of_order=counts.out_of_order,
        stats=sink.stats(),
        real_s=time.monotonic() - started,
    )


def _mismatched(collector: Collector) -> int:
    payloads: dict[str, bytes] = {}
    bad = 0
    for _, payload, user_key in collector.messages:
        key = payload_key(payload)
        if user_key != key or payloads.setdefault(key, payload) != payload:
            bad += 1
    return bad


def _out_of_order(collector: Collector, recorder: Recorder, connected_at: float) -> int:
    """Within each lane and topic, first arrivals whose reading time goes back."""
    seen: set[str] = set()
    last: dict[tuple[str, str], int] = {}
    back = 0
    for topic, payload, _ in collector.messages:
        key = payload_key(payload)
        submitted = recorder.submitted.get(key)
        if key in seen or submitted is None:
            continue
        seen.add(key)
        if submitted < connected_at - _LANE_MARGIN_S:
            lane = "first connection, then catch-up"
        elif submitted > connected_at + _LANE_MARGIN_S:
            lane = "live"
        else:
            continue  # too close to the reconnection to tell the lane
        at_us = int(key.rsplit("/", 1)[1])
        if at_us < last.get((lane, topic), 0):
            back += 1
        last[(lane, topic)] = max(at_us, last.get((lane, topic), 0))
    return back


def _spread(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    p99 = values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]
    return statistics.median(values), p99, values[-1]


def report(config: OutageConfig, result: OutageReport) -> None:
    """Print the figures."""
    lag = ", ".join(f"{v:.2f}" for v in result.live_lag_s)
    print(
        f"{config.gateways} gateways at the default plan, simulated clock x{config.speed:g}; "
        f"broker down {config.outage_s:g} s after {config.before_s:g} s"
    )
    print(f"  events polled:        {result.polled}")
    if result.consumer == "postgres":
        kinds = ", ".join(f"{count} {kind}" for kind, count in result.kinds.items())
        print(f"  rows in PostgreSQL:   {result.received} ({kinds})")
        print(
            f"                        {result.mismatched} readings twice; ingest found "
            f"{result.duplicates} messages already written (delivered again)"
        )
    else:
        print(
            f"  messages received:    {result.received} ({result.duplicates} duplicates, "
            f"{result.mismatched} mismatched)"
        )
    print(f"  lost:                 {result.lost} (unknown {result.unknown})")
    print(
        f"  outbox peak:          {result.peak_messages} messages, {result.peak_mb:.2f} MB "
        f"({result.dropped} dropped by the limit)"
    )
    print(f"  waiting at return:    {result.waiting} messages")
    print(f"  reconnected after:    {result.reconnect_s:.1f} s")
    print(
        f"  drained in:           {result.drain_s:.1f} s, {result.drain_rate:.1f} events/s "
        f"(bound {config.drain_rate:g})"
    )
    print(
        f"  live while draining:  {result.live_while_draining} events, lag median/p99/max {lag} s"
    )
    if result.out_of_order is not None:
        print(f"  out of order in lane: {result.out_of_order}")
    print(f"  real time:            {result.real_s:.0f} s")


def _have_postgres() -> bool:
    return postgres_bin() is not None and importlib.util.find_spec("asyncpg") is not None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the outage from the command line; 1 when anything was lost."""
    parser = base_parser(__doc__.split("\n")[0])
    defaults = OutageConfig()
    parser.add_argument("--gateways", type=int, default=defaults.gateways)
    parser.add_argument("--speed", type=float, default=defaults.speed)
    parser.add_argument("--before", type=float, default=defaults.before_s, help="seconds")
    parser.add_argument("--outage", type=float, default=defaults.outage_s, help="seconds")
    parser.add_argument("--after", type=float, default=defaults.after_s, help="seconds")
    parser.add_argument("--drain-rate", type=float, default=defaults.drain_rate)
    parser.add_argument(
        "--postgres",
        action=argparse.BooleanOptionalAction,
        help="count the rows ingest writes into a throwaway PostgreSQL, not the messages of "
        "an MQTT consumer (default: when PostgreSQL and asyncpg are installed)",
    )
    args = parser.parse_args(argv)
    use_postgres = _have_postgres() if args.postgres is None else args.postgres
    if use_postgres and not _have_postgres():
        parser.error("--postgres needs PostgreSQL (scripts/postgres.sh) and asyncpg")
    config = OutageConfig(
        gateways=args.gateways,
        speed=args.speed,
        before_s=args.before,
        outage_s=args.outage,
        after_s=args.after,
        drain_rate=args.drain_rate,
    )
    with tempfile.TemporaryDirectory(prefix="enphase-outbox-") as folder:
        pg_bin = postgres_bin() if use_postgres else None
        postgres = None if pg_bin is None else PostgresServer(pg_bin)
        try:
            if postgres is not None:
                postgres.start()
            result = asyncio.run(run_outage(config, Path(folder), postgres))
        finally:
            if postgres is not None:
                postgres.remove()
    report(config, result)
    write_json(args.json, {"config": attrs.asdict(config), "result": attrs.asdict(result)})
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
