"""Consumers of the poller's events: SQLite (built in), MQTT and Prometheus (optional extras).

Every sink follows the :class:`Sink` protocol: ``await sink.start()``, ``sink.submit(event)``
for each event (never blocks), ``await sink.close()``. :class:`SinkSet` fans events out to
several. The MQTT and Prometheus sinks live in :mod:`enphase_local.sinks.mqtt` and
:mod:`enphase_local.sinks.prometheus` and need the ``mqtt`` and ``prometheus`` extras.
"""

from __future__ import annotations

from enphase_local.sinks.base import BatchRunner, Sink, SinkSet, SinkStats
from enphase_local.sinks.sqlite import SchemaVersionError, SqliteSink, read_power_samples

__all__ = [
    "BatchRunner",
    "SchemaVersionError",
    "Sink",
    "SinkSet",
    "SinkStats",
    "SqliteSink",
    "read_power_samples",
]
