"""The sink tests' simulated events (three sites, three polls of every endpoint)."""

from __future__ import annotations

from tests.sinks.conftest import simulated_events, simulation

__all__ = ["simulated_events", "simulation"]
