"""Idempotency keys: their documented text, and the same key in and from every message."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from enphase_local.energy import EnergyTracker
from enphase_local.errors import GatewayTimeoutError
from enphase_local.events import (
    ControlRevertedEvent,
    CounterDecision,
    CounterEvent,
    EnergyEvent,
    ErrorEvent,
    Event,
    GatewayState,
    SinkEvent,
    StateEvent,
    UnsupportedEvent,
)
from enphase_local.fleet.records import ReadingKey, event_key, reading_from_mqtt
from enphase_local.sinks.keys import epoch_us, idempotency_key, key_text
from enphase_local.sinks.mqtt import event_message
from tests.sinks.builders import HOST, SERIAL, T0, data_event, production

AT = T0 + dt.timedelta(microseconds=123_456)
US = 1750507200123456


def test_epoch_us_is_exact() -> None:
    assert epoch_us(AT) == US
    assert epoch_us(dt.datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=dt.UTC)) == 1
    assert epoch_us(AT.astimezone(dt.timezone(dt.timedelta(hours=-7)))) == US


@pytest.mark.parametrize(
    ("event", "key"),
    [
        (data_event("production", production(1.0), at=AT), f"{SERIAL}/production/{US}"),
        (
            ErrorEvent(
                serial=SERIAL,
                host=HOST,
                endpoint="inverters",
                error=GatewayTimeoutError("late"),
                at=AT,
                latency_s=1.0,
            ),
            f"{SERIAL}/error:inverters/{US}",
        ),
        (
            UnsupportedEvent(serial=SERIAL, host=HOST, endpoint="meters", at=AT, reason="404"),
            f"{SERIAL}/unsupported:meters/{US}",
        ),
        (
            StateEvent(
                serial=None,
                host="https://127.0.0.1:8443",
                previous=GatewayState.STARTING,
                state=GatewayState.UNREACHABLE,
                at=AT,
                reason="refused",
            ),
            f"https_127_0_0_1_8443/state/{US}",
        ),
        (
            CounterEvent(
                serial=SERIAL,
                host=HOST,
                counter="meters.net-consumption/delivered_wh",
                decision=CounterDecision.SPIKE,
                value=1.0,
                previous=0.0,
                at=AT,
                reason="too fast",
            ),
            f"{SERIAL}/counter:meters.net-consumption_delivered_wh/{US}",
        ),
        (
            EnergyEvent(serial=SERIAL, host=HOST, source="meters", at=AT),
            f"{SERIAL}/energy:meters/{US}",
        ),
        (
            ControlRevertedEvent(
                serial=SERIAL,
                host=HOST,
                control="set_storage_mode",
                endpoint="tariff",
                expected={"mode": "backup"},
                observed={"mode": "self-consumption"},
                written_at=T0,
                at=AT,
                reason="the cloud put it back",
            ),
            f"{SERIAL}/control_reverted:tariff/{US}",
        ),
    ],
)
def test_keys_have_the_documented_text(event: SinkEvent, key: str) -> None:
    assert idempotency_key(event) == key
    assert key_text(event_key(event)) == key


def test_every_message_carries_the_key_its_reading_has(simulated_events: list[Event]) -> None:
    tracker = EnergyTracker()
    events: list[SinkEvent] = []
    for polled in simulated_events:
        events.append(polled)
        events.extend(tracker.update(polled))
    kinds = set()
    keys = set()
    for event in events:
        entry = event_message(event)
        payload = orjson.loads(entry.payload)
        assert ReadingKey.from_data(payload["key"]) == event_key(event)
        assert entry.key == idempotency_key(event)
        # A consumer that reads messages without the key computes the same one.
        del payload["key"]
        reading = reading_from_mqtt("p", f"p/{entry.topic}", orjson.dumps(payload))
        assert reading is not None
        assert reading.key == event_key(event)
        kinds.add(entry.topic.split("/")[1])
        keys.add(entry.key)
    assert {"meter_readings", "energy", "state_change"} <= kinds
    assert len(keys) == len(events)  # one reading, one key
