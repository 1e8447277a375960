"""A fake Enlighten + Entrez on a real loopback HTTPS server, and a throwaway CA for it."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.tokens.jwt import SERIAL, make_jwt

USERNAME = "owner@example.com"
PASSWORD = "correct horse battery staple"


@attrs.frozen
class LoopbackCA:
    """A CA and a server certificate for 127.0.0.1 signed by it, as files."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Verifies certificates (and host names) against this CA only."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_test_ca(folder: Path) -> LoopbackCA:
    """Write a CA certificate and a 127.0.0.1 server certificate (with key) into ``folder``."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "enphase-local test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = folder / "ca.pem"
    cert_file = folder / "server.pem"
    key_file = folder / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return LoopbackCA(ca_file=ca_file, cert_file=cert_file, key_file=key_file)


class FakeCloud:
    """Enlighten's login and Entrez's token service, answering like the real ones.

    Behaviour is set through attributes: ``mfa`` (login answers without a session),
    ``token_statuses`` / ``login_statuses`` (statuses answered first, in order, before the
    normal reply), ``token_body`` (a fixed body for /tokens), ``lifetime`` of issued tokens.
    """

    def __init__(self, *, serials: tuple[str, ...] = (SERIAL,)) -> None:
        self.serials = set(serials)
        self.mfa = False
        self.lifetime = timedelta(days=365)
        self.login_statuses: list[int] = []
        self.token_statuses: list[int] = []
        self.token_body: bytes | None = None
        self.logins = 0
        self.token_requests: list[str] = []
        self.user_agents: list[str] = []
        self.issued: list[str] = []
        self._sessions: set[str] = set()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/login/login.json", self._login)
        app.router.add_post("/tokens", self._tokens)
        return app

    async def _login(self, request: web.Request) -> web.Response:
        self.user_agents.append(request.headers.get("User-Agent", ""))
        self.logins += 1
        if self.login_statuses:
            return web.Response(status=self.login_statuses.pop(0), text="busy")
        form = await request.post()
        if form.get("user[email]") != USERNAME or form.get("user[password]") != PASSWORD:
            return web.json_response({"message": "Invalid email or password"}, status=401)
        if self.mfa:
            return web.json_response({"success": True, "isBlocked": False})
        session_id = f"session{self.logins:024d}"
        self._sessions.add(session_id)
        return web.json_response(
            {"session_id": session_id, "manager_token": "m", "is_consumer": True}
        )

    async def _tokens(self, request: web.Request) -> web.Response:
        self.user_agents.append(request.headers.get("User-Agent", ""))
        body = await request.json()
        self.token_requests.append(str(body.get("serial_num")))
        if self.token_statuses:
            return web.Response(status=self.token_statuses.pop(0), text="nope")
        if self.token_body is not None:
            return web.Response(body=self.token_body)
        if body.get("session_id") not in self._sessions or body.get("username") != USERNAME:
            return web.Response(status=401, text="unauthorized")
        if body.get("serial_num") not in self.serials:
            return web.Response(status=403, text="forbidden")
        token = make_jwt(
            body["serial_num"],
            issued_at=datetime.now(UTC).replace(microsecond=0),
            lifetime=self.lifetime,
            username=USERNAME,
        )
        self.issued.append(token)
        return web.Response(text=token)

    def expire_sessions(self) -> None:
        """Forget every login, as Enlighten does after a while."""
        self._sessions.clear()


@asynccontextmanager
async def serve(app: web.Application, context: ssl.SSLContext | None) -> AsyncIterator[str]:
    """Run ``app`` on 127.0.0.1 on a free port; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    scheme = "https" if context else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
