"""The transport's performance tuning keeps behaviour: small TLS buffers, lean context, pins.

These sit beside the benchmarks that motivated them; each runs against a real HTTPS server
(the simulator) on loopback.
"""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp.client_proto import ResponseHandler

from enphase_local import CertificateMismatchError, GatewaySession
from enphase_local import endpoints as ep
from enphase_local.simulator import Simulation
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.pytest_plugin import SimulationFactory
from enphase_local.transport import (
    TLS_READ_BUFFER_BYTES,
    gateway_connector,
    gateway_ssl_context,
    shrink_tls_read_buffer,
)
from tests.conftest import capture_sets, skip_without_captures

ASYNCIO_BUFFER = 256 * 1024


async def _open(
    gateway: SimulatedGateway, factory: Callable[[], asyncio.BaseProtocol] = asyncio.Protocol
) -> asyncio.BaseTransport:
    host, port = gateway.url.split("://", 1)[1].rsplit(":", 1)
    loop = asyncio.get_running_loop()
    use_tls = gateway.url.startswith("https")
    transport, _ = await loop.create_connection(
        factory, host, int(port), ssl=gateway_ssl_context() if use_tls else None
    )
    return transport


def _buffer_of(transport: asyncio.BaseTransport) -> bytearray:
    protocol = transport._ssl_protocol  # type: ignore[attr-defined]  # asyncio internals
    assert isinstance(protocol, sslproto.SSLProtocol)
    buffer = protocol._ssl_buffer  # type: ignore[attr-defined]  # asyncio internals
    assert isinstance(buffer, bytearray)
    return buffer


async def test_only_the_shrunk_connection_changes(enphase_gateway: SimulatedGateway) -> None:
    ours, other = await _open(enphase_gateway), await _open(enphase_gateway)
    try:
        assert shrink_tls_read_buffer(ours, TLS_READ_BUFFER_BYTES)
        assert len(_buffer_of(ours)) == TLS_READ_BUFFER_BYTES
        assert len(_buffer_of(other)) == ASYNCIO_BUFFER
        assert sslproto.SSLProtocol.max_size == ASYNCIO_BUFFER
        assert shrink_tls_read_buffer(ours, TLS_READ_BUFFER_BYTES)  # idempotent
    finally:
        ours.close()
        other.close()


@pytest.mark.enphase_simulation(profile="legacy")
async def test_plain_tcp_is_left_alone(enphase_gateway: SimulatedGateway) -> None:
    transport = await _open(enphase_gateway)
    try:
        assert not shrink_tls_read_buffer(transport, TLS_READ_BUFFER_BYTES)
    finally:
        transport.close()


async def test_connector_gives_new_connections_the_small_buffer(
    enphase_gateway: SimulatedGateway,
) -> None:
    connector = gateway_connector(pin=None, keep_alive=True)
    try:
        # The protocol factory aiohttp opens every connection of this connector with.
        factory = connector._factory
        transport = await _open(enphase_gateway, factory)
        try:
            assert len(_buffer_of(transport)) == TLS_READ_BUFFER_BYTES
        finally:
            transport.close()
    finally:
        await connector.close()


class _Transport(asyncio.Transport):
    """Records how the protocol ends the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.ended: list[str] = []

    def close(self) -> None:
        self.ended.append("close")

    def abort(self) -> None:
        self.ended.append("abort")

    def is_closing(self) -> bool:
        return bool(self.ended)


def _protocol(connector: aiohttp.TCPConnector) -> tuple[ResponseHandler, _Transport]:
    protocol = connector._factory()
    assert isinstance(protocol, ResponseHandler)
    transport = _Transport()
    protocol.connection_made(transport)
    return protocol, transport


async def test_a_connection_the_gateway_ended_is_dropped_without_the_tls_goodbye() -> None:
    connector = gateway_connector(pin=None, keep_alive=True)
    try:
        protocol, transport = _protocol(connector)
        protocol.force_close()  # what aiohttp does on "Connection: close"
        protocol.close()
        assert transport.ended[0] == "abort"
        protocol, transport = _protocol(connector)
        protocol.close()  # a kept-alive connection we end ourselves
        assert transport.ended == ["close"]
    finally:
        await connector.close()


async def test_connection_close_replies_still_read_whole_over_tls(
    enphase_gateway: SimulatedGateway,
) -> None:
    enphase_gateway.device.keep_alive = False
    async with GatewaySession(enphase_gateway.url, token=enphase_gateway.token) as session:
        for _ in range(3):
            assert len(await session.meter_readings()) == len(await session.meters())


def test_lean_context_holds_no_certificates() -> None:
    context = gateway_ssl_context()
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


async def test_pin_on_a_callers_session_is_still_checked(
    enphase_gateway: SimulatedGateway,
) -> None:
    async with aiohttp.ClientSession() as shared:
        good = GatewaySession(
            enphase_gateway.url,
            token=enphase_gateway.token,
            fingerprint=enphase_gateway.fingerprint,
            session=shared,
        )
        bad = GatewaySession(
            enphase_gateway.url,
            token=enphase_gateway.token,
            fingerprint="00" * 32,
            session=shared,
            retries=0,
        )
        async with good, bad:
            assert await good.meters()
            with pytest.raises(CertificateMismatchError):
                await bad.meters()


@pytest.mark.enphase_simulation(profile="battery")
async def test_pinned_session_reads_every_endpoint(enphase_simulation: Simulation) -> None:
    gateway = enphase_simulation.gateways[0]
    async with GatewaySession(
        gateway.url, token=gateway.token, fingerprint=gateway.fingerprint
    ) as client:
        for endpoint in ep.ENDPOINTS:
            assert await client.fetch(endpoint) is not None


@skip_without_captures()
async def test_a_body_longer_than_the_buffer_arrives_whole(
    enphase_simulation_factory: SimulationFactory,
) -> None:
    folder = next(p for p in capture_sets() if p.name == "8.3.5169_with_generator")
    expected = (folder / "ivp_pdm_device_data").read_bytes()
    assert len(expected) > 2 * TLS_READ_BUFFER_BYTES
    simulation = await enphase_simulation_factory(replay=[folder])
    gateway = simulation.gateways[0]
    connector = gateway_connector(pin=None, keep_alive=True)
    async with (
        aiohttp.ClientSession(connector=connector) as client,
        client.get(
            gateway.url + "/ivp/pdm/device_data",
            headers={"Authorization": f"Bearer {gateway.token}"},
            ssl=gateway_ssl_context(),
        ) as response,
    ):
        assert response.status == 200
        assert await response.read() == expected
