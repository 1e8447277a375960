"""What the poller has done: per-gateway counters, latency percentiles, and totals.

Latencies and lateness are kept in fixed-size windows of the most recent polls, so memory
per gateway stays constant however long the poller runs.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping
from datetime import datetime

import attrs

from enphase_local.events import GatewayState

#: Polls remembered per gateway for the percentiles.
WINDOW = 256
#: The totals' percentiles use at most about this many samples (the most recent of each
#: gateway), so that :meth:`Poller.stats` stays quick with thousands of gateways.
TOTAL_SAMPLES = 65_536


class Window:
    """The last ``size`` samples of a quantity (a ring buffer of doubles)."""

    __slots__ = ("_filled", "_next", "_samples")

    def __init__(self, size: int = WINDOW) -> None:
        self._samples = array("d", bytes(8 * size))
        self._next = 0
        self._filled = 0

    def __len__(self) -> int:
        return self._filled

    def add(self, value: float) -> None:
        """Remember ``value``, forgetting the oldest sample when full."""
        samples = self._samples
        samples[self._next] = value
        self._next = (self._next + 1) % len(samples)
        if self._filled < len(samples):
            self._filled += 1

    def values(self) -> list[float]:
        """The samples held, in no particular order."""
        return list(self._samples[: self._filled])

    def recent(self, count: int) -> list[float]:
        """The ``count`` most recent samples (all when fewer are held)."""
        if count >= self._filled:
            return self.values()
        end = self._next
        start = end - count
        if start >= 0:
            return list(self._samples[start:end])
        return list(self._samples[start:]) + list(self._samples[:end])


def percentile(ordered: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not ordered:
        return None
    rank = max(0, math.ceil(fraction * len(ordered)) - 1)
    return ordered[rank]


@attrs.frozen(kw_only=True)
class Percentiles:
    """p50, p90 and p99 of some samples, seconds (None without samples)."""

    #: Median, seconds.
    p50: float | None = None
    #: 90th percentile, seconds.
    p90: float | None = None
    #: 99th percentile, seconds.
    p99: float | None = None
    #: How many samples they come from.
    samples: int = 0

    @classmethod
    def of(cls, values: Iterable[float]) -> Percentiles:
        """The percentiles of ``values``."""
        ordered = sorted(values)
        return cls(
            p50=percentile(ordered, 0.5),
            p90=percentile(ordered, 0.9),
            p99=percentile(ordered, 0.99),
            samples=len(ordered),
        )


@attrs.frozen(kw_only=True)
class GatewayStats:
    """One gateway's counters since the poller started."""

    #: Gateway host as configured.
    host: str
    #: Gateway serial (None before ``/info`` was read).
    serial: str | None
    #: Firmware version (None before ``/info`` was read).
    firmware: str | None
    #: Current state.
    state: GatewayState
    #: Requests sent (including the live-stream switch).
    polls: int
    #: Requests answered with data.
    successes: int
    #: Requests that failed (connection, timeout, status, bad body, refused token).
    failures: int
    #: Polls not sent because this gateway was still busy with an earlier one.
    skipped: int
    #: Polls not sent because the gateway was backing off.
    deferred: int
    #: Endpoints found unsupported, by name.
    unsupported: tuple[str, ...]
    #: Latency of recent successful polls, seconds of the poller's clock.
    latency: Percentiles
    #: How late recent live polls started against their plan, seconds.
    lateness: Percentiles
    #: When the last poll succeeded, UTC (None if none did yet).
    last_success_at: datetime | None
    #: The last failure, as ``Type: message`` (None if none happened).
    last_error: str | None
    #: Unexpected errors inside the poller itself (a bug: please report them).
    internal_errors: int
    #: GETs the gateway's session sent again after a transient failure (a dropped or timed-out
    #: connection, a 502/503/504); each retried GET that then succeeded counts as one success.
    retried: int = 0


@attrs.frozen(kw_only=True)
class EventStats:
    """How the events got out: published, dropped from a full buffer, left over at close."""

    #: Events emitted by the gateways' workers.
    published: int = 0
    #: Events dropped because a consumer's buffer was full (oldest live data first).
    dropped: int = 0
    #: Events still buffered, or not delivered when the poller closed.
    pending: int = 0
    #: Callback calls that raised.
    callback_errors: int = 0


@attrs.frozen(kw_only=True)
class PollerStats:
    """All gateways, and the totals."""

    #: One entry per gateway, in the order given.
    gateways: tuple[GatewayStats, ...]
    #: Gateways per state.
    states: Mapping[GatewayState, int] = attrs.field(hash=False)
    #: Requests sent, all gateways.
    polls: int
    #: Requests answered with data, all gateways.
    successes: int
    #: Failed requests, all gateways.
    failures: int
    #: Polls skipped because a gateway was busy, all gateways.
    skipped: int
    #: Polls deferred by backoff, all gateways.
    deferred: int
    #: Unsupported endpoints, all gateways.
    unsupported: int
    #: Latency over every gateway's recent polls, seconds.
    latency: Percentiles
    #: Lateness over every gateway's recent live polls, seconds.
    lateness: Percentiles
    #: The event stream's counters.
    events: EventStats
    #: Unexpected errors inside the poller (should be 0).
    internal_errors: int

    @classmethod
    def combine(
        cls,
        gateways: tuple[GatewayStats, ...],
        *,
        latencies: Iterable[float],
        lateness: Iterable[float],
        events: EventStats,
    ) -> PollerStats:
        """The totals over ``gateways`` (with the raw samples for the percentiles)."""
        states = dict.fromkeys(GatewayState, 0)
        for gateway in gateways:
            states[gateway.state] += 1
        return cls(
            gateways=gateways,
            states=states,
            polls=sum(g.polls for g in gateways),
            successes=sum(g.successes for g in gateways),
            failures=sum(g.failures for g in gateways),
            skipped=sum(g.skipped for g in gateways),
            deferred=sum(g.deferred for g in gateways),
            unsupported=sum(len(g.unsupported) for g in gateways),
            latency=Percentiles.of(latencies),
            lateness=Percentiles.of(lateness),
            events=events,
            internal_errors=sum(g.internal_errors for g in gateways),
        )
