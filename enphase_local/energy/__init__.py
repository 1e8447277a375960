"""Energy you can trust: guarded counters, battery energy without a storage CT, the ledger.

- :class:`EnergyTracker` sits between the poller and the sinks (a
  :class:`~enphase_local.sinks.SinkSet` runs it): every energy counter goes through a
  :class:`CounterGuard` (drops held until confirmed, spikes rejected), battery power is
  integrated where no storage CT counts it (:class:`BatteryIntegrator`), and out come
  :class:`~enphase_local.events.EnergyEvent` s and the guards' decisions as
  :class:`~enphase_local.events.CounterEvent` s.
- :class:`Ledger` turns energy events into 15-minute buckets per gateway and flow
  (:class:`LedgerBucket`); the SQLite sink keeps them, ``enphase-local report`` charts them.
"""

from __future__ import annotations

from enphase_local.energy.battery import BatteryIntegrator, Sample
from enphase_local.energy.flows import (
    BATTERY_CHARGE,
    BATTERY_DISCHARGE,
    CONSUMPTION,
    FLOWS,
    GRID_EXPORT,
    GRID_IMPORT,
    PRODUCTION,
)
from enphase_local.energy.guard import CounterGuard
from enphase_local.energy.ledger import (
    BUCKET_S,
    Buckets,
    Destinations,
    Ledger,
    LedgerBucket,
    by_day,
    destinations,
    total,
)
from enphase_local.energy.rating import SiteRating
from enphase_local.energy.tracker import EnergyTracker

__all__ = [
    "BATTERY_CHARGE",
    "BATTERY_DISCHARGE",
    "BUCKET_S",
    "CONSUMPTION",
    "FLOWS",
    "GRID_EXPORT",
    "GRID_IMPORT",
    "PRODUCTION",
    "BatteryIntegrator",
    "Buckets",
    "CounterGuard",
    "Destinations",
    "EnergyTracker",
    "Ledger",
    "LedgerBucket",
    "Sample",
    "SiteRating",
    "by_day",
    "destinations",
    "total",
]
