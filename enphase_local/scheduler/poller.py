"""The Poller: many gateways, polled politely, as one stream of events.

::

    async with Poller([("envoy.local", token), ("envoy-2.local", token2)]) as poller:
        async for event in poller:
            if isinstance(event, DataEvent) and event.endpoint == "meter_readings":
                ...

Each gateway gets one worker task (see :mod:`~enphase_local.scheduler.gateway_worker`);
events go to every consumer through its own bounded buffer (see
:mod:`~enphase_local.scheduler.delivery`), so a slow consumer never holds up a poll.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Self, TypeAlias

import attrs

from enphase_local.auth.sources import TokenSource
from enphase_local.auth.token import Token
from enphase_local.control import ControlResult
from enphase_local.events import Event, GatewayState
from enphase_local.scheduler.clock import Clock, SystemClock
from enphase_local.scheduler.delivery import EventBuffer, EventCallback, Subscription
from enphase_local.scheduler.gateway_worker import GatewayWorker, PolledSession
from enphase_local.scheduler.limits import ConcurrencyLimits
from enphase_local.scheduler.plan import PollPlan
from enphase_local.scheduler.state import BackoffPolicy
from enphase_local.scheduler.stats import TOTAL_SAMPLES, EventStats, GatewayStats, PollerStats
from enphase_local.session import GatewaySession

_LOGGER = logging.getLogger(__name__)

#: First polls are spread over this many seconds per gateway (capped by each gateway's
#: shortest live interval): a lone gateway is read at once, twenty or more over the interval.
_START_SPREAD_PER_GATEWAY_S = 0.5

#: A token as the session takes it: the JWT text, a parsed token, or a token source.
TokenLike: TypeAlias = str | Token | TokenSource


def _check_target(instance: GatewaySpec, attribute: attrs.Attribute[Any], value: object) -> None:
    del attribute, value
    if (instance.host is None) == (instance.session is None):
        raise ValueError("a GatewaySpec needs either a host or a session, not both")


@attrs.frozen(kw_only=True)
class GatewaySpec:
    """One gateway to poll, with its own plan or session options.

    Either ``host`` (and ``token``): the poller creates the session, and closes it at the
    end; or ``session``: a session you made, which you close.
    """

    #: ``envoy.local``, an address, or a URL (see :class:`~enphase_local.GatewaySession`).
    host: str | None = attrs.field(default=None, validator=_check_target)
    #: The access token or token source (None for legacy firmware).
    token: TokenLike | None = attrs.field(default=None, repr=False)
    #: A ready session instead of ``host`` and ``token``.
    session: PolledSession | None = attrs.field(default=None, eq=False)
    #: This gateway's plan (None: the poller's).
    plan: PollPlan | None = None
    #: More :class:`~enphase_local.GatewaySession` keyword arguments, e.g. ``fingerprint``.
    options: Mapping[str, Any] = attrs.field(factory=dict, hash=False)


#: What :class:`Poller` takes for each gateway.
GatewayInput: TypeAlias = PolledSession | GatewaySpec | tuple[str, TokenLike | None]


class _EventIterator:
    """``async for`` over a poller's buffer; ends once the poller is closed and drained."""

    __slots__ = ("_buffer",)

    def __init__(self, buffer: EventBuffer) -> None:
        self._buffer = buffer

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        event = await self._buffer.get()
        if event is None:
            raise StopAsyncIteration
        return event


class Poller:
    """Polls many gateways at once and turns what they answer into events.

    Use it as ``async with Poller(gateways) as poller: async for event in poller: ...``, or
    call :meth:`start` and :meth:`close` yourself. Events are
    :class:`~enphase_local.events.DataEvent`, :class:`~enphase_local.events.ErrorEvent`,
    :class:`~enphase_local.events.StateEvent` and
    :class:`~enphase_local.events.UnsupportedEvent` and, after a control write made through
    :meth:`control`, :class:`~enphase_local.events.ControlRevertedEvent`; callbacks can
    :meth:`subscribe` too.

    Politeness: one request in flight per gateway, ever; a poll that comes due while the
    gateway is still busy is skipped and counted, never queued; at most ``max_concurrent``
    requests in flight over all gateways, of which gateways in trouble may hold a quarter;
    when they are all taken, the next free one goes to the request whose deadline comes
    first (a live poll's grid point, or the next live poll of the gateway a configuration
    or 5-minute read would hold up), so bursts of those do not delay the live polls.

    Events the poller cannot hand over because a consumer is too slow are dropped from that
    consumer's buffer, oldest live data first, and counted in :meth:`stats`; publishing
    never waits. Leaving the context stops polling (requests in flight are cancelled),
    closes the sessions the poller created, gives coroutine callbacks ``drain_timeout_s``
    to finish what is buffered, and ends ``async for`` once its buffer is read; whatever
    was left undelivered is counted in ``stats().events.pending``.
    """

    def __init__(
        self,
        gateways: Iterable[GatewayInput],
        *,
        plan: PollPlan | None = None,
        max_concurrent: int = 64,
        buffer_size: int = 4096,
        backoff: BackoffPolicy | None = None,
        clock: Clock | None = None,
        session_options: Mapping[str, Any] | None = None,
        drain_timeout_s: float = 5.0,
        rng: random.Random | None = None,
        start_spread_s: float | None = None,
    ) -> None:
        """Describe what to poll; nothing is sent before :meth:`start`.

        Args:
            gateways: each a :class:`~enphase_local.GatewaySession` (yours to close), a
                ``(host, token)`` pair (token: JWT text, token source, or None for legacy
                firmware), or a :class:`GatewaySpec`.
            plan: what to poll and how often (default: :class:`PollPlan`'s defaults).
            max_concurrent: the cap on requests in flight over all gateways.
            buffer_size: events held for ``async for``; 0 when you only use callbacks.
            backoff: how failing gateways are retried.
            clock: the poller's time (tests and simulations; default: real time).
            session_options: keyword arguments for the sessions the poller creates.
            drain_timeout_s: how long closing waits for coroutine callbacks.
            rng: random source of the jitter (seed it for repeatable tests).
            start_spread_s: the seconds over which the gateways' first polls are spread
                (each within its shortest live interval); by default half a second per
                gateway, so one gateway is read at once and hundreds over the interval. 0
                starts them all together.
        """
        self._plan = plan or PollPlan()
        self._clock: Clock = clock or SystemClock()
        self._policy = backoff or BackoffPolicy()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._limits = ConcurrencyLimits(max_concurrent)
        self._drain_timeout_s = drain_timeout_s
        self._buffer = (
            EventBuffer(buffer_size, name="the poller's iterator") if buffer_size else None
        )
        self._subscribers: tuple[Subscription, ...] = ()
        self._published = 0
        self._unsubscribed: list[Subscription] = []
        self._retired_dropped = self._retired_errors = 0
        self._undelivered = 0
        self._owned: list[PolledSession] = []
        self._workers = self._make_workers(gateways, dict(session_options or {}), start_spread_s)
        self._tasks: list[asyncio.Task[None]] = []
        self._state = "new"

    def __repr__(self) -> str:
        return f"Poller({len(self._workers)} gateway(s), {self._state})"

    def _make_workers(
        self,
        gateways: Iterable[GatewayInput],
        session_options: dict[str, Any],
        start_spread_s: float | None,
    ) -> list[GatewayWorker]:
        workers: list[GatewayWorker] = []
        seen: set[str] = set()
        items = list(gateways)
        # The first polls of many gateways are spread out (the whole live interval for
        # hundreds); one gateway, or a handful, start at once.
        spread = (
            _START_SPREAD_PER_GATEWAY_S * len(items) if start_spread_s is None else start_spread_s
        )
        for item in items:
            session, plan = self._session_for(item, session_options)
            worker = GatewayWorker(
                session,
                plan or self._plan,
                clock=self._clock,
                limits=self._limits,
                policy=self._policy,
                rng=self._rng,
                publish=self._publish,
                start_spread_s=spread,
            )
            key = worker.host.lower()
            if key in seen:
                raise ValueError(f"gateway {worker.host} is listed twice")
            seen.add(key)
            listen = getattr(session, "add_control_listener", None)
            if listen is not None and getattr(session, "allow_control", False):
                worker.follow_controls(listen)
            workers.append(worker)
        return workers

    def _session_for(
        self, item: GatewayInput, session_options: dict[str, Any]
    ) -> tuple[PolledSession, PollPlan | None]:
        if isinstance(item, tuple):
            host, token = item
            item = GatewaySpec(host=host, token=token)
        if not isinstance(item, GatewaySpec):
            return item, None
        if item.session is not None:
            return item.session, item.plan
        assert item.host is not None  # checked by GatewaySpec
        session = GatewaySession(item.host, token=item.token, **{**session_options, **item.options})
        self._owned.append(session)
        return session, item.plan

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Start polling every gateway."""
        if self._state != "new":
            raise RuntimeError(f"this poller is {self._state}; a poller starts once")
        self._state = "running"
        loop = asyncio.get_running_loop()
        for subscriber in self._subscribers:
            subscriber.start()
        self._tasks = [
            loop.create_task(worker.run(), name=f"enphase-poll-{worker.host}")
            for worker in self._workers
        ]
        for task in self._tasks:
            task.add_done_callback(_report_crash)
        _LOGGER.info(
            "polling %d gateway(s), at most %d request(s) in flight",
            len(self._workers),
            self._limits.max_concurrent,
        )

    async def close(self) -> None:
        """Stop polling, close the sessions created here, and deliver what was fetched."""
        if self._state == "closed":
            return
        self._state = "closed"
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for worker in self._workers:
            worker.unfollow_controls()
        for result in await asyncio.gather(
            *(session.close() for session in self._owned), return_exceptions=True
        ):
            if isinstance(result, Exception):
                _LOGGER.warning("closing a gateway session failed: %s", result)
        left = await asyncio.gather(*(s.drain(self._drain_timeout_s) for s in self._subscribers))
        self._undelivered += sum(left)
        if self._buffer is not None:
            self._buffer.close()
        events = self._event_stats()
        if events.dropped or events.pending:
            _LOGGER.warning(
                "poller closed: %d event(s) dropped by slow consumers, %d not delivered",
                events.dropped,
                events.pending,
            )

    # -- events ----------------------------------------------------------------------------

    def __aiter__(self) -> _EventIterator:
        """Iterate over the events, from one task; ends after :meth:`close`."""
        if self._buffer is None:
            raise TypeError("this poller keeps no events for iteration (buffer_size=0)")
        if self._state == "new":
            raise RuntimeError("start the poller (async with Poller(...)) before iterating")
        return _EventIterator(self._buffer)

    def subscribe(
        self, callback: EventCallback, *, name: str | None = None, buffer_size: int = 4096
    ) -> Subscription:
        """Call ``callback(event)`` for every event from now on; returns the subscription.

        A coroutine function runs in its own task, fed from a buffer of ``buffer_size``
        events (oldest live data dropped first when it falls behind). A plain function is
        called at once and must not block. Exceptions are logged and counted, never raised.
        """
        subscription = Subscription(
            callback,
            name=name or str(getattr(callback, "__qualname__", None) or repr(callback)),
            buffer_size=buffer_size,
            on_cancel=self._unsubscribe,
        )
        self._subscribers = (*self._subscribers, subscription)
        if self._state == "running":
            subscription.start()
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers = tuple(s for s in self._subscribers if s is not subscription)
        # Keep it until its buffer is delivered (counted, drained at close), then only
        # its counts.
        self._unsubscribed = [s for s in self._unsubscribed if not self._retire(s)]
        self._unsubscribed.append(subscription)

    def _retire(self, subscription: Subscription) -> bool:
        if subscription.running:
            return False
        self._retired_dropped += subscription.dropped
        self._retired_errors += subscription.errors
        return True

    def _publish(self, event: Event) -> None:
        self._published += 1
        if self._buffer is not None:
            self._buffer.put(event)
        for subscriber in self._subscribers:
            subscriber.publish(event)

    # -- control writes --------------------------------------------------------------------

    async def control(self, host: str, control: str, /, **arguments: Any) -> ControlResult:
        """Make a control write at the gateway polled at ``host`` (or with that serial, once
        its ``/info`` was read) through its session (so it waits its turn behind the poll in
        flight), e.g.
        ``await poller.control("envoy.local", "set_reserve", percent=30)``.

        ``control`` is a :class:`~enphase_local.GatewaySession` write method; ``arguments``
        are its arguments (``wait_s`` too). The session must allow control
        (``session_options={"allow_control": True}``, or a session made so). Afterwards the
        poller publishes what was read back and watches it for ``plan.control_watch_s``,
        emitting a :class:`~enphase_local.events.ControlRevertedEvent` if it changes with no
        write of ours. Raises as the session's method does.
        """
        session = self._worker(host).session
        write = getattr(session, "control", None)
        if write is None:
            raise TypeError(f"gateway {host}: its session ({session!r}) makes no control writes")
        result: ControlResult = await write(control, **arguments)
        return result

    def report_control(self, host: str, result: ControlResult) -> None:
        """Tell the poller about a write made elsewhere (another session of yours), so that
        it watches what the write set as it does after :meth:`control` (``host`` as there)."""
        self._worker(host).watch_control(result)

    def _worker(self, host: str) -> GatewayWorker:
        """The worker of the gateway named by its host (as given or as events name it) or,
        once its ``/info`` was read, its serial."""
        for worker in self._workers:
            if host in (worker.host, worker.session.host):
                return worker
        for worker in self._workers:
            if worker.session.serial is not None and host == worker.session.serial:
                return worker
        raise KeyError(f"no gateway {host!r} is polled (hosts: {', '.join(self.hosts)})")

    # -- what is going on ------------------------------------------------------------------

    @property
    def sessions(self) -> tuple[PolledSession, ...]:
        """The gateway sessions, in the order given."""
        return tuple(worker.session for worker in self._workers)

    @property
    def hosts(self) -> tuple[str, ...]:
        """The gateways as events name them (``host``, or ``host:port`` if a port was given)."""
        return tuple(worker.host for worker in self._workers)

    def state(self, host: str) -> GatewayState:
        """The state of the gateway polled at ``host`` (or with that serial; ``KeyError`` if
        none)."""
        return self._worker(host).health.state

    def stats(self) -> PollerStats:
        """Counts per gateway and in total: polls, successes, failures, skipped, latency..."""
        workers = self._workers
        gateways = tuple(worker.stats() for worker in workers)
        each = max(16, TOTAL_SAMPLES // max(1, len(workers)))
        return PollerStats.combine(
            gateways,
            latencies=(x for worker in workers for x in worker.latency_samples(each)),
            lateness=(x for worker in workers for x in worker.lateness_samples(each)),
            events=self._event_stats(),
        )

    def gateway_stats(self, host: str) -> GatewayStats:
        """The counters of the gateway polled at ``host`` (``KeyError`` if none)."""
        for worker in self._workers:
            if host in (worker.host, worker.session.host):
                return worker.stats()
        raise KeyError(host)

    def _event_stats(self) -> EventStats:
        buffer, subscribers = self._buffer, (*self._subscribers, *self._unsubscribed)
        return EventStats(
            published=self._published,
            dropped=(buffer.dropped if buffer is not None else 0)
            + self._retired_dropped
            + sum(s.dropped for s in subscribers),
            pending=(len(buffer) if buffer is not None else 0)
            + sum(s.pending for s in subscribers)
            + self._undelivered,
            callback_errors=self._retired_errors + sum(s.errors for s in subscribers),
        )


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _LOGGER.error("%s stopped: %r", task.get_name(), task.exception())
