"""``enphase-local demo``: three simulated gateways polled into SQLite, watched live, charted.

Starts a metered, a three-phase and a battery gateway on loopback (HTTPS, real tokens) whose
clock runs ``--speed`` times as fast as real time from sunrise on midsummer day, polls them
with the :class:`~enphase_local.scheduler.Poller` living in that simulated time, writes every
event, power sample, battery sample and the energy ledger to ``demo.sqlite`` in the ``--out``
folder while the live view shows them (the battery site's two IQ Batteries one by one), and
after ``--duration`` seconds (or Ctrl-C) draws the day so far (power, each battery's charge,
and energy per day) into ``power.png`` there. Without a terminal (CI, a pipe) the
view prints a block of plain lines every few seconds. The chart needs the ``report`` extra
(matplotlib); without it the demo says so and still keeps the data.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from enphase_local.cli import examples, positive_float
from enphase_local.cli.poll import configure_logging, print_summary, span, stop_on_signals
from enphase_local.cli.watch import LiveView, show
from enphase_local.energy import EnergyTracker
from enphase_local.scheduler import GatewaySpec, Poller, PollerStats, PollPlan, ScaledClock
from enphase_local.sinks import (
    SinkSet,
    SqliteSink,
    read_battery_samples,
    read_ledger,
    read_power_samples,
)

if TYPE_CHECKING:
    from enphase_local.simulator.harness import Simulation

#: The three kinds of site the demo simulates.
PROFILES: Final = ("metered", "three-phase", "battery")
#: Meter readings every this many *simulated* seconds: about three a real second at x900.
LIVE_INTERVAL_S: Final = 300.0
#: Seconds between printed blocks when there is no terminal.
PLAIN_REFRESH_S: Final = 5.0
DATABASE: Final = "demo.sqlite"
CHART: Final = "power.png"


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="poll three simulated gateways into SQLite, watch them live, chart the day",
        description=(
            "Simulate a metered, a three-phase and a battery gateway on loopback with a fast "
            "clock, poll them into a SQLite file while showing them live (each battery "
            "too), then chart production, consumption and net power and the batteries' "
            "charge. No real gateway needed; Ctrl-C ends early and still writes everything."
        ),
        epilog=examples(
            ("a minute of a simulated summer day", "enphase-local demo"),
            (
                "five minutes, slower, into another folder",
                "enphase-local demo --duration 300 --speed 300 --out my-demo",
            ),
        ),
    )
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="real seconds to run (default %(default)g)",
    )
    parser.add_argument(
        "--speed",
        type=positive_float,
        default=900.0,
        metavar="X",
        help="simulated seconds per real second (default %(default)g: a minute is 15 hours)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("demo-output"),
        metavar="DIR",
        help="folder for the SQLite file and the chart (default %(default)s)",
    )
    parser.set_defaults(run=run)


def _prepare(out: Path) -> Path:
    """Make the folder and remove an earlier run's database (the same simulated day)."""
    out.mkdir(parents=True, exist_ok=True)
    database = out / DATABASE
    for suffix in ("", "-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    return database


async def run(args: argparse.Namespace) -> int:
    """Run the demo for ``--duration`` seconds (or until Ctrl-C or SIGTERM)."""
    # Loaded here, not at import: the other commands (and --help) do without the simulator.
    from enphase_local.simulator.harness import Simulation  # noqa: PLC0415 - see above

    configure_logging(verbose=False, debug=args.debug)
    out: Path = args.out
    try:
        database = await asyncio.to_thread(_prepare, out)
    except OSError as err:
        print(f"enphase-local: error: cannot use {out}: {err.strerror}", file=sys.stderr)
        return 1
    # Local time, so the chart's sunrise and noon fall where the reader expects them.
    local = dt.datetime.now().astimezone().tzinfo or dt.UTC
    sunrise = dt.datetime(dt.datetime.now(local).year, 6, 21, 5, 30, tzinfo=local)
    simulation = Simulation(
        profile=list(PROFILES),
        speed=args.speed,
        start_time=sunrise,
        tz=local,
        cloud=False,
        control=False,
    )
    async with simulation:
        sink = SqliteSink(database)
        elapsed, stats = await _poll(args, simulation, sink, local)
    print_summary(stats, SinkSet([sink]), elapsed)
    chart = await _chart(database, out / CHART)
    simulated = span(round(elapsed * args.speed / 60) * 60.0)
    print(
        f"\nPolled {len(PROFILES)} simulated gateways for {span(elapsed)} "
        f"({simulated} of simulated time); {sink.samples_written} power samples."
    )
    print(
        f"  data:  {database.resolve()} "
        "(tables events, power_samples, battery_samples, inverter_samples and ledger)"
    )
    if chart is not None:
        print(f"  chart: {chart.resolve()}")
    print(f"Chart it again with: enphase-local report {database} --out chart.png")
    return 0


async def _poll(
    args: argparse.Namespace, simulation: Simulation, sink: SqliteSink, local: dt.tzinfo
) -> tuple[float, PollerStats]:
    """Poll the simulation into ``sink`` with the live view; return the time and stats."""
    sim_clock = simulation.clock
    poller = Poller(
        [
            GatewaySpec(host=g.url, token=g.token, options={"fingerprint": g.fingerprint})
            for g in simulation.gateways
        ],
        plan=PollPlan().with_live_interval(LIVE_INTERVAL_S),
        clock=ScaledClock(sim_clock.now, speed=lambda: sim_clock.speed),
        buffer_size=0,
    )
    started = time.monotonic()

    def title() -> str:
        now = dt.datetime.fromtimestamp(sim_clock.now(), local)
        ran = time.monotonic() - started
        return (
            f"demo: simulated {now:%Y-%m-%d %H:%M} (x{sim_clock.speed:g}), "
            f"{ran:.0f}/{args.duration:g} s, power in kW, Ctrl-C stops"
        )

    def wall() -> dt.datetime:
        return dt.datetime.fromtimestamp(sim_clock.now(), local)

    # Energy "today" is the simulated day's, not the real one's.
    view = LiveView(poller.hosts, title=title, wall=wall)
    sinks = SinkSet([sink], energy=EnergyTracker())
    await sinks.start()
    print(f"Simulating {len(PROFILES)} gateways on loopback, clock x{args.speed:g}:")
    for gateway, profile in zip(simulation.gateways, PROFILES, strict=True):
        print(f"  {profile:<12} {gateway.serial}  {gateway.url}")
    print(f"Polling them into {sink.path.resolve()}\n", flush=True)
    try:
        poller.subscribe(sinks.submit, name="sinks")
        poller.subscribe(view, name="view")
        async with stop_on_signals() as stop:
            timer = asyncio.get_running_loop().call_later(args.duration, stop.set)
            try:
                async with poller:
                    await show(view, stop, plain_refresh_s=PLAIN_REFRESH_S)
                    elapsed = time.monotonic() - started
            finally:
                timer.cancel()
    finally:
        await sinks.close()
    return elapsed, poller.stats()


async def _chart(database: Path, chart: Path) -> Path | None:
    """Draw the chart with the report command's function; None when it cannot be drawn."""
    from enphase_local.cli.report import draw_chart  # noqa: PLC0415 - imports matplotlib lazily

    samples = await asyncio.to_thread(read_power_samples, database)
    if not samples:
        print("No power samples were written, so there is no chart.")
        return None
    buckets = await asyncio.to_thread(read_ledger, database)
    batteries = await asyncio.to_thread(read_battery_samples, database)
    try:
        await asyncio.to_thread(draw_chart, samples, buckets, chart, batteries=batteries)
    except ImportError:
        print("The chart needs matplotlib: pip install 'enphase-local[report]'")
        return None
    return chart
