"""Polling many gateways: plans, the Poller, its clock, statistics and discovery.

Start with :class:`Poller`::

    async with Poller([("envoy.local", token)], plan=PollPlan()) as poller:
        async for event in poller:
            ...
"""

from __future__ import annotations

from enphase_local.scheduler.clock import Clock, ManualClock, ScaledClock, SystemClock
from enphase_local.scheduler.delivery import EventCallback, Subscription
from enphase_local.scheduler.discovery import DiscoveredGateway, discover_gateways
from enphase_local.scheduler.gateway_worker import LIVE_STREAM, PolledSession
from enphase_local.scheduler.plan import MIN_INTERVAL_S, PollPlan
from enphase_local.scheduler.poller import GatewaySpec, Poller
from enphase_local.scheduler.state import BackoffPolicy
from enphase_local.scheduler.stats import EventStats, GatewayStats, Percentiles, PollerStats

__all__ = [
    "LIVE_STREAM",
    "MIN_INTERVAL_S",
    "BackoffPolicy",
    "Clock",
    "DiscoveredGateway",
    "EventCallback",
    "EventStats",
    "GatewaySpec",
    "GatewayStats",
    "ManualClock",
    "Percentiles",
    "PollPlan",
    "PolledSession",
    "Poller",
    "PollerStats",
    "ScaledClock",
    "Subscription",
    "SystemClock",
    "discover_gateways",
]
