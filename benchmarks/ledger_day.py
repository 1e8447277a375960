"""ledger_day: a simulated day of energy with every counter fault and a poller outage, against
the simulator's ground truth.

Three simulated gateways over HTTPS: ``metered`` (production and net-consumption CTs, split
phase), ``three-phase`` and ``acb`` (AC Batteries and no storage CT: their energy comes from
integrating live data's battery power). The :class:`~enphase_local.Poller` runs in lock step
with the frozen simulation (:class:`~enphase_local.simulator.LockstepClock`): meter readings
every 10 simulated seconds, the battery site's live data as often; a whole day takes minutes.
Its events go through a :class:`~enphase_local.sinks.SinkSet` with an energy tracker into a
SQLite file, a recorder and, when a broker is there (mosquitto is started when installed,
or ``--mqtt HOST:PORT``), the MQTT sink. Each gateway suffers, a little apart: a drop to zero
of one reading, a 6.78 MWh spike of one reading, a reset to zero that stays, and a firmware
update that restarts its counters; half-way through the poller stops for ``--outage-hours``
and then starts again on the same file.

Measured: each gateway's ledger total per flow over the window against the simulator's
ground truth (target: within 0.5 %); that no quarter hour is missing from the ledger; that
the energy totals the sinks publish (recorded, and on MQTT's state topics) never decrease and
never rise faster than the site's physical limit; and which decisions the counter guard made.

Run: ``python -m benchmarks.ledger_day [--hours H] [--outage-hours H] [--start-hour H]``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import aiomqtt
import attrs
import orjson

from benchmarks.harness import base_parser, print_table, write_json
from enphase_local.energy import FLOWS, EnergyTracker, SiteRating, total
from enphase_local.energy.guard import allowance_wh
from enphase_local.events import CounterEvent, EnergyEvent, SinkEvent
from enphase_local.scheduler import GatewaySpec, Poller, PollPlan
from enphase_local.simulator import LockstepClock, Simulation
from enphase_local.simulator.physics import FlowTotals
from enphase_local.simulator.profiles import Profile
from enphase_local.sinks import Sink, SinkSet, SinkStats, SqliteSink, read_ledger
from enphase_local.sinks.mqtt import MqttSettings, MqttSink
from enphase_local.sinks.view import ENERGY_VALUES

#: The gateways, by profile.
PROFILES = ("metered", "three-phase", "acb")
#: Midsummer, midnight UTC (the sites' local time).
DAY = dt.datetime(2025, 6, 21, tzinfo=dt.UTC)
#: Seconds between meter readings (and the battery site's live data).
LIVE_S = 10.0
#: How close each flow's total must come to the truth, percent.
TOLERANCE_PCT = 0.5
#: Where in the window each fault strikes (a share of it), and how far apart the gateways.
FAULTS = (("drop", 0.15), ("spike", 0.25), ("reset", 0.40), ("firmware", 0.75))
GATEWAY_STAGGER = 0.02
#: Where the outage begins (a share of the window): 19:12 in a whole day, while the
#: batteries discharge into the evening load. Across a gap the ledger knows the batteries'
#: net change only (from their stored energy): an outage while they turn round and round
#: (full at midday, a kettle now and then: ``--outage-at 0.5``) loses what cancels out.
OUTAGE_AT = 0.8
#: Polling starts this long before the window and stops this long after it, seconds: the
#: ledger then covers the window's edges, wherever in an interval each source is read.
LEAD_S = 60.0
READINGS = "/ivp/meters/readings"
MQTT_PREFIX = "ledger_day"


#: Something to do at a simulated time with the simulation (a fault, reading the truth).
Action = tuple[float, Callable[[Simulation], None]]


def strike(gateway: int, action: str) -> Callable[[Simulation], None]:
    """A counter fault of one simulated gateway."""

    def run(sim: Simulation) -> None:
        target = sim.gateways[gateway]
        if action in ("drop", "spike"):
            target.glitch_counters(action, path=READINGS)
        elif action == "reset":
            target.reset_counters()
        else:
            target.update_firmware("D8.3.5169")

    return run


def schedule(start: float, hours: float, gateways: int) -> list[Action]:
    """Every fault for every gateway, a little apart, at reading times."""
    window = hours * 3600
    return [
        (start + window * (share + k * GATEWAY_STAGGER) // LIVE_S * LIVE_S, strike(k, action))
        for action, share in FAULTS
        for k in range(gateways)
    ]


class Recorder:
    """A sink keeping the energy events and the counter guard's decisions."""

    def __init__(self) -> None:
        self.energy: list[EnergyEvent] = []
        self.decisions: list[CounterEvent] = []
        self._count = 0

    @property
    def name(self) -> str:
        return "recorder"

    async def start(self) -> None:
        return None

    def submit(self, event: SinkEvent) -> None:
        self._count += 1
        if isinstance(event, EnergyEvent):
            self.energy.append(event)
        elif isinstance(event, CounterEvent):
            self.decisions.append(event)

    async def close(self) -> None:
        return None

    def stats(self) -> SinkStats:
        return SinkStats(name=self.name, submitted=self._count, written=self._count)


@contextlib.asynccontextmanager
async def state_topics(
    host: str, port: int
) -> AsyncIterator[dict[str, list[tuple[float, dict[str, Any]]]]]:
    """Every state message of every gateway on the broker: (updated at, payload) by serial."""
    seen: dict[str, list[tuple[float, dict[str, Any]]]] = collections.defaultdict(list)
    ready = asyncio.Event()

    async def listen() -> None:
        async with aiomqtt.Client(host, port) as client:
            await client.subscribe(f"{MQTT_PREFIX}/+/state", qos=1)
            ready.set()
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                state = orjson.loads(message.payload)
                if state.get("updated_at"):
                    when = dt.datetime.fromisoformat(state["updated_at"]).timestamp()
                    seen[str(message.topic).split("/")[1]].append((when, state))

    task = asyncio.get_running_loop().create_task(listen())
    try:
        async with asyncio.timeout(10):
            await ready.wait()
        yield seen
    finally:
        await asyncio.sleep(1.0)  # the last state messages on their way
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def physical_limit_w(profile: Profile, flow: str) -> float:
    """What the site can move in a flow, W, from its profile (as the guard rates it)."""
    rating = SiteRating(
        pv_w=profile.inverter_count * profile.inverter_rating_w,
        battery=profile.battery_count > 0,
        battery_capacity_wh=profile.battery_count * profile.battery_capacity_wh or None,
        phases=profile.phase_count,
    )
    if flow in ("production_wh", "battery_charge_wh", "battery_discharge_wh"):
        return rating.production_w
    return rating.site_w


def jumps(events: Sequence[EnergyEvent], profile: Profile) -> list[str]:
    """Every decrease of a gateway's totals, and every rise of a source's flow that the site
    could not physically make since that flow last moved."""
    problems = []
    totals: dict[str, float] = {}
    moved: dict[tuple[str, str], tuple[float, float]] = {}  # (source, flow): (when, value)
    for event in events:
        at = event.at.timestamp()
        for flow, value in event.totals.items():
            if value < totals.get(flow, value):
                problems.append(
                    f"{profile.name} {flow} fell from {totals[flow]:.1f} to {value:.1f}"
                )
        totals |= event.totals
        for flow, value in event.flows.items():
            since, previous = moved.get((event.source, flow), (at, value))
            if value - previous > allowance_wh(physical_limit_w(profile, flow), at - since):
                problems.append(
                    f"{profile.name} {event.source} {flow} rose {value - previous:.1f} Wh "
                    f"in {at - since:.0f} s"
                )
            if value != previous or (event.source, flow) not in moved:
                moved[event.source, flow] = (at, value)
    return problems


def published_problems(
    states: Sequence[tuple[float, dict[str, Any]]], events: Sequence[EnergyEvent], name: str
) -> list[str]:
    """Every published energy value that fell, or that no energy event carried (a sensor
    fed by something else than the guard)."""
    problems = []
    carried = {(flow, value) for e in events for flow, value in e.totals.items()}
    last: dict[str, float] = {}
    for _, state in states:
        for key, flow in ENERGY_VALUES.items():
            value = state.get(key)
            if value is None:
                continue
            if value < last.get(key, value):
                problems.append(f"{name} on MQTT: {key} fell from {last[key]:.1f} to {value:.1f}")
            if (flow, value) not in carried:
                problems.append(f"{name} on MQTT: {key} = {value} came from no energy event")
            last[key] = value
    return problems


@attrs.frozen(kw_only=True)
class DayResult:
    """What the day showed."""

    #: (gateway, profile, flow, truth Wh, ledger Wh), for every flow the ledger or truth has.
    flows: list[tuple[str, str, str, float, float | None]]
    #: Decisions of the counter guard by gateway profile and decision.
    decisions: dict[str, dict[str, int]]
    #: Quarter hours missing from the ledger, by gateway.
    missing: dict[str, int]
    #: Quarter hours in the ledger, and how many of them were filled across a gap.
    buckets: int
    filled: int
    #: Every decrease or too-fast rise of a published total (recorded and on MQTT).
    problems: list[str]
    #: State messages checked on MQTT (0 without a broker).
    mqtt_states: int
    #: Real seconds the day took, and the requests the gateways answered.
    real_s: float
    requests: int

    def error_pct(self, truth: float, ledger: float | None) -> float:
        if ledger is None:
            return float("nan")
        return 100 * (ledger - truth) / truth if truth else 0.0

    @property
    def worst_pct(self) -> float:
        errors = [abs(self.error_pct(t, lg)) for *_, t, lg in self.flows if lg is not None]
        return max(errors, default=0.0)

    @property
    def ok(self) -> bool:
        measured = all(lg is not None or t == 0 for *_, t, lg in self.flows)
        return (
            measured
            and self.worst_pct <= TOLERANCE_PCT
            and not any(self.missing.values())
            and not self.problems
        )


def _plan(profile: str) -> PollPlan:
    plan = PollPlan().with_live_interval(LIVE_S)
    return plan.with_intervals(live_data=LIVE_S) if profile == "acb" else plan


async def _segment(sim: Simulation, sinks: list[Sink], actions: list[Action], end: float) -> None:
    """Poll from now to ``end`` (doing the actions due meanwhile) into a fresh sink set."""
    energy = SinkSet(sinks, energy=EnergyTracker())
    await energy.start()
    specs = [
        GatewaySpec(
            host=g.url,
            token=g.token,
            plan=_plan(g.profile.name if g.profile else ""),
            options={"fingerprint": g.fingerprint},
        )
        for g in sim.gateways
    ]
    clock = LockstepClock(sim.clock, waiters=len(specs))
    poller = Poller(specs, clock=clock, start_spread_s=0, buffer_size=0)
    poller.subscribe(energy.submit, name="sinks")
    try:
        async with poller:
            for at, action in sorted(actions, key=lambda a: a[0]):
                await clock.run_until(at)
                action(sim)
            await clock.run_until(end)
    finally:
        await energy.close()


async def run_day(
    folder: Path,
    *,
    start: dt.datetime = DAY,
    hours: float = 24.0,
    outage_hours: float = 2.0,
    outage_at: float = OUTAGE_AT,
    mqtt: tuple[str, int] | None = None,
) -> DayResult:
    """Poll the three gateways through the window; compare the ledger with the truth."""
    begin = start.timestamp()
    end = begin + hours * 3600
    pause = begin + (hours * outage_at * 3600) // LIVE_S * LIVE_S
    resume = pause + outage_hours * 3600
    truths: list[dict[str, FlowTotals]] = []

    def read_truth(sim: Simulation) -> None:
        truths.append({g.serial: g.energy_truth() for g in sim.gateways})

    actions = [*schedule(begin, hours, len(PROFILES)), (begin, read_truth), (end, read_truth)]
    path = folder / "ledger_day.sqlite"
    recorder = Recorder()
    started = time.monotonic()
    first_poll = begin - LEAD_S
    async with Simulation(
        profile=list(PROFILES), speed=0, start_time=first_poll, cloud=False
    ) as sim:
        async with contextlib.AsyncExitStack() as stack:
            states = await stack.enter_async_context(state_topics(*mqtt)) if mqtt else {}
            for first, last in ((first_poll, pause), (resume, end + LEAD_S)):
                sim.clock.set_time(first)
                due = [a for a in actions if first <= a[0] <= last]
                sinks: list[Sink] = [SqliteSink(path), recorder]
                if mqtt is not None:
                    settings = MqttSettings(host=mqtt[0], port=mqtt[1], prefix=MQTT_PREFIX)
                    sinks.append(MqttSink(settings))
                await _segment(sim, sinks, due, last)
        profiles = {g.serial: g.profile for g in sim.gateways if g.profile is not None}
        requests = sum(g.stats.requests for g in sim.gateways)
    real_s = time.monotonic() - started
    truth_before, truth_after = truths
    window = dt.datetime.fromtimestamp(begin, dt.UTC), dt.datetime.fromtimestamp(end, dt.UTC)
    ledger = [b for b in read_ledger(path) if window[0] <= b.start < window[1]]
    flows = []
    missing: dict[str, int] = {}
    expected = round(hours * 4)
    for serial, profile in profiles.items():
        buckets = [b for b in ledger if b.gateway == serial]
        missing[serial] = expected - len({b.start for b in buckets})
        sums = total(buckets)
        before, after = attrs.asdict(truth_before[serial]), attrs.asdict(truth_after[serial])
        for flow in FLOWS:
            truth = after[flow] - before[flow]
            if sums[flow] is not None or truth:
                flows.append((serial, profile.name, flow, truth, sums[flow]))
    problems = []
    for serial, profile in profiles.items():
        events = [e for e in recorder.energy if e.serial == serial]
        problems += jumps(events, profile)
        problems += published_problems(states.get(serial, []), events, profile.name)
    decisions: dict[str, dict[str, int]] = {}
    for decision in recorder.decisions:
        name = profiles[str(decision.serial)].name
        counts = decisions.setdefault(name, {})
        counts[decision.decision.value] = counts.get(decision.decision.value, 0) + 1
    return DayResult(
        flows=flows,
        decisions=decisions,
        missing=missing,
        buckets=len(ledger),
        filled=sum(b.filled for b in ledger),
        problems=problems,
        mqtt_states=sum(len(v) for v in states.values()),
        real_s=real_s,
        requests=requests,
    )


def report(result: DayResult) -> None:
    """Print the ledger against the truth, and the checks."""
    rows = [
        (
            profile,
            flow.removesuffix("_wh"),
            truth / 1000,
            float("nan") if ledger is None else ledger / 1000,
            result.error_pct(truth, ledger),
        )
        for _, profile, flow, truth, ledger in result.flows
    ]
    print_table(("gateway", "flow", "truth kWh", "ledger kWh", "error %"), rows)
    print(
        f"worst error {result.worst_pct:.3f} % (target {TOLERANCE_PCT} %); "
        f"{result.buckets} quarter hours, {result.filled} filled across gaps, "
        f"{sum(result.missing.values())} missing"
    )
    for profile, counts in sorted(result.decisions.items()):
        print(f"  {profile}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(
        f"published totals: {len(result.problems)} problems"
        + (f" ({result.mqtt_states} MQTT state messages checked)" if result.mqtt_states else "")
    )
    for problem in result.problems[:10]:
        print(f"  {problem}")
    print(f"{result.requests} requests in {result.real_s:.1f} s real time")


@contextlib.asynccontextmanager
async def broker(folder: Path) -> AsyncIterator[tuple[str, int] | None]:
    """A mosquitto of our own on loopback, or None when it is not installed."""
    from tests.sinks.broker import Broker, mosquitto_binary  # noqa: PLC0415 - test helper, optional

    binary = mosquitto_binary()
    if binary is None:
        yield None
        return
    server = Broker(binary, folder)
    await server.start()
    try:
        yield ("127.0.0.1", server.port)
    finally:
        await server.stop()


async def _main(args: argparse.Namespace) -> DayResult:
    options: dict[str, Any] = {
        "start": DAY + dt.timedelta(hours=args.start_hour),
        "hours": args.hours,
        "outage_hours": args.outage_hours,
        "outage_at": args.outage_at,
    }
    with tempfile.TemporaryDirectory(prefix="ledger_day-") as folder:
        if args.mqtt is not None:
            host, _, port = args.mqtt.rpartition(":")
            return await run_day(Path(folder), mqtt=(host or "127.0.0.1", int(port)), **options)
        async with broker(Path(folder)) as found:
            if found is None:
                print("mosquitto is not installed: the MQTT sink is left out")
            return await run_day(Path(folder), mqtt=found, **options)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the day; print the table; write JSON when asked; status 1 if a target is missed."""
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "ledger_day")
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours (24)")
    parser.add_argument(
        "--outage-hours", type=float, default=2.0, help="the poller's outage, hours (2)"
    )
    parser.add_argument(
        "--outage-at",
        type=float,
        default=OUTAGE_AT,
        help=f"where the outage begins, a share of the run ({OUTAGE_AT})",
    )
    parser.add_argument("--start-hour", type=float, default=0.0, help="UTC hour to start at (0)")
    parser.add_argument("--mqtt", metavar="HOST:PORT", help="a broker to publish to")
    args = parser.parse_args(argv)
    outage_ends = args.outage_at + args.outage_hours / args.hours
    if not (args.outage_hours > 0 and args.outage_at > 0 and outage_ends < 1):
        parser.error("the outage must begin and end within the run")
    result = asyncio.run(_main(args))
    report(result)
    write_json(args.json, attrs.asdict(result) | {"worst_pct": result.worst_pct, "ok": result.ok})
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
