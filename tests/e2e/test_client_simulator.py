"""The client against the simulator over real HTTPS on loopback: every endpoint, auth, faults."""

from __future__ import annotations

import asyncio
import datetime as dt
import math

import pytest

from enphase_local import (
    AuthenticationError,
    CertificateMismatchError,
    EndpointForbiddenError,
    GatewayConnectionError,
    GatewaySession,
    GatewayTimeoutError,
    HttpStatusError,
    LiveStreamState,
    MeasurementType,
    NotSupportedError,
    PayloadError,
    TokenExpiredError,
    TokenRejectedError,
    TokenSerialMismatchError,
)
from enphase_local.auth.sources import CallbackTokenSource
from enphase_local.simulator import NightlyWindow, Simulation
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.pytest_plugin import SimulationFactory

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)


def session_for(gateway: SimulatedGateway, **kwargs: object) -> GatewaySession:
    """A session with the simulated gateway's URL, pinned certificate and owner token."""
    options: dict[str, object] = {
        "token": gateway.token,
        "fingerprint": gateway.fingerprint,
        "retry_backoff": 0.01,
    }
    options.update(kwargs)
    return GatewaySession(gateway.url, **options)  # type: ignore[arg-type]  # test options


@pytest.mark.enphase_simulation(profile=["metered", "three-phase", "battery"], start_time=NOON)
async def test_every_endpoint_of_metered_profiles(enphase_simulation: Simulation) -> None:
    for gateway in enphase_simulation.gateways:
        async with session_for(gateway, strict=True) as client:
            info = await client.info()
            assert info.serial_number == gateway.serial
            assert info.web_tokens
            meters = await client.meters()
            readings = await client.meter_readings()
            production = await client.production()
            inverters = await client.inverters()
            energy = await client.energy()
            assert await client.enable_live_stream() == LiveStreamState.ENABLED
            live = await client.live_data()
            reports = await client.consumption_reports()
            grid = await client.grid_readings()

        kinds = {m.measurement_type for m in meters}
        assert MeasurementType.PRODUCTION in kinds
        assert MeasurementType.NET_CONSUMPTION in kinds
        assert {r.eid for r in readings} == {m.eid for m in meters}
        assert production.power_w > 0  # midsummer noon
        assert inverters
        assert sum(i.last_report_w for i in inverters) > 0
        assert energy.production_inverters is not None
        assert live.connection.stream_state == LiveStreamState.ENABLED
        assert reports
        assert grid
        assert grid[0].channels
        phases = 3 if gateway.profile is not None and gateway.profile.name == "three-phase" else 2
        assert len([c for c in grid[0].channels if c.voltage_v > 0]) == phases
        for reading in readings:
            assert all(math.isfinite(c.voltage_v) for c in reading.channels)


@pytest.mark.enphase_simulation(profile="battery", start_time=NOON)
async def test_battery_profile_lists_the_battery(enphase_gateway: SimulatedGateway) -> None:
    async with session_for(enphase_gateway) as client:
        devices = await client.device_list()
        meters = await client.meters()
    assert any(d.device_type.name == "STORAGE" for d in devices.devices)
    assert MeasurementType.STORAGE in {m.measurement_type for m in meters}


@pytest.mark.enphase_simulation(profile="standard", start_time=NOON)
async def test_standard_profile_has_no_meters(enphase_gateway: SimulatedGateway) -> None:
    async with session_for(enphase_gateway) as client:
        assert await client.meters() == ()
        assert await client.meter_readings() == ()
        with pytest.raises(NotSupportedError):
            await client.device_list()
        assert (await client.production()).energy_lifetime_wh > 0


@pytest.mark.enphase_simulation(profile="legacy", start_time=NOON)
async def test_legacy_profile_over_http_with_digest(enphase_gateway: SimulatedGateway) -> None:
    assert enphase_gateway.url.startswith("http://")
    async with GatewaySession(enphase_gateway.url) as client:
        info = await client.info()
        assert not info.web_tokens
        assert client.is_legacy
        inverters = await client.inverters()
        inverters_again = await client.inverters()
        production = await client.production()
    assert inverters
    assert inverters_again
    assert production.energy_lifetime_wh > 0
    assert enphase_gateway.stats.by_path["/auth/check_jwt"] == 0


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_check_jwt_once_then_the_cookie(enphase_gateway: SimulatedGateway) -> None:
    async with session_for(enphase_gateway) as client:
        for _ in range(5):
            await client.meter_readings()
    assert enphase_gateway.stats.sessions_opened == 1
    assert enphase_gateway.stats.by_path["/auth/check_jwt"] == 1


@pytest.mark.enphase_simulation(start_time=NOON, speed=0)
async def test_idle_session_cookie_does_not_interrupt_polling(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway
) -> None:
    # The cookie idles out after 10 minutes; the Bearer header sent beside it keeps
    # the request authorized, so no extra check_jwt is needed.
    async with session_for(enphase_gateway) as client:
        await client.meter_readings()
        enphase_simulation.clock.advance(11 * 60)
        assert await client.meter_readings()
    assert enphase_gateway.stats.sessions_opened == 1
    assert enphase_gateway.stats.by_status[401] == 0


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_refused_tokens(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway
) -> None:
    serial = enphase_gateway.serial
    minted = enphase_simulation.tokens
    async with session_for(enphase_gateway, token=None) as client:
        with pytest.raises(AuthenticationError, match="needs an access token"):
            await client.production()
    async with session_for(enphase_gateway, token=minted.bad_signature(serial)) as client:
        with pytest.raises(TokenRejectedError):
            await client.production()
    async with session_for(enphase_gateway, token=minted.wrong_audience(serial)) as client:
        with pytest.raises(TokenSerialMismatchError):
            await client.production()
    async with session_for(enphase_gateway, token=minted.expired(serial)) as client:
        with pytest.raises(TokenExpiredError):
            await client.production()
    # Only the bad signature reached the gateway; the others were refused before sending.
    assert enphase_gateway.stats.auth_failures.total() >= 1
    assert enphase_gateway.stats.by_path["/api/v1/production"] == 0


@pytest.mark.enphase_simulation(start_time=NOON, installer_only=["/ivp/pdm/energy"])
async def test_installer_only_endpoint(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway
) -> None:
    async with session_for(enphase_gateway) as client:
        with pytest.raises(EndpointForbiddenError, match="role") as caught:
            await client.energy()
        assert not isinstance(caught.value, TokenRejectedError)
        assert (await client.production()).power_w >= 0
    installer = enphase_simulation.tokens.installer(enphase_gateway.serial)
    async with session_for(enphase_gateway, token=installer) as client:
        assert (await client.energy()).production_inverters is not None


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_revoked_token_is_replaced_from_the_source(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway
) -> None:
    handed_out: list[str] = []

    async def mint(serial: str) -> str:
        token = enphase_simulation.tokens.owner(serial)
        handed_out.append(token)
        return token

    async with session_for(enphase_gateway, token=CallbackTokenSource(mint)) as client:
        await client.production()
        enphase_gateway.revoke_all_tokens()
        await client.production()
    assert len(handed_out) == 2
    assert enphase_gateway.stats.by_status[200] >= 3


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_pinned_fingerprint_mismatch_refuses_before_sending(
    enphase_gateway: SimulatedGateway,
) -> None:
    async with session_for(enphase_gateway, fingerprint="00" * 32) as client:
        with pytest.raises(CertificateMismatchError):
            await client.info()
        with pytest.raises(CertificateMismatchError):
            await client.production()
    assert enphase_gateway.stats.requests == 0


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_504_burst_is_ridden_out(enphase_gateway: SimulatedGateway) -> None:
    async with session_for(enphase_gateway) as client:
        await client.info()
        enphase_gateway.faults.fail(2, status=504, path="/api/v1/production")
        assert (await client.production()).power_w >= 0
        enphase_gateway.faults.fail(5, status=504, path="/api/v1/production")
        with pytest.raises(HttpStatusError) as caught:
            await client.production()
    assert caught.value.status == 504


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_hang_times_out(enphase_gateway: SimulatedGateway) -> None:
    async with session_for(enphase_gateway, timeout=0.3, retries=0) as client:
        await client.info()
        enphase_gateway.faults.hang(1, path="/ivp/meters/readings")
        with pytest.raises(GatewayTimeoutError):
            await client.meter_readings()
        assert await client.meter_readings()


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_a_caller_cancelling_a_hung_request_is_a_cancellation_not_a_timeout(
    enphase_gateway: SimulatedGateway,
) -> None:
    async with session_for(enphase_gateway, timeout=30.0, retries=0) as client:
        await client.info()
        enphase_gateway.faults.hang(1, path="/ivp/meters/readings")
        task = asyncio.create_task(client.meter_readings())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await client.meter_readings()  # the session is still usable


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_a_deadline_and_a_caller_cancelling_together_stay_a_cancellation(
    enphase_gateway: SimulatedGateway,
) -> None:
    async with session_for(enphase_gateway, timeout=0.2, retries=0) as client:
        await client.info()
        enphase_gateway.faults.hang(1, path="/ivp/meters/readings")

        async def cancelled_at_the_deadline() -> None:
            current = asyncio.current_task()
            assert current is not None
            asyncio.get_running_loop().call_later(0.2, current.cancel)
            await client.meter_readings()

        with pytest.raises(asyncio.CancelledError):
            await asyncio.create_task(cancelled_at_the_deadline())
        enphase_gateway.faults.hang(1, path="/ivp/meters/readings")
        with pytest.raises(GatewayTimeoutError, match=r"within 0\.2 s"):
            await client.meter_readings()  # the deadline alone: a timeout


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_truncated_and_html_bodies(enphase_gateway: SimulatedGateway) -> None:
    async with session_for(enphase_gateway, retries=0) as client:
        await client.info()
        enphase_gateway.faults.truncate(1, path="/ivp/meters/readings", close_connection=True)
        with pytest.raises(GatewayConnectionError):
            await client.meter_readings()
        enphase_gateway.faults.truncate(1, path="/ivp/meters/readings", close_connection=False)
        with pytest.raises(PayloadError):
            await client.meter_readings()
        enphase_gateway.faults.serve_html(1, path="/ivp/meters/readings")
        with pytest.raises(PayloadError, match="HTML"):
            await client.meter_readings()
        assert await client.meter_readings()


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_reboot_then_recovery(enphase_gateway: SimulatedGateway) -> None:
    async with session_for(enphase_gateway, retries=0) as client:
        before = await client.production()
        await enphase_gateway.reboot(downtime_s=0.5)
        with pytest.raises(GatewayConnectionError):
            await client.production()
        await enphase_gateway.wait_online()
        after = await client.production()
    assert after.energy_lifetime_wh >= before.energy_lifetime_wh


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_one_request_in_flight_however_many_callers(
    enphase_gateway: SimulatedGateway,
) -> None:
    async with session_for(enphase_gateway) as client:
        await asyncio.gather(
            *(getattr(client, name)() for name in ["meter_readings", "production"] * 25)
        )
    assert enphase_gateway.stats.max_in_flight == 1
    assert enphase_gateway.stats.requests >= 50


async def test_several_gateways_at_once(enphase_simulation_factory: SimulationFactory) -> None:
    simulation = await enphase_simulation_factory(gateways=4, start_time=NOON)
    clients = [session_for(g) for g in simulation.gateways]
    try:
        results = await asyncio.gather(*(c.production() for c in clients))
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    assert len(results) == 4
    assert {c.serial for c in clients} == {g.serial for g in simulation.gateways}


@pytest.mark.enphase_simulation(start_time=NOON.replace(hour=22, minute=59), speed=0)
async def test_nightly_window_is_a_clear_error_then_passes(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway
) -> None:
    enphase_gateway.faults.set_nightly(NightlyWindow(duration_s=300, hang_s=0.2))
    async with session_for(enphase_gateway, retries=0) as client:
        assert await client.meter_readings()  # 22:59: before the window
        enphase_simulation.clock.advance(120)  # 23:01: inside
        with pytest.raises(HttpStatusError) as caught:
            await client.meter_readings()
        assert caught.value.status == 504
        enphase_simulation.clock.advance(300)  # 23:06: over
        assert await client.meter_readings()


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_added_latency_within_the_timeout_is_waited_for(
    enphase_gateway: SimulatedGateway,
) -> None:
    async with session_for(enphase_gateway, timeout=5.0, retries=0) as client:
        await client.info()
        enphase_gateway.faults.set_latency(0.3)
        assert (await client.production()).power_w >= 0
        enphase_gateway.faults.set_latency(2.0)
    async with session_for(enphase_gateway, timeout=0.5, retries=0) as client:
        with pytest.raises(GatewayTimeoutError):
            await client.production()
