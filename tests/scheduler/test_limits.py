"""The global cap on requests in flight: earliest deadline first, then first come first served."""

from __future__ import annotations

import asyncio
import math

import pytest

from enphase_local.scheduler.limits import ConcurrencyLimits


async def _take(
    limits: ConcurrencyLimits,
    name: str,
    order: list[str],
    *,
    deadline: float = math.inf,
    troubled: bool = False,
) -> None:
    await limits.acquire(troubled, deadline=deadline)
    order.append(name)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_earliest_deadline_gets_the_next_slot() -> None:
    limits = ConcurrencyLimits(1)
    await limits.acquire(False)
    order: list[str] = []
    waiters = {
        "no live poll to hold up": math.inf,
        "config before a poll at 30": 30.0,
        "poll due at 20": 20.0,
        "poll due at 10": 10.0,
        "another poll due at 10": 10.0,
    }
    tasks = [
        asyncio.create_task(_take(limits, name, order, deadline=deadline))
        for name, deadline in waiters.items()
    ]
    await _settle()
    assert order == []
    assert (limits.in_flight, limits.waiting) == (1, 5)
    for _ in tasks:
        limits.release(False)
        await _settle()
    await asyncio.gather(*tasks)
    assert order == [
        "poll due at 10",
        "another poll due at 10",
        "poll due at 20",
        "config before a poll at 30",
        "no live poll to hold up",
    ]
    assert (limits.in_flight, limits.waiting) == (1, 0)
    limits.release(False)
    assert limits.in_flight == 0


async def test_a_cancelled_waiter_leaves_no_slot_behind() -> None:
    limits = ConcurrencyLimits(1)
    await limits.acquire(False)
    order: list[str] = []
    gone = asyncio.create_task(_take(limits, "gone", order, deadline=0.0))
    kept = asyncio.create_task(_take(limits, "kept", order))
    await _settle()
    gone.cancel()
    await _settle()
    assert limits.waiting == 1
    limits.release(False)
    await kept
    assert order == ["kept"]
    assert gone.cancelled()


async def test_a_slot_handed_to_a_cancelled_waiter_is_passed_on() -> None:
    limits = ConcurrencyLimits(1)
    await limits.acquire(False)
    order: list[str] = []
    first = asyncio.create_task(_take(limits, "first", order))
    second = asyncio.create_task(_take(limits, "second", order))
    await _settle()
    limits.release(False)  # hands the slot to the first waiter, which is cancelled before
    first.cancel()  # it runs again
    await _settle()
    await second
    assert order == ["second"]
    assert (limits.in_flight, limits.waiting) == (1, 0)


async def test_gateways_in_trouble_hold_a_quarter_and_earlier_deadlines_still_go_first() -> None:
    limits = ConcurrencyLimits(4)
    order: list[str] = []
    troubled = [
        asyncio.create_task(_take(limits, f"troubled {n}", order, troubled=True)) for n in range(3)
    ]
    await _settle()
    assert order == ["troubled 0"]  # one of a cap of 4
    for _ in range(3):
        await limits.acquire(False)
    assert limits.in_flight == 4
    live = asyncio.create_task(_take(limits, "live", order, deadline=0.0))
    await _settle()
    limits.release(True)  # the troubled one: its share goes to the next troubled waiter,
    await _settle()  # which then waits for a slot behind the live poll
    assert order == ["troubled 0", "live"]
    limits.release(False)
    await asyncio.gather(live, *troubled[1:2])
    assert order == ["troubled 0", "live", "troubled 1"]
    troubled[2].cancel()
    await _settle()


def test_the_cap_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ConcurrencyLimits(0)
