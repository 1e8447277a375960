"""A gateway whose TLS stack is old: a 1024-bit RSA key, TLS 1.2 at most, one DHE suite over a
1024-bit group with a SHA-1 MAC. The session still reads it, over real HTTPS on loopback, and
still refuses it under another certificate; Python's default client policy cannot connect."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from enphase_local import CertificateMismatchError, GatewaySession
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.transport import gateway_ssl_context

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
legacy_tls = pytest.mark.enphase_simulation(start_time=NOON, tls="legacy")


@contextlib.asynccontextmanager
async def handshake(
    gateway: SimulatedGateway, context: ssl.SSLContext
) -> AsyncIterator[ssl.SSLObject]:
    """A bare TLS connection to the gateway: its TLS object, while it is open."""
    url = urlsplit(gateway.url)
    assert url.hostname is not None
    _, writer = await asyncio.open_connection(url.hostname, url.port, ssl=context)
    try:
        yield writer.get_extra_info("ssl_object")
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


@legacy_tls
async def test_the_gateway_presents_the_legacy_handshake(enphase_gateway: SimulatedGateway) -> None:
    async with handshake(enphase_gateway, gateway_ssl_context()) as tls:
        assert tls.version() == "TLSv1.2"
        cipher = tls.cipher()
        der = tls.getpeercert(binary_form=True)
    assert cipher is not None
    assert cipher[0] == "DHE-RSA-AES128-SHA"
    assert der is not None
    key = x509.load_der_x509_certificate(der).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 1024


@legacy_tls
async def test_pythons_default_policy_cannot_connect(enphase_gateway: SimulatedGateway) -> None:
    strict = ssl.create_default_context()
    strict.check_hostname = False
    strict.verify_mode = ssl.CERT_NONE  # the certificate is not the obstacle: the handshake is
    # No shared cipher: the gateway ends the handshake (an alert, or a reset that beats it).
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        async with handshake(enphase_gateway, strict):
            pass


@legacy_tls
async def test_the_session_reads_the_gateway(enphase_gateway: SimulatedGateway) -> None:
    async with GatewaySession(
        enphase_gateway.url, token=enphase_gateway.token, fingerprint=enphase_gateway.fingerprint
    ) as client:
        info = await client.info()
        readings = await client.meter_readings()
        production = await client.production()
    assert info.serial_number == enphase_gateway.serial
    assert readings
    assert production.power_w >= 0


@legacy_tls
async def test_the_pin_still_refuses_another_certificate(
    enphase_gateway: SimulatedGateway,
) -> None:
    pinned = enphase_gateway.fingerprint
    await enphase_gateway.replace_certificate()
    enphase_gateway.stats.reset()
    async with GatewaySession(
        enphase_gateway.url, token=enphase_gateway.token, fingerprint=pinned
    ) as client:
        with pytest.raises(CertificateMismatchError):
            await client.production()
    assert enphase_gateway.stats.requests == 0
