"""The one cattrs converter: wire names, unit conversions and type checks live here.

Two converters are built from the same recipe, lenient and strict (extra keys are errors),
both with cattrs' detailed validation. Bodies are structured by functions generated from
these same tables and hooks (:mod:`enphase_local.parsing.fastpath`); only when that fails is
the body structured again here, to find the JSON path of the first problem for the
:class:`~enphase_local.errors.PayloadError`.

Hooks are strict about JSON types: a boolean is not a number, a number is not a string, and
an array is not an object. Unknown enum values become ``UNKNOWN``.
"""

from __future__ import annotations

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
    ConsumptionReport,
    Energy,
    GridChannel,
    Inverter,
    LiveConnection,
    LiveData,
    LiveMeters,
    LivePower,
    LiveTasks,
    Meter,
    MeterChannelReading,
    MeterReading,
    Production,
    ProvisionedDevice,
    ReportValues,
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


# Field hooks that differ from the hook of the field's type (unit conversions, odd encodings).
_FIELD_HOOKS: dict[type, dict[str, Hook]] = {
    LivePower: {
        field.name: _milli if field.default is attrs.NOTHING else _optional_milli
        for field in attrs.fields(LivePower)
    },
    LiveMeters: {"is_split_phase": _flag},
    UsbStatus: {"auto_scan": _text_bool},
    LiveData: {"counters": _counters},
}

# ---------------------------------------------------------------------------------------
# Reshaping before structuring: nested wire objects flattened into one model.


class _NotAnObjectError(TypeError):
    def __init__(self, key: str, value: object) -> None:
        super().__init__(f"expected an object, got {_kind(value)}")
        self.key = key


def _flatten(*outer: str) -> Prepare:
    """Lift the keys of nested objects to the top as ``outer.inner`` (null counts as absent)."""

    def prepare(obj: dict[str, Any]) -> dict[str, Any]:
        flat = {key: value for key, value in obj.items() if key not in outer}
        for key in outer:
            inner = obj.get(key)
            if inner is None:
                continue
            if type(inner) is not dict:
                raise _NotAnObjectError(key, inner)
            for name, value in inner.items():
                flat[f"{key}.{name}"] = value
        return flat

    return prepare


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


_PREPARE: dict[type, Prepare] = {
    ProvisionedDevice: _flatten("dev_info"),
    Energy: _flatten("production", "consumption"),
    LivePower: _live_power_spelling,
    LiveMeters: _without_dry_contacts,
}

# ---------------------------------------------------------------------------------------
# Hook factories for composite types.


#: Every enum of the models; each has an UNKNOWN member for values it does not know.
_ENUMS = [
    obj
    for obj in (getattr(models, name) for name in models.__all__)
    if isinstance(obj, type) and issubclass(obj, Enum)
]


def _enum_hook(tp: type[Enum]) -> Hook:
    members = {member.value: member for member in tp}
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
    overrides: dict[str, Any] = {
        field.name: override(
            rename=wire.get(field.name, field.name), struct_hook=hooks.get(field.name)
        )
        for field in attrs.fields(cls)
    }
    generated: Hook = make_dict_structure_fn(cls, converter, **overrides)
    return _detailed_class_hook(cls, generated, _PREPARE.get(cls))


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
