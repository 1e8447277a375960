"""Token sources: static, file, callback, cloud, and the cache that wraps any of them."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from enphase_local.auth.cache import TokenCache
from enphase_local.auth.sources import (
    CachedTokenSource,
    CallbackTokenSource,
    CloudTokenSource,
    InvalidatingTokenSource,
    StaticTokenSource,
    TokenFileSource,
    TokenSource,
    as_token_source,
    invalidate,
)
from enphase_local.auth.token import Token
from enphase_local.errors import (
    AuthenticationError,
    CloudLoginError,
    CloudUnavailableError,
    InvalidTokenError,
)
from enphase_local.simulator import FakeCloud
from enphase_local.simulator.cloud import CloudStats
from tests.blocking import blocking_calls
from tests.tokens.fakes import Clock, ScriptedSource
from tests.tokens.jwt import OTHER_SERIAL, SERIAL, T0, make_jwt
from tests.tokens.simcloud import PASSWORD, USERNAME, client, own


async def test_static_source_returns_its_token_for_any_serial() -> None:
    raw = make_jwt()
    source = StaticTokenSource(f" {raw}\n")
    assert (await source.get(SERIAL)).secret() == raw
    assert (await source.get(OTHER_SERIAL)).secret() == raw
    assert raw not in repr(source)
    assert isinstance(source, TokenSource)
    assert not isinstance(source, InvalidatingTokenSource)


def test_static_source_checks_the_token_at_once() -> None:
    with pytest.raises(InvalidTokenError):
        StaticTokenSource("not-a-token")


async def test_as_token_source() -> None:
    raw = make_jwt()
    token = Token.parse(raw)
    assert await as_token_source(raw).get(SERIAL) == token
    assert await as_token_source(token).get(SERIAL) == token
    scripted = ScriptedSource(token)
    assert as_token_source(scripted) is scripted


# --- token file ---------------------------------------------------------------------------


async def test_file_source_reads_and_rereads_on_change(tmp_path: Path) -> None:
    path = tmp_path / "token.txt"
    first, second = make_jwt(), make_jwt()
    path.write_text(f'"{first}"\n')
    source = TokenFileSource(path)
    assert (await source.get(SERIAL)).secret() == first
    mtime = path.stat().st_mtime_ns
    path.write_text(f'"{second}"\n')
    os.utime(path, ns=(mtime + 10**9, mtime + 10**9))
    assert (await source.get(SERIAL)).secret() == second
    assert source.path == path
    assert first not in repr(source)


async def test_file_source_does_not_reread_an_unchanged_file(tmp_path: Path) -> None:
    path = tmp_path / "token.txt"
    first = make_jwt()
    path.write_text(first)
    source = TokenFileSource(path)
    assert (await source.get(SERIAL)).secret() == first
    info = path.stat()
    # Same size, same inode, mtime put back: the source must not look at the content again.
    with path.open("r+") as file:
        file.write(make_jwt())
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert (await source.get(SERIAL)).secret() == first


async def test_file_source_sees_an_atomic_replacement(tmp_path: Path) -> None:
    path = tmp_path / "token.txt"
    path.write_text(make_jwt())
    source = TokenFileSource(path)
    await source.get(SERIAL)
    replacement = tmp_path / "token.new"
    second = make_jwt(username="someone.else@example.com")
    replacement.write_text(second)
    os.replace(replacement, path)
    assert (await source.get(SERIAL)).secret() == second


async def test_file_source_reads_in_a_thread(tmp_path: Path) -> None:
    path = tmp_path / "token.txt"
    path.write_text(make_jwt())
    source = TokenFileSource(path)
    with blocking_calls() as seen:
        await source.get(SERIAL)  # read
        await source.get(SERIAL)  # only looked at: unchanged
    assert seen == []


async def test_file_source_missing_file(tmp_path: Path) -> None:
    source = TokenFileSource(tmp_path / "absent.txt")
    with pytest.raises(AuthenticationError, match=r"absent\.txt"):
        await source.get(SERIAL)


async def test_file_source_malformed_token(tmp_path: Path) -> None:
    path = tmp_path / "token.txt"
    broken = make_jwt().rsplit(".", 1)[0]
    path.write_text(broken)
    with pytest.raises(InvalidTokenError, match=r"token\.txt") as caught:
        await TokenFileSource(path).get(SERIAL)
    assert broken not in str(caught.value)


async def test_file_source_path_with_a_nul_byte(tmp_path: Path) -> None:
    with pytest.raises(AuthenticationError, match="null byte") as caught:
        await TokenFileSource(tmp_path / "tok\0en.txt").get(SERIAL)
    assert isinstance(caught.value.__cause__, ValueError)


async def test_file_source_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "token.bin"
    path.write_bytes(b"\xff\xfe" + make_jwt().encode())
    with pytest.raises(InvalidTokenError, match="not UTF-8") as caught:
        await TokenFileSource(path).get(SERIAL)
    assert caught.value.__cause__ is None


# --- callback -----------------------------------------------------------------------------


async def test_sync_callback_gets_the_serial() -> None:
    raw = make_jwt()
    seen: list[str] = []

    def callback(serial: str) -> str:
        seen.append(serial)
        return raw

    assert (await CallbackTokenSource(callback).get(SERIAL)).secret() == raw
    assert seen == [SERIAL]


async def test_async_callback() -> None:
    raw = make_jwt(OTHER_SERIAL)

    async def callback(serial: str) -> str:
        await asyncio.sleep(0)
        return make_jwt(serial) if serial != OTHER_SERIAL else raw

    source = CallbackTokenSource(callback)
    assert (await source.get(OTHER_SERIAL)).secret() == raw
    assert (await source.get(SERIAL)).serial == SERIAL
    assert "callback" in repr(source)


async def test_callback_may_return_a_token() -> None:
    token = Token.parse(make_jwt())
    assert await CallbackTokenSource(lambda serial: token).get(SERIAL) is token


async def test_callback_returning_junk() -> None:
    with pytest.raises(InvalidTokenError, match="NoneType"):
        await CallbackTokenSource(lambda serial: None).get(SERIAL)  # type: ignore[arg-type,return-value] # the junk is the point
    with pytest.raises(InvalidTokenError):
        await CallbackTokenSource(lambda serial: "Error in generating Token").get(SERIAL)


async def test_callback_failure_hides_its_message() -> None:
    def callback(serial: str) -> str:
        raise RuntimeError("vault said: eyJsecret")

    with pytest.raises(AuthenticationError, match="RuntimeError") as caught:
        await CallbackTokenSource(callback).get(SERIAL)
    assert "eyJsecret" not in str(caught.value)
    assert isinstance(caught.value.__cause__, RuntimeError)


async def test_callback_library_errors_pass_through() -> None:
    async def callback(serial: str) -> str:
        raise CloudLoginError("wrong password")

    with pytest.raises(CloudLoginError, match="wrong password"):
        await CallbackTokenSource(callback).get(SERIAL)


# --- cloud --------------------------------------------------------------------------------


def cloud_source(cloud: FakeCloud) -> CloudTokenSource:
    return CloudTokenSource(client(cloud))


async def test_cloud_source_one_token_per_serial(sim_cloud: FakeCloud) -> None:
    own(sim_cloud, OTHER_SERIAL)
    async with cloud_source(sim_cloud) as source:
        first = await source.get(SERIAL)
        second = await source.get(OTHER_SERIAL)
        assert source.cloud.username == USERNAME
    assert (first.serial, second.serial) == (SERIAL, OTHER_SERIAL)
    assert sim_cloud.stats == CloudStats(logins=1, tokens=2)
    assert PASSWORD not in repr(source)


async def test_cloud_source_concurrent_gets_share_one_fetch(sim_cloud: FakeCloud) -> None:
    own(sim_cloud, OTHER_SERIAL)
    async with cloud_source(sim_cloud) as source:
        tokens = await asyncio.gather(*(source.get(SERIAL) for _ in range(20)))
        assert sim_cloud.stats.tokens == 1
        others = await asyncio.gather(*(source.get(OTHER_SERIAL) for _ in range(5)))
        assert sim_cloud.stats.tokens == 2
        again = await source.get(SERIAL)
    assert len(set(tokens)) == 1
    assert len(set(others)) == 1
    assert [tokens[0].serial, others[0].serial, again.serial] == [SERIAL, OTHER_SERIAL, SERIAL]
    assert again != tokens[0]
    assert sim_cloud.stats == CloudStats(logins=1, tokens=3)


async def test_cloud_source_waiter_cancelled_does_not_cancel_the_fetch(
    sim_cloud: FakeCloud,
) -> None:
    async with cloud_source(sim_cloud) as source:
        impatient = asyncio.create_task(source.get(SERIAL))
        patient = asyncio.create_task(source.get(SERIAL))
        await asyncio.sleep(0)
        impatient.cancel()
        token = await patient
    assert token.serial == SERIAL
    assert sim_cloud.stats == CloudStats(logins=1, tokens=1)


async def test_cloud_source_errors(sim_cloud: FakeCloud) -> None:
    sim_cloud.outage = True
    async with cloud_source(sim_cloud) as source:
        with pytest.raises(CloudUnavailableError, match="HTTP 503"):
            await source.get(SERIAL)
        sim_cloud.outage = False
        assert (await source.get(SERIAL)).serial == SERIAL


# --- cache --------------------------------------------------------------------------------


def token_at(lifetime: timedelta = timedelta(hours=12), serial: str = SERIAL) -> Token:
    return Token.parse(make_jwt(serial, role="installer", issued_at=T0, lifetime=lifetime))


async def test_cache_serves_until_due_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "tokens.json"
    clock = Clock()
    token = token_at()
    inner = ScriptedSource(token)
    source = CachedTokenSource(inner, path, clock=clock)
    assert await source.get(SERIAL) == token
    assert await source.get(SERIAL) == token
    assert inner.calls == [SERIAL]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    restarted_inner = ScriptedSource(AuthenticationError("must not be asked"))
    restarted = CachedTokenSource(restarted_inner, path, clock=clock)
    assert await restarted.get(SERIAL) == token
    assert restarted_inner.calls == []
    assert source.cache.path == path
    assert token.secret() not in repr(source)


async def test_cache_is_keyed_by_serial(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    mine, theirs = token_at(), token_at(serial=OTHER_SERIAL)
    inner = ScriptedSource(mine, theirs)
    source = CachedTokenSource(inner, path, clock=Clock())
    assert await source.get(SERIAL) == mine
    assert await source.get(OTHER_SERIAL) == theirs
    assert await source.get(SERIAL) == mine
    assert await source.get(OTHER_SERIAL) == theirs
    assert inner.calls == [SERIAL, OTHER_SERIAL]
    assert TokenCache(path).load() == {SERIAL: mine, OTHER_SERIAL: theirs}


async def test_cache_refreshes_a_due_or_expired_entry(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    clock = Clock()
    old = token_at()
    renewed = Token.parse(make_jwt(role="installer", issued_at=T0 + timedelta(hours=11)))
    inner = ScriptedSource(old, renewed)
    source = CachedTokenSource(inner, path, clock=clock)
    await source.get(SERIAL)
    clock.advance(timedelta(hours=10, minutes=47))  # margin for 12 h is 1 h 12 min
    assert await source.get(SERIAL) == old
    clock.advance(timedelta(minutes=1))
    assert await source.get(SERIAL) == renewed
    assert TokenCache(path).get(SERIAL) == renewed
    assert len(inner.calls) == 2


async def test_cache_falls_back_to_a_valid_entry_after_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    clock = Clock()
    token = token_at()
    outage = CloudUnavailableError("cloud down")
    source = CachedTokenSource(ScriptedSource(token, outage), path, clock=clock)
    await source.get(SERIAL)
    clock.advance(timedelta(hours=11))
    # The caller already holds this token: it must hear about the outage.
    with pytest.raises(CloudUnavailableError):
        await source.get(SERIAL)
    # A restarted process holds nothing yet: the cached token is better than no token.
    restarted = CachedTokenSource(ScriptedSource(outage), path, clock=clock)
    with caplog.at_level(logging.WARNING):
        assert await restarted.get(SERIAL) == token
    assert "cloud down" in caplog.text
    assert token.secret() not in caplog.text
    with pytest.raises(CloudUnavailableError):
        await restarted.get(SERIAL)
    clock.advance(timedelta(hours=1))
    with pytest.raises(CloudUnavailableError):
        await CachedTokenSource(ScriptedSource(outage), path, clock=clock).get(SERIAL)


async def test_cache_never_stores_bad_or_expired_tokens(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    clock = Clock(T0 + timedelta(days=2))
    expired = token_at()
    inner = ScriptedSource(InvalidTokenError("the cloud answered junk"), expired)
    source = CachedTokenSource(inner, path, clock=clock)
    with pytest.raises(InvalidTokenError):
        await source.get(SERIAL)
    assert not path.exists()
    assert await source.get(SERIAL) == expired
    assert not path.exists()


async def test_cache_invalidate_drops_the_entry_and_tells_the_inner_source(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tokens.json"
    first, second = token_at(), token_at()
    inner = ScriptedSource(first, second)
    source = CachedTokenSource(inner, path, clock=Clock())
    assert isinstance(source, InvalidatingTokenSource)
    await source.get(SERIAL)
    await invalidate(source, SERIAL, first)
    assert inner.invalidated == [(SERIAL, first)]
    assert TokenCache(path).get(SERIAL) is None
    assert await source.get(SERIAL) == second


async def test_cache_invalidate_keeps_a_different_entry(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    current, stale = token_at(), token_at()
    source = CachedTokenSource(ScriptedSource(current), path, clock=Clock())
    await source.get(SERIAL)
    await source.invalidate(SERIAL, stale)
    assert TokenCache(path).get(SERIAL) == current


async def test_cache_write_failure_still_returns_the_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    token = token_at()
    source = CachedTokenSource(ScriptedSource(token), blocker / "tokens.json", clock=Clock())
    with caplog.at_level(logging.WARNING):
        assert await source.get(SERIAL) == token
        await source.invalidate(SERIAL, token)
    assert "cannot read" in caplog.text
    assert "cannot save" in caplog.text
    assert "cannot update" in caplog.text
