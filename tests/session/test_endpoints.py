"""Every endpoint through GatewaySession over aioresponses: the brief's bodies and the failures.

Bodies come from the vendor brief's appendices (``tests.parsing.samples``); the failure forms
from GATEWAY-FACTS.md. Each endpoint must give its model, or one clear library error.
"""

from __future__ import annotations

from typing import Any

import pytest
from aioresponses import aioresponses

from enphase_local import endpoints as ep
from enphase_local.endpoints import Endpoint
from enphase_local.errors import EndpointForbiddenError, NotSupportedError, PayloadError
from enphase_local.session import GatewaySession
from tests.helpers import UNAUTHORIZED_HTML, VALID_TOKEN_HTML, info_xml, make_jwt
from tests.parsing import samples

BASE = "https://envoy.local"
SERIAL = "122125067699"

#: Each JSON endpoint with the brief's sample body.
BODIES: dict[str, Any] = {
    ep.DEVICE_LIST.name: samples.DEVICE_LIST,
    ep.METERS.name: samples.METERS,
    ep.METER_READINGS.name: samples.METER_READINGS,
    ep.PRODUCTION.name: samples.PRODUCTION,
    ep.ENERGY.name: samples.ENERGY,
    ep.INVERTERS.name: samples.INVERTERS,
    ep.LIVE_DATA.name: samples.LIVE_DATA,
    ep.CONSUMPTION_REPORTS.name: [samples.CONSUMPTION_REPORT],
    ep.GRID_READINGS.name: samples.GRID_READINGS,
}
JSON_ENDPOINTS = [e for e in ep.ENDPOINTS if e.name in BODIES]
LIST_ENDPOINTS = [e for e in JSON_ENDPOINTS if isinstance(BODIES[e.name], list)]


def ready(m: aioresponses) -> None:
    m.get(f"{BASE}/info", body=info_xml(SERIAL))
    m.get(f"{BASE}/auth/check_jwt", body=VALID_TOKEN_HTML, repeat=True)


async def fetch(endpoint: Endpoint[Any], m: aioresponses, **reply: Any) -> Any:
    ready(m)
    m.get(f"{BASE}{endpoint.path}", **reply)
    async with GatewaySession("envoy.local", token=make_jwt(SERIAL), retries=0) as gateway:
        return await gateway.fetch(endpoint)


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=lambda e: e.name)
async def test_brief_sample_parses_without_content_type(
    endpoint: Endpoint[Any], mocked: aioresponses
) -> None:
    model = await fetch(
        endpoint, mocked, body=samples.json_body(BODIES[endpoint.name]), content_type=""
    )
    assert model is not None
    if isinstance(model, tuple):
        assert len(model) == len(BODIES[endpoint.name])


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=lambda e: e.name)
async def test_extra_fields_are_ignored(endpoint: Endpoint[Any], mocked: aioresponses) -> None:
    body = samples.mutable(BODIES[endpoint.name])
    first = body[0] if isinstance(body, list) else body
    first["fieldFromNewerFirmware"] = {"anything": [1, 2]}
    assert await fetch(endpoint, mocked, body=samples.json_body(body)) is not None


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS, ids=lambda e: e.name)
async def test_empty_lists(endpoint: Endpoint[Any], mocked: aioresponses) -> None:
    assert await fetch(endpoint, mocked, body=b"[]") == ()


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=lambda e: e.name)
async def test_html_401_is_an_authentication_error(
    endpoint: Endpoint[Any], mocked: aioresponses
) -> None:
    mocked.get(f"{BASE}{endpoint.path}", status=401, body=UNAUTHORIZED_HTML, repeat=True)
    with pytest.raises(EndpointForbiddenError):
        await fetch(endpoint, mocked, status=401, body=UNAUTHORIZED_HTML)


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=lambda e: e.name)
@pytest.mark.parametrize(
    "reply",
    [
        {"status": 404, "body": b'{ "error" : "404 - Not Found" }'},
        {"status": 200, "body": b'{"err": "404 - Not Found"}'},
        {"status": 200, "body": b"<html><body><h2>Page Not Found</h2></body></html>"},
    ],
    ids=["404", "err-200", "html-200"],
)
async def test_not_found_forms(
    endpoint: Endpoint[Any], reply: dict[str, Any], mocked: aioresponses
) -> None:
    with pytest.raises(NotSupportedError):
        await fetch(endpoint, mocked, **reply)


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=lambda e: e.name)
@pytest.mark.parametrize("body", [b"half", b'{"a": [1, 2', b"null", b'"text"', b"42"], ids=str)
async def test_bodies_that_do_not_fit(
    endpoint: Endpoint[Any], body: bytes, mocked: aioresponses
) -> None:
    with pytest.raises(PayloadError) as caught:
        await fetch(endpoint, mocked, body=body)
    assert caught.value.endpoint == endpoint.path


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=lambda e: e.name)
async def test_truncated_sample(endpoint: Endpoint[Any], mocked: aioresponses) -> None:
    body = samples.json_body(BODIES[endpoint.name])
    with pytest.raises(PayloadError):
        await fetch(endpoint, mocked, body=body[: len(body) // 2])


async def test_negative_zero_becomes_zero(mocked: aioresponses) -> None:
    body = samples.mutable(samples.METER_READINGS)
    body[0]["activePower"] = -0.0
    readings = await fetch(ep.METER_READINGS, mocked, body=samples.json_body(body))
    assert str(readings[0].active_power_w) == "0.0"


async def test_missing_field_names_its_json_path(mocked: aioresponses) -> None:
    body = samples.mutable(samples.METER_READINGS)
    del body[0]["channels"][1]["voltage"]
    with pytest.raises(PayloadError, match=r"\$\[0\]\.channels\[1\]"):
        await fetch(ep.METER_READINGS, mocked, body=samples.json_body(body))
