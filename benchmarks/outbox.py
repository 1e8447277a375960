"""outbox: store and forward through a broker outage, counted event by event.

Twenty simulated gateways (battery, metered and standard sites in turn) are polled at the
default plan; every event goes through the MQTT sink's outbox (a SQLite file) to a mosquitto
of our own (persistent, so that its consumer's session outlives a restart), and a consumer
with a persistent MQTT 5 session (QoS 1) collects what arrives. After ``--before`` seconds
the broker is stopped for ``--outage`` seconds while polling goes on, then started again.

Measured: every event the poller handed the sinks against what the consumer received (lost
must be 0; duplicates, each with its key and the same payload, are allowed), the outbox's
peak (messages and MB), how long the sink took to reconnect, how long the backlog took to
drain and at what rate (bounded by ``--drain-rate``), how fresh the live messages were while
it drained (from the poller's event to the consumer), and whether each lane kept its order
per topic.

Run: ``python -m benchmarks.outbox [--gateways 20] [--outage 600] [--speed 1]``; the full
run takes the outage plus about two minutes. ``tests/sinks/test_mqtt_outbox.py`` runs the
same with a fast simulated clock for a few seconds. Exits 1 on any loss.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from benchmarks.harness import base_parser, write_json
from enphase_local.energy import EnergyTracker
from enphase_local.events import SinkEvent
from enphase_local.scheduler import GatewaySpec, Poller, ScaledClock
from enphase_local.simulator import Simulation
from enphase_local.sinks import SinkSet, SinkStats
from enphase_local.sinks.forward import DEFAULT_DRAIN_RATE
from enphase_local.sinks.keys import idempotency_key
from enphase_local.sinks.mqtt import RECONNECT_DELAY_S, MqttSettings, MqttSink
from tests.sinks.broker import Broker, Collector, mosquitto_binary, payload_key

#: The sites, in turn.
PROFILES = ("battery", "metered", "standard")
#: Midsummer noon: the sun is up, every value moves.
NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
PREFIX = "outbox_bench"
#: Live messages submitted this close to the reconnection may be in either lane.
_LANE_MARGIN_S = 0.5


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


@attrs.frozen(kw_only=True)
class OutageReport:
    """What happened."""

    #: Events the poller (and the energy tracker) handed the MQTT sink.
    polled: int
    #: Messages the consumer received, duplicates included.
    received: int
    #: Events never received: must be 0.
    lost: int
    #: Messages received for no polled event: must be 0.
    unknown: int
    #: Messages received again (same key).
    duplicates: int
    #: Duplicates with another payload, or a user property unlike the payload's key: must be 0.
    mismatched: int
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
    #: Seconds from the reconnection until every message of the outage was received.
    drain_s: float
    #: Messages of the outage received per second while draining.
    drain_rate: float
    #: Live messages received while the backlog drained.
    live_while_draining: int
    #: Their delay from the poller's event to the consumer, seconds: median, p99, most.
    live_lag_s: tuple[float, float, float]
    #: Messages of a lane that arrived before an older one of the same topic and lane.
    out_of_order: int
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


class _Watch:
    """Samples the sink and the consumer while the run goes on."""

    def __init__(self, sink: MqttSink, collector: Collector) -> None:
        self.sink = sink
        self.collector = collector
        self.first_arrival: dict[str, float] = {}
        self._seen = 0
        self.peak_messages = 0
        self.peak_bytes = 0

    def sample(self) -> None:
        self.peak_messages = max(self.peak_messages, self.sink.stats().backlog)
        self.peak_bytes = max(self.peak_bytes, self.sink.outbox.bytes)
        messages, arrived = self.collector.messages, self.collector.arrived
        for index in range(self._seen, len(messages)):
            key = payload_key(messages[index][1])
            self.first_arrival.setdefault(key, arrived[index])
        self._seen = len(messages)

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
                f"{len(self.collector.messages)} messages received"
            ) from None

    async def for_seconds(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.sample()
            await asyncio.sleep(0.1)


async def run_outage(config: OutageConfig, folder: Path) -> OutageReport:
    """Poll through a broker outage; count what the consumer received."""
    binary = mosquitto_binary()
    if binary is None:
        raise RuntimeError("mosquitto is not installed (run scripts/mosquitto.sh as root)")
    started = time.monotonic()
    broker = Broker(binary, folder, persistent=True)
    await broker.start()
    try:
        async with Collector(broker.port, f"{PREFIX}/#") as collector:
            return await _run(config, folder, broker, collector, started)
    finally:
        await broker.stop()


async def _run(
    config: OutageConfig, folder: Path, broker: Broker, collector: Collector, started: float
) -> OutageReport:
    profiles = [PROFILES[i % len(PROFILES)] for i in range(config.gateways)]
    recorder = Recorder()
    sink = MqttSink(
        MqttSettings(host="127.0.0.1", port=broker.port, prefix=PREFIX, client_id="poller"),
        outbox=folder / "outbox.sqlite",
        drain_rate=config.drain_rate,
        reconnect_delay_s=config.reconnect_delay_s,
    )
    watch = _Watch(sink, collector)
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
                "reconnected", lambda: sink.connected, 120 + config.reconnect_delay_s[1]
            )
            connected_at = time.monotonic()
            drain_s = 120 + 3 * len(outage) / config.drain_rate
            await watch.until("drained", lambda: outage <= watch.first_arrival.keys(), drain_s)
            drained_at = time.monotonic()
            await watch.for_seconds(config.after_s)
        finally:
            await poller.close()
        await watch.until(
            "all received", lambda: recorder.submitted.keys() <= watch.first_arrival.keys(), 120
        )
        await sinks.close()
    watch.sample()
    caught_up = [k for k in outage if watch.first_arrival[k] >= connected_at]
    live = [
        watch.first_arrival[key] - at
        for key, at in recorder.submitted.items()
        if at > connected_at + _LANE_MARGIN_S and watch.first_arrival.get(key, 1e18) < drained_at
    ]
    lag = sorted(live)
    drain_s = drained_at - connected_at
    return OutageReport(
        polled=len(recorder.submitted),
        received=len(collector.messages),
        lost=len(recorder.submitted.keys() - watch.first_arrival.keys()),
        unknown=len(watch.first_arrival.keys() - recorder.submitted.keys()),
        duplicates=len(collector.messages) - len(watch.first_arrival),
        mismatched=_mismatched(collector),
        dropped=sink.stats().dropped,
        peak_messages=watch.peak_messages,
        peak_mb=watch.peak_bytes / 1e6,
        waiting=waiting,
        reconnect_s=connected_at - up_at,
        drain_s=drain_s,
        drain_rate=len(caught_up) / drain_s if drain_s > 0 else float("nan"),
        live_while_draining=len(lag),
        live_lag_s=_spread(lag),
        out_of_order=_out_of_order(collector, recorder, connected_at),
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
        f"  drained in:           {result.drain_s:.1f} s, {result.drain_rate:.1f} messages/s "
        f"(bound {config.drain_rate:g})"
    )
    print(
        f"  live while draining:  {result.live_while_draining} messages, lag median/p99/max {lag} s"
    )
    print(f"  out of order in lane: {result.out_of_order}")
    print(f"  real time:            {result.real_s:.0f} s")


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
    args = parser.parse_args(argv)
    config = OutageConfig(
        gateways=args.gateways,
        speed=args.speed,
        before_s=args.before,
        outage_s=args.outage,
        after_s=args.after,
        drain_rate=args.drain_rate,
    )
    with tempfile.TemporaryDirectory(prefix="enphase-outbox-") as folder:
        result = asyncio.run(run_outage(config, Path(folder)))
    report(config, result)
    write_json(args.json, {"config": attrs.asdict(config), "result": attrs.asdict(result)})
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
