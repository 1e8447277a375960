"""``/production.json?details=1`` (and the HTML ``/production`` page of firmware before 4):
production, consumption and AC Battery storage in one body.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from attrs import frozen

from enphase_local.models.meters import MeasurementType


class SourceType(StrEnum):
    """Where a production or consumption entry comes from."""

    #: The microinverters' reports.
    INVERTERS = "inverters"
    #: The gateway's integrated meter (CTs).
    EIM = "eim"
    #: A revenue-grade meter.
    RGM = "rgm"
    #: A source this library does not know.
    UNKNOWN = "unknown"


class StorageState(StrEnum):
    """What AC Batteries are doing."""

    IDLE = "idle"
    CHARGING = "charging"
    DISCHARGING = "discharging"
    FULL = "full"
    #: A state this library does not know.
    UNKNOWN = "unknown"


@frozen(kw_only=True, slots=True)
class SummaryLine:
    """Power and energy of one phase (line), or of all phases together."""

    #: Active power now in watts (W).
    power_w: float
    #: Energy since installation in watt-hours (Wh).
    energy_lifetime_wh: float
    #: Energy today in watt-hours (Wh).
    energy_today_wh: float | None = None
    #: Energy over the last seven days in watt-hours (Wh).
    energy_seven_days_wh: float | None = None
    #: Reactive power in volt-amperes reactive (var).
    reactive_power_var: float | None = None
    #: Apparent power in volt-amperes (VA).
    apparent_power_va: float | None = None
    #: Power factor (dimensionless).
    power_factor: float | None = None
    #: RMS voltage in volts (V); for all phases together the sum over phases.
    voltage_v: float | None = None
    #: RMS current in amperes (A).
    current_a: float | None = None
    #: Apparent energy since installation in volt-ampere-hours (VAh).
    apparent_energy_lifetime_vah: float | None = None
    #: Apparent energy today in volt-ampere-hours (VAh).
    apparent_energy_today_vah: float | None = None
    #: Leading reactive energy since installation in var-hours (varh).
    reactive_energy_leading_lifetime_varh: float | None = None
    #: Leading reactive energy today in var-hours (varh).
    reactive_energy_leading_today_varh: float | None = None
    #: Lagging reactive energy since installation in var-hours (varh).
    reactive_energy_lagging_lifetime_varh: float | None = None
    #: Lagging reactive energy today in var-hours (varh).
    reactive_energy_lagging_today_varh: float | None = None


@frozen(kw_only=True, slots=True)
class SummarySource(SummaryLine):
    """One production or consumption entry: the inverters, or a CT meter with its phases."""

    #: Where the values come from.
    type: SourceType
    #: What a meter measures; None for the inverters.
    measurement_type: MeasurementType | None = None
    #: How many devices report (inverters), or 1 for a meter.
    active_count: int | None = None
    #: When the values were read, UTC; None when never.
    read_at: datetime | None = None
    #: Per phase (``lines``, with ``?details=1``), in the gateway's order.
    lines: tuple[SummaryLine, ...] = ()


@frozen(kw_only=True, slots=True)
class StorageSummary:
    """AC Batteries (``storage``); an idle entry with zeros on sites without them."""

    #: Storage type, e.g. ``acb``.
    type: str | None = None
    #: How many AC Batteries report.
    active_count: int | None = None
    #: When the values were read, UTC; None when never.
    read_at: datetime | None = None
    #: Power now in watts (W); positive while discharging.
    power_w: float | None = None
    #: Stored energy in watt-hours (Wh).
    energy_wh: float | None = None
    #: What they are doing.
    state: StorageState | None = None
    #: State of charge in percent (%).
    charge_percent: float | None = None


@frozen(kw_only=True, slots=True)
class ProductionSummary:
    """Production, consumption and storage; the HTML page of old firmware fills only the
    inverters' production, rounded as the page shows it."""

    #: Production: the inverters, then the production CT if there is one.
    production: tuple[SummarySource, ...] = ()
    #: Consumption CTs: total and net (on 8.3.5433 total repeats net; see the quirks).
    consumption: tuple[SummarySource, ...] = ()
    #: AC Batteries.
    storage: tuple[StorageSummary, ...] = ()
