"""Property tests: whatever the gateway sends, a parser returns a model or a PayloadError."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enphase_local import endpoints as ep
from enphase_local import parsing
from enphase_local.errors import NotSupportedError, PayloadError

from . import detail_samples as detail
from .samples import (
    CONSUMPTION_REPORT,
    DEVICE_LIST,
    ENERGY,
    GRID_READINGS,
    INVERTERS,
    LIVE_DATA,
    METER_READINGS,
    METERS,
    PRODUCTION,
    json_body,
    mutable,
)

JSON_PARSERS: dict[str, tuple[Callable[..., Any], Any]] = {
    "device_list": (ep.DEVICE_LIST.parse, DEVICE_LIST),
    "meters": (ep.METERS.parse, METERS),
    "meter_readings": (ep.METER_READINGS.parse, METER_READINGS),
    "production": (ep.PRODUCTION.parse, PRODUCTION),
    "energy": (ep.ENERGY.parse, ENERGY),
    "inverters": (ep.INVERTERS.parse, INVERTERS),
    "live_data": (ep.LIVE_DATA.parse, LIVE_DATA),
    "stream_status": (parsing.parse_stream_status, {"sc_stream": "enabled"}),
    "consumption_reports": (ep.CONSUMPTION_REPORTS.parse, [CONSUMPTION_REPORT]),
    "grid_readings": (ep.GRID_READINGS.parse, GRID_READINGS),
    "inventory": (ep.ENSEMBLE_INVENTORY.parse, detail.ENSEMBLE_INVENTORY),
    "battery_power": (ep.BATTERY_POWER.parse, detail.ENSEMBLE_POWER),
    "ensemble_status": (ep.ENSEMBLE_STATUS.parse, detail.ENSEMBLE_STATUS),
    "dry_contact_settings": (ep.DRY_CONTACT_SETTINGS.parse, detail.DRY_CONTACT_SETTINGS),
    "generator_schedule": (ep.GENERATOR_SCHEDULE.parse, detail.GENERATOR_SCHEDULE),
    "tariff": (ep.TARIFF.parse, detail.TARIFF),
    "acb_config": (ep.ACB_CONFIG.parse, detail.ACB_CONFIG),
    "export_limit": (ep.EXPORT_LIMIT.parse, detail.EXPORT_LIMIT),
    "device_data": (ep.DEVICE_DATA.parse, detail.DEVICE_DATA),
    "production_summary": (ep.PRODUCTION_SUMMARY.parse, detail.PRODUCTION_SUMMARY),
    "device_inventory": (ep.DEVICE_INVENTORY.parse, detail.DEVICE_INVENTORY),
    "home": (ep.HOME.parse, detail.HOME),
    "pv_readings": (ep.PV_READINGS.parse, detail.PV_READINGS),
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a sample."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _payload_error(parse: Callable[..., Any], body: bytes, *, strict: bool) -> PayloadError | None:
    """Parse; return the PayloadError raised, if any (any other exception fails the test)."""
    try:
        parse(body, strict=strict)
    except PayloadError as err:
        return err
    return None


def _replace(sample: Any, path: tuple[Any, ...], new: Any) -> Any:
    body = mutable(sample)
    target = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return body


@pytest.mark.parametrize("name", sorted(JSON_PARSERS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_change_gives_a_model_or_payload_error(name: str, data: st.DataObject) -> None:
    parse, sample = JSON_PARSERS[name]
    path = data.draw(st.sampled_from(_paths(sample)), label="path")
    value = data.draw(json_values, label="value")
    body = json_body(_replace(sample, path, value))
    for strict in (False, True):
        error = _payload_error(parse, body, strict=strict)
        if error is not None:
            assert error.path.startswith("$")
            assert error.endpoint.startswith("/")


@pytest.mark.parametrize("name", sorted(JSON_PARSERS))
@settings(max_examples=40, deadline=None)
@given(body=st.binary(max_size=64) | json_values.map(lambda value: json.dumps(value).encode()))
def test_any_body_gives_a_model_or_payload_error(name: str, body: bytes) -> None:
    parse, _ = JSON_PARSERS[name]
    with contextlib.suppress(PayloadError):
        parse(body)


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_info_body_gives_info_or_payload_error(body: bytes) -> None:
    with contextlib.suppress(PayloadError):
        parsing.parse_info(b"<envoy_info>" + body + b"</envoy_info>", strict=True)


finite = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53)


@settings(max_examples=100, deadline=None)
@given(power=finite, voltage=finite)
def test_numbers_survive_and_negative_zero_is_normalised(power: float, voltage: float) -> None:
    body = mutable(METER_READINGS)
    body[0]["activePower"] = power
    body[0]["channels"][0]["voltage"] = voltage
    reading = ep.METER_READINGS.parse(json_body(body), strict=True)[0]
    assert reading.active_power_w == float(power)
    assert reading.channels[0].voltage_v == float(voltage)
    assert math.copysign(1.0, reading.active_power_w) == math.copysign(1.0, power + 0.0)


@settings(max_examples=80, deadline=None)
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_production_page_gives_a_model_or_a_library_error(body: bytes) -> None:
    page = b"<table><tr><td>Currently</td><td>" + body + b"</td></tr></table>"
    for candidate in (body, page):
        with contextlib.suppress(PayloadError, NotSupportedError):
            ep.PRODUCTION_PAGE.parse(candidate, strict=True)
