"""Finding gateways and learning who each one is, before anything is trusted or sent.

A :class:`Prober` owns one aiohttp session and one name lookup (an aiohttp resolver) that
serve every step: discovery resolves ``envoy.local``, ``envoy-2.local``... with it, and the
gateway sessions connect through it. A program (or a test without multicast) passes its own
resolver to decide where those names lead.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import Final

import aiohttp
import attrs
from aiohttp.abc import AbstractResolver

from enphase_local.auth.token import Token
from enphase_local.errors import EnphaseError, GatewayConnectionError
from enphase_local.models import Info, Production
from enphase_local.scheduler.discovery import DiscoveredGateway, discover_gateways
from enphase_local.session import GatewaySession
from enphase_local.transport import GatewayAddress, parse_address, peer_certificate_sha256

#: Seconds one gateway may take to show its certificate, and to answer one call.
HANDSHAKE_TIMEOUT_S: Final = 10.0
CALL_TIMEOUT_S: Final = 30.0
#: Seconds one name may take to resolve during discovery.
LOOKUP_TIMEOUT_S: Final = 2.0


@attrs.frozen(kw_only=True)
class Candidate:
    """A gateway to look at: named on the command line or found on the network."""

    #: What to connect to, and what the configuration will name.
    host: str
    #: ``--host``, ``name`` (envoy-N.local), ``zeroconf`` or ``name+zeroconf``.
    found_by: str


@attrs.frozen(kw_only=True)
class FoundGateway:
    """A gateway that answered: who it is and how it is reached."""

    #: What to connect to, and what the configuration will name.
    host: str
    #: How it was found (see :attr:`Candidate.found_by`).
    found_by: str
    #: Its serial number, from ``/info``.
    serial: str
    #: Its firmware version, from ``/info``.
    firmware: str
    #: Whether it needs a token (firmware 7 and newer).
    needs_token: bool
    #: The SHA-256 of its certificate, lowercase hex; None when it speaks plain HTTP only.
    fingerprint: str | None


def candidate_host(gateway: DiscoveredGateway) -> str:
    """The name for a gateway found by name (the system resolves it), else an address.

    A gateway only zeroconf saw may have a ``.local`` name the system cannot resolve, so its
    address is safer; IPv4 first, as on most home networks.
    """
    if "name" in gateway.found_by or not gateway.addresses:
        return gateway.host
    ordered = sorted(gateway.addresses, key=lambda address: ":" in address)
    return ordered[0]


def candidates(hosts: Sequence[str], found: Sequence[DiscoveredGateway]) -> list[Candidate]:
    """The hosts given first, then the discovered gateways, each host once."""
    listed = [Candidate(host=host, found_by="--host") for host in hosts]
    listed += [Candidate(host=candidate_host(g), found_by=g.found_by) for g in found]
    unique: dict[str, Candidate] = {}
    for candidate in listed:
        unique.setdefault(candidate.host.lower(), candidate)
    return list(unique.values())


class Prober:
    """Reads certificates, ``/info`` and one reading through one HTTP session.

    ``resolver`` (an aiohttp resolver; aiohttp's default when None) looks up every name, in
    discovery and in connections. :meth:`close` closes the session.
    """

    def __init__(self, *, resolver: AbstractResolver | None = None) -> None:
        self._resolver = resolver
        self._owns_resolver = resolver is None
        self._http: aiohttp.ClientSession | None = None

    def _names(self) -> AbstractResolver:
        # aiohttp's resolvers are made inside the running loop, hence on first use.
        if self._resolver is None:
            self._resolver = aiohttp.DefaultResolver()
        return self._resolver

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=self._names()),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._http

    async def close(self) -> None:
        """Close the HTTP session, and the resolver if this prober made it."""
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._owns_resolver and self._resolver is not None:
            await self._resolver.close()
            self._resolver = None

    async def lookup(self, name: str) -> list[str]:
        """The addresses ``name`` resolves to (empty when it does not): discovery's resolver."""
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_S):
                results = await self._names().resolve(name, 443, socket.AF_UNSPEC)
        except (OSError, TimeoutError):
            return []
        return list(dict.fromkeys(result["host"] for result in results))

    async def discover(self, *, zeroconf: bool) -> list[DiscoveredGateway]:
        """``envoy.local``, ``envoy-2.local``... until one does not resolve, plus, with
        ``zeroconf``, the gateways announcing themselves over mDNS."""
        return await discover_gateways(zeroconf=zeroconf, resolver=self.lookup)

    async def probe(self, candidate: Candidate) -> FoundGateway:
        """Read the certificate with a bare handshake, then ``/info`` pinned to it.

        A host given without a scheme whose port 443 does not answer is asked over plain
        HTTP, which only a legacy gateway (no token) may use.
        """
        address = parse_address(candidate.host)
        fingerprint = None
        if address.scheme == "https":
            try:
                fingerprint = await self.fingerprint(address)
            except GatewayConnectionError:
                if address.explicit_scheme:
                    raise
        async with self.session(candidate.host, fingerprint) as gateway:
            info = await gateway.info()
        if fingerprint is None and info.requires_token:
            raise GatewayConnectionError(
                f"{candidate.host} runs firmware {info.firmware}, which needs a token, "
                "but did not show a certificate over HTTPS"
            )
        return _found(candidate, info, fingerprint)

    async def fingerprint(self, address: GatewayAddress) -> str:
        """The SHA-256 (hex) of the certificate the gateway shows; nothing else is sent."""
        target = address
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                if not address.is_ip_literal:
                    target = await self._resolve(address)
                seen = await peer_certificate_sha256(target)
        except (OSError, TimeoutError) as err:  # ssl.SSLError is an OSError
            raise GatewayConnectionError(
                f"cannot read the certificate of {address.authority}: {err or 'timed out'}"
            ) from err
        if seen is None:
            raise GatewayConnectionError(f"{address.authority} presented no certificate")
        return seen.hex()

    async def _resolve(self, address: GatewayAddress) -> GatewayAddress:
        port = address.port or 443
        results = await self._names().resolve(address.host, port, socket.AF_UNSPEC)
        if not results:
            raise OSError(f"{address.host} does not resolve")
        first = results[0]
        return attrs.evolve(address, host=first["host"], port=first["port"])

    def session(
        self, host: str, fingerprint: str | None, token: Token | None = None
    ) -> GatewaySession:
        """A gateway session over this prober's HTTP session."""
        return GatewaySession(
            host,
            token=token,
            fingerprint=fingerprint,
            session=self._session(),
            timeout=CALL_TIMEOUT_S,
        )

    async def reading(self, gateway: FoundGateway, token: Token | None) -> Production:
        """One live value, read as ``poll`` will: pinned, with the token."""
        async with self.session(gateway.host, gateway.fingerprint, token) as session:
            return await session.production()


def _found(candidate: Candidate, info: Info, fingerprint: str | None) -> FoundGateway:
    return FoundGateway(
        host=candidate.host,
        found_by=candidate.found_by,
        serial=info.serial_number,
        firmware=info.firmware,
        needs_token=info.requires_token,
        fingerprint=fingerprint,
    )


async def probe_all(
    prober: Prober, listed: Sequence[Candidate]
) -> list[FoundGateway | EnphaseError]:
    """Probe every candidate at once; each answer or library error, in order."""

    async def one(candidate: Candidate) -> FoundGateway | EnphaseError:
        try:
            return await prober.probe(candidate)
        except EnphaseError as err:
            return err

    return list(await asyncio.gather(*(one(c) for c in listed)))
