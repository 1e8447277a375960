"""Fault soak: the Poller and the SQLite sink against many simulated gateways under attack.

``--gateways`` simulated gateways (a mix of profiles, legacy ones included) run on loopback
with a fast clock (``--speed`` simulated seconds per real second), in a child process
(``benchmarks.soak_sim``, driven through the simulator's control API) so that this process
holds only the client: the poller, its sessions and token managers, and the sinks
(``--in-process`` runs them here instead). The poller follows the simulated clock, so its
default plan is used as is. Most token-using gateways get short-lived tokens from a
:class:`~enphase_local.auth.sources.CallbackTokenSource` (each one due for renewal about ten
real seconds after it is minted), a few (``--cloud-gateways``) get theirs from the
simulator's cloud through a :class:`~enphase_local.auth.sources.CloudTokenSource`. Every
event goes to a :class:`~enphase_local.sinks.SqliteSink`.

After a warm-up, rounds of faults hit the gateways until 20 s before the end of
``--duration`` (left for recovery; the last round may run a little over), each fault on its
own gateway: a burst of openresty 504s, a hang, bodies cut short inside a well-formed reply,
a connection dropped mid-body (meter readings: the session retries at once), HTML bodies, a
reboot, every token revoked, the nightly window, a cloud outage while a gateway needs a new
token (its tokens revoked while the cloud's ``/tokens`` answers 503), and a stalled sink (the
database locked from another connection). Token expiry runs all along: each renewal of a
short-lived token of a metered gateway counts as one expiry handled. Gateway faults hit
metered gateways only: their readings change at every poll, so data events (the poller
publishes only what changed) show recovery at once.

A fault is *detected* when the client shows trouble with its gateway (an error event, a
state other than online, a GET its session retried after a transient failure: the session's
DEBUG record, from the gateway's poll task) or the gateway refused a request for its token or
saw it abandoned; for the sink, when events wait while the database is locked. It is
*recovered* at the first data event after the fault was cleared and detected (for the sink:
when everything submitted so far is written); the time to recover counts from the moment the
fault was cleared (for a dropped connection: when the gateway had served the cut).

Printed at the end, and written with ``--json FILE``: per fault kind, injected, detected,
recovered, median and worst time to recover (real seconds); overall, polls attempted,
succeeded and skipped for politeness, data events lost between the poller and the SQLite
file (delivered data events minus ``data`` rows after close: must be 0), the most requests
ever in flight at one gateway (must be 1), unhandled exceptions (asyncio's exception
handler plus ERROR records of the library's loggers: must be 0), faults not recovered (must
be 0), and memory (:mod:`benchmarks.soak_memory`): RSS after the warm-up and at the end, its
least-squares slope over the second half in KiB/min (must stay within
``MAX_GROWTH_KIB_PER_MIN`` when the second half lasts five minutes or more), and the object
types that grew. ``--trace-allocations`` also names the allocation sites that grew
(tracemalloc: slower, and the trend is then not judged). The exit status is 1 when an
invariant fails.

Gateway faults also hit gateways that renew short-lived tokens (``--spare-renewing`` aims
them at the cloud gateways only, whose tokens live a year): a reboot or an HTML page meeting a
renewal's ``/auth/check_jwt`` once rejected the good new token and left the gateway
``auth_failed`` for tens of seconds; since that was fixed, every such fault recovers.

Loopback only. A short run (40 s) also runs in ``make test`` (``tests/soak``). The long
run, before each release::

    python -m benchmarks.soak --gateways 50 --duration 1800 --json soak.json
"""

from __future__ import annotations

import argparse
import array
import asyncio
import bisect
import collections
import contextlib
import datetime as dt
import json
import logging
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from benchmarks.soak_memory import MemoryWatch, growth_problem
from benchmarks.soak_sim import (
    CloudInfo,
    Counters,
    GatewayInfo,
    LocalGateways,
    RemoteGateways,
    SimGateways,
    Totals,
)
from enphase_local.auth.cloud import EnphaseCloud
from enphase_local.auth.manager import TokenManager
from enphase_local.auth.sources import CallbackTokenSource, CloudTokenSource
from enphase_local.endpoints import METER_READINGS
from enphase_local.events import DataEvent, ErrorEvent, Event, GatewayState, StateEvent
from enphase_local.scheduler import BackoffPolicy, GatewaySpec, Poller, ScaledClock
from enphase_local.session import GatewaySession
from enphase_local.simulator import Simulation
from enphase_local.simulator.faults import NightlyWindow
from enphase_local.sinks import SinkSet, SqliteSink
from enphase_local.sinks.base import Sink

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
#: Profiles, repeated over the gateways.
PROFILES = ("metered", "three-phase", "standard", "battery", "metered", "legacy")
#: Short-lived tokens (real seconds, as the gateways check them): due for renewal about
#: 10 s after minting, expired for the client (one-minute skew) about 20 s after.
TOKEN_LIFETIME_S = 140.0
TOKEN_AGE_S = 60.0
#: The fault kinds, in the order of a round.
FAULT_KINDS = (
    "504 burst",
    "hang",
    "truncated body",
    "cut connection",
    "html body",
    "reboot",
    "token revocation",
    "nightly window",
    "cloud outage",
    "sink stall",
)
EXPIRY_KIND = "token expiry"
#: Real seconds: how long a hang, a reboot, a cloud outage and a sink stall last.
HANG_S = 2.0
REBOOT_S = 2.0
OUTAGE_S = 3.0
STALL_S = 3.0
#: Simulated seconds the nightly window stays open.
NIGHTLY_S = 40.0
#: Real seconds between the faults of a round.
STAGGER_S = 0.5
#: Real seconds a fault is given to recover before it counts as not recovered.
RECOVER_TIMEOUT_S = 20.0

_LIBRARY_LOGGER = "enphase_local"
_SIMULATOR_LOGGER = "enphase_local.simulator"
_SESSION_LOGGER = "enphase_local.session"
#: The session's DEBUG record of a GET it retries after a transient failure (a dropped
#: connection among them); the poller's worker task that logs it is named after the host.
_RETRY_MESSAGE = "GET %s: transient failure, retry"
_WORKER_TASK = "enphase-poll-"
#: Real seconds between looks at a gateway's counters while a fault is undetected.
EVIDENCE_EVERY_S = 0.25


@attrs.frozen(kw_only=True)
class SoakConfig:
    """How big, how long and how fast."""

    #: Simulated gateways.
    gateways: int = 50
    #: Real seconds of polling (warm-up included).
    duration_s: float = 45.0
    #: Simulated seconds per real second.
    speed: float = 10.0
    #: Real seconds before the first fault.
    warm_up_s: float = 5.0
    #: Gateways whose tokens come from the simulated cloud.
    cloud_gateways: int = 4
    #: Seed of the fault schedule's and the poller's random choices.
    seed: int = 1
    #: The SQLite file (None: a temporary one).
    database: Path | None = None
    #: Real seconds between memory samples.
    memory_every_s: float = 5.0
    #: Run the simulated gateways in a child process, so that memory is the client's alone.
    child_process: bool = False
    #: Trace allocation sites (``tracemalloc``) over the run; slow, and RSS is not judged.
    trace_allocations: bool = False
    #: Whether gateway faults also hit gateways that renew short-lived tokens (False: only
    #: the cloud gateways, whose tokens live a year).
    faults_on_renewing: bool = True


@attrs.define
class Fault:
    """One injected fault and what became of it (real ``time.monotonic`` seconds)."""

    kind: str
    target: str
    injected_at: float
    cleared_at: float | None = None
    detected_at: float | None = None
    recovered_at: float | None = None

    @property
    def recover_s(self) -> float | None:
        """Seconds from clearing to recovery."""
        if self.recovered_at is None or self.cleared_at is None:
            return None
        return max(0.0, self.recovered_at - self.cleared_at)


@attrs.define
class Tally:
    """What became of the faults of one kind (the soak keeps no record per fault: its own
    memory must stay flat while it measures the client's)."""

    injected: int = 0
    detected: int = 0
    recovered: int = 0
    #: Real seconds from clearing to recovery, per recovered fault.
    recover_s: array.array[float] = attrs.field(factory=lambda: array.array("d"))

    def add(self, fault: Fault) -> None:
        """Count a fault that is over (recovered, or given up on)."""
        self.injected += 1
        self.detected += fault.detected_at is not None
        if fault.recover_s is not None:
            self.recovered += 1
            self.recover_s.append(fault.recover_s)

    def summary(self) -> dict[str, Any]:
        """The per-kind row of the report."""
        times = self.recover_s
        return {
            "injected": self.injected,
            "detected": self.detected,
            "recovered": self.recovered,
            "median_recover_s": round(statistics.median(times), 3) if times else None,
            "worst_recover_s": round(max(times), 3) if times else None,
        }


#: Recent times kept per host: data events (the newest count for recovery), trouble, notes.
_DATA_KEPT, _TROUBLE_KEPT, _NOTES_KEPT = 64, 16, 12


class Recorder:
    """Takes every event from the poller: counts it, hands it to the sinks, keeps recent
    times (a bounded few per host), and times the first data after each token renewal."""

    def __init__(self, sinks: Sink, hosts: Sequence[str], timed: Sequence[str]) -> None:
        self._sinks = sinks
        self.data_events = 0
        self.events = 0
        self._data = {h: collections.deque[float](maxlen=_DATA_KEPT) for h in hosts}
        self._trouble = {h: collections.deque[float](maxlen=_TROUBLE_KEPT) for h in hosts}
        #: Latest state per host.
        self.states: dict[str, GatewayState] = {}
        #: Recent events other than data per host, as ``(time, summary)``.
        self.notes = {h: collections.deque[tuple[float, str]](maxlen=_NOTES_KEPT) for h in hosts}
        #: When each timed host's token renewals (expiries handled) that wait for data
        #: happened (metered gateways: new data at every poll).
        self._renewed: dict[str, list[float]] = {h: [] for h in timed}
        #: Token expiries handled.
        self.expiries = Tally()

    def renewed(self, host: str) -> None:
        """A short-lived token of ``host`` was renewed: time it until data flow again."""
        if host in self._renewed:
            self._renewed[host].append(time.monotonic())

    def __call__(self, event: Event) -> None:
        now = time.monotonic()
        self.events += 1
        if isinstance(event, DataEvent):
            self.data_events += 1
            self._data[event.host].append(now)
            renewed = self._renewed.get(event.host, ())
            for at in renewed:
                self.expiries.injected += 1
                self.expiries.recovered += 1
                self.expiries.recover_s.append(now - at)
            if renewed:
                self._renewed[event.host] = []
        elif isinstance(event, ErrorEvent):
            self._trouble[event.host].append(now)
        elif isinstance(event, StateEvent):
            self.states[event.host] = event.state
            if event.state is not GatewayState.ONLINE:
                self._trouble[event.host].append(now)
        if not isinstance(event, DataEvent):
            self.notes[event.host].append((now, _summary(event)))
        self._sinks.submit(event)

    def first_data_after(self, host: str, since: float) -> float | None:
        """When the first data event of ``host`` at or after ``since`` arrived."""
        return _first_after(self._data[host], since)

    def first_trouble_after(self, host: str, since: float) -> float | None:
        """When ``host`` first showed trouble at or after ``since``."""
        return _first_after(self._trouble[host], since)

    def unrecovered_renewals(self) -> int:
        """Renewals that have waited for data longer than a fault may take to recover
        (younger ones, cut short by the end of the run, are not counted)."""
        old = time.monotonic() - RECOVER_TIMEOUT_S
        return sum(at < old for times in self._renewed.values() for at in times)


def _first_after(times: collections.deque[float], since: float) -> float | None:
    index = bisect.bisect_left(times, since)
    return times[index] if index < len(times) else None


def _summary(event: Event) -> str:
    if isinstance(event, ErrorEvent):
        return f"error {event.endpoint}: {type(event.error).__name__}: {event.error}"
    if isinstance(event, StateEvent):
        return f"state {event.state.value}: {event.reason}"
    if isinstance(event, DataEvent):
        return f"data {event.endpoint}"
    return f"unsupported {event.endpoint}: {event.reason}"


class Failures(logging.Handler):
    """Counts ERROR records of the library (the simulator's own are counted apart)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.library: list[str] = []
        self.simulator: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name}: {record.getMessage()}"
        if record.name.startswith(_SIMULATOR_LOGGER):
            self.simulator.append(text)
        else:
            self.library.append(text)


class Retries(logging.Handler):
    """When each gateway's session retried a GET after a transient failure (DEBUG records)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.times: dict[str, collections.deque[float]] = {}

    def watch(self, hosts: Sequence[str]) -> None:
        """Keep the recent retries of these hosts (others are ignored)."""
        self.times = {h: collections.deque(maxlen=_TROUBLE_KEPT) for h in hosts}

    def emit(self, record: logging.LogRecord) -> None:
        if not str(record.msg).startswith(_RETRY_MESSAGE):
            return
        with contextlib.suppress(RuntimeError):  # logged outside a task: not a poll's retry
            task = asyncio.current_task()
            name = "" if task is None else task.get_name()
            times = self.times.get(name.removeprefix(_WORKER_TASK))
            if name.startswith(_WORKER_TASK) and times is not None:
                times.append(time.monotonic())

    def first_after(self, host: str, since: float) -> float | None:
        """When ``host``'s session first retried at or after ``since``."""
        times = self.times.get(host)
        return None if times is None else _first_after(times, since)


@contextlib.contextmanager
def watch_failures(
    loop: asyncio.AbstractEventLoop,
) -> Iterator[tuple[Failures, list[str], Retries]]:
    """Count unhandled exceptions (the loop's handler) and the library's ERROR records;
    note the sessions' retries."""
    handler = Failures()
    unhandled: list[str] = []
    logger = logging.getLogger(_LIBRARY_LOGGER)
    logger.addHandler(handler)
    retries = Retries()
    session_logger = logging.getLogger(_SESSION_LOGGER)
    session_logger.addHandler(retries)
    level = session_logger.level
    if not session_logger.isEnabledFor(logging.DEBUG):
        session_logger.setLevel(logging.DEBUG)
    previous = loop.get_exception_handler()

    def on_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        unhandled.append(f"{context.get('message')}: {context.get('exception')!r}")
        loop.default_exception_handler(context)

    loop.set_exception_handler(on_exception)
    try:
        yield handler, unhandled, retries
    finally:
        loop.set_exception_handler(previous)
        logger.removeHandler(handler)
        session_logger.removeHandler(retries)
        session_logger.setLevel(level)


class TokenDesk:
    """Mints short-lived tokens per serial and keeps the renewals (token expiry handled)."""

    def __init__(self, gateways: SimGateways, recorder: Recorder) -> None:
        self._gateways = gateways
        self._recorder = recorder
        self._hosts = {g.serial: g.host for g in gateways.gateways}
        self._minted: dict[str, float] = {}
        self._revoked: dict[str, float] = {}

    async def mint(self, serial: str) -> str:
        """A new token for ``serial`` (the callback of the token source)."""
        now = time.monotonic()
        previous = self._minted.get(serial)
        if previous is not None and self._revoked.get(serial, -1.0) < previous:
            self._recorder.renewed(self._hosts[serial])
        self._minted[serial] = now
        age = TOKEN_AGE_S + int(serial) % 10 - 5
        return await self._gateways.mint(
            serial, lifetime_s=TOKEN_LIFETIME_S, issued_at=time.time() - age
        )

    def revoked(self, serial: str) -> None:
        """Note a revocation: the renewal it causes is not an expiry."""
        self._revoked[serial] = time.monotonic()


@attrs.define
class Soak:
    """A running soak: the gateways, the poller, the recorder and the faults so far."""

    config: SoakConfig
    sim: SimGateways
    poller: Poller
    recorder: Recorder
    retries: Retries
    sqlite: SqliteSink
    desk: TokenDesk
    rng: random.Random
    cloud_hosts: frozenset[str]
    #: What became of the faults so far, per kind.
    tallies: dict[str, Tally] = attrs.field(factory=lambda: {k: Tally() for k in FAULT_KINDS})
    #: The faults that did not recover, with what the poller said about their gateway.
    lost: list[dict[str, Any]] = attrs.field(factory=list)
    #: When the soak started (``time.monotonic``).
    started: float = attrs.field(factory=time.monotonic)
    _rotation: dict[str, int] = attrs.field(factory=dict)
    _busy: set[str] = attrs.field(factory=set)

    def pick(self, kind: str) -> GatewayInfo | None:
        """The next gateway for ``kind`` in turn, among those not hit by another fault."""
        # Metered gateways only: their readings, polled every simulated 10 s, change at each
        # poll, so a short fault is met at all and data events show recovery within a second
        # (the poller publishes only what changed: elsewhere that can take half a minute).
        gateways = [g for g in self.sim.gateways if g.metered]
        if kind == "cloud outage":
            pool = [g for g in gateways if g.host in self.cloud_hosts]
        elif kind == "token revocation":
            pool = [g for g in gateways if g.web_tokens and g.host not in self.cloud_hosts]
        else:
            cloud = not self.config.faults_on_renewing
            pool = [g for g in gateways if (g.host in self.cloud_hosts) == cloud]
        if not pool:
            return None
        start = self._rotation.get(kind, self.rng.randrange(len(pool)))
        for step in range(len(pool)):
            gateway = pool[(start + step) % len(pool)]
            if gateway.host not in self._busy:
                self._rotation[kind] = (start + step + 1) % len(pool)
                self._busy.add(gateway.host)
                return gateway
        return None

    async def hit(self, kind: str) -> None:
        """Inject one fault of ``kind``, clear it, and wait for detection and recovery."""
        if kind == "sink stall":
            await self._stall_sink()
            return
        gateway = self.pick(kind)
        if gateway is None:
            return
        fault = Fault(kind=kind, target=gateway.host, injected_at=time.monotonic())
        try:
            before = await self.sim.counters(gateway.serial)
            await self._inject(kind, gateway, before)
            fault.cleared_at = time.monotonic()
            if kind == "cut connection":  # over when the client saw it, if it did already
                seen = self.retries.first_after(gateway.host, fault.injected_at)
                fault.cleared_at = min(fault.cleared_at, seen or fault.cleared_at)
            await self._follow(fault, gateway.serial, _evidence(before))
        finally:
            self._busy.discard(gateway.host)
            self._done(fault)

    def _done(self, fault: Fault) -> None:
        self.tallies[fault.kind].add(fault)
        if fault.recovered_at is None:
            self.lost.append(_logged(fault, self.started, self.recorder))

    async def _inject(self, kind: str, gateway: GatewayInfo, before: Counters) -> None:
        sim, serial = self.sim, gateway.serial
        if kind == "504 burst":
            await sim.fail(serial, 6)
        elif kind == "hang":
            await sim.hang(serial)
            await asyncio.sleep(HANG_S)
            await sim.clear(serial)
        elif kind == "truncated body":
            # Cut JSON in a well-formed reply.
            await sim.truncate(serial, 2, close_connection=False)
        elif kind == "cut connection":
            # The connection dropped mid-body: the session retries at once; cleared when the
            # gateway has served the cut.
            await sim.truncate(serial, 1, close_connection=True, path=METER_READINGS.path)
            await self._served(serial, "cut", before)
        elif kind == "html body":
            await sim.serve_html(serial, 2)
        elif kind == "reboot":
            await sim.reboot(serial, REBOOT_S)
        elif kind == "token revocation":
            self.desk.revoked(serial)
            await sim.revoke_all(serial)
        elif kind == "nightly window":
            await self._nightly(serial)
        elif kind == "cloud outage":
            await sim.fail_cloud_tokens(503)
            await sim.revoke_all(serial)
            await asyncio.sleep(OUTAGE_S)
            await sim.fail_cloud_tokens(None)
        else:
            raise ValueError(kind)

    async def _served(self, serial: str, kind: str, before: Counters) -> None:
        """Wait until the gateway has applied one more fault of ``kind``."""
        count = before.faults_served.get(kind, 0)
        deadline = time.monotonic() + RECOVER_TIMEOUT_S
        while time.monotonic() < deadline:
            if (await self.sim.counters(serial)).faults_served.get(kind, 0) > count:
                return
            await asyncio.sleep(EVIDENCE_EVERY_S / 2)

    async def _nightly(self, serial: str) -> None:
        opens = dt.datetime.fromtimestamp(self.sim.now() + self.config.speed * 0.2, dt.UTC)
        window = NightlyWindow(
            start=opens.timetz().replace(tzinfo=None), duration_s=NIGHTLY_S, hang_s=0.5
        )
        await self.sim.set_nightly(serial, window)
        await asyncio.sleep(0.2 + NIGHTLY_S / self.config.speed)
        await self.sim.set_nightly(serial, None)

    def _trouble_after(self, fault: Fault) -> float | None:
        """When the client first showed trouble with the fault's gateway (a retry counts:
        a cut connection leaves no other trace)."""
        times = [
            self.recorder.first_trouble_after(fault.target, fault.injected_at),
            self.retries.first_after(fault.target, fault.injected_at),
        ]
        seen = [t for t in times if t is not None]
        return min(seen) if seen else None

    async def _follow(self, fault: Fault, serial: str, evidence: int) -> None:
        deadline = time.monotonic() + RECOVER_TIMEOUT_S
        looked = 0.0
        while time.monotonic() < deadline:
            if fault.detected_at is None:
                fault.detected_at = self._trouble_after(fault)
                if fault.detected_at is None and time.monotonic() - looked >= EVIDENCE_EVERY_S:
                    looked = time.monotonic()
                    if _evidence(await self.sim.counters(serial)) > evidence:
                        fault.detected_at = time.monotonic()
            if fault.detected_at is not None:
                assert fault.cleared_at is not None
                fault.recovered_at = self.recorder.first_data_after(
                    fault.target, max(fault.cleared_at, fault.detected_at)
                )
                if fault.recovered_at is not None:
                    return
            await asyncio.sleep(0.05)

    async def _stall_sink(self) -> None:
        fault = Fault(kind="sink stall", target=str(self.sqlite.path), injected_at=time.monotonic())
        try:
            await self._stall(fault)
        finally:
            self._done(fault)

    async def _stall(self, fault: Fault) -> None:
        lock = await asyncio.to_thread(_lock_database, self.sqlite.path)
        try:
            written = self.sqlite.stats().written
            until = time.monotonic() + STALL_S
            while time.monotonic() < until:
                stats = self.sqlite.stats()
                if fault.detected_at is None and stats.backlog > 0 and stats.written == written:
                    fault.detected_at = time.monotonic()
                await asyncio.sleep(0.05)
        finally:
            await asyncio.to_thread(_unlock_database, lock)
        fault.cleared_at = time.monotonic()
        target = self.sqlite.stats().submitted
        deadline = fault.cleared_at + RECOVER_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.sqlite.stats().written >= target:
                fault.recovered_at = time.monotonic()
                return
            await asyncio.sleep(0.02)


def _lock_database(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def _unlock_database(conn: sqlite3.Connection) -> None:
    conn.execute("COMMIT")
    conn.close()


def _evidence(counters: Counters) -> int:
    """Requests the gateway refused for their token, or that the client gave up waiting for
    (counted at the gateway, whichever call of the client sent them)."""
    return counters.auth_failures + counters.unanswered


#: Session options, real seconds.
SESSION_OPTIONS: dict[str, float] = {
    "connect_timeout": 1.0,
    "timeout": 1.0,
    "retry_backoff": 0.05,
}


def _specs(
    gateways: Sequence[GatewayInfo],
    desk: TokenDesk,
    cloud_source: CloudTokenSource,
    cloud_count: int,
) -> tuple[list[GatewaySpec], list[GatewaySession], frozenset[str]]:
    """One spec per gateway; the cloud gateways get sessions made here (the caller closes
    them) with a token manager that rests two seconds, not a minute, after a cloud failure."""
    callback = CallbackTokenSource(desk.mint)
    specs, own = [], []
    token_gateways = [g for g in gateways if g.web_tokens]
    by_cloud = {g.host for g in token_gateways[:cloud_count]}
    for gateway in gateways:
        options = {"fingerprint": gateway.fingerprint} if gateway.fingerprint else {}
        if gateway.host in by_cloud:
            manager = TokenManager(
                cloud_source,
                retry_interval=dt.timedelta(seconds=1),
                max_retry_interval=dt.timedelta(seconds=2),
            )
            session = GatewaySession(
                gateway.url,
                token=manager,
                fingerprint=gateway.fingerprint,
                connect_timeout=SESSION_OPTIONS["connect_timeout"],
                timeout=SESSION_OPTIONS["timeout"],
                retry_backoff=SESSION_OPTIONS["retry_backoff"],
            )
            own.append(session)
            specs.append(GatewaySpec(session=session))
            continue
        token = callback if gateway.web_tokens else None
        specs.append(GatewaySpec(host=gateway.url, token=token, options=options))
    return specs, own, frozenset(by_cloud)


def _cloud_source(cloud: CloudInfo) -> CloudTokenSource:
    return CloudTokenSource(
        EnphaseCloud(
            cloud.username,
            cloud.password,
            enlighten_url=cloud.url,
            entrez_url=cloud.url,
            ssl=cloud.ssl_context(),
            attempts=2,
            retry_delay=0.05,
        )
    )


def _backoff(speed: float) -> BackoffPolicy:
    """Pauses in simulated seconds that stay a few real seconds at ``speed``."""
    return BackoffPolicy(
        base_s=0.5 * speed,
        ceiling_s=4.0 * speed,
        unreachable_after_s=10.0 * speed,
        auth_retry_s=2.0 * speed,
    )


async def _faults(soak: Soak) -> None:
    config = soak.config
    until = time.monotonic() + config.duration_s - config.warm_up_s - RECOVER_TIMEOUT_S
    while time.monotonic() < until:
        tasks = []
        for kind in FAULT_KINDS:
            tasks.append(asyncio.create_task(soak.hit(kind), name=f"soak {kind}"))
            await asyncio.sleep(STAGGER_S)
        await asyncio.gather(*tasks)
        await asyncio.sleep(1.0)


async def run_soak(
    config: SoakConfig,
    *,
    extra_sinks: Sequence[Sink] = (),
    prepare: Callable[[Simulation], None] | None = None,
    before_stop: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """Run the soak; returns the report (see the module docstring).

    ``extra_sinks`` get every event too; ``prepare`` sees the simulation before it starts
    (to record the secrets it makes; in-process gateways only); ``before_stop`` runs at the
    end, while the poller and the sinks still run.
    """
    if prepare is not None and config.child_process:
        raise ValueError("prepare needs the simulation in this process")
    with contextlib.ExitStack() as stack:
        database = config.database
        if database is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="enphase-soak-"))
            database = Path(folder) / "soak.sqlite"
        return await _run(config, database, extra_sinks, prepare, before_stop)


def _gateways(config: SoakConfig, prepare: Callable[[Simulation], None] | None) -> SimGateways:
    names = [PROFILES[k % len(PROFILES)] for k in range(config.gateways)]
    if config.child_process:
        return RemoteGateways(names, start_time=NOON, speed=config.speed)
    sim = Simulation(profile=names, start_time=NOON, speed=config.speed, control=False)
    if prepare is not None:
        prepare(sim)
    return LocalGateways(sim)


async def _run(
    config: SoakConfig,
    database: Path,
    extra_sinks: Sequence[Sink],
    prepare: Callable[[Simulation], None] | None,
    before_stop: Callable[[], Awaitable[None]] | None,
) -> dict[str, Any]:
    rng = random.Random(config.seed)
    gateways = _gateways(config, prepare)
    loop = asyncio.get_running_loop()
    with watch_failures(loop) as (failures, unhandled, retries):
        await gateways.start()
        try:
            hosts = [g.host for g in gateways.gateways]
            retries.watch(hosts)
            sqlite = SqliteSink(database)
            sinks = SinkSet([sqlite, *extra_sinks])
            recorder = Recorder(
                sinks, hosts, timed=[g.host for g in gateways.gateways if g.metered]
            )
            desk = TokenDesk(gateways, recorder)
            cloud_source = _cloud_source(gateways.cloud)
            specs, own_sessions, cloud_hosts = _specs(
                gateways.gateways, desk, cloud_source, config.cloud_gateways
            )
            poller = Poller(
                specs,
                clock=ScaledClock(gateways.now, speed=config.speed),
                session_options=SESSION_OPTIONS,
                backoff=_backoff(config.speed),
                buffer_size=0,
                rng=random.Random(config.seed),
            )
            poller.subscribe(recorder, name="soak recorder")
            soak = Soak(
                config=config,
                sim=gateways,
                poller=poller,
                recorder=recorder,
                retries=retries,
                sqlite=sqlite,
                desk=desk,
                rng=rng,
                cloud_hosts=cloud_hosts,
            )
            memory = MemoryWatch(config.memory_every_s, trace=config.trace_allocations)
            started = soak.started = time.monotonic()
            await sinks.start()
            try:
                async with cloud_source, poller:
                    await asyncio.sleep(config.warm_up_s)
                    memory.begin()
                    sampler = asyncio.create_task(memory.run(config.duration_s - config.warm_up_s))
                    injector = asyncio.create_task(_faults(soak))
                    await asyncio.sleep(max(0.0, started + config.duration_s - time.monotonic()))
                    await injector  # its last round, still recovering
                    if before_stop is not None:
                        await before_stop()
                    sampler.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sampler
                    memory.end()
            finally:
                for session in own_sessions:
                    await session.close()
                await sinks.close()
            stats = poller.stats()
        finally:
            totals = await gateways.stop()
    rows = _data_rows(database)
    report = _report(
        soak,
        stats=stats,
        totals=totals,
        rows=rows,
        failures=failures,
        unhandled=unhandled,
        memory=memory.report(),
    )
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    return report


def _data_rows(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM events WHERE kind = 'data'").fetchone()
    return int(count)


def _report(
    soak: Soak,
    *,
    stats: Any,
    totals: Totals,
    rows: int,
    failures: Failures,
    unhandled: list[str],
    memory: dict[str, Any],
) -> dict[str, Any]:
    kinds = {kind: tally.summary() for kind, tally in soak.tallies.items()}
    expiries = soak.recorder.expiries
    renewals = expiries.injected + soak.recorder.unrecovered_renewals()
    kinds[EXPIRY_KIND] = {
        **expiries.summary(),
        "injected": renewals,
        # A renewal is detected unless the gateway had to refuse the expired token first.
        "detected": max(0, renewals - totals.expired_refusals),
    }
    not_recovered = sum(s["injected"] - s["recovered"] for s in kinds.values())
    simulator_errors = totals.simulator_errors
    overall = {
        "gateways": soak.config.gateways,
        "duration_s": soak.config.duration_s,
        "speed": soak.config.speed,
        "simulator": "child process" if soak.config.child_process else "this process",
        "polls_attempted": stats.polls,
        "polls_succeeded": stats.successes,
        "polls_failed": stats.failures,
        "polls_skipped_for_politeness": stats.skipped,
        "polls_deferred_by_backoff": stats.deferred,
        "data_events_delivered": soak.recorder.data_events,
        "data_rows_written": rows,
        "events_lost": soak.recorder.data_events - rows,
        "events_dropped_by_poller": stats.events.dropped,
        "sink_dropped": soak.sqlite.stats().dropped,
        "max_in_flight_per_gateway": totals.max_in_flight,
        "unhandled_exceptions": len(unhandled) + len(failures.library),
        "poller_internal_errors": stats.internal_errors,
        "callback_errors": stats.events.callback_errors,
        "expired_tokens_refused": totals.expired_refusals,
        "simulator_errors": len(failures.simulator)
        if simulator_errors is None
        else simulator_errors,
        "faults_not_recovered": not_recovered,
        "final_states": {s.value: n for s, n in stats.states.items() if n},
        **memory,
    }
    errors = [*unhandled, *failures.library]
    return {
        "faults": kinds,
        "overall": overall,
        "errors": errors[:20],
        "not_recovered": soak.lost,
    }


def _logged(fault: Fault, started: float, recorder: Recorder) -> dict[str, Any]:
    def since(at: float | None) -> float | None:
        return None if at is None else round(at - started, 2)

    logged: dict[str, Any] = {
        "kind": fault.kind,
        "target": fault.target,
        "injected_s": since(fault.injected_at),
        "cleared_s": since(fault.cleared_at),
        "detected_s": since(fault.detected_at),
        "recovered_s": since(fault.recovered_at),
    }
    notes = recorder.notes.get(fault.target, ())
    logged["events"] = [f"{since(at)} {text}" for at, text in notes if at >= fault.injected_at]
    return logged


#: The overall figures a soak must end with.
MUST_HOLD: dict[str, int] = {
    "events_lost": 0,
    "events_dropped_by_poller": 0,
    "sink_dropped": 0,
    "max_in_flight_per_gateway": 1,
    "unhandled_exceptions": 0,
    "poller_internal_errors": 0,
    "callback_errors": 0,
    "faults_not_recovered": 0,
}


def broken_invariants(report: dict[str, Any]) -> list[str]:
    """The must-be-zero (or one) figures that are not, and a memory growth trend."""
    overall = report["overall"]
    broken = [
        f"{name} = {overall[name]} (want {want})"
        for name, want in MUST_HOLD.items()
        if overall[name] != want
    ]
    growth = growth_problem(overall)
    if growth is not None:
        broken.append(growth)
    return broken


_NOT_PRINTED = frozenset(
    {
        "memory_samples",
        "types_grown_second_half",
        "types_grown_whole_run",
        "allocation_sites_grown_second_half",
    }
)


def print_report(report: dict[str, Any]) -> None:
    """Print the per-kind table, the overall figures and what memory grew in."""
    print(
        f"{'fault':<18} {'injected':>8} {'detected':>8} {'recovered':>9} "
        f"{'median s':>9} {'worst s':>8}"
    )
    for kind, row in report["faults"].items():
        median = "-" if row["median_recover_s"] is None else f"{row['median_recover_s']:.2f}"
        worst = "-" if row["worst_recover_s"] is None else f"{row['worst_recover_s']:.2f}"
        print(
            f"{kind:<18} {row['injected']:>8} {row['detected']:>8} {row['recovered']:>9} "
            f"{median:>9} {worst:>8}"
        )
    print()
    overall = report["overall"]
    for name, value in overall.items():
        if name not in _NOT_PRINTED:
            print(f"{name:<34} {value}")
    _print_growth(overall)
    for error in report["errors"]:
        print(f"error: {error}")
    for fault in report["not_recovered"]:
        print(f"not recovered: {fault['kind']} at {fault['target']} ({fault['injected_s']} s)")
        for line in fault["events"][-8:]:
            print(f"    {line}")


def _print_growth(overall: dict[str, Any]) -> None:
    samples = overall["memory_samples"]
    if samples:
        step = max(1, len(samples) // 12)
        shown = ", ".join(f"{t:g}s {kib / 1024:.1f}" for t, kib, _ in samples[::step])
        print(f"RSS MiB after the warm-up: {shown}")
    for title, key in (
        ("objects grown over the second half", "types_grown_second_half"),
        ("objects grown since the warm-up", "types_grown_whole_run"),
    ):
        rows = overall[key]
        if rows:
            print(f"{title}:")
            for name, before, after in rows:
                print(f"    {after - before:+7d}  {name} ({before} -> {after})")
    for line in overall.get("allocation_sites_grown_second_half", []):
        print(f"    {line}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak from the command line; 1 when an invariant fails."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__.split("\n")[0]
    )
    defaults = SoakConfig()
    parser.add_argument("--gateways", type=int, default=defaults.gateways)
    parser.add_argument("--duration", type=float, default=defaults.duration_s, help="real seconds")
    parser.add_argument(
        "--speed", type=float, default=defaults.speed, help="simulated s per real s"
    )
    parser.add_argument("--cloud-gateways", type=int, default=defaults.cloud_gateways)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--database", type=Path, help="keep the SQLite file here")
    parser.add_argument(
        "--spare-renewing",
        action="store_true",
        help="aim gateway faults at the cloud gateways only (no short-lived tokens there)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the simulated gateways in this process (memory is then not the client's)",
    )
    parser.add_argument(
        "--trace-allocations",
        action="store_true",
        help="name the allocation sites that grew (tracemalloc: slow; RSS trend not judged)",
    )
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    config = SoakConfig(
        gateways=args.gateways,
        duration_s=args.duration,
        speed=args.speed,
        cloud_gateways=args.cloud_gateways,
        seed=args.seed,
        database=args.database,
        memory_every_s=max(5.0, args.duration / 120),
        faults_on_renewing=not args.spare_renewing,
        child_process=not args.in_process,
        trace_allocations=args.trace_allocations,
    )
    report = asyncio.run(run_soak(config))
    broken = broken_invariants(report)
    report["broken_invariants"] = broken
    print_report(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for line in broken:
        print(f"INVARIANT FAILED: {line}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
