"""The reads beyond the brief through the public API, against every capture set replayed by the
simulator over HTTPS (plain HTTP below firmware 7), in strict mode.

For each endpoint whose file a set holds: a real 200 body gives the very model the parser
gives for the file; a 404 in any of its forms gives NotSupportedError; a 401 gives
EndpointForbiddenError. Query strings (``/production.json?details=1``) are replayed too, and
firmware before 4 is read through ``/production``, the HTML page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from enphase_local import endpoints as ep
from enphase_local.diagnostics.layout import capture_file_name
from enphase_local.errors import EndpointForbiddenError, NotSupportedError
from enphase_local.session import GatewaySession
from enphase_local.simulator.pytest_plugin import SimulationFactory
from tests.conftest import capture_sets, skip_without_captures
from tests.parsing.test_detail_captures import is_real_body, recorded_status

pytestmark = skip_without_captures()

#: The rows of issue 14, read by their session methods.
ROWS = ep.ENDPOINTS[ep.ENDPOINTS.index(ep.ENSEMBLE_INVENTORY) :]


def _file(folder: Path, row: ep.Endpoint[Any]) -> Path:
    path, _, query = row.path.partition("?")
    return folder / capture_file_name(path, query)


def _expected(path: Path, row: ep.Endpoint[Any]) -> object:
    if is_real_body(path):
        return row.parse(path.read_bytes(), strict=True)
    return "forbidden" if recorded_status(path) == 401 else "not supported"


async def _outcome(session: GatewaySession, row: ep.Endpoint[Any]) -> object:
    try:
        result: object = await getattr(session, row.name)()
    except NotSupportedError:
        return "not supported"
    except EndpointForbiddenError:
        return "forbidden"
    return result


@pytest.mark.parametrize("folder", capture_sets(), ids=lambda p: p.name)
async def test_every_captured_read_through_the_session(
    folder: Path, enphase_simulation_factory: SimulationFactory
) -> None:
    simulation = await enphase_simulation_factory(replay=folder, speed=0)
    gateway = simulation.gateways[0]
    async with GatewaySession(
        gateway.url,
        token=gateway.token,
        fingerprint=gateway.fingerprint,
        strict=True,
        retries=0,
    ) as session:
        version = (await session.info()).firmware_version
        for row in ROWS:
            target = row.for_firmware(version)
            path = _file(folder, target)
            if not path.is_file():
                continue
            assert await _outcome(session, row) == _expected(path, target), row.name


def test_rows_are_the_issue_14_reads() -> None:
    assert [row.name for row in ROWS][:2] == ["inventory", "battery_power"]
    assert ROWS[-1] is ep.PV_READINGS
    assert len(ROWS) == 21
