"""/api/v1/production/inverters, where one bad entry must not hide the others."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from enphase_local import endpoints as ep
from enphase_local.errors import PayloadError
from enphase_local.models import Inverter

from .samples import INVERTERS, json_body, mutable

pytestmark = pytest.mark.usefixtures("json_backend")


def test_brief_sample() -> None:
    first, second = ep.INVERTERS.parse(json_body(INVERTERS), strict=True)
    assert first == Inverter(
        serial_number="121935144671",
        last_report_at=datetime(2022, 6, 2, 12, 10, 36, tzinfo=UTC),
        last_report_w=15.0,
        max_report_w=38.0,
        device_type=1,
    )
    assert second.serial_number == "121935144672"


def test_device_type_absent_on_older_firmware() -> None:
    body = mutable(INVERTERS)
    for item in body:
        del item["devType"]
    assert [inverter.device_type for inverter in ep.INVERTERS.parse(json_body(body))] == [
        None,
        None,
    ]


def test_empty_list() -> None:
    assert ep.INVERTERS.parse(b"[]") == ()


def test_bad_entry_is_logged_and_skipped_in_lenient_mode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = mutable(INVERTERS)
    body.insert(1, {**body[0], "lastReportWatts": "15"})
    with caplog.at_level(logging.WARNING, logger="enphase_local.parsing"):
        inverters = ep.INVERTERS.parse(json_body(body))
    assert [inverter.serial_number for inverter in inverters] == [
        "121935144671",
        "121935144672",
    ]
    (record,) = caplog.records
    assert record.name == "enphase_local.parsing"
    assert "$[1].lastReportWatts" in record.getMessage()
    assert "/api/v1/production/inverters" in record.getMessage()


def test_entry_that_is_not_an_object_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    body = [*mutable(INVERTERS), None]
    with caplog.at_level(logging.WARNING, logger="enphase_local.parsing"):
        assert len(ep.INVERTERS.parse(json_body(body))) == 2
    assert "$[2]" in caplog.text


def test_bad_entry_is_an_error_in_strict_mode() -> None:
    body = mutable(INVERTERS)
    body[1]["maxReportWatts"] = None
    with pytest.raises(PayloadError) as caught:
        ep.INVERTERS.parse(json_body(body), strict=True)
    assert caught.value.path == "$[1].maxReportWatts"


def test_extra_key_lenient_and_strict() -> None:
    body = mutable(INVERTERS)
    body[0]["phase"] = "L1"
    assert len(ep.INVERTERS.parse(json_body(body))) == 2
    with pytest.raises(PayloadError) as caught:
        ep.INVERTERS.parse(json_body(body), strict=True)
    assert caught.value.path == "$[0].phase"


def test_object_instead_of_list_is_an_error() -> None:
    # What a 3.x gateway answers when digest auth fails.
    body = b'{"status": 401, "error": "", "info": "Authentication required", "moreInfo": ""}'
    with pytest.raises(PayloadError, match="expected an array") as caught:
        ep.INVERTERS.parse(body)
    assert caught.value.path == "$"


def test_boolean_device_type_is_an_error() -> None:
    body = mutable(INVERTERS)
    body[0]["devType"] = True
    with pytest.raises(PayloadError) as caught:
        ep.INVERTERS.parse(json_body(body), strict=True)
    assert caught.value.path == "$[0].devType"
