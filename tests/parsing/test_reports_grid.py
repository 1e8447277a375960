"""/ivp/meters/reports/consumption and /ivp/meters/gridReading."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enphase_local import endpoints as ep
from enphase_local.errors import PayloadError
from enphase_local.models import GridChannel, ReportType, ReportValues

from .samples import CONSUMPTION_REPORT, GRID_READINGS, json_body, mutable

pytestmark = pytest.mark.usefixtures("json_backend")


def test_report_array() -> None:
    production = {**mutable(CONSUMPTION_REPORT), "reportType": "production"}
    reports = ep.CONSUMPTION_REPORTS.parse(json_body([production, CONSUMPTION_REPORT]), strict=True)
    assert [report.report_type for report in reports] == [
        ReportType.PRODUCTION,
        ReportType.NET_CONSUMPTION,
    ]
    report = reports[1]
    assert report.created_at == datetime(2022, 6, 7, 18, 4, 39, tzinfo=UTC)
    assert report.cumulative == ReportValues(
        current_power_w=119.423,
        active_power_w=119.423,
        apparent_power_va=105.678,
        reactive_power_var=-261.046,
        energy_delivered_wh=43110.122,
        energy_received_wh=0.0,
        reactive_energy_lagging_varh=-25071.856,
        reactive_energy_leading_varh=35895.778,
        apparent_energy_vah=192725.807,
        voltage_v=241.427,
        current_a=0.875,
        power_factor=1.0,
        frequency_hz=60.0,
    )
    assert [line.voltage_v for line in report.lines] == [120.673, 120.753]


def test_single_report_object_as_in_the_brief() -> None:
    (report,) = ep.CONSUMPTION_REPORTS.parse(json_body(CONSUMPTION_REPORT), strict=True)
    assert report.report_type is ReportType.NET_CONSUMPTION
    assert len(report.lines) == 2


def test_total_consumption_and_unknown_types() -> None:
    reports = [
        {**mutable(CONSUMPTION_REPORT), "reportType": "total-consumption"},
        {**mutable(CONSUMPTION_REPORT), "reportType": "storage"},
    ]
    parsed = ep.CONSUMPTION_REPORTS.parse(json_body(reports))
    assert [report.report_type for report in parsed] == [
        ReportType.TOTAL_CONSUMPTION,
        ReportType.UNKNOWN,
    ]


def test_report_empty_list() -> None:
    assert ep.CONSUMPTION_REPORTS.parse(b"[]") == ()


def test_report_wrong_type_in_line() -> None:
    body = [mutable(CONSUMPTION_REPORT)]
    body[0]["lines"][1]["rmsCurrent"] = "0.4"
    with pytest.raises(PayloadError) as caught:
        ep.CONSUMPTION_REPORTS.parse(json_body(body))
    assert caught.value.path == "$[0].lines[1].rmsCurrent"
    assert caught.value.endpoint == "/ivp/meters/reports/consumption"


def test_single_report_error_path_has_no_index() -> None:
    body = mutable(CONSUMPTION_REPORT)
    del body["cumulative"]["freqHz"]
    with pytest.raises(PayloadError, match="missing") as caught:
        ep.CONSUMPTION_REPORTS.parse(json_body(body))
    assert caught.value.path == "$.cumulative.freqHz"


def test_report_extra_key_strict() -> None:
    body = [{**mutable(CONSUMPTION_REPORT), "phase": "L1"}]
    assert len(ep.CONSUMPTION_REPORTS.parse(json_body(body))) == 1
    with pytest.raises(PayloadError) as caught:
        ep.CONSUMPTION_REPORTS.parse(json_body(body), strict=True)
    assert caught.value.path == "$[0].phase"


def test_report_wrong_top_level() -> None:
    with pytest.raises(PayloadError, match="expected an array"):
        ep.CONSUMPTION_REPORTS.parse(b'"report"')


def test_grid_three_phase_export() -> None:
    (reading,) = ep.GRID_READINGS.parse(json_body(GRID_READINGS), strict=True)
    assert reading.channels[0] == GridChannel(
        phase="L1",
        active_power_w=-658.588,
        reactive_power_var=-60.154,
        voltage_v=229.632,
        current_a=2.885,
        frequency_hz=50.0,
    )
    assert [channel.phase for channel in reading.channels] == ["L1", "L2", "L3"]
    # Negative active power: the site exports on every phase.
    assert all(channel.active_power_w < 0 for channel in reading.channels)


def test_grid_negative_zero() -> None:
    body = mutable(GRID_READINGS)
    body[0]["channels"][2].update(activePower=-0.0, reactivePower=-0.0)
    channel = ep.GRID_READINGS.parse(json_body(body))[0].channels[2]
    assert str(channel.active_power_w) == "0.0"
    assert str(channel.reactive_power_var) == "0.0"


def test_grid_empty() -> None:
    assert ep.GRID_READINGS.parse(b"[]") == ()
    assert ep.GRID_READINGS.parse(b'[{"channels": []}]', strict=True)[0].channels == ()


def test_grid_wrong_types() -> None:
    body = mutable(GRID_READINGS)
    body[0]["channels"][1]["phase"] = 2
    with pytest.raises(PayloadError, match="string") as caught:
        ep.GRID_READINGS.parse(json_body(body))
    assert caught.value.path == "$[0].channels[1].phase"


def test_grid_extra_key_strict() -> None:
    body = mutable(GRID_READINGS)
    body[0]["channels"][0]["apparentPower"] = 660.0
    assert len(ep.GRID_READINGS.parse(json_body(body))[0].channels) == 3
    with pytest.raises(PayloadError) as caught:
        ep.GRID_READINGS.parse(json_body(body), strict=True)
    assert caught.value.path == "$[0].channels[0].apparentPower"
