"""Memory kept per polled gateway, by transport option (groundwork for the ``memory`` target).

``--gateways`` simulated gateways (``metered`` profile) run in a server process. For each
option, a fresh client process polls every gateway once (``/info`` and the three live
endpoints), lets connections settle, and reports what it keeps per gateway: resident memory
(RSS, from ``/proc/self/status``) in one process and Python allocations (``tracemalloc``) in
another, each against a baseline taken after a warm-up poll. Options:

- ``default``: a :class:`~enphase_local.GatewaySession` per gateway, as the poller makes them
  (keep-alive, TLS read buffer shrunk to ``transport.TLS_READ_BUFFER_BYTES``);
- ``asyncio-buffer``: the same with asyncio's own 256 KiB TLS read buffer per connection
  (the module constant raised for the run), the cost this library avoids;
- ``no-keep-alive``: ``keep_alive=False``, nothing kept open between polls;
- ``shared-session``: one aiohttp session (and connector) given to every GatewaySession;
- ``raw``: bare aiohttp GET + JSON decode through one shared connector (reference);
- ``pyenphase``: one ``Envoy`` per gateway after ``setup``/``authenticate``/``update``
  (reference; it reads more endpoints).

Run: ``python -m benchmarks.memory_probe [--gateways N] [--options NAME ...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

import aiohttp

from benchmarks.harness import (
    NO_PYENPHASE,
    ReplayedGateway,
    ReplayServer,
    base_parser,
    have_pyenphase,
    print_table,
    pyenphase,
    raw_client,
    raw_get_json,
    read_gateways,
    rss_kib,
    run_child,
    write_json,
)
from benchmarks.memory import TARGET_KIB
from enphase_local import GatewaySession, transport
from enphase_local import endpoints as ep
from enphase_local.endpoints import Endpoint

OPTIONS = ("default", "asyncio-buffer", "no-keep-alive", "shared-session", "raw", "pyenphase")
LIVE: tuple[Endpoint[Any], ...] = (ep.METER_READINGS, ep.LIVE_DATA, ep.CONSUMPTION_REPORTS)

Poll = Callable[[ReplayedGateway], Awaitable[None]]


def _session_poll(stack: AsyncExitStack, **options: Any) -> Poll:
    async def poll(gateway: ReplayedGateway) -> None:
        session = GatewaySession(gateway.url, token=gateway.token, **options)
        stack.push_async_callback(session.close)
        await session.info()
        for endpoint in LIVE:
            await session.fetch(endpoint)

    return poll


def _raw_poll(client: aiohttp.ClientSession) -> Poll:
    async def poll(gateway: ReplayedGateway) -> None:
        headers = {"Authorization": f"Bearer {gateway.token}"}
        for endpoint in LIVE:
            await raw_get_json(client, gateway.url + endpoint.path, headers)

    return poll


def _pyenphase_poll(stack: AsyncExitStack) -> Poll:
    envoy_class = pyenphase("", "Envoy")

    async def poll(gateway: ReplayedGateway) -> None:
        envoy = envoy_class(gateway.host_port)
        stack.push_async_callback(envoy.close)
        await envoy.setup()
        await envoy.authenticate(token=gateway.token)
        await envoy.update()

    return poll


async def _make_poll(option: str, stack: AsyncExitStack) -> Poll:
    if option == "default":
        return _session_poll(stack)
    if option == "asyncio-buffer":
        transport.TLS_READ_BUFFER_BYTES = 256 * 1024  # what asyncio's SSLProtocol allocates
        return _session_poll(stack)
    if option == "no-keep-alive":
        return _session_poll(stack, keep_alive=False)
    if option == "shared-session":
        shared = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), cookie_jar=aiohttp.DummyCookieJar()
        )
        stack.push_async_callback(shared.close)
        return _session_poll(stack, session=shared)
    if option == "raw":
        client = raw_client()
        stack.push_async_callback(client.close)
        return _raw_poll(client)
    if option == "pyenphase":
        return _pyenphase_poll(stack)
    raise ValueError(f"unknown option {option!r}")


async def _measure(
    option: str, gateways: list[ReplayedGateway], mode: str, settle_s: float
) -> float:
    """KiB kept per gateway after polling all but the first (which warms everything up)."""
    async with AsyncExitStack() as stack:
        poll = await _make_poll(option, stack)
        await poll(gateways[0])
        await asyncio.sleep(settle_s)
        gc.collect()
        if mode == "tracemalloc":
            tracemalloc.start()
        before = rss_kib() if mode == "rss" else tracemalloc.get_traced_memory()[0] / 1024
        for gateway in gateways[1:]:
            await poll(gateway)
        await asyncio.sleep(settle_s)
        gc.collect()
        after = rss_kib() if mode == "rss" else tracemalloc.get_traced_memory()[0] / 1024
        return (after - before) / (len(gateways) - 1)


def _child(option: str, mode: str, settle_s: float) -> int:
    kib = asyncio.run(_measure(option, read_gateways(), mode, settle_s))
    print(json.dumps({"kib_per_gateway": kib}))
    return 0


def _run_child(option: str, mode: str, gateways: list[ReplayedGateway], settle_s: float) -> float:
    arguments = ["--child", option, "--mode", mode, "--settle", str(settle_s)]
    result: float = run_child("memory_probe", arguments, gateways)["kib_per_gateway"]
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the probe; print the table and summary; write JSON when asked."""
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "memory_probe")
    parser.add_argument("--gateways", type=int, default=100, help="gateways (default 100)")
    parser.add_argument("--options", nargs="+", choices=OPTIONS, default=list(OPTIONS))
    parser.add_argument(
        "--settle", type=float, default=0.5, help="seconds for connections to settle (0.5)"
    )
    parser.add_argument("--child", choices=OPTIONS, help=argparse.SUPPRESS)
    parser.add_argument(
        "--mode", choices=("rss", "tracemalloc"), default="rss", help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.mode, args.settle)
    options = [o for o in args.options if o != "pyenphase" or have_pyenphase()]
    with ReplayServer(gateways=max(2, args.gateways)) as server:
        rows = [
            {
                "option": option,
                "rss_kib_per_gateway": _run_child(option, "rss", server.gateways, args.settle),
                "tracemalloc_kib_per_gateway": _run_child(
                    option, "tracemalloc", server.gateways, args.settle
                ),
            }
            for option in options
        ]
    print_table(
        ("option", "RSS KiB/gateway", "Python KiB/gateway"),
        [(r["option"], r["rss_kib_per_gateway"], r["tracemalloc_kib_per_gateway"]) for r in rows],
    )
    if not have_pyenphase():
        print(f"\n{NO_PYENPHASE}")
    default = next((r for r in rows if r["option"] == "default"), None)
    if default is not None:
        print(
            f"\nmemory_probe: enphase_local keeps {default['rss_kib_per_gateway']:.0f} KiB RSS "
            f"per polled gateway ({args.gateways} gateways; memory target {TARGET_KIB} KiB "
            "at 1,000 gateways with the poller)"
        )
    write_json(args.json, {"benchmark": "memory_probe", "gateways": args.gateways, "options": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
