"""The JSON encoder writes what the device writes."""

from __future__ import annotations

import json

import pytest

from enphase_local.diagnostics.layout import capture_file_name
from enphase_local.simulator.profiles import PROFILES, get_profile
from enphase_local.simulator.wire import Fixed, JsonValue, dumps


def test_floats_have_three_decimals_and_negative_zero() -> None:
    text = dumps({"a": 60.0, "b": -0.0, "c": 1, "d": Fixed(1.0, 2), "e": True, "f": None})
    assert text == (
        b'{\n    "a": 60.000,\n    "b": -0.000,\n    "c": 1,\n    "d": 1.00,\n'
        b'    "e": true,\n    "f": null\n}\n'
    )


def test_layout_matches_json_module() -> None:
    value: JsonValue = [{"x": [1, 2, {"y": "z\u00e9"}], "e": [], "o": {}}, "s"]
    for indent in (2, 4):
        assert dumps(value, indent=indent).decode() == json.dumps(value, indent=indent) + "\n"


def test_unsupported_values() -> None:
    with pytest.raises(TypeError):
        dumps({"a": object()})  # type: ignore[dict-item]  # deliberately wrong


def test_profiles() -> None:
    assert get_profile("legacy").legacy
    assert not get_profile("metered").legacy
    assert get_profile("three-phase").firmware_major == 7
    with pytest.raises(ValueError, match="known: metered"):
        get_profile("nope")
    assert set(PROFILES) == {
        "metered",
        "three-phase",
        "standard",
        "battery",
        "generator",
        "collar",
        "acb",
        "legacy",
        "legacy-html",
    }
    assert get_profile("legacy-html").firmware_version == (3, 7, 0)


def test_capture_file_names() -> None:
    assert capture_file_name("/ivp/meters/readings") == "ivp_meters_readings"
    assert capture_file_name("/production.json", "details=1") == "production.json_details_1"
