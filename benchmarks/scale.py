"""How many gateways one process keeps on a 10 s live cadence, with p99 lateness under 1 s.

For each size in ``--sizes``, that many simulated gateways (``metered`` profile) run in
``--servers`` processes, pinned to every CPU but the first; a fresh client process, pinned
to the first CPU (one core), runs a :class:`~enphase_local.scheduler.poller.Poller` with three
live endpoints every 10 s each (meter readings, live data, consumption reports; no periodic
group): ``--warm-up`` seconds of start-up, then ``--seconds`` measured. Lateness is how long
after its 10 s grid point each live poll started, seen from the data events (each series'
best-kept grid point counts as on time); the poller's own p99 (start-up included) is shown
beside it, with request latency and the client's CPU as a share of its core. The knee is
the first size whose p99 lateness reaches 1 s or whose client CPU reaches 90 % of the core.

On a small machine the simulators share the remaining cores; when they saturate, latency
grows and the poller's cap on requests in flight (64) becomes the limit, so a knee found
here may be the simulators' rather than the client's: the CPU column tells which.

Run: ``python -m benchmarks.scale [--sizes N ...] [--seconds S] [--warm-up S] [--servers N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.harness import (
    ServerFarm,
    base_parser,
    pin_to_cpus,
    print_table,
    read_gateways,
    run_child,
    write_json,
)
from enphase_local.events import DataEvent, Event
from enphase_local.scheduler.plan import PollPlan
from enphase_local.scheduler.poller import Poller
from enphase_local.scheduler.stats import Percentiles

INTERVAL_S = 10.0
#: Three live endpoints every 10 s, nothing else but the start-up configuration reads.
PLAN = PollPlan(
    live={"meter_readings": INTERVAL_S, "live_data": INTERVAL_S, "consumption_reports": INTERVAL_S},
    periodic=(),
)
LATENESS_LIMIT_S = 1.0
CPU_LIMIT = 0.9


def steady_lateness(starts: dict[tuple[str, str], list[float]], interval: float) -> list[float]:
    """Lateness of each poll against its series' best-kept 10 s grid, seconds.

    Each live endpoint of each gateway is due every ``interval`` seconds on a fixed grid;
    seen from outside, a poll is as late as it started after the grid point its series
    keeps best (that one counted as on time). Skipped polls leave a gap of whole intervals.
    """
    lateness: list[float] = []
    for series in starts.values():
        if not series:
            continue
        first = series[0]
        offsets = [start - interval * round((start - first) / interval) for start in series]
        anchor = min(offsets)
        lateness += [offset - anchor for offset in offsets]
    return lateness


async def _measure(seconds: float, warm_up: float) -> dict[str, Any]:
    gateways = read_gateways()
    live = set(PLAN.live)
    starts: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    measuring = False

    def record(event: Event) -> None:
        if measuring and isinstance(event, DataEvent) and event.endpoint in live:
            start = event.fetched_at.timestamp() - event.latency_s
            starts[event.host, event.endpoint].append(start)

    async with Poller([(g.url, g.token) for g in gateways], plan=PLAN, buffer_size=0) as poller:
        poller.subscribe(record)
        await asyncio.sleep(warm_up)
        measuring = True
        cpu_started, wall_started = time.process_time(), time.monotonic()
        polls_before = poller.stats().polls
        await asyncio.sleep(seconds)
        stats = poller.stats()
        wall = time.monotonic() - wall_started
        cpu = time.process_time() - cpu_started
    steady = Percentiles.of(steady_lateness(starts, INTERVAL_S))
    return {
        "gateways": len(gateways),
        "seconds": wall,
        "lateness_p50_s": steady.p50,
        "lateness_p99_s": steady.p99,
        "live_polls": steady.samples,
        "poller_lateness_p99_s": stats.lateness.p99,
        "latency_p99_s": stats.latency.p99,
        "requests_per_s": (stats.polls - polls_before) / wall,
        "failures": stats.failures,
        "skipped": stats.skipped,
        "client_cpu_share": cpu / wall,
    }


def _run_size(size: int, *, servers: int, seconds: float, warm_up: float) -> dict[str, Any]:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    with ServerFarm(size, servers=servers) as farm:
        if len(cpus) > 1:
            for pid in farm.pids:
                pin_to_cpus(set(cpus[1:]), pid)
        arguments = ["--child", "--seconds", str(seconds), "--warm-up", str(warm_up)]
        if cpus:
            arguments += ["--cpu", str(cpus[0])]
        result: dict[str, Any] = run_child("scale", arguments, farm.gateways)
    return result


def _seconds(value: float | None) -> float:
    return float("nan") if value is None else value


def _within_limits(row: dict[str, Any]) -> bool:
    p99 = row["lateness_p99_s"]
    return (
        p99 is not None
        and p99 < LATENESS_LIMIT_S
        and row["client_cpu_share"] < CPU_LIMIT
        and not row["failures"]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table and summary; write JSON when asked."""
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "scale")
    parser.add_argument(
        "--sizes", nargs="+", type=int, default=[500, 1000, 2000], help="gateway counts"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="measured, per size (30)")
    parser.add_argument(
        "--warm-up", type=float, default=15.0, help="start-up left out, seconds (15)"
    )
    parser.add_argument("--servers", type=int, default=4, help="server processes (default 4)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.cpu is not None:
            pin_to_cpus({args.cpu})
        print(json.dumps(asyncio.run(_measure(args.seconds, args.warm_up))))
        return 0
    rows = [
        _run_size(size, servers=args.servers, seconds=args.seconds, warm_up=args.warm_up)
        for size in args.sizes
    ]
    print_table(
        (
            "gateways",
            "lateness p50 s",
            "p99 s",
            "poller p99 s",
            "latency p99 s",
            "req/s",
            "client CPU",
            "failed",
        ),
        [
            (
                r["gateways"],
                _seconds(r["lateness_p50_s"]),
                _seconds(r["lateness_p99_s"]),
                _seconds(r["poller_lateness_p99_s"]),
                _seconds(r["latency_p99_s"]),
                r["requests_per_s"],
                f"{r['client_cpu_share']:.0%}",
                r["failures"],
            )
            for r in rows
        ],
    )
    kept = [r["gateways"] for r in rows if _within_limits(r)]
    knee = next((r["gateways"] for r in rows if not _within_limits(r)), None)
    print(
        f"\nscale: {max(kept, default=0)} gateways kept on a 10 s cadence with p99 lateness "
        f"under {LATENESS_LIMIT_S:g} s on one core (target >= 1000); knee: "
        + (f"{knee} gateways" if knee is not None else f"above {max(args.sizes)} gateways")
    )
    write_json(args.json, {"benchmark": "scale", "seconds": args.seconds, "sizes": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
