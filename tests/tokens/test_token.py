"""Decoding gateway JWTs: claims, roles, malformed input, and never printing the secret."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enphase_local.auth.token import DEFAULT_REFRESH_MARGIN, RefreshMargin, Token, TokenRole
from enphase_local.errors import AuthenticationError, InvalidTokenError
from tests.tokens.jwt import SERIAL, T0, b64url, encode_jwt, make_jwt


def test_parse_reads_every_claim() -> None:
    raw = make_jwt(role="installer", lifetime=timedelta(hours=12), username="inst@example.com")
    token = Token.parse(raw)
    assert token.serial == SERIAL
    assert token.role is TokenRole.INSTALLER
    assert token.issued_at == T0
    assert token.expires_at == T0 + timedelta(hours=12)
    assert token.expires_at.tzinfo is UTC
    assert token.username == "inst@example.com"
    assert token.issuer == "Entrez"
    assert token.jti is not None
    assert len(token.jti) == 32
    assert token.secret() == raw
    assert token.lifetime == timedelta(hours=12)


@pytest.mark.parametrize("wrap", ["  {}\n", '"{}"', "'{}'\n", '\t"{}" '])
def test_parse_strips_whitespace_and_quotes(wrap: str) -> None:
    raw = make_jwt()
    assert Token.parse(wrap.format(raw)).secret() == raw


@pytest.mark.parametrize(
    ("claim", "role"),
    [
        ("owner", TokenRole.OWNER),
        ("Installer", TokenRole.INSTALLER),
        ("support", TokenRole.UNKNOWN),
    ],
)
def test_role_claim(claim: str, role: TokenRole) -> None:
    assert Token.parse(make_jwt(role=claim)).role is role


def test_missing_optional_claims_are_none() -> None:
    token = Token.parse(make_jwt(iat=None, username=None, iss=None, jti=None, enphaseUser=None))
    assert token.issued_at is None
    assert token.lifetime is None
    assert token.username is None
    assert token.issuer is None
    assert token.jti is None
    assert token.role is TokenRole.UNKNOWN


def test_audience_as_single_element_list() -> None:
    assert Token.parse(make_jwt(aud=[SERIAL])).serial == SERIAL


def test_expiry_helpers() -> None:
    token = Token.parse(make_jwt(lifetime=timedelta(hours=12)))
    now = T0 + timedelta(hours=11)
    assert token.expires_in(now) == timedelta(hours=1)
    assert not token.is_expired(now)
    assert token.is_expired(now, skew=timedelta(hours=1))
    assert token.is_expired(T0 + timedelta(hours=12))
    assert token.expires_in(T0 + timedelta(hours=13)) == -timedelta(hours=1)


def test_equal_tokens_compare_equal_and_hash_alike() -> None:
    raw = make_jwt()
    assert Token.parse(raw) == Token.parse(f" {raw} ")
    assert hash(Token.parse(raw)) == hash(Token.parse(raw))
    assert Token.parse(raw) != Token.parse(make_jwt())


def test_repr_and_str_never_show_the_token() -> None:
    raw = make_jwt()
    token = Token.parse(raw)
    _header, claims, signature = raw.split(".")
    for text in (repr(token), str(token), repr([token]), f"{token!r:>10}"):
        assert raw not in text
        assert signature not in text
        assert claims not in text
    assert token.fingerprint == hashlib.sha256(raw.encode()).hexdigest()[:8]
    assert token.fingerprint in repr(token)
    assert SERIAL in repr(token)
    assert "owner" in str(token)


HEADER = b64url(b'{"alg": "ES256", "typ": "JWT"}')
SIGNATURE = b64url(b"\x01" * 64)
GOOD_CLAIMS = b64url(b'{"aud": "122125067699", "exp": 1800000000}')


def _with_claims(claims: bytes) -> str:
    return ".".join((HEADER, b64url(claims), SIGNATURE))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("Error in generating Token", "Error in generating Token"),
        ('"Error in generating Token"', "Error in generating Token"),
        ("abc.def", "three"),
        (f"{HEADER}.{GOOD_CLAIMS}.{SIGNATURE}.extra", "three"),
        (f"{HEADER}.{GOOD_CLAIMS}.", "signature part is empty"),
        (f".{GOOD_CLAIMS}.{SIGNATURE}", "header part is empty"),
        (f"{HEADER}.{GOOD_CLAIMS}!.{SIGNATURE}", "claims part is not base64url"),
        (f"{HEADER}.{GOOD_CLAIMS}.{SIGNATURE}=", "signature part is not base64url"),
        (f"{HEADER}.A{GOOD_CLAIMS}.{SIGNATURE}", "claims part is not"),
        (_with_claims(b"not json"), "claims part is not JSON"),
        (_with_claims(bytes([0xFF, 0xFE])), "claims part is not JSON"),
        (_with_claims(b"[1, 2]"), "not a JSON object"),
        (f"{b64url(b'null')}.{GOOD_CLAIMS}.{SIGNATURE}", "header part is not a JSON object"),
        (_with_claims(b'{"aud": "1"}'), "'exp'"),
        (_with_claims(b'{"aud": "1", "exp": "soon"}'), "'exp'"),
        (_with_claims(b'{"aud": "1", "exp": true}'), "'exp'"),
        (_with_claims(b'{"aud": "1", "exp": 1e300}'), "out of range"),
        (_with_claims(b'{"aud": "1", "exp": 1, "iat": "x"}'), "'iat'"),
        (_with_claims(b'{"exp": 1800000000}'), "'aud'"),
        (_with_claims(b'{"aud": 5, "exp": 1800000000}'), "'aud'"),
        ("x" * 20000, "characters long"),
    ],
)
def test_malformed_tokens_are_rejected_without_echoing_them(text: str, reason: str) -> None:
    with pytest.raises(InvalidTokenError, match=reason) as caught:
        Token.parse(text)
    assert isinstance(caught.value, AuthenticationError)
    for part in text.strip().strip('"').split("."):
        if len(part) > 12 and "generating" not in part:
            assert part not in str(caught.value)
    assert caught.value.__cause__ is None


def test_malformed_real_looking_token_is_not_echoed() -> None:
    raw = encode_jwt({"alg": "ES256"}, {"aud": SERIAL, "iat": 1})
    with pytest.raises(InvalidTokenError) as caught:
        Token.parse(raw)
    assert raw not in str(caught.value)
    assert raw.split(".")[2] not in str(caught.value)


def test_default_margin_for_installer_and_owner_tokens() -> None:
    installer = Token.parse(make_jwt(role="installer", lifetime=timedelta(hours=12)))
    owner = Token.parse(make_jwt(lifetime=timedelta(days=365)))
    assert DEFAULT_REFRESH_MARGIN.for_token(installer) == timedelta(hours=1, minutes=12)
    assert DEFAULT_REFRESH_MARGIN.for_token(owner) == timedelta(days=36.5)
    refresh_at = T0 + timedelta(hours=10, minutes=48)
    assert DEFAULT_REFRESH_MARGIN.refresh_at(installer) == refresh_at
    assert not DEFAULT_REFRESH_MARGIN.is_due(installer, refresh_at - timedelta(seconds=1))
    assert DEFAULT_REFRESH_MARGIN.is_due(installer, refresh_at)


def test_margin_minimum_and_half_lifetime_cap() -> None:
    short = Token.parse(make_jwt(lifetime=timedelta(hours=4)))
    tiny = Token.parse(make_jwt(lifetime=timedelta(minutes=10)))
    unknown = Token.parse(make_jwt(iat=None))
    assert DEFAULT_REFRESH_MARGIN.for_token(short) == timedelta(hours=1)
    assert DEFAULT_REFRESH_MARGIN.for_token(tiny) == timedelta(minutes=5)
    assert DEFAULT_REFRESH_MARGIN.for_token(unknown) == timedelta(hours=1)
    fixed = RefreshMargin(fraction=0, minimum=timedelta(hours=2))
    assert fixed.for_token(Token.parse(make_jwt())) == timedelta(hours=2)


@pytest.mark.parametrize("fraction", [-0.1, 0.6])
def test_margin_fraction_is_bounded(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        RefreshMargin(fraction=fraction)


def test_naive_now_is_refused() -> None:
    token = Token.parse(make_jwt())
    with pytest.raises(TypeError):
        token.is_expired(datetime(2026, 1, 1))


_JWT_ALPHABET = st.sampled_from("ABCxyz019_-.=+/ \"'{}")


@given(st.one_of(st.text(), st.text(_JWT_ALPHABET)))
def test_any_text_parses_or_raises_invalid_token_only(text: str) -> None:
    error: InvalidTokenError | None = None
    try:
        Token.parse(text)
    except InvalidTokenError as err:
        error = err
    stripped = text.strip().strip("\"'").strip()
    if error is not None and len(stripped) >= 16:
        assert stripped not in str(error)


@given(
    st.dictionaries(
        st.sampled_from(["aud", "exp", "iat", "enphaseUser", "username"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()),
    )
)
def test_any_claims_parse_or_raise_invalid_token_only(claims: dict[str, object]) -> None:
    try:
        token = Token.parse(encode_jwt({"alg": "ES256"}, claims))
    except InvalidTokenError:
        return
    assert token.serial == str(claims["aud"]).strip()
    assert token.expires_at.tzinfo is UTC
