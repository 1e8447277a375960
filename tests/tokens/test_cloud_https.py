"""The cloud client against the simulator's cloud on 127.0.0.1 over real HTTPS, TLS verified.

What the simulator's cloud cannot do yet (a few failed replies then good ones, a body of its
choosing, forgetting logins, showing each request) is done by :class:`Front`, a small HTTPS
server in front of it.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import hdrs, web

from enphase_local.auth.cloud import USER_AGENT, EnphaseCloud
from enphase_local.errors import (
    CloudLoginError,
    CloudSerialError,
    CloudUnavailableError,
    MfaRequiredError,
)
from enphase_local.simulator import FakeCloud, TokenIssuer
from enphase_local.simulator.certs import make_certificate
from enphase_local.simulator.cloud import CloudStats
from enphase_local.simulator.server import Listener
from tests.tokens.jwt import OTHER_SERIAL, SERIAL
from tests.tokens.simcloud import MFA, OWNER, PASSWORD, USERNAME, client, own

LOGIN = "/login/login.json"
TOKENS = "/tokens"


class Front:
    """An HTTPS front for a cloud: records requests, answers scripted replies, forgets logins.

    A request to :data:`LOGIN` or :data:`TOKENS` first takes the next reply of
    ``scripted[path]`` (status and body); a token request whose session was forgotten by
    :meth:`expire_sessions` gets 401, as Entrez answers once a login lapsed; anything else is
    forwarded to the cloud behind, over verified TLS.
    """

    def __init__(self, cloud: FakeCloud) -> None:
        self._cloud = cloud
        self._certificate = make_certificate("localhost", alt_names=("localhost", "127.0.0.1"))
        self._listener = Listener(self._app, ssl_context=self._certificate.server_context())
        #: Replies to give before forwarding, per path, in order.
        self.scripted: dict[str, list[tuple[int, bytes]]] = {LOGIN: [], TOKENS: []}
        #: ``(path, User-Agent)`` of every request, in order.
        self.requests: list[tuple[str, str]] = []
        #: The ``serial_num`` of every token request, in order.
        self.token_serials: list[str] = []
        self._sessions: set[str] = set()
        self._forgotten: set[str] = set()

    @property
    def url(self) -> str:
        """Base URL of both Enlighten and Entrez, as the client sees them."""
        return self._listener.url

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client TLS context trusting the front's certificate."""
        return self._certificate.client_context()

    def expire_sessions(self) -> None:
        """Refuse every session used so far, as Entrez does after a while."""
        self._forgotten |= self._sessions

    def paths(self) -> list[str]:
        """The path of every request, in order."""
        return [path for path, _ in self.requests]

    async def start(self) -> None:
        """Open the port."""
        await self._listener.start()

    async def stop(self) -> None:
        """Close the port."""
        await self._listener.stop()

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(LOGIN, self._handle)
        app.router.add_post(TOKENS, self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((request.path, request.headers.get(hdrs.USER_AGENT, "")))
        session_id = None
        if request.path == TOKENS:
            fields = json.loads(body)
            session_id = fields["session_id"]
            self.token_serials.append(fields["serial_num"])
        if self.scripted[request.path]:
            status, reply = self.scripted[request.path].pop(0)
            return web.Response(status=status, body=reply)
        if session_id in self._forgotten:
            return web.Response(status=401, text="Invalid session")
        if session_id is not None:
            self._sessions.add(session_id)
        return await self._forward(request, body)

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        headers = {name: request.headers[name] for name in (hdrs.CONTENT_TYPE, hdrs.USER_AGENT)}
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{self._cloud.url}{request.path}",
                data=body,
                headers=headers,
                ssl=self._cloud.client_ssl_context() or True,
            ) as reply,
        ):
            return web.Response(
                status=reply.status,
                body=await reply.read(),
                headers={hdrs.CONTENT_TYPE: reply.headers[hdrs.CONTENT_TYPE]},
            )


@pytest.fixture
async def front(sim_cloud: FakeCloud) -> AsyncIterator[Front]:
    """A :class:`Front` for ``sim_cloud``, on 127.0.0.1."""
    server = Front(sim_cloud)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_fetch_over_verified_tls(sim_cloud: FakeCloud, sim_issuer: TokenIssuer) -> None:
    async with client(sim_cloud) as cloud:
        token = await cloud.fetch_token(SERIAL)
    assert token.serial == SERIAL
    assert token.jti is not None
    assert sim_issuer.sequence_of(token.jti) == sim_issuer.last_sequence == 1
    assert sim_cloud.stats == CloudStats(logins=1, tokens=1)


async def test_default_tls_refuses_an_untrusted_certificate(sim_cloud: FakeCloud) -> None:
    async with EnphaseCloud(
        USERNAME, PASSWORD, enlighten_url=sim_cloud.url, entrez_url=sim_cloud.url, retry_delay=0
    ) as cloud:
        with pytest.raises(CloudUnavailableError, match="TLS failed"):
            await cloud.fetch_token(SERIAL)
    assert sim_cloud.stats == CloudStats()


async def test_tls_check_can_be_switched_off_for_a_local_service(sim_cloud: FakeCloud) -> None:
    async with EnphaseCloud(
        USERNAME, PASSWORD, enlighten_url=sim_cloud.url, entrez_url=sim_cloud.url, ssl=False
    ) as cloud:
        assert (await cloud.fetch_token(SERIAL)).serial == SERIAL


async def test_wrong_password(sim_cloud: FakeCloud) -> None:
    async with client(sim_cloud, password="wrong-password") as cloud:
        with pytest.raises(CloudLoginError) as caught:
            await cloud.fetch_token(SERIAL)
    assert "wrong-password" not in str(caught.value)
    assert sim_cloud.stats == CloudStats(failed_logins=1)


async def test_mfa(sim_cloud: FakeCloud) -> None:
    async with client(sim_cloud, MFA) as cloud:
        with pytest.raises(MfaRequiredError):
            await cloud.fetch_token(SERIAL)
    assert sim_cloud.stats.tokens == sim_cloud.stats.failed_tokens == 0


async def test_serial_not_on_account(sim_cloud: FakeCloud) -> None:
    async with client(sim_cloud) as cloud:
        with pytest.raises(CloudSerialError, match=OTHER_SERIAL):
            await cloud.fetch_token(OTHER_SERIAL)
    assert sim_cloud.stats == CloudStats(logins=1, failed_tokens=1)


async def test_lapsed_session_is_renewed(sim_cloud: FakeCloud, front: Front) -> None:
    own(sim_cloud, OTHER_SERIAL)
    async with client(front) as cloud:
        await cloud.fetch_token(SERIAL)
        front.expire_sessions()
        assert (await cloud.fetch_token(OTHER_SERIAL)).serial == OTHER_SERIAL
    assert front.token_serials == [SERIAL, OTHER_SERIAL, OTHER_SERIAL]
    assert front.paths() == [LOGIN, TOKENS, TOKENS, LOGIN, TOKENS]
    assert sim_cloud.stats == CloudStats(logins=2, tokens=2)


async def test_outage_then_recovery(sim_cloud: FakeCloud, front: Front) -> None:
    front.scripted[LOGIN] = [(503, b"busy"), (504, b"busy")]
    front.scripted[TOKENS] = [(502, b"busy")]
    async with client(front) as cloud:
        assert (await cloud.fetch_token(SERIAL)).serial == SERIAL
    assert front.paths() == [LOGIN, LOGIN, LOGIN, TOKENS, TOKENS]
    assert {agent for _, agent in front.requests} == {USER_AGENT}
    assert sim_cloud.stats == CloudStats(logins=1, tokens=1)


async def test_persistent_outage_is_bounded(sim_cloud: FakeCloud, front: Front) -> None:
    sim_cloud.outage = True
    async with client(front, attempts=4) as cloud:
        with pytest.raises(CloudUnavailableError, match=r"HTTP 503 \(4 attempts\)"):
            await cloud.fetch_token(SERIAL)
    assert front.paths() == [LOGIN] * 4


async def test_non_token_body(sim_cloud: FakeCloud, front: Front) -> None:
    front.scripted[TOKENS] = [(200, b"Error in generating Token")]
    async with client(front) as cloud:
        with pytest.raises(CloudUnavailableError, match="Error in generating Token"):
            await cloud.fetch_token(SERIAL)
    assert front.token_serials == [SERIAL]
    assert sim_cloud.stats == CloudStats(logins=1)


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port was just free)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"https://127.0.0.1:{port}"


async def test_unreachable() -> None:
    url = closed_port_url()
    async with EnphaseCloud(
        USERNAME, PASSWORD, enlighten_url=url, entrez_url=url, retry_delay=0
    ) as cloud:
        with pytest.raises(CloudUnavailableError, match="could not connect") as caught:
            await cloud.fetch_token(SERIAL)
    assert "3 attempts" in str(caught.value)


async def test_caller_owned_session(sim_cloud: FakeCloud) -> None:
    async with aiohttp.ClientSession() as session:
        cloud = client(sim_cloud, OWNER, session=session)
        await cloud.fetch_token(SERIAL)
        await cloud.close()
        assert not session.closed
    assert sim_cloud.stats == CloudStats(logins=1, tokens=1)
