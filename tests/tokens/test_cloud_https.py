"""The cloud client against a real HTTPS server on 127.0.0.1 (the fake cloud), TLS verified."""

from __future__ import annotations

import socket
import ssl

import aiohttp
import pytest

from enphase_local.auth.cloud import USER_AGENT, EnphaseCloud
from enphase_local.errors import (
    CloudLoginError,
    CloudSerialError,
    CloudUnavailableError,
    MfaRequiredError,
)
from tests.tokens.fake_cloud import PASSWORD, USERNAME, FakeCloud, LoopbackCA
from tests.tokens.jwt import OTHER_SERIAL, SERIAL


def client(url: str, ca: LoopbackCA, password: str = PASSWORD, attempts: int = 3) -> EnphaseCloud:
    return EnphaseCloud(
        USERNAME,
        password,
        enlighten_url=url,
        entrez_url=url,
        ssl=ca.client_context(),
        retry_delay=0,
        attempts=attempts,
    )


async def test_fetch_over_verified_tls(
    cloud_url: str, test_ca: LoopbackCA, fake_cloud: FakeCloud
) -> None:
    async with client(cloud_url, test_ca) as cloud:
        token = await cloud.fetch_token(SERIAL)
    assert token.serial == SERIAL
    assert token.secret() == fake_cloud.issued[-1]
    assert fake_cloud.logins == 1
    assert set(fake_cloud.user_agents) == {USER_AGENT}


async def test_default_tls_refuses_an_untrusted_certificate(
    cloud_url: str, fake_cloud: FakeCloud
) -> None:
    async with EnphaseCloud(
        USERNAME, PASSWORD, enlighten_url=cloud_url, entrez_url=cloud_url, retry_delay=0
    ) as cloud:
        with pytest.raises(CloudUnavailableError, match="TLS failed"):
            await cloud.fetch_token(SERIAL)
    assert fake_cloud.logins == 0


async def test_tls_check_can_be_switched_off_for_a_local_service(cloud_url: str) -> None:
    async with EnphaseCloud(
        USERNAME, PASSWORD, enlighten_url=cloud_url, entrez_url=cloud_url, ssl=False
    ) as cloud:
        assert (await cloud.fetch_token(SERIAL)).serial == SERIAL


async def test_wrong_password(cloud_url: str, test_ca: LoopbackCA) -> None:
    async with client(cloud_url, test_ca, password="wrong") as cloud:
        with pytest.raises(CloudLoginError) as caught:
            await cloud.fetch_token(SERIAL)
    assert "wrong" not in str(caught.value)


async def test_mfa(cloud_url: str, test_ca: LoopbackCA, fake_cloud: FakeCloud) -> None:
    fake_cloud.mfa = True
    async with client(cloud_url, test_ca) as cloud:
        with pytest.raises(MfaRequiredError):
            await cloud.fetch_token(SERIAL)
    assert fake_cloud.token_requests == []


async def test_serial_not_on_account(
    cloud_url: str, test_ca: LoopbackCA, fake_cloud: FakeCloud
) -> None:
    async with client(cloud_url, test_ca) as cloud:
        with pytest.raises(CloudSerialError, match=OTHER_SERIAL):
            await cloud.fetch_token(OTHER_SERIAL)
    assert fake_cloud.logins == 1


async def test_lapsed_session_is_renewed(
    cloud_url: str, test_ca: LoopbackCA, fake_cloud: FakeCloud
) -> None:
    fake_cloud.serials.add(OTHER_SERIAL)
    async with client(cloud_url, test_ca) as cloud:
        await cloud.fetch_token(SERIAL)
        fake_cloud.expire_sessions()
        assert (await cloud.fetch_token(OTHER_SERIAL)).serial == OTHER_SERIAL
    assert fake_cloud.logins == 2
    assert fake_cloud.token_requests == [SERIAL, OTHER_SERIAL, OTHER_SERIAL]


async def test_outage_then_recovery(
    cloud_url: str, test_ca: LoopbackCA, fake_cloud: FakeCloud
) -> None:
    fake_cloud.login_statuses = [503, 504]
    fake_cloud.token_statuses = [502]
    async with client(cloud_url, test_ca) as cloud:
        assert (await cloud.fetch_token(SERIAL)).serial == SERIAL
    assert fake_cloud.logins == 3
    assert len(fake_cloud.token_requests) == 2


async def test_persistent_outage_is_bounded(
    cloud_url: str, test_ca: LoopbackCA, fake_cloud: FakeCloud
) -> None:
    fake_cloud.login_statuses = [503] * 10
    async with client(cloud_url, test_ca, attempts=4) as cloud:
        with pytest.raises(CloudUnavailableError, match="4 attempts"):
            await cloud.fetch_token(SERIAL)
    assert fake_cloud.logins == 4


async def test_non_token_body(cloud_url: str, test_ca: LoopbackCA, fake_cloud: FakeCloud) -> None:
    fake_cloud.token_body = b"Error in generating Token"
    async with client(cloud_url, test_ca) as cloud:
        with pytest.raises(CloudUnavailableError, match="Error in generating Token"):
            await cloud.fetch_token(SERIAL)


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port was just free)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"https://127.0.0.1:{port}"


async def test_unreachable(test_ca: LoopbackCA) -> None:
    async with client(closed_port_url(), test_ca) as cloud:
        with pytest.raises(CloudUnavailableError, match="could not connect") as caught:
            await cloud.fetch_token(SERIAL)
    assert "3 attempts" in str(caught.value)


async def test_caller_owned_session(cloud_url: str, test_ca: LoopbackCA) -> None:
    context = ssl.create_default_context(cafile=str(test_ca.ca_file))
    async with aiohttp.ClientSession() as session:
        cloud = EnphaseCloud(
            USERNAME,
            PASSWORD,
            enlighten_url=cloud_url,
            entrez_url=cloud_url,
            session=session,
            ssl=context,
        )
        await cloud.fetch_token(SERIAL)
        await cloud.close()
        assert not session.closed
