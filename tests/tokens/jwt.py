"""Test tokens: ES256 JWTs shaped like Entrez's, signed with a throwaway key."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

SERIAL = "122125067699"
OTHER_SERIAL = "202439990001"
#: A fixed instant the tests measure from.
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

_KEY = ec.generate_private_key(ec.SECP256R1())


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWTs encode their parts."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode_jwt(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """Sign header and claims with ES256 (raw r||s signature, as JOSE wants)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    der = _KEY.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def make_jwt(
    serial: str = SERIAL,
    *,
    role: str = "owner",
    issued_at: datetime = T0,
    lifetime: timedelta = timedelta(days=365),
    username: str | None = "owner@example.com",
    **extra: Any,
) -> str:
    """An Entrez-like token valid ``lifetime`` from ``issued_at``; extra claims override."""
    claims: dict[str, Any] = {
        "aud": serial,
        "iss": "Entrez",
        "enphaseUser": role,
        "exp": int((issued_at + lifetime).timestamp()),
        "iat": int(issued_at.timestamp()),
        "jti": secrets.token_hex(16),
        "username": username,
    }
    for key, value in extra.items():  # a claim given as None is left out
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return encode_jwt({"kid": secrets.token_hex(32), "typ": "JWT", "alg": "ES256"}, claims)
