"""IQ Batteries, the IQ System Controller and what switches a site off grid: ``/ivp/ensemble/*``.

``/ivp/ensemble/inventory`` lists the devices, ``/ivp/ensemble/power`` the power of each
battery, ``/ivp/ensemble/secctrl`` the aggregate charge and backup reserve,
``/ivp/ensemble/relay`` the grid relay and ``/ivp/ensemble/status`` all of it together with
the back end's counters.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from attrs import field, frozen


class RelayState(StrEnum):
    """Position of a relay (grid relay, generator relay)."""

    OPEN = "open"
    CLOSED = "closed"
    #: Open, matching voltage and frequency before closing onto the grid.
    SYNCHRONIZING = "open synchronizing"
    #: A state this library does not know (some gateways send the word ``unknown``).
    UNKNOWN = "unknown"


class GridMode(StrEnum):
    """How a device runs with respect to the grid."""

    GRID_TIED = "grid-tied"
    #: Forming the grid itself (off grid).
    GRID_FORMING = "grid-forming"
    MULTIMODE_ON_GRID = "multimode-ongrid"
    MULTIMODE_OFF_GRID = "multimode-offgrid"
    #: A mode this library does not know (some gateways send the word ``unknown``).
    UNKNOWN = "unknown"


class Phase(StrEnum):
    """The phase a device is connected to."""

    A = "ph-a"
    B = "ph-b"
    C = "ph-c"
    #: All phases.
    ALL = "ph-all"
    #: A phase this library does not know.
    UNKNOWN = "unknown"


@frozen(kw_only=True, slots=True)
class EnsembleDevice:
    """What every device of the ensemble inventory reports."""

    #: Serial number.
    serial_number: str
    #: Part number, e.g. ``836-00000-r01``.
    part_number: str | None = None
    #: When the device was installed, UTC.
    installed_at: datetime | None = None
    #: When the device was added to the gateway's records, UTC.
    created_at: datetime | None = None
    #: When the device last reported, UTC.
    last_report_at: datetime | None = None
    #: Status flags, e.g. ``envoy.global.ok``.
    status_flags: tuple[str, ...] = ()
    #: Administrative state number.
    admin_state: int | None = None
    #: Administrative state name, e.g. ``ENCHG_STATE_READY``.
    admin_state_name: str | None = None
    #: Running firmware (``img_pnum_running``).
    firmware: str | None = None
    #: When the running firmware was loaded, UTC.
    firmware_loaded_at: datetime | None = None
    #: Whether the gateway hears from the device.
    communicating: bool | None = None
    #: Whether the device is operating.
    operating: bool | None = None
    #: Temperature in degrees Celsius (°C); None while the gateway reports it as unknown.
    temperature_c: float | None = None
    #: Sub-GHz radio signal level (0-5).
    comm_level_sub_ghz: int | None = None
    #: 2.4 GHz radio signal level (0-5).
    comm_level_2_4_ghz: int | None = None
    #: Firmware of its Zigbee dongle.
    zigbee_dongle_firmware: str | None = None


@frozen(kw_only=True, slots=True)
class Battery(EnsembleDevice):
    """One IQ Battery (``ENCHARGE``)."""

    #: State of charge in percent (%).
    charge_percent: float | None = None
    #: Temperature of the hottest cell in degrees Celsius (°C).
    max_cell_temperature_c: float | None = None
    #: Usable capacity in watt-hours (Wh).
    capacity_wh: float | None = None
    #: Battery management unit firmware.
    bmu_firmware: str | None = None
    #: Whether sleep mode is enabled.
    sleep_enabled: bool | None = None
    #: Grid mode the battery reports.
    grid_state: GridMode | None = None
    #: LED status code.
    led_status: int | None = None
    #: Whether the DC switch is off.
    dc_switch_off: bool | None = None
    #: Hardware revision.
    revision: int | None = None
    #: Phase the battery is connected to.
    phase: Phase | None = None
    #: Index of the distributed energy resource (DER) it belongs to.
    der_index: int | None = None


@frozen(kw_only=True, slots=True)
class SystemController(EnsembleDevice):
    """The IQ System Controller (``ENPOWER``): the grid relay of a backup site.

    Its temperature is sent in degrees Fahrenheit and given here in degrees Celsius.
    """

    #: Grid relay as commanded (``closed``: on grid; ``open``: off grid).
    mains_admin_state: RelayState | None = None
    #: Grid relay as it actually is (may read ``open synchronizing``).
    mains_oper_state: RelayState | None = None
    #: Grid mode of the controller.
    grid_mode: GridMode | None = None
    #: Grid mode of the batteries, as the controller sees it.
    battery_grid_mode: GridMode | None = None
    #: Bitmap of its relays' states.
    relay_state_bitmap: int | None = None
    #: Number of its current state.
    state_id: int | None = None


@frozen(kw_only=True, slots=True)
class Collar(EnsembleDevice):
    """The IQ Meter Collar (``COLLAR``): no capture holds one; keys as pyenphase reads them."""

    #: State of its microgrid interconnect device, e.g. ``close``.
    mid_state: str | None = None
    #: Grid state, e.g. ``on_grid``.
    grid_state: str | None = None
    #: Control error code.
    control_error: int | None = None
    #: Installation state, e.g. ``Installed``.
    collar_state: str | None = None


@frozen(kw_only=True, slots=True)
class CombinerController(EnsembleDevice):
    """The IQ Combiner 6C controller (``C6 COMBINER CONTROLLER``) beside a Meter Collar."""

    #: Firmware version (``fw_version``).
    firmware_version: str | None = None
    #: Version of its DMIR.
    dmir_version: str | None = None


@frozen(kw_only=True, slots=True)
class EnsembleInventory:
    """The ensemble devices by kind (the gateway sends a list of ``{type, devices}`` groups)."""

    #: IQ Batteries.
    batteries: tuple[Battery, ...] = ()
    #: IQ System Controllers.
    system_controllers: tuple[SystemController, ...] = ()
    #: IQ Meter Collars.
    collars: tuple[Collar, ...] = ()
    #: IQ Combiner 6C controllers.
    combiners: tuple[CombinerController, ...] = ()


@frozen(kw_only=True, slots=True)
class BatteryPower:
    """The power of one IQ Battery (sent in mW and mVA, given here in W and VA)."""

    #: Battery serial number.
    serial_number: str
    #: Active power in watts (W); positive while discharging, negative while charging.
    active_power_w: float | None = None
    #: Apparent power in volt-amperes (VA).
    apparent_power_va: float | None = None
    #: State of charge in percent (%).
    charge_percent: float | None = None


@frozen(kw_only=True, slots=True)
class EnsemblePower:
    """``/ivp/ensemble/power``; the gateway's list key is literally ``"devices:"``."""

    #: Power of each IQ Battery; empty on sites without them.
    batteries: tuple[BatteryPower, ...] = ()


@frozen(kw_only=True, slots=True)
class OffGridControl:
    """What the batteries regulate while they form the grid (zeros on grid)."""

    #: Whether off-grid control is active.
    active: bool | None = None
    #: Whether the phases are balanced.
    balanced: bool | None = None
    #: Whether the sequence must be reset.
    sequence_reset_needed: bool | None = None
    #: Frequency set point in hertz (Hz).
    frequency_hz: float | None = None
    #: Voltage set point in volts (V).
    voltage_v: float | None = None
    #: Negative-sequence d-axis voltage, as sent.
    vd_negative: float | None = None
    #: Negative-sequence q-axis voltage, as sent.
    vq_negative: float | None = None
    #: Zero-sequence d-axis voltage, as sent.
    vd_zero: float | None = None
    #: Zero-sequence q-axis voltage, as sent.
    vq_zero: float | None = None


@frozen(kw_only=True, slots=True)
class BatterySummary:
    """``/ivp/ensemble/secctrl``: aggregate charge and energy, backup reserve, grid bias.

    The ``battery_*`` values cover the IQ Batteries, the ``acb_*`` values the AC Batteries.
    """

    #: State of charge of all batteries in percent (%).
    charge_percent: float | None = None
    #: Capacity of all batteries in watt-hours (Wh).
    max_energy_wh: float | None = None
    #: Backup reserve as configured, in percent (%).
    configured_backup_percent: float | None = None
    #: Backup reserve as the gateway applies it, in percent (%).
    adjusted_backup_percent: float | None = None
    #: IQ Batteries' state of charge in percent (%).
    battery_charge_percent: float | None = None
    #: IQ Batteries' state of health in percent (%).
    battery_health_percent: float | None = None
    #: IQ Batteries' energy held for backup in watt-hours (Wh).
    battery_backup_energy_wh: float | None = None
    #: IQ Batteries' available energy in watt-hours (Wh).
    battery_available_energy_wh: float | None = None
    #: IQ Batteries' capacity when commissioned in watt-hours (Wh).
    battery_commissioned_capacity_wh: float | None = None
    #: IQ Batteries' greatest available capacity in watt-hours (Wh).
    battery_max_available_capacity_wh: float | None = None
    #: AC Batteries' state of charge in percent (%).
    acb_charge_percent: float | None = None
    #: AC Batteries' stored energy in watt-hours (Wh).
    acb_energy_wh: float | None = None
    #: Very low charge limit in percent (%), below which the batteries stop discharging.
    very_low_limit_percent: float | None = None
    #: Whether charge recovery is enabled.
    charge_recovery_enabled: bool | None = None
    #: Charge at which recovery starts, in percent (%).
    charge_recovery_entry_percent: float | None = None
    #: Charge at which recovery ends, in percent (%).
    charge_recovery_exit_percent: float | None = None
    #: Whether the batteries are shut down.
    shutdown: bool | None = None
    #: Whether commissioning is in progress.
    commissioning: bool | None = None
    #: Whether an energy storage system operation is in progress.
    ess_in_progress: bool | None = None
    #: Whether a revision 3 to 4 upgrade is in progress.
    ess_r3_to_r4_in_progress: bool | None = None
    #: Frequency bias of phase A in hertz (Hz).
    frequency_bias_hz: float | None = None
    #: Frequency bias of phase B in hertz (Hz).
    frequency_bias_b_hz: float | None = None
    #: Frequency bias of phase C in hertz (Hz).
    frequency_bias_c_hz: float | None = None
    #: Voltage bias of phase A in volts (V).
    voltage_bias_v: float | None = None
    #: Voltage bias of phase B in volts (V).
    voltage_bias_b_v: float | None = None
    #: Voltage bias of phase C in volts (V).
    voltage_bias_c_v: float | None = None
    #: Off-grid control; None on firmware that does not send it.
    off_grid: OffGridControl | None = None


@frozen(kw_only=True, slots=True)
class GridRelay:
    """``/ivp/ensemble/relay``: the grid relay, commanded against actual."""

    #: As commanded: ``closed`` is on grid, ``open`` off grid.
    mains_admin_state: RelayState | None = None
    #: As it actually is (may read ``open synchronizing`` on the way back to the grid).
    mains_oper_state: RelayState | None = None
    #: State of the SRT12 relay.
    srt12_state: RelayState | None = None
    #: State of the SRT13 relay.
    srt13_state: RelayState | None = None
    #: State number of the first DER relay.
    der1_state: int | None = None
    #: State number of the second DER relay.
    der2_state: int | None = None
    #: State number of the third DER relay.
    der3_state: int | None = None
    #: Grid mode of the batteries.
    battery_grid_mode: GridMode | None = None
    #: Grid mode of the PV.
    solar_grid_mode: GridMode | None = None


@frozen(kw_only=True, slots=True)
class EnsembleStatus:
    """``/ivp/ensemble/status``: device records, secondary control, relay and counters.

    The device records and counters are large and undocumented: they are kept as sent, in
    read-only mappings; the battery summary and the relay are typed.
    """

    #: Device records as sent, by serial number (part numbers, firmware, submodules); not
    #: part of the hash.
    devices: Mapping[str, Mapping[str, Any]] = field(factory=dict, hash=False)
    #: Aggregate charge, backup reserve and grid bias (as ``/ivp/ensemble/secctrl``).
    summary: BatterySummary | None = None
    #: The grid relay (as ``/ivp/ensemble/relay``).
    relay: GridRelay | None = None
    #: The back end's counters by name (7.x and early 8.2 only); not part of the hash.
    counters: Mapping[str, int] = field(factory=dict, hash=False)
    #: Whether the gateway fakes its inventory (a test mode).
    fake_inventory_mode: bool | None = None
