"""The Poller against 20 simulated gateways over HTTPS for a simulated hour.

The poller lives in the simulation's time (:class:`ScaledClock` following the simulated
clock), so the default plan is used as is, in simulated seconds, and an hour passes in
``3600 / SPEED`` real seconds. Session timeouts are real seconds, so they are set to what a
real 30-60 s timeout is in simulated time. During the hour one gateway reboots, one hangs,
and every token-using gateway gets a new short-lived token every ~10 real seconds from a
callback token source (each expires ~20 real seconds after it is minted).

The simulated gateways run in a child process (:mod:`tests.scheduler.remote_sim`): time
compression magnifies every real millisecond ``SPEED`` times, and gateways sharing the
poller's event loop would make the test measure their own CPU bursts. For the same reason
the garbage collector is paused in both processes. The first two simulated minutes (1.5 real
seconds, in which twenty gateways open their TLS connections and read their configuration)
are a warm-up not held to the cadence. "On time" then means: no live poll skipped or a
whole interval late, the median poll within a quarter of ``TOLERANCE_S`` of its tick and 95 %
within ``TOLERANCE_S`` (25 ms of real time), which holds on a machine busy with other work.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import gc
import itertools
import statistics
import time
from collections.abc import Iterator, Sequence

import attrs
import pytest

from enphase_local.auth.sources import CallbackTokenSource
from enphase_local.endpoints import ENDPOINTS
from enphase_local.errors import AuthenticationError
from enphase_local.events import (
    DataEvent,
    ErrorEvent,
    Event,
    GatewayState,
    StateEvent,
    UnsupportedEvent,
)
from enphase_local.models import LiveStreamState
from enphase_local.scheduler import (
    GatewaySpec,
    GatewayStats,
    Poller,
    PollerStats,
    PollPlan,
    ScaledClock,
)
from enphase_local.simulator import Simulation
from enphase_local.simulator.gateway import SimulatedGateway
from tests.scheduler.remote_sim import RemoteGateway, RemoteSimulation, RemoteStats

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
#: Simulated seconds per real second.
SPEED = 80.0
HOUR = 3600.0
PROFILES = (
    ["metered"] * 6 + ["three-phase"] * 4 + ["standard"] * 4 + ["battery"] * 4 + ["legacy"] * 2
)
#: How late 95 % of the live polls may reach the gateway, simulated seconds (25 ms of real
#: time, for a machine that may be busy with other work). No poll may be a whole interval
#: late (that would be a skipped poll).
TOLERANCE_S = 2.0
#: Not held to the cadence: the start, simulated seconds.
WARM_UP_S = 120.0
#: Token lifetime and age at minting, real seconds: refresh due about 10 s after minting
#: (half the lifetime before expiry), expired (with the client's one-minute skew) about 20 s
#: after. The age varies a little per gateway, so that they do not all renew at once.
TOKEN_LIFETIME_S = 140.0
TOKEN_AGE_S = 60.0
#: Live endpoints by path, with their default intervals.
LIVE_PATHS = {
    endpoint.path: PollPlan().live[endpoint.name]
    for endpoint in ENDPOINTS
    if endpoint.name in PollPlan().live
}
METER_PATHS = {"/ivp/meters/readings", "/ivp/meters/gridReading", "/ivp/meters/reports/consumption"}
#: Live endpoints only battery sites serve, by path.
BATTERY_PATHS = {e.path for e in ENDPOINTS if e.path.startswith("/ivp/ensemble/")}


def sim_time(event: Event) -> float:
    at = event.fetched_at if isinstance(event, DataEvent) else event.at
    return at.timestamp()


def gaps(times: Sequence[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def cadence_errors(times: Sequence[float], interval: float, label: object) -> list[float]:
    """How far each gap between consecutive requests is from ``interval``; none is off by a
    whole interval (a poll skipped, or two at once)."""
    assert len(times) > 1, label
    errors = [abs(gap - interval) for gap in gaps(times)]
    worst = max(range(len(errors)), key=errors.__getitem__)
    assert errors[worst] < interval, (label, f"{errors[worst]:.1f} s off at {times[worst]:.0f}")
    return errors


def of(events: Sequence[Event], host: str, endpoint: str) -> list[DataEvent]:
    return [
        e for e in events if isinstance(e, DataEvent) and e.host == host and e.endpoint == endpoint
    ]


@pytest.fixture
def no_gc_pauses() -> Iterator[None]:
    """Pause the garbage collector: one full collection of the test's own records stalls the
    event loop for about 0.1 s, which is ten simulated seconds."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@attrs.frozen(kw_only=True)
class HourRun:
    """What a simulated hour left behind."""

    gateways: list[RemoteGateway]
    seen_by: list[RemoteStats]
    events: list[Event]
    stats: PollerStats
    warm: dict[str, GatewayStats]
    minted: collections.Counter[str]
    start: float
    end: float
    faulty: tuple[int, ...]

    @property
    def healthy(self) -> list[int]:
        return [k for k in range(len(self.gateways)) if k not in self.faulty]


async def simulated_hour() -> HourRun:
    """Poll 20 gateways for a simulated hour; reboot one, hang another."""
    async with RemoteSimulation(
        profile=PROFILES, start_time=NOON, speed=SPEED, cloud=False, control=False
    ) as sim:
        minted: collections.Counter[str] = collections.Counter()

        async def mint(serial: str) -> str:
            minted[serial] += 1
            age = TOKEN_AGE_S + int(serial) % 10 - 5
            token: str = await sim.call("mint", serial, TOKEN_LIFETIME_S, time.time() - age)
            return token

        tokens = CallbackTokenSource(mint)
        specs = [
            GatewaySpec(
                host=g.url,
                token=tokens if g.web_tokens else None,
                options={"fingerprint": g.fingerprint} if g.fingerprint else {},
            )
            for g in sim.gateways
        ]
        rebooting, hanging = 0, 6
        start = sim.now()
        events: list[Event] = []
        poller = Poller(
            specs,
            clock=ScaledClock(sim.now, speed=sim.speed),
            # Real seconds: 0.3 s is 24 simulated seconds. One timeout bounds a whole call
            # (the token check and retries included), so it gets a little more room.
            session_options={"connect_timeout": 0.3, "timeout": 0.8, "retry_backoff": 0.01},
            buffer_size=0,
        )
        poller.subscribe(events.append)
        async with poller:
            await sim.sleep_until(start + WARM_UP_S)
            warm = {g.host: g for g in poller.stats().gateways}
            await sim.sleep_until(start + 10 * 60)
            await sim.call("reboot", rebooting, 300 / SPEED)
            await sim.sleep_until(start + 25 * 60)
            await sim.call("hang", hanging)
            await sim.sleep_until(start + 35 * 60)
            await sim.call("clear", hanging)
            await sim.sleep_until(start + HOUR)
        end = sim.now()
        seen_by = await sim.stats()
    return HourRun(
        gateways=sim.gateways,
        seen_by=seen_by,
        events=events,
        stats=poller.stats(),
        warm=warm,
        minted=minted,
        start=start,
        end=end,
        faulty=(rebooting, hanging),
    )


@pytest.mark.usefixtures("no_gc_pauses")
async def test_twenty_gateways_for_a_simulated_hour() -> None:
    run = await simulated_hour()
    assert HOUR <= run.end - run.start <= HOUR + 120
    assert statistics.median(g.polls for g in run.stats.gateways) > 400
    # Politeness: never two requests in flight at one gateway.
    assert [s.max_in_flight for s in run.seen_by] == [1] * len(run.gateways)
    assert run.stats.internal_errors == 0
    assert run.stats.events.dropped == 0
    assert [g.state for g in run.stats.gateways] == [GatewayState.ONLINE] * len(run.gateways)
    check_faulty_gateways_recovered(run)
    check_live_polls_on_time(run)
    check_tokens_renewed_without_a_miss(run)
    check_periodic_polls_follow_the_reports(run)
    check_nothing_published_twice(run)
    check_live_stream_kept_on(run)


def check_faulty_gateways_recovered(run: HourRun) -> None:
    """The rebooted and the hung gateway backed off, came back, and kept their cadence."""
    for k in run.faulty:
        host = run.gateways[k].host
        changes = [e for e in run.events if isinstance(e, StateEvent) and e.host == host]
        assert GatewayState.BACKING_OFF in [e.state for e in changes]
        assert changes[-1].state is GatewayState.ONLINE
        recovered = sim_time(changes[-1])
        assert recovered < run.start + 45 * 60
        errors = [e for e in run.events if isinstance(e, ErrorEvent) and e.host == host]
        assert all(sim_time(e) < recovered for e in errors)
        readings = run.seen_by[k].times("/ivp/meters/readings")
        cadence_errors([t for t in readings if t > recovered + 60], 10.0, host)
        stats = next(g for g in run.stats.gateways if g.host == host)
        assert stats.deferred > 0


def check_live_polls_on_time(run: HourRun) -> None:
    """Every other gateway kept every live cadence through the faults and token changes."""
    off: list[float] = []
    for k in run.healthy:
        gateway, host = run.gateways[k], run.gateways[k].host
        # The cadences an hour shows: an endpoint read at least four times in it.
        paths = {p: i for p, i in LIVE_PATHS.items() if i <= HOUR / 4}
        if gateway.profile == "legacy":
            paths = {}
        if not gateway.metered:
            paths = {p: i for p, i in paths.items() if p not in METER_PATHS}
        if gateway.profile != "battery":
            paths = {p: i for p, i in paths.items() if p not in BATTERY_PATHS}
        for path, interval in paths.items():
            times = run.seen_by[k].times(path)
            after = [t for t in times if t > run.start + WARM_UP_S]
            assert len(after) >= (HOUR - WARM_UP_S) / interval - 3, (host, path)
            off += cadence_errors(after, interval, (host, path))
        stats = next(g for g in run.stats.gateways if g.host == host)
        assert stats.skipped == run.warm[host].skipped
        assert stats.failures == 0, stats.last_error
    off.sort()
    assert len(off) > 4000  # about 4,600 gaps: the default plan over the healthy gateways
    assert off[len(off) // 2] <= TOLERANCE_S / 4
    assert off[int(len(off) * 0.95)] <= TOLERANCE_S
    # The poller's own view: how late it started the live polls.
    lateness = run.stats.lateness
    assert lateness.p50 is not None
    assert lateness.p50 <= TOLERANCE_S / 4
    assert lateness.p99 is not None
    assert lateness.p99 <= 2 * TOLERANCE_S


def check_tokens_renewed_without_a_miss(run: HourRun) -> None:
    """Tokens were replaced many times, never sent expired, and no poll failed for it."""
    token_gateways = [k for k in run.healthy if run.gateways[k].web_tokens]
    assert all(run.minted[run.gateways[k].serial] >= 3 for k in token_gateways), run.minted
    assert all(run.seen_by[k].auth_failures.get("expired", 0) == 0 for k in token_gateways)
    refused = [
        e
        for e in run.events
        if isinstance(e, ErrorEvent) and isinstance(e.error, AuthenticationError)
    ]
    assert not refused


def check_periodic_polls_follow_the_reports(run: HourRun) -> None:
    """5-minute data polled just after each cycle of reports, no report missed."""
    margin = PollPlan().report_margin_s
    for k in run.healthy:
        host = run.gateways[k].host
        inverters = of(run.events, host, "inverters")
        assert len(inverters) >= 11
        for event in inverters[2:]:
            newest = max(i.last_report_at for i in event.model).timestamp()
            assert margin - 0.5 <= sim_time(event) - newest <= margin + 5, host
        reports: dict[str, set[float]] = collections.defaultdict(set)
        for event in inverters:
            for inverter in event.model:
                reports[inverter.serial_number].add(inverter.last_report_at.timestamp())
        for times in reports.values():
            assert set(gaps(sorted(times))) == {300.0}  # every report of every inverter
        probes = run.seen_by[k].by_path["/api/v1/production/inverters"]
        assert probes <= len(inverters) + 2  # one request per cycle, no blind polling


def check_nothing_published_twice(run: HourRun) -> None:
    """Unchanged data are not published again; unsupported endpoints are found once."""
    for k, gateway in enumerate(run.gateways):
        for endpoint in ("production", "energy", "info", "meters"):
            models = [e.model for e in of(run.events, gateway.host, endpoint)]
            assert all(a != b for a, b in itertools.pairwise(models))
        gone = [
            e.endpoint
            for e in run.events
            if isinstance(e, UnsupportedEvent) and e.host == gateway.host
        ]
        assert len(gone) == len(set(gone))
        readings = run.seen_by[k].by_path.get("/ivp/meters/readings", 0)
        assert readings <= HOUR / LIVE_PATHS["/ivp/meters/readings"] + 2
        if not gateway.metered:
            assert {"meter_readings", "grid_readings", "consumption_reports"} <= set(gone)
            assert readings == 0


def check_live_stream_kept_on(run: HourRun) -> None:
    """Live streaming was switched on before it lapsed, so no live data went stale."""
    for k in run.healthy:
        if run.gateways[k].profile == "legacy":
            continue
        live = of(run.events, run.gateways[k].host, "live_data")
        assert all(e.model.connection.stream_state is LiveStreamState.ENABLED for e in live)
        assert 6 <= run.seen_by[k].by_path["/ivp/livedata/stream"] <= 8


async def sim_sleep_until(sim: Simulation, when: float) -> None:
    await asyncio.sleep(max(0.0, when - sim.clock.now()) / sim.clock.speed)


@pytest.mark.enphase_simulation(start_time=NOON, speed=240, installer_only=["/ivp/pdm/energy"])
async def test_endpoint_beyond_the_token_role_is_found_once(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway
) -> None:
    events: list[Event] = []
    spec = GatewaySpec(
        host=enphase_gateway.url,
        token=enphase_gateway.token,
        options={"fingerprint": enphase_gateway.fingerprint},
    )
    poller = Poller(
        [spec], clock=ScaledClock(enphase_simulation.clock.now, speed=240), buffer_size=0
    )
    poller.subscribe(events.append)
    async with poller:
        await sim_sleep_until(enphase_simulation, enphase_simulation.clock.now() + 12 * 60)
    gone = {e.endpoint: e.reason for e in events if isinstance(e, UnsupportedEvent)}
    assert set(gone) == {"energy", "device_list"}  # no batteries: device_list is a 404
    assert "the gateway accepts" in gone["energy"]
    assert poller.stats().gateways[0].state is GatewayState.ONLINE
    assert GatewayState.AUTH_FAILED not in [e.state for e in events if isinstance(e, StateEvent)]
    # One refusal, tried twice by the session (it re-checks the token in between).
    assert enphase_gateway.stats.by_path["/ivp/pdm/energy"] == 2


@pytest.mark.enphase_simulation(start_time=NOON, speed=240)
async def test_a_504_burst_is_retried_by_the_session_and_counted(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway
) -> None:
    spec = GatewaySpec(
        host=enphase_gateway.url,
        token=enphase_gateway.token,
        options={"fingerprint": enphase_gateway.fingerprint, "retry_backoff": 0.01},
    )
    poller = Poller(
        [spec], clock=ScaledClock(enphase_simulation.clock.now, speed=240), buffer_size=0
    )
    async with poller:
        await sim_sleep_until(enphase_simulation, enphase_simulation.clock.now() + 60)
        enphase_gateway.faults.fail(2, status=504, path="/ivp/meters/readings")
        await sim_sleep_until(enphase_simulation, enphase_simulation.clock.now() + 60)
    [stats] = poller.stats().gateways
    assert stats.retried == 2  # both 504s absorbed by the session's retries
    assert stats.failures == 0
    assert stats.state is GatewayState.ONLINE
