"""Bodies of the configuration endpoints: tariff and storage mode, dry contact settings,
generator settings, PV and export limits, AC Battery sleep.

These are what an installer or the owner set up, so they do not move with the clock, only
with writes (:mod:`~enphase_local.simulator.writes`); the values the physics uses (the storage
mode, reserve and charge from grid, the tariff's peak hours, the generator command and its
start and stop levels, each dry contact's settings, AC Battery sleep) are read from the plant,
the dry contact bank and :mod:`~enphase_local.simulator.grid`, so every endpoint that shows
them agrees.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from enphase_local.simulator.firmware import Change, has
from enphase_local.simulator.grid import (
    GENERATOR_START_SOC,
    GENERATOR_STOP_SOC,
    VERY_LOW_SOC_PCT,
)
from enphase_local.simulator.profiles import Profile
from enphase_local.simulator.snapshot import Snapshot
from enphase_local.simulator.storage import DEFAULT_PERIODS
from enphase_local.simulator.wire import JsonValue, compact, dumps

_WEEK = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
#: Who last changed a setting, as the gateway records it (the installer's commissioning app).
_UPDATED_BY = "ITK"


def very_low_soc(profile: Profile) -> int:
    """Charge below which the batteries stop giving power, percent (5 without batteries)."""
    return 10 if profile.battery_count else VERY_LOW_SOC_PCT


def dry_contact_settings(snapshot: Snapshot) -> bytes:
    """``/ivp/ss/dry_contact_settings``: per contact its type, actions, levels and load."""
    contacts: list[JsonValue] = list(snapshot.contacts.entries.values())
    return dumps({"dry_contacts": contacts})


# --- tariff -------------------------------------------------------------------------------


def _currency(profile: Profile) -> tuple[str, float, float]:
    """(code, rate, feed-in rate) of a 60 Hz (US) or 50 Hz (European) site."""
    return ("USD", 0.15, 0.03) if profile.frequency_hz == 60.0 else ("EUR", 0.3, 0.08)


def _season(name: str, start: str, rate: float, profile: Profile) -> JsonValue:
    day: dict[str, JsonValue] = {
        "id": "all_days",
        "days": ",".join((*_WEEK[1:], _WEEK[0])),
        "must_charge_start": 0,
        "must_charge_duration": 0,
        "must_charge_mode": "CG",
    }
    if has(profile, Change.TARIFF_PEAK_RULE):
        day["peak_rule"] = "DL"
    periods: list[JsonValue] = [
        {"id": "period_1" if factor > 1 else "filler", "start": start, "rate": rate * factor}
        for start, factor in DEFAULT_PERIODS
    ]
    day |= {"enable_discharge_to_grid": False, "periods": periods}
    return {"id": name, "start": start, "days": [day], "tiers": []}


def _week(setting: str) -> dict[str, JsonValue]:
    return {day: [{"start": 0, "duration": 1440, "setting": setting}] for day in _WEEK}


def _battery_schedule(snapshot: Snapshot, stamp: str) -> dict[str, JsonValue]:
    """The battery's schedule file beside the tariff (7.x and later)."""
    profile, storage = snapshot.profile, snapshot.plant.storage
    mode = storage.mode.value
    peak = has(profile, Change.TARIFF_PEAK_RULE)
    optional = has(profile, Change.TARIFF_OPT_SCHEDULES)
    body: dict[str, JsonValue] = {"filename": "Tariff"} if peak else {}
    body |= {"source": "Tariff", "date": stamp, "version": "00.00.02"}
    body |= {
        "reserved_soc": float(storage.reserve_pct),
        "very_low_soc": very_low_soc(profile),
        "charge_from_grid": storage.charge_from_grid,
    }
    if peak:
        body["batt_mode"] = mode
    body |= {"battery_mode": mode, "operation_mode_sub_type": ""}
    if optional:
        body["opt_schedules"] = False
    body |= {
        "override": False,
        "override_backup_soc": 30.0,
        "override_chg_dischg_rate": 0.0,
        "override_tou_mode": "StorageTouMode_DEFAULT_TOU_MODE",
        "schedule": {
            "Disable": [{day: entries} for day, entries in _week("ID").items()],
            "tariff": [
                {"start": "6/1", "end": "12/1", **_week("ZN")},
                {"start": "12/1", "end": "6/1", **_week("ZN")},
            ],
        },
    }
    return body


def _storage_values(snapshot: Snapshot) -> dict[str, JsonValue]:
    """The storage settings the batteries follow."""
    storage = snapshot.plant.storage
    return {
        "mode": storage.mode.value,
        "reserved_soc": float(storage.reserve_pct),
        "charge_from_grid": storage.charge_from_grid,
    }


def _storage_settings(snapshot: Snapshot, date: str) -> dict[str, JsonValue]:
    profile = snapshot.profile
    values = _storage_values(snapshot)
    body: dict[str, JsonValue] = {
        "mode": values["mode"],
        "operation_mode_sub_type": "",
        "reserved_soc": values["reserved_soc"],
        "very_low_soc": very_low_soc(profile),
        "charge_from_grid": values["charge_from_grid"],
        "date": date,
    }
    if has(profile, Change.TARIFF_OPT_SCHEDULES):
        body["opt_schedules"] = False
    return body


def tariff_object(snapshot: Snapshot) -> dict[str, JsonValue]:
    """The ``tariff`` object: as last written (its storage settings as the batteries follow
    them, which the cloud may have put back), else the simulator's own."""
    written = snapshot.tariff
    if written is None:
        return _default_tariff(snapshot)
    body = dict(written)
    storage = body.get("storage_settings")
    if isinstance(storage, dict):
        body["storage_settings"] = {**storage, **_storage_values(snapshot)}
    return body


def _default_tariff(snapshot: Snapshot) -> dict[str, JsonValue]:
    profile = snapshot.profile
    code, rate, sell = _currency(profile)
    date = str(snapshot.plant.installed_at)
    storage = has(profile, Change.TARIFF_STORAGE)
    body: dict[str, JsonValue] = {"currency": {"code": code}}
    if storage:
        body |= {"logger": "mylogger", "date": date}
        body["storage_settings"] = _storage_settings(snapshot, date)
    body["single_rate"] = {"rate": rate, "sell": sell}
    seasons = [_season("summer", "6/1", rate, profile), _season("winter", "12/1", rate, profile)]
    body |= {"seasons": seasons if storage else [], "seasons_sell": []}
    return body


def tariff(snapshot: Snapshot) -> bytes:
    """``/admin/lib/tariff``: the tariff, the storage mode and reserve, the schedule.

    The storage settings show the mode, the reserve the batteries keep on grid (as
    ``secctrl`` and the live data do) and charge from grid. The default seasons have a peak
    from 16:00 to 21:00, at twice the rate. Written compact, as the device writes it.
    """
    profile = snapshot.profile
    body = tariff_object(snapshot)
    stamp = dt.datetime.fromtimestamp(snapshot.plant.installed_at, dt.UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC"
    )
    storage = has(profile, Change.TARIFF_STORAGE)
    schedule = (
        _battery_schedule(snapshot, stamp)
        if storage
        else {"source": "Tariff", "date": stamp, "version": "00.00.02"}
    )
    return compact({"tariff": body, "schedule": schedule})


def tariff_content_type(profile: Profile) -> str | None:
    """8.3 sends the tariff without a Content-Type; older firmware as JSON."""
    return None if has(profile, Change.TARIFF_NO_CONTENT_TYPE) else "application/json"


# --- small settings -----------------------------------------------------------------------


def acb_sleep_entries(sleep: Mapping[str, tuple[float, float]]) -> list[JsonValue]:
    """AC Batteries told to sleep (serial -> charge band), as ``acb_config`` lists them."""
    return [
        {"serial_num": serial, "sleep_min_soc": low, "sleep_max_soc": high}
        for serial, (low, high) in sleep.items()
    ]


def acb_config(snapshot: Snapshot) -> bytes:
    """``/admin/lib/acb_config``: the AC Batteries told to sleep, and their charge band."""
    return compact({"acb_sleep": acb_sleep_entries(snapshot.plant.acb_sleep)})


def pv_limit(snapshot: Snapshot) -> bytes:
    """``/ivp/sc/pvlimit``: no PV limit."""
    del snapshot
    return dumps({"enable": False, "pv_limit_pct": 100})


def export_limit(snapshot: Snapshot) -> bytes:
    """``/ivp/ss/pel_settings``: no export limit (8.3 spells out the whole object)."""
    if not has(snapshot.profile, Change.PEL_FULL):
        return dumps({"PEL": False})
    return dumps(
        {
            "PEL": False,
            "Hard_PEL": False,
            "Soft_PEL": False,
            "Export_Limit_Type": "Aggregate",
            "percent": False,
            "apparent": False,
            "PEL_Limit": 0.0,
            "Comm_Time_Loss": 0.0,
            "Resp_Time_SoftPEL": 0.0,
            "Resp_Time_HardPEL": 0.0,
            "msReset_HardPEL": 0.0,
            "PEL_db": 0.0,
        }
    )


# --- generator ----------------------------------------------------------------------------


def gen_config(snapshot: Snapshot) -> bytes:
    """``/ivp/ss/gen_config``: the generator's nameplate and start method (``{}`` without)."""
    rating_w = snapshot.profile.generator_w
    if not rating_w:
        return dumps({})
    return dumps(
        {
            "max_cont_gen_amps": round(rating_w / 240, 1),
            "min_gen_loading_perc": 5,
            "max_gen_efficiency_perc": 100,
            "name_plate_rating_wat": rating_w / 1000,  # in kW, whatever the name says
            "start_method": "auto",
            "warm_up_mins": 5,
            "cool_down_mins": 5,
            "gen_type": "Standby",
            "model": f"Simulated standby {rating_w / 1000:g} kW",
            "manufacturer": "Simulated",
            "last_updated_by": _UPDATED_BY,
            "generator_id": f"30{snapshot.serial[-8:]}",
            "charge_from_generator": True,
        }
    )


def gen_schedule(snapshot: Snapshot) -> bytes:
    """``/ivp/ss/gen_schedule``: exercise runs and the start and stop levels (``{}`` without)."""
    if not snapshot.profile.generator_w:
        return dumps({})
    period: JsonValue = {
        "id": "normal_1",
        "start": 0.0,
        "duration": 1440.0,
        "start_soc": float(GENERATOR_START_SOC),
        "stop_soc": float(GENERATOR_STOP_SOC),
        "setting": "AON",
    }
    days: JsonValue = {
        "id": "all_days",
        "week_days": "Mon,Tue,Wed,Thu,Fri,Sat,Sun",
        "periods": [period],
    }
    return dumps(
        {
            "exercise_config": {"freq_in_weeks": 2, "start": 600, "duration": 15, "day": "Sat"},
            "default_soc": {"start_soc": GENERATOR_START_SOC, "stop_soc": GENERATOR_STOP_SOC},
            "schedule": {
                "default": [{"id": "always_on", "start": "1/1", "end": "12/31", "days": [days]}]
            },
            "last_updated_by": _UPDATED_BY,
        }
    )


def gen_mode(snapshot: Snapshot) -> bytes:
    """``/ivp/ss/gen_mode``: the generator command (``{}`` without a generator, like its
    neighbours ``gen_config`` and ``gen_schedule``; no capture shows that case).

    ``auto`` by default: the generator starts off grid when the charge runs low. (The one
    capture reads ``on`` on grid with the generator stopped: ``on`` runs it only off grid.)
    """
    if not snapshot.profile.generator_w:
        return dumps({})
    return dumps({"gen_cmd": snapshot.plant.generator.mode.value, "last_updated_by": _UPDATED_BY})
