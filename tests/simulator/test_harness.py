"""The in-process harness and the pytest plugin."""

from __future__ import annotations

import datetime as dt

import aiohttp
import pytest

from enphase_local.simulator import Simulation
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.harness import make_serial
from enphase_local.simulator.pytest_plugin import SimulationFactory

from .conftest import MIDSUMMER, fetch


async def test_default_fixture_is_one_metered_gateway(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway
) -> None:
    assert enphase_simulation.gateways == [enphase_gateway]
    assert enphase_gateway.profile is not None
    assert enphase_gateway.profile.name == "metered"
    assert enphase_gateway.serial == make_serial(1) == "122199900001"
    assert enphase_gateway.online
    assert enphase_gateway.fingerprint is not None
    assert len(enphase_gateway.fingerprint) == 64
    assert enphase_simulation.gateway(enphase_gateway.serial) is enphase_gateway
    with pytest.raises(KeyError):
        enphase_simulation.gateway("0")
    assert enphase_simulation.clock.speed == 1.0
    assert enphase_gateway.token is not None
    assert enphase_gateway.token not in repr(enphase_gateway)
    assert enphase_simulation.owner.password not in repr(enphase_simulation.cloud)


@pytest.mark.enphase_simulation(gateways=3, profile="standard", cloud=False, control=False)
async def test_marker_configures_the_fixture(enphase_simulation: Simulation) -> None:
    assert [g.serial for g in enphase_simulation.gateways] == [make_serial(i) for i in (1, 2, 3)]
    assert {g.profile.name for g in enphase_simulation.gateways if g.profile} == {"standard"}
    assert enphase_simulation.cloud is None
    assert enphase_simulation.control_url is None
    assert len({g.port for g in enphase_simulation.gateways}) == 3
    assert len({g.fingerprint for g in enphase_simulation.gateways}) == 3


async def test_factory_and_explicit_context_manager(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    started = await enphase_simulation_factory(profile="battery")
    assert (await fetch(http, started.gateways[0], "/info", auth=False)).status == 200
    async with Simulation(profile=["legacy", "metered"], cloud=False) as simulation:
        legacy, metered = simulation.gateways
        assert legacy.url.startswith("http://")
        assert metered.url.startswith("https://")
        await simulation.start()  # idempotent
    assert not legacy.online
    assert not metered.online


async def test_start_failure_closes_what_was_opened(
    enphase_simulation: Simulation,
) -> None:
    taken = enphase_simulation.gateways[0].port
    simulation = Simulation(cloud=False, control=False)
    simulation.gateways[0]._listener.port = taken  # force a port clash
    with pytest.raises(OSError):  # noqa: PT011 - the OS decides the exact error
        await simulation.start()
    assert not simulation.gateways[0].online


@pytest.mark.enphase_simulation(
    speed=0,
    start_time=MIDSUMMER + dt.timedelta(hours=6, minutes=50),  # 23:50 at UTC-7
    tz=dt.timezone(dt.timedelta(hours=-7)),
)
async def test_today_resets_at_local_midnight(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    evening = (await fetch(http, gateway, "/ivp/pdm/energy")).json()["consumption"]["eim"]
    assert evening["wattHoursToday"] > 5000  # a day of household load
    enphase_simulation.clock.advance(15 * 60)  # 00:05 local
    night = (await fetch(http, gateway, "/ivp/pdm/energy")).json()["consumption"]["eim"]
    assert night["wattHoursToday"] < 1000  # five minutes of load
    assert night["wattHoursLifetime"] > evening["wattHoursLifetime"]
    assert night["wattHoursSevenDays"] > evening["wattHoursToday"]
