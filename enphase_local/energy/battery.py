"""Battery energy without a storage CT: charge and discharge integrated from power samples.

A sample is a moment, the batteries' power then (W, positive while discharging) and, when
known, the energy stored in them (Wh). Any source can feed it: the per-battery power of
``/ivp/ensemble/power`` summed, or live data's storage power. Between two samples no
further apart than a few typical intervals (:mod:`~enphase_local.energy.cadence`) the
charging and the discharging power are each integrated as a trapezoid (see
:func:`trapezoid`). A longer interval is a *gap*:
it is not integrated. When the stored energy is known at both ends, its change fills the
gap: a rise as charge, a fall as discharge, scaled by the charge and discharge efficiency
learnt from the integrated intervals. What charged and discharged again within the gap
cancels out and stays unknown.

The sums only grow, and :meth:`BatteryIntegrator.state` / :meth:`BatteryIntegrator.restore`
carry them (and what was learnt) across restarts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

from enphase_local.energy.cadence import Cadence

#: How much energy must have been integrated before an efficiency learnt from it is used, Wh.
LEARN_MIN_WH: Final = 200.0
#: Learnt efficiencies outside these bounds are taken as these bounds.
EFFICIENCY_BOUNDS: Final = (0.5, 1.5)

#: The keys of :meth:`BatteryIntegrator.state`.
_STATE_KEYS: Final = (
    "at_s",
    "power_w",
    "stored_wh",
    "interval_s",
    "learnt_charge_wh",
    "learnt_stored_in_wh",
    "learnt_discharge_wh",
    "learnt_stored_out_wh",
)


@attrs.frozen(kw_only=True)
class Sample:
    """The batteries at one moment."""

    #: Unix seconds.
    at: float
    #: Power, W: positive while discharging, negative while charging.
    power_w: float
    #: Energy stored, Wh; None when the source does not say.
    stored_wh: float | None = None


@attrs.frozen(kw_only=True)
class Step:
    """What one sample added."""

    #: Energy charged since the previous sample, Wh.
    charge_wh: float
    #: Energy discharged since the previous sample, Wh.
    discharge_wh: float
    #: The interval's length when it was a gap, seconds; None when it was integrated.
    gap_s: float | None = None
    #: Whether the gap was filled from the change of the stored energy.
    filled: bool = False


def trapezoid(first_w: float, second_w: float, seconds: float) -> tuple[float, float]:
    """(charge Wh, discharge Wh) between two samples: the trapezoid of the charging power and
    that of the discharging power.

    Where both samples go the same way this is the trapezoid of the power itself. Where the
    batteries turned round in between, each side keeps its half of the interval: they turn
    in a step (following a kettle or a cloud), and a straight line through zero would take
    a triangle off both charge and discharge at every turn, always too little.
    """
    hours = seconds / 3600.0
    charge = (max(-first_w, 0.0) + max(-second_w, 0.0)) / 2 * hours
    discharge = (max(first_w, 0.0) + max(second_w, 0.0)) / 2 * hours
    return charge, discharge


def _bounded(value: float) -> float:
    low, high = EFFICIENCY_BOUNDS
    return min(max(value, low), high)


class BatteryIntegrator:
    """Charge and discharge energy of one site's batteries, from power samples."""

    def __init__(self) -> None:
        #: Energy charged so far, Wh.
        self.charge_wh = 0.0
        #: Energy discharged so far, Wh.
        self.discharge_wh = 0.0
        self._last: Sample | None = None
        self._cadence = Cadence()
        self._learnt_charge_wh = self._learnt_stored_in_wh = 0.0
        self._learnt_discharge_wh = self._learnt_stored_out_wh = 0.0

    def __repr__(self) -> str:
        return (
            f"BatteryIntegrator(charge={self.charge_wh:.1f} Wh, "
            f"discharge={self.discharge_wh:.1f} Wh)"
        )

    @property
    def charge_efficiency(self) -> float:
        """Stored energy gained per Wh charged, as learnt (1 until enough was seen)."""
        if self._learnt_charge_wh < LEARN_MIN_WH:
            return 1.0
        return _bounded(self._learnt_stored_in_wh / self._learnt_charge_wh)

    @property
    def discharge_ratio(self) -> float:
        """Wh discharged per Wh of stored energy spent, as learnt (1 until enough was seen)."""
        if self._learnt_stored_out_wh < LEARN_MIN_WH:
            return 1.0
        return _bounded(self._learnt_discharge_wh / self._learnt_stored_out_wh)

    def add(self, sample: Sample) -> Step | None:
        """Take a sample; None when it is not newer than the last one (nothing to add)."""
        last = self._last
        if last is not None and sample.at <= last.at:
            return None
        self._last = sample
        if last is None:
            return Step(charge_wh=0.0, discharge_wh=0.0)
        seconds = sample.at - last.at
        if self._cadence.observe(seconds):
            return self._gap(last, sample, seconds)
        charge, discharge = trapezoid(last.power_w, sample.power_w, seconds)
        self._learn(last, sample, charge, discharge)
        return self._count(charge, discharge)

    def _count(
        self, charge: float, discharge: float, *, gap_s: float | None = None, filled: bool = False
    ) -> Step:
        self.charge_wh += charge
        self.discharge_wh += discharge
        return Step(charge_wh=charge, discharge_wh=discharge, gap_s=gap_s, filled=filled)

    def _learn(self, last: Sample, sample: Sample, charge: float, discharge: float) -> None:
        if last.stored_wh is None or sample.stored_wh is None:
            return
        change = sample.stored_wh - last.stored_wh
        if charge > 0 and discharge == 0:
            self._learnt_charge_wh += charge
            self._learnt_stored_in_wh += change
        elif discharge > 0 and charge == 0:
            self._learnt_discharge_wh += discharge
            self._learnt_stored_out_wh -= change

    def _gap(self, last: Sample, sample: Sample, seconds: float) -> Step:
        if last.stored_wh is None or sample.stored_wh is None:
            return self._count(0.0, 0.0, gap_s=seconds)
        change = sample.stored_wh - last.stored_wh
        if change >= 0:
            return self._count(change / self.charge_efficiency, 0.0, gap_s=seconds, filled=True)
        return self._count(0.0, -change * self.discharge_ratio, gap_s=seconds, filled=True)

    def state(self) -> dict[str, float]:
        """What a restarted integrator needs to go on (see :meth:`restore`)."""
        values = {
            "interval_s": self._cadence.typical_s if self._cadence.known else None,
            "learnt_charge_wh": self._learnt_charge_wh,
            "learnt_stored_in_wh": self._learnt_stored_in_wh,
            "learnt_discharge_wh": self._learnt_discharge_wh,
            "learnt_stored_out_wh": self._learnt_stored_out_wh,
        }
        if self._last is not None:
            values |= {
                "at_s": self._last.at,
                "power_w": self._last.power_w,
                "stored_wh": self._last.stored_wh,
            }
        return {key: value for key, value in values.items() if value is not None}

    def restore(self, charge_wh: float, discharge_wh: float, state: Mapping[str, float]) -> None:
        """Go on from sums and a :meth:`state` saved by an earlier run."""
        self.charge_wh, self.discharge_wh = charge_wh, discharge_wh
        known = {key: state[key] for key in _STATE_KEYS if key in state}
        if "at_s" in known and "power_w" in known:
            self._last = Sample(
                at=known["at_s"], power_w=known["power_w"], stored_wh=known.get("stored_wh")
            )
        if "interval_s" in known:
            self._cadence.seed(known["interval_s"])
        self._learnt_charge_wh = known.get("learnt_charge_wh", 0.0)
        self._learnt_stored_in_wh = known.get("learnt_stored_in_wh", 0.0)
        self._learnt_discharge_wh = known.get("learnt_discharge_wh", 0.0)
        self._learnt_stored_out_wh = known.get("learnt_stored_out_wh", 0.0)
