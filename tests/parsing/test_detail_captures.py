"""Every real capture of the endpoints beyond the brief parses strictly, and means what it says.

One test per (capture set, file) whose recorded status is 200 and whose body is not an error
message; each check compares the model with the raw body, units converted. The ``production``
file is the HTML page on firmware before 4 and the JSON of ``/production.json`` after;
``inventory`` holds the same groups as ``inventory.json?deleted=1``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import attrs
import pytest

from enphase_local import endpoints as ep
from enphase_local.models import (
    AcbConfig,
    BatterySummary,
    DeviceData,
    DeviceInventory,
    DeviceKind,
    DryContacts,
    DryContactSettings,
    EnsembleDevice,
    EnsembleInventory,
    EnsemblePower,
    EnsembleStatus,
    ExportLimit,
    Generator,
    GeneratorConfig,
    GeneratorMode,
    GeneratorSchedule,
    GridRelay,
    Home,
    InventoryDevice,
    ProductionSummary,
    PvLimit,
    PvReading,
    SourceType,
    SummarySource,
    Tariff,
)
from enphase_local.replies import raise_if_soft_error
from tests.conftest import capture_sets, skip_without_captures

from .test_captures import _check_reports

pytestmark = skip_without_captures()

Check = Callable[[Any, Any], None]


def _no_unknown_enums(model: Any, raw: dict[str, Any], wire: dict[str, str]) -> None:
    """Enums read UNKNOWN only where the gateway sent the word ``unknown``."""
    for field in attrs.fields(type(model)):
        value = getattr(model, field.name)
        if isinstance(value, Enum) and value.name == "UNKNOWN":
            assert raw[wire.get(field.name, field.name)] == "unknown", field.name


def _check_device(device: EnsembleDevice, raw: dict[str, Any]) -> None:
    assert device.serial_number == raw["serial_num"]
    assert device.part_number == raw["part_num"]
    assert device.status_flags == tuple(raw["device_status"])
    assert device.installed_at is not None
    assert device.installed_at.timestamp() == raw["installed"]
    assert device.communicating is raw["communicating"]


def _check_inventory(inventory: EnsembleInventory, raw: list[dict[str, Any]]) -> None:
    groups = {group["type"]: group["devices"] for group in raw}
    assert len(inventory.batteries) == len(groups.get("ENCHARGE", []))
    assert len(inventory.system_controllers) == len(groups.get("ENPOWER", []))
    for battery, item in zip(inventory.batteries, groups.get("ENCHARGE", []), strict=True):
        _check_device(battery, item)
        assert battery.charge_percent == item["percentFull"]
        assert battery.temperature_c == item["temperature"]
        assert battery.max_cell_temperature_c == item["maxCellTemp"]
        assert battery.capacity_wh == item["encharge_capacity"]
        assert battery.phase is None or battery.phase.value == item["phase"]
    for controller, item in zip(
        inventory.system_controllers, groups.get("ENPOWER", []), strict=True
    ):
        _check_device(controller, item)
        assert controller.mains_admin_state is not None
        assert controller.mains_admin_state.value == item["mains_admin_state"]
        assert controller.temperature_c == pytest.approx((item["temperature"] - 32) * 5 / 9)
        assert controller.relay_state_bitmap == item["Enpwr_relay_state_bm"]


def _check_power(power: EnsemblePower, raw: dict[str, Any]) -> None:
    items = raw["devices:"]
    assert [b.serial_number for b in power.batteries] == [i["serial_num"] for i in items]
    for battery, item in zip(power.batteries, items, strict=True):
        assert battery.active_power_w == item["real_power_mw"] / 1000
        assert battery.apparent_power_va == item["apparent_power_mva"] / 1000
        assert battery.charge_percent == item["soc"]


def _check_summary(summary: BatterySummary, raw: dict[str, Any]) -> None:
    assert summary.charge_percent == raw["agg_soc"]
    assert summary.max_energy_wh == raw["Max_energy"]
    assert summary.configured_backup_percent == raw["configured_backup_soc"]
    assert summary.battery_available_energy_wh == raw["ENC_agg_avail_energy"]
    assert summary.acb_energy_wh == raw["ACB_agg_energy"]
    assert summary.voltage_bias_c_v == raw["voltage_bias_v_phasec"]
    assert (summary.off_grid is None) is ("offgrid_secctrl" not in raw)


def _check_relay(relay: GridRelay, raw: dict[str, Any]) -> None:
    assert relay.mains_admin_state is not None
    assert relay.mains_admin_state.value == raw["mains_admin_state"]
    assert relay.mains_oper_state is not None
    assert relay.mains_oper_state.value == raw["mains_oper_state"]
    assert relay.der1_state == raw["der1_state"]
    wire = {"battery_grid_mode": "Enchg_grid_mode", "solar_grid_mode": "Solar_grid_mode"}
    _no_unknown_enums(relay, raw, wire)


def _check_status(status: EnsembleStatus, raw: dict[str, Any]) -> None:
    assert status.devices == raw["inventory"]["serial_nums"]
    assert status.counters == raw.get("counters", {})
    assert status.summary is not None
    _check_summary(status.summary, raw["secctrl"])
    assert status.relay is not None
    _check_relay(status.relay, raw["relay"])


def _check_dry_contacts(contacts: DryContacts, raw: dict[str, Any]) -> None:
    items = raw["dry_contacts"]
    assert [c.id for c in contacts.contacts] == [i["id"] for i in items]
    assert [c.state.value for c in contacts.contacts] == [i["status"] for i in items]


def _check_contact_settings(settings: DryContactSettings, raw: dict[str, Any]) -> None:
    for contact, item in zip(settings.contacts, raw["dry_contacts"], strict=True):
        assert contact.id == item["id"]
        assert contact.type is not None
        assert contact.type.value == item["type"]
        assert contact.charge_low_percent == item["soc_low"]
        assert contact.override is (item["override"] == "true")
        assert contact.pv_serial_numbers == tuple(item["pv_serial_nb"])


def _check_generator(generator: Generator, raw: dict[str, Any]) -> None:
    assert generator.present is bool(raw["present"])
    assert generator.start_percent == raw["start_soc"]
    assert generator.stop_percent == raw["stop_soc"]
    assert generator.state is not None
    assert generator.state.value == raw["oper_state"]


def _check_generator_config(config: GeneratorConfig, raw: dict[str, Any]) -> None:
    if not raw:
        assert config == GeneratorConfig()
        return
    assert config.rated_power_w == raw["name_plate_rating_wat"] * 1000  # sent in kW
    assert config.max_continuous_current_a == raw["max_cont_gen_amps"]
    assert config.manufacturer == raw["manufacturer"]


def _check_generator_schedule(schedule: GeneratorSchedule, raw: dict[str, Any]) -> None:
    if not raw:
        assert schedule == GeneratorSchedule()
        return
    assert schedule.exercise is not None
    assert schedule.exercise.every_weeks == raw["exercise_config"]["freq_in_weeks"]
    assert schedule.default_start_percent == raw["default_soc"]["start_soc"]
    assert len(schedule.seasons) == len(raw["schedule"]["default"])
    days = raw["schedule"]["default"][0]["days"][0]
    assert ",".join(schedule.seasons[0].days[0].week_days) == days["week_days"]


def _check_generator_mode(mode: GeneratorMode, raw: dict[str, Any]) -> None:
    assert mode.command is not None
    assert mode.command.value == raw["gen_cmd"]


def _check_tariff(tariff: Tariff, raw: dict[str, Any]) -> None:
    body = raw["tariff"]
    assert tariff.currency == body["currency"]["code"]
    assert len(tariff.seasons) == len(body["seasons"])
    storage = body.get("storage_settings")
    if storage is None:
        assert tariff.storage is None
    else:
        assert tariff.storage is not None
        assert tariff.storage.mode is not None
        assert tariff.storage.mode.value == storage["mode"]
        assert tariff.storage.reserve_percent == storage["reserved_soc"]
        assert tariff.storage.very_low_percent == storage["very_low_soc"]
        assert tariff.storage.charge_from_grid is storage["charge_from_grid"]
    assert tariff.schedule is not None
    schedule = raw["schedule"].get("schedule", {})
    assert len(tariff.schedule.tariff) == len(schedule.get("tariff", []))


def _check_acb_config(config: AcbConfig, raw: dict[str, Any]) -> None:
    assert list(config.sleep) == raw["acb_sleep"]


def _check_pv_limit(limit: PvLimit, raw: dict[str, Any]) -> None:
    assert limit.enabled is raw["enable"]
    assert limit.limit_percent == raw["pv_limit_pct"]


def _check_export_limit(limit: ExportLimit, raw: dict[str, Any]) -> None:
    assert limit.enabled is raw["PEL"]
    assert limit.limit == raw.get("PEL_Limit")


def _check_device_data(data: DeviceData, raw: dict[str, Any]) -> None:
    entries = {key: value for key, value in raw.items() if isinstance(value, dict)}
    assert [d.device_id for d in data.devices] == list(entries)
    assert data.device_count == raw["deviceCount"]
    assert data.device_limit == raw["deviceDataLimit"]
    assert not data.is_capped
    for device, item in zip(data.devices, entries.values(), strict=True):
        assert device.serial_number == item["sn"]
        assert device.kind is DeviceKind(item["devName"])
        assert device.removed is item["modGone"]
        assert len(device.channels) == len(item["channels"])
        channel, raw_channel = device.channels[0], item["channels"][0]
        assert channel.power_w == raw_channel["watts"]["now"]
        assert channel.energy_week_wh == raw_channel["wattHours"]["week"]
        reading, raw_reading = channel.last_reading, raw_channel["lastReading"]
        assert reading is not None
        if device.kind is DeviceKind.PCU and raw_reading:
            assert reading.dc_voltage_v == raw_reading["dcVoltageINmV"] / 1000
            assert reading.ac_frequency_hz == raw_reading["acFrequencyINmHz"] / 1000
            assert reading.temperature_c == raw_reading["channelTemp"]
            assert reading.energy_produced_wh == raw_reading["joulesProduced"] / 3600
            assert channel.lifetime is not None
            lifetime_j = raw_channel["lifetime"]["joulesProduced"]
            assert channel.lifetime.energy_produced_wh == lifetime_j / 3600
        if device.kind is DeviceKind.EIM and raw_reading:
            assert reading.voltage_v == raw_reading["rms_mvolt"] / 1000
            assert reading.energy_delivered_wh == raw_reading["wh_dlvd_cum"]


def _check_source(source: SummarySource, raw: dict[str, Any]) -> None:
    assert source.type.value == raw["type"]
    assert source.power_w == raw["wNow"]
    assert source.energy_lifetime_wh == raw["whLifetime"]
    assert source.energy_today_wh == raw.get("whToday")
    assert source.voltage_v == raw.get("rmsVoltage")
    assert len(source.lines) == len(raw.get("lines", []))
    for line, raw_line in zip(source.lines, raw.get("lines", []), strict=True):
        assert line.power_w == raw_line["wNow"]
    if source.measurement_type is not None:
        assert source.measurement_type.value == raw["measurementType"]


def _check_production_summary(summary: ProductionSummary, raw: Any) -> None:
    if isinstance(raw, bytes):  # the HTML page: the inverters' production only
        (inverters,) = summary.production
        assert inverters.type is SourceType.INVERTERS
        assert inverters.energy_lifetime_wh > 0
        assert summary.consumption == ()
        assert summary.storage == ()
        return
    for sources, key in ((summary.production, "production"), (summary.consumption, "consumption")):
        assert len(sources) == len(raw.get(key, []))
        for source, item in zip(sources, raw.get(key, []), strict=True):
            _check_source(source, item)
    for storage, item in zip(summary.storage, raw["storage"], strict=True):
        assert storage.power_w == item["wNow"]
        assert storage.energy_wh == item["whNow"]
        assert storage.charge_percent == item.get("percentFull")
        assert (storage.read_at is None) is (item["readingTime"] == 0)


def _check_inventory_device(device: InventoryDevice, raw: dict[str, Any]) -> None:
    assert device.serial_number == raw["serial_num"]
    assert device.device_type == raw["dev_type"]
    assert device.installed_at is not None
    assert device.installed_at.timestamp() == int(raw["installed"])
    assert (device.last_report_at is None) is (raw["last_rpt_date"] == "0")
    assert device.phase is None or device.phase.value == raw["phase"]


def _check_device_inventory(inventory: DeviceInventory, raw: list[dict[str, Any]]) -> None:
    groups = {group["type"]: group["devices"] for group in raw}
    kinds = {
        "PCU": inventory.inverters,
        "ACB": inventory.ac_batteries,
        "NSRB": inventory.relays,
        "ESUB": inventory.esubs,
    }
    assert set(groups) <= set(kinds)
    for kind, devices in kinds.items():
        assert len(devices) == len(groups.get(kind, []))
        for device, item in zip(devices, groups.get(kind, []), strict=True):
            _check_inventory_device(device, item)


def _check_home(home: Home, raw: dict[str, Any]) -> None:
    assert home.time_zone == raw["timezone"]
    assert home.local_time == raw["current_time"]
    assert home.last_report_at is not None
    assert home.last_report_at.timestamp() == raw["network"]["last_enlighten_report_time"]
    assert [i.name for i in home.interfaces] == [
        i["interface"] for i in raw["network"]["interfaces"]
    ]
    assert home.comm is not None
    assert home.comm.pcu is not None
    assert home.comm.pcu.count == raw["comm"]["pcu"]["num"]


def _check_pv_readings(readings: tuple[PvReading, ...], raw: list[dict[str, Any]]) -> None:
    assert len(readings) == len(raw) > 0
    for reading, item in zip(readings, raw, strict=True):
        assert [c.active_power_w for c in reading.channels] == [
            c["activePower"] for c in item["channels"]
        ]


#: Capture file name -> (endpoint row, check of the model against the raw body).
FILES: dict[str, tuple[ep.Endpoint[Any], Check]] = {
    "ivp_ensemble_inventory": (ep.ENSEMBLE_INVENTORY, _check_inventory),
    "ivp_ensemble_power": (ep.BATTERY_POWER, _check_power),
    "ivp_ensemble_secctrl": (ep.BATTERY_SUMMARY, _check_summary),
    "ivp_ensemble_status": (ep.ENSEMBLE_STATUS, _check_status),
    "ivp_ensemble_relay": (ep.GRID_RELAY, _check_relay),
    "ivp_ensemble_dry_contacts": (ep.DRY_CONTACTS, _check_dry_contacts),
    "ivp_ss_dry_contact_settings": (ep.DRY_CONTACT_SETTINGS, _check_contact_settings),
    "ivp_ensemble_generator": (ep.GENERATOR, _check_generator),
    "ivp_ss_gen_config": (ep.GENERATOR_CONFIG, _check_generator_config),
    "ivp_ss_gen_schedule": (ep.GENERATOR_SCHEDULE, _check_generator_schedule),
    "ivp_ss_gen_mode": (ep.GENERATOR_MODE, _check_generator_mode),
    "admin_lib_tariff": (ep.TARIFF, _check_tariff),
    "admin_lib_acb_config": (ep.ACB_CONFIG, _check_acb_config),
    "ivp_sc_pvlimit": (ep.PV_LIMIT, _check_pv_limit),
    "ivp_ss_pel_settings": (ep.EXPORT_LIMIT, _check_export_limit),
    "ivp_pdm_device_data": (ep.DEVICE_DATA, _check_device_data),
    "production.json": (ep.PRODUCTION_SUMMARY, _check_production_summary),
    "production.json_details_1": (ep.PRODUCTION_SUMMARY, _check_production_summary),
    "production": (ep.PRODUCTION_SUMMARY, _check_production_summary),
    "inventory.json_deleted_1": (ep.DEVICE_INVENTORY, _check_device_inventory),
    "inventory": (ep.DEVICE_INVENTORY, _check_device_inventory),
    "home": (ep.HOME, _check_home),
    "ivp_meters_reports": (
        ep.METER_REPORTS,
        lambda models, raw: _check_reports(models, raw, Path()),
    ),
    "ivp_meters_pvReading": (ep.PV_READINGS, _check_pv_readings),
}


def recorded_status(path: Path) -> int:
    """The status the capture recorded for a file (200 when it has no log)."""
    log = path.with_name(f"{path.name}_log.json")
    return int(json.loads(log.read_bytes()).get("code", 200)) if log.is_file() else 200


def row_for(path: Path) -> ep.Endpoint[Any]:
    """The row that parses a capture file: the HTML page's for an HTML ``production``."""
    row = FILES[path.name][0]
    if path.name == "production" and path.read_bytes().lstrip().startswith(b"<"):
        return ep.PRODUCTION_PAGE
    return row


def is_real_body(path: Path) -> bool:
    """Whether a capture file holds a 200 body of its endpoint, not an error page or message."""
    if recorded_status(path) != 200:
        return False
    row = row_for(path)
    if row.xml:
        return True
    try:
        raise_if_soft_error(row.path, path.read_bytes())
    except Exception:  # noqa: BLE001 - any refusal means it is not a body of the endpoint
        return False
    return True


def capture_files(*, real: bool) -> list[Any]:
    """The capture files of these endpoints holding a real body (or, ``real=False``, not)."""
    return [
        pytest.param(folder / name, id=f"{folder.name}/{name}")
        for folder in capture_sets()
        for name in FILES
        if (folder / name).is_file() and is_real_body(folder / name) is real
    ]


@pytest.mark.parametrize("path", capture_files(real=True))
def test_capture_parses_strictly(path: Path) -> None:
    body = path.read_bytes()
    model = row_for(path).parse(body, strict=True)
    raw = body if row_for(path).xml else json.loads(body)
    FILES[path.name][1](model, raw)


@pytest.mark.parametrize("path", capture_files(real=True))
def test_lenient_parse_equals_strict(path: Path) -> None:
    row = row_for(path)
    assert row.parse(path.read_bytes()) == row.parse(path.read_bytes(), strict=True)


def test_every_file_kind_has_a_real_body() -> None:
    seen = {Path(param.values[0]).name for param in capture_files(real=True)}
    assert seen == set(FILES)
