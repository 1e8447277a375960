"""A small HTTP/1.1 client for one gateway: one connection, one exchange at a time.

The session sends its own requests to the gateway through this module rather than through
aiohttp's ``ClientSession``: a gateway session never needs redirects, cookie jars, proxies,
pools or middleware, and skipping that machinery halves the client CPU of a kept-alive GET.
Responses are parsed by httptools (llhttp, the parser Node.js uses). aiohttp stays in use
for a caller's own ``ClientSession``, for digest authentication and for the cloud.

Everything that goes wrong is raised as a :class:`WireError` subclass; the session turns it
into the library's errors. No error text carries request bytes (they hold the token).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import zlib
from typing import Final

import httptools

from enphase_local import transport as _transport
from enphase_local.transport import GatewayAddress, shrink_tls_read_buffer

#: One header as it came off the wire: (name, value).
RawHeader = tuple[bytes, bytes]

#: Seconds a kept-alive connection may sit unused before we close it (aiohttp's default too):
#: long enough to carry polls every 10 s, short enough not to hold the gateway's sockets.
KEEP_ALIVE_IDLE_S: Final = 15.0
#: The most bytes a reply's status line and headers may take (real ones take under 1 KiB).
MAX_HEAD_BYTES: Final = 64 * 1024
_DECODERS: Final = {b"gzip": 16 + zlib.MAX_WBITS, b"x-gzip": 16 + zlib.MAX_WBITS, b"deflate": 0}


class WireError(Exception):
    """A request to the gateway failed below HTTP semantics."""


class ConnectFailedError(WireError):
    """No connection could be opened (refused, unreachable, no such host, TLS failure)."""


class ConnectTimeoutError(WireError, TimeoutError):
    """Opening the connection (TCP and TLS handshake) took longer than allowed."""


class ConnectionClosedError(WireError):
    """The gateway closed the connection before its reply was complete."""

    def __init__(self, message: str, *, received: bool) -> None:
        super().__init__(message)
        #: Whether any byte of the reply had arrived (False: the request may not have been seen).
        self.received = received


class BadReplyError(WireError):
    """The reply is not readable HTTP (or its content encoding is broken)."""


class BodyTooLargeError(WireError):
    """The body is longer than the cap."""

    def __init__(self, message: str, *, announced: int | None) -> None:
        super().__init__(message)
        #: The length the gateway announced, when the refusal came before reading the body.
        self.announced = announced


class FingerprintMismatchError(WireError):
    """The gateway's certificate is not the pinned one; nothing was sent."""

    def __init__(self, got: bytes) -> None:
        super().__init__("the certificate does not match the pinned fingerprint")
        #: The SHA-256 of the certificate the gateway presented.
        self.got = got


class WireReply:
    """One complete reply: status, the raw headers in order, and the (decoded) body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[RawHeader], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class _Connection(asyncio.Protocol):
    """One connection to the gateway and the reply it is reading, if any."""

    def __init__(self, max_body_bytes: int) -> None:
        self._cap = max_body_bytes
        self._parser = httptools.HttpResponseParser(self)
        # As tolerant as aiohttp is of replies: embedded web servers end lines with a bare LF
        # or put odd bytes in header values.
        self._parser.set_dangerous_leniencies(
            lenient_headers=True,
            lenient_optional_cr_before_lf=True,
            lenient_spaces_after_chunk_size=True,
        )
        self.transport: asyncio.Transport | None = None
        #: False once the connection cannot carry another exchange.
        self.reusable = True
        #: True once the gateway has ended the connection (or it broke).
        self.lost = False
        self._waiter: asyncio.Future[WireReply] | None = None
        self._received = False
        self._status = 0
        self._headers: list[RawHeader] = []
        self._chunks: list[bytes] = []
        self._size = 0
        self._framed = False
        self._encoding: bytes | None = None
        self._in_head = True
        self._head_size = 0
        #: When the last exchange ended (loop time), and the timer that looks at it.
        self.idle_since = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        shrink_tls_read_buffer(transport, _transport.TLS_READ_BUFFER_BYTES)

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            # Bytes nobody asked for: the next reply could not be told from them.
            self.reusable = False
            return
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as err:
            self._fail(BadReplyError(f"malformed HTTP reply ({err})"))
            return
        if self._in_head:
            # llhttp keeps no limit of its own on what it buffers of a header line.
            self._head_size += len(data)
            if self._head_size > MAX_HEAD_BYTES:
                self._fail(BadReplyError(f"the reply's headers exceed {MAX_HEAD_BYTES} bytes"))

    def eof_received(self) -> bool:
        return False  # let the transport close; connection_lost settles the reply

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.reusable = False
        self._stop_idle_timer()
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._status and not self._framed and exc is None:
            # No length and not chunked: the body ends where the connection does.
            self._finish()
            return
        reason = f" ({exc})" if exc is not None else ""
        if self._received:
            message = f"the connection closed in the middle of the reply{reason}"
        else:
            message = f"the connection closed before any reply{reason}"
        waiter.set_exception(ConnectionClosedError(message, received=self._received))

    # -- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        waiter = self._waiter
        if waiter is not None and waiter.done():
            # A second reply behind the one asked for: the connection is out of step.
            self.reusable = False
        self._status = 0
        self._headers = []
        self._chunks = []
        self._size = 0
        self._framed = False
        self._encoding = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length":
            self._framed = True
            announced = value.strip()
            if announced.isdigit() and int(announced) > self._cap:
                self._fail(
                    BodyTooLargeError(
                        f"the gateway announced {int(announced)} bytes, more than the "
                        f"{self._cap}-byte cap",
                        announced=int(announced),
                    )
                )
        elif lowered == b"transfer-encoding":
            self._framed = True
        elif lowered == b"content-encoding":
            self._encoding = value.strip().lower()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._cap:
            self._fail(
                BodyTooLargeError(
                    f"the body exceeded the {self._cap}-byte cap and was cut off", announced=None
                )
            )
            return
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:
            self._in_head = True  # an interim reply (100 Continue); the real one follows
            return
        if not self._parser.should_keep_alive():
            self.reusable = False
        self._finish()

    # -- the exchange ----------------------------------------------------------------------

    def send(self, request: bytes) -> asyncio.Future[WireReply]:
        """Write ``request`` and return the future of its reply."""
        assert self.transport is not None
        self._received = False
        self._status = 0
        self._in_head = True
        self._head_size = 0
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return waiter

    def _finish(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        encoding = self._encoding
        if encoding is not None and encoding != b"identity":
            try:
                body = self._decode(body, encoding)
            except BodyTooLargeError as err:
                self._fail(err)
                return
            except (zlib.error, BadReplyError) as err:
                self._fail(BadReplyError(f"the body cannot be decoded ({err})"))
                return
        waiter.set_result(WireReply(self._status, self._headers, body))

    def _decode(self, body: bytes, encoding: bytes) -> bytes:
        wbits = _DECODERS.get(encoding)
        if wbits is None:
            raise BadReplyError(f"unsupported content encoding {encoding!r}")
        decoder = zlib.decompressobj(wbits)
        decoded = decoder.decompress(body, self._cap + 1)
        if len(decoded) > self._cap:
            raise BodyTooLargeError(
                f"the decoded body exceeded the {self._cap}-byte cap and was cut off",
                announced=None,
            )
        if not decoder.eof:
            raise BadReplyError("the compressed body is incomplete")
        return decoded

    def _fail(self, error: WireError) -> None:
        self.reusable = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        if self.transport is not None:
            self.transport.abort()

    @property
    def busy(self) -> bool:
        """Whether an exchange is under way."""
        return self._waiter is not None and not self._waiter.done()

    def _stop_idle_timer(self) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None

    def close(self, *, graceful: bool) -> None:
        """Close the connection; ``graceful`` says goodbye (TLS close_notify) first."""
        self.reusable = False
        self._stop_idle_timer()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if graceful and not self.lost:
            transport.close()
        else:
            transport.abort()


class WireClient:
    """The HTTP/1.1 client of one gateway session: at most one connection, kept alive.

    A request goes over the kept connection when there is one. When the gateway had closed
    it unseen (a kept-alive connection dropped while idle) and no byte of a reply came, the
    request is sent once more over a new connection, as browsers do. Callers hold a lock:
    this class never runs two exchanges at once.
    """

    def __init__(
        self,
        address: GatewayAddress,
        *,
        ssl_context: ssl.SSLContext | None,
        pin: bytes | None,
        connect_timeout: float,
        keep_alive: bool,
        max_body_bytes: int,
        user_agent: str,
        idle_timeout: float = KEEP_ALIVE_IDLE_S,
    ) -> None:
        #: The gateway this client talks to (the session replaces the client when it changes).
        self.address = address
        self._ssl = ssl_context if address.scheme == "https" else None
        self._pin = pin
        self._connect_timeout = connect_timeout
        self._keep_alive = keep_alive
        self._cap = max_body_bytes
        self._idle_timeout = idle_timeout
        self._connection: _Connection | None = None
        host = address.authority.split("%", 1)[0]
        if "[" in host and "]" not in host:
            host += "]"  # the zone of a link-local address never goes in the Host header
        close = b"" if keep_alive else b"Connection: close\r\n"
        #: What follows the request line in every request. Replies are asked for uncompressed:
        #: compressing costs the gateway's small CPU, and a LAN has bandwidth to spare.
        self._fixed = (
            f"Host: {host}\r\nUser-Agent: {user_agent}\r\nAccept-Encoding: identity\r\n".encode()
            + close
        )

    def set_pin(self, pin: bytes | None) -> None:
        """Pin another certificate fingerprint; the open connection (if any) is dropped."""
        self._pin = pin
        self.close()

    def close(self) -> None:
        """Close the kept connection, if there is one."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close(graceful=True)

    async def request(
        self, method: str, path: str, headers: bytes, body: bytes | None = None
    ) -> WireReply:
        """Send one request (``headers``: CRLF-terminated lines) and read its whole reply."""
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._fixed + headers
        if body is not None:
            head += b"Content-Length: %d\r\n\r\n" % len(body) + body
        else:
            head += b"\r\n"
        connection = self._connection
        if connection is not None and connection.reusable:
            try:
                return await self._exchange(connection, head)
            except ConnectionClosedError as err:
                if err.received or method not in ("GET", "PUT"):
                    raise
        return await self._exchange(await self._connect(), head)

    async def _exchange(self, connection: _Connection, request: bytes) -> WireReply:
        try:
            reply = await connection.send(request)
        except BaseException:
            # A failed, timed-out or cancelled exchange leaves the connection in an unknown
            # state: it is never used again.
            self._drop(connection)
            raise
        if self._keep_alive and connection.reusable:
            self._keep(connection)
        else:
            self._drop(connection)
        return reply

    def _keep(self, connection: _Connection) -> None:
        """Keep the connection for the next request, for as long as it is not left idle."""
        loop = asyncio.get_running_loop()
        connection.idle_since = now = loop.time()
        if connection.idle_timer is None:
            # One timer per idle spell, not per request: when it fires it looks again.
            connection.idle_timer = loop.call_at(
                now + self._idle_timeout, self._check_idle, connection
            )

    def _check_idle(self, connection: _Connection) -> None:
        connection.idle_timer = None
        if connection is not self._connection or connection.busy:
            return  # gone, or in use (the exchange's end starts a new idle spell)
        due = connection.idle_since + self._idle_timeout
        loop = asyncio.get_running_loop()
        if loop.time() < due:
            connection.idle_timer = loop.call_at(due, self._check_idle, connection)
            return
        self._connection = None
        connection.close(graceful=True)  # the gateway still holds it open: say goodbye

    def _drop(self, connection: _Connection) -> None:
        if self._connection is connection:
            self._connection = None
        # The gateway ends most connections itself (``Connection: close``); a TLS goodbye
        # would only earn a reset and cost a send.
        connection.close(graceful=False)

    async def _connect(self) -> _Connection:
        address = self.address
        loop = asyncio.get_running_loop()
        cap = self._cap
        try:
            async with asyncio.timeout(self._connect_timeout):
                transport, connection = await loop.create_connection(
                    lambda: _Connection(cap),
                    address.host,
                    address.port or (443 if self._ssl is not None else 80),
                    ssl=self._ssl,
                )
        except TimeoutError as err:
            raise ConnectTimeoutError(f"no connection within {self._connect_timeout:g} s") from err
        except (OSError, ssl.SSLError) as err:
            raise ConnectFailedError(str(err) or err.__class__.__name__) from err
        if self._pin is not None:
            der = transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
            seen = hashlib.sha256(der or b"").digest()
            if seen != self._pin:
                transport.abort()
                raise FingerprintMismatchError(seen)
        self._connection = connection
        return connection
