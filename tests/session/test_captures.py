"""Every real capture, served through aioresponses and read through the public API, strictly.

Each set is replayed with its recorded status codes and headers; the session runs in strict
mode, so a key the models do not know fails the test. What each endpoint must give:
status 200 bodies a model, 404 (in any of its forms) ``NotSupportedError``, a refused digest
login ``AuthenticationError``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aioresponses import aioresponses

from enphase_local import endpoints as ep
from enphase_local.errors import AuthenticationError, NotSupportedError
from enphase_local.session import GatewaySession
from tests.conftest import capture_sets, skip_without_captures
from tests.helpers import VALID_TOKEN_HTML, make_jwt

pytestmark = skip_without_captures()

BASE = "https://envoy.local"

#: Capture file name for each endpoint (``ivp_meters_reports`` holds the same report items
#: as ``/ivp/meters/reports/consumption``, production ones included).
FILES: dict[str, str] = {
    ep.DEVICE_LIST.name: "ivp_ensemble_device_list",
    ep.METERS.name: "ivp_meters",
    ep.METER_READINGS.name: "ivp_meters_readings",
    ep.PRODUCTION.name: "api_v1_production",
    ep.ENERGY.name: "ivp_pdm_energy",
    ep.INVERTERS.name: "api_v1_production_inverters",
    ep.LIVE_DATA.name: "ivp_livedata_status",
    ep.CONSUMPTION_REPORTS.name: "ivp_meters_reports",
    ep.GRID_READINGS.name: "ivp_meters_gridReading",
}


def _recorded(folder: Path, name: str) -> tuple[int, dict[str, str], bytes]:
    body = (folder / name).read_bytes()
    log = folder / f"{name}_log.json"
    if not log.exists():
        return 200, {}, body
    meta: dict[str, Any] = json.loads(log.read_text())
    headers = {
        key: value
        for key, value in meta.get("headers", {}).items()
        if key.lower() not in ("content-length", "transfer-encoding", "connection")
    }
    return int(meta.get("code", 200)), headers, body


def _mock(m: aioresponses, path: str, status: int, headers: dict[str, str], body: bytes) -> None:
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    rest = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    m.get(
        f"{BASE}{path}",
        status=status,
        body=body,
        headers=rest,
        content_type=content_type,
        repeat=True,
    )


SETS = capture_sets()


@pytest.mark.parametrize("folder", SETS, ids=[s.name for s in SETS])
async def test_capture_set_reads_through_the_public_api(folder: Path, mocked: aioresponses) -> None:
    status, headers, body = _recorded(folder, "info")
    _mock(mocked, "/info", status, headers, body)
    mocked.get(
        f"{BASE}/auth/check_jwt",
        body=VALID_TOKEN_HTML,
        headers={"Set-Cookie": "sessionId=abcdefghijklmnopqrstuvwxyz012345"},
        repeat=True,
    )
    expected: dict[str, int] = {}
    for endpoint_name, file_name in FILES.items():
        if (folder / file_name).exists():
            path = getattr(ep, _constant(endpoint_name)).path
            status, headers, body = _recorded(folder, file_name)
            _mock(mocked, path, status, headers, body)
            expected[endpoint_name] = status

    async with GatewaySession("envoy.local", strict=True, retries=0) as gateway:
        info = await gateway.info()
        assert info.serial_number
        assert info.firmware[0].isdigit()
        assert folder.name.split("_")[0].startswith(info.firmware)
        serial = info.serial_number
    token = make_jwt(serial)
    outcomes: dict[str, str] = {}
    async with GatewaySession("envoy.local", token=token, strict=True, retries=0) as gateway:
        for endpoint_name, status in expected.items():
            endpoint = getattr(ep, _constant(endpoint_name))
            try:
                model = await gateway.fetch(endpoint)
            except NotSupportedError:
                assert status == 404, f"{endpoint_name}: not supported, but status {status}"
                outcomes[endpoint_name] = "not supported"
                continue
            except AuthenticationError:
                assert status == 401, f"{endpoint_name}: auth error, but status {status}"
                outcomes[endpoint_name] = "auth refused"
                continue
            assert status == 200, f"{endpoint_name}: parsed a body recorded with {status}"
            assert model is not None
            outcomes[endpoint_name] = "parsed"
    assert outcomes.keys() == expected.keys()


def _constant(endpoint_name: str) -> str:
    return endpoint_name.upper()


def test_the_suite_sees_the_captures() -> None:
    """Guard against a wrong folder: the shared captures hold 19 sets."""
    assert len(SETS) >= 19
