"""Politeness: the load a poll plan puts on each gateway, and how fresh what it delivers is.

Two plans side by side, each polling ``--gateways`` simulated gateways (``metered``
profile, over HTTPS with an owner token) for ``--hours`` simulated hours of a June day
starting at ``--start-hour`` (UTC, the site's local time; the sun is up from 05:00 to
20:00): ``default`` is ``PollPlan()`` (meter readings every 9.5 s, live data every 5 minutes,
grid readings and consumption reports every 10 minutes, the 5-minute group just after each
report) and ``first`` is the plan the scheduler first shipped with, for reference (meter
readings every 10 s, the other three live endpoints every 60 s).

The gateways run in a child process (:mod:`tests.scheduler.remote_sim`) with the clock
running ``--speed`` times as fast as real time; the :class:`~enphase_local.Poller` lives in
the simulated time (:class:`~enphase_local.scheduler.ScaledClock`), so plans are in
simulated seconds. Measured, per plan:

- GETs per gateway per hour: every request the simulated gateway counted
  (``stats.by_path``) but the ``POST /ivp/livedata/stream`` switch, which is shown apart;
- age of live power: at every simulated second after ``--warm-up``, the time since the
  latest meter readings data event (max and p99; "peak" is the oldest it got between
  those samples, just before each next delivery);
- delay of 5-minute data: for each newly delivered inverter report cycle, from the newest
  ``last_report_at`` across the inverters to the data event that delivered it (max and
  p99); "any inverter" is the same from each inverter's own report, which the inverters
  make at staggered moments of the cycle; reports of an inverter that were never
  delivered are counted as missed;
- the most requests in flight at once at one gateway, as the gateway saw them.

Real-time delays (loopback latency, event-loop turns) are magnified ``--speed`` times in
simulated seconds, so a slower clock gives finer ages. The target (issue 7): at most 450
GETs/h, live power at most 10 s old, 5-minute data within 30 s of each report, one request
in flight; Home Assistant with pyenphase sends 300 to 840 GETs/h for 60 s freshness.

Run: ``python -m benchmarks.politeness [--hours H] [--speed X] [--gateways N]``.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import datetime as dt
import gc
import math
import time
from collections.abc import Sequence
from typing import Any

import attrs

from benchmarks.harness import base_parser, print_table, write_json
from enphase_local.endpoints import INVERTERS, LIVE_STREAM_PATH, METER_READINGS
from enphase_local.events import DataEvent, Event
from enphase_local.scheduler import GatewaySpec, Poller, PollPlan, ScaledClock
from enphase_local.scheduler.stats import percentile
from enphase_local.simulator.physics import REPORT_INTERVAL_S
from tests.scheduler.remote_sim import RemoteSimulation

#: The plans compared, by name.
PLANS: dict[str, PollPlan] = {
    "default": PollPlan(),
    "first": PollPlan(
        live={"meter_readings": 10, "live_data": 60, "grid_readings": 60, "consumption_reports": 60}
    ),
}
#: The target of issue 7: GETs per gateway per hour, age of live power (s), delay of
#: 5-minute data after each report (s), requests in flight at one gateway.
TARGET_GETS_PER_HOUR = 450.0
TARGET_LIVE_AGE_S = 10.0
TARGET_REPORT_DELAY_S = 30.0
TARGET_IN_FLIGHT = 1
#: Home Assistant's Enphase integration (pyenphase): GETs per hour for 60 s freshness.
HOME_ASSISTANT_GETS_PER_HOUR = (300, 840)
HOME_ASSISTANT_FRESHNESS_S = 60.0
#: The simulated day (the solstice: the longest daylight) and when the sun is up (UTC hours).
DAY = dt.date(2025, 6, 21)
DAYLIGHT_HOURS = (5.0, 20.0)
#: Owner token lifetime, real seconds (outlives any run).
TOKEN_LIFETIME_S = 30 * 86400.0


@attrs.define
class _Deliveries:
    """What the data events of one gateway delivered, in simulated Unix seconds."""

    #: Arrival times of each endpoint's data events.
    times: dict[str, list[float]] = attrs.field(factory=lambda: collections.defaultdict(list))
    #: Inverter data events: (arrival, {inverter serial: last report time}).
    inverters: list[tuple[float, dict[str, float]]] = attrs.field(factory=list)

    def __call__(self, event: DataEvent) -> None:
        at = event.fetched_at.timestamp()
        self.times[event.endpoint].append(at)
        if event.endpoint == INVERTERS.name:
            reports = {i.serial_number: i.last_report_at.timestamp() for i in event.model}
            self.inverters.append((at, reports))


def sampled_ages(times: Sequence[float], start: float, end: float, since: float) -> list[float]:
    """Age of the latest delivery at every whole second from ``start`` to ``end``.

    ``times`` ascending; before the first delivery the age counts from ``since``.
    """
    ages: list[float] = []
    t = start
    while t <= end:
        latest = bisect.bisect_right(times, t) - 1
        ages.append(t - (times[latest] if latest >= 0 else since))
        t += 1.0
    return ages


def peak_age(times: Sequence[float], start: float, end: float, since: float) -> float:
    """The oldest the latest delivery got between ``start`` and ``end``: just before each
    next delivery, between the whole-second samples (before the first, counted from
    ``since``)."""
    before = bisect.bisect_right(times, start) - 1
    inside = [t for t in times if start < t <= end]
    points = [times[before] if before >= 0 else since, *inside]
    return max(b - a for a, b in zip(points, [*inside, end], strict=True))


def report_delays(
    inverters: Sequence[tuple[float, dict[str, float]]], start: float
) -> tuple[list[float], list[float], int]:
    """Delays of 5-minute data, from inverter data events in arrival order.

    Returns the delay of each newly delivered cycle (newest report across the inverters to
    its first delivery), the delay of every inverter's report to its first delivery, and
    how many reports of an inverter were skipped (two delivered reports more than one
    cycle apart). Only reports made at or after ``start`` count.
    """
    cycles: list[float] = []
    every: list[float] = []
    seen: dict[str, float] = {}
    missed = 0
    newest_seen = -math.inf
    for at, reports in inverters:
        newest = max(reports.values(), default=-math.inf)
        if newest > newest_seen:
            if newest >= start:
                cycles.append(at - newest)
            newest_seen = newest
        for serial, report in reports.items():
            previous = seen.get(serial)
            if previous is not None and report <= previous:
                continue
            seen[serial] = report
            if report < start:
                continue
            every.append(at - report)
            if previous is not None and previous >= start:
                missed += max(0, round((report - previous) / REPORT_INTERVAL_S) - 1)
    return cycles, every, missed


def _stat(values: list[float], fraction: float) -> float | None:
    return percentile(sorted(values), fraction)


def _gateway_result(
    deliveries: _Deliveries, by_path: dict[str, int], *, begun: float, warm: float, end: float
) -> dict[str, Any]:
    hours = (end - begun) / 3600.0
    gets = sum(n for path, n in by_path.items() if path != LIVE_STREAM_PATH)
    readings = sorted(deliveries.times.get(METER_READINGS.name, []))
    ages = sampled_ages(readings, warm, end, begun)
    cycles, every, missed = report_delays(deliveries.inverters, warm)
    return {
        "gets_per_hour": gets / hours,
        "stream_posts_per_hour": by_path.get(LIVE_STREAM_PATH, 0) / hours,
        "by_path": dict(sorted(by_path.items())),
        "live_age_samples": len(ages),
        "live_age_p99_s": _stat(ages, 0.99),
        "live_age_max_s": max(ages, default=None),
        "live_age_peak_s": peak_age(readings, warm, end, begun),
        "report_cycles": len(cycles),
        "report_delay_p50_s": _stat(cycles, 0.5),
        "report_delay_p99_s": _stat(cycles, 0.99),
        "report_delay_max_s": max(cycles, default=None),
        "every_report_delay_p50_s": _stat(every, 0.5),
        "every_report_delay_max_s": max(every, default=None),
        "reports_missed": missed,
        "live_age_max_by_endpoint_s": {
            name: max(
                sampled_ages(sorted(deliveries.times.get(name, [])), warm, end, begun),
                default=None,
            )
            for name in PLANS["default"].live
        },
    }


def _worst(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [row[key] for row in rows if row[key] is not None]
    return max(values, default=None)


def _plan_result(
    name: str, rows: list[dict[str, Any]], in_flight: list[int], poller: dict[str, int]
) -> dict[str, Any]:
    plan = PLANS[name]
    gets = sum(r["gets_per_hour"] for r in rows) / len(rows)
    result: dict[str, Any] = {
        "plan": name,
        "live_intervals_s": dict(plan.live),
        "nominal_requests_per_hour": plan.requests_per_hour(),
        "gateways": len(rows),
        "gets_per_hour": gets,
        "gets_vs_target": gets / TARGET_GETS_PER_HOUR,
        "stream_posts_per_hour": sum(r["stream_posts_per_hour"] for r in rows) / len(rows),
        "live_age_p99_s": _worst(rows, "live_age_p99_s"),
        "live_age_max_s": _worst(rows, "live_age_max_s"),
        "live_age_peak_s": _worst(rows, "live_age_peak_s"),
        "report_cycles": sum(r["report_cycles"] for r in rows),
        "report_delay_p99_s": _worst(rows, "report_delay_p99_s"),
        "report_delay_max_s": _worst(rows, "report_delay_max_s"),
        "every_report_delay_max_s": _worst(rows, "every_report_delay_max_s"),
        "reports_missed": sum(r["reports_missed"] for r in rows),
        "max_in_flight": max(in_flight),
        "poller": poller,
        "per_gateway": rows,
    }
    result["meets_target"] = (
        gets <= TARGET_GETS_PER_HOUR
        and _within(result["live_age_max_s"], TARGET_LIVE_AGE_S)
        and _within(result["report_delay_max_s"], TARGET_REPORT_DELAY_S)
        and result["reports_missed"] == 0
        and result["max_in_flight"] <= TARGET_IN_FLIGHT
    )
    return result


def _within(value: float | None, limit: float) -> bool:
    return value is not None and value <= limit


async def measure(
    *, hours: float, speed: float, gateways: int, start_hour: float, warm_up: float
) -> dict[str, Any]:
    """Poll ``gateways`` simulated gateways per plan for ``hours`` simulated hours."""
    names = list(PLANS)
    start = dt.datetime.combine(DAY, dt.time(), dt.UTC) + dt.timedelta(hours=start_hour)
    async with RemoteSimulation(
        profile=["metered"] * (gateways * len(names)),
        start_time=start,
        speed=speed,
        cloud=False,
        control=False,
    ) as sim:
        plan_of = [names[k % len(names)] for k in range(len(sim.gateways))]
        specs = []
        for k, gateway in enumerate(sim.gateways):
            token = None
            if gateway.web_tokens:
                token = await sim.call("mint", gateway.serial, TOKEN_LIFETIME_S, time.time())
            specs.append(
                GatewaySpec(
                    host=gateway.url,
                    token=token,
                    plan=PLANS[plan_of[k]],
                    options={"fingerprint": gateway.fingerprint} if gateway.fingerprint else {},
                )
            )
        poller = Poller(specs, clock=ScaledClock(sim.now, speed=sim.speed), buffer_size=0)
        deliveries = {host: _Deliveries() for host in poller.hosts}

        def record(event: Event) -> None:
            if isinstance(event, DataEvent):
                deliveries[event.host](event)

        poller.subscribe(record)
        # A full collection of what the run keeps stalls the event loop for milliseconds,
        # which time compression turns into simulated seconds.
        gc.collect()
        gc.disable()
        try:
            begun = sim.now()
            async with poller:
                await sim.sleep_until(begun + hours * 3600.0)
            end = sim.now()
        finally:
            gc.enable()
        seen_by = await sim.stats()
        stats = poller.stats()
    warm = begun + warm_up
    results: list[dict[str, Any]] = []
    for name in names:
        indexes = [k for k, plan in enumerate(plan_of) if plan == name]
        rows = [
            _gateway_result(
                deliveries[poller.hosts[k]], seen_by[k].by_path, begun=begun, warm=warm, end=end
            )
            for k in indexes
        ]
        polled = [stats.gateways[k] for k in indexes]
        counters = {
            "polls": sum(g.polls for g in polled),
            "failures": sum(g.failures for g in polled),
            "skipped": sum(g.skipped for g in polled),
        }
        results.append(
            _plan_result(name, rows, [seen_by[k].max_in_flight for k in indexes], counters)
        )
    return {
        "benchmark": "politeness",
        "simulated_hours": (end - begun) / 3600.0,
        "speed": speed,
        "start": start.isoformat(),
        "warm_up_s": warm_up,
        "gateways_per_plan": gateways,
        "target": {
            "gets_per_hour": TARGET_GETS_PER_HOUR,
            "live_age_s": TARGET_LIVE_AGE_S,
            "report_delay_s": TARGET_REPORT_DELAY_S,
            "max_in_flight": TARGET_IN_FLIGHT,
        },
        "home_assistant": {
            "gets_per_hour": list(HOME_ASSISTANT_GETS_PER_HOUR),
            "freshness_s": HOME_ASSISTANT_FRESHNESS_S,
        },
        "plans": results,
    }


def _num(value: float | None) -> float:
    return float("nan") if value is None else value


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _over(age: float | None, speed: float) -> str:
    """How far past the target an age is, in real milliseconds (time compression magnifies
    real delays ``speed`` times)."""
    if age is None or age <= TARGET_LIVE_AGE_S:
        return ""
    return f", {(age - TARGET_LIVE_AGE_S) / speed * 1000:.0f} ms of real time over"


def _intervals(plan: PollPlan) -> str:
    return "/".join(f"{plan.live[name]:g}" for name in PLANS["default"].live if name in plan.live)


def _print(result: dict[str, Any]) -> None:
    rows: list[Sequence[object]] = [
        (
            r["plan"],
            _intervals(PLANS[r["plan"]]),
            r["gets_per_hour"],
            f"{r['gets_vs_target']:.2f}x",
            r["stream_posts_per_hour"],
            _num(r["live_age_p99_s"]),
            _num(r["live_age_max_s"]),
            _num(r["live_age_peak_s"]),
            _num(r["report_delay_p99_s"]),
            _num(r["report_delay_max_s"]),
            _num(r["every_report_delay_max_s"]),
            r["reports_missed"],
            r["max_in_flight"],
            "yes" if r["meets_target"] else "no",
        )
        for r in result["plans"]
    ]
    rows.append(
        (
            "target",
            "-",
            TARGET_GETS_PER_HOUR,
            "1.00x",
            "-",
            "-",
            TARGET_LIVE_AGE_S,
            TARGET_LIVE_AGE_S,
            "-",
            TARGET_REPORT_DELAY_S,
            "-",
            0,
            TARGET_IN_FLIGHT,
            "-",
        )
    )
    low, high = HOME_ASSISTANT_GETS_PER_HOUR
    rows.append(
        (
            "Home Assistant",
            "60 (sweep)",
            f"{low}-{high}",
            f"{low / TARGET_GETS_PER_HOUR:.2f}-{high / TARGET_GETS_PER_HOUR:.2f}x",
            "-",
            "-",
            HOME_ASSISTANT_FRESHNESS_S,
            HOME_ASSISTANT_FRESHNESS_S,
            "-",
            "-",
            "-",
            "-",
            "-",
            "-",
        )
    )
    print(
        f"{result['simulated_hours']:.2f} simulated hours from {result['start']} at "
        f"{result['speed']:g}x, {result['gateways_per_plan']} gateway(s) per plan; "
        "live intervals: meter readings/live data/grid readings/consumption reports, s\n"
    )
    print_table(
        (
            "plan",
            "live s",
            "GETs/h",
            "vs 450",
            "POST/h",
            "live age p99 s",
            "max s",
            "peak s",
            "5-min delay p99 s",
            "max s",
            "any inverter max s",
            "missed",
            "in flight",
            "target met",
        ),
        rows,
    )
    print(
        "\nlive age: since the latest meter readings event, sampled each simulated second "
        "(peak: between samples);\n5-min delay: newest inverter report to its delivery "
        "(any inverter: each inverter's own report, staggered over the cycle)"
    )
    parts = []
    speed = result["speed"]
    for r in result["plans"]:
        parts.append(
            f"{r['plan']} {r['gets_per_hour']:.0f} GETs/h ({r['gets_vs_target']:.2f}x the "
            f"450 target), live power <= {_s(r['live_age_max_s'])} s old "
            f"(peak {_s(r['live_age_peak_s'])} s{_over(r['live_age_peak_s'], speed)}), "
            "5-minute data within "
            f"{_s(r['report_delay_max_s'])} s, max in flight {r['max_in_flight']}"
        )
    print(
        "\npoliteness: "
        + "; ".join(parts)
        + f" (Home Assistant: {low}-{high} GETs/h for {HOME_ASSISTANT_FRESHNESS_S:g} s)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table and summary; write JSON when asked."""
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "politeness")
    parser.add_argument("--hours", type=float, default=3.0, help="simulated hours (3)")
    parser.add_argument(
        "--speed", type=float, default=60.0, help="simulated seconds per real second (60)"
    )
    parser.add_argument("--gateways", type=int, default=2, help="gateways per plan (2)")
    parser.add_argument(
        "--start-hour", type=float, default=10.0, help="UTC hour the run starts at (10)"
    )
    parser.add_argument(
        "--warm-up",
        type=float,
        default=120.0,
        help="simulated seconds at the start left out of the ages and delays (120)",
    )
    args = parser.parse_args(argv)
    if args.hours <= 0 or args.speed <= 0 or args.gateways < 1 or args.warm_up < 0:
        parser.error("--hours, --speed and --gateways must be positive, --warm-up not negative")
    rise, sunset = DAYLIGHT_HOURS
    if not (rise <= args.start_hour and args.start_hour + args.hours <= sunset):
        parser.error(f"the run must fit in daylight, {rise:g}:00 to {sunset:g}:00")
    if args.warm_up >= args.hours * 3600:
        parser.error("--warm-up must be shorter than the run")
    result = asyncio.run(
        measure(
            hours=args.hours,
            speed=args.speed,
            gateways=args.gateways,
            start_hour=args.start_hour,
            warm_up=args.warm_up,
        )
    )
    _print(result)
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
