"""plan_load: the GETs an hour the default poll plan sends each kind of simulated site.

One simulated gateway per profile (``--profiles``, default every profile of the simulator),
all polled by one :class:`~enphase_local.Poller` with the default
:class:`~enphase_local.PollPlan` over HTTPS (plain HTTP for legacy firmware), in lock step
with the frozen simulation (:class:`~enphase_local.simulator.LockstepClock`: requests take
no simulated time, so the plan's own intervals are measured, not the machine's speed), from
08:00 of a June day. After ``--warm-up`` simulated hours (the start's one-off reads behind),
the requests each gateway received over the next ``--hours`` are counted from its request
log: GETs per hour and per path, and apart the ``POST /ivp/livedata/stream`` switch. Four
hours (the default) hold one configuration round, so the hourly figure is the long-run
average.

An endpoint a gateway does not serve is asked once and then no more until its firmware
changes, so what each profile serves decides its load: the target is at most 450 GETs an
hour at every profile (``ok`` in the JSON; exit status 1 otherwise).

Run: ``python -m benchmarks.plan_load [--hours H] [--warm-up H] [--profiles P ...]``.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
from collections.abc import Sequence
from typing import Any

from benchmarks.harness import base_parser, print_table, write_json
from enphase_local.scheduler import GatewaySpec, Poller
from enphase_local.simulator import LockstepClock, Simulation
from enphase_local.simulator.profiles import PROFILES

#: The most GETs an hour the default plan may send a gateway.
TARGET_GETS_PER_HOUR = 450.0
START = dt.datetime(2025, 6, 21, 8, tzinfo=dt.UTC)


async def measure(
    profiles: Sequence[str], *, hours: float, warm_up_h: float
) -> list[dict[str, Any]]:
    """Per profile: firmware, GETs an hour, GETs an hour per path, other requests an hour."""
    simulation = Simulation(
        profile=list(profiles), start_time=START, speed=0, cloud=False, control=False
    )
    async with simulation:
        specs = [
            GatewaySpec(
                host=g.url,
                token=g.token,
                options={"fingerprint": g.fingerprint} if g.fingerprint else {},
            )
            for g in simulation.gateways
        ]
        start = START.timestamp() + warm_up_h * 3600
        end = start + hours * 3600
        clock = LockstepClock(simulation.clock, waiters=len(specs))
        async with Poller(specs, clock=clock, start_spread_s=0, buffer_size=0):
            await clock.run_until(end)
        results = []
        for name, gateway in zip(profiles, simulation.gateways, strict=True):
            window = [r for r in gateway.stats.log if start <= r.sim_time < end]
            gets = collections.Counter(r.path for r in window if r.method == "GET")
            other = collections.Counter(f"{r.method} {r.path}" for r in window if r.method != "GET")
            results.append(
                {
                    "profile": name,
                    "firmware": PROFILES[name].software,
                    "gets_per_hour": gets.total() / hours,
                    "by_path": {path: n / hours for path, n in gets.most_common()},
                    "other_per_hour": {what: n / hours for what, n in other.items()},
                }
            )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print a table, write JSON; status 1 if a profile is over the target."""
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "plan_load")
    parser.add_argument("--hours", type=float, default=4.0, help="simulated hours counted")
    parser.add_argument("--warm-up", type=float, default=1.0, help="simulated hours first")
    parser.add_argument("--profiles", nargs="+", choices=list(PROFILES), default=list(PROFILES))
    args = parser.parse_args(argv)
    rows = asyncio.run(measure(args.profiles, hours=args.hours, warm_up_h=args.warm_up))
    print(
        f"plan_load: GETs an hour of the default plan, simulated hours {args.warm_up:g} to "
        f"{args.warm_up + args.hours:g}"
    )
    print_table(
        ("profile", "firmware", "GETs/h", "meter readings/h", "battery power/h", "stream POSTs/h"),
        [
            (
                row["profile"],
                row["firmware"],
                round(row["gets_per_hour"], 1),
                round(row["by_path"].get("/ivp/meters/readings", 0.0), 1),
                round(row["by_path"].get("/ivp/ensemble/power", 0.0), 1),
                round(row["other_per_hour"].get("POST /ivp/livedata/stream", 0.0), 1),
            )
            for row in rows
        ],
    )
    ok = all(row["gets_per_hour"] <= TARGET_GETS_PER_HOUR for row in rows)
    result = {
        "profiles": rows,
        "target_gets_per_hour": TARGET_GETS_PER_HOUR,
        "ok": ok,
        "hours": args.hours,
        "warm_up_hours": args.warm_up,
    }
    write_json(args.json, result)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
