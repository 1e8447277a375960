"""Per-gateway health: the state machine and its jittered exponential backoff.

::

    STARTING ──success──▶ ONLINE ──failure──▶ DEGRADED ──N failures in a row──▶ BACKING_OFF
       │                    ▲                    │                                 │
       └──failure───────────┼────────────────────┼──────────▶ BACKING_OFF ◀───────┘
                            │                    │            (pauses grow by `factor` up to
                            │   success          │             the ceiling, jittered)
                            └────────────────────┘                 │ failing for long
    any ──token refused──▶ AUTH_FAILED (retried slowly)            ▼
    any ──success──▶ ONLINE                                   UNREACHABLE (retried at the
                                                              ceiling)

While ``DEGRADED`` polls go on as planned; from ``BACKING_OFF`` on they pause until
:attr:`GatewayHealth.resume_at`. From ``DEGRADED`` it takes :attr:`BackoffPolicy.recover_after`
successes in a row to be ``ONLINE`` again, so one flaky endpoint does not flap the state at
every poll. An endpoint the gateway does not serve is neither a success nor a failure.
"""

from __future__ import annotations

import math
import random

import attrs

from enphase_local.events import GatewayState

#: States in which polls are paused until ``resume_at``.
PAUSED_STATES = frozenset(
    {GatewayState.BACKING_OFF, GatewayState.AUTH_FAILED, GatewayState.UNREACHABLE}
)


@attrs.frozen(kw_only=True)
class BackoffPolicy:
    """How a poller reacts to a failing gateway (seconds of the poller's clock)."""

    #: Failed polls in a row after which polls pause (before that: ``DEGRADED``).
    backoff_after: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    #: Successful polls in a row that take a ``DEGRADED`` gateway back to ``ONLINE``.
    recover_after: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    #: First pause.
    base_s: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))
    #: Each further failure multiplies the pause by this.
    factor: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    #: Longest pause.
    ceiling_s: float = attrs.field(default=300.0, validator=attrs.validators.gt(0))
    #: Each pause is drawn from ``pause * (1 ± jitter)`` so gateways do not retry in step.
    jitter: float = attrs.field(
        default=0.25, validator=[attrs.validators.ge(0), attrs.validators.lt(1)]
    )
    #: Failing for this long makes a gateway ``UNREACHABLE``.
    unreachable_after_s: float = attrs.field(default=900.0, validator=attrs.validators.gt(0))
    #: Pause after the gateway refused the token and the token source had no better one.
    auth_retry_s: float = attrs.field(default=600.0, validator=attrs.validators.gt(0))

    def pause(self, level: int, rng: random.Random) -> float:
        """The jittered pause after the ``level``-th (1-based) failure that pauses."""
        exponent = min(level - 1, 64)  # far past any ceiling, and no float overflow
        return self.jittered(min(self.ceiling_s, self.base_s * self.factor**exponent), rng)

    def jittered(self, seconds: float, rng: random.Random) -> float:
        """``seconds`` spread by the jitter."""
        return seconds * rng.uniform(1 - self.jitter, 1 + self.jitter)


@attrs.frozen
class Transition:
    """A state change, for a :class:`~enphase_local.events.StateEvent`."""

    #: The state before.
    previous: GatewayState
    #: The state now.
    state: GatewayState
    #: Why, in a few words.
    reason: str


class GatewayHealth:
    """The state of one gateway, fed with the outcome of each poll."""

    __slots__ = (
        "_failing_since",
        "_level",
        "_policy",
        "_rng",
        "_streak",
        "_successes",
        "resume_at",
        "state",
    )

    def __init__(self, policy: BackoffPolicy, rng: random.Random) -> None:
        self._policy = policy
        self._rng = rng
        #: The current state.
        self.state = GatewayState.STARTING
        #: Polls wait until this time of the poller's clock (-inf: no pause).
        self.resume_at = -math.inf
        self._streak = 0
        self._successes = 0
        self._level = 0
        self._failing_since: float | None = None

    def __repr__(self) -> str:
        return f"GatewayHealth(state={self.state.value}, resume_at={self.resume_at})"

    def paused(self, now: float) -> bool:
        """Whether polls must wait (until :attr:`resume_at`)."""
        return now < self.resume_at

    def success(self) -> Transition | None:
        """A poll succeeded."""
        self._streak = 0
        self._level = 0
        self._failing_since = None
        self.resume_at = -math.inf
        self._successes += 1
        previous = self.state
        if previous is GatewayState.ONLINE:
            return None
        if previous is GatewayState.DEGRADED and self._successes < self._policy.recover_after:
            return None
        reason = "first poll succeeded" if previous is GatewayState.STARTING else "answering again"
        return self._move(GatewayState.ONLINE, reason)

    def failure(self, now: float, reason: str) -> Transition | None:
        """A poll failed for want of a (good) answer: connection, timeout, 5xx, bad body."""
        self._streak += 1
        self._successes = 0
        if self._failing_since is None:
            self._failing_since = now
        state, policy = self.state, self._policy
        if state in (GatewayState.ONLINE, GatewayState.DEGRADED) and (
            self._streak < policy.backoff_after
        ):
            return self._move(GatewayState.DEGRADED, reason)
        self._level += 1
        if now - self._failing_since >= policy.unreachable_after_s:
            self.resume_at = now + policy.jittered(policy.ceiling_s, self._rng)
            return self._move(GatewayState.UNREACHABLE, reason)
        self.resume_at = now + policy.pause(self._level, self._rng)
        return self._move(GatewayState.BACKING_OFF, reason)

    def auth_failure(self, now: float, reason: str) -> Transition | None:
        """The gateway refused the token and the token source had no better one."""
        self._streak += 1
        self._successes = 0
        self.resume_at = now + self._policy.jittered(self._policy.auth_retry_s, self._rng)
        return self._move(GatewayState.AUTH_FAILED, reason)

    def _move(self, state: GatewayState, reason: str) -> Transition | None:
        previous = self.state
        if previous is state:
            return None
        self.state = state
        return Transition(previous, state, reason)
