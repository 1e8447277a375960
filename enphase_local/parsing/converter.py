"""The one cattrs converter: wire names, unit conversions and type checks live here.

Two converters are built from the same recipe, lenient and strict (extra keys are errors),
both with cattrs' detailed validation. Bodies are structured by functions generated from
these same tables and hooks (:mod:`enphase_local.parsing.fastpath`); only when that fails is
the body structured again here, to find the JSON path of the first problem for the
:class:`~enphase_local.errors.PayloadError`.

Hooks are strict about JSON types: a boolean is not a number, a number is not a string, and
an array is not an object. Unknown enum values become ``UNKNOWN``. The lenient converter
reads an optional field of the models in :data:`TOLERANT` as None when its value does not
fit (see there); the strict one reports it.
"""

from __future__ import annotations

import logging
import re
import types
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from typing import Any, Union, get_args, get_origin

import attrs
from cattrs import Converter, override
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from enphase_local import models
from enphase_local.models import (
    AcbConfig,
    Battery,
    BatteryCommLevel,
    BatteryPower,
    BatterySchedule,
    BatterySummary,
    ChannelLifetime,
    ChannelReading,
    Collar,
    CombinerController,
    CommLevel,
    CommLevels,
    ConsumptionReport,
    DeviceChannel,
    DeviceControl,
    DeviceData,
    DeviceDetail,
    DeviceInventory,
    DryContact,
    DryContacts,
    DryContactSetting,
    DryContactSettings,
    Energy,
    EnsembleDevice,
    EnsembleInventory,
    EnsemblePower,
    EnsembleStatus,
    ExerciseRun,
    ExportLimit,
    Generator,
    GeneratorConfig,
    GeneratorDay,
    GeneratorMode,
    GeneratorPeriod,
    GeneratorSchedule,
    GridChannel,
    GridRelay,
    Home,
    InventoryDevice,
    Inverter,
    LiveConnection,
    LiveData,
    LiveMeters,
    LivePower,
    LiveTasks,
    Meter,
    MeterChannelReading,
    MeterReading,
    NetworkInterface,
    OffGridControl,
    Production,
    ProvisionedDevice,
    PvChannel,
    PvLimit,
    ReportValues,
    ScheduleSlot,
    ScheduleWeek,
    StorageSettings,
    StorageSummary,
    SummaryLine,
    SummarySource,
    SystemController,
    Tariff,
    TariffDay,
    TariffPeriod,
    UsbStatus,
)

Hook = Callable[[Any, Any], Any]
Prepare = Callable[[dict[str, Any]], dict[str, Any]]

#: Everything a hook may raise on a body that does not fit; anything else is a bug.
STRUCTURE_FAILURES = (
    BaseValidationError,
    ForbiddenExtraKeysError,
    AttributeError,
    KeyError,
    OSError,
    OverflowError,
    RecursionError,
    TypeError,
    ValueError,
)

# ---------------------------------------------------------------------------------------
# Wire names: model attribute -> JSON key, per class. Attributes not listed use their own name.

_ENERGY_COUNTERS = {
    "power_w": "wattsNow",
    "energy_today_wh": "wattHoursToday",
    "energy_seven_days_wh": "wattHoursSevenDays",
    "energy_lifetime_wh": "wattHoursLifetime",
}
_METER_VALUES = {
    "active_power_w": "activePower",
    "reactive_power_var": "reactivePower",
    "apparent_power_va": "apparentPower",
    "instantaneous_demand_w": "instantaneousDemand",
    "voltage_v": "voltage",
    "current_a": "current",
    "frequency_hz": "freq",
    "power_factor": "pwrFactor",
    "energy_delivered_wh": "actEnergyDlvd",
    "energy_received_wh": "actEnergyRcvd",
    "apparent_energy_vah": "apparentEnergy",
    "reactive_energy_lagging_varh": "reactEnergyLagg",
    "reactive_energy_leading_varh": "reactEnergyLead",
}
# Live data comes in milli-units; the keys say so (``_mw``, ``_mva``).
_LIVE_POWER = {
    "active_power_w": "agg_p_mw",
    "apparent_power_va": "agg_s_mva",
    "active_power_a_w": "agg_p_ph_a_mw",
    "active_power_b_w": "agg_p_ph_b_mw",
    "active_power_c_w": "agg_p_ph_c_mw",
    "apparent_power_a_va": "agg_s_ph_a_mva",
    "apparent_power_b_va": "agg_s_ph_b_mva",
    "apparent_power_c_va": "agg_s_ph_c_mva",
}
# The vendor brief spells the ``pv`` keys ``_kw``/``_kva``; the values are milli-units all the same.
_LIVE_POWER_BRIEF_SPELLING = {
    wire.replace("_mw", "_kw").replace("_mva", "_kva"): wire for wire in _LIVE_POWER.values()
}

WIRE_NAMES: dict[type, dict[str, str]] = {
    ProvisionedDevice: {
        # The raw number is kept next to the enum: both attributes read the same key.
        "device_type_raw": "device_type",
        "capacity_wh": "dev_info.capacity",
        "der_index": "dev_info.DER_Index",
    },
    Meter: {
        "measurement_type": "measurementType",
        "phase_mode": "phaseMode",
        "phase_count": "phaseCount",
        "metering_status": "meteringStatus",
        "status_flags": "statusFlags",
    },
    MeterReading: _METER_VALUES,
    MeterChannelReading: _METER_VALUES,
    Production: _ENERGY_COUNTERS,
    Energy: {
        "production_inverters": "production.pcu",
        "production_revenue_meter": "production.rgm",
        "production_meter": "production.eim",
        "consumption_meter": "consumption.eim",
    },
    Inverter: {
        "serial_number": "serialNumber",
        "last_report_at": "lastReportDate",
        "last_report_w": "lastReportWatts",
        "max_report_w": "maxReportWatts",
        "device_type": "devType",
    },
    LiveConnection: {
        "provisioning_state": "prov_state",
        "stream_state": "sc_stream",
        "debug_stream_state": "sc_debug",
    },
    LivePower: _LIVE_POWER,
    LiveMeters: {
        "last_update_at": "last_update",
        "soc_pct": "soc",
        "generator_relay_state": "gen_relay_state",
        "backup_battery_mode": "backup_bat_mode",
        "backup_soc_pct": "backup_soc",
        "encharge_soc_pct": "enc_agg_soc",
        "encharge_energy_wh": "enc_agg_energy",
        "acb_soc_pct": "acb_agg_soc",
        "acb_energy_wh": "acb_agg_energy",
    },
    LiveTasks: {"last_task_at": "timestamp"},
    ConsumptionReport: {"created_at": "createdAt", "report_type": "reportType"},
    ReportValues: {
        "current_power_w": "currW",
        "active_power_w": "actPower",
        "apparent_power_va": "apprntPwr",
        "reactive_power_var": "reactPwr",
        "energy_delivered_wh": "whDlvdCum",
        "energy_received_wh": "whRcvdCum",
        "reactive_energy_lagging_varh": "varhLagCum",
        "reactive_energy_leading_varh": "varhLeadCum",
        "apparent_energy_vah": "vahCum",
        "voltage_v": "rmsVoltage",
        "current_a": "rmsCurrent",
        "power_factor": "pwrFactor",
        "frequency_hz": "freqHz",
    },
    GridChannel: {
        "active_power_w": "activePower",
        "reactive_power_var": "reactivePower",
        "voltage_v": "voltage",
        "current_a": "current",
        "frequency_hz": "freq",
    },
}

# Beyond the brief: batteries, System Controller, settings, per-device detail (issue 14).
_ENSEMBLE_DEVICE = {
    "serial_number": "serial_num",
    "part_number": "part_num",
    "installed_at": "installed",
    "created_at": "created_date",
    "last_report_at": "last_rpt_date",
    "status_flags": "device_status",
    "admin_state_name": "admin_state_str",
    "firmware": "img_pnum_running",
    "firmware_loaded_at": "img_load_date",
    "temperature_c": "temperature",
    "zigbee_dongle_firmware": "zigbee_dongle_fw_version",
}
_SUMMARY_LINE = {
    "power_w": "wNow",
    "energy_lifetime_wh": "whLifetime",
    "energy_today_wh": "whToday",
    "energy_seven_days_wh": "whLastSevenDays",
    "reactive_power_var": "reactPwr",
    "apparent_power_va": "apprntPwr",
    "power_factor": "pwrFactor",
    "voltage_v": "rmsVoltage",
    "current_a": "rmsCurrent",
    "apparent_energy_lifetime_vah": "vahLifetime",
    "apparent_energy_today_vah": "vahToday",
    "reactive_energy_leading_lifetime_varh": "varhLeadLifetime",
    "reactive_energy_leading_today_varh": "varhLeadToday",
    "reactive_energy_lagging_lifetime_varh": "varhLagLifetime",
    "reactive_energy_lagging_today_varh": "varhLagToday",
}
_CT_REGISTERS = {
    "energy_delivered_wh": "wh_dlvd_cum",
    "reactive_energy_leading_varh": "varh_lead_cum",
    "reactive_energy_lagging_varh": "varh_lag_cum",
    "apparent_energy_vah": "vah_cum",
}
_WEEK_DAYS = {
    "monday": "Mon",
    "tuesday": "Tue",
    "wednesday": "Wed",
    "thursday": "Thu",
    "friday": "Fri",
    "saturday": "Sat",
    "sunday": "Sun",
}

WIRE_NAMES |= {
    EnsembleDevice: _ENSEMBLE_DEVICE,
    Battery: _ENSEMBLE_DEVICE
    | {
        "charge_percent": "percentFull",
        "max_cell_temperature_c": "maxCellTemp",
        "capacity_wh": "encharge_capacity",
        "bmu_firmware": "bmu_fw_version",
        "grid_state": "reported_enc_grid_state",
        "revision": "encharge_rev",
    },
    SystemController: _ENSEMBLE_DEVICE
    | {
        "grid_mode": "Enpwr_grid_mode",
        "battery_grid_mode": "Enchg_grid_mode",
        "relay_state_bitmap": "Enpwr_relay_state_bm",
        "state_id": "Enpwr_curr_state_id",
    },
    Collar: _ENSEMBLE_DEVICE,
    CombinerController: _ENSEMBLE_DEVICE | {"firmware_version": "fw_version"},
    EnsembleInventory: {
        "batteries": "ENCHARGE",
        "system_controllers": "ENPOWER",
        "collars": "COLLAR",
        "combiners": "C6 COMBINER CONTROLLER",
    },
    BatteryPower: {
        "serial_number": "serial_num",
        "active_power_w": "real_power_mw",
        "apparent_power_va": "apparent_power_mva",
        "charge_percent": "soc",
    },
    EnsemblePower: {"batteries": "devices:"},
    OffGridControl: {
        "active": "is_active",
        "balanced": "is_system_balanced",
        "sequence_reset_needed": "seq_reset_needed",
        "frequency_hz": "F",
        "voltage_v": "V",
        "vd_negative": "Vd_neg",
        "vq_negative": "Vq_neg",
        "vd_zero": "Vd_zero",
        "vq_zero": "Vq_zero",
    },
    BatterySummary: {
        "charge_percent": "agg_soc",
        "max_energy_wh": "Max_energy",
        "configured_backup_percent": "configured_backup_soc",
        "adjusted_backup_percent": "adjusted_backup_soc",
        "battery_charge_percent": "ENC_agg_soc",
        "battery_health_percent": "ENC_agg_soh",
        "battery_backup_energy_wh": "ENC_agg_backup_energy",
        "battery_available_energy_wh": "ENC_agg_avail_energy",
        "battery_commissioned_capacity_wh": "Enc_commissioned_capacity",
        "battery_max_available_capacity_wh": "Enc_max_available_capacity",
        "acb_charge_percent": "ACB_agg_soc",
        "acb_energy_wh": "ACB_agg_energy",
        "very_low_limit_percent": "VLS_Limit",
        "charge_recovery_enabled": "soc_rec_enabled",
        "charge_recovery_entry_percent": "soc_recovery_entry",
        "charge_recovery_exit_percent": "soc_recovery_exit",
        "commissioning": "Commission_in_progress",
        "ess_in_progress": "ESS_in_progress",
        "ess_r3_to_r4_in_progress": "ESS_R3_To_R4_in_progress",
        "frequency_bias_hz": "freq_bias_hz",
        "frequency_bias_b_hz": "freq_bias_hz_phaseb",
        "frequency_bias_c_hz": "freq_bias_hz_phasec",
        "voltage_bias_b_v": "voltage_bias_v_phaseb",
        "voltage_bias_c_v": "voltage_bias_v_phasec",
        "off_grid": "offgrid_secctrl",
    },
    GridRelay: {"battery_grid_mode": "Enchg_grid_mode", "solar_grid_mode": "Solar_grid_mode"},
    EnsembleStatus: {
        "devices": "inventory.serial_nums",
        "summary": "secctrl",
        "fake_inventory_mode": "fakeit.fake_inventory_mode",
    },
    DryContact: {"state": "status"},
    DryContacts: {"contacts": "dry_contacts"},
    DryContactSetting: {
        "generator_action": "gen_action",
        "charge_low_percent": "soc_low",
        "charge_high_percent": "soc_high",
        "essential_start_s": "essential_start_time",
        "essential_end_s": "essential_end_time",
        "black_start": "black_s_start",
        "pv_serial_numbers": "pv_serial_nb",
        "pv_phases": "pv_phase_select",
    },
    DryContactSettings: {"contacts": "dry_contacts"},
    Generator: {
        "state": "oper_state",
        "start_percent": "start_soc",
        "stop_percent": "stop_soc",
        "exercising": "exc_on",
    },
    GeneratorConfig: {
        "generator_type": "gen_type",
        "rated_power_w": "name_plate_rating_wat",
        "max_continuous_current_a": "max_cont_gen_amps",
        "min_loading_percent": "min_gen_loading_perc",
        "max_efficiency_percent": "max_gen_efficiency_perc",
        "warm_up_min": "warm_up_mins",
        "cool_down_min": "cool_down_mins",
    },
    ExerciseRun: {"every_weeks": "freq_in_weeks", "start_min": "start", "duration_min": "duration"},
    GeneratorPeriod: {
        "start_min": "start",
        "duration_min": "duration",
        "start_percent": "start_soc",
        "stop_percent": "stop_soc",
    },
    GeneratorSchedule: {
        "exercise": "exercise_config",
        "default_start_percent": "default_soc.start_soc",
        "default_stop_percent": "default_soc.stop_soc",
        "seasons": "schedule.default",
    },
    GeneratorMode: {"command": "gen_cmd"},
    Tariff: {
        "currency": "tariff.currency.code",
        "storage": "tariff.storage_settings",
        "single_rate": "tariff.single_rate",
        "seasons": "tariff.seasons",
        "sell_seasons": "tariff.seasons_sell",
        "updated_at": "tariff.date",
    },
    StorageSettings: {
        "sub_mode": "operation_mode_sub_type",
        "reserve_percent": "reserved_soc",
        "very_low_percent": "very_low_soc",
        "optimized_schedules": "opt_schedules",
        "updated_at": "date",
    },
    TariffPeriod: {"start_min": "start"},
    TariffDay: {
        "week_days": "days",
        "must_charge_start_min": "must_charge_start",
        "must_charge_duration_min": "must_charge_duration",
        "discharge_to_grid": "enable_discharge_to_grid",
    },
    ScheduleSlot: {"start_min": "start", "duration_min": "duration"},
    ScheduleWeek: _WEEK_DAYS,
    BatterySchedule: {
        "mode": "battery_mode",
        "sub_mode": "operation_mode_sub_type",
        "reserve_percent": "reserved_soc",
        "very_low_percent": "very_low_soc",
        "optimized_schedules": "opt_schedules",
        "override_backup_percent": "override_backup_soc",
        "override_rate": "override_chg_dischg_rate",
        "disabled": "schedule.Disable",
        "tariff": "schedule.tariff",
        "updated_at": "date",
    },
    AcbConfig: {"sleep": "acb_sleep"},
    PvLimit: {"enabled": "enable", "limit_percent": "pv_limit_pct"},
    ExportLimit: {
        "enabled": "PEL",
        "hard": "Hard_PEL",
        "soft": "Soft_PEL",
        "limit_type": "Export_Limit_Type",
        "in_percent": "percent",
        "limit": "PEL_Limit",
        "deadband": "PEL_db",
        "comm_loss_time": "Comm_Time_Loss",
        "soft_response_time": "Resp_Time_SoftPEL",
        "hard_response_time": "Resp_Time_HardPEL",
        "hard_reset_s": "msReset_HardPEL",
    },
    # ``devices`` and ``id`` are made by _device_entries from the entries keyed by device id.
    DeviceData: {"device_count": "deviceCount", "device_limit": "deviceDataLimit"},
    DeviceDetail: {
        "device_id": "id",
        "serial_number": "sn",
        "kind": "devName",
        "removed": "modGone",
    },
    DeviceChannel: {
        "channel_eid": "chanEid",
        "reported_at": "created",
        "power_w": "watts.now",
        "power_used_w": "watts.nowUsed",
        "max_power_w": "watts.max",
        "energy_today_wh": "wattHours.today",
        "energy_yesterday_wh": "wattHours.yesterday",
        "energy_week_wh": "wattHours.week",
        "last_reading": "lastReading",
    },
    ChannelReading: _CT_REGISTERS
    | {
        "ended_at": "endDate",
        "duration_s": "duration",
        "energy_produced_wh": "joulesProduced",
        "energy_used_wh": "joulesUsed",
        "ac_voltage_v": "acVoltageINmV",
        "ac_current_a": "acCurrentInmA",
        "ac_frequency_hz": "acFrequencyINmHz",
        "dc_voltage_v": "dcVoltageINmV",
        "dc_current_a": "dcCurrentINmA",
        "l1_voltage_v": "l1NAcVoltageInmV",
        "l2_voltage_v": "l2NAcVoltageInmV",
        "l3_voltage_v": "l3NAcVoltageInmV",
        "temperature_c": "channelTemp",
        "leading_reactive": "leadingVArs",
        "lagging_reactive": "laggingVArs",
        "conversion_error_s": "pwrConvErrSecs",
        "conversion_max_error_cycles": "pwrConvMaxErrCycles",
        "power_w": "curr_w",
        "voltage_v": "rms_mvolt",
        "current_a": "rms_mamp",
        "frequency_hz": "freq_mhz",
        "energy_positive_wh": "wh_pos",
        "energy_negative_wh": "wh_neg",
    },
    ChannelLifetime: _CT_REGISTERS
    | {
        "created_at": "createdTime",
        "duration_s": "duration",
        "energy_produced_wh": "joulesProduced",
    },
    SummaryLine: _SUMMARY_LINE,
    SummarySource: _SUMMARY_LINE
    | {
        "measurement_type": "measurementType",
        "active_count": "activeCount",
        "read_at": "readingTime",
    },
    StorageSummary: {
        "active_count": "activeCount",
        "read_at": "readingTime",
        "power_w": "wNow",
        "energy_wh": "whNow",
        "charge_percent": "percentFull",
    },
    InventoryDevice: {
        "serial_number": "serial_num",
        "part_number": "part_num",
        "device_type": "dev_type",
        "installed_at": "installed",
        "created_at": "created_date",
        "last_report_at": "last_rpt_date",
        "status_flags": "device_status",
        "firmware": "img_pnum_running",
        "firmware_loaded_at": "img_load_date",
        "channel_eid": "chaneid",
        "control": "device_control",
        "charge_percent": "percentFull",
        "max_cell_temperature_c": "maxCellTemp",
        "sleep_min_percent": "sleep_min_soc",
        "sleep_max_percent": "sleep_max_soc",
    },
    DeviceControl: {"gfi_clear": "gficlearset"},
    DeviceInventory: {
        "inverters": "PCU",
        "ac_batteries": "ACB",
        "relays": "NSRB",
        "esubs": "ESUB",
    },
    Home: {
        "time_zone": "timezone",
        "local_date": "current_date",
        "local_time": "current_time",
        "software_built_at": "software_build_epoch",
        "web_comm": "network.web_comm",
        "ever_reported": "network.ever_reported_to_enlighten",
        "last_report_at": "network.last_enlighten_report_time",
        "primary_interface": "network.primary_interface",
        "interfaces": "network.interfaces",
        "wireless": "wireless_connection",
    },
    NetworkInterface: {"name": "interface"},
    CommLevel: {"count": "num"},
    CommLevels: {"count": "num"},
    BatteryCommLevel: {
        "count": "num",
        "level_2_4_ghz": "level_24g",
        "level_sub_ghz": "level_subg",
    },
    PvChannel: {
        "active_power_w": "activePower",
        "voltage_v": "voltage",
        "current_a": "current",
        "frequency_hz": "freq",
    },
}

# ---------------------------------------------------------------------------------------
# Primitive hooks. JSON decoding yields exact types, so ``type(v) is ...`` is precise and fast.

_JSON_KINDS = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def _kind(value: object) -> str:
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _float(value: Any, _: object) -> float:
    if value.__class__ is float and value - value == 0.0:  # finite: inf - inf is nan
        result: float = value + 0.0  # turns -0.0 into 0.0
        return result
    if value.__class__ is int:
        return float(value)
    if value.__class__ is float:
        raise ValueError("number out of range")
    raise TypeError(f"expected a number, got {_kind(value)}")


def _milli(value: Any, _: object) -> float:
    """Milli-units (mW, mVA) to base units (W, VA)."""
    return _float(value, None) / 1000.0


def _optional_milli(value: Any, _: object) -> float | None:
    return None if value is None else _float(value, None) / 1000.0


def _int(value: Any, _: object) -> int:
    if value.__class__ is int:
        return value
    raise TypeError(f"expected an integer, got {_kind(value)}")


def _str(value: Any, _: object) -> str:
    if value.__class__ is str:
        return value
    raise TypeError(f"expected a string, got {_kind(value)}")


def _bool(value: Any, _: object) -> bool:
    if value.__class__ is bool:
        return value
    raise TypeError(f"expected a boolean, got {_kind(value)}")


# Optional primitives are common (every inverter has one): one call instead of two.


def _optional_float(value: Any, _: object) -> float | None:
    return None if value is None else _float(value, None)


def _optional_int(value: Any, _: object) -> int | None:
    return None if value is None else _int(value, None)


def _optional_str(value: Any, _: object) -> str | None:
    return None if value is None else _str(value, None)


def _flag(value: Any, _: object) -> bool:
    """A boolean sent as the number 0 or 1 (or as a real boolean)."""
    if value in (0, 1) and type(value) in (int, bool):
        return bool(value)
    raise TypeError(f"expected 0 or 1, got {_kind(value)}")


def _text_bool(value: Any, _: object) -> bool:
    """A boolean sent as the text ``"true"``/``"false"`` (or as a real boolean)."""
    if type(value) is bool:
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    raise TypeError(f"expected true or false, got {_kind(value)}")


@lru_cache(maxsize=512)
def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _datetime(value: Any, _: object) -> datetime:
    """Seconds since the Unix epoch to a UTC-aware datetime."""
    cls = value.__class__
    if cls is int or cls is float:
        return _utc(value)
    raise TypeError(f"expected a timestamp in seconds, got {_kind(value)}")


def _counters(value: Any, _: object) -> dict[str, int]:
    if type(value) is not dict:
        raise TypeError(f"expected an object, got {_kind(value)}")
    for key, count in value.items():
        if type(count) is not int:
            error = TypeError(f"expected an integer, got {_kind(count)}")
            error.__notes__ = [IterableValidationNote("counter", key, int)]
            raise IterableValidationError("bad counter", [error], dict)
    return value


# Hooks of optional fields (beyond the brief): null, where sent, gives None.


def _reading(value: Any, _: object) -> float | None:
    """A measurement the gateway may report as ``"unknown"`` (temperatures after a reboot)."""
    if value is None or (value.__class__ is str and value == "unknown"):
        return None
    return _float(value, None)


def _fahrenheit(value: Any, _: object) -> float | None:
    """Degrees Fahrenheit (or ``"unknown"``) to degrees Celsius."""
    fahrenheit = _reading(value, None)
    return None if fahrenheit is None else (fahrenheit - 32.0) * 5.0 / 9.0


def _joules(value: Any, _: object) -> float | None:
    """Joules to watt-hours."""
    return None if value is None else _float(value, None) / 3600.0


def _kilo(value: Any, _: object) -> float | None:
    """Kilo-units (kW) to base units (W)."""
    return None if value is None else _float(value, None) * 1000.0


def _epoch(value: Any, _: object) -> datetime | None:
    """Seconds since the epoch; 0 means never."""
    if value is None or (value.__class__ in (int, float) and value == 0):
        return None
    return _datetime(value, None)


def _text_epoch(value: Any, _: object) -> datetime | None:
    """Seconds since the epoch sent as text (``"1709367413"``); ``"0"`` means never."""
    if value is None:
        return None
    if value.__class__ is not str:
        raise TypeError(f"expected seconds as text, got {_kind(value)}")
    if not value.isdigit():
        raise ValueError(f"expected seconds as digits, got {value[:20]!r}")
    return _epoch(int(value), None)


def _text_utc(value: Any, _: object) -> datetime | None:
    """A UTC time sent as ``"2024-03-06 22:58:46 UTC"``; empty means none."""
    if value is None or value == "":
        return None
    if value.__class__ is not str:
        raise TypeError(f"expected a time as text, got {_kind(value)}")
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)


def _comma_list(value: Any, _: object) -> tuple[str, ...]:
    """``"Mon,Tue,Wed"`` to ``("Mon", "Tue", "Wed")``."""
    return tuple(part.strip() for part in _str(value, None).split(",") if part.strip())


def _optional_flag(value: Any, _: object) -> bool | None:
    return None if value is None else _flag(value, None)


def _optional_text_bool(value: Any, _: object) -> bool | None:
    return None if value is None else _text_bool(value, None)


def _object(value: Any, _: object) -> dict[str, Any]:
    """A JSON object kept as sent (undocumented records)."""
    if type(value) is not dict:
        raise TypeError(f"expected an object, got {_kind(value)}")
    return value


def _objects(value: Any, _: object) -> tuple[dict[str, Any], ...]:
    """A JSON array of objects kept as sent."""
    if type(value) is not list:
        raise TypeError(f"expected an array, got {_kind(value)}")
    return tuple(_object(item, None) for item in value)


def _objects_by_key(value: Any, _: object) -> dict[str, dict[str, Any]]:
    """A JSON object of objects kept as sent."""
    for item in _object(value, None).values():
        _object(item, None)
    return value  # type: ignore[no-any-return] # checked to be a dict just above


_TEMPERATURE = {"temperature_c": _reading}
_ENSEMBLE_TIMES: dict[str, Hook] = dict.fromkeys(
    ("installed_at", "created_at", "last_report_at", "firmware_loaded_at"), _epoch
)
_INVENTORY_TIMES: dict[str, Hook] = dict.fromkeys(
    ("installed_at", "created_at", "last_report_at", "firmware_loaded_at"), _text_epoch
)
_MILLI_READINGS: dict[str, Hook] = dict.fromkeys(
    (
        "ac_voltage_v",
        "ac_current_a",
        "ac_frequency_hz",
        "dc_voltage_v",
        "dc_current_a",
        "l1_voltage_v",
        "l2_voltage_v",
        "l3_voltage_v",
        "voltage_v",
        "current_a",
        "frequency_hz",
    ),
    _optional_milli,
)

# Field hooks that differ from the hook of the field's type (unit conversions, odd encodings).
_FIELD_HOOKS: dict[type, dict[str, Hook]] = {
    LivePower: {
        field.name: _milli if field.default is attrs.NOTHING else _optional_milli
        for field in attrs.fields(LivePower)
    },
    LiveMeters: {"is_split_phase": _flag},
    UsbStatus: {"auto_scan": _text_bool},
    LiveData: {"counters": _counters},
    EnsembleDevice: _ENSEMBLE_TIMES | _TEMPERATURE,
    Battery: _ENSEMBLE_TIMES | _TEMPERATURE | {"max_cell_temperature_c": _reading},
    # The System Controller's temperature comes in degrees Fahrenheit.
    SystemController: _ENSEMBLE_TIMES | {"temperature_c": _fahrenheit},
    Collar: _ENSEMBLE_TIMES | _TEMPERATURE,
    CombinerController: _ENSEMBLE_TIMES | _TEMPERATURE,
    BatteryPower: {"active_power_w": _optional_milli, "apparent_power_va": _optional_milli},
    EnsembleStatus: {"devices": _objects_by_key, "counters": _counters},
    DryContactSetting: {"override": _optional_text_bool, "manual_override": _optional_text_bool},
    Generator: {"present": _optional_flag, "exercising": _optional_flag},
    # The rating's key says watts; the value is kilowatts (10.0 for a 10 kW generator).
    GeneratorConfig: {"rated_power_w": _kilo},
    GeneratorDay: {"week_days": _comma_list},
    Tariff: {"updated_at": _text_epoch},
    StorageSettings: {"updated_at": _text_epoch},
    TariffDay: {"week_days": _comma_list},
    BatterySchedule: {"updated_at": _text_utc},
    AcbConfig: {"sleep": _objects},
    ExportLimit: {"hard_reset_s": _optional_milli},
    DeviceChannel: {"reported_at": _epoch},
    ChannelReading: _MILLI_READINGS
    | {"ended_at": _epoch, "energy_produced_wh": _joules, "energy_used_wh": _joules}
    | {"temperature_c": _reading},
    ChannelLifetime: {"created_at": _epoch, "energy_produced_wh": _joules},
    SummarySource: {"read_at": _epoch},
    StorageSummary: {"read_at": _epoch},
    InventoryDevice: _INVENTORY_TIMES | {"max_cell_temperature_c": _reading},
    Home: {"software_built_at": _epoch, "last_report_at": _epoch},
}

# ---------------------------------------------------------------------------------------
# Reshaping before structuring: nested wire objects flattened into one model.


class _NotAnObjectError(TypeError):
    def __init__(self, key: str, value: object) -> None:
        super().__init__(f"expected an object, got {_kind(value)}")
        self.key = key


def _flatten(*outer: str, drop: tuple[str, ...] = ()) -> Prepare:
    """Lift the keys of nested objects to the top as ``outer.inner`` (null counts as absent),
    in order, so that ``outer`` may name a key lifted before it (``tariff.currency``).

    :param drop: Keys known but not modelled (duplicates of modelled ones), left out.
    """

    def prepare(obj: dict[str, Any]) -> dict[str, Any]:
        flat = {key: value for key, value in obj.items() if key not in outer}
        for key in outer:
            inner = obj.get(key) if key in obj else flat.pop(key, None)
            if inner is None:
                continue
            if type(inner) is not dict:
                raise _NotAnObjectError(key, inner)
            for name, value in inner.items():
                flat[f"{key}.{name}"] = value
        for key in drop:
            flat.pop(key, None)
        return flat

    return prepare


def _device_entries(obj: dict[str, Any]) -> dict[str, Any]:
    """Gather ``device_data``'s entries, keyed by device id, as ``devices``, each with its id."""
    rest = {key: value for key, value in obj.items() if type(value) is not dict}
    rest["devices"] = [{"id": key, **value} for key, value in obj.items() if type(value) is dict]
    return rest


def _live_power_spelling(obj: dict[str, Any]) -> dict[str, Any]:
    """Read the brief's ``_kw``/``_kva`` keys as ``_mw``/``_mva`` (error paths name the latter)."""
    if "agg_p_mw" in obj:
        return obj
    return {_LIVE_POWER_BRIEF_SPELLING.get(key, key): value for key, value in obj.items()}


def _without_dry_contacts(obj: dict[str, Any]) -> dict[str, Any]:
    # Newer firmware adds the dry-contact states here; they are not modelled (yet).
    if "dry_contacts" not in obj:
        return obj
    return {key: value for key, value in obj.items() if key != "dry_contacts"}


#: The bias again in fixed point (Q8 Hz, Q5 V): duplicates of the values in hertz and volts.
_FIXED_POINT_BIAS = tuple(
    f"{name}{phase}"
    for name in ("freq_bias_hz_q8", "voltage_bias_v_q5")
    for phase in ("", "_phaseb", "_phasec")
)

_PREPARE: dict[type, Prepare] = {
    ProvisionedDevice: _flatten("dev_info"),
    Energy: _flatten("production", "consumption"),
    LivePower: _live_power_spelling,
    LiveMeters: _without_dry_contacts,
    BatterySummary: _flatten(drop=_FIXED_POINT_BIAS),
    # ``profile`` only says "Obsolete API, please use ivp/arf/profile".
    EnsembleStatus: _flatten("inventory", "fakeit", drop=("profile",)),
    GeneratorSchedule: _flatten("default_soc", "schedule"),
    # ``logger`` is always "mylogger"; ``batt_mode`` repeats ``battery_mode``.
    Tariff: _flatten("tariff", "tariff.currency", drop=("tariff.logger",)),
    BatterySchedule: _flatten("schedule", drop=("batt_mode",)),
    DeviceData: _device_entries,
    DeviceChannel: _flatten("wattHours", "watts"),
    # ``flags_hex`` repeats ``flags`` in hexadecimal.
    ChannelReading: _flatten(drop=("flags_hex",)),
    Home: _flatten("network"),
}

# ---------------------------------------------------------------------------------------
# Tolerance: in lenient mode a value that does not fit an optional field of these models is
# read as None (and logged), so a firmware that changes one field's type loses that field,
# not the whole body. Strict mode reports it, naming the path.

_LOGGER = logging.getLogger("enphase_local.parsing")
_TOLERANT_MODULES = frozenset(
    f"enphase_local.models.{name}"
    for name in ("ensemble", "generator", "settings", "device_data", "summary", "inventory", "home")
)
#: The models whose optional fields are tolerant (those of the endpoints beyond the brief).
TOLERANT: frozenset[type] = frozenset(
    obj
    for obj in (getattr(models, name) for name in models.__all__)
    if isinstance(obj, type) and attrs.has(obj) and obj.__module__ in _TOLERANT_MODULES
)


def tolerate(cls: type, key: str, error: BaseException) -> None:
    """Log a value left out of an optional field of a tolerant model."""
    _LOGGER.warning(
        "%s: the value of %r does not fit and is read as None: %s",
        cls.__name__,
        key,
        str(error) or type(error).__name__,
    )


# ---------------------------------------------------------------------------------------
# Hook factories for composite types.


#: Every enum of the models; each has an UNKNOWN member for values it does not know.
_ENUMS = [
    obj
    for obj in (getattr(models, name) for name in models.__all__)
    if isinstance(obj, type) and issubclass(obj, Enum)
]


#: Older wire names of enum members (firmware renamed them).
ENUM_ALIASES: dict[type[Enum], dict[Any, Enum]] = {
    # Older firmware names the savings (time of use) mode ``savings-mode``.
    models.StorageMode: {"savings-mode": models.StorageMode.SAVINGS},
}


def enum_members(tp: type[Enum]) -> dict[Any, Enum]:
    """Each wire value of ``tp`` (older names included) and its member."""
    return {member.value: member for member in tp} | ENUM_ALIASES.get(tp, {})


def _enum_hook(tp: type[Enum]) -> Hook:
    members = enum_members(tp)
    unknown = tp["UNKNOWN"]
    wire_type, expected = (str, "a string") if issubclass(tp, str) else (int, "an integer")

    def structure_enum(value: Any, _: object) -> Enum:
        if type(value) is wire_type:
            return members.get(value, unknown)
        raise TypeError(f"expected {expected}, got {_kind(value)}")

    return structure_enum


def _is_optional(tp: Any) -> bool:
    args = get_args(tp)
    return get_origin(tp) in (Union, types.UnionType) and len(args) == 2 and type(None) in args


def _optional_hook(tp: Any, converter: Converter) -> Hook:
    inner = next(arg for arg in get_args(tp) if arg is not type(None))
    if inner in _OPTIONAL_PRIMITIVE_HOOKS:
        return _OPTIONAL_PRIMITIVE_HOOKS[inner]
    handler = converter.get_structure_hook(inner)

    def structure_optional(value: Any, _: object) -> Any:
        return None if value is None else handler(value, inner)

    return structure_optional


def _is_homogeneous_tuple(tp: Any) -> bool:
    args = get_args(tp)
    return get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


def _tuple_hook(tp: Any, converter: Converter) -> Hook:
    item_type = get_args(tp)[0]
    handler = converter.get_structure_hook(item_type)

    def structure_tuple_detailed(value: Any, _: object) -> tuple[Any, ...]:
        if type(value) is not list:
            raise TypeError(f"expected an array, got {_kind(value)}")
        items = []
        errors: list[Exception] = []
        for index, item in enumerate(value):
            try:
                items.append(handler(item, item_type))
            except STRUCTURE_FAILURES as err:
                err.__notes__ = [IterableValidationNote(f"item {index}", index, item_type)]
                errors.append(err)
        if errors:
            raise IterableValidationError(f"While structuring {tp!r}", errors, tp)
        return tuple(items)

    return structure_tuple_detailed


def _class_hook(cls: type, converter: Converter) -> Hook:
    wire = WIRE_NAMES.get(cls, {})
    hooks = _FIELD_HOOKS.get(cls, {})
    tolerant = cls in TOLERANT and not converter.forbid_extra_keys
    attrs.resolve_types(cls)
    overrides: dict[str, Any] = {}
    for field in attrs.fields(cls):
        key = wire.get(field.name, field.name)
        hook = hooks.get(field.name)
        if tolerant and field.default is None:
            hook = _tolerant_hook(cls, key, hook or converter.get_structure_hook(field.type))
        overrides[field.name] = override(rename=key, struct_hook=hook)
    generated: Hook = make_dict_structure_fn(cls, converter, **overrides)
    return _detailed_class_hook(cls, generated, _PREPARE.get(cls))


def _tolerant_hook(cls: type, key: str, hook: Hook) -> Hook:
    def structure_or_none(value: Any, tp: Any) -> Any:
        try:
            return hook(value, tp)
        except STRUCTURE_FAILURES as err:
            tolerate(cls, key, err)
            return None

    return structure_or_none


def _detailed_class_hook(cls: type, generated: Hook, prepare: Prepare | None) -> Hook:
    """Check for an object first, so the error points at it rather than at its keys."""

    def structure_checked(obj: Any, tp: Any) -> Any:
        if type(obj) is not dict:
            raise TypeError(f"expected an object, got {_kind(obj)}")
        if prepare is not None:
            try:
                obj = prepare(obj)
            except _NotAnObjectError as err:
                err.__notes__ = [AttributeValidationNote(err.key, err.key, dict)]
                raise ClassValidationError(
                    f"While structuring {cls.__name__}", [err], cls
                ) from None
        return generated(obj, tp)

    return structure_checked


_PRIMITIVE_HOOKS: dict[type, Hook] = {
    float: _float,
    int: _int,
    str: _str,
    bool: _bool,
    datetime: _datetime,
}
_OPTIONAL_PRIMITIVE_HOOKS: dict[type, Hook] = {
    float: _optional_float,
    int: _optional_int,
    str: _optional_str,
}


def _make_converter(*, strict: bool) -> Converter:
    converter = Converter(forbid_extra_keys=strict, detailed_validation=True)
    # Primitive hooks first: the class hooks generated below look them up once, at generation.
    # The enums are registered one by one, or they would inherit the hook of str or int.
    for primitive, hook in _PRIMITIVE_HOOKS.items():
        converter.register_structure_hook(primitive, hook)
    for enum in _ENUMS:
        converter.register_structure_hook(enum, _enum_hook(enum))
    converter.register_structure_hook_factory(_is_optional, _optional_hook)
    converter.register_structure_hook_factory(_is_homogeneous_tuple, _tuple_hook)
    converter.register_structure_hook_factory(attrs.has, _class_hook)
    return converter


#: Lenient and strict (unknown keys are errors), indexed by ``strict``.
_DETAILED = (_make_converter(strict=False), _make_converter(strict=True))

# ---------------------------------------------------------------------------------------
# Locating a failure.


def structure_detailed(data: object, tp: Any, *, strict: bool) -> Any:
    """Structure with cattrs' detailed validation, building models through ``__init__``.

    Slower than the generated fast path, and its reference: both give the same model.
    """
    return _DETAILED[strict].structure(data, tp)


def describe_failure(data: object, tp: Any, *, strict: bool) -> tuple[str, str]:
    """Structure ``data`` again with detailed validation: the JSON path and the problem."""
    try:
        structure_detailed(data, tp, strict=strict)
    except STRUCTURE_FAILURES as err:
        return _locate(err, "$")
    return "$", "body does not fit the model"


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def _step(key: str | int) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    if _PLAIN_KEY.fullmatch(key):
        return f".{key}"
    return "[" + repr(key) + "]"


def _locate(error: BaseException, path: str) -> tuple[str, str]:
    """The JSON path (with wire names) and a description of the first leaf error."""
    if isinstance(error, ForbiddenExtraKeysError):
        return path + _step(sorted(error.extra_fields)[0]), "unexpected key"
    if isinstance(error, BaseValidationError):
        first = error.exceptions[0]
        names = WIRE_NAMES.get(error.cl, {})
        for note in getattr(first, "__notes__", ()):
            if isinstance(note, AttributeValidationNote):
                return _locate(first, path + _step(names.get(note.name, note.name)))
            if isinstance(note, IterableValidationNote):
                return _locate(first, path + _step(note.index))
        return _locate(first, path)
    if isinstance(error, KeyError):
        return path, "missing required key"
    return path, str(error) or type(error).__name__
