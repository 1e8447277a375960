"""Parsing rules of the endpoints beyond the brief, on made-up bodies: units, unknown values,
tolerance of changed types (lenient) against paths named (strict), grouped bodies, the HTML
page."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from enphase_local import endpoints as ep
from enphase_local.errors import NotSupportedError, PayloadError
from enphase_local.models import (
    GridMode,
    RelayState,
    SourceType,
    StorageMode,
    StorageState,
)

from . import detail_samples as detail
from .samples import json_body, mutable


def _parse(row: ep.Endpoint[Any], body: Any, *, strict: bool = False) -> Any:
    return row.parse(json_body(body), strict=strict)


def test_units_are_converted() -> None:
    (battery,) = _parse(ep.BATTERY_POWER, detail.ENSEMBLE_POWER).batteries
    assert battery.active_power_w == -1250.5  # mW, negative while charging
    assert battery.apparent_power_va == 1300.0
    channel = _parse(ep.DEVICE_DATA, detail.DEVICE_DATA).devices[0].channels[0]
    reading = channel.last_reading
    assert reading.ac_voltage_v == 240.125
    assert reading.ac_frequency_hz == 60.01
    assert reading.dc_current_a == 5.75
    assert reading.energy_produced_wh == 50.0  # 180 kJ
    assert channel.lifetime.energy_produced_wh == 1000.0
    assert reading.ended_at == datetime(2023, 11, 15, 22, 13, 20, tzinfo=UTC)
    assert _parse(ep.GENERATOR_CONFIG, detail.GENERATOR_CONFIG).rated_power_w == 12500.0
    assert _parse(ep.EXPORT_LIMIT, detail.EXPORT_LIMIT).hard_reset_s == 1.5


def test_unknown_values_are_none_and_unknown_enums() -> None:
    body = mutable(detail.ENSEMBLE_INVENTORY)
    controller = body[1]["devices"][0]
    controller["temperature"] = "unknown"
    controller["mains_oper_state"] = "half open"
    inventory = _parse(ep.ENSEMBLE_INVENTORY, body, strict=True)
    assert inventory.batteries[1].temperature_c is None
    assert inventory.system_controllers[0].temperature_c is None
    assert inventory.system_controllers[0].mains_oper_state is RelayState.UNKNOWN
    relay = _parse(ep.GRID_RELAY, detail.RELAY)
    assert relay.solar_grid_mode is GridMode.UNKNOWN


def test_texts_become_times_booleans_and_lists() -> None:
    tariff = _parse(ep.TARIFF, detail.TARIFF, strict=True)
    assert tariff.updated_at == datetime.fromtimestamp(1700000000, UTC)
    assert tariff.storage.mode is StorageMode.SAVINGS
    assert tariff.schedule.updated_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert tariff.seasons[0].days[0].week_days == ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    assert len(tariff.schedule.tariff[0].sunday) == 1
    (contact,) = _parse(ep.DRY_CONTACT_SETTINGS, detail.DRY_CONTACT_SETTINGS).contacts
    assert (contact.override, contact.manual_override) == (True, False)
    (pcu,) = _parse(ep.DEVICE_INVENTORY, detail.DEVICE_INVENTORY).inverters
    assert pcu.firmware_loaded_at is None  # "0": never
    assert pcu.installed_at == datetime.fromtimestamp(1700000000, UTC)


@pytest.mark.parametrize("strict", [False, True])
def test_the_older_savings_mode_name_is_savings(strict: bool) -> None:
    body = mutable(detail.TARIFF)
    body["tariff"]["storage_settings"]["mode"] = "savings-mode"
    tariff = _parse(ep.TARIFF, body, strict=strict)
    assert tariff.storage.mode is StorageMode.SAVINGS


#: (row, sample, (path to a value, a value of another type), the field that loses it)
CHANGED_TYPES = [
    (ep.BATTERY_SUMMARY, detail.SECCTRL, (("agg_soc",), "57%"), "charge_percent"),
    (ep.PV_LIMIT, detail.PV_LIMIT, (("pv_limit_pct",), [60]), "limit_percent"),
    (ep.GENERATOR, detail.GENERATOR, (("present",), "yes"), "present"),
    (ep.HOME, detail.HOME, (("network", "last_enlighten_report_time"), "now"), "last_report_at"),
    (ep.BATTERY_SUMMARY, detail.SECCTRL, (("offgrid_secctrl",), []), "off_grid"),
]


@pytest.mark.parametrize(("row", "body", "change", "field"), CHANGED_TYPES)
def test_a_changed_type_loses_the_field_not_the_body(
    row: ep.Endpoint[Any],
    body: Any,
    change: tuple[tuple[str, ...], object],
    field: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    where, value = change
    changed = mutable(body)
    target = changed
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    original = _parse(row, body)
    with caplog.at_level(logging.WARNING, logger="enphase_local.parsing"):
        lenient = _parse(row, changed)
    assert getattr(lenient, field) is None
    others = [f.name for f in attrs.fields(type(lenient)) if f.name != field]
    assert [getattr(lenient, name) for name in others] == [getattr(original, n) for n in others]
    assert repr(".".join(where)) in caplog.text
    with pytest.raises(PayloadError) as caught:
        _parse(row, changed, strict=True)
    assert caught.value.path == "$." + ".".join(where)


def test_required_fields_still_fail_lenient() -> None:
    body = mutable(detail.ENSEMBLE_POWER)
    del body["devices:"][0]["serial_num"]
    with pytest.raises(PayloadError) as caught:
        _parse(ep.BATTERY_POWER, body)
    assert caught.value.path == "$['devices:'][0].serial_num"


def test_grouped_error_paths_name_the_groups_as_sent() -> None:
    body = mutable(detail.ENSEMBLE_INVENTORY)
    body[1]["devices"][0]["serial_num"] = 7
    with pytest.raises(PayloadError) as caught:
        _parse(ep.ENSEMBLE_INVENTORY, body)
    assert caught.value.path == "$[1].devices[0].serial_num"
    body = [*mutable(detail.ENSEMBLE_INVENTORY), {"type": "NEW THING", "devices": []}]
    assert _parse(ep.ENSEMBLE_INVENTORY, body) == _parse(
        ep.ENSEMBLE_INVENTORY, detail.ENSEMBLE_INVENTORY
    )
    with pytest.raises(PayloadError) as caught:
        _parse(ep.ENSEMBLE_INVENTORY, body, strict=True)
    assert (caught.value.path, str(caught.value).split(": ")[1]) == (
        "$[2].type",
        "unexpected key (at $[2].type)",
    )


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"type": "PCU"}, "$"),
        ([[]], "$[0]"),
        ([{"devices": []}], "$[0].type"),
        ([{"type": 3, "devices": []}], "$[0].type"),
        ([{"type": "PCU", "devices": {}}], "$[0].devices"),
    ],
)
def test_grouped_bodies_that_do_not_fit(body: Any, path: str) -> None:
    with pytest.raises(PayloadError) as caught:
        _parse(ep.DEVICE_INVENTORY, body)
    assert caught.value.path == path
    assert caught.value.endpoint == "/inventory.json?deleted=1"


def test_the_same_group_twice_is_one_list() -> None:
    body = mutable(detail.DEVICE_INVENTORY)
    body.append(body[0])
    assert len(_parse(ep.DEVICE_INVENTORY, body).inverters) == 2


def test_device_data_entries_keep_their_ids() -> None:
    data = _parse(ep.DEVICE_DATA, detail.DEVICE_DATA, strict=True)
    assert [d.device_id for d in data.devices] == ["550000000", "550000256"]
    assert data.device_count == 2
    assert [d.removed for d in data.devices] == [False, True]
    assert len(data.inverters) == 1
    body = mutable(detail.DEVICE_DATA) | {"deviceCount": 51}
    assert _parse(ep.DEVICE_DATA, body).is_capped


def test_production_summary_sections() -> None:
    summary = _parse(ep.PRODUCTION_SUMMARY, detail.PRODUCTION_SUMMARY, strict=True)
    inverters, meter = summary.production
    assert inverters.type is SourceType.INVERTERS
    assert inverters.lines == ()
    assert [line.power_w for line in meter.lines] == [992.5, 992.5]
    (storage,) = summary.storage
    assert storage.state is StorageState.CHARGING


def test_the_html_page() -> None:
    summary = ep.PRODUCTION_PAGE.parse(detail.PRODUCTION_PAGE, strict=True)
    (inverters,) = summary.production
    assert (inverters.power_w, inverters.energy_today_wh) == (1250.0, 8100.0)
    assert (inverters.energy_seven_days_wh, inverters.energy_lifetime_wh) == (61000.0, 42.5e6)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"", "/"),
        (b"<html><body><p>maintenance</p></body></html>", "/"),
        (detail.PRODUCTION_PAGE.replace(b"8.10 kWh", b"8.10 kW"), "//tr[td='Today']"),
        (detail.PRODUCTION_PAGE.replace(b"Past Week", b"Last Week"), "//tr[td='Past Week']"),
    ],
)
def test_html_pages_that_do_not_fit(body: bytes, path: str) -> None:
    with pytest.raises(PayloadError) as caught:
        ep.PRODUCTION_PAGE.parse(body)
    assert caught.value.path == path


def test_unknown_rows_are_errors_only_when_strict() -> None:
    body = detail.PRODUCTION_PAGE.replace(
        b"</table>", b"<tr><td>Tomorrow</td><td>9 W</td></tr></table>"
    )
    assert ep.PRODUCTION_PAGE.parse(body) == ep.PRODUCTION_PAGE.parse(detail.PRODUCTION_PAGE)
    with pytest.raises(PayloadError, match="unexpected row"):
        ep.PRODUCTION_PAGE.parse(body, strict=True)


def test_the_html_parser_loads_nothing() -> None:
    body = (
        b'<!DOCTYPE html [<!ENTITY leak SYSTEM "file:///etc/hostname">]>'
        b"<table><tr><td>Currently</td><td>&leak; W</td></tr></table>"
    )
    with pytest.raises(PayloadError, match="expected a quantity"):
        ep.PRODUCTION_PAGE.parse(body)


def test_a_not_found_page_is_not_supported() -> None:
    page = b"<html><body><h2>Page Not Found</h2><p>Try the home page</p></body></html>"
    with pytest.raises(NotSupportedError) as caught:
        ep.PRODUCTION_PAGE.parse(page)
    assert caught.value.endpoint == "/production"
