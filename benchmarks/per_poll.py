"""Client CPU per endpoint fetch: enphase_local vs pyenphase vs raw aiohttp, A/B alternated.

Each capture set is replayed over loopback HTTPS by a server in another process, so the
process CPU time measured here (``time.process_time``) is the client's alone. Setup (``/info``,
token check, pyenphase's probe) happens before the clock starts. Then, round after round and
in alternating order, every client polls the gateway ``--polls`` times:

- ``pyenphase``: ``await envoy.update()`` (its own choice of endpoints);
- ``enphase_local``: ``GatewaySession.fetch`` of each of our endpoints the capture serves;
- ``raw (ours)`` / ``raw (pyenphase)``: a bare aiohttp GET plus ``orjson.loads`` of the same
  paths as the client named, through one shared connector with keep-alive.

The raw rows are the floor each client is measured against: pyenphase's update reads other
(and larger) bodies than our poll, so ``x raw`` (client CPU per GET over raw CPU per GET on
the same paths) compares the two libraries' own overhead independently of the bodies.

The default sets are one capture per connection behaviour: ``7.6.175_with_cts`` keeps
connections alive, ``8.3.5169_with_generator`` answers ``Connection: close`` (every GET opens
a new TLS connection). Target: enphase_local at most 0.80x pyenphase's CPU per GET on both.

Run: ``python -m benchmarks.per_poll [--rounds N] [--polls N] [--sets SET ...]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import attrs

from benchmarks.harness import (
    DEFAULT_SETS,
    NO_PYENPHASE,
    ReplayedGateway,
    ReplayServer,
    alternated,
    base_parser,
    capture_set,
    have_pyenphase,
    median,
    print_table,
    pyenphase,
    ratio,
    raw_client,
    raw_get_json,
    served_endpoints,
    write_json,
)
from enphase_local import GatewaySession

Poll = Callable[[], Awaitable[object]]

PYENPHASE = "pyenphase"
OURS = "enphase_local"
RAW_OURS = "raw (ours)"
RAW_PYENPHASE = "raw (pyenphase)"
CLIENTS = (PYENPHASE, OURS, RAW_OURS, RAW_PYENPHASE)
#: enphase_local's CPU per GET as a share of pyenphase's, at most, on every capture set.
TARGET_X_PYENPHASE = 0.8


@attrs.define
class _Client:
    name: str
    poll: Poll
    samples_ms_per_get: list[float] = attrs.field(factory=list)
    gets_per_poll: float = 0.0


def _raw_poll(
    client: aiohttp.ClientSession, gateway: ReplayedGateway, paths: Sequence[str]
) -> Poll:
    urls = [gateway.url + path for path in paths]
    headers = {"Authorization": f"Bearer {gateway.token}"}

    async def poll() -> None:
        for url in urls:
            await raw_get_json(client, url, headers)

    return poll


async def _pyenphase_client(
    server: ReplayServer, index: int, stack: contextlib.AsyncExitStack
) -> tuple[Poll, list[str]]:
    """pyenphase's ``update``, set up and probed, and the paths one update reads."""
    gateway = server.gateways[index]
    envoy = pyenphase("", "Envoy")(gateway.host_port)
    stack.push_async_callback(envoy.close)
    await envoy.setup()
    await envoy.authenticate(token=gateway.token)
    await envoy.update()  # the first update probes which endpoints exist
    server.stats()
    await envoy.update()
    return envoy.update, sorted(server.stats()[index])


async def _measure_set(
    server: ReplayServer, index: int, *, rounds: int, polls: int
) -> dict[str, Any]:
    gateway = server.gateways[index]
    async with contextlib.AsyncExitStack() as stack:
        session = GatewaySession(gateway.url, token=gateway.token)
        stack.push_async_callback(session.close)
        raw = raw_client()
        stack.push_async_callback(raw.close)
        served = await served_endpoints(session)
        paths = {OURS: [endpoint.path for endpoint in served]}

        async def ours() -> None:
            for endpoint in served:
                await session.fetch(endpoint)

        clients = {
            OURS: _Client(OURS, ours),
            RAW_OURS: _Client(RAW_OURS, _raw_poll(raw, gateway, paths[OURS])),
        }
        if have_pyenphase():
            update, paths[PYENPHASE] = await _pyenphase_client(server, index, stack)
            clients[PYENPHASE] = _Client(PYENPHASE, update)
            clients[RAW_PYENPHASE] = _Client(
                RAW_PYENPHASE, _raw_poll(raw, gateway, paths[PYENPHASE])
            )
        for client in clients.values():
            await client.poll()  # warm: connections open, caches filled
        server.stats()
        for round_index in range(rounds):
            for name in alternated([c for c in CLIENTS if c in clients], round_index):
                await _timed_polls(clients[name], server, index, polls)
    return _summarise(gateway.name, clients, paths)


async def _timed_polls(client: _Client, server: ReplayServer, index: int, polls: int) -> None:
    gc.collect()
    started = time.process_time()
    for _ in range(polls):
        await client.poll()
    cpu = time.process_time() - started
    gets = sum(server.stats()[index].values())
    client.gets_per_poll = gets / polls
    client.samples_ms_per_get.append(ratio(cpu * 1000, gets))


def _summarise(
    name: str, clients: dict[str, _Client], paths: dict[str, list[str]]
) -> dict[str, Any]:
    nan = float("nan")
    per_get = {c.name: median(c.samples_ms_per_get) for c in clients.values()}
    theirs = per_get.get(PYENPHASE, nan)
    floor = {
        PYENPHASE: per_get.get(RAW_PYENPHASE, nan),
        OURS: per_get[RAW_OURS],
        RAW_OURS: per_get[RAW_OURS],
        RAW_PYENPHASE: per_get.get(RAW_PYENPHASE, nan),
    }
    return {
        "set": name,
        "paths": paths,
        "clients": {
            c.name: {
                "gets_per_poll": c.gets_per_poll,
                "ms_per_get": per_get[c.name],
                "ms_per_poll": per_get[c.name] * c.gets_per_poll,
                "samples_ms_per_get": c.samples_ms_per_get,
                "x_pyenphase": ratio(per_get[c.name], theirs),
                "x_raw_same_paths": ratio(per_get[c.name], floor[c.name]),
            }
            for c in clients.values()
        },
        "ours_vs_pyenphase_per_get": ratio(per_get[OURS], theirs),
        "ours_vs_pyenphase_over_raw": ratio(
            ratio(per_get[OURS], per_get[RAW_OURS]), ratio(theirs, floor[PYENPHASE])
        ),
    }


def _print(results: list[dict[str, Any]], *, rounds: int, polls: int) -> None:
    for result in results:
        print(f"\n{result['set']}  ({rounds} rounds x {polls} polls, medians)")
        print_table(
            ("client", "GETs/poll", "ms CPU/poll", "ms CPU/GET", "x pyenphase", "x raw"),
            [
                (
                    name,
                    f"{c['gets_per_poll']:g}",
                    c["ms_per_poll"],
                    c["ms_per_get"],
                    c["x_pyenphase"],
                    c["x_raw_same_paths"],
                )
                for name, c in sorted(
                    result["clients"].items(), key=lambda item: CLIENTS.index(item[0])
                )
            ],
        )
    if not have_pyenphase():
        print(f"\n{NO_PYENPHASE}")
    per_get = ", ".join(f"{r['ours_vs_pyenphase_per_get']:.2f}x ({r['set']})" for r in results)
    over_raw = ", ".join(f"{r['ours_vs_pyenphase_over_raw']:.2f}x" for r in results)
    print(
        f"\nper_poll: enphase_local CPU per GET = {per_get} of pyenphase "
        f"(target <= {TARGET_X_PYENPHASE:.2f}x); overhead above raw aiohttp = {over_raw} "
        "of pyenphase's"
    )


async def _run(sets: Sequence[str], *, rounds: int, polls: int) -> list[dict[str, Any]]:
    folders = [capture_set(name) for name in sets]
    with ReplayServer(folders) as server:
        return [
            await _measure_set(server, index, rounds=rounds, polls=polls)
            for index in range(len(folders))
        ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table and summary; write JSON when asked."""
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "per_poll")
    parser.add_argument("--rounds", type=int, default=9, help="A/B rounds (default 9)")
    parser.add_argument("--polls", type=int, default=20, help="polls per client per round")
    parser.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS), metavar="SET")
    args = parser.parse_args(argv)
    results = asyncio.run(_run(args.sets, rounds=args.rounds, polls=args.polls))
    _print(results, rounds=args.rounds, polls=args.polls)
    write_json(
        args.json,
        {
            "benchmark": "per_poll",
            "rounds": args.rounds,
            "polls": args.polls,
            "target_x_pyenphase": TARGET_X_PYENPHASE,
            "sets": results,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
