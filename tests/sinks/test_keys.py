"""Idempotency keys: their documented form, and the same key recomputed from a message."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from enphase_local.energy import EnergyTracker
from enphase_local.errors import GatewayTimeoutError
from enphase_local.events import (
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
from enphase_local.sinks.keys import epoch_ms, idempotency_key
from enphase_local.sinks.mqtt import event_message
from tests.sinks.builders import HOST, SERIAL, T0, data_event, production

AT = T0 + dt.timedelta(microseconds=123_999)  # 12:00:00.123999 rounds down to .123
MS = 1750507200123


def test_epoch_ms_rounds_down_exactly() -> None:
    assert epoch_ms(AT) == MS
    assert epoch_ms(dt.datetime(1970, 1, 1, 0, 0, 0, 999, tzinfo=dt.UTC)) == 0
    other_zone = AT.astimezone(dt.timezone(dt.timedelta(hours=-7)))
    assert epoch_ms(other_zone) == MS


@pytest.mark.parametrize(
    ("event", "key"),
    [
        (data_event("production", production(1.0), at=AT), f"{SERIAL}/production/{MS}"),
        (
            ErrorEvent(
                serial=SERIAL,
                host=HOST,
                endpoint="inverters",
                error=GatewayTimeoutError("late"),
                at=AT,
                latency_s=1.0,
            ),
            f"{SERIAL}/error:inverters/{MS}",
        ),
        (
            UnsupportedEvent(serial=SERIAL, host=HOST, endpoint="meters", at=AT, reason="404"),
            f"{SERIAL}/unsupported:meters/{MS}",
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
            f"https_127_0_0_1_8443/state:unreachable/{MS}",
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
            f"{SERIAL}/counter:meters.net-consumption_delivered_wh/{MS}",
        ),
        (
            EnergyEvent(serial=SERIAL, host=HOST, source="meters", at=AT),
            f"{SERIAL}/energy:meters/{MS}",
        ),
    ],
)
def test_keys_have_the_documented_form(event: SinkEvent, key: str) -> None:
    assert idempotency_key(event) == key


def key_from_message(topic: str, payload: bytes) -> str:
    """The key as a consumer computes it from a message, ignoring the payload's ``key``.

    The ``energy`` endpoint's data and the energy events share a topic: the events are the
    messages with a ``source``.
    """
    gateway, leaf = topic.split("/")
    body: dict[str, Any] = orjson.loads(payload)
    what = {
        "error": lambda: f"error:{body['endpoint']}",
        "unsupported": lambda: f"unsupported:{body['endpoint']}",
        "state_change": lambda: f"state:{body['state']}",
        "counter": lambda: f"counter:{body['counter']}",
        "energy": lambda: f"energy:{body['source']}" if "source" in body else "energy",
    }.get(leaf, lambda: leaf)()
    at = dt.datetime.fromisoformat(body["at"])
    ms = (at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)
    return f"{gateway}/{what.replace('/', '_')}/{ms}"


def test_a_consumer_recomputes_every_key_from_the_message(simulated_events: list[Event]) -> None:
    tracker = EnergyTracker()
    events: list[SinkEvent] = []
    for polled in simulated_events:
        events.append(polled)
        events.extend(tracker.update(polled))
    kinds = set()
    keys = set()
    for event in events:
        entry = event_message(event)
        assert orjson.loads(entry.payload)["key"] == entry.key == idempotency_key(event)
        assert key_from_message(entry.topic, entry.payload) == entry.key
        kinds.add(entry.topic.split("/")[1])
        keys.add(entry.key)
    assert {"meter_readings", "energy", "state_change"} <= kinds
    assert len(keys) == len(events)  # one reading, one key
