"""Site settings: ``/admin/lib/tariff``, ``/admin/lib/acb_config``, ``/ivp/sc/pvlimit`` and
``/ivp/ss/pel_settings``.

Prices are per kWh in the tariff's currency; times of day are minutes after local midnight.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from attrs import field, frozen


class StorageMode(StrEnum):
    """How the batteries are used."""

    #: Kept full for outages.
    BACKUP = "backup"
    #: Charged from PV, discharged into the home's load.
    SELF_CONSUMPTION = "self-consumption"
    #: Savings (time of use) mode, sent as ``economy``.
    SAVINGS = "economy"
    #: A mode this library does not know.
    UNKNOWN = "unknown"


@frozen(kw_only=True, slots=True)
class StorageSettings:
    """The storage mode and reserve the gateway applies (``tariff.storage_settings``)."""

    #: Storage mode; the cloud may overwrite a mode set locally within a minute or two.
    mode: StorageMode | None = None
    #: Sub-mode, e.g. ``prioritize-energy``; empty when none.
    sub_mode: str | None = None
    #: Backup reserve in percent (%): charge kept for outages.
    reserve_percent: float | None = None
    #: Very low charge in percent (%), below which the batteries stop discharging.
    very_low_percent: float | None = None
    #: Whether the batteries may charge from the grid.
    charge_from_grid: bool | None = None
    #: Whether optimised schedules are on.
    optimized_schedules: bool | None = None
    #: When the settings were last changed, UTC.
    updated_at: datetime | None = None


@frozen(kw_only=True, slots=True)
class SingleRate:
    """A flat tariff."""

    #: Price of energy bought, per kWh.
    rate: float | None = None
    #: Price of energy sold, per kWh.
    sell: float | None = None


@frozen(kw_only=True, slots=True)
class TariffPeriod:
    """A time-of-use period: from its start to the next period's."""

    #: Period id, e.g. ``period_1`` or ``filler``.
    id: str | None = None
    #: Start, minutes after local midnight.
    start_min: float | None = None
    #: Price per kWh.
    rate: float | None = None


@frozen(kw_only=True, slots=True)
class TariffDay:
    """The periods of a set of weekdays."""

    #: Day set id, e.g. ``weekdays``.
    id: str | None = None
    #: The weekdays, e.g. ``("Mon", "Tue")`` (sent as one comma-separated text).
    week_days: tuple[str, ...] = ()
    #: Start of the must-charge window, minutes after local midnight.
    must_charge_start_min: float | None = None
    #: Length of the must-charge window in minutes.
    must_charge_duration_min: float | None = None
    #: Must-charge source code, e.g. ``CP`` (from PV) or ``CG`` (from grid).
    must_charge_mode: str | None = None
    #: Peak rule code, e.g. ``DL``.
    peak_rule: str | None = None
    #: Whether the batteries may discharge to the grid.
    discharge_to_grid: bool | None = None
    #: The periods, in order of start.
    periods: tuple[TariffPeriod, ...] = ()


@frozen(kw_only=True, slots=True)
class TariffTier:
    """A consumption tier."""

    #: Tier id, e.g. ``tier_1``.
    id: str | None = None
    #: Upper limit of the tier, as sent (kWh).
    limit: float | None = None
    #: Price per kWh.
    rate: float | None = None


@frozen(kw_only=True, slots=True)
class TariffSeason:
    """A season of the tariff, from its start to the next season's."""

    #: Season id, e.g. ``summer``.
    id: str | None = None
    #: First day, ``month/day``.
    start: str | None = None
    #: Its days.
    days: tuple[TariffDay, ...] = ()
    #: Its tiers.
    tiers: tuple[TariffTier, ...] = ()


@frozen(kw_only=True, slots=True)
class ScheduleSlot:
    """A slot of the battery schedule."""

    #: Start, minutes after local midnight.
    start_min: float | None = None
    #: Duration in minutes.
    duration_min: float | None = None
    #: Setting code, e.g. ``ZN`` or ``ID``.
    setting: str | None = None


@frozen(kw_only=True, slots=True)
class ScheduleWeek:
    """The battery schedule's slots per weekday, for a date range (or always)."""

    #: First day, ``month/day``; None when always.
    start: str | None = None
    #: Last day, ``month/day``; None when always.
    end: str | None = None
    #: Monday's slots.
    monday: tuple[ScheduleSlot, ...] = ()
    #: Tuesday's slots.
    tuesday: tuple[ScheduleSlot, ...] = ()
    #: Wednesday's slots.
    wednesday: tuple[ScheduleSlot, ...] = ()
    #: Thursday's slots.
    thursday: tuple[ScheduleSlot, ...] = ()
    #: Friday's slots.
    friday: tuple[ScheduleSlot, ...] = ()
    #: Saturday's slots.
    saturday: tuple[ScheduleSlot, ...] = ()
    #: Sunday's slots.
    sunday: tuple[ScheduleSlot, ...] = ()


@frozen(kw_only=True, slots=True)
class BatterySchedule:
    """The battery schedule file beside the tariff (``schedule``)."""

    #: Storage mode of the schedule.
    mode: StorageMode | None = None
    #: Sub-mode, e.g. ``prioritize-energy``.
    sub_mode: str | None = None
    #: Backup reserve in percent (%).
    reserve_percent: float | None = None
    #: Very low charge in percent (%).
    very_low_percent: float | None = None
    #: Whether the batteries may charge from the grid.
    charge_from_grid: bool | None = None
    #: Whether optimised schedules are on.
    optimized_schedules: bool | None = None
    #: Whether an override is in force.
    override: bool | None = None
    #: Backup reserve of the override in percent (%).
    override_backup_percent: float | None = None
    #: Charge and discharge rate of the override, as sent.
    override_rate: float | None = None
    #: Time-of-use mode of the override, e.g. ``StorageTouMode_DEFAULT_TOU_MODE``.
    override_tou_mode: str | None = None
    #: When the days are off.
    disabled: tuple[ScheduleWeek, ...] = ()
    #: The tariff's slots.
    tariff: tuple[ScheduleWeek, ...] = ()
    #: Where the schedule came from, e.g. ``Tariff``.
    source: str | None = None
    #: File name.
    filename: str | None = None
    #: Schedule format version.
    version: str | None = None
    #: When it was written, UTC.
    updated_at: datetime | None = None


@frozen(kw_only=True, slots=True)
class Tariff:
    """``/admin/lib/tariff``: storage mode and reserve, prices, seasons and schedule.

    Local writes are reported ignored on some 8.2 sites, and the cloud overwrites a mode set
    locally within a minute or two: read back after writing.
    """

    #: Currency code, e.g. ``USD``.
    currency: str | None = None
    #: Storage mode, reserve, very-low charge, charging from the grid; None before 7.
    storage: StorageSettings | None = None
    #: The flat rate.
    single_rate: SingleRate | None = None
    #: Seasons of the purchase tariff.
    seasons: tuple[TariffSeason, ...] = ()
    #: Seasons of the sale (feed-in) tariff.
    sell_seasons: tuple[TariffSeason, ...] = ()
    #: The battery schedule.
    schedule: BatterySchedule | None = None
    #: When the tariff was last changed, UTC.
    updated_at: datetime | None = None


@frozen(kw_only=True, slots=True)
class AcbConfig:
    """``/admin/lib/acb_config``: AC Battery sleep settings."""

    #: The sleep entries as sent: no capture holds one yet, so they are not typed; not part
    #: of the hash.
    sleep: tuple[Mapping[str, Any], ...] = field(default=(), hash=False)


@frozen(kw_only=True, slots=True)
class PvLimit:
    """``/ivp/sc/pvlimit``: a cap on PV production."""

    #: Whether the cap is on.
    enabled: bool | None = None
    #: The cap in percent (%) of the PV's rating.
    limit_percent: float | None = None


@frozen(kw_only=True, slots=True)
class ExportLimit:
    """``/ivp/ss/pel_settings``: the power export limit (most firmware sends only ``PEL``).

    No capture has a limit switched on; the units of the times follow the key names.
    """

    #: Whether an export limit is on (``PEL``).
    enabled: bool | None = None
    #: Whether the hard limit is on.
    hard: bool | None = None
    #: Whether the soft limit is on.
    soft: bool | None = None
    #: What is limited, e.g. ``Aggregate``.
    limit_type: str | None = None
    #: Whether the limit is in percent of the rating rather than in watts.
    in_percent: bool | None = None
    #: Whether the limit is on apparent power (VA) rather than active power.
    apparent: bool | None = None
    #: The limit (W or VA, or % when ``in_percent``).
    limit: float | None = None
    #: Dead band of the limit, as sent.
    deadband: float | None = None
    #: How long communication may be lost before the limit acts, as sent.
    comm_loss_time: float | None = None
    #: Response time of the soft limit, as sent.
    soft_response_time: float | None = None
    #: Response time of the hard limit, as sent.
    hard_response_time: float | None = None
    #: Reset time of the hard limit in seconds (s; sent in ms).
    hard_reset_s: float | None = None
