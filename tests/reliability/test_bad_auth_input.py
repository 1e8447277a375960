"""Bad input on the auth side: token text, token cache files and cloud replies.

Tokens come from files, callbacks, caches and the cloud, all of which can hold anything. The
contract: a token text gives a Token or an InvalidTokenError (whose message never repeats the
text); a cache file that cannot be decoded counts as empty; a cloud reply that is not what was
expected is a CloudUnavailableError. Nesting deep enough to exhaust the recursion limit once
escaped all three as a RecursionError: those cases are the tests at the end.
"""

from __future__ import annotations

import base64
import json
import string
from pathlib import Path

import pytest
from aioresponses import aioresponses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enphase_local.auth.cache import TokenCache
from enphase_local.auth.cloud import EnphaseCloud
from enphase_local.auth.sources import CachedTokenSource, StaticTokenSource
from enphase_local.auth.token import Token
from enphase_local.errors import CloudUnavailableError, InvalidTokenError
from enphase_local.models import Production
from enphase_local.session import GatewaySession
from tests.helpers import PRODUCTION_JSON, info_xml, make_jwt
from tests.reliability import tally
from tests.reliability.corpus import examples
from tests.reliability.mutations import HUGE_NUMBERS, NON_FINITE, Raw, mutated, write_json

SERIAL = "122125067699"
TOKEN = make_jwt(SERIAL)
CLOUD = "https://cloud.test"
#: Deep enough for any JSON decoder's recursion limit, small enough for every size cap.
DEEP = b"[" * 20_000


def b64(data: bytes) -> str:
    """Unpadded base64url, as in a JWT."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from([Raw(text) for text in HUGE_NUMBERS + NON_FINITE[:4]])
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_claims = st.fixed_dictionaries(
    {},
    optional={
        "aud": _json | st.just(SERIAL) | st.just([SERIAL]),
        "exp": _json | st.integers(0, 2**40),
        "iat": _json | st.integers(0, 2**40),
        "enphaseUser": _json | st.sampled_from(["owner", "installer", " Owner "]),
        "username": _json,
        "jti": _json,
    },
)
_part = (
    _json.map(lambda value: b64(write_json(value).encode("utf-8", "surrogatepass")))
    | st.binary(max_size=40).map(b64)
    | st.text(alphabet=string.ascii_letters + string.digits + "-_=+/ .", max_size=40)
)
_jwt_like = st.builds(
    lambda header, claims, signature: f"{header}.{claims}.{signature}",
    _part,
    _claims.map(lambda claims: b64(write_json(claims).encode("utf-8", "surrogatepass"))) | _part,
    _part,
)
token_texts = (
    st.text(max_size=300)
    | _jwt_like
    | _jwt_like.map(lambda text: f' "{text}"\n')
    | mutated(TOKEN.encode(), False).map(lambda body: body.decode("utf-8", "replace"))
)


def _parse(text: str) -> Token | InvalidTokenError:
    """The token, or the InvalidTokenError raised (anything else propagates, and fails)."""
    try:
        return Token.parse(text)
    except InvalidTokenError as err:
        return err


@settings(max_examples=examples(scale=50), deadline=None)
@given(text=token_texts)
def test_any_token_text_is_a_token_or_an_invalid_token_error(text: str) -> None:
    tally.count("token texts")
    secret_parts = [part for part in text.strip().strip("\"'").split(".") if len(part) >= 16]
    token = _parse(text)
    if isinstance(token, InvalidTokenError):
        assert not [part for part in secret_parts if part in str(token)]
        return
    assert token.secret() in text
    for shown in (repr(token), str(token)):
        assert not [part for part in secret_parts[1:] if part in shown]


def _cache_document() -> bytes:
    tokens = {SERIAL: TOKEN, "000000000001": make_jwt("000000000001")}
    return json.dumps({"version": 1, "tokens": tokens}, indent=2).encode()


def _shallow(body: bytes) -> bool:
    # Deep nesting is the subject of the tests below.
    return body.count(b"[") + body.count(b"{") < 500


@settings(
    max_examples=examples(scale=20),
    deadline=None,
    # tmp_path is shared by the examples: each one writes the file afresh.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=mutated(_cache_document(), False).filter(_shallow))
def test_any_cache_file_loads_as_some_or_no_tokens(body: bytes, tmp_path: Path) -> None:
    tally.count("token cache files")
    path = tmp_path / "tokens.json"
    path.write_bytes(body)
    cache = TokenCache(path)
    tokens = cache.load()
    assert all(isinstance(token, Token) for token in tokens.values())
    cache.put(SERIAL, Token.parse(TOKEN))  # a broken file is replaced, never an obstacle
    assert cache.get(SERIAL) == Token.parse(TOKEN)


# ---------------------------------------------------------------------------------------
# Nesting past the recursion limit ends in the library's errors, not a RecursionError.


def test_a_token_whose_claims_nest_too_deeply_is_invalid() -> None:
    with pytest.raises(InvalidTokenError):
        Token.parse(f"{b64(b'{}')}.{b64(DEEP[:8000])}.{b64(b'sig')}")


async def test_an_entrez_reply_nesting_too_deeply_is_a_cloud_error(mocked: aioresponses) -> None:
    mocked.post(f"{CLOUD}/login/login.json", payload={"session_id": "s" * 32})
    mocked.post(f"{CLOUD}/tokens", body=f"{b64(b'{}')}.{b64(DEEP[:8000])}.{b64(b'sig')}")
    async with EnphaseCloud("a@example.com", "password1", enlighten_url=CLOUD,
                            entrez_url=CLOUD, attempts=1) as cloud:  # fmt: skip
        with pytest.raises(CloudUnavailableError):
            await cloud.fetch_token(SERIAL)


async def test_an_enlighten_reply_nesting_too_deeply_is_a_cloud_error(
    mocked: aioresponses,
) -> None:
    mocked.post(f"{CLOUD}/login/login.json", body=DEEP)
    async with EnphaseCloud("a@example.com", "password1", enlighten_url=CLOUD,
                            entrez_url=CLOUD, attempts=1) as cloud:  # fmt: skip
        with pytest.raises(CloudUnavailableError):
            await cloud.fetch_token(SERIAL)


def test_a_cache_file_nesting_too_deeply_counts_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(DEEP)
    assert TokenCache(path).load() == {}


async def test_the_session_gets_past_a_cache_file_nesting_too_deeply(
    mocked: aioresponses, tmp_path: Path
) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(DEEP)
    base = "https://envoy.local"
    mocked.get(f"{base}/info", body=info_xml(SERIAL), content_type="text/xml")
    mocked.get(f"{base}/auth/check_jwt", body=b"<!DOCTYPE html><h2>Valid token.</h2>")
    mocked.get(f"{base}/api/v1/production", body=PRODUCTION_JSON)
    source = CachedTokenSource(StaticTokenSource(TOKEN), path)
    async with GatewaySession(base, token=source, retries=0) as session:
        assert isinstance(await session.production(), Production)
