"""Finding gateways on the local network.

Gateways announce themselves over mDNS as ``envoy.local``, then ``envoy-2.local``,
``envoy-3.local``... :func:`discover_gateways` resolves those names in turn until the first
one that does not resolve, and can also browse the ``_enphase-envoy._tcp.local.`` service
with zeroconf (the ``discovery`` extra: ``pip install 'enphase-local[discovery]'``), whose TXT
records carry the serial (``serialnum``) and protocol version (``protovers``).

Name resolution goes through the operating system (``getaddrinfo``), so ``.local`` names
resolve only where the system resolves mDNS (nss-mdns, macOS, Windows 10+).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import attrs

from enphase_local.errors import EnphaseError

_LOGGER = logging.getLogger(__name__)

#: The mDNS service gateways announce.
SERVICE_TYPE: Final = "_enphase-envoy._tcp.local."

#: ``await resolver(name)`` returns the addresses of ``name`` (empty when it does not resolve).
Resolver = Callable[[str], Awaitable[Sequence[str]]]


@attrs.frozen(kw_only=True)
class DiscoveredGateway:
    """A gateway found on the network."""

    #: What to give :class:`~enphase_local.GatewaySession`: the mDNS name, or an address.
    host: str
    #: The addresses it resolved to.
    addresses: tuple[str, ...]
    #: The serial from the zeroconf TXT record (None when found by name only).
    serial: str | None = None
    #: The protocol version from the zeroconf TXT record (``protovers``), if any.
    protocol_version: str | None = None
    #: The port the service announces, if found by zeroconf.
    port: int | None = None
    #: How it was found: ``name`` (envoy-N.local) or ``zeroconf`` (or both: ``name+zeroconf``).
    found_by: str = "name"


def gateway_names(count: int) -> list[str]:
    """The first ``count`` mDNS names gateways take: ``envoy.local``, ``envoy-2.local``, ..."""
    return ["envoy.local", *(f"envoy-{n}.local" for n in range(2, count + 1))]


async def resolve_host(name: str, *, timeout_s: float = 2.0) -> list[str]:
    """The addresses ``name`` resolves to through the system resolver (empty if none)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout_s):
            results = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        return []
    addresses: list[str] = []
    for *_, sockaddr in results:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def discover_gateways(
    *,
    max_names: int = 16,
    zeroconf: bool = False,
    browse_s: float = 3.0,
    resolver: Resolver | None = None,
) -> list[DiscoveredGateway]:
    """Find gateways: ``envoy.local``, ``envoy-2.local``... until the first name that does
    not resolve (at most ``max_names``), plus, with ``zeroconf``, those announcing the
    gateway service during ``browse_s`` seconds.

    ``resolver`` replaces the system resolver (tests, or a resolver of your own). Zeroconf
    needs the ``discovery`` extra; without it, :class:`EnphaseError` says so.
    """
    resolve = resolver or resolve_host
    found: list[DiscoveredGateway] = []
    for name in gateway_names(max_names):
        addresses = tuple(await resolve(name))
        if not addresses:
            break
        found.append(DiscoveredGateway(host=name, addresses=addresses))
    if zeroconf:
        for service in await browse_services(browse_s):
            found = _merge(found, service)
    _LOGGER.debug("discovered %d gateway(s): %s", len(found), [g.host for g in found])
    return found


def _merge(found: list[DiscoveredGateway], service: DiscoveredGateway) -> list[DiscoveredGateway]:
    """Add ``service``, or complete the entry found by name that has its host or an address."""
    for index, known in enumerate(found):
        if known.host == service.host or set(known.addresses) & set(service.addresses):
            merged = attrs.evolve(
                known,
                addresses=known.addresses
                + tuple(a for a in service.addresses if a not in known.addresses),
                serial=service.serial,
                protocol_version=service.protocol_version,
                port=service.port,
                found_by="name+zeroconf" if known.found_by == "name" else known.found_by,
            )
            return [*found[:index], merged, *found[index + 1 :]]
    return [*found, service]


async def browse_services(browse_s: float) -> list[DiscoveredGateway]:
    """Browse ``_enphase-envoy._tcp.local.`` for ``browse_s`` seconds with zeroconf."""
    try:
        from zeroconf import ServiceStateChange  # noqa: PLC0415 - an optional extra
        from zeroconf.asyncio import (  # noqa: PLC0415 - an optional extra
            AsyncServiceBrowser,
            AsyncServiceInfo,
            AsyncZeroconf,
        )
    except ImportError as err:
        raise EnphaseError(
            "zeroconf discovery needs the 'discovery' extra: pip install 'enphase-local[discovery]'"
        ) from err
    names: list[str] = []

    def on_change(
        zeroconf: Any, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        del zeroconf, service_type
        if state_change is not ServiceStateChange.Removed and name not in names:
            names.append(name)

    found: list[DiscoveredGateway] = []
    instance = AsyncZeroconf()
    try:
        browser = AsyncServiceBrowser(instance.zeroconf, SERVICE_TYPE, handlers=[on_change])
        try:
            await asyncio.sleep(browse_s)
        finally:
            await browser.async_cancel()
        for name in names:
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            if not await info.async_request(instance.zeroconf, 3000):
                continue
            gateway = _from_service(
                server=info.server,
                addresses=info.parsed_addresses(),
                port=info.port,
                properties=info.properties,
            )
            if gateway is not None:
                found.append(gateway)
    finally:
        with contextlib.suppress(Exception):
            await instance.async_close()
    return found


def _from_service(
    *,
    server: str | None,
    addresses: Sequence[str],
    port: int | None,
    properties: dict[bytes, bytes | None],
) -> DiscoveredGateway | None:
    host = server.rstrip(".") if server else (addresses[0] if addresses else None)
    if host is None:
        return None
    return DiscoveredGateway(
        host=host,
        addresses=tuple(addresses),
        serial=_text(properties.get(b"serialnum")),
        protocol_version=_text(properties.get(b"protovers")),
        port=port,
        found_by="zeroconf",
    )


def _text(value: bytes | None) -> str | None:
    if not value:
        return None
    return value.decode("utf-8", "replace").strip() or None
