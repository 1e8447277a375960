"""Auth as GATEWAY-FACTS.md describes it: tokens, check_jwt cookies, roles, revocation, digest."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import pytest

from enphase_local.auth.legacy import installer_password
from enphase_local.simulator.auth.jwt import b64url_decode, b64url_encode
from enphase_local.simulator.harness import Simulation
from enphase_local.simulator.pytest_plugin import SimulationFactory

from .conftest import NOON, fetch

pytestmark = pytest.mark.enphase_simulation(speed=0, start_time=NOON)

DATA = "/ivp/meters/readings"


def assert_refused(answer_status: int, body: bytes, headers: object) -> None:
    """The HTML 401 page, with no digest or bearer challenge."""
    assert answer_status == 401
    assert b"401 Authorization Required" in body
    assert "WWW-Authenticate" not in headers  # type: ignore[operator]


async def test_info_needs_no_token(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    assert (await fetch(http, gateway, "/info", auth=False)).status == 200


@pytest.mark.parametrize(
    "kind", ["missing", "garbage", "bad_signature", "wrong_audience", "expired", "uncommissioned"]
)
async def test_bad_tokens_get_the_html_401(
    enphase_simulation: Simulation, http: aiohttp.ClientSession, kind: str
) -> None:
    gateway = enphase_simulation.gateways[0]
    tokens = enphase_simulation.tokens
    token = {
        "missing": None,
        "garbage": "not.a.jwt",
        "bad_signature": tokens.bad_signature(gateway.serial),
        "wrong_audience": tokens.wrong_audience(gateway.serial),
        "expired": tokens.expired(gateway.serial),
        "uncommissioned": tokens.uncommissioned(),
    }[kind]
    answer = await fetch(http, gateway, DATA, auth=token is not None, token=token)
    assert_refused(answer.status, answer.body, answer.headers)
    assert answer.headers["Content-Type"] == "text/html"
    assert b"'/home'" in answer.body  # 8.2 sends the browser to /home
    reason = {
        "garbage": "malformed",
        "bad_signature": "bad-signature",
        "wrong_audience": "wrong-audience",
        "uncommissioned": "wrong-audience",
    }.get(kind, kind)
    assert gateway.stats.auth_failures == {reason: 1}


async def test_tampered_claims_fail_the_signature(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    assert gateway.token is not None
    header, claims, signature = gateway.token.split(".")
    forged = b64url_decode(claims).replace(b'"owner"', b'"installer"')
    token = f"{header}.{b64url_encode(forged)}.{signature}"
    answer = await fetch(http, gateway, DATA, token=token)
    assert answer.status == 401
    assert gateway.stats.auth_failures == {"bad-signature": 1}


async def test_new_firmware_redirects_to_login_html(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    simulation = await enphase_simulation_factory(profile="standard", speed=0)
    answer = await fetch(http, simulation.gateways[0], DATA, auth=False)
    assert answer.status == 401
    assert b"'/login.html'" in answer.body


async def test_check_jwt_sets_a_session_cookie_that_works_alone(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    for method in ("GET", "POST"):
        answer = await fetch(http, gateway, "/auth/check_jwt", method=method)
        assert answer.status == 200
        assert answer.body == b"<!DOCTYPE html><h2>Valid token.</h2>"
        cookie = answer.headers["Set-Cookie"]
        assert re.match(r"sessionId=[A-Za-z0-9]{32};", cookie)
    # The jar now holds the cookie: a request without a token gets in.
    assert (await fetch(http, gateway, DATA, auth=False)).status == 200
    assert gateway.stats.sessions_opened == 2


async def test_check_jwt_refuses_bad_tokens(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    expired = enphase_simulation.tokens.expired(gateway.serial)
    answer = await fetch(http, gateway, "/auth/check_jwt", token=expired)
    assert_refused(answer.status, answer.body, answer.headers)
    assert "Set-Cookie" not in answer.headers
    assert (await fetch(http, gateway, "/auth/check_jwt", auth=False)).status == 401


async def test_session_idles_out_after_ten_simulated_minutes(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    clock = enphase_simulation.clock
    assert (await fetch(http, gateway, "/auth/check_jwt")).status == 200
    clock.advance(599)
    assert (await fetch(http, gateway, DATA, auth=False)).status == 200  # use refreshes it
    clock.advance(599)
    assert (await fetch(http, gateway, DATA, auth=False)).status == 200
    clock.advance(600)
    answer = await fetch(http, gateway, DATA, auth=False)
    assert answer.status == 401
    assert gateway.stats.auth_failures == {"session-expired": 1}
    # The token still works, and check_jwt gives a new session.
    assert (await fetch(http, gateway, DATA)).status == 200
    assert (await fetch(http, gateway, "/auth/check_jwt")).status == 200
    assert (await fetch(http, gateway, DATA, auth=False)).status == 200


async def test_installer_only_paths(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    gateway.installer_only = {"/ivp/pdm/energy"}
    owner = await fetch(http, gateway, "/ivp/pdm/energy")
    assert_refused(owner.status, owner.body, owner.headers)
    assert gateway.stats.auth_failures == {"role": 1}
    installer = enphase_simulation.tokens.installer(gateway.serial)
    assert (await fetch(http, gateway, "/ivp/pdm/energy", token=installer)).status == 200
    assert (await fetch(http, gateway, DATA)).status == 200  # other paths take owners
    # An owner's session does not lift the restriction either.
    assert (await fetch(http, gateway, "/auth/check_jwt")).status == 200
    assert (await fetch(http, gateway, "/ivp/pdm/energy", auth=False)).status == 401


async def test_revoking_one_token_and_its_sessions(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    other = enphase_simulation.tokens.owner(gateway.serial)
    assert (await fetch(http, gateway, "/auth/check_jwt")).status == 200
    assert gateway.token is not None
    token_id = _claims(gateway.token)["jti"]
    gateway.revoke_token(token_id)
    assert (await fetch(http, gateway, DATA, auth=False)).status == 401  # session ended
    assert (await fetch(http, gateway, DATA)).status == 401
    assert (await fetch(http, gateway, DATA, token=other)).status == 200
    assert gateway.stats.auth_failures["revoked"] == 1


async def test_revoking_every_token_keeps_new_ones_working(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = enphase_simulation.gateways[0]
    older = enphase_simulation.tokens.installer(gateway.serial)
    gateway.revoke_all_tokens()
    assert (await fetch(http, gateway, DATA)).status == 401
    assert (await fetch(http, gateway, DATA, token=older)).status == 401
    fresh = enphase_simulation.tokens.owner(gateway.serial)
    assert (await fetch(http, gateway, DATA, token=fresh)).status == 200


def _claims(token: str) -> dict[str, Any]:
    value = json.loads(b64url_decode(token.split(".")[1]))
    assert isinstance(value, dict)
    return value


# --- legacy firmware: digest auth ---------------------------------------------------------


async def _legacy(factory: SimulationFactory) -> Simulation:
    return await factory(profile="legacy", speed=0, start_time=NOON)


async def test_legacy_reads_need_no_auth_but_inverters_need_digest(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    simulation = await _legacy(enphase_simulation_factory)
    gateway = simulation.gateways[0]
    assert gateway.url.startswith("http://")
    assert gateway.fingerprint is None
    assert (await fetch(http, gateway, "/api/v1/production", auth=False)).status == 200
    refused = await fetch(http, gateway, "/api/v1/production/inverters", auth=False)
    assert refused.status == 401
    assert refused.headers["Content-Type"] == "application/json"
    assert refused.json() == {
        "status": 401,
        "error": "",
        "info": "Authentication required",
        "moreInfo": "",
    }
    challenge = refused.headers["WWW-Authenticate"]
    assert re.fullmatch(
        r'Digest qop="auth", realm="enphaseenergy.com", nonce="[A-Za-z0-9+/=]+"', challenge
    )


@pytest.mark.parametrize("user", ["envoy", "installer"])
async def test_legacy_digest_with_aiohttp_middleware(
    enphase_simulation_factory: SimulationFactory, user: str
) -> None:
    simulation = await _legacy(enphase_simulation_factory)
    gateway = simulation.gateways[0]
    password = gateway.serial[-6:] if user == "envoy" else installer_password(gateway.serial)
    digest = aiohttp.DigestAuthMiddleware(user, password)
    async with aiohttp.ClientSession(middlewares=(digest,)) as client:
        for _ in range(2):  # the second request reuses the nonce with a higher count
            async with client.get(gateway.url + "/api/v1/production/inverters") as response:
                assert response.status == 200
                inverters = await response.json()
    assert len(inverters) == 20
    assert gateway.stats.auth_failures == {"digest": 1}  # the first, unauthenticated try


async def test_legacy_digest_refuses_wrong_passwords(
    enphase_simulation_factory: SimulationFactory,
) -> None:
    simulation = await _legacy(enphase_simulation_factory)
    gateway = simulation.gateways[0]
    digest = aiohttp.DigestAuthMiddleware("envoy", "000000")
    async with (
        aiohttp.ClientSession(middlewares=(digest,)) as client,
        client.get(gateway.url + "/api/v1/production/inverters") as response,
    ):
        assert response.status == 401


async def test_legacy_installer_only_page_says_error_401(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    simulation = await _legacy(enphase_simulation_factory)
    gateway = simulation.gateways[0]
    gateway.installer_only = {"/api/v1/production"}
    refused = await fetch(http, gateway, "/api/v1/production", auth=False)
    assert (refused.status, refused.body) == (401, b"Error: 401")
    assert refused.headers["Content-Type"] == "text/plain"
    assert refused.headers["WWW-Authenticate"].startswith("Digest ")
    envoy = aiohttp.DigestAuthMiddleware("envoy", gateway.serial[-6:])
    async with (
        aiohttp.ClientSession(middlewares=(envoy,)) as client,
        client.get(gateway.url + "/api/v1/production") as response,
    ):
        assert response.status == 401
    installer = aiohttp.DigestAuthMiddleware("installer", installer_password(gateway.serial))
    async with (
        aiohttp.ClientSession(middlewares=(installer,)) as client,
        client.get(gateway.url + "/api/v1/production") as response,
    ):
        assert response.status == 200
