"""``enphase-local get`` end to end: a real process against a simulated gateway."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path

import pytest

from enphase_local.simulator import Simulation
from enphase_local.simulator.gateway import SimulatedGateway

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)


async def run_cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "enphase_local",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def gateway_args(gateway: SimulatedGateway, token_file: Path) -> list[str]:
    assert gateway.token is not None
    assert gateway.fingerprint is not None
    token_file.write_text(gateway.token + "\n")
    return ["--host", gateway.url, "--token-file", str(token_file), "--fingerprint",
            gateway.fingerprint]  # fmt: skip


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_get_prints_json_models(enphase_gateway: SimulatedGateway, tmp_path: Path) -> None:
    args = gateway_args(enphase_gateway, tmp_path / "token")
    status, out, err = await run_cli("get", "production", *args, "--json")
    assert status == 0, err
    production = json.loads(out)
    assert set(production) == {
        "power_w", "energy_today_wh", "energy_seven_days_wh", "energy_lifetime_wh",
    }  # fmt: skip
    assert production["energy_lifetime_wh"] > 0

    status, out, err = await run_cli("get", "readings", *args, "--json")
    assert status == 0, err
    readings = json.loads(out)
    assert isinstance(readings, list)
    assert readings[0]["timestamp"].endswith("+00:00")
    assert "active_power_w" in readings[0]


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_get_prints_tables(enphase_gateway: SimulatedGateway, tmp_path: Path) -> None:
    args = gateway_args(enphase_gateway, tmp_path / "token")
    status, out, _ = await run_cli("get", "inverters", *args)
    assert status == 0
    header = out.splitlines()[0].split()
    assert header[:2] == ["serial_number", "last_report_at"]
    assert len(out.splitlines()) > 2

    status, out, _ = await run_cli("get", "info", *args)
    assert status == 0
    rows = dict(line.split(None, 1) for line in out.splitlines())
    assert rows["serial_number"] == enphase_gateway.serial
    assert rows["web_tokens"] == "True"


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_errors_are_one_line_without_secrets(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway, tmp_path: Path
) -> None:
    bad = enphase_simulation.tokens.bad_signature(enphase_gateway.serial)
    token_file = tmp_path / "token"
    token_file.write_text(bad)
    args = ["--host", enphase_gateway.url, "--token-file", str(token_file)]
    status, out, err = await run_cli("get", "meters", *args)
    assert status == 1
    assert out == ""
    assert err.startswith("enphase-local: error: ")
    assert len(err.strip().splitlines()) == 1
    assert bad not in err
    assert bad.split(".")[1] not in err

    status, _, err = await run_cli("--debug", "get", "meters", *args)
    assert status == 1
    assert "Traceback" in err
    assert bad not in err


async def test_unknown_endpoint_is_a_usage_error() -> None:
    status, _, err = await run_cli("get", "nonsense", "--host", "127.0.0.1")
    assert status == 2
    assert "invalid choice" in err


@pytest.mark.enphase_simulation(profile="battery", start_time=NOON)
async def test_get_reads_batteries_and_detail(
    enphase_gateway: SimulatedGateway, tmp_path: Path
) -> None:
    args = gateway_args(enphase_gateway, tmp_path / "token")
    status, out, err = await run_cli("get", "battery-power", *args, "--json")
    assert status == 0, err
    batteries = json.loads(out)["batteries"]
    assert len(batteries) == 2
    assert set(batteries[0]) == {
        "serial_number",
        "active_power_w",
        "apparent_power_va",
        "charge_percent",
    }

    status, out, err = await run_cli("get", "inventory", *args)
    assert status == 0, err
    rows = dict(line.split(None, 1) for line in out.splitlines())
    assert rows["batteries[0].charge"].endswith(" %")
    assert rows["batteries[0].temperature"].endswith(" °C")
    assert rows["system_controllers[0].mains_oper_state"] == "closed"

    status, out, err = await run_cli("get", "ensemble-status", *args, "--json")
    assert status == 0, err
    assert json.loads(out)["devices"]  # the records kept as sent export as they came
