"""The bounded batching runner and SinkSet: batching, stalls, drops, retries, close."""

from __future__ import annotations

import asyncio
import logging

import pytest

from enphase_local.energy import GRID_IMPORT, EnergyTracker
from enphase_local.events import CounterEvent, EnergyEvent, SinkEvent
from enphase_local.models import MeasurementType
from enphase_local.sinks.base import (
    BatchRunner,
    EnergyStore,
    Sink,
    SinkSet,
    SinkStats,
    stop_task,
)
from tests.energy.builders import at, registers
from tests.sinks.builders import (
    CONSUMPTION_EID,
    T0,
    data_event,
    meter,
    production,
    wait_until,
)

FAST_RETRY = (0.001, 0.002)


class Recorder:
    """A batch handler that records batches and can be held (a stalled writer) or fail."""

    def __init__(self, *, failures: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()
        self.failures = failures

    async def __call__(self, batch: list[int]) -> None:
        self.entered.set()
        await self.release.wait()
        if self.failures:
            self.failures -= 1
            raise OSError("disk unplugged")
        self.batches.append(list(batch))

    @property
    def items(self) -> list[int]:
        return [item for batch in self.batches for item in batch]


async def test_batches_by_size_then_by_time() -> None:
    recorder = Recorder()
    runner = BatchRunner("test", recorder, batch_size=100, flush_interval_s=0.01)
    runner.start()
    for item in range(250):
        runner.put(item)
    await runner.close()
    assert [len(batch) for batch in recorder.batches] == [100, 100, 50]
    assert recorder.items == list(range(250))
    stats = runner.stats()
    assert (stats.submitted, stats.written, stats.dropped, stats.backlog) == (250, 250, 0, 0)


async def test_partial_batch_is_flushed_by_the_timer_without_close() -> None:
    recorder = Recorder()
    runner = BatchRunner("test", recorder, batch_size=100, flush_interval_s=0.01)
    runner.start()
    runner.put(1)
    runner.put(2)
    await wait_until(lambda: bool(recorder.batches))
    assert recorder.batches == [[1, 2]]
    await runner.close()


async def test_stalled_handler_bounds_the_backlog_and_drops_the_oldest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder()
    recorder.release.clear()
    runner = BatchRunner("stalled", recorder, max_backlog=100, batch_size=10, flush_interval_s=5)
    runner.start()
    for item in range(10):
        runner.put(item)
    await recorder.entered.wait()  # the first batch is in the handler, which does not return
    with caplog.at_level(logging.WARNING, logger="enphase_local.sinks.base"):
        for item in range(10, 1000):
            runner.put(item)  # returns at once although the handler is stuck
        stalled = runner.stats()
        assert stalled.backlog == 110
        assert stalled.dropped == 890
        assert stalled.max_backlog_seen == 110
        recorder.release.set()
        await runner.close()
    assert recorder.items == list(range(10)) + list(range(900, 1000))
    stats = runner.stats()
    assert (stats.submitted, stats.written, stats.dropped) == (1000, 110, 890)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("dropping the oldest" in m for m in messages) == 1
    assert any("caught up after dropping 890 items" in m for m in messages)


async def test_failed_batches_are_retried() -> None:
    recorder = Recorder(failures=2)
    runner = BatchRunner("flaky", recorder, batch_size=5, retry_delay_s=FAST_RETRY)
    runner.start()
    for item in range(5):
        runner.put(item)
    await runner.close()
    assert recorder.items == list(range(5))
    stats = runner.stats()
    assert (stats.written, stats.dropped, stats.failures) == (5, 0, 2)
    assert stats.last_error == "OSError: disk unplugged"


async def test_batch_dropped_after_max_attempts_and_runner_goes_on() -> None:
    recorder = Recorder(failures=3)
    runner = BatchRunner("broken", recorder, batch_size=2, max_attempts=3, retry_delay_s=FAST_RETRY)
    runner.start()
    for item in range(4):
        runner.put(item)
    await runner.close()
    assert recorder.items == [2, 3]
    stats = runner.stats()
    assert (stats.written, stats.dropped, stats.failures) == (2, 2, 3)


async def test_close_gives_up_after_its_timeout_and_counts_the_rest() -> None:
    recorder = Recorder()
    recorder.release.clear()
    runner = BatchRunner("hung", recorder, batch_size=3)
    runner.start()
    for item in range(5):
        runner.put(item)
    await recorder.entered.wait()
    await runner.close(timeout_s=0.01)
    runner.put(99)
    stats = runner.stats()
    assert (stats.submitted, stats.written, stats.dropped, stats.backlog) == (6, 0, 6, 0)


def test_rejects_nonsense_sizes() -> None:
    with pytest.raises(ValueError, match="positive"):
        BatchRunner("x", Recorder(), max_backlog=0)


class ListSink:
    """A minimal sink keeping what it gets."""

    def __init__(self, name: str, *, fail_start: bool = False) -> None:
        self._name = name
        self.fail_start = fail_start
        self.events: list[SinkEvent] = []
        self.started = False
        self.closed = False

    @property
    def name(self) -> str:
        return self._name

    async def start(self) -> None:
        if self.fail_start:
            raise OSError("cannot open")
        self.started = True

    def submit(self, event: SinkEvent) -> None:
        self.events.append(event)

    async def close(self) -> None:
        self.closed = True

    def stats(self) -> SinkStats:
        return SinkStats(name=self._name, submitted=len(self.events), written=len(self.events))


async def test_sink_set_fans_out_and_adds_up() -> None:
    first, second = ListSink("a"), ListSink("b")
    sinks = SinkSet([first, second])
    assert isinstance(sinks, Sink)
    assert isinstance(first, Sink)
    await sinks.start()
    event = data_event("production", production(1.0))
    sinks.submit(event)
    await sinks.close()
    assert first.events == second.events == [event]
    assert first.closed
    assert second.closed
    assert sinks.name == "a+b"
    assert [s.name for s in sinks.all_stats()] == ["a", "b"]
    assert sinks.stats().written == 2


async def test_sink_set_closes_started_sinks_when_one_fails_to_start() -> None:
    first, broken = ListSink("a"), ListSink("b", fail_start=True)
    with pytest.raises(OSError, match="cannot open"):
        await SinkSet([first, broken]).start()
    assert first.closed


class StoreSink(ListSink):
    """A sink that kept energy from an earlier run."""

    def __init__(self, kept: list[EnergyEvent]) -> None:
        super().__init__("store")
        self.kept = kept

    async def energy_state(self) -> list[EnergyEvent]:
        assert self.started
        return self.kept


async def test_sink_set_hands_on_what_the_energy_tracker_derives_right_after_each_event() -> None:
    kept = EnergyEvent(
        serial="122125067699",
        host="envoy.local",
        source="meters",
        at=T0,
        flows={GRID_IMPORT: 500.0},
        totals={GRID_IMPORT: 500.0},
        counters={"meters.net-consumption.delivered_wh": 500.0},
    )
    store, plain = StoreSink([kept]), ListSink("plain")
    sinks = SinkSet([store, plain], energy=EnergyTracker())
    await sinks.start()
    net = meter(CONSUMPTION_EID, MeasurementType.NET_CONSUMPTION)
    events = [
        data_event("meters", (net,), at=T0),
        data_event("meter_readings", (registers(CONSUMPTION_EID, 510.0, 0.0),), at=at(10)),
        data_event("meter_readings", (registers(CONSUMPTION_EID, 0.0, 0.0),), at=at(20)),
    ]
    for event in events:
        sinks.submit(event)
    await sinks.close()
    assert store.events == plain.events
    kinds = [type(e).__name__ for e in store.events]
    assert kinds == [
        "DataEvent",
        "DataEvent", "EnergyEvent",
        "DataEvent", "CounterEvent", "EnergyEvent",
    ]  # fmt: skip
    first_energy = store.events[2]
    assert isinstance(first_energy, EnergyEvent)
    assert first_energy.totals[GRID_IMPORT] == 510.0  # went on from what the store kept
    held = store.events[4]
    assert isinstance(held, CounterEvent)
    assert held.previous == 510.0
    assert isinstance(store, EnergyStore)
    assert not isinstance(plain, EnergyStore)


async def test_derived_events_are_not_derived_from_again() -> None:
    sink = ListSink("a")
    sinks = SinkSet([sink], energy=EnergyTracker())
    await sinks.start()
    energy = EnergyEvent(serial=None, host="h", source="meters", at=T0)
    sinks.submit(energy)
    assert sink.events == [energy]


async def test_stop_task_ends_a_task_that_swallowed_its_cancellation() -> None:
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed.set()  # as Python 3.11's wait_for may, when its operation completes
        await asyncio.sleep(3600)

    task = asyncio.get_running_loop().create_task(stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await stop_task(task, patience_s=0.01)
    assert swallowed.is_set()
    assert task.cancelled()
