"""What the benchmark scripts share: captures, a replay server in its own process, tables.

The replayed gateways run in a child process (``python -m benchmarks.harness serve SET...``)
so that ``time.process_time()`` in the benchmark counts the client's CPU only. The child
prints one JSON line describing its gateways, then answers one command per stdin line:
``stats`` prints every gateway's requests per path since the last ``stats`` (and resets
them); end of input stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import math
import os
import ssl
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import aiohttp
import attrs
import orjson

from enphase_local import GatewaySession
from enphase_local.endpoints import ENDPOINTS, INFO, Endpoint
from enphase_local.errors import NotSupportedError

#: Where the captures are when ``ENPHASE_FIXTURES`` is not set (the shared checkout layout).
_DEFAULT_CAPTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "gateways"
#: The capture sets the side-by-side runs use unless told otherwise.
DEFAULT_SETS = ("7.6.175_with_cts", "8.3.5169_with_generator")


def captures_root() -> Path:
    """The captures folder: ``$ENPHASE_FIXTURES``, else ``../shared/fixtures/gateways``."""
    value = os.environ.get("ENPHASE_FIXTURES")
    return Path(value) if value else _DEFAULT_CAPTURES


def capture_set(name: str) -> Path:
    """The folder of one capture set; ``SystemExit`` with a clear message if it is missing."""
    folder = captures_root() / name
    if not (folder / "info").is_file():
        raise SystemExit(f"capture set {name!r} not found under {captures_root()}")
    return folder


#: What the scripts print when the bench extra is missing.
NO_PYENPHASE = "pyenphase is not installed (pip install -e '.[bench]'): its columns are left out"


def have_pyenphase() -> bool:
    """Whether pyenphase (the bench extra) can be imported."""
    return importlib.util.find_spec("pyenphase") is not None


def pyenphase(module: str, name: str) -> Any:
    """``pyenphase.<module>.<name>``, imported on use.

    Through importlib, so type checks pass where the bench extra is not installed.
    """
    return getattr(importlib.import_module(f"pyenphase{module and '.' + module}"), name)


def base_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every script has (``--json``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write results as JSON")
    return parser


# -- the replay server ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ReplayedGateway:
    """One replayed gateway as the server process describes it."""

    #: Capture set name.
    name: str
    #: Base URL, ``https://127.0.0.1:PORT``.
    url: str
    #: Serial number from the capture's ``/info``.
    serial: str
    #: Hex SHA-256 of its certificate (None over plain HTTP).
    fingerprint: str | None
    #: An owner token minted by the simulation for this serial.
    token: str | None

    @property
    def host_port(self) -> str:
        """``127.0.0.1:PORT``, the form pyenphase takes as its host."""
        return self.url.split("://", 1)[1]


class ReplayServer:
    """Gateways served by a child process, for as long as the ``with`` lasts.

    Replayed capture sets (``sets``), or ``gateways`` simulated gateways of ``profile``.
    """

    def __init__(
        self, sets: Sequence[Path] = (), *, gateways: int = 0, profile: str = "metered"
    ) -> None:
        self._arguments = [*map(str, sets)] or ["--gateways", str(gateways), "--profile", profile]
        self._process: subprocess.Popen[str] | None = None
        #: The gateways, in the order of ``sets``.
        self.gateways: list[ReplayedGateway] = []

    def __enter__(self) -> Self:
        command = [sys.executable, "-m", "benchmarks.harness", "serve", *self._arguments]
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        line = self._stdout.readline()
        if not line:
            self.__exit__(None, None, None)
            raise RuntimeError("the replay server exited before it was ready")
        described = json.loads(line)
        self.gateways = [ReplayedGateway(**g) for g in described]
        return self

    @property
    def pid(self) -> int:
        """The server process's id (while running)."""
        assert self._process is not None
        return self._process.pid

    @property
    def _stdout(self) -> IO[str]:
        assert self._process is not None
        assert self._process.stdout is not None
        return self._process.stdout

    def stats(self) -> list[dict[str, int]]:
        """Requests per path of each gateway since the previous call."""
        assert self._process is not None
        assert self._process.stdin is not None
        self._process.stdin.write("stats\n")
        self._process.stdin.flush()
        result: list[dict[str, int]] = json.loads(self._stdout.readline())
        return result

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


class ServerFarm:
    """``gateways`` simulated gateways of ``profile`` spread over ``servers`` processes."""

    def __init__(self, gateways: int, *, servers: int = 1, profile: str = "metered") -> None:
        counts = [gateways // servers + (i < gateways % servers) for i in range(servers)]
        self._servers = [ReplayServer(gateways=c, profile=profile) for c in counts if c]
        self._stack = contextlib.ExitStack()
        #: Every gateway of every server.
        self.gateways: list[ReplayedGateway] = []

    @property
    def pids(self) -> list[int]:
        """The server processes' ids (while running)."""
        return [server.pid for server in self._servers]

    def __enter__(self) -> Self:
        with contextlib.ExitStack() as stack:
            for server in self._servers:
                self.gateways += stack.enter_context(server).gateways
            self._stack = stack.pop_all()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()


def run_child(module: str, arguments: Sequence[str], gateways: Sequence[ReplayedGateway]) -> Any:
    """Run ``python -m benchmarks.<module> ARGS`` with the gateways as JSON on its stdin;
    return the JSON of its last output line (measurements that need a fresh process)."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", f"benchmarks.{module}", *arguments],
        input=json.dumps([attrs.asdict(g) for g in gateways]),
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return json.loads(done.stdout.splitlines()[-1])


def read_gateways() -> list[ReplayedGateway]:
    """The gateways :func:`run_child` wrote to this process's stdin."""
    return [ReplayedGateway(**g) for g in json.loads(sys.stdin.read())]


def pin_to_cpus(cpus: set[int], pid: int = 0) -> bool:
    """Run process ``pid`` (0: this one) on ``cpus`` only; False where that is not possible."""
    if not hasattr(os, "sched_setaffinity") or not cpus:
        return False
    os.sched_setaffinity(pid, cpus)
    return True


def cpu_seconds(pid: int) -> float | None:
    """CPU time process ``pid`` has used, user and system, seconds (None without /proc)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    # The fields after the command name, which is in parentheses and may hold spaces;
    # utime and stime are the 14th and 15th fields of the whole line.
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib() -> int:
    """This process's resident set size in KiB."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


async def _serve(folders: Sequence[Path], gateways: int, profile: str) -> None:
    from enphase_local.simulator import Simulation  # noqa: PLC0415 - only the child needs it

    simulation = (
        Simulation(replay=list(folders), cloud=False, control=False)
        if folders
        else Simulation(gateways, profile=profile, cloud=False, control=False)
    )
    names = [folder.name for folder in folders] or [profile] * gateways
    async with simulation as sim:
        described = [
            {
                "name": name,
                "url": g.url,
                "serial": g.serial,
                "fingerprint": g.fingerprint,
                "token": g.token,
            }
            for name, g in zip(names, sim.gateways, strict=True)
        ]
        print(json.dumps(described), flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            if line.strip() == "stats":
                print(json.dumps([dict(g.stats.by_path) for g in sim.gateways]), flush=True)
                for gateway in sim.gateways:
                    gateway.stats.reset()


# -- clients -------------------------------------------------------------------------------


def lenient_ssl_context() -> ssl.SSLContext:
    """A client TLS context that accepts the replayed gateway's self-signed certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def raw_client() -> aiohttp.ClientSession:
    """The raw baseline: an aiohttp session with one keep-alive connector and aiohttp's
    defaults otherwise."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=lenient_ssl_context()))


async def raw_get_json(client: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> object:
    """The raw baseline's fetch: a bare GET and ``orjson.loads`` of the body."""
    async with client.get(url, headers=headers) as response:
        return orjson.loads(await response.read())


async def served_endpoints(session: GatewaySession) -> list[Endpoint[Any]]:
    """Every endpoint but ``/info`` that this gateway serves (each is fetched once)."""
    await session.info()
    served: list[Endpoint[Any]] = []
    for endpoint in ENDPOINTS:
        if endpoint is INFO:
            continue
        try:
            await session.fetch(endpoint)
        except NotSupportedError:
            continue
        served.append(endpoint)
    return served


# -- measuring and reporting ----------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    """The median (NaN for no values)."""
    items = list(values)
    return statistics.median(items) if items else float("nan")


def alternated(clients: Sequence[str], round_index: int) -> list[str]:
    """The clients in A/B order for this round: forwards on even rounds, backwards on odd."""
    return list(clients) if round_index % 2 == 0 else list(reversed(clients))


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print a plain, aligned text table (floats with three significant decimals)."""
    text_rows = [[_cell(value) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in text_rows:
        cells = [
            c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(row, widths, strict=True)
        ]
        print("  ".join(cells).rstrip())


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def _numeric(text: str) -> bool:
    return text.replace(".", "", 1).replace("-", "", 1).replace("x", "").isdigit()


def write_json(path: Path | None, result: dict[str, Any]) -> None:
    """Write the result as JSON when ``--json`` was given."""
    if path is not None:
        path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is not positive."""
    return numerator / denominator if denominator > 0 else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.harness serve SET...``: the replay server's entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.harness")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve gateways until stdin closes")
    serve.add_argument("sets", nargs="*", type=Path, help="capture sets to replay")
    serve.add_argument("--gateways", type=int, default=0, help="else: simulated gateways")
    serve.add_argument("--profile", default="metered", help="their profile")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.sets, args.gateways, args.profile))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
