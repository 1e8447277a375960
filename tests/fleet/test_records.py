"""Readings from events and from MQTT messages: the idempotency key and what is kept."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from enphase_local.events import ControlRevertedEvent, GatewayState, StateEvent
from enphase_local.fleet.records import (
    BadMessageError,
    ReadingKey,
    event_key,
    reading_from_event,
    reading_from_message,
    reading_from_mqtt,
)
from tests.sinks.builders import HOST, SERIAL, T0, data_event, production

AT = "2025-06-21T12:00:00.123456+00:00"


def test_the_key_names_gateway_kind_subject_and_time_to_the_microsecond() -> None:
    event = data_event("production", production(1234.0))
    key = event_key(event)
    assert key == ReadingKey(gateway=SERIAL, kind="data", subject="production", at=T0)
    before_serial = StateEvent(
        serial=None,
        host="https://192.168.1.20:443",
        previous=GatewayState.STARTING,
        state=GatewayState.ONLINE,
        at=T0 + dt.timedelta(microseconds=7),
        reason="first answer",
    )
    assert event_key(before_serial) == ReadingKey(
        gateway="https_192_168_1_20_443", kind="state", subject="", at=before_serial.at
    )
    assert ReadingKey.from_data(key.to_data()) == key


def test_a_key_carried_in_the_message_wins() -> None:
    carried = ReadingKey(gateway="122199900001", kind="data", subject="production", at=T0)
    payload = {"at": AT, "latency_s": 0.1, "data": {}, "key": carried.to_data(), "host": HOST}
    reading = reading_from_message("renamed", "production", payload)
    assert reading is not None
    assert reading.key == carried
    assert reading.host == HOST
    del payload["key"]
    derived = reading_from_message("renamed", "production", payload)
    assert derived is not None
    assert derived.key == ReadingKey(
        gateway="renamed", kind="data", subject="production", at=dt.datetime.fromisoformat(AT)
    )


def test_the_time_keeps_its_microseconds_and_becomes_utc() -> None:
    payload = orjson.dumps({"at": "2025-06-21T14:00:00.000001+02:00", "source": "meters",
                            "flows": {"production_wh": 1.0}, "filled": False})  # fmt: skip
    reading = reading_from_mqtt("p", "p/122199900001/energy", payload)
    assert reading is not None
    assert reading.key.at == T0 + dt.timedelta(microseconds=1)
    assert reading.key.at.tzinfo is dt.UTC
    assert (reading.key.kind, reading.key.subject) == ("energy", "meters")


def test_the_energy_endpoint_shares_the_energy_level() -> None:
    payload = orjson.dumps({"at": AT, "latency_s": 0.2, "data": {"production": {}}})
    reading = reading_from_mqtt("p", "p/122199900001/energy", payload)
    assert reading is not None
    assert (reading.key.kind, reading.key.subject) == ("data", "energy")


@pytest.mark.parametrize(
    ("topic", "payload", "match"),
    [
        ("other/122199900001/production", b"{}", "outside"),
        ("p/122199900001", b"{}", "not a <prefix>/<gateway>/<level>"),
        ("p/122199900001/production/x", b"{}", "not a <prefix>/<gateway>/<level>"),
        ("p/122199900001/production", b"[1]", "not a JSON object"),
        ("p/122199900001/production", b"{", "not JSON"),
        ("p/122199900001/production", b'{"data": {}}', "without 'at'"),
        ("p/122199900001/production", b'{"at": "2025-06-21T12:00:00", "data": {}}', "zone"),
        ("p/122199900001/counter", b'{"at": "2025-06-21T12:00:00Z"}', "expected text"),
        ("p/122199900001/energy", b'{"at": "2025-06-21T12:00:00Z", "source": "m"}', "flows"),
        ("p/122199900001/nothing", b"{}", "unknown topic level"),
        ("p/122199900001/production", b'{"key": {"gateway": "g"}}', "not an idempotency key"),
        ("p/122199900001/production", b'{"key": {"gateway": 1}}', "expected text"),
    ],
)
def test_what_the_sink_does_not_publish_is_refused(topic: str, payload: bytes, match: str) -> None:
    with pytest.raises(BadMessageError, match=match):
        reading_from_mqtt("p", topic, payload)


def test_state_and_availability_are_not_readings() -> None:
    assert reading_from_mqtt("p", "p/122199900001/state", b"{}") is None
    assert reading_from_mqtt("p", "p/bridge/availability", b"online") is None


def test_a_control_revert_keeps_what_was_set_and_what_reads() -> None:
    revert = ControlRevertedEvent(
        serial=SERIAL,
        host=HOST,
        control="set_storage_mode",
        endpoint="tariff",
        expected={"mode": "savings"},
        observed={"mode": "self-consumption"},
        written_at=T0,
        at=T0 + dt.timedelta(seconds=90),
        reason="mode=self-consumption where set_storage_mode set mode=savings 90 s before",
    )
    reading = reading_from_event(revert)
    assert reading.key == ReadingKey(
        gateway=SERIAL, kind="control_reverted", subject="tariff", at=revert.at
    )
    assert reading.data == {
        "control": "set_storage_mode",
        "expected": {"mode": "savings"},
        "observed": {"mode": "self-consumption"},
        "written_at": T0.isoformat(),
        "reason": revert.reason,
    }
