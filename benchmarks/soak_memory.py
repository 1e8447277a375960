"""The soak's memory watch: resident memory over time, its trend, and what grows.

Samples, every ``every_s`` real seconds from the end of the warm-up: resident memory (RSS,
KiB), ``sys.getallocatedblocks()`` (live blocks of Python's allocator: finer than RSS,
which moves in whole pages and allocator arenas), and where the C library allows it, the
bytes C ``malloc`` has handed out and not taken back (glibc ``mallinfo2``: SQLite, OpenSSL
and Python's large objects) and SQLite's own share (``sqlite3_memory_used``), so that a
trend can be told apart: Python objects, C allocations, or a fragmented heap.

The *growth trend* is the least-squares slope of RSS over the second half of the samples,
in KiB per minute: the first half is left to the caches that fill and then stay (SQLite's
page cache, TLS session and connection pools, per-gateway state, interned strings), whose
growth would otherwise read as a trend.

Three counts of live objects per type (after a full collection: at the end of the warm-up,
half way and at the end) name what grew over the second half. ``trace=True`` also runs
``tracemalloc`` from the end of the warm-up and compares allocation sites half way and at the
end (its own bookkeeping then inflates RSS, so the trend is not judged in that mode).
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import gc
import sys
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

#: How much RSS may still grow over the second half, KiB per minute, and why: the 50-gateway
#: run makes about 2600 polls and 55 faults a minute, so this catches a leak of some 25 bytes
#: per poll or 1 KiB per fault. Tighter is not meaningful in a 15-minute window: one more
#: 1 MiB allocator arena taken half way through, and kept, already reads as about 100.
MAX_GROWTH_KIB_PER_MIN = 64.0
#: The second half must last at least this long (real seconds) for the trend to be judged.
MIN_TREND_WINDOW_S = 300.0
#: Types listed as grown, at most.
TOP = 12


def rss_kib() -> int:
    """This process's resident set size in KiB."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


class _MallInfo2(ctypes.Structure):
    # The layout of glibc's struct mallinfo2.
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _c_probes() -> tuple[Any, Any]:
    """glibc's ``mallinfo2`` and SQLite's ``sqlite3_memory_used`` (None where missing)."""
    mallinfo = sqlite_used = None
    try:
        libc = ctypes.CDLL(None)
        mallinfo = libc.mallinfo2
        mallinfo.restype = _MallInfo2
    except (OSError, AttributeError):
        mallinfo = None
    try:
        sqlite_used = ctypes.CDLL("libsqlite3.so.0").sqlite3_memory_used
        sqlite_used.restype = ctypes.c_int64
    except (OSError, AttributeError):
        sqlite_used = None
    return mallinfo, sqlite_used


_MALLINFO, _SQLITE_USED = _c_probes()


def c_heap_kib() -> tuple[int | None, int | None]:
    """KiB that ``malloc`` has handed out and not taken back, and SQLite's share of it."""
    in_use = None
    if _MALLINFO is not None:
        info = _MALLINFO()
        in_use = (info.uordblks + info.hblkhd) // 1024
    sqlite = None if _SQLITE_USED is None else int(_SQLITE_USED()) // 1024
    return in_use, sqlite


def slope_per_min(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of ``(seconds, value)`` points, per minute (None for < 3 points)."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    covariance = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return covariance / spread * 60.0


def second_half(samples: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The samples taken in the second half of the sampled time."""
    if not samples:
        return []
    half = samples[0][0] + (samples[-1][0] - samples[0][0]) / 2
    return [s for s in samples if s[0] >= half]


def type_counts() -> collections.Counter[str]:
    """Live objects the collector tracks, per type (after a full collection)."""
    gc.collect()
    return collections.Counter(
        f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects()
    )


def grown(
    before: collections.Counter[str], after: collections.Counter[str], top: int = TOP
) -> list[tuple[str, int, int]]:
    """The types whose count grew most: ``(type, before, after)``."""
    growth = [(name, before[name], count) for name, count in after.items() if count > before[name]]
    growth.sort(key=lambda row: row[2] - row[1], reverse=True)
    return growth[:top]


@attrs.define
class MemoryWatch:
    """Samples memory from the end of the warm-up to the end of the run."""

    #: Real seconds between samples.
    every_s: float
    #: Whether to trace allocation sites too (slow, and it inflates RSS).
    trace: bool = False
    #: ``(seconds since the warm-up, RSS KiB, allocated blocks)``.
    samples: list[tuple[float, int, int]] = attrs.field(factory=list)
    #: ``(seconds since the warm-up, malloc in use KiB, SQLite KiB)``, where measurable.
    c_samples: list[tuple[float, int | None, int | None]] = attrs.field(factory=list)
    _types: dict[str, collections.Counter[str]] = attrs.field(factory=dict)
    _traces: dict[str, tracemalloc.Snapshot] = attrs.field(factory=dict)
    _started: float = 0.0

    def begin(self) -> None:
        """Mark the end of the warm-up: first snapshot, first sample."""
        self._types["warm"] = type_counts()
        if self.trace:
            tracemalloc.start()
        self._started = time.monotonic()
        self._sample()

    def _sample(self) -> None:
        at = round(time.monotonic() - self._started, 1)
        self.samples.append((at, rss_kib(), sys.getallocatedblocks()))
        self.c_samples.append((at, *c_heap_kib()))

    async def run(self, planned_s: float) -> None:
        """Sample until cancelled; the half-way snapshot after ``planned_s / 2`` seconds."""
        halfway = self._started + planned_s / 2
        while True:
            await asyncio.sleep(self.every_s)
            self._sample()
            if "mid" not in self._types and time.monotonic() >= halfway:
                self._snapshot("mid")

    def _snapshot(self, name: str) -> None:
        if self.trace:
            self._traces[name] = tracemalloc.take_snapshot()
        self._types[name] = type_counts()

    def end(self) -> None:
        """The last sample and snapshot."""
        self._sample()
        self._snapshot("end")
        if self.trace:
            tracemalloc.stop()

    def report(self) -> dict[str, Any]:
        """Start, end, trends, and what grew."""
        rss = [(t, float(kib)) for t, kib, _ in self.samples]
        blocks = [(t, float(b)) for t, _, b in self.samples]
        late = second_half(rss)
        window = late[-1][0] - late[0][0] if late else 0.0
        slope = slope_per_min(late)
        blocks_slope = slope_per_min(second_half(blocks))
        mid = self._types.get("mid", self._types.get("warm", collections.Counter()))
        heap = [(t, float(k)) for t, k, _ in self.c_samples if k is not None]
        sqlite = [(t, float(k)) for t, _, k in self.c_samples if k is not None]
        report: dict[str, Any] = {
            "memory_start_kib": self.samples[0][1] if self.samples else None,
            "memory_end_kib": self.samples[-1][1] if self.samples else None,
            "memory_slope_kib_per_min": None if slope is None else round(slope, 1),
            "memory_trend_window_s": round(window, 1),
            "memory_trend_judged": window >= MIN_TREND_WINDOW_S and not self.trace,
            "allocated_blocks_start": self.samples[0][2] if self.samples else None,
            "allocated_blocks_end": self.samples[-1][2] if self.samples else None,
            "allocated_blocks_slope_per_min": None
            if blocks_slope is None
            else round(blocks_slope, 1),
            "malloc_in_use_kib_start": round(heap[0][1]) if heap else None,
            "malloc_in_use_kib_end": round(heap[-1][1]) if heap else None,
            "malloc_in_use_slope_kib_per_min": _rounded(slope_per_min(second_half(heap))),
            "sqlite_kib_start": round(sqlite[0][1]) if sqlite else None,
            "sqlite_kib_end": round(sqlite[-1][1]) if sqlite else None,
            "sqlite_slope_kib_per_min": _rounded(slope_per_min(second_half(sqlite))),
            "memory_samples": self.samples,
            "types_grown_second_half": grown(mid, self._types.get("end", mid)),
            "types_grown_whole_run": grown(
                self._types.get("warm", collections.Counter()), self._types.get("end", mid)
            ),
        }
        if "mid" in self._traces and "end" in self._traces:
            stats = self._traces["end"].compare_to(self._traces["mid"], "lineno")
            report["allocation_sites_grown_second_half"] = [
                f"{stat.size_diff / 1024:+.1f} KiB {stat.count_diff:+d} blocks "
                f"{stat.traceback[0].filename}:{stat.traceback[0].lineno}"
                for stat in stats[:TOP]
                if stat.size_diff > 0
            ]
        return report


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def growth_problem(memory: dict[str, Any], limit: float = MAX_GROWTH_KIB_PER_MIN) -> str | None:
    """Why the memory figures show a growth trend, or None when they do not (or cannot)."""
    slope = memory["memory_slope_kib_per_min"]
    if not memory["memory_trend_judged"] or slope is None or slope <= limit:
        return None
    return f"memory_slope_kib_per_min = {slope} (want <= {limit:g} over the second half)"
