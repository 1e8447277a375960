"""Certificate pinning and trust on first use against a simulated gateway that can swap its
certificate (a replaced gateway, or someone in the middle)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from enphase_local import CertificateMismatchError, GatewaySession
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.trust import TrustStore

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_first_contact_is_recorded_then_pinned(
    enphase_gateway: SimulatedGateway, tmp_path: Path
) -> None:
    store = TrustStore(tmp_path / "trust.json")
    async with GatewaySession(enphase_gateway.url, token=enphase_gateway.token, trust=store) as c:
        await c.production()
        await c.meter_readings()
    key = enphase_gateway.url.removeprefix("https://")
    assert enphase_gateway.fingerprint is not None
    assert store.get(key) == bytes.fromhex(enphase_gateway.fingerprint)

    # A later session trusts the recorded certificate without asking.
    async with GatewaySession(enphase_gateway.url, token=enphase_gateway.token, trust=store) as c:
        assert (await c.production()).power_w >= 0


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_changed_certificate_is_refused_before_the_token_is_sent(
    enphase_gateway: SimulatedGateway, tmp_path: Path
) -> None:
    store = TrustStore(tmp_path / "trust.json")
    async with GatewaySession(enphase_gateway.url, token=enphase_gateway.token, trust=store) as c:
        await c.production()
    new_fingerprint = await enphase_gateway.replace_certificate()
    enphase_gateway.stats.reset()

    async with GatewaySession(enphase_gateway.url, token=enphase_gateway.token, trust=store) as c:
        with pytest.raises(CertificateMismatchError):
            await c.production()
    assert enphase_gateway.stats.requests == 0  # refused at the handshake: nothing was sent

    # The user accepts the change; from then on the new certificate is the trusted one.
    key = enphase_gateway.url.removeprefix("https://")
    store.accept(key, bytes.fromhex(new_fingerprint))
    async with GatewaySession(enphase_gateway.url, token=enphase_gateway.token, trust=store) as c:
        assert (await c.production()).power_w >= 0


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_an_open_session_refuses_a_swapped_certificate(
    enphase_gateway: SimulatedGateway, tmp_path: Path
) -> None:
    store = TrustStore(tmp_path / "trust.json")
    async with GatewaySession(
        enphase_gateway.url, token=enphase_gateway.token, trust=store, retries=0
    ) as client:
        await client.production()
        await enphase_gateway.replace_certificate()  # drops the kept-alive connection
        enphase_gateway.stats.reset()
        with pytest.raises(CertificateMismatchError):
            await client.production()
    assert enphase_gateway.stats.requests == 0


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_explicit_pin_refuses_a_swapped_certificate(
    enphase_gateway: SimulatedGateway,
) -> None:
    async with GatewaySession(
        enphase_gateway.url,
        token=enphase_gateway.token,
        fingerprint=enphase_gateway.fingerprint,
        retries=0,
    ) as client:
        await client.production()
        await enphase_gateway.replace_certificate()
        enphase_gateway.stats.reset()
        with pytest.raises(CertificateMismatchError):
            await client.production()
    assert enphase_gateway.stats.requests == 0
