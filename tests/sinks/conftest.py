"""Real events for the sink tests: every endpoint of simulated gateways, read over HTTPS."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from typing import Any

import pytest

from enphase_local import GatewaySession
from enphase_local.endpoints import ENDPOINTS
from enphase_local.errors import EnphaseError, NotSupportedError
from enphase_local.events import (
    DataEvent,
    ErrorEvent,
    Event,
    GatewayState,
    StateEvent,
    UnsupportedEvent,
)
from enphase_local.simulator import Simulation
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.pytest_plugin import SimulationFactory

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)

#: One gateway per kind of site the power derivation handles differently.
PROFILES = ("battery", "metered", "standard")
#: Battery sites with a System Controller and a generator, with a Meter Collar, and a site
#: without batteries (which answers the battery endpoints all the same).
BATTERY_SITES = ("generator", "collar", "metered")


async def poll_simulation(sim: Simulation, *, rounds: int = 3, step_s: float = 60.0) -> list[Event]:
    """Read every endpoint of every gateway ``rounds`` times, the clock ``step_s`` apart.

    Produces what a poller would: a state event per gateway, then data events (timed by the
    simulated clock), and unsupported events for endpoints the gateway does not serve.
    """
    events: list[Event] = [
        StateEvent(
            serial=None,
            host=gateway.url,
            previous=GatewayState.STARTING,
            state=GatewayState.ONLINE,
            at=_now(sim),
            reason="first answer",
        )
        for gateway in sim.gateways
    ]
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                GatewaySession(gateway.url, token=gateway.token, fingerprint=gateway.fingerprint)
            )
            for gateway in sim.gateways
        ]
        for round_index in range(rounds):
            if round_index:
                sim.clock.advance(step_s)
            for gateway, client in zip(sim.gateways, clients, strict=True):
                if not gateway.profile or not gateway.profile.legacy:
                    with contextlib.suppress(NotSupportedError):  # a replayed set may lack it
                        await client.enable_live_stream()
                for endpoint in ENDPOINTS:
                    events.append(await _read(sim, client, gateway, endpoint.name))
    return events


def last_model(events: list[Event], serial: str, endpoint: str) -> Any:
    """The model of the last data event of ``endpoint`` from the gateway ``serial``."""
    models = [
        e.model
        for e in events
        if isinstance(e, DataEvent) and e.serial == serial and e.endpoint == endpoint
    ]
    return models[-1]


def _now(sim: Simulation) -> dt.datetime:
    return dt.datetime.fromtimestamp(sim.clock.now(), dt.UTC)


async def _read(
    sim: Simulation, client: GatewaySession, gateway: SimulatedGateway, name: str
) -> Event:
    serial, host, at = gateway.serial, gateway.url, _now(sim)
    started = time.perf_counter()
    try:
        model = await getattr(client, name)()
    except NotSupportedError as err:
        return UnsupportedEvent(serial=serial, host=host, endpoint=name, at=at, reason=str(err))
    except EnphaseError as err:
        latency = time.perf_counter() - started
        return ErrorEvent(
            serial=serial, host=host, endpoint=name, error=err, at=at, latency_s=latency
        )
    latency = time.perf_counter() - started
    return DataEvent(
        serial=serial, host=host, endpoint=name, model=model, fetched_at=at, latency_s=latency
    )


@pytest.fixture
async def simulation(enphase_simulation_factory: SimulationFactory) -> Simulation:
    """Three gateways (battery, metered, standard) at midsummer noon, clock frozen."""
    return await enphase_simulation_factory(profile=list(PROFILES), start_time=NOON, speed=0)


@pytest.fixture
async def simulated_events(simulation: Simulation) -> list[Event]:
    """Three polls of every endpoint of the three simulated gateways."""
    return await poll_simulation(simulation)


@pytest.fixture
async def battery_sites(enphase_simulation_factory: SimulationFactory) -> Simulation:
    """Three gateways (generator, collar, metered) at midsummer noon, clock frozen."""
    return await enphase_simulation_factory(profile=list(BATTERY_SITES), start_time=NOON, speed=0)
