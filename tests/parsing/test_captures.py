"""Every real capture of a modelled endpoint parses in strict mode, and means what it says.

Strict mode makes unknown keys (and unknown XML elements) errors, so a firmware that adds a
field shows up here. Files whose recorded status was not 200, and error bodies such as
``{"error": "404 - Not Found"}``, are not bodies of the endpoint and are left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import attrs
import pytest

from enphase_local import endpoints as ep
from enphase_local import parsing
from enphase_local.models import (
    ConsumptionReport,
    Energy,
    GridReading,
    Info,
    Inverter,
    Meter,
    MeterReading,
    Production,
)
from tests.conftest import capture_sets, skip_without_captures

pytestmark = skip_without_captures()

Check = Callable[[Any, Any, Path], None]


def _check_info(info: Info, body: bytes, folder: Path) -> None:
    assert isinstance(info, Info)
    serial = re.search(rb"<sn>([^<]+)</sn>", body)
    assert serial is not None
    assert info.serial_number == serial.group(1).decode()
    # Sets are named after their firmware: "7.3.466_with_cts_3phase" runs 7.3.466.
    assert info.firmware == folder.name.split("_")[0]
    assert info.software.endswith(info.firmware)
    assert info.is_legacy is (info.firmware_version[0] < 7)
    assert len(info.packages) == body.count(b"<package ")
    assert all(package.version for package in info.packages)
    assert info.reported_at is not None
    assert info.reported_at.tzinfo is not None


def _no_unknown_enums(model: Meter | ConsumptionReport) -> None:
    for field in attrs.fields(type(model)):
        value = getattr(model, field.name)
        if isinstance(value, Enum):
            assert value.name != "UNKNOWN", f"{type(model).__name__}.{field.name} = UNKNOWN"


def _check_meters(meters: tuple[Meter, ...], raw: list[dict[str, Any]], folder: Path) -> None:
    assert [meter.eid for meter in meters] == [item["eid"] for item in raw]
    for meter, item in zip(meters, raw, strict=True):
        _no_unknown_enums(meter)
        assert meter.measurement_type.value == item["measurementType"]
        assert meter.phase_count == item["phaseCount"]
        assert list(meter.status_flags) == item["statusFlags"]


def _check_readings(
    readings: tuple[MeterReading, ...], raw: list[dict[str, Any]], folder: Path
) -> None:
    assert [reading.eid for reading in readings] == [item["eid"] for item in raw]
    for reading, item in zip(readings, raw, strict=True):
        assert reading.timestamp.timestamp() == item["timestamp"]
        assert reading.active_power_w == item["activePower"]
        assert reading.energy_delivered_wh == item["actEnergyDlvd"]
        assert reading.frequency_hz == item["freq"]
        assert [channel.eid for channel in reading.channels] == [
            channel["eid"] for channel in item["channels"]
        ]
        assert [channel.voltage_v for channel in reading.channels] == [
            channel["voltage"] for channel in item["channels"]
        ]
    meters_file = folder / "ivp_meters"
    if _is_body_of("ivp_meters", meters_file):
        # Readings join to meters by eid; every configured meter has its readings.
        meter_eids = {meter["eid"] for meter in json.loads(meters_file.read_bytes())}
        assert meter_eids <= {reading.eid for reading in readings}


def _check_production(production: Production, raw: dict[str, Any], folder: Path) -> None:
    assert production.power_w == raw["wattsNow"]
    assert production.energy_today_wh == raw["wattHoursToday"]
    assert production.energy_seven_days_wh == raw["wattHoursSevenDays"]
    assert production.energy_lifetime_wh == raw["wattHoursLifetime"]


def _check_inverters(
    inverters: tuple[Inverter, ...], raw: list[dict[str, Any]], folder: Path
) -> None:
    assert len(inverters) == len(raw) > 0
    assert [inverter.serial_number for inverter in inverters] == [
        item["serialNumber"] for item in raw
    ]
    assert [inverter.device_type for inverter in inverters] == [item.get("devType") for item in raw]
    for inverter, item in zip(inverters, raw, strict=True):
        assert inverter.last_report_at.timestamp() == item["lastReportDate"]
        assert inverter.last_report_w == item["lastReportWatts"]
        assert inverter.max_report_w >= inverter.last_report_w


def _check_energy(energy: Energy, raw: dict[str, Any], folder: Path) -> None:
    sources = {
        "production_inverters": raw["production"].get("pcu"),
        "production_revenue_meter": raw["production"].get("rgm"),
        "production_meter": raw["production"].get("eim"),
        "consumption_meter": raw.get("consumption", {}).get("eim"),
    }
    for name, counters in sources.items():
        value = getattr(energy, name)
        if counters is None:
            assert value is None
        else:
            assert value.power_w == counters["wattsNow"]
            assert value.energy_lifetime_wh == counters["wattHoursLifetime"]


def _check_grid(readings: tuple[GridReading, ...], raw: list[dict[str, Any]], folder: Path) -> None:
    assert len(readings) == len(raw) > 0
    for reading, item in zip(readings, raw, strict=True):
        assert [channel.phase for channel in reading.channels] == [
            channel["phase"] for channel in item["channels"]
        ]
        assert [channel.active_power_w for channel in reading.channels] == [
            channel["activePower"] for channel in item["channels"]
        ]


def _check_reports(
    reports: tuple[ConsumptionReport, ...], raw: list[dict[str, Any]], folder: Path
) -> None:
    assert len(reports) == len(raw) > 0
    for report, item in zip(reports, raw, strict=True):
        _no_unknown_enums(report)
        assert report.report_type.value == item["reportType"]
        assert report.created_at.timestamp() == item["createdAt"]
        assert report.cumulative.active_power_w == item["cumulative"]["actPower"]
        assert len(report.lines) == len(item["lines"])


#: Capture file name -> (parser, check of the parsed model against the raw body).
ENDPOINTS: dict[str, tuple[Callable[..., Any], Check]] = {
    "info": (parsing.parse_info, _check_info),
    "ivp_meters": (ep.METERS.parse, _check_meters),
    "ivp_meters_readings": (ep.METER_READINGS.parse, _check_readings),
    "api_v1_production": (ep.PRODUCTION.parse, _check_production),
    "api_v1_production_inverters": (ep.INVERTERS.parse, _check_inverters),
    "ivp_pdm_energy": (ep.ENERGY.parse, _check_energy),
    "ivp_meters_gridReading": (ep.GRID_READINGS.parse, _check_grid),
    "ivp_meters_reports": (ep.CONSUMPTION_REPORTS.parse, _check_reports),
}


def _is_body_of(name: str, path: Path) -> bool:
    """Whether the file holds a 200 body of the endpoint, not an error page or message."""
    if not path.is_file():
        return False
    log = path.with_name(f"{path.name}_log.json")
    if log.is_file() and json.loads(log.read_bytes()).get("code") != 200:
        return False
    body = path.read_bytes()
    if name == "info":
        return body.lstrip().startswith(b"<")
    try:
        decoded = json.loads(body)
    except ValueError:
        return False
    return not (isinstance(decoded, dict) and {"error", "err"} & decoded.keys())


def _capture_files() -> list[Any]:
    return [
        pytest.param(folder / name, id=f"{folder.name}/{name}")
        for folder in capture_sets()
        for name in ENDPOINTS
        if _is_body_of(name, folder / name)
    ]


@pytest.mark.parametrize("path", _capture_files())
def test_capture_parses_strictly(path: Path) -> None:
    parse, check = ENDPOINTS[path.name]
    body = path.read_bytes()
    model = parse(body, strict=True)
    check(model, body if path.name == "info" else json.loads(body), path.parent)


def test_every_set_has_info() -> None:
    assert all(_is_body_of("info", folder / "info") for folder in capture_sets())
