"""What the poller emits (data, errors, gateway state changes, unsupported endpoints, control
writes undone) and what the energy tracker derives from it (guarded energy, counter
decisions).

Callbacks and ``async for event in poller`` receive the poller's :data:`Event` s; sinks also
receive the derived ones (:data:`SinkEvent`), from the
:class:`~enphase_local.energy.EnergyTracker` a :class:`~enphase_local.sinks.SinkSet` runs
between the poller and them. All are frozen records.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
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


class CounterDecision(enum.Enum):
    """What the counter guard did with a reading that was not simply accepted."""

    #: The counter dropped: the reading is held back, nothing is published yet.
    HELD = "held"
    #: A held drop came back to where it was: nothing was published, nothing is counted.
    TRANSIENT = "transient"
    #: A drop (or a jump that stayed) is confirmed: counting goes on from the new value.
    RESET = "reset"
    #: A rise larger than the site could physically make in the time elapsed: rejected.
    SPIKE = "spike"
    #: Battery power went unsampled for too long: not integrated, recorded as a gap.
    GAP = "gap"


@attrs.frozen(kw_only=True)
class CounterEvent:
    """A decision of the counter guard (or the battery integrator) about one reading."""

    #: Gateway serial number (the host before it is known).
    serial: str | None
    #: Gateway host as configured.
    host: str
    #: The counter, e.g. ``meters.net-consumption.delivered_wh`` or ``battery.power_w``.
    counter: str
    #: What was decided.
    decision: CounterDecision
    #: The value read, in the counter's unit (Wh, or W for ``battery.power_w``).
    value: float
    #: The last value accepted before it; None when there was none.
    previous: float | None
    #: When the reading arrived, UTC.
    at: datetime
    #: Why, in a few words.
    reason: str


@attrs.frozen(kw_only=True)
class EnergyEvent:
    """Guarded energy of one source of a gateway after one reading.

    Sources: ``meters`` (the CT registers of ``/ivp/meters/readings``), ``production``
    (``/api/v1/production``) and ``battery`` (battery power integrated over time). Flows are
    named as in :data:`enphase_local.energy.FLOWS`.
    """

    #: Gateway serial number (the host before it is known).
    serial: str | None
    #: Gateway host as configured.
    host: str
    #: ``meters``, ``production`` or ``battery``.
    source: str
    #: When the reading arrived, UTC.
    at: datetime
    #: This source's running energy per flow, Wh; the ledger counts their changes. Sources
    #: that see several flows carry each; a battery on the production circuit also carries
    #: its share of ``production_wh`` (charge minus discharge).
    flows: Mapping[str, float] = attrs.field(factory=dict, hash=False)
    #: Whether the change since this source's previous event spans a gap (a poller outage,
    #: missing battery samples): it is known as a whole, not how it spread over the gap.
    filled: bool = False
    #: The gateway's energy totals per flow after this event, Wh: what energy dashboards
    #: read. They never decrease.
    totals: Mapping[str, float] = attrs.field(factory=dict, hash=False)
    #: The guarded counters (Wh) and integrator state this source goes on from, e.g.
    #: ``production.today_wh``; a restarted tracker resumes from them.
    counters: Mapping[str, float] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class ControlRevertedEvent:
    """A state that a control write of ours set changed again with no write of ours since:
    the Enphase cloud putting back a storage mode within a minute or two, an installer, the
    gateway's own logic. The poller watches for it after each write made through its
    sessions (see :meth:`~enphase_local.Poller.control`)."""

    #: Gateway serial number, if known.
    serial: str | None
    #: Gateway host as configured.
    host: str
    #: The write, by its session method, e.g. ``set_storage_mode``.
    control: str
    #: The endpoint whose reading showed the change, e.g. ``tariff``.
    endpoint: str
    #: What the write had set, as read back after it (the watched keys only).
    expected: Mapping[str, Any] = attrs.field(hash=False)
    #: What the gateway shows now (the same keys).
    observed: Mapping[str, Any] = attrs.field(hash=False)
    #: When the write was confirmed, UTC.
    written_at: datetime
    #: When the change was seen, UTC.
    at: datetime
    #: What changed, in a few words.
    reason: str


#: Anything the poller emits.
Event = DataEvent | ErrorEvent | StateEvent | UnsupportedEvent | ControlRevertedEvent
#: What sinks take: the poller's events and what the energy tracker derives from them.
SinkEvent = Event | CounterEvent | EnergyEvent
