"""The counter guard: what stands between a gateway's energy counter and everything built on it.

Gateways' counters misbehave: one reading drops to zero and the next is back, a counter
restarts from zero after a reboot or a firmware update and stays there, one bad reading jumps
by megawatt-hours. A guard per counter turns its readings into energy to count:

- a rise the site could physically make in the time elapsed (its rated power times that
  time, with :data:`MARGIN`) is counted;
- a drop is *held*: nothing is counted or published until it is confirmed as a reset, by
  :data:`CONFIRM_READINGS` consistent readings below the last accepted value, or at once when
  the gateway restarted (a reboot or new firmware seen in ``/info`` or the live data). A drop
  that comes back is *transient* and leaves no trace;
- a larger rise is a *spike*: rejected (and logged once, with its value). Should the counter
  stay up there for as many consistent readings, it has been re-based (a meter replaced):
  counting goes on from the new value, without the jump.

After a confirmed reset the energy since the restart is counted from zero when that is
physically possible, otherwise only the growth seen since the drop.
"""

from __future__ import annotations

import logging
from typing import Final

import attrs

from enphase_local.events import CounterDecision

_LOGGER = logging.getLogger(__name__)

#: How many consistent readings confirm a drop as a reset (or a jump as a re-base).
CONFIRM_READINGS: Final = 3
#: How much more than the rated power a counter may gain before the rise is a spike.
MARGIN: Final = 1.5
#: Rounding of the registers (whole Wh on some endpoints), Wh.
SLACK_WH: Final = 2.0

#: A reading: (Unix seconds, value in Wh).
Reading = tuple[float, float]


def allowance_wh(limit_w: float, seconds: float, batch_s: float = 0.0) -> float:
    """The most a counter may gain in ``seconds`` at ``limit_w`` (margin and rounding
    included), when it may report energy in chunks of up to ``batch_s`` seconds."""
    return limit_w * (max(seconds, 0.0) + batch_s) / 3600.0 * MARGIN + SLACK_WH


@attrs.frozen
class Verdict:
    """What one reading is worth."""

    #: Energy to count from this reading, Wh (0 while held or rejected).
    delta_wh: float
    #: What was decided, when the reading was not simply accepted.
    decision: CounterDecision | None = None
    #: Why, in a few words (empty when simply accepted).
    reason: str = ""


class CounterGuard:
    """Guards one counter. ``label`` names it in the log (gateway and counter);
    ``batch_s`` is how much energy, in seconds of production, it may report at once
    (the 5-minute data report in chunks of up to 300 s); ``daily`` counters (today, last
    seven days) reset every day, so their resets are logged as information, not warnings."""

    def __init__(
        self,
        label: str,
        *,
        batch_s: float = 0.0,
        daily: bool = False,
        confirm: int = CONFIRM_READINGS,
    ) -> None:
        self.label = label
        self._batch_s = batch_s
        self._reset_level = logging.INFO if daily else logging.WARNING
        self._confirm = confirm
        self._anchor: Reading | None = None
        self._held: list[Reading] = []
        self._rejected: list[Reading] = []
        self._spiking = False  # rejecting since the last accepted reading (logged once)
        self._restarted = False

    def __repr__(self) -> str:
        return f"CounterGuard({self.label}, accepted={self._anchor})"

    @property
    def value(self) -> float | None:
        """The last accepted value, Wh (None before the first reading)."""
        return None if self._anchor is None else self._anchor[1]

    def restore(self, at: float, value: float) -> None:
        """Go on from a value accepted earlier (by a previous run)."""
        self._anchor = (at, value)

    def note_restart(self) -> None:
        """The gateway restarted: a drop in the next reading is a reset, held or not."""
        self._restarted = True

    def update(self, at: float, value: float, limit_w: float) -> Verdict:
        """Judge a reading taken at ``at`` (Unix seconds); ``limit_w`` is the site's rating
        for this counter."""
        if self._anchor is None:
            self._accept(at, value)
            return Verdict(0.0)
        if value < self._anchor[1]:
            return self._drop(at, value, limit_w)
        came_back = bool(self._held)
        self._held.clear()
        verdict = self._rise(at, value, limit_w)
        if came_back and verdict.decision is None:
            return attrs.evolve(
                verdict,
                decision=CounterDecision.TRANSIENT,
                reason="the drop came back: nothing was published",
            )
        return verdict

    def _plausible(self, before: Reading, after: Reading, limit_w: float) -> bool:
        rise = after[1] - before[1]
        return 0 <= rise <= allowance_wh(limit_w, after[0] - before[0], self._batch_s)

    def _accept(self, at: float, value: float) -> None:
        self._anchor = (at, value)
        self._restarted = self._spiking = False

    def _rise(self, at: float, value: float, limit_w: float) -> Verdict:
        assert self._anchor is not None
        start, accepted = self._anchor
        if self._plausible(self._anchor, (at, value), limit_w):
            self._accept(at, value)
            self._rejected.clear()
            return Verdict(value - accepted)
        if self._rejected and not self._plausible(self._rejected[-1], (at, value), limit_w):
            self._rejected.clear()
        self._rejected.append((at, value))
        if len(self._rejected) >= self._confirm:
            grown = value - self._rejected[0][1]
            self._accept(at, value)
            self._rejected.clear()
            reason = f"jumped from {accepted:.0f} to {value:.0f} Wh and stayed: re-based"
            _LOGGER.warning("%s %s", self.label, reason)
            return Verdict(grown, CounterDecision.RESET, reason)
        limit = limit_w * MARGIN
        reason = (
            f"rose from {accepted:.0f} to {value:.0f} Wh in {at - start:.0f} s, more than "
            f"{limit:.0f} W can make: rejected"
        )
        if not self._spiking:
            self._spiking = True
            _LOGGER.warning("%s %s", self.label, reason)
        return Verdict(0.0, CounterDecision.SPIKE, reason)

    def _drop(self, at: float, value: float, limit_w: float) -> Verdict:
        assert self._anchor is not None
        self._rejected.clear()
        if self._held and not self._plausible(self._held[-1], (at, value), limit_w):
            self._held.clear()
        self._held.append((at, value))
        if self._restarted or len(self._held) >= self._confirm:
            return self._reset(at, value, limit_w)
        return Verdict(
            0.0,
            CounterDecision.HELD,
            f"dropped from {self._anchor[1]:.0f} to {value:.0f} Wh: held until confirmed",
        )

    def _reset(self, at: float, value: float, limit_w: float) -> Verdict:
        assert self._anchor is not None
        start, accepted = self._anchor
        why = "after a restart" if self._restarted else f"for {len(self._held)} readings"
        from_zero = self._plausible((start, 0.0), (at, value), limit_w)
        delta = value if from_zero else value - self._held[0][1]
        self._accept(at, value)
        self._held.clear()
        reason = f"dropped from {accepted:.0f} to {value:.0f} Wh {why}: reset, counted from " + (
            "zero" if from_zero else "the drop"
        )
        _LOGGER.log(self._reset_level, "%s %s", self.label, reason)
        return Verdict(delta, CounterDecision.RESET, reason)
