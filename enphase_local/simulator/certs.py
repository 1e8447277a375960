"""Self-signed TLS certificates made at start, like the ones real gateways present.

A gateway's certificate names the device, not the host, so hostname checks fail as they do
on real hardware; clients pin its SHA-256 fingerprint instead. The cloud's certificate
names ``localhost`` and ``127.0.0.1`` so a client may trust it properly with
:meth:`Certificate.client_context`.

A certificate comes with the TLS setup its server presents (:class:`TlsSetup`): today's, or
the weak one an old embedded TLS stack may still offer, which clients must accept from a
gateway they cannot change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from enphase_local.simulator.profiles import TlsSetup

_VALIDITY = dt.timedelta(days=3650)
#: The 1024-bit MODP group of RFC 2409 (Oakley group 2: the prime 2^1024 - 2^960 - 1 +
#: 2^64 * (floor(2^894 * pi) + 129093), generator 2) as PKCS #3 parameters: a fixed group, so
#: no server start waits seconds for a safe prime. ``openssl dhparam -text`` shows it.
_OAKLEY_GROUP_2_PEM = b"""-----BEGIN DH PARAMETERS-----
MIGHAoGBAP//////////yQ/aoiFowjTExmKLgNwc0SkCTgiKZ8x0Agu+pjsTmyJR
Sgh5jjQE3e+VGbPNOkMbMCsKbfJfFDdP4TVtbVHCReSFtXZiXn7G9ExC6aY37WsL
/1y29Aa37e44a/taiZ+lrp8kEXxLH+ZJKGZR7OZTgf//////////AgEC
-----END DH PARAMETERS-----
"""
#: The one suite the legacy setup offers: DHE key exchange, AES-CBC, a SHA-1 MAC.
_LEGACY_CIPHER = "DHE-RSA-AES128-SHA"


@attrs.frozen(kw_only=True, repr=False)
class Certificate:
    """A certificate and its private key, in PEM and DER."""

    #: The certificate, PEM.
    cert_pem: bytes
    #: The private key, PEM (unencrypted; it never leaves the process).
    key_pem: bytes
    #: The certificate, DER (what the fingerprint is taken over).
    der: bytes
    #: The TLS setup :meth:`server_context` presents with it.
    setup: TlsSetup = TlsSetup.MODERN

    def __repr__(self) -> str:
        return f"Certificate(fingerprint={self.fingerprint})"

    @property
    def fingerprint(self) -> str:
        """Lowercase hex SHA-256 of the DER certificate."""
        return hashlib.sha256(self.der).hexdigest()

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context presenting this certificate and its TLS setup."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        legacy = self.setup is TlsSetup.LEGACY
        if legacy:
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            # Level 0: at OpenSSL's usual level the server itself refuses a 1024-bit key or group.
            context.set_ciphers(f"{_LEGACY_CIPHER}:@SECLEVEL=0")
        # The loaders only read files; the files live only as long as this call.
        with tempfile.TemporaryDirectory(prefix="enphase-sim-") as folder:
            cert_file = Path(folder, "cert.pem")
            key_file = Path(folder, "key.pem")
            cert_file.write_bytes(self.cert_pem)
            key_file.touch(mode=0o600)
            key_file.write_bytes(self.key_pem)
            context.load_cert_chain(cert_file, key_file)
            if legacy:
                dh_file = Path(folder, "dh.pem")
                dh_file.write_bytes(_OAKLEY_GROUP_2_PEM)
                context.load_dh_params(str(dh_file))
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client-side TLS context that trusts exactly this certificate."""
        return ssl.create_default_context(cadata=self.cert_pem.decode("ascii"))


def make_certificate(
    common_name: str, *, alt_names: Sequence[str] = (), setup: TlsSetup = TlsSetup.MODERN
) -> Certificate:
    """A fresh key and a self-signed certificate for ``common_name``, signed with SHA-256.

    The key is P-256, or RSA-1024 for the legacy setup. ``alt_names`` become subject
    alternative names (IP addresses where they parse as one).
    """
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if setup is TlsSetup.LEGACY:
        # A weak key on purpose: the setup imitates a device that cannot be changed.
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Enphase Energy (simulated)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + _VALIDITY)
    )
    if alt_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in alt_names]), critical=False
        )
        # Extensions a strict verifier wants on a self-signed trust anchor.
        builder = (
            builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                critical=False,
            )
        )
    cert = builder.sign(key, hashes.SHA256())
    return Certificate(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        der=cert.public_bytes(serialization.Encoding.DER),
        setup=setup,
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)
