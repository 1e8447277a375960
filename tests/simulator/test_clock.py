"""The simulated clock."""

from __future__ import annotations

import asyncio
import time

import pytest

from enphase_local.simulator.clock import SimClock


def test_frozen_clock_moves_only_by_hand() -> None:
    clock = SimClock(1_000_000.0, speed=0)
    assert clock.now() == 1_000_000.0
    clock.advance(90.5)
    assert clock.now() == 1_000_090.5
    clock.set_time(2_000_000.0)
    assert clock.now() == 2_000_000.0
    assert "speed=0" in repr(clock)


def test_clock_only_moves_forward() -> None:
    clock = SimClock(1_000_000.0, speed=0)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="forward"):
        clock.set_time(999_999.0)
    with pytest.raises(ValueError, match="negative"):
        clock.set_speed(-2)
    with pytest.raises(ValueError, match="negative"):
        SimClock(speed=-1)


async def test_speed_scales_real_time() -> None:
    clock = SimClock(0.0, speed=1000)
    await asyncio.sleep(0.02)
    assert clock.now() >= 20.0  # at least 20 ms of real time at 1000x
    clock.set_speed(0)
    frozen = clock.now()
    await asyncio.sleep(0.01)
    assert clock.now() == frozen
    assert clock.speed == 0


def test_default_start_is_now() -> None:
    before = time.time()
    assert SimClock().now() >= before
