"""The fake Enlighten login and Entrez token service."""

from __future__ import annotations

import json
import ssl
from typing import Any

import aiohttp
import pytest

from enphase_local.simulator.auth.jwt import b64url_decode
from enphase_local.simulator.cloud import CloudAccount, FakeCloud
from enphase_local.simulator.harness import Simulation
from enphase_local.simulator.pytest_plugin import SimulationFactory

from .conftest import fetch

pytestmark = pytest.mark.enphase_simulation(speed=0)


def cloud_of(simulation: Simulation) -> FakeCloud:
    assert simulation.cloud is not None
    return simulation.cloud


def trust(simulation: Simulation) -> ssl.SSLContext:
    context = cloud_of(simulation).client_ssl_context()
    assert context is not None
    return context


async def login(
    http: aiohttp.ClientSession, simulation: Simulation, username: str, password: str
) -> tuple[int, Any]:
    form = {"user[email]": username, "user[password]": password}
    async with http.post(
        cloud_of(simulation).url + "/login/login.json", data=form, ssl=trust(simulation)
    ) as response:
        raw = await response.read()
        is_json = response.content_type == "application/json"
        return response.status, json.loads(raw) if is_json else raw


async def get_token(
    http: aiohttp.ClientSession,
    simulation: Simulation,
    body: object,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    async with http.post(
        cloud_of(simulation).url + "/tokens", json=body, ssl=trust(simulation), headers=headers
    ) as response:
        return response.status, await response.text()


def claims(token: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return value


async def test_login_then_token_then_gateway(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    owner = enphase_simulation.owner
    gateway = enphase_simulation.gateways[0]
    status, body = await login(http, enphase_simulation, owner.username, owner.password)
    assert status == 200
    assert body["is_consumer"] is True
    assert body["manager_token"]
    request = {
        "session_id": body["session_id"],
        "serial_num": gateway.serial,
        "username": owner.username,
    }
    status, token = await get_token(http, enphase_simulation, request)
    assert status == 200
    assert token.count(".") == 2
    assert 380 <= len(token) <= 500  # "about 400 characters"
    payload = claims(token)
    assert payload["aud"] == gateway.serial
    assert payload["iss"] == "Entrez"
    assert payload["enphaseUser"] == "owner"
    assert payload["username"] == owner.username
    assert payload["exp"] - payload["iat"] == 365 * 86400
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header == {"kid": enphase_simulation.issuer.key_id, "typ": "JWT", "alg": "ES256"}
    answer = await fetch(http, gateway, "/ivp/meters/readings", token=token)
    assert answer.status == 200
    assert cloud_of(enphase_simulation).stats.tokens == 1


async def test_installer_tokens_last_twelve_hours(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    installer = enphase_simulation.installer
    status, body = await login(http, enphase_simulation, installer.username, installer.password)
    assert (status, body["is_consumer"]) == (200, False)
    serial = enphase_simulation.gateways[0].serial
    request = {
        "session_id": body["session_id"],
        "serial_num": serial,
        "username": installer.username,
    }
    status, token = await get_token(http, enphase_simulation, request)
    assert status == 200
    payload = claims(token)
    assert payload["enphaseUser"] == "installer"
    assert payload["exp"] - payload["iat"] == 12 * 3600


async def test_owner_token_lifetime_is_configurable(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    simulation = await enphase_simulation_factory(owner_token_lifetime_s=183 * 86400)
    owner = simulation.owner
    _, body = await login(http, simulation, owner.username, owner.password)
    serial = simulation.gateways[0].serial
    request = {"session_id": body["session_id"], "serial_num": serial, "username": owner.username}
    _, token = await get_token(http, simulation, request)
    payload = claims(token)
    assert payload["exp"] - payload["iat"] == 183 * 86400
    gateway_token = simulation.gateways[0].token
    assert gateway_token is not None
    assert claims(gateway_token)["exp"] - claims(gateway_token)["iat"] == 183 * 86400


async def test_wrong_password_and_unknown_user_get_401(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    owner = enphase_simulation.owner
    status, body = await login(http, enphase_simulation, owner.username, "wrong")
    assert status == 401
    assert "session_id" not in body
    status, _ = await login(http, enphase_simulation, "nobody@example.com", "x")
    assert status == 401
    async with http.post(
        cloud_of(enphase_simulation).url + "/login/login.json",
        data={"user[email]": owner.username},
        ssl=trust(enphase_simulation),
    ) as response:
        assert response.status == 400
    assert cloud_of(enphase_simulation).stats.failed_logins == 3


async def test_mfa_account_gets_no_session(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    mfa = enphase_simulation.mfa
    status, body = await login(http, enphase_simulation, mfa.username, mfa.password)
    assert (status, body) == (200, {"success": True, "isBlocked": False})


async def test_token_refusals(enphase_simulation: Simulation, http: aiohttp.ClientSession) -> None:
    owner = enphase_simulation.owner
    _, body = await login(http, enphase_simulation, owner.username, owner.password)
    serial = enphase_simulation.gateways[0].serial
    good = {"session_id": body["session_id"], "serial_num": serial, "username": owner.username}
    cases: list[tuple[object, dict[str, str] | None, int]] = [
        ({**good, "serial_num": "999999999999"}, None, 403),
        ({**good, "session_id": "0" * 32}, None, 401),
        ({**good, "username": enphase_simulation.installer.username}, None, 401),
        ({"session_id": body["session_id"]}, None, 400),
        ([1, 2, 3], None, 400),
    ]
    for request, headers, expected in cases:
        status, _ = await get_token(http, enphase_simulation, request, headers)
        assert status == expected, request
    async with http.post(
        cloud_of(enphase_simulation).url + "/tokens",
        json=good,
        ssl=trust(enphase_simulation),
        skip_auto_headers=["User-Agent"],
    ) as response:
        assert response.status == 400  # some services demand a User-Agent


async def test_token_service_failures_and_outage(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    cloud = cloud_of(enphase_simulation)
    owner = enphase_simulation.owner
    _, body = await login(http, enphase_simulation, owner.username, owner.password)
    serial = enphase_simulation.gateways[0].serial
    good = {"session_id": body["session_id"], "serial_num": serial, "username": owner.username}
    cloud.fail_tokens(406)
    assert (await get_token(http, enphase_simulation, good))[0] == 406
    cloud.fail_tokens(200)
    assert await get_token(http, enphase_simulation, good) == (200, "")
    cloud.fail_tokens(None)
    cloud.outage = True
    assert (await get_token(http, enphase_simulation, good))[0] == 503
    status, _ = await login(http, enphase_simulation, owner.username, owner.password)
    assert status == 503
    cloud.outage = False
    assert (await get_token(http, enphase_simulation, good))[0] == 200


async def test_cloud_certificate_verifies_but_gateways_do_not(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        async with http.get(gateway.url + "/info", ssl=trust(enphase_simulation)):
            pass
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        async with http.get(gateway.url + "/info"):  # public CAs do not know it either
            pass
    assert repr(enphase_simulation.owner).count(enphase_simulation.owner.password) == 0


async def test_plain_http_cloud(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    simulation = await enphase_simulation_factory(cloud_tls=False)
    cloud = cloud_of(simulation)
    assert cloud.url.startswith("http://")
    assert cloud.client_ssl_context() is None
    owner = simulation.owner
    form = {"user[email]": owner.username, "user[password]": owner.password}
    async with http.post(cloud.url + "/login/login.json", data=form) as response:
        assert response.status == 200


@pytest.mark.enphase_simulation(gateways=2, speed=0)
async def test_an_account_that_owns_one_of_two_gateways(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    mine, theirs = enphase_simulation.gateways
    cloud = cloud_of(enphase_simulation)
    cloud.add_account(
        CloudAccount(
            username="neighbour@example.com", password="pw", serials=frozenset({mine.serial})
        )
    )
    assert cloud.account("neighbour@example.com").serials == {mine.serial}
    _, body = await login(http, enphase_simulation, "neighbour@example.com", "pw")
    request = {"session_id": body["session_id"], "username": "neighbour@example.com"}
    status, _ = await get_token(http, enphase_simulation, {**request, "serial_num": mine.serial})
    assert status == 200
    status, _ = await get_token(http, enphase_simulation, {**request, "serial_num": theirs.serial})
    assert status == 403
