"""``/ivp/meters`` (meter configuration) and ``/ivp/meters/readings`` (measurements)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from attrs import frozen


class MeterState(StrEnum):
    """Whether a meter (a set of CTs) is in use."""

    ENABLED = "enabled"
    DISABLED = "disabled"
    #: A state this library does not know.
    UNKNOWN = "unknown"


class MeasurementType(StrEnum):
    """What a meter measures."""

    PRODUCTION = "production"
    #: Grid exchange: load minus production (negative while exporting).
    NET_CONSUMPTION = "net-consumption"
    #: Load only.
    TOTAL_CONSUMPTION = "total-consumption"
    STORAGE = "storage"
    BACKFEED = "backfeed"
    LOAD = "load"
    #: Electric vehicle charger.
    EVSE = "evse"
    #: Third-party PV.
    PV3P = "pv3p"
    #: A type this library does not know.
    UNKNOWN = "unknown"


class PhaseMode(StrEnum):
    """Which grid the meter hardware is set up for."""

    SINGLE = "single"
    SPLIT = "split"
    THREE = "three"
    #: A mode this library does not know.
    UNKNOWN = "unknown"


class MeteringStatus(StrEnum):
    """Health of a meter's measurements."""

    NORMAL = "normal"
    NOT_METERING = "not-metering"
    CHECK_WIRING = "check-wiring"
    #: A status this library does not know.
    UNKNOWN = "unknown"


@frozen(kw_only=True, slots=True)
class Meter:
    """Configuration of one meter (one set of CTs) of the gateway."""

    #: Meter id; readings carry the same ``eid`` (join on it, never on list position).
    eid: int
    #: Whether the meter is enabled.
    state: MeterState
    #: What the meter measures.
    measurement_type: MeasurementType
    #: Grid the meter hardware can monitor.
    phase_mode: PhaseMode
    #: Number of phases the meter monitors.
    phase_count: int
    #: Health of the measurements.
    metering_status: MeteringStatus
    #: Problems the gateway flags, e.g. ``negative-production``; empty when none.
    status_flags: tuple[str, ...] = ()


@frozen(kw_only=True, slots=True)
class _MeterValues:
    """Quantities a meter reports, for all phases together or for one phase."""

    #: Meter id (the meter's for a reading, the channel's own id for a channel).
    eid: int
    #: When the values were measured, UTC (the epoch itself when the meter never measured).
    timestamp: datetime
    #: Active power in watts (W); negative when power flows the other way (e.g. export).
    active_power_w: float
    #: Reactive power in volt-amperes reactive (var).
    reactive_power_var: float
    #: Apparent power in volt-amperes (VA).
    apparent_power_va: float
    #: Instantaneous active power demand in watts (W).
    instantaneous_demand_w: float
    #: RMS voltage in volts (V); for a whole meter the gateway sends the sum over phases.
    voltage_v: float
    #: RMS current in amperes (A).
    current_a: float
    #: Grid frequency in hertz (Hz).
    frequency_hz: float
    #: Power factor (dimensionless, nominally -1 to 1).
    power_factor: float
    #: Active energy delivered since installation, in watt-hours (Wh).
    energy_delivered_wh: float
    #: Active energy received since installation, in watt-hours (Wh).
    energy_received_wh: float
    #: Apparent energy since installation, in volt-ampere-hours (VAh).
    apparent_energy_vah: float
    #: Lagging reactive energy since installation, in var-hours (varh).
    reactive_energy_lagging_varh: float
    #: Leading reactive energy since installation, in var-hours (varh).
    reactive_energy_leading_varh: float


@frozen(kw_only=True, slots=True)
class MeterChannelReading(_MeterValues):
    """The readings of one phase (channel) of a meter."""


@frozen(kw_only=True, slots=True)
class MeterReading(_MeterValues):
    """The readings of one meter, all phases together, with the per-phase channels."""

    #: Per-phase readings (L1, L2, L3), in the gateway's order; empty when not sent.
    channels: tuple[MeterChannelReading, ...] = ()
