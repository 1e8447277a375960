"""Token lifecycle through GatewaySession, against the simulator's cloud and gateway (HTTPS).

Tokens here live a few seconds so that expiry, refresh and outages happen within a test;
the manager's expiry skew is one second to match (real tokens live hours to months).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator

import pytest

from enphase_local import (
    CloudTokenSource,
    EnphaseCloud,
    GatewaySession,
    TokenExpiredError,
    TokenManager,
)
from enphase_local.simulator import Simulation

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
LIFETIME_S = 6


@pytest.fixture
async def cloud(enphase_simulation: Simulation) -> AsyncIterator[EnphaseCloud]:
    assert enphase_simulation.cloud is not None
    client = EnphaseCloud(
        enphase_simulation.owner.username,
        enphase_simulation.owner.password,
        enlighten_url=enphase_simulation.cloud.url,
        entrez_url=enphase_simulation.cloud.url,
        ssl=enphase_simulation.cloud.client_ssl_context() or True,
        retry_delay=0.01,
    )
    async with client:
        yield client


def manager(cloud: EnphaseCloud, margin_s: float = 3.0) -> TokenManager:
    # The cloud rounds iat down to the second, so a token lives up to a second less than
    # LIFETIME_S: a one-second skew keeps requests off the expiry edge.
    return TokenManager(
        CloudTokenSource(cloud),
        refresh_margin=dt.timedelta(seconds=margin_s),
        expiry_skew=dt.timedelta(seconds=1),
        retry_interval=dt.timedelta(seconds=0.2),
        max_retry_interval=dt.timedelta(seconds=0.5),
    )


@pytest.mark.enphase_simulation(start_time=NOON, owner_token_lifetime_s=LIFETIME_S)
async def test_tokens_expiring_while_polling_are_replaced_without_a_failed_request(
    enphase_simulation: Simulation, cloud: EnphaseCloud
) -> None:
    gateway = enphase_simulation.gateways[0]
    used: set[str] = set()
    async with GatewaySession(
        gateway.url, token=manager(cloud), fingerprint=gateway.fingerprint
    ) as client:
        deadline = time.monotonic() + 2 * LIFETIME_S
        polls = 0
        while time.monotonic() < deadline:
            await client.meter_readings()  # any failure here fails the test
            polls += 1
            assert client.token is not None
            used.add(client.token.fingerprint)
            await asyncio.sleep(0.1)
    assert polls > 50
    assert len(used) >= 3  # at least two refreshes during the run
    assert gateway.stats.by_status[401] == 0
    assert enphase_simulation.cloud is not None
    # Every token fetched was put in use, but for one still being fetched when polling ended.
    assert len(used) <= enphase_simulation.cloud.stats.tokens <= len(used) + 1


@pytest.mark.enphase_simulation(start_time=NOON, owner_token_lifetime_s=LIFETIME_S)
async def test_concurrent_requests_during_refresh_make_one_cloud_call(
    enphase_simulation: Simulation, cloud: EnphaseCloud
) -> None:
    gateway = enphase_simulation.gateways[0]
    assert enphase_simulation.cloud is not None
    async with GatewaySession(
        gateway.url, token=manager(cloud), fingerprint=gateway.fingerprint
    ) as client:
        await client.production()
        issued = enphase_simulation.cloud.stats.tokens
        await asyncio.sleep(3.2)  # now inside the 3 s margin: a refresh is due
        await asyncio.gather(*(client.production() for _ in range(100)))
        await asyncio.sleep(0.3)
        await client.production()
    assert enphase_simulation.cloud.stats.tokens == issued + 1
    assert gateway.stats.max_in_flight == 1


@pytest.mark.enphase_simulation(start_time=NOON, owner_token_lifetime_s=LIFETIME_S)
async def test_cloud_outage_keeps_the_valid_token_then_reports_expiry(
    enphase_simulation: Simulation, cloud: EnphaseCloud
) -> None:
    gateway = enphase_simulation.gateways[0]
    assert enphase_simulation.cloud is not None
    async with GatewaySession(
        gateway.url, token=manager(cloud), fingerprint=gateway.fingerprint
    ) as client:
        await client.production()
        first = client.token
        enphase_simulation.cloud.fail_tokens(503)
        await asyncio.sleep(3.5)  # refresh due, cloud down: still served with the old token
        await client.production()
        assert client.token == first
        await asyncio.sleep(LIFETIME_S)  # now the old token has expired too
        with pytest.raises(TokenExpiredError, match="expired"):
            await client.production()
        enphase_simulation.cloud.fail_tokens(None)
        await asyncio.sleep(0.6)  # past the retry rest
        await client.production()
        assert client.token != first


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_revocation_on_the_gateway_is_recovered_with_a_new_cloud_token(
    enphase_simulation: Simulation, cloud: EnphaseCloud
) -> None:
    gateway = enphase_simulation.gateways[0]
    async with GatewaySession(
        gateway.url, token=CloudTokenSource(cloud), fingerprint=gateway.fingerprint
    ) as client:
        await client.production()
        revoked = client.token
        assert revoked is not None
        assert revoked.jti is not None
        gateway.revoke_token(revoked.jti)
        await client.production()
        assert client.token != revoked
