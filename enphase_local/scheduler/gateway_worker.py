"""One gateway's poll loop: a single task walking a small heap of timed jobs.

A worker per gateway (not a task per endpoint) keeps the cost per gateway small and makes
politeness structural: the worker runs one job at a time, so at most one request is ever in
flight at its gateway, and nothing queues up behind a slow request. A live poll that comes
due while the worker is still busy is *skipped* (counted), and the next one keeps the plan's
rhythm. While the gateway is backing off, due polls are *deferred* (counted) until the pause
ends; then ``/info`` goes first (a reboot may have brought new firmware).

Requests across all gateways share a global cap
(:class:`~enphase_local.scheduler.limits.ConcurrencyLimits`), served earliest deadline
first: a live poll's is its grid point, another request's the gateway's next live poll,
which it holds up. A gateway in trouble may hold only a quarter of the cap, so gateways
hanging on timeouts cannot starve the healthy ones.

After a control write made through the gateway's session (the worker listens to it), the
worker watches what the write set: it reads the endpoint that shows it every
``control_watch_interval_s`` for ``control_watch_s``, and checks every other reading of it
too, and emits a :class:`~enphase_local.events.ControlRevertedEvent` when the value changes
with no write of ours in between.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import heapq
import itertools
import logging
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Protocol, TypeVar

import attrs

from enphase_local import endpoints as ep
from enphase_local.control import (
    CONTROLS,
    ControlListener,
    ControlPolicy,
    ControlResult,
    ControlSpec,
    describe,
)
from enphase_local.control import matches as control_matches
from enphase_local.endpoints import Endpoint
from enphase_local.errors import (
    AuthenticationError,
    EndpointForbiddenError,
    EnphaseError,
    NotSupportedError,
)
from enphase_local.events import (
    ControlRevertedEvent,
    DataEvent,
    ErrorEvent,
    Event,
    GatewayState,
    StateEvent,
    UnsupportedEvent,
)
from enphase_local.models import Info, Inverter, LiveData, LiveStreamState, Meter, MeterState
from enphase_local.scheduler.clock import Clock
from enphase_local.scheduler.limits import ConcurrencyLimits
from enphase_local.scheduler.plan import PollPlan
from enphase_local.scheduler.reports import ReportTracker
from enphase_local.scheduler.state import BackoffPolicy, GatewayHealth, Transition
from enphase_local.scheduler.stats import WINDOW, GatewayStats, Percentiles, Window

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

#: The name events and statistics use for the live-stream switch (``POST /ivp/livedata/stream``).
LIVE_STREAM: Final = "live_stream"
#: The job that reads what control writes set, while it is watched.
CONTROL_WATCH: Final = "control_watch"
#: Endpoints that have nothing to say on a gateway without CT meters.
METER_ENDPOINTS: Final = frozenset(
    {ep.METER_READINGS.name, ep.CONSUMPTION_REPORTS.name, ep.GRID_READINGS.name}
)
#: Why those are not polled there.
NO_METERS: Final = "no CT meter is enabled in /ivp/meters"
#: After a failed ``/info`` or configuration read (gateway not paused), try again after this.
_CONFIG_RETRY_S: Final = 60.0
#: After a failed live-stream switch, try again after this.
_STREAM_RETRY_S: Final = 60.0
#: A live-data answer saying the stream is off switches it on again, at most this often.
_STREAM_RECHECK_S: Final = 60.0
#: The first read of the 5-minute data is spread over at most this long after the start,
#: seconds (the first live polls over at most the shortest live interval).
_PERIODIC_SPREAD_S: Final = 60.0
#: Live endpoints read this rarely (seconds) or more rarely start after the first minute.
_LATE_START_S: Final = 900.0
#: Longest error text kept in a state-change reason.
_REASON_CHARS: Final = 200
#: Endpoints by their session method name.
_BY_NAME: Final[Mapping[str, Endpoint[Any]]] = {e.name: e for e in ep.ENDPOINTS}


class PolledSession(Protocol):
    """What a worker needs of a gateway session (:class:`~enphase_local.GatewaySession`)."""

    @property
    def host(self) -> str:
        """The gateway's host as configured."""
        ...

    @property
    def base_url(self) -> str:
        """The URL prefix requests go to, e.g. ``https://127.0.0.1:8443``."""
        ...

    @property
    def retried(self) -> int:
        """GETs sent again after a transient failure, since the session was made."""
        ...

    @property
    def serial(self) -> str | None:
        """The serial, once ``/info`` was read."""
        ...

    @property
    def firmware(self) -> str | None:
        """The firmware version, once ``/info`` was read."""
        ...

    async def info(self) -> Info:
        """Read ``/info``."""
        ...

    async def fetch(self, endpoint: Endpoint[T]) -> T:
        """Read any endpoint."""
        ...

    async def enable_live_stream(self) -> LiveStreamState:
        """Switch live streaming on."""
        ...

    async def close(self) -> None:
        """Release the session."""
        ...


def gateway_label(session: PolledSession) -> str:
    """``envoy.local``, ``192.168.1.20`` or, when a port was given, ``127.0.0.1:8443``."""
    return session.base_url.split("://", 1)[1].rstrip("/")


class _Kind(enum.IntEnum):
    """What a job does; also the order of jobs due at the same moment."""

    INFO = 0
    CONFIG = 1
    STREAM = 2
    LIVE = 3
    PERIODIC = 4
    WATCH = 5


class _Job:
    """One timed duty of a worker."""

    __slots__ = ("call", "due", "interval", "kind", "name", "queued")

    def __init__(
        self,
        kind: _Kind,
        name: str,
        *,
        due: float,
        call: Callable[[], Awaitable[Any]] | None = None,
        interval: float = 0.0,
    ) -> None:
        self.kind = kind
        self.name = name
        self.call = call
        self.due = due
        self.interval = interval
        self.queued = False

    def __repr__(self) -> str:
        return f"_Job({self.kind.name}, {self.name}, due={self.due:.3f})"


@attrs.define
class _Watch:
    """What a control write set, watched until ``until`` (the worker's monotonic time)."""

    spec: ControlSpec
    result: ControlResult
    #: The keys of the result that are watched.
    keys: tuple[str, ...]
    until: float
    #: When the write was confirmed, UTC.
    written_at: datetime


class _Failed:
    """The outcome of a request that did not yield a model (already accounted for)."""

    __slots__ = ()


FAILED: Final = _Failed()


def _summary(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}"
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."


def _without_time(info: Info) -> Info:
    return attrs.evolve(info, reported_at=None)


class GatewayWorker:
    """Polls one gateway according to a plan, publishing events; run it as one task."""

    def __init__(
        self,
        session: PolledSession,
        plan: PollPlan,
        *,
        clock: Clock,
        limits: ConcurrencyLimits,
        policy: BackoffPolicy,
        rng: random.Random,
        publish: Callable[[Event], None],
        start_spread_s: float = math.inf,
    ) -> None:
        self.session = session
        #: How widely the first polls are spread after the start, seconds, at most over the
        #: shortest live interval (5-minute data: a minute); the poller narrows it for a few
        #: gateways.
        self._start_spread_s = start_spread_s
        #: The gateway as events and statistics name it: host, with the port if one was given.
        self.host = gateway_label(session)
        self.plan = plan
        self._clock = clock
        self._limits = limits
        self._rng = rng
        self._publish = publish
        self.health = GatewayHealth(policy, rng)
        self._reports = ReportTracker(
            cycle_s=plan.report_interval_s,
            margin_s=plan.report_margin_s,
            retry_s=plan.report_retry_s,
            retries=plan.report_retries,
        )
        self._heap: list[tuple[float, int, int, _Job]] = []
        self._order = itertools.count()
        self._jobs: dict[str, _Job] = {}
        self._unsupported: dict[str, str] = {}
        #: Configuration endpoints still to read in this round, one per run of the job.
        self._config_pending: list[str] = []
        self._last: dict[str, Any] = {}
        self._firmware: str | None = None
        self._skew_s = 0.0
        self._stream_enabled_at = -math.inf
        self._fetch: dict[str, Callable[[], Awaitable[Any]]] = {
            name: functools.partial(session.fetch, _BY_NAME[name])
            for name in (*plan.live, *plan.periodic, *plan.config, *plan.fallback)
        }
        self._last_latency = 0.0
        self._latency = Window()
        self._lateness = Window()
        self.polls = self.successes = self.failures = 0
        self.skipped = self.deferred = self.internal_errors = 0
        self._last_success: float | None = None
        self._last_error: str | None = None
        #: What control writes set, by (endpoint, subject, keys).
        self._watches: dict[tuple[str, str, tuple[str, ...]], _Watch] = {}
        #: Control writes of ours under way (nothing is judged a revert meanwhile).
        self._writing = 0
        #: Endpoint -> until when (monotonic) a write of ours disturbs its values.
        self._disturbed: dict[str, float] = {}
        self._watch_job = _Job(_Kind.WATCH, CONTROL_WATCH, due=math.inf)
        self._stop_following: Callable[[], None] | None = None
        self._wake: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"GatewayWorker({self.host}, {self.health.state.value})"

    # -- control writes ------------------------------------------------------------------

    def follow_controls(
        self, add_listener: Callable[[ControlListener], Callable[[], None]]
    ) -> None:
        """Listen to the session's control writes (``add_listener`` is the session's
        ``add_control_listener``); :meth:`unfollow_controls` stops."""
        self.unfollow_controls()
        self._stop_following = add_listener(self)

    def unfollow_controls(self) -> None:
        """Stop listening to the session's control writes."""
        stop, self._stop_following = self._stop_following, None
        if stop is not None:
            stop()

    def control_started(self, control: str) -> None:
        """A write of ours is being sent: no change is a revert until it is over."""
        del control
        self._writing += 1

    def control_finished(
        self, control: str, result: ControlResult | None, model: object | None
    ) -> None:
        """A write of ours is over: publish what it read back, and watch what it set."""
        self._writing = max(0, self._writing - 1)
        spec = CONTROLS.get(control)
        if spec is None:
            return
        if spec.disturbs is not None:
            name, seconds = spec.disturbs
            # As long as the session's own read-back distrusts the endpoint, when it says.
            policy = getattr(self.session, "control_policy", None)
            if isinstance(policy, ControlPolicy):
                seconds = policy.settle_s
            until = self._clock.monotonic() + seconds
            self._disturbed[name] = max(self._disturbed.get(name, -math.inf), until)
        if model is not None:
            self._emit_if_changed(spec.read.name, model)
        if result is not None:
            self.watch_control(result)

    def watch_control(self, result: ControlResult) -> None:
        """Watch what a write set (when it applied); a write's result ends the watches of
        the same values before it."""
        spec = CONTROLS.get(result.control)
        if spec is None:
            raise ValueError(f"unknown control {result.control!r}")
        subject, keys = spec.subject(result.requested), spec.watched_keys(result.requested)
        for key in [
            k
            for k in self._watches
            if k[0] == spec.read.name and k[1] == subject and set(k[2]) & set(keys)
        ]:
            del self._watches[key]
        if not result.applied:
            return
        now = self._clock.monotonic()
        self._watches[(spec.read.name, subject, keys)] = _Watch(
            spec=spec,
            result=result,
            keys=keys,
            until=now + self.plan.control_watch_s,
            written_at=self._utc_now(),
        )
        job = self._watch_job
        due = now + self.plan.control_watch_interval_s
        if not job.queued:
            self._push(job, due)
        elif job.due > due:
            self._move(job, due)
        self._wake_up()

    def _check_watches(self, name: str, model: object) -> None:
        """Compare a reading of ``name`` with what writes of ours set there."""
        now = self._clock.monotonic()
        if self._writing or self._disturbed.get(name, -math.inf) > now:
            return
        for key, watch in list(self._watches.items()):
            if key[0] != name:
                continue
            if now >= watch.until:
                del self._watches[key]
                continue
            result = watch.result
            shown = watch.spec.observe(model, result.requested)
            seen = {k: shown.get(k) for k in watch.keys}
            expected = {k: result.observed.get(k) for k in watch.keys}
            if control_matches(seen, expected):
                continue
            del self._watches[key]
            self._publish_revert(watch, name, expected, seen)

    def _publish_revert(
        self, watch: _Watch, name: str, expected: dict[str, Any], seen: dict[str, Any]
    ) -> None:
        at = self._utc_now()
        age = (at - watch.written_at).total_seconds()
        reason = (
            f"{describe(seen)} where {watch.result.control} set {describe(expected)} "
            f"{age:.0f} s before, with no write of ours since"
        )
        _LOGGER.warning("gateway %s: %s", self.host, reason)
        self._publish(
            ControlRevertedEvent(
                serial=self.session.serial,
                host=self.host,
                control=watch.result.control,
                endpoint=name,
                expected=expected,
                observed=seen,
                written_at=watch.written_at,
                at=at,
                reason=reason,
            )
        )

    async def _run_watch(self) -> float | None:
        """Read each endpoint a write of ours is watched on (the readings are checked as
        every reading is)."""
        now = self._clock.monotonic()
        for key, watch in list(self._watches.items()):
            if now >= watch.until:
                del self._watches[key]
        for name in sorted({key[0] for key in self._watches}):
            fetch = functools.partial(self.session.fetch, _BY_NAME[name])
            model = await self._request(name, fetch)
            if model is not FAILED:
                self._emit_if_changed(name, model)
        if not self._watches:
            return None
        return self._clock.monotonic() + self.plan.control_watch_interval_s

    def _wake_up(self) -> None:
        """Wake the loop from its sleep, so that a job added from outside is seen."""
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def _sleep(self, seconds: float) -> bool:
        """Sleep on the clock; True when woken early (a worker that follows control writes
        is, when a write adds a job)."""
        if self._stop_following is None:
            await self._clock.sleep(seconds)
            return False
        wake = self._wake = asyncio.get_running_loop().create_future()
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait((sleeper, wake), return_when=asyncio.FIRST_COMPLETED)
            return not sleeper.done()
        finally:
            self._wake = None
            sleeper.cancel()

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll until cancelled."""
        self._plan_jobs(self._clock.monotonic())
        while True:
            job = await self._next_job()
            try:
                due = await self._run(job)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.internal_errors += 1
                _LOGGER.exception("gateway %s: unexpected error in the poller", self.host)
                due = self._clock.monotonic() + _CONFIG_RETRY_S
            if due is not None and not self._retired(job):
                self._push(job, due)

    def _plan_jobs(self, now: float) -> None:
        plan, session = self.plan, self.session
        live = sorted(plan.live.items(), key=lambda item: (item[1], item[0]))
        shortest = live[0][1] if live else 10.0
        spread = self._start_spread_s
        # Spread the gateways' starts over the cycle (a few gateways start at once).
        start = now + self._rng.uniform(0.0, min(shortest, spread))
        self._add(_Job(_Kind.INFO, ep.INFO.name, due=start, call=session.info))
        self._add(_Job(_Kind.CONFIG, "config", due=start))
        if ep.LIVE_DATA.name in plan.live:
            self._add(_Job(_Kind.STREAM, LIVE_STREAM, due=start, call=session.enable_live_stream))
        # Endpoints read every 15 minutes or less often wait out the start's configuration
        # round (the state of charge in live data is wanted at once), then start at a moment
        # of this gateway's own, spread like the starts but over up to the shortest of their
        # intervals: thousands of gateways would otherwise read them all within one
        # meter-readings interval, at start and again at each of their ticks, and that burst
        # holds up every live poll queued behind it for a slot of the global cap.
        rare = [interval for _, interval in live if interval >= _LATE_START_S]
        rare_start = (
            _PERIODIC_SPREAD_S + self._rng.uniform(0.0, min(rare[0], spread)) if rare else 0.0
        )
        for index, (name, interval) in enumerate(live):
            later = rare_start if interval >= _LATE_START_S else 0.0
            self._add(
                _Job(
                    _Kind.LIVE,
                    name,
                    due=start + later + index * shortest / len(live),
                    call=self._fetch[name],
                    interval=interval,
                )
            )
        for name, (interval, _) in plan.fallback.items():
            # Whether the faster endpoints exist is known after the first rounds.
            self._add(
                _Job(
                    _Kind.LIVE,
                    name,
                    due=start + _PERIODIC_SPREAD_S,
                    call=self._fetch[name],
                    interval=interval,
                )
            )
        if plan.periodic:
            # 5-minute data can wait a little: spreading the first read over a minute keeps
            # a poller of many gateways from sending everything in its first seconds.
            first = start + self._rng.uniform(0.0, min(_PERIODIC_SPREAD_S, spread))
            self._add(_Job(_Kind.PERIODIC, "periodic", due=first))

    def _add(self, job: _Job) -> None:
        self._jobs[job.name] = job
        self._push(job, job.due)

    def _push(self, job: _Job, due: float) -> None:
        job.due = due
        job.queued = True
        heapq.heappush(self._heap, (due, job.kind, next(self._order), job))

    def _retired(self, job: _Job) -> bool:
        """Whether ``job`` stops for now (its endpoint is not served)."""
        if job.name in self._unsupported:
            return True
        return job.kind is _Kind.STREAM and ep.LIVE_DATA.name in self._unsupported

    async def _next_job(self) -> _Job:
        clock, heap = self._clock, self._heap
        while True:
            now = clock.monotonic()
            if self.health.paused(now):
                if not await self._sleep(self.health.resume_at - now):
                    self._resume(clock.monotonic())
                continue
            due = heap[0][0]
            if due > now:
                await self._sleep(due - now)
                continue
            job = heapq.heappop(heap)[3]
            job.queued = False
            if self._retired(job):
                continue
            if job.kind is _Kind.LIVE:
                late = now - job.due
                if late >= job.interval:
                    missed = int(late // job.interval)
                    self.skipped += missed
                    job.due += missed * job.interval
            return job

    def _resume(self, now: float) -> None:
        """The pause is over: ``/info`` and overdue jobs run now, live polls at their next
        tick; the ticks that passed are counted as deferred."""
        for _, _, _, job in self._heap:
            if job.kind is _Kind.LIVE and job.due < now:
                # Keep the live polls on their own ticks, so they stay spread out.
                passed = int((now - job.due) // job.interval) + 1
                self.deferred += passed
                job.due += passed * job.interval
            elif job.kind is _Kind.INFO or job.due < now:
                job.due = now  # at equal times, jobs run in _Kind order: /info first
        self._reheap()

    def _reheap(self) -> None:
        heap = self._heap  # rebuilt in place: the loop holds a reference to it
        heap[:] = [(job.due, job.kind, order, job) for _, _, order, job in heap]
        heapq.heapify(heap)

    def _move(self, job: _Job, due: float) -> None:
        if job.queued:
            job.due = due
            self._reheap()

    async def _run(self, job: _Job) -> float | None:
        """Run ``job``; return when it is due next (None: not again for now)."""
        if job.kind is _Kind.LIVE:
            return await self._run_live(job)
        if job.kind is _Kind.PERIODIC:
            return await self._run_periodic()
        if job.kind is _Kind.INFO:
            return await self._run_info(job)
        if job.kind is _Kind.CONFIG:
            return await self._run_config()
        if job.kind is _Kind.WATCH:
            return await self._run_watch()
        return await self._run_stream(job)

    # -- jobs ----------------------------------------------------------------------------

    async def _run_live(self, job: _Job) -> float | None:
        assert job.call is not None
        fallback = self.plan.fallback.get(job.name)
        if fallback is not None and not all(n in self._unsupported for n in fallback[1]):
            return job.due + job.interval  # the faster endpoints serve (or may): ask later
        model = await self._request(job.name, job.call, due=job.due)
        if model is FAILED:
            return None if job.name in self._unsupported else job.due + job.interval
        self._emit_data(job.name, model)
        if isinstance(model, LiveData):
            self._check_stream(model)
        return job.due + job.interval

    async def _run_info(self, job: _Job) -> float:
        assert job.call is not None
        info = await self._request(job.name, job.call)
        now = self._clock.monotonic()
        if not isinstance(info, Info):
            return now + min(_CONFIG_RETRY_S, self.plan.config_interval_s)
        if info.reported_at is not None:
            self._skew_s = info.reported_at.timestamp() - self._clock.time()
        previous, self._firmware = self._firmware, info.firmware
        if previous is not None and previous != info.firmware:
            _LOGGER.info(
                "gateway %s: firmware %s -> %s; probing every endpoint again",
                self.host,
                previous,
                info.firmware,
            )
            self._reprobe(now)
        last = self._last.get(job.name)
        # Kept even when unchanged: the session holds this same object, so one copy of each
        # gateway's /info stays alive, not two.
        self._last[job.name] = info
        if last is None or _without_time(last) != _without_time(info):
            self._emit_data(job.name, info)
        return now + self.plan.config_interval_s

    async def _run_config(self) -> float:
        """Read the next configuration endpoint of the round; one per run, so that live
        polls due in between are not held up by a round of many endpoints."""
        now = self._clock.monotonic()
        if not self._config_pending:
            self._config_pending = list(self.plan.config)
        while self._config_pending and self._config_pending[0] in self._unsupported:
            self._config_pending.pop(0)
        if not self._config_pending:
            return now + self.plan.config_interval_s
        name = self._config_pending[0]
        model = await self._request(name, self._fetch[name])
        now = self._clock.monotonic()
        if model is FAILED and name not in self._unsupported:
            return now + min(_CONFIG_RETRY_S, self.plan.config_interval_s)
        self._config_pending.pop(0)
        if model is not FAILED:
            self._emit_if_changed(name, model)
            if name == ep.METERS.name:
                self._apply_meters(model)
        return now if self._config_pending else now + self.plan.config_interval_s

    async def _run_stream(self, job: _Job) -> float | None:
        assert job.call is not None
        state = await self._request(job.name, job.call)
        now = self._clock.monotonic()
        if state is FAILED:
            return None if job.name in self._unsupported else now + _STREAM_RETRY_S
        self._stream_enabled_at = now
        return now + self.plan.live_stream_interval_s

    async def _run_periodic(self) -> float | None:
        names = [n for n in self.plan.periodic if n not in self._unsupported]
        if not names:
            return None
        probe, rest = names[0], names[1:]
        model = await self._request(probe, self._fetch[probe])
        now = self._clock.monotonic()
        if model is FAILED:
            return now if probe in self._unsupported else now + self.plan.report_retry_s
        previous = self._last.get(probe)
        changed = self._emit_if_changed(probe, model)
        if probe == ep.INVERTERS.name:
            due = self._reports.observe(
                now,
                changed=changed,
                reports=self._report_times(model),
                previous=self._report_times(previous) if previous is not None else None,
            )
        else:
            due = self._reports.observe(now, changed=changed)
        if changed:
            for name in rest:
                result = await self._request(name, self._fetch[name])
                if result is FAILED:
                    if name in self._unsupported:
                        continue
                    break
                self._emit_if_changed(name, result)
        return due

    # -- what the answers mean -------------------------------------------------------------

    def _report_times(self, inverters: tuple[Inverter, ...]) -> Mapping[str, float]:
        """Each inverter's last report in this clock's monotonic seconds."""
        offset = self._clock.time() - self._clock.monotonic() + self._skew_s
        return {i.serial_number: i.last_report_at.timestamp() - offset for i in inverters}

    def _apply_meters(self, meters: tuple[Meter, ...]) -> None:
        metered = any(m.state is MeterState.ENABLED for m in meters)
        scheduled = set(self.plan.live) | set(self.plan.periodic)
        for name in sorted(METER_ENDPOINTS & scheduled):
            if not metered:
                self._mark_unsupported(name, NO_METERS)
            elif self._unsupported.get(name) == NO_METERS:
                self._restore(name)

    def _check_stream(self, live: LiveData) -> None:
        job = self._jobs.get(LIVE_STREAM)
        now = self._clock.monotonic()
        if (
            job is not None
            and live.connection.stream_state is LiveStreamState.DISABLED
            and now - self._stream_enabled_at >= _STREAM_RECHECK_S
        ):
            self._stream_enabled_at = now
            self._move(job, now)

    def _reprobe(self, now: float) -> None:
        """New firmware: every endpoint may have come or gone; read the configuration again."""
        for name in list(self._unsupported):
            self._restore(name)
        for name in self.plan.config:
            self._last.pop(name, None)
        self._config_pending = list(self.plan.config)
        config = self._jobs["config"]
        self._move(config, now)

    def _restore(self, name: str) -> None:
        self._unsupported.pop(name, None)
        now = self._clock.monotonic()
        for job in self._jobs.values():
            if job.queued or job.kind in (_Kind.INFO, _Kind.CONFIG):
                continue
            if (
                job.name == name
                or (job.kind is _Kind.PERIODIC and name in self.plan.periodic)
                or (job.kind is _Kind.STREAM and name == ep.LIVE_DATA.name)
            ):
                self._push(job, now)

    # -- requests and their outcome -----------------------------------------------------------

    async def _request(
        self, name: str, call: Callable[[], Awaitable[Any]], *, due: float | None = None
    ) -> Any:
        """Send one request under the global cap; return its model or :data:`FAILED`."""
        clock = self._clock
        troubled = self.health.state not in (GatewayState.ONLINE, GatewayState.STARTING)
        error: EnphaseError | None = None
        await self._limits.acquire(troubled, deadline=self._next_live() if due is None else due)
        try:
            started = clock.monotonic()
            if due is not None:
                self._lateness.add(max(0.0, started - due))
            self.polls += 1
            try:
                model = await call()
            except EnphaseError as err:
                error = err
            latency = clock.monotonic() - started
        finally:
            self._limits.release(troubled)
        # The outcome is handled (and published) without holding a slot of the global cap.
        if error is not None:
            self._failed(name, error, latency)
            return FAILED
        self.successes += 1
        self._latency.add(latency)
        self._last_success = clock.time()
        self._last_latency = latency
        if name != ep.INFO.name:
            self._transition(self.health.success())
        if self._watches:
            self._check_watches(name, model)
        return model

    def _next_live(self) -> float:
        """When this gateway's next live poll is due: a request of another kind holds it up
        from then on (infinity without one; a fallback is read only where nothing faster
        is, so it does not count)."""
        live = self.plan.live
        return min(
            (job.due for _, _, _, job in self._heap if job.kind is _Kind.LIVE and job.name in live),
            default=math.inf,
        )

    def _failed(self, name: str, err: EnphaseError, latency: float) -> None:
        if isinstance(err, NotSupportedError) and name != ep.INFO.name:
            self._mark_unsupported(name, str(err))
            return
        self.failures += 1
        self._last_error = _summary(err)
        self._publish(
            ErrorEvent(
                serial=self.session.serial,
                host=self.host,
                endpoint=name,
                error=err,
                at=self._utc_now(),
                latency_s=latency,
            )
        )
        now = self._clock.monotonic()
        if not isinstance(err, AuthenticationError):
            self._transition(self.health.failure(now, _summary(err)))
            return
        if isinstance(err, EndpointForbiddenError):
            # The session re-checked the token and the gateway accepted it: this endpoint is
            # beyond the token's role. Any other refusal (a rejected, expired or missing
            # token, an unusable token source) is the gateway's auth failing.
            self._mark_unsupported(name, f"refused with a token that the gateway accepts ({err})")
            return
        self._transition(self.health.auth_failure(now, _summary(err)))

    def _mark_unsupported(self, name: str, reason: str) -> None:
        if name in self._unsupported:
            return
        self._unsupported[name] = reason
        self._last.pop(name, None)
        _LOGGER.info("gateway %s: %s is not polled: %s", self.host, name, reason)
        self._publish(
            UnsupportedEvent(
                serial=self.session.serial,
                host=self.host,
                endpoint=name,
                at=self._utc_now(),
                reason=reason,
            )
        )

    def _transition(self, change: Transition | None) -> None:
        if change is None:
            return
        reason = change.reason
        now = self._clock.monotonic()
        if self.health.paused(now):
            reason = f"{reason}; next attempt in {self.health.resume_at - now:.0f} s"
        log = _LOGGER.info if change.state is GatewayState.ONLINE else _LOGGER.warning
        log(
            "gateway %s: %s -> %s (%s)",
            self.host,
            change.previous.value,
            change.state.value,
            reason,
        )
        self._publish(
            StateEvent(
                serial=self.session.serial,
                host=self.host,
                previous=change.previous,
                state=change.state,
                at=self._utc_now(),
                reason=reason,
            )
        )

    def _emit_if_changed(self, name: str, model: object) -> bool:
        """Publish ``model`` unless it equals the last one published; return whether it did."""
        if self._last.get(name) == model:
            return False
        self._last[name] = model
        self._emit_data(name, model)
        return True

    def _emit_data(self, name: str, model: object) -> None:
        self._publish(
            DataEvent(
                serial=self.session.serial,
                host=self.host,
                endpoint=name,
                model=model,
                fetched_at=self._utc_now(),
                latency_s=self._last_latency,
            )
        )

    def _utc_now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.time(), UTC)

    # -- statistics ------------------------------------------------------------------------

    def stats(self) -> GatewayStats:
        """A snapshot of this gateway's counters."""
        return GatewayStats(
            host=self.host,
            serial=self.session.serial,
            firmware=self._firmware,
            state=self.health.state,
            polls=self.polls,
            successes=self.successes,
            failures=self.failures,
            skipped=self.skipped,
            deferred=self.deferred,
            unsupported=tuple(sorted(self._unsupported)),
            latency=Percentiles.of(self._latency.values()),
            lateness=Percentiles.of(self._lateness.values()),
            last_success_at=(
                None
                if self._last_success is None
                else datetime.fromtimestamp(self._last_success, UTC)
            ),
            last_error=self._last_error,
            internal_errors=self.internal_errors,
            retried=self.session.retried,
        )

    def latency_samples(self, count: int = WINDOW) -> list[float]:
        """The ``count`` most recent latencies, seconds."""
        return self._latency.recent(count)

    def lateness_samples(self, count: int = WINDOW) -> list[float]:
        """The ``count`` most recent lateness values of live polls, seconds."""
        return self._lateness.recent(count)
