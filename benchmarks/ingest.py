"""ingest: the pollers' MQTT stream into PostgreSQL, in events per second, and what it means
in gateways.

1. Rows per gateway per day: a ``metered`` and a ``battery`` simulated gateway are polled on
   the library's default plan (:class:`~enphase_local.scheduler.PollPlan`) in lock step with
   a frozen simulation (``--hours`` simulated hours, minutes of real time), through the energy
   tracker into the PostgreSQL sink; each table's rows are counted per gateway and scaled to
   a day. The events of that run are also the MQTT sink's messages, exactly as it publishes
   them (topic and payload).
2. Events per second: those messages, spread over ``--gateways`` gateway names (each from
   its own point of the day) and interleaved as a fleet sends them, ``--messages`` of them
   (each name's a distinct reading: the gateway is part of the key), are queued in mosquitto
   for one or two named ``enphase-local ingest`` sessions of one shared-subscription group
   while no ingest runs; then the ingest processes start and the time until every reading is
   committed in PostgreSQL is measured, with the CPU each process (ingest, PostgreSQL,
   mosquitto) used meanwhile.
3. Gateways one ingest process keeps up with: the rate of (2) for one process divided by the
   messages a gateway sends per second on the default plan (1).

Everything runs on this machine: mosquitto and PostgreSQL (Debian's, started here on
loopback ports as the tests start them), the ingest processes, and the script itself.

Run: ``python -m benchmarks.ingest [--hours H] [--messages N] [--gateways G]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiomqtt
import asyncpg
import orjson
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from benchmarks.harness import base_parser, print_table, write_json
from enphase_local.energy import EnergyTracker
from enphase_local.events import SinkEvent
from enphase_local.scheduler import GatewaySpec, Poller
from enphase_local.simulator import LockstepClock, Simulation
from enphase_local.sinks import SinkSet, SinkStats
from enphase_local.sinks.mqtt import event_message
from enphase_local.sinks.postgres import PostgresSink, connect
from tests.postgres import PostgresServer, postgres_bin
from tests.sinks.broker import Broker, mosquitto_binary

DAY = dt.datetime(2025, 6, 21, 0, tzinfo=dt.UTC)
PREFIX = "bench"
GROUP = "bench"
PROFILES = ("metered", "battery")
TABLES = (
    "events", "energy_events", "power_samples", "battery_samples", "inverter_samples", "ledger",
)  # fmt: skip
#: Messages of the same reading are ``events`` + ``energy_events`` rows.
READINGS = ("events", "energy_events")
TARGET_GATEWAYS = 10_000
#: Every messages can wait in mosquitto for the named sessions while no ingest runs.
BROKER_SETTINGS = "max_queued_messages 0\nmax_inflight_messages 0\n"


class Recorder:
    """A sink keeping every event."""

    def __init__(self) -> None:
        self.events: list[SinkEvent] = []

    @property
    def name(self) -> str:
        return "recorder"

    async def start(self) -> None:
        return None

    def submit(self, event: SinkEvent) -> None:
        self.events.append(event)

    async def close(self) -> None:
        return None

    def stats(self) -> SinkStats:
        return SinkStats(name=self.name, submitted=len(self.events), written=len(self.events))


async def simulate(hours: float, dsn: str) -> list[SinkEvent]:
    """Poll the gateways on the default plan for ``hours`` simulated hours into ``dsn``."""
    recorder = Recorder()
    start = DAY.timestamp()
    async with Simulation(profile=list(PROFILES), speed=0, start_time=start, cloud=False) as sim:
        sinks = SinkSet([PostgresSink(dsn), recorder], energy=EnergyTracker())
        await sinks.start()
        specs = [
            GatewaySpec(host=g.url, token=g.token, options={"fingerprint": g.fingerprint})
            for g in sim.gateways
        ]
        clock = LockstepClock(sim.clock, waiters=len(specs))
        poller = Poller(specs, clock=clock, start_spread_s=0, buffer_size=0)
        poller.subscribe(sinks.submit, name="sinks")
        try:
            async with poller:
                await clock.run_until(start + hours * 3600)
        finally:
            await sinks.close()
    return recorder.events


async def rows_per_day(dsn: str, hours: float) -> dict[str, dict[str, float]]:
    """Rows of each table per gateway, scaled to a day."""
    conn = await connect(dsn)
    try:
        counts: dict[str, dict[str, float]] = {}
        for table in TABLES:
            rows = await conn.fetch(
                f"SELECT gateway, count(*) AS n FROM {table} GROUP BY gateway"  # noqa: S608 - fixed names
            )
            for row in rows:
                counts.setdefault(row["gateway"], {})[table] = row["n"] * 24 / hours
        return counts
    finally:
        await conn.close()


def messages_of(events: Sequence[SinkEvent]) -> list[tuple[str, str, bytes]]:
    """``(gateway level, topic level, payload)`` of each event, as the MQTT sink publishes it
    (its own encoder: the bytes are the sink's)."""
    out = []
    for event in events:
        entry = event_message(event)  # the sink's exact bytes
        gateway, level = entry.topic.split("/")
        out.append((gateway, level, entry.payload))
    return out


def fleet(
    messages: Sequence[tuple[str, str, bytes]], gateways: int, total: int
) -> list[tuple[str, bytes]]:
    """``total`` messages of ``gateways`` gateway names, interleaved as a fleet sends them.

    Name k replays one simulated gateway's messages from a point k/``gateways`` of the way
    through them (wrapping round), so that the mix is the day's, not only the start-up's.
    """
    per_site: dict[str, list[tuple[str, bytes]]] = {}
    for gateway, level, payload in messages:
        per_site.setdefault(gateway, []).append((level, payload))
    sites = [per_site[name] for name in sorted(per_site)]
    out: list[tuple[str, bytes]] = []
    step = 0
    while len(out) < total:
        for index in range(gateways):
            site = sites[index % len(sites)]
            level, payload = site[(index * len(site) // gateways + step) % len(site)]
            name = f"site{index:05d}"
            out.append((f"{PREFIX}/{name}/{level}", _renamed(payload, name)))
        step += 1
    return out[:total]


def _renamed(payload: bytes, gateway: str) -> bytes:
    """The payload as gateway ``gateway`` would have sent it: its idempotency key names it."""
    body = orjson.loads(payload)
    if isinstance(body, dict) and isinstance(body.get("key"), dict):
        body["key"] = {**body["key"], "gateway": gateway}
        return orjson.dumps(body)
    return payload


async def make_sessions(port: int, names: Sequence[str]) -> None:
    """Named sessions subscribed to the group, then disconnected: the broker queues for them."""
    for name in names:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho
        properties.SessionExpiryInterval = 3600
        async with aiomqtt.Client(
            "127.0.0.1",
            port,
            identifier=name,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=True,
            properties=properties,
        ) as client:
            await client.subscribe(f"$share/{GROUP}/{PREFIX}/+/+", qos=1)


async def publish_all(port: int, messages: Sequence[tuple[str, bytes]]) -> float:
    """Publish at QoS 1, many in flight; returns messages per second."""
    started = time.perf_counter()
    async with aiomqtt.Client(
        "127.0.0.1", port, max_inflight_messages=1000, max_concurrent_outgoing_calls=1000
    ) as client:
        client.pending_calls_threshold = 1000  # many in flight is the point here
        window = 500
        for start in range(0, len(messages), window):
            await asyncio.gather(
                *(client.publish(t, p, qos=1) for t, p in messages[start : start + window])
            )
    return len(messages) / (time.perf_counter() - started)


def cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU seconds of the processes and their children (running or ended)
    so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    wanted = set(pids)
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid in wanted or ppid in wanted:
            total += (int(fields[11]) + int(fields[12])) / ticks
        if pid in wanted:  # its children that ended (and were waited for)
            total += (int(fields[13]) + int(fields[14])) / ticks
    return total


async def readings(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        total = 0
        for table in READINGS:
            total += int(await conn.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608
        return total
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def ingest_processes(
    port: int, dsn: str, names: Sequence[str]
) -> AsyncIterator[list[asyncio.subprocess.Process]]:
    url = f"mqtt://127.0.0.1:{port}/{PREFIX}"
    processes = []
    for name in names:
        args = ["ingest", "--mqtt", url, "--postgres", dsn, "--group", GROUP, "--name", name]
        processes.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "enphase_local",
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        )
    try:
        yield processes
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(2)
        for process in processes:
            try:
                async with asyncio.timeout(30):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


async def drain(
    broker: Broker,
    broker_pid: int,
    postgres: PostgresServer,
    messages: Sequence[tuple[str, bytes]],
    count: int,
) -> dict[str, float]:
    """Queue the messages for ``count`` sessions, then time ``count`` ingest processes."""
    database = f"drain{count}"
    admin = await connect(postgres.dsn)
    await admin.execute(f"CREATE DATABASE {database}")
    await admin.close()
    dsn = postgres.dsn_for(database)
    setup = await connect(dsn)
    from enphase_local.sinks.postgres import migrate  # noqa: PLC0415 - beside its use

    await migrate(setup)
    await setup.close()
    names = [f"bench{count}-{k}" for k in range(count)]
    await make_sessions(broker.port, names)
    publish_rate = await publish_all(broker.port, messages)
    assert postgres.running
    pg_pid = int((postgres.data / "postmaster.pid").read_text().split()[0])
    cpu_before = {"postgres": cpu_seconds([pg_pid]), "mosquitto": cpu_seconds([broker_pid])}
    started = time.perf_counter()
    async with ingest_processes(broker.port, dsn, names) as processes:
        pids = [p.pid for p in processes]
        ingest_before = cpu_seconds(pids)
        async with asyncio.timeout(3600):
            while await readings(dsn) < len(messages):  # noqa: ASYNC110 - a database to poll
                await asyncio.sleep(0.5)
        elapsed = time.perf_counter() - started
        ingest_cpu = cpu_seconds(pids) - ingest_before
        postgres_cpu = cpu_seconds([pg_pid]) - cpu_before["postgres"]
        mosquitto_cpu = cpu_seconds([broker_pid]) - cpu_before["mosquitto"]
    return {
        "processes": count,
        "messages": len(messages),
        "seconds": elapsed,
        "events_per_s": len(messages) / elapsed,
        "publish_per_s": publish_rate,
        "ingest_cpu_share": ingest_cpu / elapsed,
        "postgres_cpu_share": postgres_cpu / elapsed,
        "mosquitto_cpu_share": mosquitto_cpu / elapsed,
    }


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    pg_bin, mosquitto = postgres_bin(), mosquitto_binary()
    if pg_bin is None or mosquitto is None:
        raise SystemExit(
            "needs PostgreSQL and mosquitto: scripts/postgres.sh, scripts/mosquitto.sh"
        )
    with tempfile.TemporaryDirectory() as folder:
        postgres = PostgresServer(pg_bin)
        try:
            postgres.start()
            admin = await connect(postgres.dsn)
            await admin.execute("CREATE DATABASE day")
            await admin.close()
            day_dsn = postgres.dsn_for("day")
            began = time.perf_counter()
            events = await simulate(args.hours, day_dsn)
            simulated_s = time.perf_counter() - began
            per_day = await rows_per_day(day_dsn, args.hours)
            print(f"{args.hours:g} simulated hours of 2 gateways on the default plan")
            print(f"({len(events)} events) in {simulated_s:.0f} s; rows per gateway per day:")
            print_table(
                ["gateway", *TABLES],
                [[g, *(round(c.get(t, 0.0)) for t in TABLES)] for g, c in sorted(per_day.items())],
            )
            per_gateway_day = sum(
                sum(c.get(t, 0.0) for t in READINGS) for c in per_day.values()
            ) / len(per_day)
            per_gateway_s = per_gateway_day / 86400
            print(f"readings (MQTT messages) per gateway: {per_gateway_day:.0f} a day, "
                  f"{per_gateway_s:.3f} a second")  # fmt: skip
            corpus = fleet(messages_of(events), args.gateways, args.messages)
            broker = Broker(mosquitto, Path(folder))
            broker.config.write_text(broker.config.read_text() + BROKER_SETTINGS)
            await broker.start()
            assert broker._process is not None  # its pid, for the CPU column
            broker_pid = broker._process.pid
            try:
                results = [
                    await drain(broker, broker_pid, postgres, corpus, count) for count in (1, 2)
                ]
            finally:
                await broker.stop()
        finally:
            postgres.remove()
    print(f"\n{len(corpus)} messages of {args.gateways} gateways, queued in mosquitto, "
          "drained into PostgreSQL:")  # fmt: skip
    print_table(
        ["ingest processes", "events/s", "per ingest CPU-second", "ingest CPU",
         "postgres CPU", "mosquitto CPU"],
        [
            [r["processes"], round(r["events_per_s"]),
             round(r["events_per_s"] / r["ingest_cpu_share"]), f"{r['ingest_cpu_share']:.0%}",
             f"{r['postgres_cpu_share']:.0%}", f"{r['mosquitto_cpu_share']:.0%}"]
            for r in results
        ],
    )  # fmt: skip
    one = results[0]["events_per_s"]
    gateways = one / per_gateway_s
    per_core = one / results[0]["ingest_cpu_share"] / per_gateway_s
    print(f"\none ingest process kept up with about {gateways:,.0f} gateways on the default "
          f"plan here (target {TARGET_GATEWAYS:,}; all four programs share this machine's "
          f"{os.cpu_count()} cores), {per_core:,.0f} on a core of its own")  # fmt: skip
    return {
        "hours": args.hours,
        "rows_per_gateway_per_day": per_day,
        "readings_per_gateway_per_s": per_gateway_s,
        "drains": results,
        "gateways_one_process": gateways,
        "gateways_one_process_per_core": per_core,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n", 1)[0] if __doc__ else "ingest")
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    parser.add_argument(
        "--messages", type=int, default=60_000, help="messages drained (default 60000)"
    )
    parser.add_argument(
        "--gateways", type=int, default=1000, help="gateway names they come from (default 1000)"
    )
    args = parser.parse_args(argv)
    result = asyncio.run(_main(args))
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
