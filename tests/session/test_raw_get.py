"""``GatewaySession.raw_get``: the reply as it came, through the same auth as the endpoints."""

from __future__ import annotations

import json

import pytest

from enphase_local import GatewaySession
from enphase_local.errors import EndpointForbiddenError, TokenSerialMismatchError
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.harness import Simulation


def session_for(gateway: SimulatedGateway, token: str | None = None) -> GatewaySession:
    return GatewaySession(
        gateway.url, token=token or gateway.token, fingerprint=gateway.fingerprint, retries=0
    )


async def test_any_status_comes_back_unparsed(enphase_gateway: SimulatedGateway) -> None:
    async with session_for(enphase_gateway) as session:
        missing = await session.raw_get("/ivp/ensemble/device_list")  # no batteries here
        meters = await session.raw_get("/ivp/meters")
    assert missing.status == 404
    assert json.loads(missing.body) == {"err": "404 - Not Found"}
    assert meters.status == 200
    assert "Content-Type" not in meters.headers  # as /ivp/* replies come
    assert isinstance(json.loads(meters.body), list)


async def test_the_query_string_is_sent(enphase_gateway: SimulatedGateway) -> None:
    async with session_for(enphase_gateway) as session:
        plain = await session.raw_get("/production.json")
        detailed = await session.raw_get("/production.json?details=1")
    assert plain.status == detailed.status == 200
    assert b'"lines"' in detailed.body
    assert b'"lines"' not in plain.body


@pytest.mark.enphase_simulation(gateways=2)
async def test_info_goes_without_a_token(enphase_simulation: Simulation) -> None:
    first, second = enphase_simulation.gateways
    async with session_for(first, token=second.token) as session:
        info = await session.raw_get("/info")
        assert info.status == 200
        assert first.serial.encode() in info.body
        with pytest.raises(TokenSerialMismatchError):
            await session.raw_get("/ivp/meters")  # the token is for the other gateway
    assert first.stats.by_path["/auth/check_jwt"] == 0
    assert not first.stats.auth_failures


@pytest.mark.enphase_simulation(profile="legacy")
async def test_legacy_inverters_use_digest_credentials(enphase_gateway: SimulatedGateway) -> None:
    async with GatewaySession(enphase_gateway.url) as session:
        reply = await session.raw_get("/api/v1/production/inverters")
    assert reply.status == 200
    assert enphase_gateway.stats.by_status[401] == 1  # the challenge, then the answer


@pytest.mark.enphase_simulation(installer_only=["/ivp/pdm/energy"])
async def test_a_role_refusal_still_raises(enphase_gateway: SimulatedGateway) -> None:
    async with session_for(enphase_gateway) as session:
        with pytest.raises(EndpointForbiddenError):
            await session.raw_get("/ivp/pdm/energy")
