"""``capture`` and ``doctor`` through the real command, against simulated and replayed gateways."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from pathlib import Path

import pytest

from enphase_local.cli import main
from enphase_local.diagnostics.capture import with_legacy_rows
from enphase_local.diagnostics.redaction import Redactor
from enphase_local.endpoints import ENDPOINTS
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.harness import Simulation
from enphase_local.simulator.pytest_plugin import SimulationFactory

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)


async def run(*args: str, home: Path) -> tuple[int, str, str]:
    """The command with its configuration folder in ``home`` (no trust store of the user's)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "enphase_local", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "XDG_CONFIG_HOME": str(home)},
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def target(gateway: SimulatedGateway, folder: Path) -> list[str]:
    assert gateway.token is not None
    assert gateway.fingerprint is not None
    token_file = folder / f"{gateway.serial}.token"
    token_file.write_text(gateway.token + "\n")
    return ["--host", gateway.url, "--token-file", str(token_file), "--fingerprint",
            gateway.fingerprint]  # fmt: skip


def config(folder: Path, *entries: tuple[SimulatedGateway, str | None]) -> Path:
    """A poll configuration listing gateways, each with the token given."""
    lines = []
    for gateway, token in entries:
        lines += [
            "[[gateway]]",
            f'host = "{gateway.url}"',
            f'fingerprint = "{gateway.fingerprint}"',
        ]
        lines += [f'token = "{token}"'] if token else []
    path = folder / "poll.toml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


@pytest.mark.enphase_simulation(profile="battery", speed=0, start_time=NOON)
async def test_get_reads_the_same_numbers_from_the_replayed_capture(
    enphase_gateway: SimulatedGateway,
    enphase_simulation_factory: SimulationFactory,
    tmp_path: Path,
) -> None:
    original = target(enphase_gateway, tmp_path)
    out = tmp_path / "envoy-capture"
    status, stdout, stderr = await run(
        "capture", *original, "--out", str(out), "--pause", "0", home=tmp_path
    )
    assert status == 0, stderr
    lines = stdout.splitlines()
    rows = len(with_legacy_rows(ENDPOINTS))
    assert lines[0].startswith(f"capturing {enphase_gateway.url}: {rows} endpoints")
    assert "  200  /ivp/meters/readings  " in stdout
    assert enphase_gateway.serial not in stdout
    assert lines[-1] == f"replay it: enphase-local simulate --replay {out}"

    replay = await enphase_simulation_factory(replay=out, speed=0)
    replayed = target(replay.gateways[0], tmp_path)
    for endpoint in ("production", "readings", "energy", "grid"):
        there = await run("get", endpoint, *original, "--json", home=tmp_path)
        here = await run("get", endpoint, *replayed, "--json", home=tmp_path)
        assert there[0] == here[0] == 0, endpoint
        assert json.loads(there[1]) == json.loads(here[1]), endpoint

    status, stdout, _ = await run("doctor", *replayed, home=tmp_path)
    assert status == 1  # the capture's /info tells the simulation's time: a June noon
    assert stdout.splitlines()[-1] == f"1 problem(s): {replay.gateways[0].url}: clock"


@pytest.mark.enphase_simulation(gateways=2)
async def test_capture_refuses_what_it_cannot_do_before_any_request(
    enphase_simulation: Simulation, tmp_path: Path
) -> None:
    first = enphase_simulation.gateways[0]
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine").write_text("keep")
    status, _, stderr = await run(
        "capture", *target(first, tmp_path), "--out", str(tmp_path / "taken"), home=tmp_path
    )
    assert status == 2
    assert "already exists" in stderr
    both = config(tmp_path, *((g, g.token) for g in enphase_simulation.gateways))
    status, _, stderr = await run(
        "capture", "--config", str(both), "--out", str(tmp_path / "new"), home=tmp_path
    )
    assert status == 2
    assert "choose one with --host" in stderr
    assert all(g.stats.requests == 0 for g in enphase_simulation.gateways)


@pytest.mark.enphase_simulation(gateways=2)
async def test_doctor_examines_every_gateway_of_a_configuration(
    enphase_simulation: Simulation, tmp_path: Path
) -> None:
    first, second = enphase_simulation.gateways
    status, stdout, stderr = await run("doctor", *target(first, tmp_path), home=tmp_path)
    assert status == 0, stderr
    assert stdout.splitlines()[0] == first.url
    assert "  ok    check_jwt    the gateway accepts the token (" in stdout
    assert stdout.splitlines()[-1] == "no problem found"

    mixed = config(tmp_path, (first, first.token), (second, first.token))
    status, stdout, _ = await run("doctor", "--config", str(mixed), "--json", home=tmp_path)
    assert status == 1
    report = json.loads(stdout)
    assert report["ok"] is False
    assert [g["ok"] for g in report["gateways"]] == [True, False]
    failed = [c for c in report["gateways"][1]["checks"] if c["verdict"] == "fail"]
    assert [c["check"] for c in failed] == ["token"]
    assert second.serial in failed[0]["advice"]

    status, stdout, _ = await run(
        "doctor", "--config", str(mixed), "--host", second.url, home=tmp_path
    )
    assert status == 1
    assert stdout.splitlines()[-1] == f"1 problem(s): {second.url}: token"
    assert "-> get a token for" in stdout


async def test_capture_refuses_to_write_what_redaction_missed(
    enphase_gateway: SimulatedGateway,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(Redactor, "redact", lambda self, data: data)  # a redaction bug
    out = tmp_path / "capture"
    args = ["capture", *target(enphase_gateway, tmp_path), "--out", str(out), "--pause", "0"]
    status = await asyncio.to_thread(main, args)  # in this process, to plant the bug
    assert status == 1
    error = capsys.readouterr().err
    assert error.startswith("enphase-local: error: the capture was not written: ")
    assert enphase_gateway.serial not in error
    left = await asyncio.to_thread(os.listdir, tmp_path)
    assert left == [f"{enphase_gateway.serial}.token"]  # the token file the test wrote
