"""Token sources, manager and CLI against the simulator's fake cloud and gateways (real HTTPS)."""

from __future__ import annotations

import argparse
import io
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from enphase_local.auth.cache import TokenCache
from enphase_local.auth.cloud import EnphaseCloud
from enphase_local.auth.manager import TokenManager
from enphase_local.auth.sources import CachedTokenSource, CloudTokenSource
from enphase_local.auth.token import Token, TokenRole
from enphase_local.cli import token as token_cli
from enphase_local.errors import (
    CloudLoginError,
    CloudSerialError,
    CloudUnavailableError,
    MfaRequiredError,
    TokenRejectedError,
)
from enphase_local.simulator.cloud import CloudAccount
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.harness import Simulation
from tests.tokens.simcloud import client


def cloud_for(sim: Simulation, account: CloudAccount, password: str | None = None) -> EnphaseCloud:
    assert sim.cloud is not None
    return client(sim.cloud, account, password=password, attempts=2)


async def check_jwt(gateway: SimulatedGateway, token: Token) -> None:
    """What the session does before switching tokens: GET /auth/check_jwt with the Bearer."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{gateway.url}/auth/check_jwt",
            headers={"Authorization": f"Bearer {token.secret()}"},
            ssl=False,  # the gateway's self-signed certificate, as the library accepts it
        ) as response,
    ):
        body = await response.text()
    if response.status == 401:
        raise TokenRejectedError(f"check_jwt answered 401 for {token}")
    assert response.status == 200
    assert "Valid token" in body


async def test_owner_token_from_the_cloud_passes_check_jwt(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway
) -> None:
    async with cloud_for(enphase_simulation, enphase_simulation.owner) as cloud:
        token = await cloud.fetch_token(enphase_gateway.serial)
    assert token.serial == enphase_gateway.serial
    assert token.role is TokenRole.OWNER
    assert token.issuer == "Entrez"
    assert token.username == enphase_simulation.owner.username
    assert token.lifetime is not None
    assert token.lifetime >= timedelta(days=180)
    await check_jwt(enphase_gateway, token)


async def test_installer_token_lasts_twelve_hours(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway
) -> None:
    async with cloud_for(enphase_simulation, enphase_simulation.installer) as cloud:
        token = await cloud.fetch_token(enphase_gateway.serial)
    assert token.role is TokenRole.INSTALLER
    assert token.lifetime == timedelta(hours=12)
    manager = TokenManager(CloudTokenSource(cloud), enphase_gateway.serial)
    assert manager.refresh_margin.for_token(token) == timedelta(hours=1, minutes=12)
    await check_jwt(enphase_gateway, token)


async def test_mfa_and_wrong_password(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway
) -> None:
    async with cloud_for(enphase_simulation, enphase_simulation.mfa) as cloud:
        with pytest.raises(MfaRequiredError, match="paste a token"):
            await cloud.fetch_token(enphase_gateway.serial)
    owner = enphase_simulation.owner
    async with cloud_for(enphase_simulation, owner, password="not-the-password") as cloud:
        with pytest.raises(CloudLoginError) as caught:
            await cloud.fetch_token(enphase_gateway.serial)
    assert "not-the-password" not in str(caught.value)
    assert owner.password not in str(caught.value)


async def test_serial_not_on_the_account(enphase_simulation: Simulation) -> None:
    async with cloud_for(enphase_simulation, enphase_simulation.owner) as cloud:
        with pytest.raises(CloudSerialError, match="000000000000"):
            await cloud.fetch_token("000000000000")


async def test_cloud_outage_and_broken_token_service(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway
) -> None:
    fake = enphase_simulation.cloud
    assert fake is not None
    async with cloud_for(enphase_simulation, enphase_simulation.owner) as cloud:
        fake.outage = True
        with pytest.raises(CloudUnavailableError, match=r"HTTP 503 \(2 attempts\)"):
            await cloud.fetch_token(enphase_gateway.serial)
        fake.outage = False
        fake.fail_tokens(200)
        with pytest.raises(CloudUnavailableError, match="empty"):
            await cloud.fetch_token(enphase_gateway.serial)
        fake.fail_tokens(406)
        with pytest.raises(CloudUnavailableError, match="HTTP 406"):
            await cloud.fetch_token(enphase_gateway.serial)
        fake.fail_tokens(None)
        assert (await cloud.fetch_token(enphase_gateway.serial)).serial == enphase_gateway.serial


@pytest.mark.enphase_simulation(gateways=2)
async def test_one_account_one_token_per_serial(enphase_simulation: Simulation) -> None:
    first, second = enphase_simulation.gateways
    fake = enphase_simulation.cloud
    assert fake is not None
    async with CloudTokenSource(cloud_for(enphase_simulation, enphase_simulation.owner)) as source:
        tokens = [await source.get(g.serial) for g in (first, second)]
    assert [t.serial for t in tokens] == [first.serial, second.serial]
    assert fake.stats.logins == 1
    assert fake.stats.tokens == 2
    await check_jwt(first, tokens[0])
    await check_jwt(second, tokens[1])
    with pytest.raises(TokenRejectedError):
        await check_jwt(first, tokens[1])  # the gateway checks aud


async def test_revoked_token_is_replaced_after_check_jwt(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway, tmp_path: Path
) -> None:
    fake = enphase_simulation.cloud
    assert fake is not None
    cache = tmp_path / "tokens.json"
    cloud = CloudTokenSource(cloud_for(enphase_simulation, enphase_simulation.owner))
    manager = TokenManager(CachedTokenSource(cloud, cache), enphase_gateway.serial)

    async def validate(token: Token) -> None:
        await check_jwt(enphase_gateway, token)

    async with cloud:
        first = await manager.refresh(validate)
        assert TokenCache(cache).get(enphase_gateway.serial) == first
        assert first.jti is not None
        enphase_gateway.revoke_token(first.jti)
        with pytest.raises(TokenRejectedError):
            await check_jwt(enphase_gateway, first)
        second = await manager.replace(first, validate)
    assert second != first
    assert manager.token == second
    assert fake.stats.tokens == 2
    assert TokenCache(cache).get(enphase_gateway.serial) == second
    await check_jwt(enphase_gateway, second)


async def test_outage_during_refresh_keeps_the_working_token(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway
) -> None:
    fake = enphase_simulation.cloud
    assert fake is not None
    async with CloudTokenSource(cloud_for(enphase_simulation, enphase_simulation.owner)) as source:
        manager = TokenManager(source, enphase_gateway.serial)
        token = await manager.current()
        fake.outage = True
        with pytest.raises(CloudUnavailableError):
            await manager.refresh()
        assert await manager.current() == token
        await check_jwt(enphase_gateway, token)


async def test_cli_fetch_against_the_simulator(
    enphase_simulation: Simulation,
    enphase_gateway: SimulatedGateway,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = enphase_simulation.cloud
    assert fake is not None
    owner = enphase_simulation.owner
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{owner.password}\n"))
    cache = tmp_path / "tokens.json"
    top = argparse.ArgumentParser()
    token_cli.register(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(
        [
            "token", "fetch", "--serial", enphase_gateway.serial, "--username", owner.username,
            "--password-stdin", "--enlighten-url", fake.url, "--entrez-url", fake.url,
            "--cache", str(cache), "--insecure-cloud-tls",
        ]
    )  # fmt: skip
    assert await args.run(args) == 0
    token = TokenCache(cache).get(enphase_gateway.serial)
    assert token is not None
    out = capsys.readouterr().out
    assert token.secret() not in out
    assert owner.password not in out
    await check_jwt(enphase_gateway, token)
