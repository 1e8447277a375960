"""The library's own client reads every simulated profile strictly (unknown keys are errors)."""

from __future__ import annotations

import pytest

from enphase_local import GatewaySession, NotSupportedError
from enphase_local.simulator.harness import Simulation

from .conftest import NOON


@pytest.mark.enphase_simulation(
    profile=["metered", "three-phase", "standard", "battery", "legacy"], speed=0, start_time=NOON
)
async def test_every_profile_parses_strictly(enphase_simulation: Simulation) -> None:
    for gateway in enphase_simulation.gateways:
        profile = gateway.profile
        assert profile is not None
        async with GatewaySession(
            gateway.url, token=gateway.token, fingerprint=gateway.fingerprint, strict=True
        ) as client:
            info = await client.info()
            assert info.serial_number == gateway.serial
            production = await client.production()
            assert production.power_w > 0
            inverters = await client.inverters()  # digest auth on legacy firmware
            assert len(inverters) == profile.inverter_count
            assert len(await client.meters()) == len(profile.meters)
            assert len(await client.meter_readings()) == len(profile.meters)
            if profile.legacy:
                with pytest.raises(NotSupportedError):
                    await client.energy()
                continue
            await client.energy()
            await client.enable_live_stream()
            await client.live_data()
            await client.consumption_reports()
            await client.grid_readings()
            if profile.battery_count:
                assert len((await client.device_list()).devices) == profile.battery_count
            else:
                with pytest.raises(NotSupportedError):
                    await client.device_list()
    assert all(g.stats.max_in_flight == 1 for g in enphase_simulation.gateways)
