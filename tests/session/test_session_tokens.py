"""How GatewaySession uses token sources: refresh ahead, recovery from 401, serial checks."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import pytest
from aioresponses import aioresponses
from yarl import URL

from enphase_local.auth.sources import CallbackTokenSource
from enphase_local.errors import (
    AuthenticationError,
    TokenExpiredError,
    TokenRejectedError,
    TokenSerialMismatchError,
)
from enphase_local.session import GatewaySession
from tests.helpers import PRODUCTION_JSON, UNAUTHORIZED_HTML, VALID_TOKEN_HTML, info_xml, make_jwt

BASE = "https://envoy.local"
SERIAL = "122125067699"


def bearer_of(call: object) -> str:
    headers = call.kwargs["headers"]  # type: ignore[attr-defined]  # aioresponses RequestCall
    value: str = headers.get("Authorization", "")
    return value.removeprefix("Bearer ")


def data_calls(m: aioresponses, path: str = "/api/v1/production") -> list[object]:
    return list(m.requests.get(("GET", URL(f"{BASE}{path}")), []))


class CountingSource:
    """A callback source handing out the next token of a list, counting the calls."""

    def __init__(self, *tokens: str, delay: float = 0.0) -> None:
        self.tokens = list(tokens)
        self.calls = 0
        self.delay = delay
        self.source = CallbackTokenSource(self._next)

    async def _next(self, serial: str) -> str:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return self.tokens[min(self.calls, len(self.tokens)) - 1]


async def test_due_token_is_refreshed_in_background_and_checked_before_use(
    mocked: aioresponses,
) -> None:
    # A 12-hour installer token with 30 minutes left is inside the default margin.
    old = make_jwt(SERIAL, role="installer", lifetime_s=12 * 3600, issued_at=_now() - 11.5 * 3600)
    new = make_jwt(SERIAL, role="installer", lifetime_s=12 * 3600)
    counting = CountingSource(old, new)
    mocked.get(f"{BASE}/info", body=info_xml(SERIAL), repeat=True)
    mocked.get(f"{BASE}/auth/check_jwt", body=VALID_TOKEN_HTML, repeat=True)
    mocked.get(f"{BASE}/api/v1/production", body=PRODUCTION_JSON, repeat=True)

    async with GatewaySession("envoy.local", token=counting.source) as gateway:
        await gateway.production()  # uses the old token, starts fetching the new one
        await asyncio.sleep(0.01)
        await gateway.production()  # adopts the new one after check_jwt
        await gateway.production()
        assert gateway.token is not None
        assert gateway.token.secret() == new

    bearers = [bearer_of(c) for c in data_calls(mocked)]
    assert bearers == [old, new, new]
    assert counting.calls == 2
    checks = [bearer_of(c) for c in data_calls(mocked, "/auth/check_jwt")]
    assert checks == [old, new]


async def test_refused_token_is_replaced_from_the_source_and_the_request_retried(
    mocked: aioresponses,
) -> None:
    revoked = make_jwt(SERIAL, extra={"jti": "revoked"})
    fresh = make_jwt(SERIAL, extra={"jti": "fresh"})
    counting = CountingSource(revoked, fresh)
    mocked.get(f"{BASE}/info", body=info_xml(SERIAL))
    mocked.get(f"{BASE}/auth/check_jwt", body=VALID_TOKEN_HTML)  # first check passes
    mocked.get(f"{BASE}/api/v1/production", status=401, body=UNAUTHORIZED_HTML)  # then revoked
    mocked.get(f"{BASE}/auth/check_jwt", status=401, body=UNAUTHORIZED_HTML)
    mocked.get(f"{BASE}/auth/check_jwt", body=VALID_TOKEN_HTML)
    mocked.get(f"{BASE}/api/v1/production", body=PRODUCTION_JSON)

    async with GatewaySession("envoy.local", token=counting.source) as gateway:
        assert (await gateway.production()).power_w == 332

    assert [bearer_of(c) for c in data_calls(mocked)] == [revoked, fresh]
    assert counting.calls == 2


async def test_concurrent_requests_share_one_source_call(mocked: aioresponses) -> None:
    counting = CountingSource(make_jwt(SERIAL), delay=0.01)
    mocked.get(f"{BASE}/info", body=info_xml(SERIAL))
    mocked.get(f"{BASE}/auth/check_jwt", body=VALID_TOKEN_HTML)
    mocked.get(f"{BASE}/api/v1/production", body=PRODUCTION_JSON, repeat=True)

    async with GatewaySession("envoy.local", token=counting.source) as gateway:
        results = await asyncio.gather(*(gateway.production() for _ in range(100)))

    assert len(results) == 100
    assert counting.calls == 1


async def test_token_for_another_gateway_is_never_sent(mocked: aioresponses) -> None:
    mocked.get(f"{BASE}/info", body=info_xml(SERIAL))
    async with GatewaySession("envoy.local", token=make_jwt("999999999999")) as gateway:
        with pytest.raises(TokenSerialMismatchError, match="999999999999"):
            await gateway.production()
    assert ("GET", URL(f"{BASE}/auth/check_jwt")) not in mocked.requests
    assert ("GET", URL(f"{BASE}/api/v1/production")) not in mocked.requests


async def test_expired_static_token_fails_before_any_request(mocked: aioresponses) -> None:
    expired = make_jwt(SERIAL, lifetime_s=3600, issued_at=_now() - 7200)
    mocked.get(f"{BASE}/info", body=info_xml(SERIAL))
    async with GatewaySession("envoy.local", token=expired) as gateway:
        with pytest.raises(TokenExpiredError):
            await gateway.production()
    assert ("GET", URL(f"{BASE}/auth/check_jwt")) not in mocked.requests


async def test_source_failure_during_refresh_keeps_the_valid_token(
    mocked: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    due = make_jwt(SERIAL, lifetime_s=12 * 3600, issued_at=_now() - 11.5 * 3600)
    calls = 0

    async def flaky(serial: str) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            return due
        raise AuthenticationError("cloud unreachable")

    mocked.get(f"{BASE}/info", body=info_xml(SERIAL))
    mocked.get(f"{BASE}/auth/check_jwt", body=VALID_TOKEN_HTML)
    mocked.get(f"{BASE}/api/v1/production", body=PRODUCTION_JSON, repeat=True)
    async with GatewaySession(
        "envoy.local", token=CallbackTokenSource(flaky), refresh_margin=timedelta(hours=1)
    ) as gateway:
        await gateway.production()
        await asyncio.sleep(0.01)
        await gateway.production()  # the failed refresh is logged, the old token still used
    assert [bearer_of(c) for c in data_calls(mocked)] == [due, due]
    assert "token refresh failed" in caplog.text
    assert due not in caplog.text


async def test_static_token_refused_twice_is_a_clear_error(mocked: aioresponses) -> None:
    mocked.get(f"{BASE}/info", body=info_xml(SERIAL))
    mocked.get(f"{BASE}/auth/check_jwt", status=401, body=UNAUTHORIZED_HTML, repeat=True)
    async with GatewaySession("envoy.local", token=make_jwt(SERIAL)) as gateway:
        with pytest.raises(TokenRejectedError):
            await gateway.production()


def _now() -> float:
    return time.time()
