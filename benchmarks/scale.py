"""How many gateways one process keeps on the default poll plan, with p99 lateness under 1 s.

For each size in ``--sizes``, that many simulated gateways (``metered`` profile) run in
``--servers`` processes, pinned to every CPU but the first; a fresh client process, pinned
to the first CPU (one core), runs a :class:`~enphase_local.scheduler.poller.Poller` with the
library's default :class:`~enphase_local.scheduler.plan.PollPlan` (meter readings every
9.5 s, live data every 5 minutes, grid readings and consumption reports every 10 minutes,
the 5-minute group after each report, the configuration at start): ``--warm-up`` seconds of
start-up, then ``--seconds`` measured. Lateness is how long after its grid point each live
poll started, on that endpoint's own interval, seen from the data events (against the grid
that fits each series best, start-up polls included; only polls started in the measured
window are counted: see :func:`steady_lateness`). The default window, ten minutes, takes in
every live endpoint of the plan and two report cycles. Beside it: the poller's own p99 over
its most recent polls at the end, and at the end of the warm-up (start-up: every gateway's
first connection and configuration reads fall within one meter-readings interval, so the
first polls queue behind them), request latency, the client's CPU as a share of its core
and the servers' CPU over the window as a share of one of their cores. The knee is the first
size whose p99 lateness reaches 1 s or whose client CPU reaches 90 % of the core. At the end
of the warm-up the client freezes what start-up made out of the garbage collector's full
passes, as ``enphase-local poll`` does (see :func:`~enphase_local.cli.poll.freeze_start_up`),
and the window opens one meter-readings interval later.

Why polls are late, in the JSON's ``diagnostics`` and one printed line: the polls more than
half a second late by 10-second bucket of the window, the most requests waiting for one of
the poller's slots in each bucket, the client's garbage collections (full passes and their
longest pause) and the event loop's lag, sampled every 0.1 s.

On a small machine the simulators share the remaining cores; when they saturate, latency
grows and the poller's cap on requests in flight (64) becomes the limit, so a knee found
here may be the simulators' rather than the client's: the two CPU columns tell which.

Run: ``python -m benchmarks.scale [--sizes N ...] [--seconds S] [--warm-up S] [--servers N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.harness import (
    ServerFarm,
    base_parser,
    cpu_seconds,
    pin_to_cpus,
    print_table,
    read_gateways,
    run_child,
    write_json,
)
from enphase_local.cli.poll import freeze_start_up
from enphase_local.events import DataEvent, Event
from enphase_local.scheduler.plan import PollPlan
from enphase_local.scheduler.poller import Poller
from enphase_local.scheduler.stats import Percentiles

#: The library's default plan, as a Poller without ``plan=`` polls.
PLAN = PollPlan()
LATENESS_LIMIT_S = 1.0
CPU_LIMIT = 0.9
#: Gateways held on one core within the limits, at least.
TARGET_GATEWAYS = 3000


def steady_lateness(
    starts: Mapping[tuple[str, str], Sequence[float]],
    intervals: Mapping[str, float],
    since: float = -math.inf,
) -> list[float]:
    """Lateness of each poll started at or after ``since``, on its endpoint's own grid, s.

    ``starts`` holds the start times of each (gateway, endpoint) series; each endpoint is due
    every ``intervals[endpoint]`` seconds on a fixed grid that only the poller knows. Seen
    from outside, a series' grid is the one that fits it best: of the grids through one of
    its polls (start-up polls included), the one from which its polls are least late in
    total. A poll's lateness is its start after that grid's point, modulo the interval (the
    poller skips a poll that is a whole interval late). A poller that moved its grid after a
    late poll would show every later poll late by the shift.

    Fitting the grid, not anchoring it on the series' first poll, is what keeps start-up
    out of the steady figures: thousands of gateways starting within one interval queue
    their first polls for seconds, and a first poll more than half an interval late would
    otherwise make every on-time poll after it look late.
    """
    return [late for _, _, late in timed_lateness(starts, intervals, since)]


def timed_lateness(
    starts: Mapping[tuple[str, str], Sequence[float]],
    intervals: Mapping[str, float],
    since: float = -math.inf,
) -> list[tuple[float, str, float]]:
    """(start, endpoint, lateness) of each poll of :func:`steady_lateness`."""
    polls: list[tuple[float, str, float]] = []
    for (_, endpoint), series in starts.items():
        if not series:
            continue
        interval = intervals[endpoint]
        anchor = _best_grid(sorted(start % interval for start in series), interval)
        polls += [
            (start, endpoint, (start - anchor) % interval) for start in series if start >= since
        ]
    return polls


def _best_grid(phases: Sequence[float], interval: float) -> float:
    """The phase, among the ascending ``phases``, after which they are least late in total."""
    # Through phases[k], each phase is late by its distance from phases[k], the k earlier
    # ones by a whole interval more: in total sum(phases) - n * phases[k] + k * interval.
    n = len(phases)
    best = min(range(n), key=lambda k: k * interval - n * phases[k])
    return phases[best]


#: A poll this late (s) is counted in the timeline of late polls.
LATE_S = 0.5
#: The timelines' bucket, seconds.
BUCKET_S = 10.0
#: How often the event loop's lag and the requests waiting for a slot are sampled, seconds.
SAMPLE_S = 0.1


class _Probe:
    """What else happened while polls were late: the client's garbage collections, the
    event loop's lag, and the requests in flight and waiting for one of the poller's slots."""

    def __init__(self, poller: Poller) -> None:
        self._limits = poller._limits  # the poller keeps its cap to itself
        self._started: float | None = None
        #: (wall time at the end, pause s, generation) of each collection.
        self.collections: list[tuple[float, float, int]] = []
        #: (wall time, loop lag s, requests in flight, requests waiting) per sample.
        self.samples: list[tuple[float, float, int, int]] = []

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            pause = time.perf_counter() - self._started
            self.collections.append((time.time(), pause, info["generation"]))
            self._started = None

    async def run(self) -> None:
        gc.callbacks.append(self._on_gc)
        loop = asyncio.get_running_loop()
        limits = self._limits
        try:
            while True:
                before = loop.time()
                await asyncio.sleep(SAMPLE_S)
                lag = loop.time() - before - SAMPLE_S
                self.samples.append((time.time(), lag, limits.in_flight, limits.waiting))
        finally:
            gc.callbacks.remove(self._on_gc)

    def summary(self, late: Sequence[float], since: float, seconds: float) -> dict[str, Any]:
        """The diagnostics of the window from ``since``; ``late`` holds when each poll later
        than :data:`LATE_S` was due (wall time)."""
        buckets = math.ceil(seconds / BUCKET_S)

        def bucket(at: float) -> int:
            return min(buckets - 1, int((at - since) // BUCKET_S))

        late_by_bucket = [0] * buckets
        for due in late:
            late_by_bucket[bucket(due)] += 1
        waiting_by_bucket = [0] * buckets
        lags = sorted(lag for at, lag, _, _ in self.samples if at >= since)
        for at, _, _, waiting in self.samples:
            if at >= since:
                waiting_by_bucket[bucket(at)] = max(waiting_by_bucket[bucket(at)], waiting)
        pauses = [(pause, generation) for at, pause, generation in self.collections if at >= since]
        full = [pause for pause, generation in pauses if generation == 2]
        return {
            "late_polls": len(late),
            "late_polls_by_10_s": late_by_bucket,
            "waiting_max_by_10_s": waiting_by_bucket,
            "gc_passes": len(pauses),
            "gc_pause_max_s": max((pause for pause, _ in pauses), default=0.0),
            "gc_full_passes": len(full),
            "gc_full_pause_max_s": max(full, default=0.0),
            "gc_frozen_objects": gc.get_freeze_count(),
            "loop_lag_p99_s": Percentiles.of(lags).p99,
            "loop_lag_max_s": max(lags, default=None),
        }


def _servers_cpu(pids: Sequence[int]) -> float | None:
    used = [cpu_seconds(pid) for pid in pids]
    return None if not used or None in used else sum(u for u in used if u is not None)


async def _measure(seconds: float, warm_up: float, server_pids: Sequence[int]) -> dict[str, Any]:
    gateways = read_gateways()
    starts: dict[tuple[str, str], list[float]] = collections.defaultdict(list)

    def record(event: Event) -> None:
        if isinstance(event, DataEvent) and event.endpoint in PLAN.live:
            start = event.fetched_at.timestamp() - event.latency_s
            starts[event.host, event.endpoint].append(start)

    async with Poller([(g.url, g.token) for g in gateways], plan=PLAN, buffer_size=0) as poller:
        poller.subscribe(record)
        probe = _Probe(poller)
        probing = asyncio.create_task(probe.run())
        await asyncio.sleep(warm_up)
        freeze_start_up()  # as the poll command does once start-up is over
        # Its own full collection holds the loop up once, for most of a second: the window
        # opens once the polls it delayed are through.
        await asyncio.sleep(min(PLAN.live.values()))
        since = time.time()
        cpu_started, wall_started = time.process_time(), time.monotonic()
        servers_started = _servers_cpu(server_pids)
        start_up = poller.stats()
        await asyncio.sleep(seconds)
        stats = poller.stats()
        wall = time.monotonic() - wall_started
        cpu = time.process_time() - cpu_started
        servers_ended = _servers_cpu(server_pids)
        probing.cancel()
    polls = timed_lateness(starts, PLAN.live, since)
    diagnostics = probe.summary(
        [start - late for start, _, late in polls if late > LATE_S], since, seconds
    )
    steady = Percentiles.of(steady_lateness(starts, PLAN.live, since))
    by_endpoint = {
        name: Percentiles.of(
            steady_lateness(
                {key: series for key, series in starts.items() if key[1] == name},
                PLAN.live,
                since,
            )
        ).p99
        for name in PLAN.live
    }
    measured = collections.Counter(
        endpoint for (_, endpoint), series in starts.items() for start in series if start >= since
    )
    return {
        "gateways": len(gateways),
        "seconds": wall,
        "lateness_p50_s": steady.p50,
        "lateness_p99_s": steady.p99,
        "live_polls": steady.samples,
        "live_polls_by_endpoint": dict(measured),
        "lateness_p99_s_by_endpoint": by_endpoint,
        "poller_lateness_p99_s": stats.lateness.p99,
        "start_up_lateness_p99_s": start_up.lateness.p99,
        "latency_p99_s": stats.latency.p99,
        "requests_per_s": (stats.polls - start_up.polls) / wall,
        "failures": stats.failures,
        "skipped": stats.skipped - start_up.skipped,
        "client_cpu_share": cpu / wall,
        "servers_cpu_share": (
            None
            if servers_started is None or servers_ended is None
            else (servers_ended - servers_started) / wall
        ),
        "diagnostics": diagnostics,
    }


def _run_size(size: int, *, servers: int, seconds: float, warm_up: float) -> dict[str, Any]:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    with ServerFarm(size, servers=servers) as farm:
        if len(cpus) > 1:
            for pid in farm.pids:
                pin_to_cpus(set(cpus[1:]), pid)
        arguments = ["--child", "--seconds", str(seconds), "--warm-up", str(warm_up)]
        arguments += ["--server-pids", *map(str, farm.pids)]
        if cpus:
            arguments += ["--cpu", str(cpus[0])]
        result: dict[str, Any] = run_child("scale", arguments, farm.gateways)
    result["server_cpus"] = max(1, len(cpus) - 1)
    return result


def _seconds(value: float | None) -> float:
    return float("nan") if value is None else value


def _share(value: float | None, cpus: int) -> str:
    return "-" if value is None else f"{value:.0%} of {cpus} core" + "s" * (cpus > 1)


def _diagnosis(row: dict[str, Any]) -> str:
    d = row["diagnostics"]
    late = d["late_polls_by_10_s"]
    worst = sorted(range(len(late)), key=lambda k: -late[k])[:3]
    where = ", ".join(f"{late[k]} at {k * BUCKET_S:.0f}-{(k + 1) * BUCKET_S:.0f} s" for k in worst)
    return (
        f"{row['gateways']} gateways, why late: {d['late_polls']} polls over {LATE_S:g} s late "
        f"(most: {where}); at most {max(d['waiting_max_by_10_s'], default=0)} requests waiting "
        f"for a slot; GC {d['gc_full_passes']} full passes, longest "
        f"{d['gc_full_pause_max_s']:.3f} s ({d['gc_frozen_objects']} objects frozen); loop lag p99 "
        f"{_seconds(d['loop_lag_p99_s']):.3f} s, max {_seconds(d['loop_lag_max_s']):.3f} s"
    )


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
        "--sizes", nargs="+", type=int, default=[3000, 4000], help="gateway counts (3000 4000)"
    )
    parser.add_argument("--seconds", type=float, default=600.0, help="measured, per size (600)")
    parser.add_argument(
        "--warm-up", type=float, default=60.0, help="start-up left out, seconds (60)"
    )
    parser.add_argument("--servers", type=int, default=4, help="server processes (default 4)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-pids", type=int, nargs="*", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.cpu is not None:
            pin_to_cpus({args.cpu})
        print(json.dumps(asyncio.run(_measure(args.seconds, args.warm_up, args.server_pids))))
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
            "start-up p99 s",
            "latency p99 s",
            "req/s",
            "client CPU",
            "servers CPU",
            "failed",
        ),
        [
            (
                r["gateways"],
                _seconds(r["lateness_p50_s"]),
                _seconds(r["lateness_p99_s"]),
                _seconds(r["poller_lateness_p99_s"]),
                _seconds(r["start_up_lateness_p99_s"]),
                _seconds(r["latency_p99_s"]),
                r["requests_per_s"],
                f"{r['client_cpu_share']:.0%}",
                _share(r["servers_cpu_share"], r["server_cpus"]),
                r["failures"],
            )
            for r in rows
        ],
    )
    for r in rows:
        worst = ", ".join(
            f"{name} {_seconds(p99):.3f} s" for name, p99 in r["lateness_p99_s_by_endpoint"].items()
        )
        print(f"{r['gateways']} gateways, p99 lateness by endpoint: {worst}")
        print(_diagnosis(r))
    kept = [r["gateways"] for r in rows if _within_limits(r)]
    knee = next((r["gateways"] for r in rows if not _within_limits(r)), None)
    print(
        f"\nscale: {max(kept, default=0)} gateways kept on the default plan with p99 lateness "
        f"under {LATENESS_LIMIT_S:g} s on one core (target >= {TARGET_GATEWAYS}); knee: "
        + (f"{knee} gateways" if knee is not None else f"above {max(args.sizes)} gateways")
    )
    write_json(
        args.json,
        {
            "benchmark": "scale",
            "seconds": args.seconds,
            "live_intervals_s": dict(PLAN.live),
            "target_gateways": TARGET_GATEWAYS,
            "sizes": rows,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
