"""Event buffers and subscriptions: bounded, never blocking, drops counted."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest

from enphase_local.errors import GatewayConnectionError
from enphase_local.events import DataEvent, ErrorEvent, Event, GatewayState, StateEvent
from enphase_local.scheduler.delivery import EventBuffer, Subscription, expendable

AT = datetime(2025, 6, 21, 12, tzinfo=UTC)


def reading(n: int) -> DataEvent:
    return DataEvent(
        serial="1",
        host="envoy.local",
        endpoint="meter_readings",
        model=n,
        fetched_at=AT,
        latency_s=0,
    )


def production(n: int) -> DataEvent:
    return DataEvent(
        serial="1", host="envoy.local", endpoint="production", model=n, fetched_at=AT, latency_s=0
    )


def error() -> ErrorEvent:
    return ErrorEvent(
        serial="1",
        host="envoy.local",
        endpoint="meters",
        error=GatewayConnectionError("refused"),
        at=AT,
        latency_s=0,
    )


def state() -> StateEvent:
    return StateEvent(
        serial="1",
        host="envoy.local",
        previous=GatewayState.STARTING,
        state=GatewayState.ONLINE,
        at=AT,
        reason="first poll succeeded",
    )


def drain(buffer: EventBuffer) -> list[Event]:
    out = []
    while (event := buffer.get_nowait()) is not None:
        out.append(event)
    return out


def test_what_is_expendable() -> None:
    assert expendable(reading(1))
    assert expendable(error())
    assert not expendable(production(1))
    assert not expendable(state())


def test_fifo_across_kinds() -> None:
    buffer = EventBuffer(10, name="test")
    events: list[Event] = [reading(1), production(1), state(), reading(2), error()]
    for event in events:
        buffer.put(event)
    assert len(buffer) == 5
    assert drain(buffer) == events


def test_full_buffer_drops_oldest_live_data_first() -> None:
    buffer = EventBuffer(3, name="test")
    for event in (production(1), reading(1), reading(2), production(2)):
        buffer.put(event)
    assert buffer.dropped == 1
    assert drain(buffer) == [production(1), reading(2), production(2)]


def test_with_nothing_expendable_the_oldest_goes() -> None:
    buffer = EventBuffer(2, name="test")
    for n in range(4):
        buffer.put(production(n))
    assert buffer.dropped == 2
    assert drain(buffer) == [production(2), production(3)]


def test_drops_are_logged_sparingly(caplog: pytest.LogCaptureFixture) -> None:
    buffer = EventBuffer(1, name="slow reader")
    for n in range(100):
        buffer.put(reading(n))
    assert buffer.dropped == 99
    warnings = [r for r in caplog.records if "slow reader cannot keep up" in r.getMessage()]
    assert len(warnings) == 7  # 1, 2, 4, ..., 64


async def test_get_waits_and_close_ends() -> None:
    buffer = EventBuffer(4, name="test")
    waiter = asyncio.create_task(buffer.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    buffer.put(reading(1))
    assert await waiter == reading(1)
    buffer.put(reading(2))
    buffer.close()
    buffer.put(reading(3))  # ignored once closed
    assert await buffer.get() == reading(2)
    assert await buffer.get() is None
    assert buffer.closed


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one"):
        EventBuffer(0, name="test")


async def test_sync_subscription_calls_at_once_and_isolates_errors() -> None:
    seen: list[Event] = []

    def callback(event: Event) -> None:
        seen.append(event)
        if event == reading(2):
            raise RuntimeError("boom")

    cancelled: list[Subscription] = []
    subscription = Subscription(callback, name="sync", buffer_size=1, on_cancel=cancelled.append)
    for n in range(3):
        subscription.publish(reading(n))
    assert seen == [reading(0), reading(1), reading(2)]
    assert subscription.errors == 1
    assert subscription.delivered == 2
    assert subscription.pending == 0
    subscription.cancel()
    subscription.publish(reading(3))
    assert len(seen) == 3
    assert cancelled == [subscription]
    assert await subscription.drain(0.1) == 0


async def test_async_subscription_has_its_own_task_and_buffer() -> None:
    release = asyncio.Event()
    seen: list[Event] = []

    async def callback(event: Event) -> None:
        await release.wait()
        seen.append(event)

    subscription = Subscription(callback, name="async", buffer_size=2, on_cancel=lambda _: None)
    subscription.start()
    subscription.publish(reading(0))
    await asyncio.sleep(0)  # the callback takes it, and waits
    for n in range(1, 5):
        subscription.publish(reading(n))  # never waits
    assert subscription.dropped == 2  # two wait in the buffer, the older two went
    assert subscription.pending == 2
    release.set()
    assert await subscription.drain(1.0) == 0
    assert seen == [reading(0), reading(3), reading(4)]
    assert subscription.delivered == 3
    assert not subscription.running


async def test_drain_gives_up_on_a_stuck_callback() -> None:
    async def stuck(event: Event) -> None:
        await asyncio.Event().wait()

    subscription = Subscription(stuck, name="stuck", buffer_size=10, on_cancel=lambda _: None)
    subscription.start()
    for n in range(4):
        subscription.publish(reading(n))
    await asyncio.sleep(0)
    assert await subscription.drain(0.01) == 3


async def test_a_plain_function_returning_a_coroutine_is_still_run() -> None:
    seen: list[Event] = []

    async def handle(event: Event) -> None:
        seen.append(event)

    def plain(event: Event) -> Coroutine[Any, Any, None]:
        return handle(event)

    subscription = Subscription(plain, name="plain", buffer_size=1, on_cancel=lambda _: None)
    subscription.publish(reading(1))
    await asyncio.sleep(0)
    assert seen == [reading(1)]
