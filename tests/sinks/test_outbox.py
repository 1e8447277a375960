"""The SQLite outbox: private, ordered, bounded, locked, and kept through a SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from enphase_local.sinks.outbox import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    Entry,
    Outbox,
    OutboxError,
    OutboxLimit,
)
from enphase_local.sinks.sqlite import SqliteSink

ROOT = Path(__file__).resolve().parents[2]


def entry(number: int, size: int = 10) -> Entry:
    return Entry(f"gw/{number}", bytes([48 + number % 10]) * size, f"gw/e/{number}")


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Run with umask 0, so only the code's own chmod makes a file private."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.usefixtures("open_umask")
async def test_file_and_folder_are_private_and_messages_come_back_in_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state" / "outbox.sqlite"
    outbox = Outbox(path)
    await outbox.open()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = await outbox.write([entry(i) for i in range(5)])
    assert [m.id for m in written.added] == [1, 2, 3, 4, 5]
    wal = path.with_name(path.name + "-wal")
    assert stat.S_IMODE(wal.stat().st_mode) == 0o600
    assert not path.with_name(path.name + "-shm").exists()  # exclusive: no shared index
    assert (outbox.rows, outbox.bytes, outbox.last_id) == (5, 5 * entry(0).size, 5)

    await outbox.write([entry(5)], acked=[2, 4])
    messages = await outbox.read(0, 10, 100)
    assert [m.id for m in messages] == [1, 3, 5, 6]
    assert [m.entry for m in messages] == [entry(0), entry(2), entry(4), entry(5)]
    assert [m.id for m in await outbox.read(1, 5, 1)] == [3]
    await outbox.close()

    again = Outbox(path)
    await again.open()
    assert (again.rows, again.last_id) == (4, 6)
    await again.write([], acked=[1, 3, 5, 6])
    assert (again.rows, again.bytes) == (0, 0)
    added = await again.write([entry(7)])
    assert [m.id for m in added.added] == [7]  # ids are never reused
    await again.close()
    assert query(path, "PRAGMA journal_mode") == [("wal",)]
    assert query(path, "PRAGMA application_id") == [(APPLICATION_ID,)]
    assert query(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


async def test_past_the_row_limit_the_oldest_go_and_are_counted(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", limit=OutboxLimit(max_bytes=None, max_rows=10))
    await outbox.open()
    await outbox.write([entry(i) for i in range(8)])
    result = await outbox.write([entry(i) for i in range(8, 14)])
    assert (result.trimmed, result.trimmed_upto) == (4, 4)
    assert [m.id for m in result.added] == [9, 10, 11, 12, 13, 14]
    assert [m.id for m in await outbox.read(0, 100, 100)] == list(range(5, 15))
    assert (outbox.rows, outbox.dropped) == (10, 4)
    # More new messages than the limit holds: the newest ten stay.
    result = await outbox.write([entry(i) for i in range(25)])
    assert [m.id for m in result.added] == list(range(30, 40))
    assert (outbox.rows, outbox.dropped) == (10, 4 + 25)
    await outbox.close()


async def test_past_the_byte_limit_the_oldest_go(tmp_path: Path) -> None:
    size = entry(0, 100).size
    outbox = Outbox(tmp_path / "o.sqlite", limit=OutboxLimit(max_bytes=size * 3 + size // 2))
    await outbox.open()
    await outbox.write([entry(i, 100) for i in range(3)])
    assert outbox.dropped == 0
    result = await outbox.write([entry(3, 100), entry(4, 100)])
    assert result.trimmed == 2
    assert [m.id for m in await outbox.read(0, 100, 100)] == [3, 4, 5]
    assert outbox.bytes == 3 * size
    await outbox.close()


async def test_a_second_process_cannot_share_the_outbox(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    first = Outbox(path)
    await first.open()
    second = Outbox(path, busy_timeout_s=0.05)
    with pytest.raises(OutboxError, match="in use by another process"):
        await second.open()
    await first.close()
    await second.open()  # free again
    await second.close()


async def test_another_sqlite_file_is_not_an_outbox(tmp_path: Path) -> None:
    path = tmp_path / "data.sqlite"
    sink = SqliteSink(path)
    await sink.start()
    await sink.close()
    with pytest.raises(OutboxError, match="not an outbox"):
        await Outbox(path).open()
    conn = sqlite3.connect(tmp_path / "other.sqlite")
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(OutboxError, match="not an outbox"):
        await Outbox(tmp_path / "other.sqlite").open()
    conn = sqlite3.connect(tmp_path / "newer.sqlite")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(OutboxError, match="schema version 99"):
        await Outbox(tmp_path / "newer.sqlite").open()


async def test_a_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(OutboxError, match="cannot create the outbox"):
        await Outbox(tmp_path / "file" / "o.sqlite").open()


async def test_in_memory_outbox_works_the_same_and_is_not_durable() -> None:
    outbox = Outbox(None, limit=OutboxLimit(max_bytes=None, max_rows=3))
    await outbox.open()
    assert not outbox.durable
    await outbox.write([entry(i) for i in range(5)])
    assert [m.id for m in await outbox.read(0, 10, 10)] == [3, 4, 5]
    assert outbox.dropped == 2
    await outbox.close()


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("512MiB", OutboxLimit(max_bytes=512 * 1024**2)),
        ("200 MB", OutboxLimit(max_bytes=200_000_000)),
        ("1000", OutboxLimit(max_bytes=1000)),
        ("2 GiB", OutboxLimit(max_bytes=2 * 1024**3)),
        ("100000 rows", OutboxLimit(max_bytes=None, max_rows=100_000)),
        ("1row", OutboxLimit(max_bytes=None, max_rows=1)),
    ],
)
def test_limits_parse(text: str, limit: OutboxLimit) -> None:
    assert OutboxLimit.parse(text) == limit


@pytest.mark.parametrize("text", ["", "MB", "12 parsecs", "-5 MB", "0 rows", "1.5 GB"])
def test_bad_limits_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"size|positive"):
        OutboxLimit.parse(text)


def test_limits_describe_themselves() -> None:
    assert OutboxLimit().describe() == "512 MiB"
    assert OutboxLimit(max_bytes=None, max_rows=5).describe() == "5 rows"
    assert OutboxLimit(max_bytes=1000, max_rows=5).describe() == "1000 bytes or 5 rows"
    assert OutboxLimit(max_bytes=None).describe() == "no limit"
    with pytest.raises(ValueError, match="positive"):
        OutboxLimit(max_rows=0)


_KILLED = """
import asyncio, os, signal, sys
from enphase_local.sinks.outbox import Entry, Outbox

async def main():
    outbox = Outbox(sys.argv[1])
    await outbox.open()
    await outbox.write([Entry(f"gw/{i}", b"x", f"k{i}") for i in range(50)])
    await outbox.write([], acked=range(1, 21))
    print("READY", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_committed_messages_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _KILLED, str(path), cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    async with asyncio.timeout(30):
        assert await child.stdout.readline() == b"READY\n"
    child.send_signal(signal.SIGKILL)
    await child.wait()
    outbox = Outbox(path)
    await outbox.open()  # the lock died with the process
    messages = await outbox.read(0, 1000, 1000)
    assert [m.id for m in messages] == list(range(21, 51))
    assert [m.entry.key for m in messages] == [f"k{i}" for i in range(20, 50)]
    await outbox.close()
