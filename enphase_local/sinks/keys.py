"""Idempotency keys: one string per reading, the same however often it is delivered.

A key is ``<gateway>/<what>/<ms>``:

``<gateway>``
    The gateway's serial number, or before the serial is known (a gateway that never
    answered ``/info``) its configured host, reduced to letters, digits, ``_`` and ``-`` as
    in the MQTT topics (:func:`~enphase_local.sinks.view.safe_id`; serials are digits).
``<what>``
    The endpoint of a data event (``meter_readings``); for the other events their kind and
    what they are about: ``error:<endpoint>``, ``unsupported:<endpoint>``,
    ``state:<new state>`` (``state:online``), ``counter:<counter>``
    (``counter:meters.net-consumption.delivered_wh``) and ``energy:<source>``
    (``energy:meters``). Never a ``/`` (one would become ``_``).
``<ms>``
    The reading's time (a data event's fetch time, else the event's ``at``) in whole
    milliseconds since the Unix epoch, UTC, rounded down: from the ISO 8601 ``at`` of a
    message, ``(at - 1970-01-01T00:00:00Z) // 1 ms`` in exact integer arithmetic.

``122199900001/meter_readings/1750507200123`` is the meter readings fetched at
2025-06-21T12:00:00.123456Z. One request is in flight per gateway at a time, so no two
readings of a gateway share a key; a message delivered twice (after a reconnection, or after
the poller was killed before it could forget an acknowledged message) carries the same key
both times, so a consumer can drop the second.
"""

from __future__ import annotations

import datetime as dt

from enphase_local.events import (
    CounterEvent,
    DataEvent,
    EnergyEvent,
    ErrorEvent,
    SinkEvent,
    StateEvent,
)
from enphase_local.sinks.base import event_time
from enphase_local.sinks.view import safe_id

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


def epoch_ms(when: dt.datetime) -> int:
    """Whole milliseconds since the Unix epoch, rounded down, without floating point."""
    return (when - _EPOCH) // _MS


def _what(event: SinkEvent) -> str:
    if isinstance(event, DataEvent):
        return event.endpoint
    if isinstance(event, ErrorEvent):
        return f"error:{event.endpoint}"
    if isinstance(event, StateEvent):
        return f"state:{event.state.value}"
    if isinstance(event, CounterEvent):
        return f"counter:{event.counter}"
    if isinstance(event, EnergyEvent):
        return f"energy:{event.source}"
    return f"unsupported:{event.endpoint}"


def idempotency_key(event: SinkEvent) -> str:
    """``<gateway>/<what>/<ms>``: see the module for the parts."""
    gateway = safe_id(event.serial if event.serial is not None else event.host)
    what = _what(event).replace("/", "_")
    return f"{gateway}/{what}/{epoch_ms(event_time(event))}"
