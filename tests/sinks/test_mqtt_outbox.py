"""The MQTT sink's outbox against a real mosquitto: outages, the size limit, live data first."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from benchmarks.outbox import OutageConfig, run_outage
from enphase_local.events import DataEvent
from enphase_local.sinks import SinkSet
from enphase_local.sinks import mqtt as mqtt_sink
from enphase_local.sinks.mqtt import MqttSettings, MqttSink
from enphase_local.sinks.outbox import OutboxLimit
from enphase_local.sinks.prometheus import PrometheusSink
from tests.sinks.broker import (
    Broker,
    Collector,
    needs_puback_reasons,
    payload_key,
    require_mosquitto,
)
from tests.sinks.builders import SERIAL, T0, data_event, production, wait_until

PREFIX = "enphase_local"


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    """A persistent mosquitto: its consumer's session outlives a restart."""
    server = Broker(require_mosquitto(), tmp_path, persistent=True)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def make_sink(port: int, outbox: Path, *, client_id: str = "poller", **options: object) -> MqttSink:
    return MqttSink(
        MqttSettings(host="127.0.0.1", port=port, client_id=client_id),
        outbox=outbox,
        reconnect_delay_s=(0.05, 0.2),
        flush_interval_s=0.01,
        **options,  # type: ignore[arg-type]  # the sink's keyword options
    )


def readings(count: int, *, start: int = 0) -> list[DataEvent]:
    """Production readings a second apart: one topic, distinct keys."""
    return [
        data_event("production", production(float(i)), at=T0 + dt.timedelta(seconds=i))
        for i in range(start, start + count)
    ]


def seconds_of(keys: list[str]) -> list[int]:
    """The reading of each key, as seconds after T0."""
    t0_us = int(T0.timestamp()) * 1_000_000
    return [(int(key.rsplit("/", 1)[1]) - t0_us) // 1_000_000 for key in keys]


async def outage(broker: Broker, sink: MqttSink) -> None:
    """Stop the broker once the sink is connected; return when the sink knows."""
    await wait_until(lambda: sink.connected)
    await broker.stop()
    await wait_until(lambda: not sink.connected)


async def test_twenty_gateways_through_a_broker_outage_lose_nothing(tmp_path: Path) -> None:
    require_mosquitto()
    config = OutageConfig(
        gateways=20,
        speed=10.0,  # the default plan, ten times as fast: 40 simulated s of outage
        before_s=2.0,
        outage_s=4.0,
        after_s=1.0,
        drain_rate=300.0,
        reconnect_delay_s=(0.05, 0.5),
    )
    result = await run_outage(config, tmp_path)
    assert result.waiting > 0  # the outage was felt
    assert result.polled > result.waiting
    assert result.lost == 0
    assert result.unknown == 0
    assert result.mismatched == 0  # duplicates carry the same payload; user property = key
    assert result.out_of_order == 0
    assert result.received == result.polled + result.duplicates
    assert result.stats.dropped == 0
    assert result.stats.kept == 0


async def test_past_the_limit_the_oldest_go_counted_logged_and_exported(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    limit = OutboxLimit(max_bytes=None, max_rows=30)
    sink = make_sink(broker.port, tmp_path / "outbox.sqlite", outbox_limit=limit)
    metrics = PrometheusSink(0, sink_stats=SinkSet([sink]).all_stats)
    async with Collector(broker.port, f"{PREFIX}/#") as consumer:
        await sink.start()
        await outage(broker, sink)
        with caplog.at_level(logging.WARNING):
            for event in readings(100):
                sink.submit(event)
            await wait_until(lambda: sink.stats().dropped == 70)
        assert "mqtt: the outbox is full (30 rows): dropping the oldest messages" in caplog.text
        families = {family.name: family for family in metrics.registry.collect()}
        samples = {
            name: [s.value for s in families[name].samples if s.labels == {"sink": "mqtt"}]
            for name in ("enphase_sink_dropped", "enphase_sink_backlog")
        }
        assert samples == {"enphase_sink_dropped": [70.0], "enphase_sink_backlog": [30.0]}
        await broker.start()
        await wait_until(lambda: len(consumer.messages) == 30)
        await sink.close()
    assert seconds_of(consumer.keys()) == list(range(70, 100))
    stats = sink.stats()
    assert (stats.submitted, stats.written, stats.dropped, stats.kept) == (100, 30, 70, 0)


async def test_live_messages_go_first_and_the_rest_waits_for_the_next_start(
    broker: Broker, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox.sqlite"
    # One caught-up message at once, the next after 1000 s: all else that arrives is live.
    sink = make_sink(broker.port, outbox, drain_rate=0.001)
    async with Collector(broker.port, f"{PREFIX}/#") as consumer:
        await sink.start()
        await outage(broker, sink)
        for event in readings(50):
            sink.submit(event)
        await wait_until(lambda: sink.outbox.rows == 50)
        await broker.start()
        await wait_until(lambda: len(consumer.messages) == 1)
        for event in readings(10, start=1000):
            sink.submit(event)
        await wait_until(lambda: len(consumer.messages) == 11)
        assert seconds_of(consumer.keys()) == [0, *range(1000, 1010)]
        await sink.close()
        assert sink.stats().kept == 49

        again = make_sink(broker.port, outbox, drain_rate=1000.0)
        await again.start()
        await wait_until(lambda: len(consumer.messages) == 60)
        await again.close()
    assert seconds_of(consumer.keys()[11:]) == list(range(1, 50))
    assert again.stats().written == 49
    assert again.outbox.rows == 0
    for _, payload, user_key in consumer.messages:
        assert user_key == payload_key(payload)
        assert str(user_key).startswith(f"{SERIAL}/production/")


async def test_the_backlog_drains_oldest_first_while_live_messages_flow(
    broker: Broker, tmp_path: Path
) -> None:
    sink = make_sink(broker.port, tmp_path / "outbox.sqlite", drain_rate=100.0)
    async with Collector(broker.port, f"{PREFIX}/#") as consumer:
        await sink.start()
        await outage(broker, sink)
        for event in readings(200):
            sink.submit(event)
        await broker.start()
        for event in readings(20, start=1000):
            sink.submit(event)
            await asyncio.sleep(0.01)
        await wait_until(lambda: len(consumer.messages) >= 220)
        await sink.close()
    arrived = seconds_of(consumer.keys())
    submitted = [*range(200), *range(1000, 1020)]
    assert sorted(set(arrived)) == submitted
    assert in_two_lanes(arrived, submitted)
    assert sink.stats().written == 220


def in_two_lanes(arrived: list[int], submitted: list[int]) -> bool:
    """Whether what arrived is two lanes, each in order: what was submitted up to some point
    (the catch-up), and what came after it (the live messages)."""
    for split in range(len(submitted) + 1):
        older = set(submitted[:split])
        lanes = [s for s in arrived if s in older], [s for s in arrived if s not in older]
        if all(lane == sorted(lane) for lane in lanes):
            return True
    return False


def test_two_lanes_are_told_from_disorder() -> None:
    assert in_two_lanes([0, 3, 1, 4, 2], [0, 1, 2, 3, 4])
    assert not in_two_lanes([0, 2, 1, 4, 3], [0, 1, 2, 3, 4])


def test_waiting_for_a_subscriber_needs_puback_reason_codes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mqtt_sink, "PUBACK_REASONS", False)
    with pytest.raises(ValueError, match=r"needs paho-mqtt 2\.0 or newer"):
        MqttSink(MqttSettings(host="127.0.0.1"), wait_for_subscriber=True)
    MqttSink(MqttSettings(host="127.0.0.1"))  # without the option, any paho will do


@needs_puback_reasons
async def test_a_sink_waiting_for_a_subscriber_keeps_what_no_one_took(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # mosquitto answers "no matching subscribers" (PUBACK 0x10) while no one subscribes.
    waiting = make_sink(broker.port, tmp_path / "waiting.sqlite", wait_for_subscriber=True)
    default = make_sink(broker.port, tmp_path / "default.sqlite", client_id="other")
    await waiting.start()
    await default.start()
    await wait_until(lambda: waiting.connected and default.connected)
    with caplog.at_level(logging.WARNING):
        for event in readings(5):
            waiting.submit(event)
        await wait_until(lambda: waiting.stats().failures > 0)
    assert "no subscriber for enphase_local/" in caplog.text
    for event in readings(5, start=100):
        default.submit(event)
    await wait_until(lambda: default.stats().written == 5)  # gone, to no one
    assert waiting.outbox.rows == 5
    assert waiting.stats().written == 0
    async with Collector(broker.port, f"{PREFIX}/#") as consumer:
        await wait_until(lambda: len(consumer.messages) >= 5, 30)
        assert sorted(set(seconds_of(consumer.keys()))) == list(range(5))
    await wait_until(lambda: waiting.outbox.rows == 0)
    for sink in (waiting, default):
        await sink.close()
    assert waiting.stats().written == 5
