"""The fault soak's simulated gateways: in the soak's own process, or in a child process.

:class:`LocalGateways` wraps a :class:`~enphase_local.simulator.Simulation` running in the
soak's event loop (the short test run uses it: its secret-hygiene variant reads the
simulation's secrets as they are made). :class:`RemoteGateways` starts the simulation in a
child process (``python -m benchmarks.soak_sim``) and drives it through the simulator's
loopback control API, so that the soak's resident memory is the client's alone (poller,
sessions, token managers, sinks); the release run uses it.

The child prints one JSON line describing the gateways, the simulated clock and the cloud
(its certificate, so the parent can trust it), serves until its stdin closes, then prints a
last JSON line: ERROR records logged in the child and the gateways' final counters.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import datetime as dt
import json
import logging
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp
import attrs

from enphase_local.simulator import Simulation
from enphase_local.simulator.auth.jwt import Role
from enphase_local.simulator.clock import SimClock
from enphase_local.simulator.faults import NightlyWindow

#: Real seconds between looks at a rebooting gateway through the control API.
_ONLINE_POLL_S = 0.05
_REPOSITORY = Path(__file__).resolve().parents[1]


@attrs.frozen(kw_only=True)
class GatewayInfo:
    """What the soak needs to know about one simulated gateway."""

    #: Serial number.
    serial: str
    #: Base URL.
    url: str
    #: Certificate fingerprint (None over plain HTTP).
    fingerprint: str | None
    #: Whether it wants tokens (7.x and later) rather than digest auth.
    web_tokens: bool
    #: Whether it has meters (polled every simulated 10 s).
    metered: bool

    @property
    def host(self) -> str:
        """``host:port``, as the poller's events name it."""
        return self.url.split("://", 1)[1]


@attrs.frozen(kw_only=True)
class Counters:
    """A gateway's counters that the soak watches while a fault runs."""

    #: Requests refused for their credentials, all reasons.
    auth_failures: int
    #: Requests that got no answer (hang, reboot, client gave up).
    unanswered: int
    #: Faults applied per kind (see ``GatewayStats.faults_served``).
    faults_served: dict[str, int]


@attrs.frozen(kw_only=True)
class Totals:
    """What the simulation saw over the whole run."""

    #: The most requests ever in flight at one gateway.
    max_in_flight: int
    #: Requests refused because their token had expired.
    expired_refusals: int
    #: ERROR records the simulator logged (None: counted by the soak's own log watch).
    simulator_errors: int | None


@attrs.frozen(kw_only=True)
class CloudInfo:
    """Where the fake cloud is and the demo owner account."""

    url: str
    username: str
    password: str = attrs.field(repr=False)
    #: Its certificate (PEM), or None over plain HTTP.
    cert_pem: str | None = attrs.field(repr=False)

    def ssl_context(self) -> ssl.SSLContext | bool:
        """A client TLS context that trusts the cloud (True over plain HTTP: unused)."""
        if self.cert_pem is None:
            return True
        return ssl.create_default_context(cadata=self.cert_pem)


class SimGateways(abc.ABC):
    """The soak's handle on the simulated gateways: faults, tokens, clock and counters."""

    #: Simulated seconds per real second.
    speed: float
    gateways: list[GatewayInfo]
    cloud: CloudInfo

    @abc.abstractmethod
    def now(self) -> float:
        """Simulated time, Unix seconds."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Start the gateways and the cloud."""

    @abc.abstractmethod
    async def stop(self) -> Totals:
        """Stop everything; what the simulation saw."""

    @abc.abstractmethod
    async def fail(self, serial: str, count: int) -> None:
        """Answer the next ``count`` requests with openresty's 504."""

    @abc.abstractmethod
    async def hang(self, serial: str) -> None:
        """Never answer any request until :meth:`clear`."""

    @abc.abstractmethod
    async def clear(self, serial: str) -> None:
        """Switch every fault of the gateway off."""

    @abc.abstractmethod
    async def truncate(
        self, serial: str, count: int, *, close_connection: bool, path: str | None = None
    ) -> None:
        """Cut the next ``count`` bodies (of ``path``) in half."""

    @abc.abstractmethod
    async def serve_html(self, serial: str, count: int) -> None:
        """Answer the next ``count`` successful requests with the web UI's HTML page."""

    @abc.abstractmethod
    async def reboot(self, serial: str, downtime_s: float) -> None:
        """Reboot; returns once the gateway listens again."""

    @abc.abstractmethod
    async def revoke_all(self, serial: str) -> None:
        """Refuse every token minted so far for the gateway."""

    @abc.abstractmethod
    async def set_nightly(self, serial: str, window: NightlyWindow | None) -> None:
        """Open (or, with None, switch off) the nightly unresponsive window."""

    @abc.abstractmethod
    async def fail_cloud_tokens(self, status: int | None) -> None:
        """Make the cloud's ``/tokens`` answer ``status`` (None restores it)."""

    @abc.abstractmethod
    async def mint(self, serial: str, *, lifetime_s: float, issued_at: float) -> str:
        """An owner token for the gateway."""

    @abc.abstractmethod
    async def counters(self, serial: str) -> Counters:
        """The gateway's counters now."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


def _info(sim: Simulation) -> list[GatewayInfo]:
    return [
        GatewayInfo(
            serial=g.serial,
            url=g.url,
            fingerprint=g.fingerprint,
            web_tokens=g.device.web_tokens,
            metered=g.profile is not None and bool(g.profile.meters),
        )
        for g in sim.gateways
    ]


def cloud_info(sim: Simulation) -> CloudInfo:
    """Where the simulation's cloud is, and its owner account."""
    assert sim.cloud is not None
    certificate = sim.cloud.certificate
    return CloudInfo(
        url=sim.cloud.url,
        username=sim.owner.username,
        password=sim.owner.password,
        cert_pem=None if certificate is None else certificate.cert_pem.decode("ascii"),
    )


def _counters(stats: dict[str, Any]) -> Counters:
    return Counters(
        auth_failures=sum(stats["auth_failures"].values()),
        unanswered=int(stats["by_status"].get("0", 0)),
        faults_served=dict(stats["faults_served"]),
    )


class LocalGateways(SimGateways):
    """The simulation in this process (its objects count in this process's memory)."""

    def __init__(self, sim: Simulation) -> None:
        #: The simulation itself, for callers that look inside it.
        self.sim = sim
        self.speed = sim.clock.speed
        self.gateways = []

    def __repr__(self) -> str:
        return f"LocalGateways({self.sim!r})"

    def now(self) -> float:
        return self.sim.clock.now()

    async def start(self) -> None:
        await self.sim.start()
        self.gateways = _info(self.sim)
        self.cloud = cloud_info(self.sim)

    async def stop(self) -> Totals:
        await self.sim.stop()
        gateways = self.sim.gateways
        return Totals(
            max_in_flight=max(g.stats.max_in_flight for g in gateways),
            expired_refusals=sum(g.stats.auth_failures.get("expired", 0) for g in gateways),
            simulator_errors=None,
        )

    async def fail(self, serial: str, count: int) -> None:
        self.sim.gateway(serial).faults.fail(count)

    async def hang(self, serial: str) -> None:
        self.sim.gateway(serial).faults.hang(count=None)

    async def clear(self, serial: str) -> None:
        self.sim.gateway(serial).faults.clear()

    async def truncate(
        self, serial: str, count: int, *, close_connection: bool, path: str | None = None
    ) -> None:
        self.sim.gateway(serial).faults.truncate(
            count, path=path, close_connection=close_connection
        )

    async def serve_html(self, serial: str, count: int) -> None:
        self.sim.gateway(serial).faults.serve_html(count)

    async def reboot(self, serial: str, downtime_s: float) -> None:
        gateway = self.sim.gateway(serial)
        await gateway.reboot(downtime_s)
        await gateway.wait_online()

    async def revoke_all(self, serial: str) -> None:
        self.sim.gateway(serial).revoke_all_tokens()

    async def set_nightly(self, serial: str, window: NightlyWindow | None) -> None:
        self.sim.gateway(serial).faults.set_nightly(window)

    async def fail_cloud_tokens(self, status: int | None) -> None:
        assert self.sim.cloud is not None
        self.sim.cloud.fail_tokens(status)

    async def mint(self, serial: str, *, lifetime_s: float, issued_at: float) -> str:
        return self.sim.issuer.mint(
            serial, role=Role.OWNER, lifetime_s=lifetime_s, issued_at=issued_at
        )

    async def counters(self, serial: str) -> Counters:
        stats = self.sim.gateway(serial).stats
        return Counters(
            auth_failures=sum(stats.auth_failures.values()),
            unanswered=stats.by_status[0],
            faults_served=dict(stats.faults_served),
        )


class RemoteGateways(SimGateways):
    """The simulation in a child process, driven through its control API."""

    def __init__(self, profiles: Sequence[str], *, start_time: dt.datetime, speed: float) -> None:
        self._profiles = list(profiles)
        self._start_time = start_time
        self.speed = speed
        self.gateways = []
        self._process: asyncio.subprocess.Process | None = None
        self._http: aiohttp.ClientSession | None = None
        self._control = ""
        self._clock = SimClock(start_time.timestamp(), speed=speed)

    def __repr__(self) -> str:
        return f"RemoteGateways(gateways={len(self._profiles)}, control={self._control!r})"

    def now(self) -> float:
        return self._clock.now()

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.soak_sim",
            "--start",
            self._start_time.isoformat(),
            "--speed",
            str(self.speed),
            *self._profiles,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=_REPOSITORY,
            limit=2**22,
        )
        assert self._process.stdout is not None
        line = await self._process.stdout.readline()
        if not line:
            await self._process.wait()
            raise RuntimeError(f"the simulator child exited ({self._process.returncode})")
        described = json.loads(line)
        self.gateways = [GatewayInfo(**g) for g in described["gateways"]]
        self.cloud = CloudInfo(**described["cloud"])
        self._control = described["control"]
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        clock = await self._call("GET", "/status")
        # The child's clock, from here on at the same speed (a few ms of the reply late).
        self._clock = SimClock(clock["clock"]["time"], speed=self.speed)

    async def stop(self) -> Totals:
        if self._http is not None:
            await self._http.close()
            self._http = None
        process = self._process
        if process is None:
            raise RuntimeError("not started")
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.close()
        line = await process.stdout.readline()
        await process.wait()
        self._process = None
        if not line:
            raise RuntimeError(f"the simulator child exited ({process.returncode})")
        return Totals(**json.loads(line))

    async def _call(self, method: str, path: str, body: object = None) -> Any:
        assert self._http is not None
        async with self._http.request(method, self._control + path, json=body) as reply:
            answer = await reply.json()
            if reply.status != 200:
                raise RuntimeError(f"control API {method} {path}: {reply.status} {answer}")
            return answer

    async def _gateway(self, serial: str, method: str, suffix: str, body: object = None) -> Any:
        return await self._call(method, f"/gateways/{serial}{suffix}", body)

    async def fail(self, serial: str, count: int) -> None:
        await self._gateway(serial, "POST", "/faults/error", {"count": count})

    async def hang(self, serial: str) -> None:
        await self._gateway(serial, "POST", "/faults/hang", {"count": None})

    async def clear(self, serial: str) -> None:
        await self._gateway(serial, "DELETE", "/faults")

    async def truncate(
        self, serial: str, count: int, *, close_connection: bool, path: str | None = None
    ) -> None:
        body = {"count": count, "path": path, "close_connection": close_connection}
        await self._gateway(serial, "POST", "/faults/truncate", body)

    async def serve_html(self, serial: str, count: int) -> None:
        await self._gateway(serial, "POST", "/faults/html", {"count": count})

    async def reboot(self, serial: str, downtime_s: float) -> None:
        await self._gateway(serial, "POST", "/reboot", {"downtime_s": downtime_s})
        await asyncio.sleep(downtime_s)
        while True:  # the child's gateway comes back on its own: look until it has
            if (await self._gateway(serial, "GET", ""))["online"]:
                return
            await asyncio.sleep(_ONLINE_POLL_S)

    async def revoke_all(self, serial: str) -> None:
        await self._gateway(serial, "POST", "/revoke", {})

    async def set_nightly(self, serial: str, window: NightlyWindow | None) -> None:
        if window is None:
            await self._gateway(serial, "POST", "/faults/nightly", {"enabled": False})
            return
        body = {
            "start": window.start.isoformat(),
            "duration_s": window.duration_s,
            "hang_s": window.hang_s,
        }
        await self._gateway(serial, "POST", "/faults/nightly", body)

    async def fail_cloud_tokens(self, status: int | None) -> None:
        await self._call("POST", "/cloud/tokens", {"status": status})

    async def mint(self, serial: str, *, lifetime_s: float, issued_at: float) -> str:
        body = {"role": "owner", "lifetime_s": lifetime_s, "issued_at": issued_at}
        return str((await self._gateway(serial, "POST", "/tokens", body))["token"])

    async def counters(self, serial: str) -> Counters:
        return _counters((await self._gateway(serial, "GET", ""))["stats"])


# -- the child ------------------------------------------------------------------------------


class _ErrorCount(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        del record
        self.count += 1


async def _serve(profiles: Sequence[str], start_time: dt.datetime, speed: float) -> None:
    errors = _ErrorCount()
    logging.getLogger().addHandler(errors)
    sim = Simulation(profile=list(profiles), start_time=start_time, speed=speed)
    async with sim:
        described = {
            "gateways": [attrs.asdict(g) for g in _info(sim)],
            "cloud": attrs.asdict(cloud_info(sim)),
            "control": sim.control_url,
        }
        print(json.dumps(described), flush=True)
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, sys.stdin.readline):
            pass  # any line is ignored; end of input stops the child
        gateways = sim.gateways
        totals = Totals(
            max_in_flight=max(g.stats.max_in_flight for g in gateways),
            expired_refusals=sum(g.stats.auth_failures.get("expired", 0) for g in gateways),
            simulator_errors=errors.count,
        )
    print(json.dumps(attrs.asdict(totals)), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the soak's gateways until stdin closes (the parent's end of the pipe)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak_sim", description=__doc__)
    parser.add_argument("--start", type=dt.datetime.fromisoformat, required=True)
    parser.add_argument("--speed", type=float, required=True)
    parser.add_argument("profiles", nargs="+")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.profiles, args.start, args.speed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
