"""Readings as they travel between pollers and the central database, and their idempotency key.

A :class:`Reading` is one sink event in the shape the PostgreSQL tables keep it, made either
from the event itself (:func:`reading_from_event`, ``poll --postgres``) or from the message the
MQTT sink published for it (:func:`reading_from_message`, ``ingest``); both give the same key
and the same row.

The idempotency key (:class:`ReadingKey`) names a reading: the gateway (its serial number, or
its configured host made topic-safe before the serial is known: the gateway level of the MQTT
topic), the kind of event, its subject (the endpoint of data, error and unsupported events,
the counter of a counter decision, the source of an energy event, empty for a state change)
and the time of the reading (microseconds, UTC). The same reading delivered twice has the
same key, and the database keeps one row per key. Today's MQTT payloads carry everything the
key needs (the topic names the gateway and endpoint, ``at`` the time); a payload may also
carry it explicitly as ``"key": {"gateway", "kind", "subject", "at"}`` (:meth:`ReadingKey.
to_data`), which then wins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

import attrs
import orjson

from enphase_local.endpoints import ENDPOINTS
from enphase_local.events import (
    ControlRevertedEvent,
    CounterEvent,
    DataEvent,
    EnergyEvent,
    ErrorEvent,
    SinkEvent,
    StateEvent,
    UnsupportedEvent,
)
from enphase_local.export import from_data, to_data
from enphase_local.sinks.base import event_kind, event_time
from enphase_local.sinks.view import safe_id

#: The model of each endpoint's data, by event endpoint name.
ENDPOINT_MODELS: Final[Mapping[str, Any]] = {e.name: e.model for e in ENDPOINTS}

#: Topic levels of the MQTT sink that are not events (retained state, availability).
NOT_READINGS: Final = frozenset({"state", "availability"})
#: Topic levels of the MQTT sink's derived and non-data events, and their kind. ``energy``
#: is also the level of the ``energy`` endpoint's data: those messages hold ``data``.
_LEVEL_KINDS: Final = {
    "error": "error",
    "unsupported": "unsupported",
    "state_change": "state",
    "counter": "counter",
    "energy": "energy",
}


class BadMessageError(ValueError):
    """An MQTT message that is not a reading the MQTT sink publishes (kept out of the
    database, counted and logged)."""


@attrs.frozen(kw_only=True)
class ReadingKey:
    """What names one reading everywhere: see the module."""

    #: The gateway's serial (its topic-safe host before the serial is known).
    gateway: str
    #: ``data``, ``error``, ``state``, ``unsupported``, ``counter`` or ``energy``.
    kind: str
    #: The endpoint, counter or energy source; empty for state changes.
    subject: str
    #: When the reading was taken (data: fetched), timezone-aware UTC.
    at: dt.datetime

    def to_data(self) -> dict[str, str]:
        """The key as JSON-ready data (``at`` in ISO 8601)."""
        return {
            "gateway": self.gateway,
            "kind": self.kind,
            "subject": self.subject,
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_data(cls, data: Any) -> ReadingKey:
        """The key :meth:`to_data` rendered; :class:`BadMessageError` when it is not one."""
        try:
            return cls(
                gateway=_text(data["gateway"]),
                kind=_text(data["kind"]),
                subject=_text(data["subject"]),
                at=_time(data["at"]),
            )
        except (KeyError, TypeError) as err:
            raise BadMessageError(f"not an idempotency key: {data!r:.200}") from err


@attrs.frozen(kw_only=True)
class Reading:
    """One event as a row: its key, where it came from, and its data."""

    #: The idempotency key.
    key: ReadingKey
    #: The gateway's configured host (None when the message does not say).
    host: str | None
    #: Seconds the poll took (data and error events).
    latency_s: float | None
    #: The ``events`` table's JSON: the model's data for data events, else the event's
    #: fields; for energy events ``flows``, ``filled``, ``totals`` and ``counters``.
    data: Any = attrs.field(eq=False)
    #: The parsed model of a data event when at hand (rebuilt from ``data`` when needed).
    model: Any = attrs.field(default=None, eq=False, repr=False)

    def data_event(self) -> DataEvent:
        """The data event this reading is (its model rebuilt from ``data`` if needed);
        cattrs' errors when the data do not fit the endpoint's model."""
        model = self.model
        if model is None:
            model = from_data(self.data, ENDPOINT_MODELS[self.key.subject])
        return DataEvent(
            serial=self.key.gateway,
            host=self.host or self.key.gateway,
            endpoint=self.key.subject,
            model=model,
            fetched_at=self.key.at,
            latency_s=self.latency_s or 0.0,
        )

    def energy_event(self) -> EnergyEvent:
        """The energy event this reading is."""
        data = self.data
        return EnergyEvent(
            serial=self.key.gateway,
            host=self.host or self.key.gateway,
            source=self.key.subject,
            at=self.key.at,
            flows=data["flows"],
            filled=bool(data["filled"]),
            totals=data.get("totals") or {},
            counters=data.get("counters") or {},
        )


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise BadMessageError(f"expected text, got {value!r:.100}")
    return value


def _time(value: Any) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(_text(value))
    except ValueError as err:
        raise BadMessageError(f"not an ISO 8601 time: {value!r:.100}") from err
    if when.tzinfo is None:
        raise BadMessageError(f"time without a time zone: {value!r:.100}")
    return when.astimezone(dt.UTC)


def _subject(event: SinkEvent) -> str:
    if isinstance(event, StateEvent):
        return ""
    if isinstance(event, CounterEvent):
        return event.counter
    if isinstance(event, EnergyEvent):
        return event.source
    return event.endpoint


def event_key(event: SinkEvent) -> ReadingKey:
    """The idempotency key of an event (the same as its MQTT message gives)."""
    return ReadingKey(
        gateway=safe_id(event.serial if event.serial is not None else event.host),
        kind=event_kind(event),
        subject=_subject(event),
        at=event_time(event).astimezone(dt.UTC),
    )


def _event_data(event: SinkEvent) -> Any:
    if isinstance(event, DataEvent):
        return to_data(event.model)
    if isinstance(event, ErrorEvent):
        return {"type": type(event.error).__name__, "message": str(event.error)}
    if isinstance(event, StateEvent):
        return {
            "previous": event.previous.value,
            "state": event.state.value,
            "reason": event.reason,
        }
    if isinstance(event, CounterEvent):
        return {
            "counter": event.counter,
            "decision": event.decision.value,
            "value": event.value,
            "previous": event.previous,
            "reason": event.reason,
        }
    if isinstance(event, EnergyEvent):
        return {
            "flows": dict(event.flows),
            "filled": event.filled,
            "totals": dict(event.totals),
            "counters": dict(event.counters),
        }
    return _reason_data(event)


def _reason_data(event: UnsupportedEvent | ControlRevertedEvent) -> Any:
    if isinstance(event, ControlRevertedEvent):
        return {
            "control": event.control,
            "expected": dict(event.expected),
            "observed": dict(event.observed),
            "written_at": event.written_at.isoformat(),
            "reason": event.reason,
        }
    return {"reason": event.reason}


def reading_from_event(event: SinkEvent) -> Reading:
    """The reading of a sink event (``poll --postgres``)."""
    latency = event.latency_s if isinstance(event, DataEvent | ErrorEvent) else None
    return Reading(
        key=event_key(event),
        host=event.host,
        latency_s=latency,
        data=_event_data(event),
        model=event.model if isinstance(event, DataEvent) else None,
    )


def _fields(payload: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {name: payload.get(name) for name in names}


def _message_data(kind: str, payload: Mapping[str, Any]) -> Any:
    if kind == "data":
        return payload["data"]
    if kind == "error":
        return _fields(payload, "type", "message")
    if kind == "state":
        return _fields(payload, "previous", "state", "reason")
    if kind == "counter":
        return _fields(payload, "counter", "decision", "value", "previous", "reason")
    if kind == "energy":
        if not isinstance(payload.get("flows"), dict):
            raise BadMessageError("energy message without flows")
        return {
            "flows": payload["flows"],
            "filled": bool(payload.get("filled")),
            "totals": payload.get("totals") or {},
            "counters": payload.get("counters") or {},
        }
    return _fields(payload, "reason")


def _message_subject(kind: str, level: str, payload: Mapping[str, Any]) -> str:
    if kind == "data":
        return level
    if kind == "state":
        return ""
    if kind == "counter":
        return _text(payload.get("counter"))
    if kind == "energy":
        return _text(payload.get("source"))
    return _text(payload.get("endpoint"))


def message_kind(level: str) -> str | None:
    """The kind of event a topic's last level carries; None for state and availability."""
    if level in NOT_READINGS:
        return None
    if level in _LEVEL_KINDS:
        return _LEVEL_KINDS[level]
    if level in ENDPOINT_MODELS:
        return "data"
    raise BadMessageError(f"unknown topic level {level!r:.100}")


def reading_from_message(gateway: str, level: str, payload: Any) -> Reading | None:
    """The reading of an MQTT sink message on ``<prefix>/<gateway>/<level>`` (``payload``
    decoded); None for messages that are not events (retained state, availability);
    :class:`BadMessageError` for anything else the MQTT sink does not publish."""
    kind = message_kind(level)
    if kind is None:
        return None
    if not isinstance(payload, dict):
        raise BadMessageError(f"payload is not a JSON object: {payload!r:.100}")
    if kind == "energy" and "data" in payload:
        kind = "data"  # the energy endpoint (/ivp/pdm/energy) shares the energy events' level
    try:
        if "key" in payload:
            key = ReadingKey.from_data(payload["key"])
        else:
            subject = _message_subject(kind, level, payload)
            key = ReadingKey(gateway=gateway, kind=kind, subject=subject, at=_time(payload["at"]))
        data = _message_data(kind, payload)
    except KeyError as err:
        raise BadMessageError(f"{level} message without {err}") from err
    latency = payload.get("latency_s")
    return Reading(
        key=key,
        host=payload.get("host") if isinstance(payload.get("host"), str) else None,
        latency_s=float(latency) if isinstance(latency, int | float) else None,
        data=data,
    )


def reading_from_mqtt(prefix: str, topic: str, payload: Any) -> Reading | None:
    """The reading of a message as it arrives (``payload`` the raw bytes): see
    :func:`reading_from_message`."""
    if not topic.startswith(f"{prefix}/"):
        raise BadMessageError(f"topic outside {prefix}/")
    gateway, _, level = topic.removeprefix(f"{prefix}/").partition("/")
    if not gateway or not level or "/" in level:
        raise BadMessageError("not a <prefix>/<gateway>/<level> topic")
    if message_kind(level) is None:
        return None
    if not isinstance(payload, bytes | bytearray):
        raise BadMessageError("no payload")
    try:
        decoded = orjson.loads(payload)
    except orjson.JSONDecodeError as err:
        raise BadMessageError(f"not JSON: {err}") from err
    return reading_from_message(gateway, level, decoded)
