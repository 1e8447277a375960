"""The soak's memory figures: the trend's arithmetic, the invariant, and what grew."""

from __future__ import annotations

import asyncio
import collections
import sqlite3
from typing import Any

import pytest

from benchmarks.soak import MUST_HOLD, broken_invariants
from benchmarks.soak_memory import (
    MAX_GROWTH_KIB_PER_MIN,
    MIN_TREND_WINDOW_S,
    MemoryWatch,
    c_heap_kib,
    grown,
    growth_problem,
    second_half,
    slope_per_min,
)


def test_slope_of_a_straight_line_is_exact() -> None:
    # 2 KiB more every 30 s is 4 KiB per minute, whatever the start.
    points = [(30.0 * k, 70_000.0 + 2.0 * k) for k in range(11)]
    assert slope_per_min(points) == pytest.approx(4.0)


def test_flat_noise_has_no_trend() -> None:
    points = [(10.0 * k, 80_000.0 + (64.0 if k % 2 else -64.0)) for k in range(60)]
    slope = slope_per_min(points)
    assert slope is not None
    assert abs(slope) < 1.0


def test_too_few_points_have_no_slope() -> None:
    assert slope_per_min([(0.0, 1.0), (60.0, 2.0)]) is None
    assert slope_per_min([(5.0, 1.0), (5.0, 2.0), (5.0, 3.0)]) is None


def test_second_half_leaves_the_early_growth_out() -> None:
    # Fast growth while caches fill (first half), flat after: no trend in the second half.
    samples = [(60.0 * k, 70_000.0 + 500.0 * min(k, 10)) for k in range(31)]
    late = second_half(samples)
    assert late[0][0] == 900.0
    assert slope_per_min(late) == pytest.approx(0.0)
    whole = slope_per_min(samples)
    assert whole is not None
    assert whole > 100.0


def memory(slope: float | None, window_s: float, *, traced: bool = False) -> dict[str, Any]:
    return {
        "memory_slope_kib_per_min": slope,
        "memory_trend_window_s": window_s,
        "memory_trend_judged": window_s >= MIN_TREND_WINDOW_S and not traced,
    }


def test_growth_past_the_tolerance_is_a_problem_only_when_judged() -> None:
    too_much = MAX_GROWTH_KIB_PER_MIN + 1
    assert growth_problem(memory(too_much, 900.0)) is not None
    assert growth_problem(memory(MAX_GROWTH_KIB_PER_MIN, 900.0)) is None
    assert growth_problem(memory(-300.0, 900.0)) is None
    assert growth_problem(memory(too_much, 20.0)) is None  # too short to tell
    assert growth_problem(memory(too_much, 900.0, traced=True)) is None


def test_a_growth_trend_breaks_the_soak_invariants() -> None:
    overall: dict[str, Any] = {**MUST_HOLD, **memory(10.0, 900.0)}
    assert broken_invariants({"overall": overall}) == []
    overall.update(memory(500.0, 900.0))
    (broken,) = broken_invariants({"overall": overall})
    assert broken.startswith("memory_slope_kib_per_min = 500.0")


def test_grown_lists_the_largest_growth_first() -> None:
    before = collections.Counter({"a.A": 10, "b.B": 5, "c.C": 7})
    after = collections.Counter({"a.A": 11, "b.B": 50, "c.C": 3, "d.D": 4})
    assert grown(before, after) == [("b.B", 5, 50), ("d.D", 0, 4), ("a.A", 10, 11)]
    assert grown(before, after, top=1) == [("b.B", 5, 50)]


class Hoard:
    """Objects this test keeps, so that the watch has something to name."""


async def test_watch_names_the_type_and_the_line_that_grew() -> None:
    watch = MemoryWatch(every_s=0.01, trace=True)
    watch.begin()
    sampler = asyncio.create_task(watch.run(planned_s=0.0))  # half way at once
    for _ in range(1000):  # the first sample after begin() comes with the half-way snapshot
        if len(watch.samples) >= 2:
            break
        await asyncio.sleep(0.01)
    sampler.cancel()
    kept = [Hoard() for _ in range(3000)]  # the allocation site the trace must name
    watch.end()
    report = watch.report()
    assert ("tests.soak.test_soak_memory.Hoard", 0, 3000) in report["types_grown_second_half"]
    assert any(
        "test_soak_memory.py" in site for site in report["allocation_sites_grown_second_half"]
    )
    assert report["memory_start_kib"] > 0
    assert len(report["memory_samples"]) >= 3
    assert report["memory_trend_judged"] is False
    del kept


def test_c_heap_probes_see_malloc_and_sqlite_grow() -> None:
    before, sqlite_before = c_heap_kib()
    if before is None or sqlite_before is None:
        pytest.skip("no glibc mallinfo2 or no shared libsqlite3 here")
    block = bytearray(8 * 1024 * 1024)  # malloc'd (mmap'd) outside Python's small-object heap
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (x BLOB)")
    conn.executemany("INSERT INTO t VALUES (?)", [(b"x" * 1000,)] * 1000)
    after, sqlite_after = c_heap_kib()
    assert after is not None
    assert sqlite_after is not None
    assert after - before >= 8 * 1024
    assert sqlite_after - sqlite_before >= 500
    conn.close()
    del block
