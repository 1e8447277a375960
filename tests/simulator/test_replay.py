"""Replay mode serves captured sets byte for byte, with their recorded statuses and headers."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from enphase_local.diagnostics.layout import capture_file_name
from enphase_local.simulator.harness import replay_sets
from enphase_local.simulator.pytest_plugin import SimulationFactory
from enphase_local.simulator.replay import ReplayDevice
from tests.conftest import capture_sets, skip_without_captures

from .captures import TARGETS
from .conftest import fetch

pytestmark = skip_without_captures()

#: Paths worth asking every set for (the brief's endpoints and what the captures hold).
PATHS = [
    "/info",
    "/api/v1/production",
    "/api/v1/production/inverters",
    "/ivp/meters",
    "/ivp/meters/readings",
    "/ivp/meters/reports",
    "/ivp/meters/gridReading",
    "/ivp/pdm/energy",
    "/ivp/ensemble/inventory",
    "/ivp/ensemble/power",
    "/admin/lib/tariff",
    "/production",
    "/production.json",
    "/production.json?details=1",
    "/ivp/livedata/status",
]


def _sets() -> list[Path]:
    return capture_sets()


def _expected(folder: Path, path: str) -> tuple[int, str | None, bool] | None:
    """Recorded (status, content type, whether logged) of a path; None if the set lacks it."""
    target, _, query = path.partition("?")
    name = capture_file_name(target, query)
    if not (folder / name).is_file():
        return None
    log = folder / f"{name}_log.json"
    if not log.is_file():
        return 200, None, False
    record = json.loads(log.read_text(encoding="utf-8"))
    headers = {k.lower(): v for k, v in record["headers"].items()}
    return record.get("code", 200), headers.get("content-type"), True


@pytest.mark.parametrize("folder", _sets(), ids=lambda p: p.name)
async def test_every_set_replays_its_files(
    folder: Path, enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    simulation = await enphase_simulation_factory(replay=folder, speed=0)
    gateway = simulation.gateways[0]
    device = gateway.device
    assert isinstance(device, ReplayDevice)
    assert gateway.url.startswith("http://" if device.legacy else "https://")
    for path in PATHS:
        answer = await fetch(http, gateway, path)
        expected = _expected(folder, path)
        if expected is None:
            assert answer.status == 404, path
            continue
        status, content_type, logged = expected
        target, _, query = path.partition("?")
        assert answer.body == (folder / capture_file_name(target, query)).read_bytes(), path
        assert answer.status == status, path
        if logged:  # including a recorded *absence* of Content-Type
            assert answer.headers.get("Content-Type") == content_type, path


async def test_tokens_are_needed_on_new_firmware_sets(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    folder = next(p for p in _sets() if p.name.startswith("8.3.5169"))
    simulation = await enphase_simulation_factory(replay=folder, speed=0)
    gateway = simulation.gateways[0]
    assert gateway.serial == "202439990001"
    refused = await fetch(http, gateway, "/ivp/meters", auth=False)
    assert refused.status == 401
    answer = await fetch(http, gateway, "/ivp/meters")
    assert answer.status == 200
    assert "Content-Type" not in answer.headers  # as recorded
    assert answer.headers["Server"] == "openresty/1.17.8.1"
    info = await fetch(http, gateway, "/info", auth=False)
    assert "Content-Type" not in info.headers  # 8.3 sends /info without one


async def test_garbled_challenge_is_replayed(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    folder = next(p for p in _sets() if p.name == "3.9.36_bad_auth")
    simulation = await enphase_simulation_factory(replay=folder, speed=0)
    answer = await fetch(http, simulation.gateways[0], "/api/v1/production/inverters")
    assert answer.status == 401
    assert "WWW-Authenticate" in answer.headers
    assert answer.json()["info"] == "Authentication required"


async def test_a_folder_of_sets_starts_one_gateway_each(
    enphase_simulation_factory: SimulationFactory,
) -> None:
    root = _sets()[0].parent
    folders = replay_sets(root)
    assert folders == [p for p in _sets() if (p / "info").is_file()]
    simulation = await enphase_simulation_factory(replay=folders[:3], speed=0)
    assert [g.serial for g in simulation.gateways] == [
        ReplayDevice(folder).serial for folder in folders[:3]
    ]


def _captured_files(folder: Path) -> list[str]:
    """The answers a set holds (not its logs nor its notes)."""
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.is_file() and not p.name.endswith("_log.json") and not p.name.startswith("_")
    )


@pytest.mark.parametrize("folder", _sets(), ids=lambda p: p.name)
async def test_every_captured_file_is_served_at_its_path(
    folder: Path, enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    simulation = await enphase_simulation_factory(replay=folder, speed=0)
    gateway = simulation.gateways[0]
    gateway.faults.set_slow(0.0)
    names = _captured_files(folder)
    assert set(names) <= set(TARGETS), set(names) - set(TARGETS)
    for name in names:
        answer = await fetch(http, gateway, TARGETS[name])
        assert answer.body == (folder / name).read_bytes(), name


async def test_query_strings_pick_their_own_capture(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    folder = next(p for p in _sets() if p.name.startswith("8.3.5169"))
    simulation = await enphase_simulation_factory(replay=folder, speed=0)
    gateway = simulation.gateways[0]
    gateway.faults.set_slow(0.0)
    plain = await fetch(http, gateway, "/production.json")
    details = await fetch(http, gateway, "/production.json?details=1")
    assert plain.body == (folder / "production.json").read_bytes()
    assert details.body == (folder / "production.json_details_1").read_bytes()
    assert plain.body != details.body
    assert "lines" in details.json()["production"][1]
    deleted = await fetch(http, gateway, "/inventory.json?deleted=1")
    assert deleted.body == (folder / "inventory.json_deleted_1").read_bytes()
    assert (await fetch(http, gateway, "/inventory.json")).status == 404  # not captured
