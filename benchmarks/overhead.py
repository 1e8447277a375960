"""Our fetch + parse against a bare aiohttp GET + JSON decode of the same body.

For every endpoint each replayed capture set serves, ``GatewaySession.fetch`` (request lock,
token, checks, status and soft-error handling, body cap, parse into models) runs against a
bare ``aiohttp`` GET plus ``orjson.loads`` through a keep-alive connector, in alternating
order, ``--fetches`` times per round; the table shows client CPU per fetch (medians of the
rounds). The server runs in another process, so the CPU is the client's alone.

Run: ``python -m benchmarks.overhead [--rounds N] [--fetches N] [--sets SET ...]``.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from benchmarks.harness import (
    DEFAULT_SETS,
    ReplayServer,
    alternated,
    base_parser,
    capture_set,
    median,
    print_table,
    ratio,
    raw_client,
    raw_get_json,
    served_endpoints,
    write_json,
)
from enphase_local import GatewaySession

OURS = "enphase_local"
RAW = "raw"


async def _cpu_ms_per_call(call: Callable[[], Awaitable[object]], count: int) -> float:
    gc.collect()
    started = time.process_time()
    for _ in range(count):
        await call()
    return (time.process_time() - started) * 1000 / count


async def _measure_set(
    server: ReplayServer, index: int, *, rounds: int, fetches: int
) -> dict[str, Any]:
    gateway = server.gateways[index]
    session = GatewaySession(gateway.url, token=gateway.token)
    raw = raw_client()
    headers = {"Authorization": f"Bearer {gateway.token}"}
    rows: list[dict[str, Any]] = []
    try:
        for endpoint in await served_endpoints(session):
            url = gateway.url + endpoint.path
            async with raw.get(url, headers=headers) as response:
                size = len(await response.read())
            calls: dict[str, Callable[[], Awaitable[object]]] = {
                OURS: functools.partial(session.fetch, endpoint),
                RAW: functools.partial(raw_get_json, raw, url, headers),
            }
            samples: dict[str, list[float]] = {OURS: [], RAW: []}
            for round_index in range(rounds):
                for name in alternated((OURS, RAW), round_index):
                    samples[name].append(await _cpu_ms_per_call(calls[name], fetches))
            ours, bare = median(samples[OURS]), median(samples[RAW])
            rows.append(
                {
                    "endpoint": endpoint.path,
                    "bytes": size,
                    "raw_ms": bare,
                    "ours_ms": ours,
                    "x_raw": ratio(ours, bare),
                    "samples_ms": samples,
                }
            )
    finally:
        await session.close()
        await raw.close()
    total_ours = sum(r["ours_ms"] for r in rows)
    total_raw = sum(r["raw_ms"] for r in rows)
    return {
        "set": gateway.name,
        "endpoints": rows,
        "x_raw_overall": ratio(total_ours, total_raw),
        "x_raw_worst": max((r["x_raw"] for r in rows), default=float("nan")),
    }


def _print(results: list[dict[str, Any]], *, rounds: int, fetches: int) -> None:
    for result in results:
        print(f"\n{result['set']}  ({rounds} rounds x {fetches} fetches, CPU medians)")
        print_table(
            ("endpoint", "bytes", "raw ms", "ours ms", "x raw"),
            [
                (r["endpoint"], r["bytes"], r["raw_ms"], r["ours_ms"], r["x_raw"])
                for r in result["endpoints"]
            ],
        )
    summary = ", ".join(
        f"{r['x_raw_overall']:.2f}x overall / {r['x_raw_worst']:.2f}x worst ({r['set']})"
        for r in results
    )
    print(f"\noverhead: enphase_local fetch+parse vs raw GET+decode = {summary} (target <= 1.30x)")


async def _run(sets: Sequence[str], *, rounds: int, fetches: int) -> list[dict[str, Any]]:
    folders = [capture_set(name) for name in sets]
    with ReplayServer(folders) as server:
        return [
            await _measure_set(server, index, rounds=rounds, fetches=fetches)
            for index in range(len(folders))
        ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table and summary; write JSON when asked."""
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "overhead")
    parser.add_argument("--rounds", type=int, default=7, help="A/B rounds (default 7)")
    parser.add_argument("--fetches", type=int, default=40, help="fetches per side per round")
    parser.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS), metavar="SET")
    args = parser.parse_args(argv)
    results = asyncio.run(_run(args.sets, rounds=args.rounds, fetches=args.fetches))
    _print(results, rounds=args.rounds, fetches=args.fetches)
    write_json(
        args.json,
        {
            "benchmark": "overhead",
            "rounds": args.rounds,
            "fetches": args.fetches,
            "sets": results,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
