"""Quirks of real gateways that are off by default: redirecting port 80, counters that misbehave."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import aiohttp
import pytest

from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.harness import Simulation
from enphase_local.simulator.physics import Plant
from enphase_local.simulator.pytest_plugin import SimulationFactory

from .conftest import MIDSUMMER, NOON, fetch


def plant_of(gateway: SimulatedGateway) -> Plant:
    assert gateway.plant is not None
    return gateway.plant


@pytest.mark.parametrize("target", ["https", "localhost"])
async def test_port_80_redirects_to_https(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession, target: str
) -> None:
    simulation = await enphase_simulation_factory(
        profile=["metered", "legacy"], http_redirect=target
    )
    gateway, legacy = simulation.gateways
    assert legacy.redirect_url is None  # legacy firmware serves data over HTTP itself
    assert gateway.redirect_url is not None
    assert gateway.redirect_url.startswith("http://127.0.0.1:")
    async with http.get(
        gateway.redirect_url + "/ivp/meters?x=1", allow_redirects=False
    ) as response:
        assert response.status == 301
        location = response.headers["Location"]
    host = "localhost" if target == "localhost" else gateway.url.removeprefix("https://")
    assert location == f"https://{host}/ivp/meters?x=1"
    assert gateway.stats.requests == 0  # the redirect never reached the gateway proper


def test_redirect_values_are_checked() -> None:
    with pytest.raises(ValueError, match="http_redirect"):
        Simulation(http_redirect="ftp")


@pytest.mark.enphase_simulation(speed=0, start_time=MIDSUMMER - dt.timedelta(minutes=5))
async def test_today_resets_late_and_to_a_non_zero_value(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    plant_of(gateway).today_reset_delay_s = 600

    async def consumption_today() -> int:
        energy = (await fetch(http, gateway, "/ivp/pdm/energy")).json()
        today: int = energy["consumption"]["eim"]["wattHoursToday"]
        return today

    before_midnight = await consumption_today()
    enphase_simulation.clock.advance(10 * 60)  # 00:05, still counting from yesterday
    late = await consumption_today()
    assert late > before_midnight
    enphase_simulation.clock.advance(6 * 60)  # 00:11, reset to the energy since midnight
    reset = await consumption_today()
    assert 0 < reset < before_midnight


@pytest.mark.enphase_simulation(speed=0, start_time=NOON)
async def test_lifetime_counters_can_wrap(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    before = (await fetch(http, gateway, "/api/v1/production")).json()["wattHoursLifetime"]
    plant_of(gateway).lifetime_wrap_wh = 1_000_000
    after = (await fetch(http, gateway, "/api/v1/production")).json()["wattHoursLifetime"]
    assert after == before % 1_000_000


@pytest.mark.enphase_simulation(speed=0, start_time=NOON)
async def test_firmware_update_without_notice(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    gateway.set_firmware("D8.3.5167")
    gateway.removed_paths.add("/ivp/pdm/energy")
    info = await fetch(http, gateway, "/info", auth=False)
    assert b"<software>D8.3.5167</software>" in info.body
    assert b"<version>08.03.5167</version>" in info.body
    assert (await fetch(http, gateway, "/ivp/pdm/energy")).status == 404


async def test_replayed_gateways_keep_their_firmware(tmp_path: Path) -> None:
    (tmp_path / "info").write_bytes(
        b"<envoy_info><device><sn>1</sn><software>D7.6.175</software></device></envoy_info>"
    )
    simulation = Simulation(replay=tmp_path, cloud=False, control=False)
    with pytest.raises(TypeError, match="simulated"):
        simulation.gateways[0].set_firmware("D8.3.5167")
