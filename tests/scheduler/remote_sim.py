"""A :class:`~enphase_local.simulator.Simulation` in a child process, driven over a pipe.

The gateways then use another CPU core than the poller under test, so what the test
measures is the poller's punctuality, not how busy the simulated gateways keep a shared
event loop. The child's simulated clock is rebuilt here from its anchor: ``time.monotonic``
is one clock for every process of the machine.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import time
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Self

import attrs

from enphase_local.simulator import Simulation
from enphase_local.simulator.auth.jwt import Role

#: Seconds to wait for the child to start its gateways.
_START_TIMEOUT_S = 60.0


@attrs.frozen(kw_only=True)
class RemoteGateway:
    """What the parent knows of one simulated gateway."""

    #: Base URL.
    url: str
    #: Serial.
    serial: str
    #: Certificate fingerprint (None over plain HTTP).
    fingerprint: str | None
    #: Profile name.
    profile: str
    #: Whether it needs tokens.
    web_tokens: bool
    #: Whether it has CT meters.
    metered: bool

    @property
    def host(self) -> str:
        """``127.0.0.1:port``, as the poller names it."""
        return self.url.split("://", 1)[1]


@attrs.frozen(kw_only=True)
class RemoteStats:
    """One gateway's request counters, copied from the child."""

    #: Most requests in flight at once.
    max_in_flight: int
    #: Requests per path.
    by_path: dict[str, int]
    #: Refused credentials per reason.
    auth_failures: dict[str, int]
    #: ``(path, status, simulated time)`` of each request, oldest first.
    log: list[tuple[str, int, float]]

    def times(self, path: str) -> list[float]:
        """Simulated arrival times of the requests to ``path`` answered with 200."""
        return [at for logged, status, at in self.log if logged == path and status == 200]


class RemoteSimulation:
    """Starts a simulation in a child process; ``async with`` stops it."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_child, args=(child, options), daemon=True)
        self._lock = asyncio.Lock()
        self.gateways: list[RemoteGateway] = []
        self._anchor = (0.0, 0.0, 1.0)

    async def __aenter__(self) -> Self:
        self._process.start()
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, self._conn.poll, _START_TIMEOUT_S)
        if not ready:
            raise RuntimeError("the simulation did not start")
        description = self._conn.recv()
        self.gateways = [RemoteGateway(**g) for g in description["gateways"]]
        self._anchor = description["anchor"]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.call("stop")
        finally:
            await asyncio.get_running_loop().run_in_executor(None, self._process.join, 10)
            if self._process.is_alive():
                self._process.kill()

    @property
    def speed(self) -> float:
        """Simulated seconds per real second."""
        return self._anchor[2]

    def now(self) -> float:
        """The child's simulated time, Unix seconds."""
        sim, real, speed = self._anchor
        return sim + (time.monotonic() - real) * speed

    async def sleep_until(self, when: float) -> None:
        """Wait until the simulated clock reads ``when``."""
        await asyncio.sleep(max(0.0, when - self.now()) / self.speed)

    async def call(self, command: str, *args: Any) -> Any:
        """Run ``command`` in the child and return its answer."""
        async with self._lock:
            self._conn.send((command, args))
            return await asyncio.get_running_loop().run_in_executor(None, self._conn.recv)

    async def stats(self) -> list[RemoteStats]:
        """Every gateway's counters, in order."""
        return [RemoteStats(**s) for s in await self.call("stats")]


# -- the child --------------------------------------------------------------------------------


def _child(conn: Connection, options: dict[str, Any]) -> None:
    asyncio.run(_serve(conn, options))


async def _serve(conn: Connection, options: dict[str, Any]) -> None:
    sim = Simulation(**options)
    await sim.start()
    # A full collection over the gateways' request logs pauses every gateway for tens of
    # milliseconds, which time compression turns into seconds: the harness does without.
    gc.collect()
    gc.disable()
    conn.send(
        {
            "gateways": [
                {
                    "url": g.url,
                    "serial": g.serial,
                    "fingerprint": g.fingerprint,
                    "profile": g.profile.name if g.profile else "replay",
                    "web_tokens": g.device.web_tokens,
                    "metered": bool(g.profile and g.profile.meters),
                }
                for g in sim.gateways
            ],
            "anchor": (sim.clock.now(), time.monotonic(), sim.clock.speed),
        }
    )
    commands = _commands(sim)
    loop = asyncio.get_running_loop()
    try:
        while True:
            command, args = await loop.run_in_executor(None, conn.recv)
            if command == "stop":
                break
            conn.send(await commands[command](*args))
    finally:
        await sim.stop()
        conn.send(None)


def _commands(sim: Simulation) -> dict[str, Callable[..., Coroutine[Any, Any, Any]]]:
    async def reboot(index: int, downtime_s: float) -> None:
        await sim.gateways[index].reboot(downtime_s)

    async def hang(index: int) -> None:
        sim.gateways[index].faults.hang(count=None)

    async def clear(index: int) -> None:
        sim.gateways[index].faults.clear()

    async def mint(serial: str, lifetime_s: float, issued_at: float) -> str:
        return sim.issuer.mint(serial, role=Role.OWNER, lifetime_s=lifetime_s, issued_at=issued_at)

    async def stats() -> list[dict[str, Any]]:
        return [
            {
                "max_in_flight": g.stats.max_in_flight,
                "by_path": dict(g.stats.by_path),
                "auth_failures": dict(g.stats.auth_failures),
                "log": [(r.path, r.status, r.sim_time) for r in g.stats.log],
            }
            for g in sim.gateways
        ]

    return {
        "reboot": reboot,
        "hang": hang,
        "clear": clear,
        "mint": mint,
        "stats": stats,
    }
