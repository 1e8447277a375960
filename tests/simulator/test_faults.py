"""Each fault does what the real device does, and the gateway recovers when it is cleared."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import aiohttp
import pytest

from enphase_local.simulator.faults import NightlyWindow
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.harness import Simulation

from .conftest import MIDSUMMER, NOON, fetch

pytestmark = pytest.mark.enphase_simulation(speed=0, start_time=NOON)

DATA = "/ivp/meters/readings"


async def until_idle(gateway: SimulatedGateway) -> None:
    """Wait (briefly) until the gateway has no request in flight."""
    async with asyncio.timeout(5):
        await gateway.wait_idle()


async def test_latency_delays_answers(
    enphase_gateway: SimulatedGateway, http: aiohttp.ClientSession
) -> None:
    enphase_gateway.faults.set_latency(0.3)
    assert (await fetch(http, enphase_gateway, DATA)).status == 200
    record = enphase_gateway.stats.log[-1]
    assert record.finished - record.started >= 0.3
    with pytest.raises(ValueError, match="negative"):
        enphase_gateway.faults.set_latency(-1)


async def test_504_burst_then_recovery(
    enphase_gateway: SimulatedGateway, http: aiohttp.ClientSession
) -> None:
    enphase_gateway.faults.fail(2)
    for _ in range(2):
        answer = await fetch(http, enphase_gateway, DATA)
        assert answer.status == 504
        assert answer.headers["Content-Type"] == "text/html"
        assert b"<title>504 Gateway Time-out</title>" in answer.body
        assert b"openresty/1.17.8.1" in answer.body
    assert (await fetch(http, enphase_gateway, DATA)).status == 200
    assert enphase_gateway.stats.by_status == {504: 2, 200: 1}


async def test_fault_limited_to_one_path_until_cleared(
    enphase_gateway: SimulatedGateway, http: aiohttp.ClientSession
) -> None:
    enphase_gateway.faults.fail(None, status=503, path="/ivp/meters")
    for _ in range(3):
        assert (await fetch(http, enphase_gateway, "/ivp/meters")).status == 503
    assert (await fetch(http, enphase_gateway, "/info", auth=False)).status == 200
    assert "error" in enphase_gateway.faults.active()
    enphase_gateway.faults.clear()
    assert enphase_gateway.faults.active() == {}
    assert (await fetch(http, enphase_gateway, "/ivp/meters")).status == 200
    with pytest.raises(ValueError, match="count"):
        enphase_gateway.faults.fail(0)


async def test_hang_never_answers_and_stops_counting_when_the_client_leaves(
    enphase_gateway: SimulatedGateway, http: aiohttp.ClientSession
) -> None:
    enphase_gateway.faults.hang(1)
    with pytest.raises(TimeoutError):
        await fetch(http, enphase_gateway, DATA, timeout_s=0.3)
    await until_idle(enphase_gateway)
    assert enphase_gateway.stats.by_status[0] == 1  # no answer was sent
    assert (await fetch(http, enphase_gateway, DATA)).status == 200
    assert enphase_gateway.stats.max_in_flight == 1


async def test_truncated_body_drops_the_connection(
    enphase_gateway: SimulatedGateway, http: aiohttp.ClientSession
) -> None:
    enphase_gateway.faults.truncate(1)
    with pytest.raises(aiohttp.ClientPayloadError):
        await fetch(http, enphase_gateway, DATA)
    assert (await fetch(http, enphase_gateway, DATA)).status == 200


async def test_truncated_json_in_a_complete_message(
    enphase_gateway: SimulatedGateway, http: aiohttp.ClientSession
) -> None:
    whole = await fetch(http, enphase_gateway, "/ivp/meters")
    enphase_gateway.faults.truncate(1, close_connection=False)
    cut = await fetch(http, enphase_gateway, "/ivp/meters")
    assert cut.status == 200
    assert cut.body == whole.body[: len(whole.body) // 2]
    with pytest.raises(json.JSONDecodeError):
        cut.json()


async def test_html_where_json_was_expected(
    enphase_gateway: SimulatedGateway, http: aiohttp.ClientSession
) -> None:
    enphase_gateway.faults.serve_html(1, path=DATA)
    answer = await fetch(http, enphase_gateway, DATA)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/html"
    assert answer.body.startswith(b"<!DOCTYPE html>")
    assert b"Not Found" not in answer.body
    enphase_gateway.faults.serve_html(1, path=DATA, not_found=True)
    answer = await fetch(http, enphase_gateway, DATA)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"  # as old firmware did
    assert b"<h2>Page Not Found</h2>" in answer.body
    assert (await fetch(http, enphase_gateway, DATA)).json()[0]["eid"] == 704643328


async def test_reboot_refuses_connections_then_resumes_consistently(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    assert (await fetch(http, gateway, "/auth/check_jwt")).status == 200
    before = (await fetch(http, gateway, "/api/v1/production")).json()
    await gateway.reboot(0.5)
    assert not gateway.online
    with pytest.raises(aiohttp.ClientConnectorError):
        await fetch(http, gateway, "/info", auth=False)
    enphase_simulation.clock.advance(120)
    async with asyncio.timeout(5):
        await gateway.wait_online()
    assert gateway.online
    assert (await fetch(http, gateway, DATA, auth=False)).status == 401  # sessions are gone
    after = (await fetch(http, gateway, "/api/v1/production")).json()
    assert after["wattHoursLifetime"] > before["wattHoursLifetime"]
    assert after["wattHoursToday"] > before["wattHoursToday"]
    assert gateway.stats.reboots == 1


async def test_reboot_switches_the_live_stream_off(
    enphase_gateway: SimulatedGateway, http: aiohttp.ClientSession
) -> None:
    enable = {"enable": 1}
    await fetch(http, enphase_gateway, "/ivp/livedata/stream", method="POST", body=enable)
    live = (await fetch(http, enphase_gateway, "/ivp/livedata/status")).json()
    assert live["connection"]["sc_stream"] == "enabled"
    await enphase_gateway.reboot(0.05)
    await enphase_gateway.wait_online()
    live = (await fetch(http, enphase_gateway, "/ivp/livedata/status")).json()
    assert live["connection"]["sc_stream"] == "disabled"


async def test_stop_during_reboot_cancels_the_restart(enphase_gateway: SimulatedGateway) -> None:
    await enphase_gateway.reboot(30)
    await enphase_gateway.stop()
    assert not enphase_gateway.online


@pytest.mark.enphase_simulation(speed=0, start_time=MIDSUMMER + dt.timedelta(hours=22, minutes=59))
async def test_nightly_window(enphase_simulation: Simulation, http: aiohttp.ClientSession) -> None:
    gateway = enphase_simulation.gateways[0]
    gateway.faults.set_nightly(NightlyWindow(duration_s=300, hang_s=0.2))
    assert (await fetch(http, gateway, DATA)).status == 200  # 22:59
    enphase_simulation.clock.advance(120)  # 23:01
    answer = await fetch(http, gateway, DATA)
    assert answer.status == 504
    record = gateway.stats.log[-1]
    assert record.finished - record.started >= 0.2
    with pytest.raises(TimeoutError):  # a client with a short timeout sees a hang
        await fetch(http, gateway, "/info", auth=False, timeout_s=0.05)
    enphase_simulation.clock.advance(300)  # 23:06
    await until_idle(gateway)
    assert (await fetch(http, gateway, DATA)).status == 200


@pytest.mark.enphase_simulation(speed=0, start_time=MIDSUMMER + dt.timedelta(hours=23, minutes=1))
async def test_nightly_window_can_spare_info(
    enphase_gateway: SimulatedGateway, http: aiohttp.ClientSession
) -> None:
    window = NightlyWindow(hang_s=0.05, spared_paths=frozenset({"/info"}))
    enphase_gateway.faults.set_nightly(window)
    assert (await fetch(http, enphase_gateway, "/info", auth=False)).status == 200
    assert (await fetch(http, enphase_gateway, DATA)).status == 504
    assert enphase_gateway.stats.faults_served["nightly"] == 1


async def test_requests_in_flight_are_counted(
    enphase_gateway: SimulatedGateway, http: aiohttp.ClientSession
) -> None:
    for _ in range(3):
        await fetch(http, enphase_gateway, DATA)
    assert enphase_gateway.stats.max_in_flight == 1
    enphase_gateway.faults.set_latency(0.2)
    await asyncio.gather(*(fetch(http, enphase_gateway, DATA) for _ in range(3)))
    assert enphase_gateway.stats.max_in_flight == 3
    assert enphase_gateway.stats.in_flight == 0
    enphase_gateway.stats.reset()
    assert enphase_gateway.stats.max_in_flight == 0
    assert enphase_gateway.stats.requests == 0
