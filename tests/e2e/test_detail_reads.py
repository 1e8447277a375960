"""The reads beyond the brief against the simulator over real HTTPS: every profile, strictly,
and the values agree with each other and with the faster endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import pytest

from enphase_local import GatewaySession, GatewayTimeoutError, NotSupportedError
from enphase_local import endpoints as ep
from enphase_local.models import (
    DeviceKind,
    GeneratorCommand,
    RelayState,
    SourceType,
    StorageMode,
)
from enphase_local.simulator import Simulation
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.profiles import PROFILES
from enphase_local.simulator.pytest_plugin import SimulationFactory

#: Midday on the simulated sites: the inverters produce and the batteries carry power.
MIDDAY = dt.datetime(2025, 6, 21, 18, tzinfo=dt.UTC)
ROWS = ep.ENDPOINTS[ep.ENDPOINTS.index(ep.ENSEMBLE_INVENTORY) :]


def session_for(gateway: SimulatedGateway, **options: Any) -> GatewaySession:
    return GatewaySession(
        gateway.url, token=gateway.token, fingerprint=gateway.fingerprint, strict=True, **options
    )


async def _read_all(gateway: SimulatedGateway) -> dict[str, Any]:
    """Every row's model, or None where the gateway does not serve it."""
    models: dict[str, Any] = {}
    async with session_for(gateway) as session:
        for row in ROWS:
            try:
                models[row.name] = await getattr(session, row.name)()
            except NotSupportedError:
                models[row.name] = None
    return models


@pytest.mark.parametrize("profile", list(PROFILES))
async def test_every_read_of_every_profile_parses_strictly(
    profile: str, enphase_simulation_factory: SimulationFactory
) -> None:
    simulation = await enphase_simulation_factory(profile=profile, speed=0, start_time=MIDDAY)
    models = await _read_all(simulation.gateways[0])
    summary = models["production_summary"]
    assert summary is not None, "every firmware has production, as JSON or as the HTML page"
    assert summary.production[0].type is SourceType.INVERTERS
    assert summary.production[0].power_w > 0
    legacy = PROFILES[profile].legacy
    assert (models["inventory"] is None) is legacy


@pytest.mark.enphase_simulation(profile="battery", speed=0, start_time=MIDDAY)
async def test_battery_reads_agree(enphase_gateway: SimulatedGateway) -> None:
    models = await _read_all(enphase_gateway)
    batteries = models["inventory"].batteries
    powers = models["battery_power"].batteries
    summary = models["battery_summary"]
    assert len(batteries) == len(powers) == 2
    assert [b.serial_number for b in batteries] == [p.serial_number for p in powers]
    for battery, power in zip(batteries, powers, strict=True):
        assert battery.charge_percent == power.charge_percent == summary.battery_charge_percent
        assert battery.temperature_c is not None
        assert battery.capacity_wh is not None
    assert sum(p.active_power_w for p in powers) != 0
    (controller,) = models["inventory"].system_controllers
    assert controller.mains_oper_state is RelayState.CLOSED
    assert controller.temperature_c is not None
    assert 0 < controller.temperature_c < 60  # sent in °F
    relay = models["grid_relay"]
    assert relay.mains_admin_state is controller.mains_admin_state
    status = models["ensemble_status"]
    assert status.summary == summary
    assert set(status.devices) >= {b.serial_number for b in batteries}
    storage = models["tariff"].storage
    assert storage.mode is StorageMode.SELF_CONSUMPTION
    assert storage.reserve_percent == summary.configured_backup_percent
    async with session_for(enphase_gateway) as session:
        await session.enable_live_stream()
        live = await session.live_data()
    assert live.meters is not None
    assert live.meters.storage is not None
    # Positive while discharging in both, the battery parts adding up to the whole.
    total_w = sum(p.active_power_w for p in powers)
    assert total_w == pytest.approx(live.meters.storage.active_power_w, abs=0.01)


@pytest.mark.enphase_simulation(profile="generator", speed=0, start_time=MIDDAY)
async def test_generator_reads(enphase_gateway: SimulatedGateway) -> None:
    models = await _read_all(enphase_gateway)
    assert models["generator"].present is True
    assert models["generator_config"].rated_power_w == PROFILES["generator"].generator_w
    assert models["generator_mode"].command is GeneratorCommand.AUTO
    schedule = models["generator_schedule"]
    assert schedule.seasons[0].days[0].week_days[0] == "Mon"
    assert schedule.default_start_percent == models["generator"].start_percent


@pytest.mark.enphase_simulation(profile="acb", speed=0, start_time=MIDDAY)
async def test_ac_battery_reads(enphase_gateway: SimulatedGateway) -> None:
    models = await _read_all(enphase_gateway)
    (storage,) = models["production_summary"].storage
    assert storage.active_count == PROFILES["acb"].ac_batteries
    assert storage.charge_percent == models["battery_summary"].acb_charge_percent
    acbs = models["device_inventory"].ac_batteries
    assert len(acbs) == PROFILES["acb"].ac_batteries
    assert all(acb.charge_percent == storage.charge_percent for acb in acbs)


@pytest.mark.enphase_simulation(profile="collar", speed=0, start_time=MIDDAY)
async def test_collar_reads(enphase_gateway: SimulatedGateway) -> None:
    inventory = (await _read_all(enphase_gateway))["inventory"]
    assert len(inventory.collars) == len(inventory.combiners) == 1
    assert inventory.system_controllers == ()


@pytest.mark.enphase_simulation(profile="standard", speed=0, start_time=MIDDAY)
async def test_removed_inverters_and_device_detail(enphase_gateway: SimulatedGateway) -> None:
    models = await _read_all(enphase_gateway)
    data = models["device_data"]
    removed = [d for d in data.devices if d.removed]
    assert len(removed) == PROFILES["standard"].removed_inverter_count
    assert not data.is_capped
    assert len(data.inverters) == PROFILES["standard"].inverter_count
    for device in data.inverters:
        assert device.kind is DeviceKind.PCU
        reading = device.channels[0].last_reading
        assert reading is not None
        assert reading.dc_voltage_v is not None
        assert 20 < reading.dc_voltage_v < 60  # sent in mV
    listed = models["device_inventory"].inverters
    assert len(listed) == len(data.devices)  # deleted=1 lists the removed ones too


async def test_slow_rows_get_their_own_time(enphase_simulation_factory: SimulationFactory) -> None:
    simulation: Simulation = await enphase_simulation_factory(profile="metered", speed=0)
    gateway = simulation.gateways[0]
    gateway.faults.set_slow(0.4)  # /home then takes 0.74 s
    async with session_for(gateway, timeout=0.5) as session:
        await session.info()
        home = await session.home()
        assert home.time_zone
        with pytest.raises(GatewayTimeoutError, match=r"within 0\.5 s"):
            await session.fetch(attrs.evolve(ep.HOME, timeout_s=None))
