"""Digest auth as legacy gateways check it (RFC 7616, MD5, qop=auth)."""

from __future__ import annotations

import hashlib
import re

import pytest

from enphase_local.simulator.auth.digest import DigestAuthenticator, parse_digest_header

REALM = "enphaseenergy.com"


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - the protocol's hash


def answer(
    nonce: str,
    *,
    user: str = "envoy",
    password: str = "123456",  # noqa: S107 - the fake gateway's test password
    uri: str = "/api/v1/production/inverters",
    nc: str = "00000001",
    extra: str = "",
) -> str:
    cnonce = "0a4f113b"
    ha1 = md5(f"{user}:{REALM}:{password}")
    ha2 = md5(f"GET:{uri}")
    response = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="{user}", realm="{REALM}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", qop=auth, nc={nc}, cnonce="{cnonce}"{extra}'
    )


@pytest.fixture
def digest() -> DigestAuthenticator:
    return DigestAuthenticator(realm=REALM, credentials={"envoy": "123456", "installer": "abc"})


def nonce_of(challenge: str) -> str:
    match = re.search(r'nonce="([^"]+)"', challenge)
    assert match is not None
    return match.group(1)


def test_parse_header() -> None:
    assert parse_digest_header('Digest a="x, y", b=z,c="q\\"uote"') == {
        "a": "x, y",
        "b": "z",
        "c": 'q"uote',
    }
    assert parse_digest_header("Basic abc") is None
    assert parse_digest_header("Digest a=") == {"a": ""}
    assert parse_digest_header('Digest "broken') is None
    assert parse_digest_header("\u00d8\u00c9\u00c6A") is None


def test_correct_answer_and_replay(digest: DigestAuthenticator) -> None:
    challenge = digest.challenge()
    assert challenge.startswith('Digest qop="auth", realm="enphaseenergy.com", nonce="')
    nonce = nonce_of(challenge)
    uri = "/api/v1/production/inverters"
    header = answer(nonce)
    assert digest.verify(method="GET", uri=uri, header=header) == "envoy"
    assert digest.verify(method="GET", uri=uri, header=header) is None  # replayed count
    assert digest.verify(method="GET", uri=uri, header=answer(nonce, nc="00000002")) == "envoy"
    installer = answer(nonce, user="installer", password="abc", nc="00000003")
    assert digest.verify(method="GET", uri=uri, header=installer) == "installer"


@pytest.mark.parametrize(
    "change",
    [
        {"password": "654321"},
        {"user": "root"},
        {"uri": "/other"},
        {"extra": ", algorithm=MD5-sess"},
        {"nc": "zz"},
    ],
)
def test_wrong_answers(digest: DigestAuthenticator, change: dict[str, str]) -> None:
    nonce = nonce_of(digest.challenge())
    header = answer(nonce, **change)
    assert digest.verify(method="GET", uri="/api/v1/production/inverters", header=header) is None


def test_unknown_nonce_missing_header_and_other_method(digest: DigestAuthenticator) -> None:
    uri = "/api/v1/production/inverters"
    assert digest.verify(method="GET", uri=uri, header=answer("forged")) is None
    assert digest.verify(method="GET", uri=uri, header=None) is None
    nonce = nonce_of(digest.challenge())
    assert digest.verify(method="POST", uri=uri, header=answer(nonce)) is None


def test_old_nonces_are_forgotten(digest: DigestAuthenticator) -> None:
    first = nonce_of(digest.challenge())
    for _ in range(1100):
        digest.challenge()
    assert (
        digest.verify(method="GET", uri="/api/v1/production/inverters", header=answer(first))
        is None
    )
    assert "envoy" in repr(digest)
    assert "123456" not in repr(digest)
