"""JSON decoding: bytes in, Python values out, PayloadError for anything that is not JSON."""

from __future__ import annotations

import math

import pytest

from enphase_local import endpoints as ep
from enphase_local.errors import PayloadError
from enphase_local.parsing.json_body import decode_json

pytestmark = pytest.mark.usefixtures("json_backend")


def test_decodes_bytes() -> None:
    assert decode_json(b'{"a": [1, 2.5, "x", true, null]}', "/x") == {
        "a": [1, 2.5, "x", True, None]
    }


#: Bodies that are not JSON, each for its own reason.
NOT_JSON = [
    pytest.param(b"", id="empty"),
    pytest.param(b"   ", id="blank"),
    pytest.param(b'[{"eid": 1, "state": "ena', id="truncated"),
    pytest.param(b"<html><body>Page Not Found</body></html>", id="html"),
    pytest.param(b"{'eid': 1}", id="single-quotes"),
    pytest.param(b'{"a": 1} trailing', id="trailing-garbage"),
    pytest.param(b'{"a": NaN}', id="nan"),
    pytest.param(b'{"a": Infinity}', id="infinity"),
    pytest.param(b'{"a": -Infinity}', id="minus-infinity"),
    pytest.param(b'{"a": "\xff\xfe"}', id="invalid-utf8"),
    pytest.param(b'{"a": "caf\xe9"}', id="latin1"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-nesting"),
    pytest.param(b"1" * 5000, id="huge-integer-literal"),
]


@pytest.mark.parametrize("body", NOT_JSON)
def test_not_json_is_payload_error(body: bytes) -> None:
    with pytest.raises(PayloadError) as caught:
        decode_json(body, "/ivp/meters")
    assert caught.value.endpoint == "/ivp/meters"
    assert caught.value.path == "$"


@pytest.mark.parametrize("body", NOT_JSON)
def test_parsers_report_not_json_as_decode_json_does(body: bytes) -> None:
    with pytest.raises(PayloadError) as expected:
        decode_json(body, "/ivp/meters")
    with pytest.raises(PayloadError) as caught:
        ep.METERS.parse(body)
    assert str(caught.value) == str(expected.value)
    assert caught.value.path == "$"
    assert type(caught.value.__cause__) is type(expected.value.__cause__)


def test_error_names_position_not_content() -> None:
    with pytest.raises(PayloadError, match="line 2") as caught:
        decode_json(b'{"token": "secret",\n oops}', "/ivp/meters")
    assert "secret" not in str(caught.value)


def test_negative_zero_becomes_positive_zero() -> None:
    body = (
        b'{"wattsNow": -0.0, "wattHoursToday": 0, "wattHoursSevenDays": -0.0,'
        b' "wattHoursLifetime": 1}'
    )
    production = ep.PRODUCTION.parse(body)
    assert production.power_w == 0.0
    assert math.copysign(1.0, production.power_w) == 1.0
    assert math.copysign(1.0, production.energy_seven_days_wh) == 1.0


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1" + b"0" * 400 + b".0"])
def test_number_too_large_for_a_float_is_payload_error(number: bytes) -> None:
    body = (
        b'{"wattsNow": ' + number + b', "wattHoursToday": 0, "wattHoursSevenDays": 0,'
        b' "wattHoursLifetime": 1}'
    )
    with pytest.raises(PayloadError):
        ep.PRODUCTION.parse(body)


@pytest.mark.parametrize("number", [b"1e999", b"-1e999", b"[1e400]"])
def test_both_decoders_refuse_a_float_literal_that_would_be_infinite(number: bytes) -> None:
    # The generated structuring functions take every float a decoder hands them as finite.
    with pytest.raises(PayloadError, match="not valid JSON"):
        decode_json(number, "/x")


def test_huge_integer_where_a_float_is_expected_is_payload_error() -> None:
    body = (
        b'{"wattsNow": ' + b"9" * 400 + b', "wattHoursToday": 0, "wattHoursSevenDays": 0,'
        b' "wattHoursLifetime": 1}'
    )
    with pytest.raises(PayloadError):
        ep.PRODUCTION.parse(body)


def test_deeply_nested_value_inside_a_model_is_payload_error() -> None:
    body = b'[{"eid": ' + b"[" * 50_000 + b"]" * 50_000 + b"}]"
    with pytest.raises(PayloadError):
        ep.METERS.parse(body)
