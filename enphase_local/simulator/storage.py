"""How the batteries are told to run on grid: storage mode, reserve, charge from grid, and
the tariff's peak hours that the economy (savings) mode follows.

The tariff written to ``/admin/lib/tariff`` sets them; :class:`~enphase_local.simulator.physics.
Plant` asks :func:`battery_dispatch` what the batteries do at each instant:

- ``self-consumption``: discharge to cover the load, down to the reserve; charge from surplus.
- ``backup``: hold the charge (never discharge on grid); charge from surplus.
- ``economy`` (the API's *savings*): discharge like self-consumption during the tariff's peak
  hours only, hold otherwise; charge from surplus.
- ``charge_from_grid``: charge at full power from the grid up to the mode's target (the
  reserve in self-consumption, full in backup, full outside the peak hours in economy).

Off grid none of this applies: the batteries carry the site (:mod:`~enphase_local.simulator.
grid`).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence

import attrs

#: Share of capacity a battery keeps in reserve by default (``reserved_soc``), percent.
DEFAULT_RESERVE_PCT = 10
#: The simulator's default tariff day, as ``periods`` of a season's day: (start minute, rate
#: relative to the base rate). The peak runs from 16:00 to 21:00.
DEFAULT_PERIODS: tuple[tuple[int, float], ...] = ((0, 1.0), (960, 2.0), (1260, 1.0))
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MINUTES_PER_DAY = 1440


class StorageMode(enum.StrEnum):
    """``storage_settings.mode`` of the tariff."""

    BACKUP = "backup"
    SELF_CONSUMPTION = "self-consumption"
    #: The API's and the app's *savings* mode.
    ECONOMY = "economy"


@attrs.frozen(kw_only=True)
class StorageSettings:
    """The tariff's ``storage_settings`` that drive the batteries."""

    #: The mode.
    mode: StorageMode = StorageMode.SELF_CONSUMPTION
    #: On grid the batteries discharge no further than this charge, percent.
    reserve_pct: float = DEFAULT_RESERVE_PCT
    #: Whether the batteries may charge from the grid.
    charge_from_grid: bool = False


@attrs.frozen
class _Season:
    start: tuple[int, int]  # (month, day)
    #: Per weekday (0 = Monday), the peak intervals in minutes of the day.
    peaks: Mapping[int, tuple[tuple[int, int], ...]]


def _peak_intervals(periods: Sequence[tuple[int, float]]) -> tuple[tuple[int, int], ...]:
    """The periods at the day's highest rate (none when every period costs the same)."""
    ordered = sorted(periods)
    rates = {rate for _, rate in ordered}
    if len(rates) < 2:
        return ()
    top = max(rates)
    ends = [start for start, _ in ordered[1:]] + [_MINUTES_PER_DAY]
    return tuple(
        (start, end)
        for (start, rate), end in zip(ordered, ends, strict=True)
        if rate == top and end > start
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _periods(day: Mapping[str, object]) -> list[tuple[int, float]]:
    periods = day.get("periods")
    found: list[tuple[int, float]] = []
    for period in periods if isinstance(periods, list) else []:
        if not isinstance(period, Mapping):
            continue
        start, rate = _number(period.get("start")), _number(period.get("rate"))
        if start is not None and rate is not None:
            found.append((int(start), rate))
    return found


def _season(entry: object) -> _Season | None:
    if not isinstance(entry, Mapping):
        return None
    month, _, day = str(entry.get("start", "")).partition("/")
    if not (month.isdigit() and day.isdigit()):
        return None
    peaks: dict[int, tuple[tuple[int, int], ...]] = {}
    days = entry.get("days")
    for spec in days if isinstance(days, list) else []:
        if not isinstance(spec, Mapping):
            continue
        intervals = _peak_intervals(_periods(spec))
        for name in str(spec.get("days", "")).split(","):
            if name.strip() in _WEEKDAYS:
                peaks[_WEEKDAYS.index(name.strip())] = intervals
    return _Season(start=(int(month), int(day)), peaks=peaks)


@attrs.frozen
class PeakSchedule:
    """When the tariff's peak hours are, from its ``seasons`` (time of use).

    A season runs from its ``start`` (``month/day``) to the next season's start; each of its
    ``days`` entries lists weekdays and ``periods`` that run from their ``start`` (minute of
    the day) to the next period's. The peak is the periods at the day's highest rate; a day
    whose periods all cost the same (or a tiered or empty tariff) has none.
    """

    seasons: tuple[_Season, ...] = ()

    @classmethod
    def from_seasons(cls, seasons: object) -> PeakSchedule:
        """Read the ``seasons`` of a tariff; what cannot be understood has no peak."""
        parsed = (_season(s) for s in (seasons if isinstance(seasons, list) else []))
        return cls(tuple(sorted((s for s in parsed if s is not None), key=lambda s: s.start)))

    @classmethod
    def default(cls) -> PeakSchedule:
        """The simulator's default tariff: 16:00 to 21:00 every day of the year."""
        intervals = _peak_intervals(DEFAULT_PERIODS)
        return cls((_Season(start=(1, 1), peaks=dict.fromkeys(range(7), intervals)),))

    def contains(self, local: dt.datetime) -> bool:
        """Whether ``local`` (the site's local time) falls in a peak period."""
        if not self.seasons:
            return False
        today = (local.month, local.day)
        started = [s for s in self.seasons if s.start <= today]
        season = started[-1] if started else self.seasons[-1]  # the last one wraps round
        minute = local.hour * 60 + local.minute
        intervals = season.peaks.get(local.weekday(), ())
        return any(start <= minute < end for start, end in intervals)


@attrs.frozen(kw_only=True)
class BatteryLimits:
    """What the batteries can do at one instant (on grid)."""

    #: The most they can charge or discharge, W.
    power_w: float
    #: Energy stored, Wh.
    stored_wh: float
    #: Usable capacity, Wh.
    capacity_wh: float


def battery_dispatch(
    settings: StorageSettings, limits: BatteryLimits, *, surplus_w: float, peak: bool
) -> float:
    """Battery power on grid for this solar surplus (negative: a deficit), W, positive while
    discharging (see the module's description of the modes)."""
    power = limits.power_w
    if power <= 0 or limits.capacity_wh <= 0:
        return 0.0
    reserve_wh = limits.capacity_wh * settings.reserve_pct / 100
    full = limits.stored_wh >= limits.capacity_wh
    mode = settings.mode
    if settings.charge_from_grid and not full:
        target_wh = reserve_wh if mode is StorageMode.SELF_CONSUMPTION else limits.capacity_wh
        if limits.stored_wh < target_wh and not (mode is StorageMode.ECONOMY and peak):
            return -power
    if surplus_w > 0:
        return 0.0 if full else -min(surplus_w, power)
    discharges = mode is StorageMode.SELF_CONSUMPTION or (mode is StorageMode.ECONOMY and peak)
    if surplus_w < 0 and discharges and limits.stored_wh > reserve_wh:
        return min(-surplus_w, power)
    return 0.0
