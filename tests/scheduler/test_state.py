"""The gateway state machine and its backoff, step by step."""

from __future__ import annotations

import math
import random

import pytest

from enphase_local.events import GatewayState
from enphase_local.scheduler import BackoffPolicy
from enphase_local.scheduler.state import GatewayHealth


def health(**policy: float) -> GatewayHealth:
    return GatewayHealth(BackoffPolicy(**policy), random.Random(5))  # type: ignore[arg-type]  # test values


def test_first_success_goes_online() -> None:
    state = health()
    change = state.success()
    assert change is not None
    assert (change.previous, change.state) == (GatewayState.STARTING, GatewayState.ONLINE)
    assert state.success() is None


def test_failures_degrade_then_back_off() -> None:
    state = health(backoff_after=3, base_s=10, jitter=0)
    state.success()
    first = state.failure(100.0, "504")
    assert first is not None
    assert first.state is GatewayState.DEGRADED
    assert not state.paused(100.0)
    assert state.failure(101.0, "504") is None  # still degraded
    change = state.failure(102.0, "504")
    assert change is not None
    assert change.state is GatewayState.BACKING_OFF
    assert state.resume_at == 112.0
    assert state.paused(111.9)
    assert not state.paused(112.0)


def test_starting_gateway_that_fails_backs_off_at_once() -> None:
    state = health()
    change = state.failure(0.0, "refused")
    assert change is not None
    assert change.state is GatewayState.BACKING_OFF


def test_pauses_double_with_jitter_up_to_the_ceiling() -> None:
    policy = BackoffPolicy(base_s=10, factor=2, ceiling_s=100, jitter=0.2)
    rng = random.Random(11)
    pauses = [policy.pause(level, rng) for level in range(1, 9)]
    for level, pause in enumerate(pauses, start=1):
        nominal = min(100, 10 * 2 ** (level - 1))
        assert nominal * 0.8 <= pause <= nominal * 1.2
    assert len({round(p, 6) for p in pauses[-4:]}) == 4  # jittered, not in step
    assert policy.pause(10_000, rng) <= 120  # no overflow far past the ceiling


def test_failing_for_long_is_unreachable() -> None:
    state = health(unreachable_after_s=60, ceiling_s=30, jitter=0)
    now = 0.0
    seen = []
    while now < 200:
        change = state.failure(now, "timeout")
        if change is not None:
            seen.append(change.state)
        now = max(now + 1, state.resume_at)
    assert seen == [GatewayState.BACKING_OFF, GatewayState.UNREACHABLE]
    assert state.resume_at - now <= 30


def test_auth_failure_and_recovery() -> None:
    state = health(auth_retry_s=600, jitter=0)
    state.success()
    change = state.auth_failure(10.0, "token refused")
    assert change is not None
    assert change.state is GatewayState.AUTH_FAILED
    assert state.resume_at == 610.0
    back = state.success()
    assert back is not None
    assert (back.previous, back.state) == (GatewayState.AUTH_FAILED, GatewayState.ONLINE)
    assert state.resume_at == -math.inf


def test_degraded_needs_successes_in_a_row_to_be_online() -> None:
    state = health(recover_after=3)
    state.success()
    state.failure(0.0, "bad body")
    assert state.success() is None
    assert state.success() is None
    change = state.success()
    assert change is not None
    assert change.state is GatewayState.ONLINE


def test_backing_off_gateway_is_online_at_the_first_success() -> None:
    state = health(backoff_after=1)
    state.success()
    state.failure(0.0, "refused")
    assert state.state is GatewayState.BACKING_OFF
    change = state.success()
    assert change is not None
    assert change.state is GatewayState.ONLINE


def test_policy_is_checked() -> None:
    with pytest.raises(ValueError, match="jitter"):
        BackoffPolicy(jitter=1.0)
    with pytest.raises(ValueError, match="backoff_after"):
        BackoffPolicy(backoff_after=0)
