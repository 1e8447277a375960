"""/ivp/meters and /ivp/meters/readings."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from enphase_local import endpoints as ep
from enphase_local.errors import PayloadError
from enphase_local.models import (
    MeasurementType,
    Meter,
    MeteringStatus,
    MeterReading,
    MeterState,
    PhaseMode,
)

from .samples import METER_READINGS, METERS, json_body, mutable

pytestmark = pytest.mark.usefixtures("json_backend")


def test_meters_brief_sample() -> None:
    meters = ep.METERS.parse(json_body(METERS), strict=True)
    assert meters == (
        Meter(
            eid=704643328,
            state=MeterState.ENABLED,
            measurement_type=MeasurementType.PRODUCTION,
            phase_mode=PhaseMode.SPLIT,
            phase_count=2,
            metering_status=MeteringStatus.NORMAL,
            status_flags=(),
        ),
        Meter(
            eid=704643584,
            state=MeterState.ENABLED,
            measurement_type=MeasurementType.NET_CONSUMPTION,
            phase_mode=PhaseMode.SPLIT,
            phase_count=2,
            metering_status=MeteringStatus.NORMAL,
            status_flags=(),
        ),
    )


def test_meters_three_phase_disabled_with_flags() -> None:
    body = mutable(METERS)
    body[0].update(
        state="disabled",
        phaseMode="three",
        phaseCount=3,
        meteringStatus="check-wiring",
        statusFlags=["negative-production", "production-imbalance"],
    )
    body[1].update(measurementType="total-consumption", meteringStatus="not-metering")
    production, consumption = ep.METERS.parse(json_body(body))
    assert production.state is MeterState.DISABLED
    assert production.phase_mode is PhaseMode.THREE
    assert production.phase_count == 3
    assert production.metering_status is MeteringStatus.CHECK_WIRING
    assert production.status_flags == ("negative-production", "production-imbalance")
    assert consumption.measurement_type is MeasurementType.TOTAL_CONSUMPTION
    assert consumption.metering_status is MeteringStatus.NOT_METERING


def test_meters_unknown_enum_values_become_unknown() -> None:
    body = mutable(METERS)
    body[0].update(
        state="sleeping", measurementType="tidal", phaseMode="four", meteringStatus="odd"
    )
    meter = ep.METERS.parse(json_body(body), strict=True)[0]
    assert meter.state is MeterState.UNKNOWN
    assert meter.measurement_type is MeasurementType.UNKNOWN
    assert meter.phase_mode is PhaseMode.UNKNOWN
    assert meter.metering_status is MeteringStatus.UNKNOWN


def test_meters_empty_list_on_non_metered_gateway() -> None:
    assert ep.METERS.parse(b"[]\n") == ()


def test_meters_missing_status_flags_is_empty() -> None:
    body = mutable(METERS)
    del body[1]["statusFlags"]
    assert ep.METERS.parse(json_body(body), strict=True)[1].status_flags == ()


def test_meters_extra_key_lenient_and_strict() -> None:
    body = mutable(METERS)
    body[1]["newField"] = {"x": 1}
    assert len(ep.METERS.parse(json_body(body))) == 2
    with pytest.raises(PayloadError) as caught:
        ep.METERS.parse(json_body(body), strict=True)
    assert caught.value.path == "$[1].newField"
    assert caught.value.endpoint == "/ivp/meters"


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("eid", "704643328", "$[1].eid"),
        ("eid", 7.5, "$[1].eid"),
        ("eid", True, "$[1].eid"),
        ("state", 1, "$[1].state"),
        ("phaseCount", None, "$[1].phaseCount"),
        ("statusFlags", "negative-production", "$[1].statusFlags"),
        ("statusFlags", [1], "$[1].statusFlags[0]"),
        ("statusFlags", {"a": 1}, "$[1].statusFlags"),
    ],
)
def test_meters_wrong_types(field: str, value: object, path: str) -> None:
    body = mutable(METERS)
    body[1][field] = value
    with pytest.raises(PayloadError) as caught:
        ep.METERS.parse(json_body(body))
    assert caught.value.path == path


def test_meters_missing_required_key() -> None:
    body = mutable(METERS)
    del body[0]["measurementType"]
    with pytest.raises(PayloadError, match="missing") as caught:
        ep.METERS.parse(json_body(body))
    assert caught.value.path == "$[0].measurementType"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"eid": 1}', "expected an array, got an object"),
        (b"[1]", "expected an object, got a number"),
        (b'"meters"', "expected an array, got a string"),
        (b"null", "expected an array, got null"),
    ],
)
def test_meters_wrong_shape(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        ep.METERS.parse(body)


def test_readings_brief_sample() -> None:
    production, storage = ep.METER_READINGS.parse(json_body(METER_READINGS), strict=True)
    assert production.eid == 704643328
    assert production.timestamp == datetime(2022, 6, 3, 1, 11, 1, tzinfo=UTC)
    assert production.active_power_w == 132.118
    assert production.instantaneous_demand_w == 132.118
    assert production.reactive_power_var == -2663.476
    assert production.apparent_power_va == 2663.476
    assert production.voltage_v == 246.377
    assert production.current_a == 21.622
    assert production.frequency_hz == 59.188
    assert production.power_factor == 0.025
    assert production.energy_delivered_wh == 803639.138
    assert production.energy_received_wh == 2.65
    assert production.apparent_energy_vah == 823442.481
    assert production.reactive_energy_lagging_varh == 26264.291
    assert production.reactive_energy_leading_varh == 9545.452
    assert [channel.eid for channel in production.channels] == [
        1778385169,
        1778385170,
        1778385171,
    ]
    assert [channel.voltage_v for channel in production.channels] == [123.184, 123.193, 0.0]
    assert storage.eid == 704643840


def test_readings_negative_zero_is_positive_zero() -> None:
    storage = ep.METER_READINGS.parse(json_body(METER_READINGS))[1]
    values = [storage.active_power_w, storage.reactive_power_var, storage.instantaneous_demand_w]
    values += [channel.active_power_w for channel in storage.channels]
    assert values == [0.0] * 6
    assert all(math.copysign(1.0, value) == 1.0 for value in values)


def test_readings_integers_become_floats() -> None:
    body = mutable(METER_READINGS)
    body[0]["activePower"] = 250
    reading = ep.METER_READINGS.parse(json_body(body))[0]
    assert reading.active_power_w == 250.0
    assert type(reading.active_power_w) is float


def test_readings_without_channels() -> None:
    body = mutable(METER_READINGS)
    del body[0]["channels"]
    assert ep.METER_READINGS.parse(json_body(body), strict=True)[0].channels == ()


def test_readings_empty_list() -> None:
    assert ep.METER_READINGS.parse(b"[]") == ()


def test_readings_three_phase() -> None:
    body = mutable(METER_READINGS)
    for index, channel in enumerate(body[0]["channels"]):
        channel["voltage"] = 230.0 + index
        channel["activePower"] = 1000.0 * (index + 1)
    reading: MeterReading = ep.METER_READINGS.parse(json_body(body))[0]
    assert [channel.voltage_v for channel in reading.channels] == [230.0, 231.0, 232.0]
    assert sum(channel.active_power_w for channel in reading.channels) == 6000.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("123.1", "expected a number, got a string"),
        (True, "expected a number, got a boolean"),
        (None, "expected a number, got null"),
        ([1.0], "expected a number, got an array"),
    ],
)
def test_readings_wrong_type_names_the_path(value: object, message: str) -> None:
    body = mutable(METER_READINGS)
    body[1]["channels"][2]["voltage"] = value
    with pytest.raises(PayloadError, match=message) as caught:
        ep.METER_READINGS.parse(json_body(body))
    assert caught.value.path == "$[1].channels[2].voltage"
    assert caught.value.endpoint == "/ivp/meters/readings"


def test_readings_extra_key_in_channel_strict() -> None:
    body = mutable(METER_READINGS)
    body[0]["channels"][1]["phase"] = "L2"
    assert len(ep.METER_READINGS.parse(json_body(body))[0].channels) == 3
    with pytest.raises(PayloadError, match="unexpected key") as caught:
        ep.METER_READINGS.parse(json_body(body), strict=True)
    assert caught.value.path == "$[0].channels[1].phase"


def test_readings_bad_timestamp() -> None:
    body = mutable(METER_READINGS)
    body[0]["timestamp"] = "2022-06-03"
    with pytest.raises(PayloadError, match="timestamp") as caught:
        ep.METER_READINGS.parse(json_body(body))
    assert caught.value.path == "$[0].timestamp"


def test_readings_timestamp_out_of_range() -> None:
    body = mutable(METER_READINGS)
    body[0]["timestamp"] = 10**20
    with pytest.raises(PayloadError) as caught:
        ep.METER_READINGS.parse(json_body(body))
    assert caught.value.path == "$[0].timestamp"


def test_readings_truncated_body() -> None:
    with pytest.raises(PayloadError, match="not valid JSON"):
        ep.METER_READINGS.parse(json_body(METER_READINGS)[:-40])
