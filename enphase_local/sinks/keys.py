"""Idempotency keys as one line of text: the same reading, the same string, however often it
is delivered.

The key itself is :class:`~enphase_local.fleet.records.ReadingKey` (gateway, kind, subject,
reading time), what PostgreSQL keeps one row per; every MQTT event message carries it in its
payload as ``"key": {"gateway", "kind", "subject", "at"}``. :func:`idempotency_key` writes
the same key as text, which the MQTT sink sends as the message's MQTT 5 user property
``key``, for consumers that want one string: ``<gateway>/<what>/<us>``.

``<gateway>``
    The gateway's serial number, or before the serial is known (a gateway that never
    answered ``/info``) its configured host, reduced to letters, digits, ``_`` and ``-`` as
    in the MQTT topics (:func:`~enphase_local.sinks.view.safe_id`; serials are digits).
``<what>``
    The endpoint of a data event (``meter_readings``); for the other events their kind and
    subject: ``error:<endpoint>``, ``unsupported:<endpoint>``, ``counter:<counter>``
    (``counter:meters.net-consumption.delivered_wh``), ``energy:<source>``
    (``energy:meters``), ``control_reverted:<endpoint>``, and ``state`` for a change of the
    gateway's state. A ``/`` in it becomes ``_``.
``<us>``
    The reading's time (a data event's fetch time, else the event's ``at``) in whole
    microseconds since the Unix epoch, UTC: from the ISO 8601 ``at`` of a message,
    ``(at - 1970-01-01T00:00:00Z) // 1 us`` in exact integer arithmetic.

``122199900001/meter_readings/1750507200123456`` is the meter readings fetched at
2025-06-21T12:00:00.123456Z. One request is in flight per gateway at a time, so no two
readings of a gateway share a key; a message delivered twice (after a reconnection, or after
the poller was killed before it could forget an acknowledged message) carries the same key
both times, so a consumer can drop the second.
"""

from __future__ import annotations

import datetime as dt

from enphase_local.events import SinkEvent
from enphase_local.fleet.records import ReadingKey, event_key

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)


def epoch_us(when: dt.datetime) -> int:
    """Whole microseconds since the Unix epoch, without floating point."""
    return (when - _EPOCH) // _US


def key_text(key: ReadingKey) -> str:
    """``<gateway>/<what>/<us>``: see the module."""
    if key.kind == "data":
        what = key.subject
    elif key.subject:
        what = f"{key.kind}:{key.subject}"
    else:
        what = key.kind
    return f"{key.gateway}/{what.replace('/', '_')}/{epoch_us(key.at)}"


def idempotency_key(event: SinkEvent) -> str:
    """The key of an event as text (:func:`key_text` of its
    :func:`~enphase_local.fleet.records.event_key`)."""
    return key_text(event_key(event))
