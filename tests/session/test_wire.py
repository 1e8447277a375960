"""The session's own HTTP/1.1 client over real loopback sockets, plain and TLS.

A scripted server answers each request with the bytes a test gives it, on connections it
keeps open or closes as told, and records what it received.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import ssl
import zlib
from collections.abc import AsyncIterator

import attrs
import pytest

from enphase_local.simulator.certs import make_certificate
from enphase_local.transport import gateway_ssl_context, parse_address
from enphase_local.wire import (
    MAX_HEAD_BYTES,
    BadReplyError,
    BodyTooLargeError,
    ConnectFailedError,
    ConnectionClosedError,
    ConnectTimeoutError,
    FingerprintMismatchError,
    WireClient,
)
from tests.reliability.rawserver import RawServer


def reply(body: bytes = b"{}", *, status: int = 200, headers: str = "") -> bytes:
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body


@attrs.define
class ScriptedServer(RawServer):
    """Answers the n-th request with ``answers[n]`` (bytes, and whether to close after them).

    Unlike its base it keeps a connection for as many requests as the answers allow.
    """

    answers: list[tuple[bytes, bool]] = attrs.field(factory=list)
    #: Every request as received: head and body.
    received: list[bytes] = attrs.field(factory=list)
    #: Connections the client ended between requests; the event is set at the first.
    closed_by_peer: int = 0
    peer_closed: asyncio.Event = attrs.field(factory=asyncio.Event)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as err:
                if not err.partial:
                    self.closed_by_peer += 1
                    self.peer_closed.set()
                return
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            self.received.append(head + (await reader.readexactly(length) if length else b""))
            answer, close = self.answers[len(self.received) - 1]
            writer.write(answer)
            await writer.drain()
            if close:
                return


def client(
    url: str,
    *,
    keep_alive: bool = True,
    cap: int = 1 << 20,
    pin: bytes | None = None,
    connect_timeout: float = 5.0,
    idle_timeout: float = 15.0,
) -> WireClient:
    return WireClient(
        parse_address(url),
        ssl_context=gateway_ssl_context(),
        pin=pin,
        connect_timeout=connect_timeout,
        keep_alive=keep_alive,
        max_body_bytes=cap,
        user_agent="enphase-local/test",
        idle_timeout=idle_timeout,
    )


@contextlib.asynccontextmanager
async def serving(
    answers: list[tuple[bytes, bool]], *, tls: ssl.SSLContext | None = None, **options: object
) -> AsyncIterator[tuple[ScriptedServer, WireClient]]:
    async with ScriptedServer(answers=answers, tls=tls) as server:
        wire = client(server.url, **options)  # type: ignore[arg-type]  # test options
        try:
            yield server, wire
        finally:
            wire.close()


async def test_kept_alive_connection_carries_every_request() -> None:
    answers = [(reply(b'{"n": %d}' % n), False) for n in range(3)]
    async with serving(answers) as (server, wire):
        bodies = [(await wire.request("GET", f"/p{n}", b"Accept: */*\r\n")).body for n in range(3)]
    assert bodies == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    assert server.connections == 1
    first = server.received[0]
    assert first.startswith(b"GET /p0 HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in first
    assert b"\r\nUser-Agent: enphase-local/test\r\n" in first
    assert b"\r\nAccept-Encoding: identity\r\n" in first
    assert first.endswith(b"\r\nAccept: */*\r\n\r\n")


async def test_a_connection_left_idle_is_closed_then_replaced() -> None:
    answers = [(reply(b"1"), False), (reply(b"2"), False)]
    async with serving(answers, idle_timeout=0.05) as (server, wire):
        assert (await wire.request("GET", "/", b"")).body == b"1"
        await asyncio.wait_for(server.peer_closed.wait(), 5)  # we ended it, with a goodbye
        assert (await wire.request("GET", "/", b"")).body == b"2"
    assert server.connections == 2


async def test_the_idle_check_closes_only_a_connection_idle_long_enough() -> None:
    answers = [(reply(b"1"), False)]
    async with serving(answers, idle_timeout=60) as (server, wire):
        await wire.request("GET", "/", b"")
        connection = wire._connection
        assert connection is not None
        assert connection.idle_timer is not None  # the idle spell is being watched
        loop = asyncio.get_running_loop()
        connection.idle_since = loop.time() - 30  # used again since the timer was set
        wire._check_idle(connection)
        assert wire._connection is connection
        assert connection.idle_timer is not None  # looks again when the new spell ends
        assert connection.idle_timer.when() == pytest.approx(connection.idle_since + 60)
        connection.idle_since = loop.time() - 61
        wire._check_idle(connection)
        assert wire._connection is None
        assert connection.idle_timer is None
        await asyncio.wait_for(server.peer_closed.wait(), 5)
        assert server.closed_by_peer == 1


async def test_a_reply_saying_close_ends_the_connection() -> None:
    answers = [(reply(headers="Connection: close\r\n"), True), (reply(), False)]
    async with serving(answers) as (server, wire):
        for _ in range(2):
            assert (await wire.request("GET", "/", b"")).status == 200
    assert server.connections == 2


async def test_without_keep_alive_every_request_asks_to_close() -> None:
    answers = [(reply(), False), (reply(), False)]
    async with serving(answers, keep_alive=False) as (server, wire):
        for _ in range(2):
            await wire.request("GET", "/", b"")
    assert server.connections == 2
    assert all(b"\r\nConnection: close\r\n" in request for request in server.received)


async def test_a_connection_closed_while_idle_is_replaced_and_the_request_sent_again() -> None:
    # The server drops the connection after the first reply without saying so.
    answers = [(reply(b"1"), True), (reply(b"2"), False)]
    async with serving(answers) as (server, wire):
        assert (await wire.request("GET", "/", b"")).body == b"1"
        await asyncio.sleep(0.05)  # the close arrives while the connection is idle
        assert (await wire.request("GET", "/", b"")).body == b"2"
    assert server.connections == 2
    assert len(server.received) == 2


async def test_bodies_delimited_by_close_chunked_and_compressed_are_read() -> None:
    text = b'{"wattsNow": 1234}' * 50
    answers = [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + text, True),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n%s\r\n" % (100, text[:100])
            + b"%x\r\n%s\r\n" % (len(text) - 100, text[100:])
            + b"0\r\n\r\n",
            False,
        ),
        (reply(gzip.compress(text), headers="Content-Encoding: gzip\r\n"), False),
        (reply(zlib.compress(text), headers="Content-Encoding: deflate\r\n"), False),
    ]
    async with serving(answers) as (_, wire):
        bodies = [(await wire.request("GET", "/", b"")).body for _ in answers]
    assert bodies == [text] * 4


async def test_sloppy_replies_are_read_as_aiohttp_reads_them() -> None:
    # Bare LF line ends, a control byte in a header value, spaces after a chunk size.
    answers = [
        (b"HTTP/1.1 200 OK\nContent-Length: 2\nX-Odd: a\x01b\n\nok", False),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2  \r\nok\r\n0\r\n\r\n", False),
    ]
    async with serving(answers) as (server, wire):
        replies = [await wire.request("GET", "/", b"") for _ in answers]
    assert [answer.body for answer in replies] == [b"ok", b"ok"]
    assert (b"X-Odd", b"a\x01b") in replies[0].headers
    assert server.connections == 1


async def test_headers_come_back_in_order() -> None:
    answers = [(reply(headers="Set-Cookie: a=1\r\nSet-Cookie: sessionId=x; Path=/\r\n"), False)]
    async with serving(answers) as (_, wire):
        answer = await wire.request("GET", "/", b"")
    assert [pair for pair in answer.headers if pair[0] == b"Set-Cookie"] == [
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"sessionId=x; Path=/"),
    ]


async def test_an_interim_100_continue_is_skipped() -> None:
    answers = [(b"HTTP/1.1 100 Continue\r\n\r\n" + reply(b"done"), False)]
    async with serving(answers) as (_, wire):
        answer = await wire.request("PUT", "/x", b"", b'{"enable": 1}')
    assert (answer.status, answer.body) == (200, b"done")


async def test_a_body_is_sent_with_its_length() -> None:
    answers = [(reply(), False)]
    async with serving(answers) as (server, wire):
        await wire.request("POST", "/ivp/livedata/stream", b"", b'{"enable": 1}')
    assert b"\r\nContent-Length: 13\r\n\r\n" in server.received[0]
    assert server.received[0].endswith(b'{"enable": 1}')


async def test_a_reply_cut_in_the_middle_is_an_error_and_not_sent_again() -> None:
    answers = [(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10, True)]
    async with serving(answers) as (server, wire):
        with pytest.raises(ConnectionClosedError) as caught:
            await wire.request("GET", "/", b"")
    assert caught.value.received
    assert len(server.received) == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 abc Broken\r\n\r\n",
        b"<html>not http</html>\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Encoding: gzip\r\n\r\nabcd",
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Encoding: br\r\n\r\nabcd",
    ],
    ids=["bad status", "not http", "bad chunk", "broken gzip", "unknown encoding"],
)
async def test_unreadable_replies_are_bad_replies(answer: bytes) -> None:
    async with serving([(answer, True)]) as (_, wire):
        with pytest.raises(BadReplyError):
            await wire.request("GET", "/", b"")


async def test_endless_headers_are_refused() -> None:
    flood = b"HTTP/1.1 200 OK\r\n" + b"X-Flood: " + b"f" * (MAX_HEAD_BYTES + 10) + b"\r\n"
    async with serving([(flood, False)]) as (_, wire):
        with pytest.raises(BadReplyError, match="headers exceed"):
            await wire.request("GET", "/", b"")


async def test_bodies_over_the_cap_are_refused() -> None:
    big = b"x" * 2000
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" + big + b"\r\n0\r\n\r\n"
    )
    answers = [
        (reply(big), True),
        (chunked, True),
        (reply(gzip.compress(big), headers="Content-Encoding: gzip\r\n"), True),
    ]
    async with serving(answers, cap=1000) as (_, wire):
        with pytest.raises(BodyTooLargeError) as announced:
            await wire.request("GET", "/", b"")
        with pytest.raises(BodyTooLargeError) as streamed:
            await wire.request("GET", "/", b"")
        with pytest.raises(BodyTooLargeError, match="decoded"):
            await wire.request("GET", "/", b"")
    assert announced.value.announced == 2000
    assert streamed.value.announced is None


async def test_bytes_nobody_asked_for_retire_the_connection() -> None:
    answers = [(reply(b"1") + b"HTTP/1.1 200 OK\r\n", False), (reply(b"2"), False)]
    async with serving(answers) as (server, wire):
        assert (await wire.request("GET", "/", b"")).body == b"1"
        await asyncio.sleep(0.05)
        assert (await wire.request("GET", "/", b"")).body == b"2"
    assert server.connections == 2


async def test_a_cancelled_exchange_never_reuses_its_connection() -> None:
    answers = [(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", False), (reply(b"ok"), False)]
    async with serving(answers) as (server, wire):
        pending = asyncio.ensure_future(wire.request("GET", "/slow", b""))
        await asyncio.sleep(0.05)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        assert (await wire.request("GET", "/", b"")).body == b"ok"
    assert server.connections == 2


async def test_a_refused_connection_is_a_connect_failure() -> None:
    async with ScriptedServer() as server:
        url = server.url
    with pytest.raises(ConnectFailedError):
        await client(url).request("GET", "/", b"")


async def test_a_stalled_tls_handshake_is_a_connect_timeout() -> None:
    async with ScriptedServer() as server:  # plain TCP: a TLS client waits for ever
        wire = client(server.url.replace("http:", "https:"), connect_timeout=0.2)
        with pytest.raises(ConnectTimeoutError):
            await wire.request("GET", "/", b"")
        assert isinstance(ConnectTimeoutError("x"), TimeoutError)


async def test_tls_with_the_pinned_certificate_and_a_mismatch_that_sends_nothing() -> None:
    certificate = make_certificate("envoy")
    pin = hashlib.sha256(certificate.der).digest()
    answers = [(reply(b"pinned"), False)]
    tls = certificate.server_context()
    async with serving(answers, tls=tls, pin=pin) as (server, wire):
        assert (await wire.request("GET", "/", b"Authorization: Bearer secret\r\n")).body == (
            b"pinned"
        )
        wire.set_pin(b"\x00" * 32)
        with pytest.raises(FingerprintMismatchError) as caught:
            await wire.request("GET", "/", b"Authorization: Bearer secret\r\n")
    assert caught.value.got == pin
    assert len(server.received) == 1  # the mismatched connection carried no request
