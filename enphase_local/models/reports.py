"""``/ivp/meters/reports/consumption`` (and ``/ivp/meters/reports``): meter reports."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from attrs import frozen


class ReportType(StrEnum):
    """What a report measures."""

    PRODUCTION = "production"
    #: Load along with production (the grid exchange).
    NET_CONSUMPTION = "net-consumption"
    #: Load only (may duplicate net-consumption on some firmware, e.g. 8.3.5433).
    TOTAL_CONSUMPTION = "total-consumption"
    #: A type this library does not know.
    UNKNOWN = "unknown"


@frozen(kw_only=True, slots=True)
class ReportValues:
    """Measurements of a report, for all phases together or for one line (phase)."""

    #: Instantaneous active power in watts (W; ``currW``).
    current_power_w: float
    #: Active power in watts (W).
    active_power_w: float
    #: Apparent power in volt-amperes (VA).
    apparent_power_va: float
    #: Reactive power in volt-amperes reactive (var).
    reactive_power_var: float
    #: Cumulative active energy delivered, in watt-hours (Wh).
    energy_delivered_wh: float
    #: Cumulative active energy received, in watt-hours (Wh).
    energy_received_wh: float
    #: Cumulative lagging reactive energy, in var-hours (varh).
    reactive_energy_lagging_varh: float
    #: Cumulative leading reactive energy, in var-hours (varh).
    reactive_energy_leading_varh: float
    #: Cumulative apparent energy, in volt-ampere-hours (VAh).
    apparent_energy_vah: float
    #: RMS voltage in volts (V).
    voltage_v: float
    #: RMS current in amperes (A).
    current_a: float
    #: Power factor (dimensionless).
    power_factor: float
    #: Grid frequency in hertz (Hz).
    frequency_hz: float


@frozen(kw_only=True, slots=True)
class ConsumptionReport:
    """One report: the cumulative values and the values per line (phase)."""

    #: When the report was made, UTC.
    created_at: datetime
    #: What the report measures.
    report_type: ReportType
    #: All phases together.
    cumulative: ReportValues
    #: Per line (L1, L2, L3), in the gateway's order.
    lines: tuple[ReportValues, ...] = ()
