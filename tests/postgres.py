"""A throwaway PostgreSQL cluster on a free loopback port, for the PostgreSQL sink and ingest
tests.

The cluster lives in a fresh folder under the system's temporary directory: ``initdb`` with
trust authentication for one superuser, ``postgres`` listening on 127.0.0.1 only, its unix
socket in the same folder, ``fsync`` off (a test database need not survive a power cut).
PostgreSQL refuses to run as root; as root (CI, a developer container) the cluster is made and
run as the unprivileged ``postgres`` account Debian's package creates (``nobody`` without it),
through ``subprocess``'s ``user=``: no ``su`` or ``sudo`` needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Set to 1 (as CI does, after ``scripts/postgres.sh``) to fail instead of skipping.
REQUIRE_ENV = "ENPHASE_REQUIRE_POSTGRES"
#: The superuser the cluster is made with (trust authentication on loopback).
USER = "enphase"
#: Seconds a start or stop may take.
WAIT_S = 30.0
#: Server settings: loopback only, and no waiting for the disk (nothing here must survive a
#: power cut; a fast shutdown still writes everything committed).
_SETTINGS = (
    *("-c", "listen_addresses=127.0.0.1"),
    *("-c", "fsync=off"),
    *("-c", "full_page_writes=off"),
    *("-c", "synchronous_commit=off"),
)


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def postgres_bin() -> Path | None:
    """The folder with ``initdb``, ``pg_ctl`` and ``postgres``: on PATH, or Debian's newest
    ``/usr/lib/postgresql/<version>/bin``."""
    found = shutil.which("pg_ctl")
    candidates = [Path(found).parent] if found else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in ("initdb", "postgres")):
            return folder
    return None


def require_postgres() -> Path:
    """The programs' folder; skip the test when PostgreSQL is absent, unless CI requires it."""
    folder = postgres_bin()
    if folder is None:
        reason = "PostgreSQL is not installed (run scripts/postgres.sh as root)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    return folder


def _run_as() -> pwd.struct_passwd | None:
    """The account to run the server as: None when not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and no unprivileged account to run PostgreSQL as")


class PostgresServer:
    """One cluster: :meth:`start`, :meth:`stop` (fast shutdown) and start again at will."""

    def __init__(self, folder: Path) -> None:
        self.bin = folder
        self.port = free_port()
        self.account = _run_as()
        # The account must reach the folder: /tmp, not a TMPDIR private to root.
        parent = "/tmp" if self.account is not None else None  # noqa: S108 - a fresh mkdtemp
        self.root = Path(tempfile.mkdtemp(prefix="enphase-pg-", dir=parent))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._process: subprocess.Popen[bytes] | None = None
        if self.account is not None:
            os.chown(self.root, self.account.pw_uid, self.account.pw_gid)
        initdb = [str(self.bin / "initdb"), "-D", str(self.data), "-U", USER]
        self._run([*initdb, "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"])

    @property
    def dsn(self) -> str:
        """The URL of the ``postgres`` database over TCP."""
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        """The URL of ``database`` over TCP on loopback."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    @property
    def _uid(self) -> int | None:
        return None if self.account is None else self.account.pw_uid

    @property
    def _gid(self) -> int | None:
        return None if self.account is None else self.account.pw_gid

    @property
    def _groups(self) -> list[int] | None:
        return None if self.account is None else []  # root's own groups are not inherited

    def _run(self, args: list[str]) -> None:
        result = subprocess.run(  # noqa: S603 - fixed programs, our own arguments
            args,
            capture_output=True,
            check=False,
            timeout=WAIT_S,
            user=self._uid,
            group=self._gid,
            extra_groups=self._groups,
        )
        if result.returncode:
            raise RuntimeError(f"{args[0]} failed: {result.stdout!r} {result.stderr!r}")

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - fixed program, our own arguments
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.root),
                    *_SETTINGS,
                ],
                stdout=log,
                stderr=log,
                user=self._uid,
                group=self._gid,
                extra_groups=self._groups,
            )
        if self.log.exists() and self.account is not None:
            os.chown(self.log, self.account.pw_uid, self.account.pw_gid)
        deadline = time.monotonic() + WAIT_S
        while not self._accepts():
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not start: {self.log.read_text()}")
            time.sleep(0.05)

    def _accepts(self) -> bool:
        ready = self.root / f".s.PGSQL.{self.port}"
        if not ready.exists():
            return False
        return (self.data / "postmaster.pid").read_text().rstrip().endswith("ready")

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, committed data stays."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    async def astop(self) -> None:
        """:meth:`stop` off the event loop."""
        await asyncio.to_thread(self.stop)

    async def astart(self) -> None:
        """:meth:`start` off the event loop."""
        await asyncio.to_thread(self.start)

    def remove(self) -> None:
        """Stop and delete the cluster."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A started cluster, removed afterwards (skipped when PostgreSQL is not installed)."""
    server = PostgresServer(require_postgres())
    try:
        server.start()
        yield server
    finally:
        server.remove()
