"""The cloud client against mocked Enlighten and Entrez replies, one test per status path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from enphase_local.auth.cloud import USER_AGENT, EnphaseCloud
from enphase_local.auth.token import Token
from enphase_local.errors import (
    CloudError,
    CloudLoginError,
    CloudSerialError,
    CloudUnavailableError,
    MfaRequiredError,
)
from tests.tokens.jwt import OTHER_SERIAL, SERIAL, make_jwt

ENLIGHTEN = "https://enlighten.test"
ENTREZ = "https://entrez.test"
LOGIN = f"{ENLIGHTEN}/login/login.json"
TOKENS = f"{ENTREZ}/tokens"
USERNAME = "owner@example.com"
PASSWORD = "s3cret-Pa55word"
SESSION_ID = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
LOGIN_OK: dict[str, Any] = {"session_id": SESSION_ID, "manager_token": "m", "is_consumer": True}


@pytest.fixture
async def cloud() -> AsyncIterator[EnphaseCloud]:
    client = EnphaseCloud(
        USERNAME, PASSWORD, enlighten_url=ENLIGHTEN, entrez_url=f"{ENTREZ}/", retry_delay=0
    )
    async with client:
        yield client


def calls(mocked: aioresponses, url: str) -> list[Any]:
    return list(mocked.requests.get(("POST", URL(url)), []))


def assert_no_secrets(err: BaseException, *extra: str) -> None:
    text = f"{err!s} {err!r}"
    for secret in (PASSWORD, SESSION_ID, *extra):
        assert secret not in text


async def test_login_then_token(mocked: aioresponses, cloud: EnphaseCloud) -> None:
    raw = make_jwt()
    mocked.post(LOGIN, payload=LOGIN_OK)
    mocked.post(TOKENS, body=raw, content_type="text/html")
    token = await cloud.fetch_token(SERIAL)
    assert token == Token.parse(raw)
    (login,) = calls(mocked, LOGIN)
    assert login.kwargs["data"] == {"user[email]": USERNAME, "user[password]": PASSWORD}
    assert login.kwargs["headers"]["User-Agent"] == USER_AGENT
    assert login.kwargs["allow_redirects"] is False
    (request,) = calls(mocked, TOKENS)
    assert request.kwargs["json"] == {
        "session_id": SESSION_ID,
        "serial_num": SERIAL,
        "username": USERNAME,
    }
    assert request.kwargs["headers"]["User-Agent"] == USER_AGENT


async def test_one_login_serves_several_serials(mocked: aioresponses, cloud: EnphaseCloud) -> None:
    mocked.post(LOGIN, payload=LOGIN_OK)
    mocked.post(TOKENS, body=make_jwt(SERIAL))
    mocked.post(TOKENS, body=make_jwt(OTHER_SERIAL))
    first = await cloud.fetch_token(SERIAL)
    second = await cloud.fetch_token(OTHER_SERIAL)
    assert (first.serial, second.serial) == (SERIAL, OTHER_SERIAL)
    assert len(calls(mocked, LOGIN)) == 1
    serials = [call.kwargs["json"]["serial_num"] for call in calls(mocked, TOKENS)]
    assert serials == [SERIAL, OTHER_SERIAL]


async def test_wrong_password(mocked: aioresponses, cloud: EnphaseCloud) -> None:
    mocked.post(LOGIN, status=401, payload={"message": "Invalid email or password"})
    with pytest.raises(CloudLoginError) as caught:
        await cloud.fetch_token(SERIAL)
    assert not isinstance(caught.value, MfaRequiredError)
    assert "username or password" in str(caught.value)
    assert len(calls(mocked, LOGIN)) == 1
    assert_no_secrets(caught.value)


async def test_mfa_enabled(mocked: aioresponses, cloud: EnphaseCloud) -> None:
    mocked.post(LOGIN, payload={"success": True, "isBlocked": False})
    with pytest.raises(MfaRequiredError, match="multi-factor") as caught:
        await cloud.fetch_token(SERIAL)
    assert "paste a token" in str(caught.value)
    assert isinstance(caught.value, CloudLoginError)
    assert not calls(mocked, TOKENS)


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        ({"body": "<html>maintenance</html>"}, "non-JSON"),
        ({"payload": ["session_id"]}, "unexpected JSON"),
        ({"payload": {"session_id": ""}}, "unusable session_id"),
        ({"payload": {"session_id": 42}}, "unusable session_id"),
        ({"status": 302, "headers": {"Location": "https://elsewhere.test/"}}, "HTTP 302"),
        ({"status": 404, "body": "not found"}, "HTTP 404"),
        ({"status": 403, "body": "forbidden"}, "HTTP 403"),
    ],
)
async def test_login_answers_we_do_not_understand(
    mocked: aioresponses, cloud: EnphaseCloud, reply: dict[str, Any], match: str
) -> None:
    mocked.post(LOGIN, **reply)
    with pytest.raises(CloudUnavailableError, match=match) as caught:
        await cloud.fetch_token(SERIAL)
    assert len(calls(mocked, LOGIN)) == 1
    assert_no_secrets(caught.value)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
async def test_transient_login_failure_is_retried(
    mocked: aioresponses, cloud: EnphaseCloud, status: int
) -> None:
    mocked.post(LOGIN, status=status)
    mocked.post(LOGIN, payload=LOGIN_OK)
    mocked.post(TOKENS, body=make_jwt())
    assert (await cloud.fetch_token(SERIAL)).serial == SERIAL
    assert len(calls(mocked, LOGIN)) == 2


async def test_retries_are_bounded(mocked: aioresponses, cloud: EnphaseCloud) -> None:
    mocked.post(LOGIN, status=503, repeat=True)
    with pytest.raises(CloudUnavailableError, match=r"HTTP 503 \(3 attempts\)"):
        await cloud.fetch_token(SERIAL)
    assert len(calls(mocked, LOGIN)) == 3


async def test_attempts_is_configurable(mocked: aioresponses) -> None:
    mocked.post(LOGIN, status=503, repeat=True)
    async with EnphaseCloud(
        USERNAME, PASSWORD, enlighten_url=ENLIGHTEN, attempts=5, retry_delay=0
    ) as client:
        with pytest.raises(CloudUnavailableError, match="5 attempts"):
            await client.login()
    assert len(calls(mocked, LOGIN)) == 5


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempts"):
        EnphaseCloud(USERNAME, PASSWORD, attempts=0)


async def test_unreachable_cloud(mocked: aioresponses, cloud: EnphaseCloud) -> None:
    mocked.post(LOGIN, exception=aiohttp.ClientConnectionError("connection refused"), repeat=True)
    with pytest.raises(CloudUnavailableError, match="could not connect") as caught:
        await cloud.fetch_token(SERIAL)
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectionError)
    assert len(calls(mocked, LOGIN)) == 3
    assert_no_secrets(caught.value)


async def test_cloud_timeout(mocked: aioresponses, cloud: EnphaseCloud) -> None:
    mocked.post(LOGIN, payload=LOGIN_OK)
    mocked.post(TOKENS, exception=TimeoutError(), repeat=True)
    with pytest.raises(CloudUnavailableError, match="timed out"):
        await cloud.fetch_token(SERIAL)
    assert len(calls(mocked, TOKENS)) == 3


@pytest.mark.parametrize("status", [401, 403])
async def test_serial_not_on_account(
    mocked: aioresponses, cloud: EnphaseCloud, status: int
) -> None:
    mocked.post(LOGIN, payload=LOGIN_OK)
    mocked.post(TOKENS, status=status, body="")
    with pytest.raises(CloudSerialError, match=SERIAL) as caught:
        await cloud.fetch_token(SERIAL)
    assert f"HTTP {status}" in str(caught.value)
    assert len(calls(mocked, LOGIN)) == 1
    assert_no_secrets(caught.value)


async def test_lapsed_login_is_renewed_once(mocked: aioresponses, cloud: EnphaseCloud) -> None:
    mocked.post(LOGIN, payload=LOGIN_OK)
    mocked.post(TOKENS, body=make_jwt(SERIAL))
    mocked.post(TOKENS, status=401)
    mocked.post(LOGIN, payload=LOGIN_OK | {"session_id": "f" * 32})
    mocked.post(TOKENS, body=make_jwt(OTHER_SERIAL))
    await cloud.fetch_token(SERIAL)
    token = await cloud.fetch_token(OTHER_SERIAL)
    assert token.serial == OTHER_SERIAL
    assert len(calls(mocked, LOGIN)) == 2
    assert calls(mocked, TOKENS)[-1].kwargs["json"]["session_id"] == "f" * 32


async def test_renewed_login_still_refused_means_wrong_serial(
    mocked: aioresponses, cloud: EnphaseCloud
) -> None:
    mocked.post(LOGIN, payload=LOGIN_OK, repeat=True)
    mocked.post(TOKENS, body=make_jwt(SERIAL))
    mocked.post(TOKENS, status=403, repeat=True)
    await cloud.fetch_token(SERIAL)
    with pytest.raises(CloudSerialError, match=OTHER_SERIAL):
        await cloud.fetch_token(OTHER_SERIAL)
    assert len(calls(mocked, LOGIN)) == 2
    assert len(calls(mocked, TOKENS)) == 3


async def test_login_is_not_reused_after_its_window(mocked: aioresponses) -> None:
    mocked.post(LOGIN, payload=LOGIN_OK, repeat=True)
    mocked.post(TOKENS, body=make_jwt(), repeat=True)
    async with EnphaseCloud(
        USERNAME, PASSWORD, enlighten_url=ENLIGHTEN, entrez_url=ENTREZ, session_reuse=0
    ) as client:
        await client.fetch_token(SERIAL)
        await client.fetch_token(SERIAL)
    assert len(calls(mocked, LOGIN)) == 2


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        ({"status": 400, "body": "bad request"}, "HTTP 400"),
        ({"status": 406, "body": "not acceptable"}, "HTTP 406"),
        ({"status": 404, "body": "gone"}, "HTTP 404"),
        ({"body": ""}, "empty"),
        ({"body": "Error in generating Token"}, "Error in generating Token"),
        ({"body": '{"token": "abc"}'}, "three dot-separated parts"),
        ({"body": b"\xff\xfe\x00"}, "not UTF-8"),
        ({"body": "x" * 70000}, "more than 65536 bytes"),
    ],
)
async def test_token_answers_we_do_not_understand(
    mocked: aioresponses, cloud: EnphaseCloud, reply: dict[str, Any], match: str
) -> None:
    mocked.post(LOGIN, payload=LOGIN_OK)
    mocked.post(TOKENS, **reply)
    with pytest.raises(CloudUnavailableError, match=match) as caught:
        await cloud.fetch_token(SERIAL)
    assert len(calls(mocked, TOKENS)) == 1
    assert_no_secrets(caught.value)


async def test_token_request_retried_after_a_server_error(
    mocked: aioresponses, cloud: EnphaseCloud
) -> None:
    raw = make_jwt()
    mocked.post(LOGIN, payload=LOGIN_OK)
    mocked.post(TOKENS, status=502)
    mocked.post(TOKENS, body=raw)
    assert (await cloud.fetch_token(SERIAL)).secret() == raw
    assert len(calls(mocked, TOKENS)) == 2


async def test_tls_failure_is_not_retried(mocked: aioresponses, cloud: EnphaseCloud) -> None:
    error = aiohttp.ClientSSLError(
        aiohttp.client_reqrep.ConnectionKey("enlighten.test", 443, True, True, None, None, None),
        OSError("certificate verify failed"),
    )
    mocked.post(LOGIN, exception=error, repeat=True)
    with pytest.raises(CloudUnavailableError, match="TLS failed"):
        await cloud.fetch_token(SERIAL)
    assert len(calls(mocked, LOGIN)) == 1


def test_repr_hides_the_password() -> None:
    client = EnphaseCloud(USERNAME, PASSWORD)
    assert PASSWORD not in repr(client)
    assert USERNAME in repr(client)
    assert client.username == USERNAME


async def test_every_cloud_error_is_a_cloud_error(
    mocked: aioresponses, cloud: EnphaseCloud
) -> None:
    mocked.post(LOGIN, status=401)
    with pytest.raises(CloudError):
        await cloud.login()


async def test_caller_session_is_left_open(mocked: aioresponses) -> None:
    mocked.post(LOGIN, payload=LOGIN_OK)
    async with aiohttp.ClientSession() as session:
        client = EnphaseCloud(USERNAME, PASSWORD, enlighten_url=ENLIGHTEN, session=session)
        await client.login()
        await client.close()
        assert not session.closed
