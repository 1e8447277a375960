"""Transport details: gateway URLs, TLS settings and reading bodies safely.

Nothing here knows about endpoints or tokens; the session builds on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import ipaddress
import ssl
from asyncio import sslproto
from urllib.parse import urlsplit

import aiohttp
import attrs
from aiohttp.client_proto import ResponseHandler

#: Default cap on a response body; the largest real replies are well under 1 MiB.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
#: Read buffer of one TLS connection. asyncio gives every TLS connection a 256 KiB buffer
#: (``SSLProtocol.max_size``) for as long as it lives, most of what an idle kept-alive
#: connection costs. Gateway replies are mostly under 16 KiB and arrive in TLS records of at
#: most 16 KiB; a longer reply just takes one more read per 16 KiB.
TLS_READ_BUFFER_BYTES = 16 * 1024
#: Seconds a kept-alive connection may sit unused before it is closed (aiohttp's default).
KEEP_ALIVE_IDLE_S = 15.0
#: Seconds a looked-up address of the gateway is reused for new connections.
DNS_CACHE_S = 60
#: Cipher suites and OpenSSL security level of the gateway TLS context. Python's own list
#: keeps only forward-secret suites without SHA-1 MACs, at security level 2 (DH groups of
#: 2048 bits or more); an old embedded TLS stack may offer nothing else. OpenSSL's default
#: suites (less PSK and SRP, which need credentials we never hold) still put the
#: forward-secret AEAD ones first, so a gateway that can negotiate one does; level 1 takes
#: 1024-bit DH groups. The pinned fingerprint, not the handshake, authenticates a gateway.
GATEWAY_CIPHERS = "DEFAULT:!PSK:!SRP:@SECLEVEL=1"


@attrs.frozen(kw_only=True)
class GatewayAddress:
    """Where a gateway lives: scheme, host and port, parsed from what the user typed."""

    #: ``https`` or ``http``.
    scheme: str
    #: Host name or address literal, without brackets.
    host: str
    #: TCP port, or None for the scheme's default.
    port: int | None
    #: True when the user wrote the scheme explicitly (so no HTTP fallback is tried).
    explicit_scheme: bool
    #: The URL prefix requests are made under, e.g. ``https://[fe80::1]:8443`` (built once:
    #: every request starts from it).
    base_url: str = attrs.field(init=False, repr=False, eq=False)

    @base_url.default
    def _build_base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{host}{port}"

    @property
    def authority(self) -> str:
        """``host[:port]`` as in a URL (IPv6 in brackets): how the trust store names gateways."""
        return self.base_url.split("://", 1)[1]

    @property
    def is_ip_literal(self) -> bool:
        """True when the host is an IP address rather than a name."""
        try:
            ipaddress.ip_address(self.host.split("%", 1)[0])
        except ValueError:
            return False
        return True

    def with_scheme(self, scheme: str) -> GatewayAddress:
        """The same gateway under another scheme (used for the legacy HTTP fallback)."""
        return attrs.evolve(self, scheme=scheme)


def parse_address(text: str) -> GatewayAddress:
    """Parse ``envoy.local``, ``192.168.1.20``, ``[fe80::1]``, ``fe80::1`` or a full URL."""
    text = text.strip()
    if not text:
        raise ValueError("gateway host must not be empty")
    explicit = "://" in text
    if not explicit:
        if text.count(":") > 1 and not text.startswith("["):
            text = f"[{text}]"  # a bare IPv6 literal
        text = f"https://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"unsupported URL scheme {parts.scheme!r}: use https:// or http://")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("give the gateway's address only, without a path or query")
    if parts.username or parts.password:
        raise ValueError("credentials do not belong in the gateway address")
    if not parts.hostname:
        raise ValueError(f"no host in {text!r}")
    try:
        port = parts.port
    except ValueError as err:
        raise ValueError(f"bad port in gateway address: {err}") from err
    return GatewayAddress(
        scheme=parts.scheme, host=parts.hostname, port=port, explicit_scheme=explicit
    )


def normalize_fingerprint(fingerprint: str | bytes) -> bytes:
    """Turn a SHA-256 fingerprint (hex, with or without colons, or raw bytes) into 32 bytes."""
    if isinstance(fingerprint, bytes):
        raw = fingerprint
    else:
        cleaned = fingerprint.replace(":", "").replace(" ", "").strip().lower()
        cleaned = cleaned.removeprefix("sha256")
        try:
            raw = bytes.fromhex(cleaned)
        except ValueError as err:
            raise ValueError("certificate fingerprint must be SHA-256 in hex") from err
    if len(raw) != 32:
        raise ValueError("certificate fingerprint must be a SHA-256 digest (32 bytes)")
    return raw


def shrink_tls_read_buffer(transport: asyncio.BaseTransport, size: int) -> bool:
    """Give this one TLS connection a ``size``-byte read buffer instead of asyncio's 256 KiB.

    Only this connection changes (an instance attribute shadows ``SSLProtocol.max_size``);
    asyncio and every other connection of the program keep their behaviour. Returns False,
    and changes nothing, on a transport that is not asyncio's own TLS transport of the
    expected shape (plain TCP, uvloop, a future asyncio): the connection then works as is,
    only with the bigger buffer.
    """
    protocol = getattr(transport, "_ssl_protocol", None)
    if not isinstance(protocol, sslproto.SSLProtocol):
        return False
    buffer = getattr(protocol, "_ssl_buffer", None)
    if not isinstance(buffer, bytearray) or not hasattr(protocol, "_ssl_buffer_view"):
        return False
    if len(buffer) <= size:
        return True
    # Between two protocol callbacks the buffer holds no pending bytes: each read is
    # copied out of it at once, so swapping it here loses nothing.
    new_buffer = bytearray(size)
    protocol.max_size = size  # type: ignore[misc]  # an instance attribute: this connection only
    protocol._ssl_buffer = new_buffer  # type: ignore[attr-defined]  # checked above
    protocol._ssl_buffer_view = memoryview(new_buffer)
    return True


class _GatewayResponseHandler(ResponseHandler):
    """aiohttp's response protocol, on a TLS connection with a small read buffer.

    A connection the gateway has ended (``Connection: close``, as most firmware sends) is
    dropped without the TLS goodbye: the gateway has closed its end already, so a
    close_notify would only earn a reset, and it costs a send of its own on every request.
    Connections we end while the gateway keeps them open still close gracefully.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        shrink_tls_read_buffer(transport, TLS_READ_BUFFER_BYTES)

    def close(self) -> None:
        transport = self.transport
        if transport is not None and getattr(self, "_should_close", False):
            transport.abort()
        super().close()


def gateway_connector(*, pin: aiohttp.Fingerprint | None, keep_alive: bool) -> aiohttp.TCPConnector:
    """The connector of one gateway session: one connection, small TLS buffers, pinning.

    One connection at a time is all a fragile gateway should see; kept alive for
    :data:`KEEP_ALIVE_IDLE_S`, it carries polls every 10 s without holding the gateway's
    sockets between slower ones. Names are looked up again at most every
    :data:`DNS_CACHE_S` (happy eyeballs, aiohttp's default, picks the address family).
    The pinned fingerprint sits on the connector, so requests can pass the lean shared
    :func:`gateway_ssl_context` and still be checked (with ``ssl=Fingerprint`` on the
    request, aiohttp would use its own context, which loads the system CA certificates).
    """
    connector = aiohttp.TCPConnector(
        limit=1,
        force_close=not keep_alive,
        keepalive_timeout=KEEP_ALIVE_IDLE_S if keep_alive else None,
        use_dns_cache=True,
        ttl_dns_cache=DNS_CACHE_S,
        enable_cleanup_closed=True,
        ssl=pin if pin is not None else True,
    )
    factory = getattr(connector, "_factory", None)
    if isinstance(factory, functools.partial) and factory.func is ResponseHandler:
        # aiohttp has no public hook for the protocol of new connections.
        connector._factory = functools.partial(  # type: ignore[assignment]  # a subclass
            _GatewayResponseHandler, *factory.args, **factory.keywords
        )
    return connector


_INSECURE_CONTEXT: ssl.SSLContext | None = None


def gateway_ssl_context() -> ssl.SSLContext:
    """A client TLS context that accepts the gateway's self-signed certificate.

    Gateways present a self-signed certificate whose name never matches, so neither the CA
    chain nor the host name can be checked; pinning the fingerprint is the secure option.
    The context holds no CA certificates: OpenSSL still builds and checks the chain when
    verification is off (it only ignores the result), and against the system's CA store
    that costs about a fifth of a new connection's client CPU. It accepts the weaker
    handshakes of older TLS stacks (:data:`GATEWAY_CIPHERS`); TLS 1.2 stays the oldest
    version, as every firmware that serves HTTPS speaks it. One context is shared by every
    session.
    """
    global _INSECURE_CONTEXT  # noqa: PLW0603 - a process-wide cache of an immutable-in-use object
    if _INSECURE_CONTEXT is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_ciphers(GATEWAY_CIPHERS)
        _INSECURE_CONTEXT = context
    return _INSECURE_CONTEXT


def ssl_for(fingerprint: bytes | None) -> ssl.SSLContext | aiohttp.Fingerprint:
    """What to pass as ``ssl=`` for a request: a pinned fingerprint, or the lenient context."""
    if fingerprint is not None:
        # aiohttp checks the peer certificate's SHA-256 right after the handshake, before
        # any byte of the request (and so the token) is written.
        return aiohttp.Fingerprint(fingerprint)
    return gateway_ssl_context()


async def peer_certificate_sha256(address: GatewayAddress) -> bytes | None:
    """The SHA-256 of the certificate the gateway presents, from a bare TLS handshake.

    Sends nothing but the handshake. Raises ``OSError`` or ``ssl.SSLError`` when the gateway
    cannot be reached; the caller bounds the time. None if no certificate was presented.
    """
    _, writer = await asyncio.open_connection(
        address.host, address.port or 443, ssl=gateway_ssl_context()
    )
    try:
        der: bytes | None = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    return hashlib.sha256(der).digest() if der else None
