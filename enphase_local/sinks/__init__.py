"""Consumers of the poller's events: SQLite (built in), MQTT, PostgreSQL and Prometheus
(optional extras).

Every sink follows the :class:`Sink` protocol: ``await sink.start()``, ``sink.submit(event)``
for each event (never blocks), ``await sink.close()``. :class:`SinkSet` fans events out to
several; given an :class:`~enphase_local.energy.EnergyTracker` it also feeds them the
guarded energy, the only source of their energy values and of the SQLite ledger
(:func:`read_ledger`; the power and per-battery samples: :func:`read_power_samples`,
:func:`read_battery_samples`). The MQTT, PostgreSQL and Prometheus sinks live in
:mod:`enphase_local.sinks.mqtt`, :mod:`enphase_local.sinks.postgres` and
:mod:`enphase_local.sinks.prometheus` and need the ``mqtt``, ``postgres`` and ``prometheus``
extras; the MQTT sink stores and forwards through :mod:`enphase_local.sinks.outbox` and
:mod:`enphase_local.sinks.forward`, with the keys of :mod:`enphase_local.sinks.keys`.
"""

from __future__ import annotations

from enphase_local.sinks.base import BatchRunner, EnergyStore, Sink, SinkSet, SinkStats
from enphase_local.sinks.sqlite import (
    SchemaVersionError,
    SqliteSink,
    read_battery_samples,
    read_ledger,
    read_power_samples,
)

__all__ = [
    "BatchRunner",
    "EnergyStore",
    "SchemaVersionError",
    "Sink",
    "SinkSet",
    "SinkStats",
    "SqliteSink",
    "read_battery_samples",
    "read_ledger",
    "read_power_samples",
]
