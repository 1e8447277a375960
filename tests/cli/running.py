"""A running ``enphase-local`` process, read line by line while it runs, then signalled."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from enphase_local.simulator import Simulation

#: Real seconds any one wait in these tests may take before it counts as a hang.
WAIT_S = 20.0


class CliProcess:
    """``python -m enphase_local ARGS`` with both outputs collected as they arrive."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = asyncio.Condition()
        assert process.stdout is not None
        assert process.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(process.stdout, self.out)),
            asyncio.create_task(self._read(process.stderr, self.err)),
        ]

    @classmethod
    async def start(cls, *args: str, cwd: Path | None = None) -> CliProcess:
        """Start the command (standard input closed, outputs piped: no terminal)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "enphase_local",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
        )
        return cls(process)

    async def _read(self, stream: asyncio.StreamReader, lines: list[str]) -> None:
        async for raw in stream:
            async with self._changed:
                lines.append(raw.decode().rstrip("\n"))
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()  # the end: waiters stop waiting for more

    @property
    def stdout(self) -> str:
        """Standard output so far."""
        return "\n".join(self.out)

    @property
    def stderr(self) -> str:
        """Standard error so far."""
        return "\n".join(self.err)

    async def wait_for(
        self, pattern: str, *, stderr: bool = False, timeout_s: float = WAIT_S
    ) -> str:
        """Wait for a line matching the regular expression; return it."""
        lines = self.err if stderr else self.out
        regex = re.compile(pattern)

        def found() -> str | None:
            return next((line for line in lines if regex.search(line)), None)

        try:
            async with asyncio.timeout(timeout_s), self._changed:
                await self._changed.wait_for(lambda: found() is not None or self.exited)
        except TimeoutError:
            raise AssertionError(
                f"no line matching {pattern!r} within {timeout_s} s\n"
                f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
            ) from None
        line = found()
        assert line is not None, f"exited without {pattern!r}:\n{self.stdout}\n{self.stderr}"
        return line

    @property
    def exited(self) -> bool:
        """Whether the process has ended."""
        return self.process.returncode is not None or all(r.done() for r in self._readers)

    async def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        """Send ``sig`` and wait for the process to end; return its status."""
        self.process.send_signal(sig)
        return await self.wait()

    async def wait(self, timeout_s: float = WAIT_S) -> int:
        """Wait for the end (killing it after ``timeout_s``) and for both outputs."""
        try:
            async with asyncio.timeout(timeout_s):
                status = await self.process.wait()
                await asyncio.gather(*self._readers)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(
                f"still running after {timeout_s} s\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
            ) from None
        return status

    async def kill(self) -> None:
        """End the process if it still runs (test clean-up)."""
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        for reader in self._readers:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


@contextlib.asynccontextmanager
async def cli(*args: str, cwd: Path | None = None) -> AsyncIterator[CliProcess]:
    """A started process, killed at the end if the test left it running."""
    process = await CliProcess.start(*args, cwd=cwd)
    try:
        yield process
    finally:
        await process.kill()


def gateway_args(simulation: Simulation, index: int, folder: Path) -> list[str]:
    """``URL --token-file F --fingerprint HEX`` for one simulated gateway."""
    gateway = simulation.gateways[index]
    assert gateway.token is not None
    assert gateway.fingerprint is not None
    token_file = folder / f"token-{index}"
    token_file.write_text(gateway.token + "\n")
    return [gateway.url, "--token-file", str(token_file), "--fingerprint", gateway.fingerprint]


def count_rows(database: Path, table: str, *, gateway: str | None = None) -> int:
    """Rows in a table of a SQLite file the sink wrote (read-only)."""
    conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        query = f"SELECT COUNT(*) FROM {table}"  # noqa: S608 - table names from the tests
        if gateway is None:
            return int(conn.execute(query).fetchone()[0])
        return int(conn.execute(f"{query} WHERE gateway = ?", (gateway,)).fetchone()[0])
    finally:
        conn.close()


def outbox_contents(path: Path) -> tuple[list[str], int]:
    """The keys an outbox holds, and how many messages it was ever given."""
    conn = sqlite3.connect(path)
    try:
        keys = [row[0] for row in conn.execute("SELECT key FROM messages ORDER BY id")]
        (given,) = conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'messages'"
        ).fetchone()
        return keys, int(given)
    finally:
        conn.close()
