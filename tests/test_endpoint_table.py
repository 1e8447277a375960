"""The endpoint table: one row per endpoint, and each parser built from its own row."""

from __future__ import annotations

import json
import typing
from typing import Any

import pytest

from enphase_local import endpoints as ep
from enphase_local.errors import PayloadError
from enphase_local.parsing import Structurer
from enphase_local.session import DEFAULT_TIMEOUT_S, GatewaySession
from tests.helpers import info_xml
from tests.parsing import detail_samples as detail
from tests.parsing import samples

#: Each endpoint with a body in the vendor brief's shape.
BODIES: list[tuple[ep.Endpoint[Any], bytes]] = [
    (ep.INFO, info_xml()),
    (ep.DEVICE_LIST, samples.json_body(samples.DEVICE_LIST)),
    (ep.METERS, samples.json_body(samples.METERS)),
    (ep.METER_READINGS, samples.json_body(samples.METER_READINGS)),
    (ep.PRODUCTION, samples.json_body(samples.PRODUCTION)),
    (ep.ENERGY, samples.json_body(samples.ENERGY)),
    (ep.INVERTERS, samples.json_body(samples.INVERTERS)),
    (ep.LIVE_DATA, samples.json_body(samples.LIVE_DATA)),
    (ep.CONSUMPTION_REPORTS, samples.json_body([samples.CONSUMPTION_REPORT])),
    (ep.GRID_READINGS, samples.json_body(samples.GRID_READINGS)),
    (ep.ENSEMBLE_INVENTORY, samples.json_body(detail.ENSEMBLE_INVENTORY)),
    (ep.BATTERY_POWER, samples.json_body(detail.ENSEMBLE_POWER)),
    (ep.BATTERY_SUMMARY, samples.json_body(detail.SECCTRL)),
    (ep.ENSEMBLE_STATUS, samples.json_body(detail.ENSEMBLE_STATUS)),
    (ep.GRID_RELAY, samples.json_body(detail.RELAY)),
    (ep.DRY_CONTACTS, samples.json_body(detail.DRY_CONTACTS)),
    (ep.DRY_CONTACT_SETTINGS, samples.json_body(detail.DRY_CONTACT_SETTINGS)),
    (ep.GENERATOR, samples.json_body(detail.GENERATOR)),
    (ep.GENERATOR_CONFIG, samples.json_body(detail.GENERATOR_CONFIG)),
    (ep.GENERATOR_SCHEDULE, samples.json_body(detail.GENERATOR_SCHEDULE)),
    (ep.GENERATOR_MODE, samples.json_body(detail.GENERATOR_MODE)),
    (ep.TARIFF, samples.json_body(detail.TARIFF)),
    (ep.ACB_CONFIG, samples.json_body(detail.ACB_CONFIG)),
    (ep.PV_LIMIT, samples.json_body(detail.PV_LIMIT)),
    (ep.EXPORT_LIMIT, samples.json_body(detail.EXPORT_LIMIT)),
    (ep.DEVICE_DATA, samples.json_body(detail.DEVICE_DATA)),
    (ep.PRODUCTION_SUMMARY, samples.json_body(detail.PRODUCTION_SUMMARY)),
    (ep.DEVICE_INVENTORY, samples.json_body(detail.DEVICE_INVENTORY)),
    (ep.HOME, samples.json_body(detail.HOME)),
    (ep.METER_REPORTS, samples.json_body([samples.CONSUMPTION_REPORT])),
    (ep.PV_READINGS, samples.json_body(detail.PV_READINGS)),
]
JSON_BODIES = [(endpoint, body) for endpoint, body in BODIES if not endpoint.xml]
JSON_ENDPOINTS = [endpoint for endpoint, _ in JSON_BODIES]


def _is_model(value: object, model: Any) -> bool:
    """Whether ``value`` is a ``model``: a class, or ``tuple[Item, ...]``."""
    if typing.get_origin(model) is tuple:
        item = typing.get_args(model)[0]
        return isinstance(value, tuple) and all(isinstance(v, item) for v in value)
    return isinstance(value, model)


def test_every_endpoint_has_a_body() -> None:
    assert [endpoint for endpoint, _ in BODIES] == list(ep.ENDPOINTS)


@pytest.mark.parametrize(("endpoint", "body"), BODIES, ids=[e.name for e, _ in BODIES])
def test_parse_gives_the_declared_model(endpoint: ep.Endpoint[Any], body: bytes) -> None:
    parsed = endpoint.parse(body, strict=True)
    assert _is_model(parsed, endpoint.model)
    assert parsed


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=lambda e: e.name)
def test_json_parsers_are_their_own_rows_structurers(endpoint: ep.Endpoint[Any]) -> None:
    # The session calls the structurer's own bound parse: no wrapper call per body.
    structurer = getattr(endpoint.parse, "__self__", None)
    assert type(structurer) is endpoint.structurer
    assert isinstance(structurer, Structurer)
    assert structurer.tp == endpoint.model
    assert structurer.endpoint == endpoint.path


@pytest.mark.parametrize("endpoint", ep.ENDPOINTS, ids=lambda e: e.name)
def test_errors_name_the_declared_path(endpoint: ep.Endpoint[Any]) -> None:
    with pytest.raises(PayloadError) as caught:
        endpoint.parse(b"{not a body", strict=False)
    assert caught.value.endpoint == endpoint.path


@pytest.mark.parametrize(("endpoint", "body"), JSON_BODIES, ids=[e.name for e in JSON_ENDPOINTS])
def test_unknown_keys_are_errors_only_when_strict(endpoint: ep.Endpoint[Any], body: bytes) -> None:
    data = json.loads(body)
    (data[0] if isinstance(data, list) else data)["brandNewField"] = 1
    extra = samples.json_body(data)
    assert endpoint.parse(extra, strict=False) == endpoint.parse(body, strict=False)
    with pytest.raises(PayloadError, match="brandNewField"):
        endpoint.parse(extra, strict=True)


def test_names_and_paths_are_declared_once() -> None:
    for field in ("name", "cli_name", "path"):
        values = [getattr(endpoint, field) for endpoint in ep.ENDPOINTS]
        assert len(set(values)) == len(values), field
    other_paths = {ep.LIVE_STREAM_PATH, ep.CHECK_JWT_PATH}
    assert other_paths.isdisjoint(endpoint.path for endpoint in ep.ENDPOINTS)


#: Issue 14's table: session method, path, ``enphase-local get`` name.
ISSUE_14 = [
    ("inventory", "/ivp/ensemble/inventory", "inventory"),
    ("battery_power", "/ivp/ensemble/power", "battery-power"),
    ("battery_summary", "/ivp/ensemble/secctrl", "battery-summary"),
    ("ensemble_status", "/ivp/ensemble/status", "ensemble-status"),
    ("grid_relay", "/ivp/ensemble/relay", "relay"),
    ("dry_contacts", "/ivp/ensemble/dry_contacts", "dry-contacts"),
    ("dry_contact_settings", "/ivp/ss/dry_contact_settings", "dry-contact-settings"),
    ("generator", "/ivp/ensemble/generator", "generator"),
    ("generator_config", "/ivp/ss/gen_config", "generator-config"),
    ("generator_schedule", "/ivp/ss/gen_schedule", "generator-schedule"),
    ("generator_mode", "/ivp/ss/gen_mode", "generator-mode"),
    ("tariff", "/admin/lib/tariff", "tariff"),
    ("acb_config", "/admin/lib/acb_config", "acb-config"),
    ("pv_limit", "/ivp/sc/pvlimit", "pv-limit"),
    ("export_limit", "/ivp/ss/pel_settings", "export-limit"),
    ("device_data", "/ivp/pdm/device_data", "device-data"),
    ("production_summary", "/production.json?details=1", "production-summary"),
    ("device_inventory", "/inventory.json?deleted=1", "device-inventory"),
    ("home", "/home", "home"),
    ("meter_reports", "/ivp/meters/reports", "meter-reports"),
    ("pv_readings", "/ivp/meters/pvReading", "pv-readings"),
]


@pytest.mark.parametrize(("name", "path", "cli_name"), ISSUE_14)
def test_issue_14_names_paths_and_cli_names(name: str, path: str, cli_name: str) -> None:
    endpoint = ep.BY_CLI_NAME[cli_name]
    assert (endpoint.name, endpoint.path) == (name, path)
    annotation = typing.get_type_hints(getattr(GatewaySession, name))["return"]
    assert annotation == endpoint.model


def test_slow_rows_have_time_of_their_own() -> None:
    slow = {endpoint.name for endpoint in ep.ENDPOINTS if endpoint.slow}
    assert slow == {"production_summary", "device_inventory", "home"}
    for endpoint in ep.ENDPOINTS:
        if endpoint.slow:
            assert endpoint.timeout_s is not None
            assert endpoint.timeout_s > DEFAULT_TIMEOUT_S
        else:
            assert endpoint.timeout_s is None


def test_firmware_before_4_reads_production_from_the_html_page() -> None:
    row = ep.PRODUCTION_SUMMARY
    assert row.for_firmware((3, 7, 0)) is ep.PRODUCTION_PAGE
    assert row.for_firmware((3, 9, 36)) is ep.PRODUCTION_PAGE
    assert row.for_firmware((4, 2, 27)) is row
    assert row.for_firmware((8, 3, 5433)) is row
    assert ep.PRODUCTION_PAGE.model is row.model
    assert ep.PRODUCTION_PAGE.slow
    assert ep.PRODUCTION_PAGE not in ep.ENDPOINTS
    assert all(e.for_firmware((3,)) is e for e in ep.ENDPOINTS if e is not row)
