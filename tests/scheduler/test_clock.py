"""The clocks: manual time for tests, scaled time for simulations."""

from __future__ import annotations

import asyncio
import time

import pytest

from enphase_local.scheduler import ManualClock, ScaledClock, SystemClock


async def test_manual_clock_wakes_sleepers_in_order() -> None:
    clock = ManualClock(start=5.0, epoch=1000.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("b", 20), ("a", 10), ("c", 30))]
    await clock.settle()
    assert clock.next_deadline == 15.0
    await clock.advance(25)
    assert woke == [("a", 15.0), ("b", 25.0)]
    assert clock.monotonic() == 30.0
    assert clock.time() == 1030.0
    await clock.advance(5)
    assert woke[-1] == ("c", 35.0)
    await asyncio.gather(*tasks)
    assert clock.next_deadline is None


async def test_manual_clock_sleep_zero_and_cancel() -> None:
    clock = ManualClock()
    await clock.sleep(0)
    task = asyncio.create_task(clock.sleep(10))
    await clock.settle()
    task.cancel()
    await clock.settle()
    assert clock.next_deadline is None
    with pytest.raises(ValueError, match="forward"):
        await clock.advance(-1)


async def test_a_sleeper_woken_can_sleep_again_within_one_advance() -> None:
    clock = ManualClock()
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            await clock.sleep(10)
            ticks.append(clock.monotonic())

    task = asyncio.create_task(ticker())
    await clock.advance(45)
    task.cancel()
    assert ticks == [10.0, 20.0, 30.0, 40.0]


async def test_scaled_clock_follows_its_source() -> None:
    source = [1000.0]
    clock = ScaledClock(lambda: source[0], speed=1000.0)
    assert clock.monotonic() == clock.time() == 1000.0
    started = time.monotonic()
    await clock.sleep(20)  # 20 ms of real time
    assert time.monotonic() - started < 1.0
    with pytest.raises(ValueError, match="positive speed"):
        ScaledClock(lambda: 0.0, speed=0)
    assert "speed=1000.0" in repr(clock)


async def test_system_clock() -> None:
    clock = SystemClock()
    assert abs(clock.time() - time.time()) < 1
    assert abs(clock.monotonic() - time.monotonic()) < 1
    await clock.sleep(-1)  # no wait, no error
