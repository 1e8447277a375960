"""The converter's primitive hooks and error paths, below the endpoint parsers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enphase_local import endpoints as ep
from enphase_local.errors import PayloadError
from enphase_local.parsing.converter import describe_failure
from enphase_local.parsing.structuring import Structurer

from .samples import LIVE_DATA, json_body, mutable


@pytest.mark.parametrize(
    ("value", "tp", "expected"),
    [
        (True, bool, True),
        (3, int, 3),
        (3, float, 3.0),
        (-0.0, float, 0.0),
        ("x", str, "x"),
        (0, datetime, datetime(1970, 1, 1, tzinfo=UTC)),
        (1.5, datetime, datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)),
    ],
)
@pytest.mark.parametrize("strict", [False, True])
def test_primitives(value: object, tp: type, expected: object, strict: bool) -> None:
    assert Structurer(tp, "/x").structure(value, strict) == expected


@pytest.mark.parametrize(
    ("value", "tp", "message"),
    [
        (1, bool, "expected a boolean, got a number"),
        ("true", bool, "expected a boolean, got a string"),
        (True, int, "expected an integer, got a boolean"),
        (1.0, int, "expected an integer, got a number"),
        (False, float, "expected a number, got a boolean"),
        ("1.5", float, "expected a number, got a string"),
        (10**400, float, "too large"),
        (5, str, "expected a string, got a number"),
        (True, datetime, "expected a timestamp"),
        ({}, datetime, "expected a timestamp in seconds, got an object"),
    ],
)
def test_primitive_type_errors(value: object, tp: type, message: str) -> None:
    with pytest.raises(PayloadError, match=message) as caught:
        Structurer(tp, "/x").structure(value)
    assert caught.value.path == "$"
    assert caught.value.endpoint == "/x"


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_the_detailed_converter_refuses_infinite_and_nan_numbers(value: float) -> None:
    # Decoded JSON never holds them (both decoders refuse them, so the generated fast path
    # does not look); the detailed converter still names them if they ever get this far.
    assert describe_failure(value, float, strict=False) == ("$", "number out of range")


def test_odd_keys_are_quoted_in_the_path() -> None:
    body = mutable(LIVE_DATA)
    body["counters"]["two words"] = "many"
    with pytest.raises(PayloadError) as caught:
        ep.LIVE_DATA.parse(json_body(body))
    assert caught.value.path == "$.counters['two words']"


def test_message_carries_endpoint_problem_and_path() -> None:
    body = mutable(LIVE_DATA)
    body["tasks"]["task_id"] = "27672012"
    with pytest.raises(PayloadError) as caught:
        ep.LIVE_DATA.parse(json_body(body))
    assert str(caught.value) == (
        "/ivp/livedata/status: expected an integer, got a string (at $.tasks.task_id)"
    )
