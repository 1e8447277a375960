"""Resident memory per polled gateway with the Poller, at 1,000 gateways.

``--gateways`` simulated gateways (``metered`` profile) run in ``--servers`` processes. A
fresh client process starts a :class:`~enphase_local.scheduler.poller.Poller` over all of
them with the default plan, lets it poll for ``--seconds``, and reports how much its resident
memory (RSS) grew per gateway, against a baseline taken after imports. Options, each in its
own client process:

- ``default``: the library as it is; the Poller spreads the gateways' first polls over the
  shortest live interval (spread);
- ``burst``: the same with every gateway's first poll due at once, so first connections
  open as fast as the cap on requests in flight lets them (the poller's start spread set to
  0 for the run): what a burst of first connections leaves behind;
- ``asyncio-buffer``: spread, with asyncio's 256 KiB TLS read buffer on every connection
  (the transport's constant raised for the run): what the transport saves.

Target: at most 128 KiB per gateway, spread; the burst is reported beside it.

Run: ``python -m benchmarks.memory [--gateways N] [--servers N] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import math
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.harness import (
    ServerFarm,
    base_parser,
    print_table,
    read_gateways,
    rss_kib,
    run_child,
    write_json,
)
from enphase_local import transport
from enphase_local.events import DataEvent, Event
from enphase_local.scheduler.poller import Poller

OPTIONS = ("default", "burst", "asyncio-buffer")
#: RSS per polled gateway, spread, at most (KiB).
TARGET_KIB = 128


async def _measure(option: str, seconds: float) -> dict[str, Any]:
    if option == "asyncio-buffer":
        transport.TLS_READ_BUFFER_BYTES = 256 * 1024
    gateways = read_gateways()
    gc.collect()
    before, started = rss_kib(), time.process_time()
    events: collections.Counter[str] = collections.Counter()
    polled: set[str] = set()

    def count(event: Event) -> None:
        events[type(event).__name__] += 1
        if isinstance(event, DataEvent):
            polled.add(event.host)

    spread = 0.0 if option == "burst" else None  # burst: every first poll due at once
    async with Poller(
        [(g.url, g.token) for g in gateways], buffer_size=0, start_spread_s=spread
    ) as poller:
        poller.subscribe(count)
        await asyncio.sleep(seconds)
        gc.collect()
        after = rss_kib()
    return {
        "option": option,
        "gateways": len(gateways),
        "gateways_with_data": len(polled),
        "rss_kib_per_gateway": (after - before) / len(gateways),
        "rss_mib": (after - before) / 1024,
        "client_cpu_s": time.process_time() - started,
        "events": dict(events),
    }


def _summary(by_option: dict[str, dict[str, Any]], gateways: int) -> str:
    """One line: spread against the target, beside the burst and asyncio's buffers (``nan``
    for an option not run)."""
    kib = {o: by_option[o]["rss_kib_per_gateway"] if o in by_option else math.nan for o in OPTIONS}
    spread, burst = kib["default"], kib["burst"]
    return (
        f"\nmemory: {spread:.0f} KiB RSS per polled gateway at {gateways} gateways spread "
        f"(target <= {TARGET_KIB} KiB), {burst:.0f} KiB started at once (the burst costs "
        f"{burst - spread:+.0f} KiB a gateway, {(burst - spread) * gateways / 1024:+.0f} MiB "
        f"in all); {kib['asyncio-buffer']:.0f} KiB with asyncio's 256 KiB TLS buffers"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table and summary; write JSON when asked."""
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "memory")
    parser.add_argument("--gateways", type=int, default=1000, help="gateways (default 1000)")
    parser.add_argument("--servers", type=int, default=4, help="server processes (default 4)")
    parser.add_argument("--seconds", type=float, default=40.0, help="polling time (default 40)")
    parser.add_argument("--options", nargs="+", choices=OPTIONS, default=list(OPTIONS))
    parser.add_argument("--child", choices=OPTIONS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(_measure(args.child, args.seconds))))
        return 0
    with ServerFarm(args.gateways, servers=args.servers) as farm:
        arguments = ["--seconds", str(args.seconds), "--child"]
        rows = [run_child("memory", [*arguments, option], farm.gateways) for option in args.options]
    print_table(
        (
            "option",
            "gateways",
            "with data",
            "errors",
            "RSS KiB/gateway",
            "x target",
            "RSS MiB",
            "client CPU s",
        ),
        [
            (
                r["option"],
                r["gateways"],
                r["gateways_with_data"],
                r["events"].get("ErrorEvent", 0),
                r["rss_kib_per_gateway"],
                f"{r['rss_kib_per_gateway'] / TARGET_KIB:.2f}x",
                r["rss_mib"],
                r["client_cpu_s"],
            )
            for r in rows
        ],
    )
    print(_summary({r["option"]: r for r in rows}, args.gateways))
    write_json(
        args.json,
        {
            "benchmark": "memory",
            "seconds": args.seconds,
            "target_kib_per_gateway": TARGET_KIB,
            "options": rows,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
