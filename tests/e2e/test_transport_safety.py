"""What the one aiohttp path promises over real sockets: no downgrade of a pinned gateway,
no connection kept after a failure, and no session cookie left in a caller's jar."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from enphase_local import GatewayConnectionError, GatewaySession
from enphase_local.errors import GatewayTimeoutError, ResponseTooLargeError
from enphase_local.exchange import Exchange
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.transport import parse_address
from enphase_local.trust import TrustStore

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
SOME_PIN = "ab" * 32


def _bare(url: str) -> str:
    """``127.0.0.1:port`` of a simulated gateway: no scheme, so HTTPS is tried first."""
    return url.split("://", 1)[1]


@pytest.mark.enphase_simulation(profile="legacy", start_time=NOON)
async def test_an_unpinned_gateway_without_https_falls_back_to_legacy_http(
    enphase_gateway: SimulatedGateway,
) -> None:
    # The control case: without a pin the HTTP fallback works (so the next tests can fail).
    async with GatewaySession(_bare(enphase_gateway.url), retries=0) as client:
        await client.info()
        assert client.base_url.startswith("http://")


@pytest.mark.enphase_simulation(profile="legacy", start_time=NOON)
@pytest.mark.parametrize("pinned_by", ["fingerprint", "trust store"])
async def test_a_pinned_gateway_never_falls_back_to_plain_http(
    enphase_gateway: SimulatedGateway, tmp_path: Path, pinned_by: str
) -> None:
    options: dict[str, object] = {"retries": 0}
    if pinned_by == "fingerprint":
        options["fingerprint"] = SOME_PIN
    else:
        options["trust"] = TrustStore(tmp_path / "trust.json")
    enphase_gateway.stats.reset()
    async with GatewaySession(_bare(enphase_gateway.url), **options) as client:  # type: ignore[arg-type]
        with pytest.raises(GatewayConnectionError):
            await client.info()
        assert client.base_url.startswith("https://")
    assert enphase_gateway.stats.requests == 0  # nothing was asked over HTTP


@pytest.mark.parametrize("pinned_by", ["fingerprint", "trust store"])
def test_a_pin_with_an_http_address_is_a_configuration_error(
    tmp_path: Path, pinned_by: str
) -> None:
    options: dict[str, object] = (
        {"fingerprint": SOME_PIN}
        if pinned_by == "fingerprint"
        else {"trust": TrustStore(tmp_path / "trust.json")}
    )
    with pytest.raises(ValueError, match="https://"):
        GatewaySession("http://envoy.local", **options)  # type: ignore[arg-type]


class _Peers:
    """A keep-alive HTTP server that notes the client port of every request it answers."""

    def __init__(self) -> None:
        self.ports: list[int] = []
        app = web.Application()
        app.router.add_get("/ok", self._ok)
        app.router.add_get("/endless", self._endless)
        app.router.add_get("/slow", self._slow)
        self.server = TestServer(app, host="127.0.0.1")

    def _note(self, request: web.Request) -> None:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.ports.append(peer[1] if peer else -1)

    async def _ok(self, request: web.Request) -> web.Response:
        self._note(request)
        return web.Response(body=b"{}")

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        self._note(request)
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(500):  # a body far over the cap, still arriving when it is refused
            await response.write(b"x" * 2048)
            await asyncio.sleep(0.01)
        return response

    async def _slow(self, request: web.Request) -> web.Response:
        self._note(request)
        await asyncio.sleep(5)
        return web.Response(body=b"{}")


def _exchange(server: TestServer) -> Exchange:
    return Exchange(
        parse_address(f"http://127.0.0.1:{server.port}"),
        session=None,
        pin=None,
        connect_timeout=5.0,
        retries=0,
        retry_backoff=0.01,
        max_body_bytes=1024,
        keep_alive=True,
    )


async def test_requests_share_one_kept_alive_connection() -> None:
    peers = _Peers()
    async with peers.server:
        exchange = _exchange(peers.server)
        try:
            for _ in range(3):
                assert (await exchange.get("/ok", {})).status == 200
        finally:
            await exchange.close()
    assert len(set(peers.ports)) == 1


@pytest.mark.parametrize("failing", ["/endless", "/slow"])
async def test_a_failure_after_connect_closes_the_connection(failing: str) -> None:
    peers = _Peers()
    async with peers.server:
        exchange = _exchange(peers.server)
        try:
            await exchange.get("/ok", {})
            with pytest.raises((ResponseTooLargeError, TimeoutError)):
                async with asyncio.timeout(0.3):
                    await exchange.get(failing, {})
            await exchange.get("/ok", {})
        finally:
            await exchange.close()
    first, failed, after = peers.ports
    assert failed == first  # the failing request went over the kept-alive connection
    assert after != first  # and that connection was not used again


class _RecordingJar(aiohttp.CookieJar):
    """A caller's cookie jar that keeps cookies of IP hosts too and notes every update."""

    def __init__(self) -> None:
        super().__init__(unsafe=True)
        self.offered: list[str] = []

    def update_cookies_from_headers(self, headers: Sequence[str], response_url: URL) -> None:
        self.offered += [header.split("=", 1)[0] for header in headers]
        super().update_cookies_from_headers(headers, response_url)


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_the_session_cookie_does_not_stay_in_a_callers_jar(
    enphase_gateway: SimulatedGateway,
) -> None:
    jar = _RecordingJar()
    async with aiohttp.ClientSession(cookie_jar=jar) as caller:
        async with GatewaySession(
            enphase_gateway.url,
            token=enphase_gateway.token,
            fingerprint=enphase_gateway.fingerprint,
            session=caller,
        ) as client:
            for _ in range(3):
                await client.meter_readings()
        assert "sessionId" in jar.offered  # aiohttp did hand the gateway's cookie to the jar
        assert [cookie.key for cookie in jar] == []
        assert not caller.closed  # the caller's session stays theirs
    assert enphase_gateway.stats.by_path["/auth/check_jwt"] == 1  # the cookie was still used


async def test_a_connect_timeout_is_a_gateway_timeout() -> None:
    # A listening socket that never completes a TLS handshake.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with GatewaySession(
            f"https://127.0.0.1:{port}", connect_timeout=0.2, timeout=5.0, retries=0
        ) as client:
            with pytest.raises(GatewayTimeoutError, match="cannot connect"):
                await client.info()
    finally:
        server.close()
        await server.wait_closed()
