"""What the poller emits: data, errors, gateway state changes and unsupported endpoints.

Sinks, callbacks and ``async for event in poller`` all receive these frozen records.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import attrs

from enphase_local.errors import EnphaseError


class GatewayState(enum.Enum):
    """How a polled gateway is doing."""

    #: Not polled successfully yet.
    STARTING = "starting"
    #: Answering normally.
    ONLINE = "online"
    #: Answering, but some polls fail.
    DEGRADED = "degraded"
    #: Failing; polls are paused for a jittered, growing delay.
    BACKING_OFF = "backing_off"
    #: The token was refused and no new one could be had; retried slowly.
    AUTH_FAILED = "auth_failed"
    #: Not reachable for a long time (connection refused, timeouts); retried slowly.
    UNREACHABLE = "unreachable"


@attrs.frozen(kw_only=True)
class DataEvent:
    """A successful poll: the parsed model of one endpoint."""

    #: Gateway serial number (None only before ``/info`` was read).
    serial: str | None
    #: Gateway host as configured.
    host: str
    #: Endpoint name, e.g. ``meter_readings`` (see ``enphase_local.endpoints``).
    endpoint: str
    #: The parsed model (the endpoint's return type).
    model: Any
    #: When the answer arrived, UTC.
    fetched_at: datetime
    #: Seconds from sending the request to having the parsed model.
    latency_s: float


@attrs.frozen(kw_only=True)
class ErrorEvent:
    """A failed poll."""

    #: Gateway serial number, if known.
    serial: str | None
    #: Gateway host as configured.
    host: str
    #: Endpoint name.
    endpoint: str
    #: The library error (its message never contains a secret).
    error: EnphaseError
    #: When the poll failed, UTC.
    at: datetime
    #: Seconds the failed attempt took.
    latency_s: float


@attrs.frozen(kw_only=True)
class StateEvent:
    """A gateway moved from one state to another."""

    #: Gateway serial number, if known.
    serial: str | None
    #: Gateway host as configured.
    host: str
    #: The state before.
    previous: GatewayState
    #: The state now.
    state: GatewayState
    #: When it changed, UTC.
    at: datetime
    #: Why, in a few words (never a secret).
    reason: str


@attrs.frozen(kw_only=True)
class UnsupportedEvent:
    """An endpoint the gateway does not serve: not polled again until its firmware changes."""

    #: Gateway serial number, if known.
    serial: str | None
    #: Gateway host as configured.
    host: str
    #: Endpoint name.
    endpoint: str
    #: When it was found, UTC.
    at: datetime
    #: Why (the gateway's answer).
    reason: str


#: Anything the poller emits.
Event = DataEvent | ErrorEvent | StateEvent | UnsupportedEvent
