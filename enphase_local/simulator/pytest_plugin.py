"""pytest fixtures for tests that talk to simulated gateways over real HTTPS on loopback.

Enable it in the root ``conftest.py`` with
``pytest_plugins = ["enphase_local.simulator.pytest_plugin"]`` (needs pytest-asyncio).

``enphase_simulation``
    A started :class:`~enphase_local.simulator.Simulation`, stopped after the test. By default
    one ``metered`` gateway at real speed; change that per test or module with
    ``@pytest.mark.enphase_simulation(gateways=3, profile="battery", speed=0, ...)``, whose
    keyword arguments go to :class:`~enphase_local.simulator.Simulation`.
``enphase_gateway``
    The first gateway of ``enphase_simulation``.
``enphase_simulation_factory``
    ``await factory(**kwargs)`` starts further simulations; all are stopped after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.harness import Simulation

#: The marker that configures ``enphase_simulation``.
MARKER = "enphase_simulation"

#: ``await factory(**kwargs)`` returns a started simulation.
SimulationFactory = Callable[..., Awaitable[Simulation]]


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker so ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers", f"{MARKER}(**kwargs): options of the enphase_simulation fixture (Simulation)"
    )


@pytest_asyncio.fixture
async def enphase_simulation_factory() -> AsyncIterator[SimulationFactory]:
    """Start simulations on demand; every one is stopped after the test."""
    started: list[Simulation] = []

    async def make(**kwargs: object) -> Simulation:
        simulation = Simulation(**kwargs)  # type: ignore[arg-type]  # checked by Simulation
        await simulation.start()
        started.append(simulation)
        return simulation

    try:
        yield make
    finally:
        for simulation in reversed(started):
            await simulation.stop()


@pytest_asyncio.fixture
async def enphase_simulation(
    request: pytest.FixtureRequest, enphase_simulation_factory: SimulationFactory
) -> Simulation:
    """A started simulation configured by the ``enphase_simulation`` marker."""
    marker = request.node.get_closest_marker(MARKER)
    kwargs = dict(marker.kwargs) if marker is not None else {}
    return await enphase_simulation_factory(**kwargs)


@pytest.fixture
def enphase_gateway(enphase_simulation: Simulation) -> SimulatedGateway:
    """The first gateway of ``enphase_simulation``."""
    return enphase_simulation.gateways[0]
