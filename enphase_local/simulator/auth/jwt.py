"""ES256 JSON Web Tokens as Entrez issues them: signed here, verified for real by the gateways.

Tokens look like the real ones: header ``{"kid", "typ": "JWT", "alg": "ES256"}``, claims
``aud`` (gateway serial), ``iss`` (``Entrez``), ``enphaseUser`` (``owner`` or
``installer``), ``exp``, ``iat``, ``jti`` and ``username``, and a raw ``r || s`` P-256
signature (RFC 7518 section 3.4), about 440 characters in all.

``iat`` and ``exp`` are real wall-clock Unix seconds (not simulated time), because clients
compare them with their own clock.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
import time
import uuid
from typing import Any

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

#: The ``iss`` claim of every Entrez token.
ISSUER = "Entrez"
#: Default lifetime of owner tokens, seconds (one year, as in the 2023 samples).
OWNER_LIFETIME_S = 365 * 24 * 3600
#: Lifetime of installer tokens, seconds (12 hours).
INSTALLER_LIFETIME_S = 12 * 3600

_COORDINATE_BYTES = 32  # P-256 coordinates and signature halves


class Role(enum.StrEnum):
    """The ``enphaseUser`` claim: who the token was issued to."""

    OWNER = "owner"
    INSTALLER = "installer"


class TokenError(Exception):
    """A token the gateway must refuse; ``reason`` says why (never contains the token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        #: Short machine-friendly reason, e.g. ``expired`` or ``wrong-audience``.
        self.reason = reason


@attrs.frozen(kw_only=True)
class TokenClaims:
    """The verified claims of a token."""

    #: ``aud``: the serial of the gateway the token is for (or ``un-commissioned``).
    audience: str
    #: ``enphaseUser``: owner or installer.
    role: Role
    #: ``iat``: when the token was issued, Unix seconds.
    issued_at: int
    #: ``exp``: when the token expires, Unix seconds.
    expires_at: int
    #: ``jti``: the token's unique id.
    token_id: str
    #: ``username``: the cloud account the token was issued to.
    username: str


def b64url_encode(data: bytes) -> str:
    """Base64url without padding, as JWTs use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url_encode`; raises ``ValueError`` on bad input."""
    if not text.isascii():
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as err:
        raise ValueError("not base64url") from err


def _json_segment(value: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


class TokenIssuer:
    """The simulated Entrez signing key: mints tokens and remembers their order for revocation."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self._key = private_key or ec.generate_private_key(ec.SECP256R1())
        public_der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        #: The ``kid`` header of every token: SHA-256 of the public key, hex.
        self.key_id = hashlib.sha256(public_der).hexdigest()
        self._last_sequence = 0
        self._minted: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"TokenIssuer(key_id={self.key_id[:12]}...)"

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The key gateways verify signatures with."""
        return self._key.public_key()

    @property
    def last_sequence(self) -> int:
        """Sequence number of the most recently minted token (0 before the first)."""
        return self._last_sequence

    def sequence_of(self, token_id: str) -> int | None:
        """The order in which the token with this ``jti`` was minted, or None if not ours."""
        return self._minted.get(token_id)

    def mint(
        self,
        audience: str,
        *,
        role: Role | str = Role.OWNER,
        username: str = "owner@example.com",
        lifetime_s: float | None = None,
        issued_at: float | None = None,
    ) -> str:
        """A signed token for the gateway ``audience`` (its serial).

        ``lifetime_s`` defaults to a year for owners and 12 hours for installers; a negative
        lifetime or an ``issued_at`` in the past makes an already expired token.
        """
        role = Role(role)
        if lifetime_s is None:
            lifetime_s = OWNER_LIFETIME_S if role is Role.OWNER else INSTALLER_LIFETIME_S
        iat = int(time.time() if issued_at is None else issued_at)
        token_id = str(uuid.uuid4())
        claims = {
            "aud": audience,
            "iss": ISSUER,
            "enphaseUser": role.value,
            "exp": int(iat + lifetime_s),
            "iat": iat,
            "jti": token_id,
            "username": username,
        }
        header = {"kid": self.key_id, "typ": "JWT", "alg": "ES256"}
        signing_input = f"{_json_segment(header)}.{_json_segment(claims)}"
        der = self._key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(_COORDINATE_BYTES, "big") + s.to_bytes(_COORDINATE_BYTES, "big")
        self._last_sequence += 1
        self._minted[token_id] = self._last_sequence
        return f"{signing_input}.{b64url_encode(raw)}"


def _decode_segment(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(segment))
    except ValueError as err:  # includes JSONDecodeError and UnicodeDecodeError
        raise TokenError("malformed") from err
    if not isinstance(value, dict):
        raise TokenError("malformed")
    return value


def verify_token(
    token: str,
    public_key: ec.EllipticCurvePublicKey,
    *,
    audience: str,
    now: float | None = None,
) -> TokenClaims:
    """Check a token as a gateway does: signature, issuer, audience, expiry and role.

    Raises :class:`TokenError` with a short reason when any check fails.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("malformed")
    header = _decode_segment(parts[0])
    claims = _decode_segment(parts[1])
    if header.get("alg") != "ES256":
        raise TokenError("wrong-algorithm")
    try:
        raw = b64url_decode(parts[2])
    except ValueError as err:
        raise TokenError("malformed") from err
    if len(raw) != 2 * _COORDINATE_BYTES:
        raise TokenError("bad-signature")
    signature = encode_dss_signature(
        int.from_bytes(raw[:_COORDINATE_BYTES], "big"),
        int.from_bytes(raw[_COORDINATE_BYTES:], "big"),
    )
    try:
        public_key.verify(
            signature, f"{parts[0]}.{parts[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature as err:
        raise TokenError("bad-signature") from err
    return _check_claims(claims, audience=audience, now=time.time() if now is None else now)


def _check_claims(claims: dict[str, Any], *, audience: str, now: float) -> TokenClaims:
    if claims.get("iss") != ISSUER:
        raise TokenError("wrong-issuer")
    if claims.get("aud") != audience:
        raise TokenError("wrong-audience")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise TokenError("malformed")
    if exp <= now:
        raise TokenError("expired")
    try:
        role = Role(str(claims.get("enphaseUser")))
    except ValueError as err:
        raise TokenError("bad-role") from err
    token_id, username = claims.get("jti"), claims.get("username")
    if not isinstance(token_id, str) or not isinstance(username, str):
        raise TokenError("malformed")
    return TokenClaims(
        audience=audience,
        role=role,
        issued_at=iat,
        expires_at=exp,
        token_id=token_id,
        username=username,
    )
