"""A durable outbox: messages committed to a SQLite file before they are sent, and deleted
only once the receiver has acknowledged them (store and forward).

The MQTT sink keeps every event message here first (see
:class:`~enphase_local.sinks.forward.Forwarder`), so that nothing is lost while the broker
is away, nor when the poller is killed: whatever is left is sent again at the next start.

Like the SQLite sink's, the file is created with mode 0600 whatever the umask (its folder
0700 when it has to be made), runs in WAL mode with ``synchronous=NORMAL`` (a committed
message survives the process being killed, even with SIGKILL; a power cut may lose the last
few commits) and is worked on in one thread of its own, never on the event loop. While
open, the file is locked: a second process cannot use the same outbox.

Size: at most :attr:`OutboxLimit.max_bytes` (the bytes of topics, payloads and keys) and/or
:attr:`OutboxLimit.max_rows` messages. Past either, the oldest messages are deleted in the
transaction that adds the new ones, and counted (:attr:`Outbox.dropped`). The file itself
keeps its largest size: SQLite reuses the freed pages. The default limit,
:data:`DEFAULT_MAX_BYTES`, holds a week of one gateway at the default poll plan: the plan
sends a battery site's gateway about 449 GETs an hour, which make about 850 messages an hour
(every answer that changed, plus the guarded energy derived from each meter reading); at
the sizes the MQTT sink gives them (about 5.3 kB for meter readings, the largest frequent
message, 35 kB for the device data of the site's inverters every 5 minutes, 0.6 kB for an
energy event) that is 2.7 MB an hour, 460 MB a week. The limit is 512 MiB (537 MB); a site
without batteries sends less (a week of a ``metered`` site is 330 MB, of a ``standard`` one
without meters 50 MB). ``tests/sinks/test_outbox_sizes.py`` recomputes the week from the
plan and the messages of a simulated battery site.

Schema (version 1, in ``PRAGMA user_version``; ``PRAGMA application_id`` is
:data:`APPLICATION_ID`, so that another SQLite file is never mistaken for an outbox)::

    messages(id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT, payload BLOB, key TEXT,
             size INTEGER)

``id`` grows with every message and is never reused: the order messages are sent in.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, TypeVar

import attrs

from enphase_local.errors import EnphaseError
from enphase_local.private_files import DIR_MODE
from enphase_local.sinks.sqlite import create_private_file, user_version

_LOGGER = logging.getLogger(__name__)

R = TypeVar("R")

#: The schema version this code writes.
SCHEMA_VERSION: Final = 1
#: ``PRAGMA application_id`` of an outbox file ("EnOb").
APPLICATION_ID: Final = 0x456E4F62
#: The default size limit, bytes: a week of one battery site's gateway at the default plan.
DEFAULT_MAX_BYTES: Final = 512 * 1024 * 1024

_SCHEMA: Final = (
    """CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        key TEXT NOT NULL,
        size INTEGER NOT NULL
    )""",
)
_INSERT: Final = "INSERT INTO messages (topic, payload, key, size) VALUES (?, ?, ?, ?)"
_UNITS: Final = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_LIMIT: Final = re.compile(r"\s*(\d+)\s*([a-z]*)\s*", re.IGNORECASE)


def default_outbox_path() -> Path:
    """``$XDG_STATE_HOME/enphase-local/mqtt-outbox.sqlite``, with ``~/.local/state`` as the
    XDG default."""
    base = os.environ.get("XDG_STATE_HOME")
    root = Path(base) if base else Path.home() / ".local" / "state"
    return root / "enphase-local" / "mqtt-outbox.sqlite"


class OutboxError(EnphaseError):
    """The outbox file cannot be used: locked by another process, or not an outbox."""


@attrs.frozen(kw_only=True)
class OutboxLimit:
    """How much the outbox may hold; None means no limit of that kind."""

    #: Bytes of topics, payloads and keys.
    max_bytes: int | None = DEFAULT_MAX_BYTES
    #: Messages.
    max_rows: int | None = None

    def __attrs_post_init__(self) -> None:
        for name, value in (("max_bytes", self.max_bytes), ("max_rows", self.max_rows)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be positive, not {value}")

    @classmethod
    def parse(cls, text: str) -> OutboxLimit:
        """``"512MiB"``, ``"200 MB"``, ``"1000000"`` (bytes) or ``"100000 rows"``."""
        match = _LIMIT.fullmatch(text)
        unit = match.group(2).lower() if match else ""
        if match is None or (unit not in _UNITS and unit not in ("row", "rows")):
            raise ValueError(
                f"not a size: {text!r} (bytes, with kB, MB, GB, KiB, MiB or GiB, or N rows)"
            )
        count = int(match.group(1))
        if count < 1:
            raise ValueError(f"the outbox limit must be positive, not {text!r}")
        if unit in ("row", "rows"):
            return cls(max_bytes=None, max_rows=count)
        return cls(max_bytes=count * _UNITS[unit])

    def describe(self) -> str:
        """``512 MiB``, ``100000 rows``, ``2 MB or 10 rows``, or ``no limit``."""
        parts = []
        if self.max_bytes is not None:
            mib = self.max_bytes / 1024**2
            parts.append(f"{mib:g} MiB" if mib == int(mib) else f"{self.max_bytes} bytes")
        if self.max_rows is not None:
            parts.append(f"{self.max_rows} rows")
        return " or ".join(parts) or "no limit"


@attrs.frozen
class Entry:
    """A message to keep: where it goes, what it says, and its idempotency key."""

    #: The topic (the sink's own part of it: the MQTT sink adds its prefix when sending).
    topic: str
    #: The payload.
    payload: bytes
    #: The idempotency key (:func:`~enphase_local.sinks.keys.idempotency_key`).
    key: str

    @property
    def size(self) -> int:
        """Bytes counted against :attr:`OutboxLimit.max_bytes`."""
        return len(self.topic.encode()) + len(self.payload) + len(self.key.encode())


@attrs.frozen
class Message:
    """A message the outbox holds: an :class:`Entry` with its place in the order."""

    #: Position in the order of sending; ids only grow.
    id: int
    #: The topic, payload and key.
    entry: Entry


@attrs.frozen
class WriteResult:
    """What one :meth:`Outbox.write` did."""

    #: The new messages kept, in order (without any the limit took at once).
    added: list[Message]
    #: Messages the limit deleted, the oldest first.
    trimmed: int
    #: Every message with an id up to this one is gone (0 when nothing was trimmed).
    trimmed_upto: int


class Outbox:
    """A SQLite outbox; ``path=None`` keeps it in memory (the same code, lost at exit).

    :meth:`open` it, :meth:`write` new messages (and delete acknowledged ones) in one
    transaction, :meth:`read` them back in order, :meth:`close` it. Every method that
    touches the file runs in the outbox's own thread; the counters are for the event loop.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        limit: OutboxLimit | None = None,
        busy_timeout_s: float = 1.0,
    ) -> None:
        #: The file; None for an outbox in memory.
        self.path = None if path is None else Path(path)
        #: The size limit.
        self.limit = limit if limit is not None else OutboxLimit()
        self._busy_timeout_s = busy_timeout_s
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        #: Messages held.
        self.rows = 0
        #: Bytes held (as :attr:`Entry.size` counts them).
        self.bytes = 0
        #: Messages the size limit deleted since :meth:`open`.
        self.dropped = 0
        #: The highest id ever given (0 for a new outbox).
        self.last_id = 0

    def __repr__(self) -> str:
        where = "memory" if self.path is None else str(self.path)
        return f"Outbox({where}, {self.rows} messages, {self.bytes} bytes)"

    @property
    def durable(self) -> bool:
        """Whether what it holds outlives the process (a file, not memory)."""
        return self.path is not None

    async def open(self) -> None:
        """Create or open the file (locked while open) and count what it holds."""
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="enphase-local-outbox")
        try:
            await self._in_thread(self._open)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def close(self) -> None:
        """Close the file (what it holds stays for the next :meth:`open`)."""
        if self._executor is None:
            return
        await self._in_thread(self._close)
        self._executor.shutdown(wait=False)
        self._executor = None

    async def write(self, entries: Sequence[Entry], acked: Collection[int] = ()) -> WriteResult:
        """Delete the ``acked`` messages, add ``entries`` and trim to the limit, in one
        transaction: once this returns, the new messages survive the process."""
        result = await self._in_thread(lambda: self._write(entries, acked))
        if result.trimmed:
            self.dropped += result.trimmed
        return result

    async def read(self, after: int, upto: int, limit: int) -> list[Message]:
        """Up to ``limit`` messages with ``after < id <= upto``, in order."""
        return await self._in_thread(lambda: self._read(after, upto, limit))

    async def _in_thread(self, func: Callable[[], R]) -> R:
        assert self._executor is not None, "open the outbox first"
        return await asyncio.get_running_loop().run_in_executor(self._executor, func)

    # --- in the outbox's thread -----------------------------------------------------------

    def _open(self) -> None:
        conn = self._connect()
        try:
            self._check(conn)
            row = conn.execute("SELECT count(*), coalesce(sum(size), 0) FROM messages").fetchone()
            self.rows, self.bytes = int(row[0]), int(row[1])
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").fetchone()
            self.last_id = int(row[0]) if row is not None else 0
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _connect(self) -> sqlite3.Connection:
        if self.path is None:
            return sqlite3.connect(":memory:", isolation_level=None)
        try:
            self.path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            create_private_file(self.path)
        except OSError as err:
            raise OutboxError(f"cannot create the outbox {self.path}: {err.strerror}") from err
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
        try:
            # Exclusive before WAL: the lock is held from the first write until close, and
            # SQLite keeps the WAL index in memory (no -shm file another process could use).
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("COMMIT")
        except sqlite3.OperationalError as err:
            conn.close()
            if "locked" in str(err):
                raise OutboxError(
                    f"the outbox {self.path} is in use by another process: give each poller "
                    "its own outbox"
                ) from err
            raise OutboxError(f"cannot open the outbox {self.path}: {err}") from err
        except BaseException:
            conn.close()
            raise
        return conn

    def _check(self, conn: sqlite3.Connection) -> None:
        """Create the schema in a new file; refuse a file that is not an outbox of ours."""
        version = user_version(conn)
        application = int(conn.execute("PRAGMA application_id").fetchone()[0])
        if version == 0 and application == 0:
            has_tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if has_tables:
                raise OutboxError(f"{self._name()} is a SQLite file, but not an outbox")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return
        if application != APPLICATION_ID:
            raise OutboxError(f"{self._name()} is not an outbox (another SQLite file)")
        if version != SCHEMA_VERSION:
            raise OutboxError(
                f"{self._name()} has outbox schema version {version}; this version of "
                f"enphase-local reads version {SCHEMA_VERSION}"
            )

    def _name(self) -> str:
        return "the outbox in memory" if self.path is None else str(self.path)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _write(self, entries: Sequence[Entry], acked: Collection[int]) -> WriteResult:
        conn = self._conn
        assert conn is not None
        rows, size = self.rows, self.bytes
        added: list[Message] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            if acked:
                ids = sorted(acked)
                gone = self._delete(conn, ids)
                rows -= gone[0]
                size -= gone[1]
            for entry in entries:
                cursor = conn.execute(_INSERT, (entry.topic, entry.payload, entry.key, entry.size))
                assert cursor.lastrowid is not None
                added.append(Message(cursor.lastrowid, entry))
                rows += 1
                size += entry.size
            trimmed, trimmed_upto, freed = self._trim(conn, rows, size)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self.rows, self.bytes = rows - trimmed, size - freed
        if added:
            self.last_id = added[-1].id
        kept = [message for message in added if message.id > trimmed_upto]
        return WriteResult(added=kept, trimmed=trimmed, trimmed_upto=trimmed_upto)

    @staticmethod
    def _delete(conn: sqlite3.Connection, ids: list[int]) -> tuple[int, int]:
        """Delete these ids; return how many rows and bytes went."""
        rows = size = 0
        for start in range(0, len(ids), 500):  # well under SQLite's limit of bound values
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            row = conn.execute(
                f"SELECT count(*), coalesce(sum(size), 0) FROM messages WHERE id IN ({marks})",  # noqa: S608 - placeholders only
                chunk,
            ).fetchone()
            conn.execute(f"DELETE FROM messages WHERE id IN ({marks})", chunk)  # noqa: S608 - placeholders only
            rows += int(row[0])
            size += int(row[1])
        return rows, size

    def _trim(self, conn: sqlite3.Connection, rows: int, size: int) -> tuple[int, int, int]:
        """Delete the oldest messages beyond the limit: (rows, last id, bytes) deleted."""
        excess_rows = rows - self.limit.max_rows if self.limit.max_rows is not None else 0
        excess_bytes = size - self.limit.max_bytes if self.limit.max_bytes is not None else 0
        if excess_rows <= 0 and excess_bytes <= 0:
            return 0, 0, 0
        count = freed = upto = 0
        for message_id, message_size in conn.execute("SELECT id, size FROM messages ORDER BY id"):
            if count >= excess_rows and freed >= excess_bytes:
                break
            count += 1
            freed += message_size
            upto = message_id
        conn.execute("DELETE FROM messages WHERE id <= ?", (upto,))
        return count, upto, freed

    def _read(self, after: int, upto: int, limit: int) -> list[Message]:
        conn = self._conn
        assert conn is not None
        rows = conn.execute(
            "SELECT id, topic, payload, key FROM messages WHERE id > ? AND id <= ?"
            " ORDER BY id LIMIT ?",
            (after, upto, limit),
        )
        return [Message(row[0], Entry(row[1], bytes(row[2]), row[3])) for row in rows]
