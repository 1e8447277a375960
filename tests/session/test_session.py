"""GatewaySession behaviour against mocked replies (aioresponses)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from enphase_local import endpoints as ep
from enphase_local.errors import (
    AuthenticationError,
    EndpointForbiddenError,
    EnphaseError,
    GatewayConnectionError,
    GatewayTimeoutError,
    HttpStatusError,
    NotSupportedError,
    PayloadError,
    ResponseTooLargeError,
    SessionClosedError,
    TokenRejectedError,
)
from enphase_local.session import GatewaySession
from tests.helpers import (
    PRODUCTION_JSON,
    UNAUTHORIZED_HTML,
    VALID_TOKEN_HTML,
    info_xml,
    make_jwt,
)

BASE = "https://envoy.local"
SERIAL = "122125067699"
TOKEN = make_jwt(SERIAL)
COOKIE = "sessionId=Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z; Path=/; HttpOnly"


@pytest.fixture
async def gateway() -> AsyncIterator[GatewaySession]:
    async with GatewaySession("envoy.local", token=TOKEN, retry_backoff=0.001) as session:
        yield session


def ready(m: aioresponses, *, software: str = "D8.2.127") -> None:
    """Mock /info and check_jwt as a token-era gateway answers them."""
    m.get(f"{BASE}/info", body=info_xml(SERIAL, software), headers={"Content-Type": "text/xml"})
    m.get(f"{BASE}/auth/check_jwt", body=VALID_TOKEN_HTML, headers={"Set-Cookie": COOKIE})


def calls(m: aioresponses, path: str, method: str = "GET") -> list[Any]:
    return list(m.requests.get((method, URL(f"{BASE}{path}")), []))


async def test_reads_info_first_then_checks_token_once_and_sends_cookie(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    mocked.get(f"{BASE}/api/v1/production", body=PRODUCTION_JSON, repeat=True)

    first = await gateway.production()
    second = await gateway.production()

    assert first.power_w == 332
    assert first.energy_lifetime_wh == 1608587
    assert second == first
    assert gateway.serial == SERIAL
    assert gateway.firmware == "8.2.127"
    assert len(calls(mocked, "/auth/check_jwt")) == 1
    assert "Authorization" not in calls(mocked, "/info")[0].kwargs["headers"]
    data_calls = calls(mocked, "/api/v1/production")
    assert len(data_calls) == 2
    for call in data_calls:
        headers = call.kwargs["headers"]
        assert headers["Authorization"] == f"Bearer {TOKEN}"
        assert headers["Cookie"] == "sessionId=Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
        assert call.kwargs["allow_redirects"] is False


async def test_missing_content_type_is_still_parsed(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    mocked.get(f"{BASE}/ivp/meters", body=b"[]", content_type="")
    assert await gateway.meters() == ()


async def test_401_rechecks_the_token_then_retries_once(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    mocked.get(f"{BASE}/api/v1/production", status=401, body=UNAUTHORIZED_HTML)
    mocked.get(f"{BASE}/auth/check_jwt", body=VALID_TOKEN_HTML, headers={"Set-Cookie": COOKIE})
    mocked.get(f"{BASE}/api/v1/production", body=PRODUCTION_JSON)

    production = await gateway.production()

    assert production.energy_today_wh == 21674
    assert len(calls(mocked, "/auth/check_jwt")) == 2


async def test_401_after_recheck_is_a_clear_authentication_error(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    mocked.get(f"{BASE}/ivp/pdm/energy", status=401, body=UNAUTHORIZED_HTML, repeat=True)
    mocked.get(f"{BASE}/auth/check_jwt", body=VALID_TOKEN_HTML, headers={"Set-Cookie": COOKIE})

    with pytest.raises(EndpointForbiddenError, match="role") as caught:
        await gateway.energy()
    # Not a refused token: a caller that re-authenticates on TokenRejectedError must not.
    assert not isinstance(caught.value, TokenRejectedError)
    assert len(calls(mocked, "/ivp/pdm/energy")) == 2


async def test_rejected_token_at_check_jwt(mocked: aioresponses, gateway: GatewaySession) -> None:
    mocked.get(f"{BASE}/info", body=info_xml(SERIAL))
    mocked.get(f"{BASE}/auth/check_jwt", status=401, body=UNAUTHORIZED_HTML)

    with pytest.raises(TokenRejectedError) as caught:
        await gateway.meters()
    assert isinstance(caught.value, AuthenticationError)
    assert calls(mocked, "/ivp/meters") == []


async def test_no_token_for_token_firmware(mocked: aioresponses) -> None:
    mocked.get(f"{BASE}/info", body=info_xml(SERIAL))
    async with GatewaySession("envoy.local") as gateway:
        with pytest.raises(AuthenticationError, match="needs an access token"):
            await gateway.production()


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, b'{ "error" : "404 - Not Found" }'),
        (404, b""),
        (200, b'{"err": "404 - Not Found"}'),
        (200, b'{ "error" : "404 - Not Found" }'),
        (
            200,
            b"<html><head><title>Page Not Found</title></head><body>"
            b"<h1>Page Not Found</h1></body></html>",
        ),
    ],
    ids=["404-error-json", "404-empty", "200-err-json", "200-error-json", "200-html-page"],
)
async def test_missing_endpoint_forms_raise_not_supported(
    mocked: aioresponses, gateway: GatewaySession, status: int, body: bytes
) -> None:
    ready(mocked)
    mocked.get(f"{BASE}/ivp/ensemble/device_list", status=status, body=body)
    with pytest.raises(NotSupportedError) as caught:
        await gateway.device_list()
    assert caught.value.endpoint == "/ivp/ensemble/device_list"


async def test_html_where_json_was_expected_is_a_payload_error(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    mocked.get(f"{BASE}/api/v1/production", body=b"<html><body>Envoy busy</body></html>")
    with pytest.raises(PayloadError, match="HTML"):
        await gateway.production()


@pytest.mark.parametrize(
    "body",
    [b'{"wattHoursToday": 21674, "wattHo', b"not json at all", b"", b"\xff\xfe{}"],
    ids=["truncated", "text", "empty", "bad-utf8"],
)
async def test_broken_bodies_are_payload_errors(
    mocked: aioresponses, gateway: GatewaySession, body: bytes
) -> None:
    ready(mocked)
    mocked.get(f"{BASE}/api/v1/production", body=body)
    with pytest.raises(PayloadError) as caught:
        await gateway.production()
    assert caught.value.endpoint == "/api/v1/production"


async def test_504_is_retried_with_backoff_then_succeeds(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    mocked.get(f"{BASE}/api/v1/production", status=504, body=b"<html>504 Gateway Time-out</html>")
    mocked.get(f"{BASE}/api/v1/production", body=PRODUCTION_JSON)
    assert gateway.retried == 0
    assert (await gateway.production()).power_w == 332
    assert gateway.retried == 1


async def test_persistent_504_ends_in_http_status_error(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    mocked.get(f"{BASE}/api/v1/production", status=504, body=b"<html>504</html>", repeat=True)
    with pytest.raises(HttpStatusError) as caught:
        await gateway.production()
    assert caught.value.status == 504
    assert len(calls(mocked, "/api/v1/production")) == 3  # one try and two retries
    assert gateway.retried == 2


async def test_timeout_is_a_gateway_timeout_and_a_builtin_timeout(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    mocked.get(f"{BASE}/api/v1/production", exception=TimeoutError(), repeat=True)
    with pytest.raises(TimeoutError) as caught:
        await gateway.production()
    assert isinstance(caught.value, GatewayTimeoutError)
    assert isinstance(caught.value.__cause__, TimeoutError)


async def test_connection_failure_is_mapped_and_chained(mocked: aioresponses) -> None:
    error = aiohttp.ClientConnectionError("Connection refused")
    mocked.get(f"{BASE}/info", exception=error, repeat=True)
    mocked.get("http://envoy.local/info", exception=error, repeat=True)
    async with GatewaySession("envoy.local", retry_backoff=0.001) as gateway:
        with pytest.raises(GatewayConnectionError) as caught:
            await gateway.info()
    assert caught.value.__cause__ is error  # what aiohttp raised, chained
    assert gateway.base_url == BASE


async def test_redirect_is_not_followed_and_token_not_sent_elsewhere(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    mocked.get(
        f"{BASE}/api/v1/production",
        status=301,
        headers={"Location": "https://attacker.example/steal"},
    )
    with pytest.raises(HttpStatusError, match=r"attacker\.example.*never followed"):
        await gateway.production()
    assert all(host == URL(BASE).host for _, host in ((k[0], k[1].host) for k in mocked.requests))


async def test_body_over_the_cap_is_cut_off(mocked: aioresponses) -> None:
    ready(mocked)
    mocked.get(f"{BASE}/api/v1/production/inverters", body=b"[" + b" " * 5000 + b"]")
    async with GatewaySession("envoy.local", token=TOKEN, max_body_bytes=4096) as gateway:
        with pytest.raises(ResponseTooLargeError):
            await gateway.inverters()


async def test_legacy_firmware_needs_no_token(mocked: aioresponses) -> None:
    mocked.get(f"{BASE}/info", body=info_xml(SERIAL, "D5.0.62", web_tokens=False))
    mocked.get(f"{BASE}/api/v1/production", body=PRODUCTION_JSON)
    async with GatewaySession("envoy.local") as gateway:
        assert (await gateway.production()).power_w == 332
        assert gateway.is_legacy
    assert calls(mocked, "/auth/check_jwt") == []


async def test_legacy_gateway_without_https_falls_back_to_http(mocked: aioresponses) -> None:
    mocked.get(f"{BASE}/info", exception=aiohttp.ClientConnectionError("refused"), repeat=True)
    mocked.get("http://envoy.local/info", body=info_xml(SERIAL, "R3.9.36", web_tokens=False))
    mocked.get("http://envoy.local/api/v1/production", body=PRODUCTION_JSON)
    async with GatewaySession("envoy.local", retry_backoff=0.001) as gateway:
        assert (await gateway.production()).energy_today_wh == 21674
        assert gateway.base_url == "http://envoy.local"


async def test_token_firmware_over_http_needs_explicit_opt_in(mocked: aioresponses) -> None:
    mocked.get("http://envoy.local/info", body=info_xml(SERIAL), repeat=True)
    async with GatewaySession("http://envoy.local", token=TOKEN) as gateway:
        with pytest.raises(AuthenticationError, match="plain HTTP"):
            await gateway.production()
    assert calls(mocked, "/auth/check_jwt") == []

    mocked.get("http://envoy.local/auth/check_jwt", body=VALID_TOKEN_HTML)
    mocked.get("http://envoy.local/api/v1/production", body=PRODUCTION_JSON)
    async with GatewaySession("http://envoy.local", token=TOKEN, allow_http=True) as gateway:
        assert (await gateway.production()).power_w == 332


async def test_enable_live_stream_posts_enable(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    mocked.post(f"{BASE}/ivp/livedata/stream", body=b'{"sc_stream": "enabled"}')
    state = await gateway.enable_live_stream()
    assert state.value == "enabled"
    (call,) = calls(mocked, "/ivp/livedata/stream", "POST")
    assert call.kwargs["json"] == {"enable": 1}


async def test_fetch_serves_every_declared_endpoint_method(gateway: GatewaySession) -> None:
    for endpoint in ep.ENDPOINTS:
        assert callable(getattr(gateway, endpoint.name))


async def test_caller_owned_session_is_left_open(mocked: aioresponses) -> None:
    ready(mocked)
    async with aiohttp.ClientSession() as client:
        async with GatewaySession("envoy.local", token=TOKEN, session=client) as gateway:
            await gateway.info()
        assert not client.closed


async def test_closed_session_refuses_requests(gateway: GatewaySession) -> None:
    await gateway.close()
    with pytest.raises(EnphaseError, match="closed"):
        await gateway.production()


async def test_token_never_in_logs_repr_or_errors(
    mocked: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ready(mocked)
    mocked.get(f"{BASE}/api/v1/production", status=401, body=UNAUTHORIZED_HTML, repeat=True)
    mocked.get(f"{BASE}/auth/check_jwt", status=401, body=UNAUTHORIZED_HTML)
    async with GatewaySession("envoy.local", token=TOKEN) as gateway:
        with pytest.raises(TokenRejectedError) as caught:
            await gateway.production()
        texts = [repr(gateway), str(gateway), str(caught.value), repr(caught.value), caplog.text]
    secret_parts = [TOKEN, TOKEN.split(".")[1], "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"]
    for text in texts:
        for secret in secret_parts:
            assert secret not in text


async def test_one_timeout_bounds_the_whole_call_retries_included(
    mocked: aioresponses,
) -> None:
    ready(mocked)
    mocked.get(f"{BASE}/api/v1/production", status=504, repeat=True)
    async with GatewaySession(
        "envoy.local", token=TOKEN, timeout=0.3, retries=50, retry_backoff=0.05
    ) as gateway:
        await gateway.info()
        with pytest.raises(GatewayTimeoutError, match=r"within 0\.3 s") as caught:
            await gateway.production()
        # The retry budget alone would have gone on for minutes: the deadline ended it.
        assert 0 < gateway.retried < 50
        assert isinstance(caught.value.__cause__, TimeoutError)
        task = asyncio.current_task()
        assert task is not None
        assert task.cancelling() == 0  # the deadline took back its own cancellation


async def test_a_closed_session_raises_session_closed_and_sends_nothing(
    mocked: aioresponses,
) -> None:
    ready(mocked)
    mocked.get(f"{BASE}/api/v1/production", body=PRODUCTION_JSON)
    gateway = GatewaySession("envoy.local", token=TOKEN)
    await gateway.production()
    await gateway.close()
    sent = sum(len(calls) for calls in mocked.requests.values())
    for call in (gateway.production, gateway.info, gateway.enable_live_stream):
        with pytest.raises(SessionClosedError, match="closed"):
            await call()
    assert sum(len(calls) for calls in mocked.requests.values()) == sent
