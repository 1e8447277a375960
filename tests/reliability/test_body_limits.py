"""Replies too big or never ending are cut off with a clear error, in bounded time and memory.

A raw server on 127.0.0.1 (see :mod:`tests.reliability.rawserver`) plays a legacy gateway: a
good ``/info``, then ``/api/v1/production`` answered in the way under test. Bodies past the
session's ``max_body_bytes`` end in ResponseTooLargeError, with or without Content-Length,
chunked or close-delimited, compressed or not, and memory (tracemalloc's peak) stays within a
few times the cap; replies that stall or drip end in GatewayTimeoutError. Every call runs
under a generous hang guard; the session's own limits are what end them.
"""

from __future__ import annotations

import asyncio
import tracemalloc
import zlib
from collections.abc import Callable

import pytest

from enphase_local.errors import (
    EnphaseError,
    GatewayConnectionError,
    GatewayTimeoutError,
    ResponseTooLargeError,
)
from enphase_local.models import Production
from enphase_local.session import GatewaySession
from tests.helpers import PRODUCTION_JSON, info_xml
from tests.reliability import tally
from tests.reliability.rawserver import RawServer, Route, head, whole

CAP = 1024 * 1024
#: Peak traced memory allowed while one reply is read and refused: a few times the cap. (It
#: covers the cap itself, aiohttp's read buffers and inflate window, and this test's server,
#: which runs in the same process.)
MEMORY_LIMIT = 4 * CAP
CHUNK = b" " * (16 * 1024)  # JSON whitespace: a body that would parse if it ever ended
HANG_GUARD_S = 30.0
PATH = "/api/v1/production"
LEGACY_INFO = info_xml("122125067699", "D5.0.62", web_tokens=False)
#: Timeouts for the slow cases, seconds (the data request is what they cut off: asserted).
SHORT_S = 0.5
#: Timeouts for the others: only a hang would reach them.
LONG_S = 10.0
#: A gzip stream of spaces: 16 times the cap once inflated, 16 KiB on the wire.
BOMB = zlib.compress(PRODUCTION_JSON + b" " * (16 * CAP), 9, wbits=31)


def padded(size: int) -> bytes:
    """A valid production body of exactly ``size`` bytes."""
    return PRODUCTION_JSON + b" " * (size - len(PRODUCTION_JSON))


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def chunked(body: bytes, *, gzip: bool = False) -> Route:
    """``body`` in chunked framing, ended properly."""

    async def route(writer: asyncio.StreamWriter) -> None:
        headers = {"Transfer-Encoding": "chunked"}
        if gzip:
            headers["Content-Encoding"] = "gzip"
        writer.write(head(200, headers))
        for start in range(0, len(body), len(CHUNK)):
            writer.write(_chunk(body[start : start + len(CHUNK)]))
            await writer.drain()
        writer.write(b"0\r\n\r\n")

    return route


def endless(*, framing: str, gzip: bool = False) -> Route:
    """A body that never ends: ``chunked``, ``close`` (no length) or ``announced`` (huge)."""

    async def route(writer: asyncio.StreamWriter) -> None:
        headers = {
            "chunked": {"Transfer-Encoding": "chunked"},
            "close": {},
            "announced": {"Content-Length": str(10**12)},
        }[framing]
        if gzip:
            headers["Content-Encoding"] = "gzip"
        writer.write(head(200, headers))
        compressor = zlib.compressobj(1, wbits=31)
        while True:
            # Compressed, 16 times the plain chunk per write, so it fills the cap as fast.
            data = (
                compressor.compress(CHUNK * 16) + compressor.flush(zlib.Z_SYNC_FLUSH)
                if gzip
                else CHUNK
            )
            writer.write(_chunk(data) if framing == "chunked" else data)
            await writer.drain()
            await asyncio.sleep(0)  # drain() does not yield below the high-water mark

    return route


def with_length(body: bytes, *, gzip: bool = False) -> Route:
    """``body`` with its Content-Length (of the bytes on the wire, compressed or not)."""

    async def route(writer: asyncio.StreamWriter) -> None:
        headers = {"Content-Length": str(len(body))}
        if gzip:
            headers["Content-Encoding"] = "gzip"
        writer.write(head(200, headers) + body)
        await writer.drain()

    return route


async def measured(
    route: Route, *, timeout_s: float = LONG_S
) -> tuple[Production | EnphaseError, int, RawServer]:
    """Fetch production from a server answering with ``route``: result, peak memory, server."""
    routes = {"/info": whole(LEGACY_INFO, content_type="text/xml"), PATH: route}
    async with RawServer(routes) as server:
        tally.count("oversized or endless replies")
        tracemalloc.start()
        try:
            async with (
                GatewaySession(
                    server.url,
                    retries=0,
                    max_body_bytes=CAP,
                    connect_timeout=timeout_s,
                    timeout=timeout_s,
                ) as session,
                asyncio.timeout(HANG_GUARD_S),
            ):
                try:
                    result: Production | EnphaseError = await session.production()
                except EnphaseError as err:
                    result = err
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return result, peak, server


TOO_LARGE: dict[str, Callable[[], Route]] = {
    "one byte over, with Content-Length": lambda: with_length(padded(CAP + 1)),
    "one byte over, chunked": lambda: chunked(padded(CAP + 1)),
    "endless, chunked": lambda: endless(framing="chunked"),
    "endless, close-delimited": lambda: endless(framing="close"),
    "endless, announcing a terabyte": lambda: endless(framing="announced"),
    "endless gzip, chunked": lambda: endless(framing="chunked", gzip=True),
    "gzip bomb, chunked": lambda: chunked(BOMB, gzip=True),
}


@pytest.mark.parametrize("case", TOO_LARGE, ids=str)
async def test_too_large_is_cut_off_with_bounded_memory(case: str) -> None:
    result, peak, server = await measured(TOO_LARGE[case]())
    assert isinstance(result, ResponseTooLargeError), repr(result)
    assert result.endpoint == PATH
    assert peak < MEMORY_LIMIT, f"peak {peak} bytes for a {CAP}-byte cap"
    assert server.requests == [("GET", "/info"), ("GET", PATH)]


async def test_gzip_bomb_with_content_length_is_cut_off() -> None:
    assert len(BOMB) < CAP  # what the session checks passes: the harm is in the inflation
    result, peak, _ = await measured(with_length(BOMB, gzip=True))
    assert isinstance(result, ResponseTooLargeError), repr(result)
    assert peak < MEMORY_LIMIT, f"peak {peak} bytes for a {CAP}-byte cap"


AT_CAP: dict[str, Callable[[], Route]] = {
    "with Content-Length": lambda: with_length(padded(CAP)),
    "chunked": lambda: chunked(padded(CAP)),
    "gzip": lambda: with_length(zlib.compress(padded(CAP), wbits=31), gzip=True),
}


@pytest.mark.parametrize("case", AT_CAP, ids=str)
async def test_a_body_of_exactly_the_cap_is_read(case: str) -> None:
    # The boundary, and proof that the server above really delivers what it promises.
    # (No memory bound here: parsing a body costs memory in proportion to it, the cap's job.)
    result, _, _ = await measured(AT_CAP[case]())
    assert isinstance(result, Production), repr(result)
    assert result.power_w == 332


async def test_big_hostile_bodies_under_the_cap_are_payload_errors() -> None:
    # The nesting bombs the aioresponses fuzz cannot send, over a real socket.
    for body in (b"[" * 100_000, b'{"a":' * 100_000, b"[" * 100_000 + b"]" * 100_000):
        result, _, _ = await measured(with_length(body))
        assert type(result).__name__ == "PayloadError", repr(result)


# ---------------------------------------------------------------------------------------
# Slow and silent replies.


async def _stall(writer: asyncio.StreamWriter) -> None:
    writer.write(head(200, {"Content-Length": "100"}) + b"[")
    await writer.drain()
    await asyncio.Event().wait()


async def _silence(writer: asyncio.StreamWriter) -> None:
    await asyncio.Event().wait()


def _drip(prefix: bytes, unit: bytes) -> Route:
    """``prefix``, then ``unit`` every 50 ms forever: each read is quick, the whole never ends."""

    async def route(writer: asyncio.StreamWriter) -> None:
        writer.write(prefix)
        while True:
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(unit)

    return route


SLOW: dict[str, Route] = {
    "no answer at all": _silence,
    "headers, then silence": _stall,
    "body dripping, with Content-Length": _drip(head(200, {"Content-Length": "100000"}), b" "),
    "body dripping, chunked": _drip(head(200, {"Transfer-Encoding": "chunked"}), _chunk(b" ")),
    "headers dripping": _drip(b"HTTP/1.1 200 OK\r\n", b"X-Drip: 1\r\n"),
}


async def test_slow_and_silent_replies_end_in_a_timeout() -> None:
    # Run together: each waits for the session's own deadline, which a one-by-one run would add up.
    outcomes = await asyncio.gather(
        *(measured(route, timeout_s=SHORT_S) for route in SLOW.values())
    )
    for case, (result, _, server) in zip(SLOW, outcomes, strict=True):
        assert isinstance(result, GatewayTimeoutError), f"{case}: {result!r}"
        assert ("GET", PATH) in server.requests, f"{case}: cut off before the data request"


async def test_headers_that_never_end_are_refused() -> None:
    async def endless_headers(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        while True:
            writer.write(b"X-Flood: " + b"f" * 1000 + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0)

    result, peak, _ = await measured(endless_headers, timeout_s=SHORT_S)
    assert isinstance(result, GatewayConnectionError), repr(result)
    assert peak < MEMORY_LIMIT
