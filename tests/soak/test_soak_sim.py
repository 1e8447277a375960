"""The soak's handle on the simulated gateways, in this process and in a child process.

Both kinds must do the same thing through their own plumbing (direct calls; the control
API of a child ``python -m benchmarks.soak_sim``): tokens minted with a given age, a cloud
whose ``/tokens`` fails on demand (trusted through the certificate the child hands over), a
connection cut mid-body and counted by the gateway, a reboot that returns once the gateway
listens again, and the final totals. The soak's retry watch is checked here too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable

import aiohttp
import pytest

from benchmarks.soak import NOON, Retries, _cloud_source
from benchmarks.soak_sim import LocalGateways, RemoteGateways, SimGateways
from enphase_local.endpoints import METER_READINGS
from enphase_local.errors import CloudError
from enphase_local.simulator import Simulation

PROFILES = ("metered", "legacy")
SPEED = 10.0


def local() -> SimGateways:
    return LocalGateways(
        Simulation(profile=list(PROFILES), start_time=NOON, speed=SPEED, control=False)
    )


def remote() -> SimGateways:
    return RemoteGateways(PROFILES, start_time=NOON, speed=SPEED)


def claims(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    assert isinstance(value, dict)
    return value


async def cut_reading(url: str, token: str) -> None:
    """One GET of the meter readings, which the gateway must cut mid-body."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(url + METER_READINGS.path, headers=headers, ssl=False) as reply,
    ):
        assert reply.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await reply.read()


@pytest.mark.parametrize("make", [local, remote], ids=["in-process", "child-process"])
async def test_gateways_do_what_the_soak_asks(make: Callable[[], SimGateways]) -> None:
    sim = make()
    await sim.start()
    try:
        metered, legacy = sim.gateways
        assert (metered.web_tokens, metered.metered) == (True, True)
        assert legacy.web_tokens is False
        assert metered.host == metered.url.removeprefix("https://")
        assert abs(sim.now() - NOON.timestamp()) < 600 * SPEED  # the child's clock, followed

        issued = time.time() - 60.0
        token = await sim.mint(metered.serial, lifetime_s=140.0, issued_at=issued)
        assert claims(token)["aud"] == metered.serial
        assert claims(token)["iat"] == int(issued)

        await sim.truncate(metered.serial, 1, close_connection=True, path=METER_READINGS.path)
        await cut_reading(metered.url, token)
        assert (await sim.counters(metered.serial)).faults_served == {"cut": 1}

        cloud = _cloud_source(sim.cloud)
        async with cloud:
            await sim.fail_cloud_tokens(503)
            with pytest.raises(CloudError):
                await cloud.get(metered.serial)
            await sim.fail_cloud_tokens(None)
            fetched = await cloud.get(metered.serial)
            assert fetched.serial == metered.serial

        before = await sim.counters(metered.serial)
        await sim.revoke_all(metered.serial)
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": f"Bearer {token}"}
            async with http.get(
                metered.url + METER_READINGS.path, headers=headers, ssl=False
            ) as reply:
                assert reply.status == 401
        assert (await sim.counters(metered.serial)).auth_failures == before.auth_failures + 1

        await asyncio.wait_for(sim.reboot(legacy.serial, 0.2), timeout=20)
        async with aiohttp.ClientSession() as http, http.get(legacy.url + "/info") as reply:
            assert reply.status == 200
    finally:
        totals = await sim.stop()
    assert totals.max_in_flight == 1
    assert totals.expired_refusals == 0
    assert totals.simulator_errors in (None, 0)  # None: counted by the soak's own log watch


async def test_retry_watch_names_the_gateway_by_its_poll_task() -> None:
    watch = Retries()
    watch.watch(["127.0.0.1:4430"])
    logger = logging.getLogger("tests.soak.retries")
    logger.addHandler(watch)
    logger.setLevel(logging.DEBUG)
    started = time.monotonic()

    async def worker() -> None:
        logger.debug("GET %s: transient failure, retry %d in %.2f s", "/x", 1, 0.05)
        logger.debug("GET %s -> %d (%d bytes) in %.1f ms", "/x", 200, 10, 1.0)

    async def other() -> None:
        logger.debug("GET %s: transient failure, retry %d in %.2f s", "/x", 1, 0.05)

    try:
        await asyncio.create_task(worker(), name="enphase-poll-127.0.0.1:4430")
        await asyncio.create_task(other(), name="soak reboot")
        await asyncio.create_task(other(), name="enphase-poll-127.0.0.1:9999")  # not watched
    finally:
        logger.removeHandler(watch)
    seen = watch.first_after("127.0.0.1:4430", started)
    assert seen is not None
    assert seen >= started
    assert watch.first_after("127.0.0.1:4430", seen + 1.0) is None
    assert list(watch.times) == ["127.0.0.1:4430"]
