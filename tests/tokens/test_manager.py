"""TokenManager: single flight, refresh-ahead margins, candidate/commit, outages, rejection."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from enphase_local.auth.manager import TokenManager
from enphase_local.auth.sources import CachedTokenSource, CloudTokenSource, StaticTokenSource
from enphase_local.auth.token import RefreshMargin, Token
from enphase_local.errors import (
    AuthenticationError,
    CloudLoginError,
    CloudUnavailableError,
    GatewayConnectionError,
    TokenExpiredError,
    TokenRejectedError,
    TokenSerialMismatchError,
)
from enphase_local.simulator import FakeCloud
from enphase_local.simulator.cloud import CloudStats
from tests.tokens.fakes import Clock, ScriptedSource
from tests.tokens.jwt import SERIAL, T0, make_jwt
from tests.tokens.simcloud import client

HOUR = timedelta(hours=1)
YEAR = timedelta(days=365)


def installer(issued: timedelta = timedelta(0)) -> Token:
    """A 12-hour installer token issued ``issued`` after T0."""
    return Token.parse(make_jwt(role="installer", issued_at=T0 + issued, lifetime=12 * HOUR))


def owner(issued: timedelta = timedelta(0)) -> Token:
    """A 365-day owner token issued ``issued`` after T0."""
    return Token.parse(make_jwt(issued_at=T0 + issued, lifetime=YEAR))


def manager(source: ScriptedSource, clock: Clock, **kwargs: object) -> TokenManager:
    return TokenManager(source, SERIAL, clock=clock, **kwargs)  # type: ignore[arg-type] # options as given


async def started(source: ScriptedSource, clock: Clock) -> TokenManager:
    """A manager that already holds the source's first token."""
    tokens = manager(source, clock)
    await tokens.current()
    return tokens


# --- basics -------------------------------------------------------------------------------


async def test_first_current_fetches_then_reuses() -> None:
    token = installer()
    source = ScriptedSource(token)
    tokens = manager(source, Clock())
    assert tokens.token is None
    assert tokens.needs_refresh()
    assert await tokens.current() == token
    assert await tokens.current() == token
    assert source.calls == [SERIAL]
    assert tokens.token == token
    assert not tokens.needs_refresh()


async def test_repr_never_shows_the_token() -> None:
    token = installer()
    tokens = await started(ScriptedSource(token), Clock())
    assert token.secret() not in repr(tokens)
    assert token.fingerprint in repr(tokens)


async def test_serial_can_be_set_once() -> None:
    token = installer()
    tokens = TokenManager(ScriptedSource(token), clock=Clock())
    with pytest.raises(AuthenticationError, match="serial"):
        await tokens.current()
    tokens.serial = SERIAL
    tokens.serial = SERIAL
    assert await tokens.current() == token
    with pytest.raises(TokenSerialMismatchError, match=SERIAL):
        tokens.serial = "000000000000"


# --- single flight ------------------------------------------------------------------------


async def test_hundred_concurrent_refreshes_make_one_source_call() -> None:
    clock = Clock()
    old, new = installer(), installer(11 * HOUR)
    source = ScriptedSource(old, new)
    tokens = await started(source, clock)
    clock.advance(11 * HOUR)
    source.gate = asyncio.Event()
    validated: list[Token] = []

    async def validate(token: Token) -> None:
        validated.append(token)

    callers = [asyncio.create_task(tokens.refresh(validate)) for _ in range(100)]
    await asyncio.sleep(0)
    assert tokens.token == old  # the old token stays in use while the refresh runs
    source.gate.set()
    results = await asyncio.gather(*callers)
    assert set(results) == {new}
    assert source.calls == [SERIAL, SERIAL]
    assert validated == [new]
    assert tokens.token == new


async def test_hundred_concurrent_first_calls_make_one_source_call() -> None:
    token = owner()
    source = ScriptedSource(token)
    source.gate = asyncio.Event()
    tokens = manager(source, Clock())
    callers = [asyncio.create_task(tokens.current()) for _ in range(100)]
    await asyncio.sleep(0)
    source.gate.set()
    assert set(await asyncio.gather(*callers)) == {token}
    assert source.calls == [SERIAL]


async def test_a_cancelled_caller_does_not_cancel_the_shared_refresh() -> None:
    token = owner()
    source = ScriptedSource(token)
    source.gate = asyncio.Event()
    tokens = manager(source, Clock())
    impatient = asyncio.create_task(tokens.current())
    patient = asyncio.create_task(tokens.current())
    await asyncio.sleep(0)
    impatient.cancel()
    source.gate.set()
    assert await patient == token
    assert impatient.cancelled()
    assert source.calls == [SERIAL]


async def test_later_callers_start_a_new_flight() -> None:
    clock = Clock()
    first, second, third = installer(), installer(HOUR), installer(2 * HOUR)
    source = ScriptedSource(first, second, third)
    tokens = await started(source, clock)
    assert await tokens.refresh() == second
    assert await tokens.refresh() == third
    assert len(source.calls) == 3


# --- refresh-ahead margins ----------------------------------------------------------------


async def test_installer_token_is_refreshed_72_minutes_before_expiry() -> None:
    clock = Clock()
    tokens = await started(ScriptedSource(installer()), clock)
    clock.advance(timedelta(hours=10, minutes=47, seconds=59))
    assert not tokens.needs_refresh()
    clock.advance(timedelta(seconds=1))
    assert tokens.needs_refresh()
    assert tokens.needs_refresh(T0 + 12 * HOUR)


async def test_owner_token_is_refreshed_weeks_before_expiry() -> None:
    clock = Clock()
    tokens = await started(ScriptedSource(owner()), clock)
    due = T0 + YEAR - timedelta(days=36, hours=12)
    assert not tokens.needs_refresh(due - timedelta(seconds=1))
    assert tokens.needs_refresh(due)
    assert tokens.refresh_margin.for_token(owner()) == timedelta(days=36.5)


async def test_fixed_margin() -> None:
    clock = Clock()
    tokens = TokenManager(ScriptedSource(owner()), SERIAL, refresh_margin=2 * HOUR, clock=clock)
    await tokens.current()
    assert tokens.refresh_margin == RefreshMargin(fraction=0.0, minimum=2 * HOUR)
    assert not tokens.needs_refresh(T0 + YEAR - 2 * HOUR - timedelta(seconds=1))
    assert tokens.needs_refresh(T0 + YEAR - 2 * HOUR)


async def test_refresh_ahead_replaces_the_token_before_it_expires() -> None:
    clock = Clock()
    old, new = installer(), installer(11 * HOUR)
    source = ScriptedSource(old, new)
    tokens = await started(source, clock)
    clock.advance(11 * HOUR)
    assert tokens.needs_refresh()
    assert await tokens.current() == old  # current() never waits for a refresh-ahead
    task = tokens.refresh_in_background()
    assert task is not None
    assert tokens.refresh_in_background() is task
    assert await task == new
    assert await tokens.current() == new
    assert tokens.refresh_in_background() is None


async def test_steady_token_until_the_refresh_margin() -> None:
    clock = Clock()
    tokens = manager(ScriptedSource(installer()), clock)
    assert tokens.steady_token() is None  # nothing held yet
    token = await tokens.current()
    assert tokens.steady_token() is token
    due = T0 + 12 * HOUR - timedelta(minutes=72)
    assert tokens.steady_token(due - timedelta(seconds=1)) is token
    assert tokens.steady_token(due) is None
    assert tokens.needs_refresh(due)


async def test_steady_token_ends_at_the_expiry_skew_for_a_short_token() -> None:
    # A 90 s token: its margin is half its life (45 s), less than the 60 s expiry skew.
    short = Token.parse(make_jwt(issued_at=T0, lifetime=timedelta(seconds=90)))
    clock = Clock()
    tokens = manager(ScriptedSource(short), clock)
    await tokens.current()
    assert tokens.steady_token(T0 + timedelta(seconds=29)) is short
    assert tokens.steady_token(T0 + timedelta(seconds=30)) is None
    assert short.is_expired(T0 + timedelta(seconds=30), timedelta(minutes=1))


async def test_steady_token_follows_commit_and_reject() -> None:
    clock = Clock()
    old, new = installer(), installer(11 * HOUR)
    tokens = await started(ScriptedSource(old, new), clock)
    clock.advance(11 * HOUR)
    assert tokens.steady_token() is None
    tokens.commit(await tokens.fetch_candidate())
    assert tokens.steady_token() is new
    await tokens.reject(new)
    assert tokens.steady_token() is None


# --- candidate / commit -------------------------------------------------------------------


async def test_candidate_is_not_used_until_committed() -> None:
    clock = Clock()
    old, new = installer(), installer(11 * HOUR)
    tokens = await started(ScriptedSource(old, new), clock)
    clock.advance(11 * HOUR)
    candidate = await tokens.fetch_candidate()
    assert candidate == new
    assert tokens.token == old
    assert await tokens.current() == old
    tokens.commit(candidate)
    assert tokens.token == new
    assert not tokens.needs_refresh()


async def test_candidate_refused_by_the_gateway_keeps_the_old_token() -> None:
    clock = Clock()
    old, bad, good = installer(), installer(11 * HOUR), installer(11 * HOUR + timedelta(seconds=1))
    source = ScriptedSource(old, bad, bad, good)
    tokens = await started(source, clock)
    clock.advance(11 * HOUR)

    async def gateway_check(token: Token) -> None:
        if token == bad:
            raise TokenRejectedError("401 from /auth/check_jwt")

    with pytest.raises(TokenRejectedError, match="check_jwt"):
        await tokens.refresh(gateway_check)
    assert tokens.token == old
    assert source.invalidated == [(SERIAL, bad)]
    assert not tokens.needs_refresh()  # resting
    clock.advance(HOUR / 2)
    assert tokens.needs_refresh()
    with pytest.raises(TokenRejectedError, match="refused"):
        await tokens.refresh(gateway_check)  # the source hands back the refused token
    assert tokens.token == old
    clock.advance(HOUR / 2)
    assert await tokens.refresh(gateway_check) == good
    assert tokens.token == good


async def test_validation_that_cannot_reach_the_gateway_keeps_the_old_token() -> None:
    clock = Clock()
    old, new = installer(), installer(11 * HOUR)
    source = ScriptedSource(old, new)
    tokens = await started(source, clock)
    clock.advance(11 * HOUR)

    async def unreachable(token: Token) -> None:
        raise GatewayConnectionError("gateway unreachable")

    with pytest.raises(GatewayConnectionError):
        await tokens.refresh(unreachable)
    assert tokens.token == old
    assert source.invalidated == []
    assert isinstance(tokens.last_error, GatewayConnectionError)


async def test_reject_drops_the_current_token_and_allows_an_immediate_fetch() -> None:
    clock = Clock()
    revoked, replacement = owner(), owner(HOUR)
    source = ScriptedSource(revoked, replacement)
    tokens = await started(source, clock)
    await tokens.reject(revoked)
    assert tokens.token is None
    assert source.invalidated == [(SERIAL, revoked)]
    assert tokens.needs_refresh()
    assert await tokens.current() == replacement


async def test_many_requests_rejecting_the_same_token_cause_one_fetch() -> None:
    clock = Clock()
    revoked, replacement, spare = owner(), owner(HOUR), owner(2 * HOUR)
    source = ScriptedSource(revoked, replacement, spare)
    tokens = await started(source, clock)
    source.gate = asyncio.Event()
    early = [asyncio.create_task(tokens.replace(revoked)) for _ in range(50)]
    await asyncio.sleep(0)
    source.gate.set()
    results = await asyncio.gather(*early)
    # Requests whose 401 arrives after the replacement is in use share it too.
    results += await asyncio.gather(*(tokens.replace(revoked) for _ in range(50)))
    assert set(results) == {replacement}
    assert source.invalidated == [(SERIAL, revoked)]
    assert len(source.calls) == 2
    assert tokens.last_error is None


async def test_replace_validates_the_new_token() -> None:
    clock = Clock()
    revoked, replacement = owner(), owner(HOUR)
    tokens = await started(ScriptedSource(revoked, replacement), clock)
    checked: list[Token] = []

    async def check(token: Token) -> None:
        checked.append(token)

    assert await tokens.replace(revoked, check) == replacement
    assert checked == [replacement]


async def test_reject_with_a_source_that_has_nothing_else() -> None:
    clock = Clock()
    token = owner()
    tokens = TokenManager(StaticTokenSource(token), SERIAL, clock=clock)
    await tokens.current()
    await tokens.reject(token)
    with pytest.raises(TokenRejectedError, match="refused"):
        await tokens.current()
    with pytest.raises(AuthenticationError, match="no new token"):
        await tokens.current()  # resting: fails fast


async def test_rejected_candidate_counts_as_a_failure() -> None:
    clock = Clock()
    old, new = installer(), installer(11 * HOUR)
    tokens = await started(ScriptedSource(old, new), clock)
    clock.advance(11 * HOUR)
    candidate = await tokens.fetch_candidate()
    await tokens.reject(candidate)
    assert tokens.token == old
    assert isinstance(tokens.last_error, TokenRejectedError)
    assert not tokens.needs_refresh()


# --- outages ------------------------------------------------------------------------------


async def test_outage_keeps_the_old_token_while_it_is_valid() -> None:
    clock = Clock()
    old, new = installer(), installer(11 * HOUR + 30 * timedelta(minutes=1))
    outage = CloudUnavailableError("Entrez answered HTTP 503 (3 attempts)")
    source = ScriptedSource(old, outage, outage, new)
    tokens = await started(source, clock)
    clock.advance(11 * HOUR)
    with pytest.raises(CloudUnavailableError, match="503"):
        await tokens.refresh()
    assert tokens.token == old
    assert await tokens.current() == old
    assert tokens.last_error is outage
    assert tokens.retry_at is not None
    assert (
        T0 + 11 * HOUR + timedelta(seconds=30)
        <= tokens.retry_at
        <= T0 + 11 * HOUR + timedelta(minutes=1)
    )
    assert not tokens.needs_refresh()
    with pytest.raises(AuthenticationError, match="no new token"):
        await tokens.refresh()  # resting: the source is not asked
    assert len(source.calls) == 2
    clock.advance(timedelta(minutes=1))
    with pytest.raises(CloudUnavailableError):
        await tokens.refresh()
    clock.advance(timedelta(minutes=2))
    assert await tokens.refresh() == new
    assert tokens.last_error is None
    assert tokens.retry_at is None


async def test_outage_after_expiry_raises_token_expired_chained_to_the_cause() -> None:
    clock = Clock()
    old = installer()
    outage = CloudUnavailableError("Enlighten login could not connect (3 attempts)")
    source = ScriptedSource(old, outage)
    tokens = await started(source, clock)
    clock.advance(12 * HOUR)
    with pytest.raises(TokenExpiredError, match="expired at") as caught:
        await tokens.current()
    assert caught.value.__cause__ is outage
    assert "could not connect" in str(caught.value)
    assert old.secret() not in str(caught.value)
    calls = len(source.calls)
    with pytest.raises(TokenExpiredError, match="next attempt") as again:
        await tokens.current()  # resting: fails fast, no source call
    assert again.value.__cause__ is outage
    assert len(source.calls) == calls


async def test_first_fetch_failure_raises_the_source_error() -> None:
    clock = Clock()
    source = ScriptedSource(CloudLoginError("Enlighten refused the username or password"))
    tokens = manager(source, clock)
    with pytest.raises(CloudLoginError):
        await tokens.current()
    with pytest.raises(AuthenticationError, match="username or password") as caught:
        await tokens.current()
    assert isinstance(caught.value.__cause__, CloudLoginError)
    assert source.calls == [SERIAL]


async def test_unexpected_exceptions_also_start_a_rest_period() -> None:
    clock = Clock()
    source = ScriptedSource(RuntimeError("bug in a user source"))
    tokens = manager(source, clock)
    with pytest.raises(RuntimeError):
        await tokens.current()
    assert not tokens.needs_refresh()


async def test_failures_back_off_doubling_up_to_the_cap() -> None:
    clock = Clock()
    source = ScriptedSource(CloudUnavailableError("down"))
    tokens = manager(source, clock, retry_interval=timedelta(minutes=1))
    rests = []
    for _ in range(8):
        with pytest.raises(CloudUnavailableError):
            await tokens.refresh()
        assert tokens.retry_at is not None
        rests.append(tokens.retry_at - clock.now)
        clock.now = tokens.retry_at
    for count, rest in enumerate(rests):
        full = min(timedelta(minutes=2**count), timedelta(minutes=30))
        assert full / 2 <= rest <= full


async def test_source_with_nothing_newer_rests_without_error() -> None:
    clock = Clock()
    token = installer()
    source = ScriptedSource(token)
    tokens = await started(source, clock)
    clock.advance(11 * HOUR)
    assert await tokens.refresh() == token
    assert tokens.last_error is None
    assert not tokens.needs_refresh()
    assert len(source.calls) == 2


async def test_source_returning_an_expired_token() -> None:
    clock = Clock(T0 + 13 * HOUR)
    source = ScriptedSource(installer())
    tokens = manager(source, clock)
    with pytest.raises(TokenExpiredError, match="returned an expired"):
        await tokens.current()
    assert tokens.token is None


async def test_expiry_skew_counts_a_token_about_to_expire_as_expired() -> None:
    clock = Clock()
    old, new = installer(), installer(12 * HOUR)
    source = ScriptedSource(old, new)
    tokens = await started(source, clock)
    clock.advance(12 * HOUR - timedelta(seconds=30))
    assert await tokens.current() == new


# --- background refresh -------------------------------------------------------------------


async def test_background_failure_is_logged_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    old = installer()
    tokens = await started(ScriptedSource(old, CloudUnavailableError("cloud down")), clock)
    clock.advance(11 * HOUR)
    with caplog.at_level(logging.WARNING, logger="enphase_local.auth.manager"):
        task = tokens.refresh_in_background()
        assert task is not None
        await asyncio.gather(task, return_exceptions=True)
    assert "cloud down" in caplog.text
    assert "still using" in caplog.text
    assert old.secret() not in caplog.text
    assert tokens.refresh_in_background() is None  # resting


async def test_background_failure_after_expiry_is_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    tokens = await started(ScriptedSource(installer(), CloudUnavailableError("down")), clock)
    clock.advance(13 * HOUR)
    with caplog.at_level(logging.ERROR, logger="enphase_local.auth.manager"):
        task = tokens.refresh_in_background()
        assert task is not None
        await asyncio.gather(task, return_exceptions=True)
    assert "token refresh for" in caplog.text
    assert caplog.records[-1].levelno == logging.ERROR


async def test_close_cancels_a_running_refresh() -> None:
    clock = Clock()
    source = ScriptedSource(installer())
    source.gate = asyncio.Event()
    tokens = manager(source, clock)
    task = tokens.refresh_in_background()
    assert task is not None
    await asyncio.sleep(0)
    await tokens.close()
    assert task.cancelled()
    assert tokens.token is None


# --- with the real sources against the fake cloud -----------------------------------------


def cloud_backed(cloud: FakeCloud, cache: Path, clock: Clock) -> TokenManager:
    source = CachedTokenSource(CloudTokenSource(client(cloud)), cache, clock=clock)
    return TokenManager(source, SERIAL, clock=clock)


async def test_cloud_cache_and_manager_together(sim_cloud: FakeCloud, tmp_path: Path) -> None:
    cache = tmp_path / "tokens.json"
    clock = Clock()
    tokens = cloud_backed(sim_cloud, cache, clock)
    clock.now = (await tokens.current()).issued_at or T0
    results = await asyncio.gather(*(tokens.current() for _ in range(100)))
    assert len(set(results)) == 1
    assert sim_cloud.stats == CloudStats(logins=1, tokens=1)

    restarted = cloud_backed(sim_cloud, cache, clock)
    assert await restarted.current() == results[0]
    assert sim_cloud.stats.logins == 1  # the restart found the token in the cache

    sim_cloud.outage = True
    clock.advance(YEAR - timedelta(days=30))
    with pytest.raises(CloudUnavailableError):
        await restarted.refresh()
    assert await restarted.current() == results[0]

    clock.advance(timedelta(hours=1))
    sim_cloud.outage = False
    renewed = await restarted.refresh()
    assert renewed != results[0]
    assert renewed.serial == SERIAL
    assert sim_cloud.stats == CloudStats(logins=2, tokens=2)
