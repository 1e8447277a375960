"""ES256 tokens: minted like Entrez's, verified for real, interoperable with plain cryptography."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from enphase_local.simulator.auth.jwt import (
    INSTALLER_LIFETIME_S,
    OWNER_LIFETIME_S,
    Role,
    TokenError,
    TokenIssuer,
    b64url_decode,
    b64url_encode,
    verify_token,
)
from enphase_local.simulator.tokens import TokenMinter

SERIAL = "122199900001"


def sign(key: ec.EllipticCurvePrivateKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An ES256 JWT made independently of the simulator's code."""
    head = b64url_encode(json.dumps(header).encode())
    body = b64url_encode(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256())))
    return f"{head}.{body}.{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def good_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "aud": SERIAL,
        "iss": "Entrez",
        "enphaseUser": "owner",
        "exp": now + 3600,
        "iat": now,
        "jti": "abc",
        "username": "someone@example.com",
    }
    claims.update(changes)
    return claims


def test_minted_token_shape_and_claims() -> None:
    issuer = TokenIssuer()
    token = issuer.mint(SERIAL)
    head, body, signature = token.split(".")
    assert json.loads(b64url_decode(head)) == {
        "kid": issuer.key_id,
        "typ": "JWT",
        "alg": "ES256",
    }
    claims = json.loads(b64url_decode(body))
    assert list(claims) == ["aud", "iss", "enphaseUser", "exp", "iat", "jti", "username"]
    assert claims["exp"] - claims["iat"] == OWNER_LIFETIME_S
    assert len(b64url_decode(signature)) == 64  # raw r || s
    verified = verify_token(token, issuer.public_key, audience=SERIAL)
    assert verified.role is Role.OWNER
    assert verified.token_id == claims["jti"]
    assert issuer.sequence_of(verified.token_id) == issuer.last_sequence == 1
    assert issuer.sequence_of("unknown") is None
    installer = verify_token(
        issuer.mint(SERIAL, role="installer"), issuer.public_key, audience=SERIAL
    )
    assert installer.expires_at - installer.issued_at == INSTALLER_LIFETIME_S


def test_signature_verifies_with_plain_cryptography() -> None:
    issuer = TokenIssuer()
    head, body, signature = issuer.mint(SERIAL).split(".")
    raw = b64url_decode(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    issuer.public_key.verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))


def test_independently_signed_token_is_accepted() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = TokenIssuer(key)
    token = sign(key, {"alg": "ES256", "typ": "JWT"}, good_claims())
    assert verify_token(token, issuer.public_key, audience=SERIAL).username == "someone@example.com"


@pytest.mark.parametrize(
    ("header", "claims", "reason"),
    [
        ({"alg": "none"}, good_claims(), "wrong-algorithm"),
        ({"alg": "ES256"}, good_claims(iss="Elsewhere"), "wrong-issuer"),
        ({"alg": "ES256"}, good_claims(aud="000000000000"), "wrong-audience"),
        ({"alg": "ES256"}, good_claims(exp=int(time.time()) - 1), "expired"),
        ({"alg": "ES256"}, good_claims(enphaseUser="admin"), "bad-role"),
        ({"alg": "ES256"}, good_claims(exp="tomorrow"), "malformed"),
        ({"alg": "ES256"}, good_claims(jti=7), "malformed"),
    ],
)
def test_claim_checks(header: dict[str, Any], claims: dict[str, Any], reason: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    token = sign(key, header, claims)
    with pytest.raises(TokenError) as caught:
        verify_token(token, key.public_key(), audience=SERIAL)
    assert caught.value.reason == reason
    assert token not in str(caught.value)


@pytest.mark.parametrize(
    "token",
    ["", "a.b", "a.b.c.d", "!!!.e30.e30", "e30.W10.e30", "e30.e30.////", "é.e30.e30"],
)
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(TokenError):
        verify_token(token, TokenIssuer().public_key, audience=SERIAL)


def test_wrong_key_and_short_signature() -> None:
    issuer = TokenIssuer()
    token = issuer.mint(SERIAL)
    with pytest.raises(TokenError, match="bad-signature"):
        verify_token(token, TokenIssuer().public_key, audience=SERIAL)
    head, body, _ = token.split(".")
    with pytest.raises(TokenError, match="bad-signature"):
        verify_token(
            f"{head}.{body}.{b64url_encode(b'x' * 10)}", issuer.public_key, audience=SERIAL
        )


def test_minter_helpers() -> None:
    issuer = TokenIssuer()
    minter = TokenMinter(issuer, owner_lifetime_s=100)
    owner = verify_token(minter.owner(SERIAL), issuer.public_key, audience=SERIAL)
    assert owner.expires_at - owner.issued_at == 100
    installer = verify_token(minter.installer(SERIAL), issuer.public_key, audience=SERIAL)
    assert installer.role is Role.INSTALLER
    for bad, reason in [
        (minter.expired(SERIAL), "expired"),
        (minter.wrong_audience(SERIAL), "wrong-audience"),
        (minter.bad_signature(SERIAL), "bad-signature"),
        (minter.uncommissioned(), "wrong-audience"),
    ]:
        with pytest.raises(TokenError, match=reason):
            verify_token(bad, issuer.public_key, audience=SERIAL)
    assert verify_token(
        minter.wrong_audience("000000000000"), issuer.public_key, audience="999999999999"
    )
    assert "key_id=" in repr(issuer)
