"""``enphase-local set`` through the real command against the simulator over HTTPS: the
refusal without a terminal, the dry run, the confirmation on a terminal, what it prints and
the exit statuses."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import pty
import sys
from pathlib import Path

import pytest

from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.pytest_plugin import SimulationFactory
from tests.cli.test_get import gateway_args, run_cli

NIGHT = dt.datetime(2025, 6, 21, 22, tzinfo=dt.UTC)
TARIFF = "/admin/lib/tariff"


async def simulated(factory: SimulationFactory, profile: str = "battery") -> SimulatedGateway:
    simulation = await factory(profile=profile, speed=20.0, start_time=NIGHT, cloud=False)
    gateway = simulation.gateways[0]
    gateway.faults.set_slow(0.0)
    return gateway


def writes_seen(gateway: SimulatedGateway) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in gateway.stats.log if r.method != "GET"]


async def on_terminal(*args: str, answer: bytes) -> tuple[int, str, str]:
    """The command with a terminal as its standard input, answering its question."""
    main, child = pty.openpty()
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "enphase_local", *args,
            stdin=child, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        os.close(child)
        os.write(main, answer)
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        os.close(main)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_without_a_terminal_or_yes_nothing_is_even_read(
    enphase_simulation_factory: SimulationFactory, tmp_path: Path
) -> None:
    gateway = await simulated(enphase_simulation_factory)
    status, out, err = await run_cli(
        "set", "reserve", "30", *gateway_args(gateway, tmp_path / "token")
    )
    assert status == 2
    assert out == ""
    assert "no terminal to confirm on: give --yes" in err
    assert gateway.stats.requests == 0


async def test_a_dry_run_prints_the_exact_request_and_writes_nothing(
    enphase_simulation_factory: SimulationFactory, tmp_path: Path
) -> None:
    gateway = await simulated(enphase_simulation_factory)
    assert gateway.token is not None
    status, out, err = await run_cli(
        "set", "reserve", "30", *gateway_args(gateway, tmp_path / "token"), "--dry-run"
    )
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].endswith("set_reserve: reserve_percent=10 -> reserve_percent=30")
    assert lines[1] == f"PUT {gateway.url}{TARIFF}"
    headers = dict(line.split(": ", 1) for line in lines[2 : lines.index("")])
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"].startswith(f"Bearer <owner token for {gateway.serial}")
    assert headers["Cookie"] == "sessionId=<masked>"
    body = json.loads(lines[lines.index("") + 1])
    assert body["tariff"]["storage_settings"]["reserved_soc"] == 30
    assert lines[-1] == "dry run: nothing was sent"
    assert gateway.token not in out + err
    assert gateway.token.split(".")[2] not in out + err
    assert writes_seen(gateway) == []


async def test_yes_sends_reads_back_and_says_it_applied(
    enphase_simulation_factory: SimulationFactory, tmp_path: Path
) -> None:
    gateway = await simulated(enphase_simulation_factory)
    args = gateway_args(gateway, tmp_path / "token")
    status, out, err = await run_cli("set", "storage-mode", "savings", *args, "--yes")
    assert status == 0, err
    assert "set_storage_mode: mode=self-consumption -> mode=savings" in out
    assert "applied in " in out
    assert out.rstrip().endswith("observed mode=savings")

    status, out, err = await run_cli("set", "relay", "off-grid", *args, "-y", "--json")
    assert status == 0, err
    result = json.loads(out[out.index("{") :])
    assert result["control"] == "set_grid_relay"
    assert result["applied"] is True
    assert result["observed"] == {"mains_admin_state": "open", "mains_oper_state": "open"}
    assert writes_seen(gateway) == [("PUT", TARIFF), ("POST", "/ivp/ensemble/relay")]


async def test_not_applied_is_said_and_exits_1(
    enphase_simulation_factory: SimulationFactory, tmp_path: Path
) -> None:
    gateway = await simulated(enphase_simulation_factory)
    gateway.control_faults.ignore_writes()
    args = gateway_args(gateway, tmp_path / "token")
    status, out, err = await run_cli("set", "charge-from-grid", "on", *args, "--yes", "--wait", "1")
    assert status == 1
    assert err == ""
    assert "NOT applied: " in out
    assert "still shows charge_from_grid=false after 1 s" in out
    assert writes_seen(gateway) == [("PUT", TARIFF)]


async def test_a_terminal_asks_and_no_sends_nothing(
    enphase_simulation_factory: SimulationFactory, tmp_path: Path
) -> None:
    gateway = await simulated(enphase_simulation_factory)
    args = gateway_args(gateway, tmp_path / "token")
    status, out, _ = await on_terminal("set", "dry-contact", "NC1", "open", *args, answer=b"\n")
    assert status == 1
    assert "NC1=closed -> NC1=open" in out
    assert f"Send POST /ivp/ensemble/dry_contacts to {gateway.url}? [y/N]" in out
    assert out.rstrip().endswith("nothing was sent")
    assert writes_seen(gateway) == []

    status, out, err = await on_terminal("set", "dry-contact", "nc1", "open", *args, answer=b"y\n")
    assert status == 0, err
    assert out.rstrip().endswith("observed NC1=open")
    assert writes_seen(gateway) == [("POST", "/ivp/ensemble/dry_contacts")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("reserve", "150"), "the reserve must be 0 to 100, not 150"),
        (("acb-sleep", "1219", "40", "30"), "must not exceed"),
        (("dry-contact", "NC9", "open"), "no dry contact 'NC9'"),
    ],
)
async def test_bad_input_is_a_usage_error_and_nothing_is_written(
    enphase_simulation_factory: SimulationFactory,
    tmp_path: Path,
    args: tuple[str, ...],
    message: str,
) -> None:
    gateway = await simulated(enphase_simulation_factory)
    status, out, err = await run_cli(
        "set", *args, *gateway_args(gateway, tmp_path / "token"), "--yes"
    )
    assert status == 2
    assert out == ""
    assert message in err
    assert len(err.splitlines()) == 1
    assert writes_seen(gateway) == []


async def test_missing_hardware_is_one_line_and_exit_1(
    enphase_simulation_factory: SimulationFactory, tmp_path: Path
) -> None:
    gateway = await simulated(enphase_simulation_factory, "metered")
    status, _, err = await run_cli(
        "set", "relay", "on-grid", *gateway_args(gateway, tmp_path / "token"), "--yes"
    )
    assert status == 1
    assert err.startswith("enphase-local: error: gateway ")
    assert "no IQ System Controller or Meter Collar" in err
    assert writes_seen(gateway) == []


async def test_the_gateway_of_a_configuration(
    enphase_simulation_factory: SimulationFactory, tmp_path: Path
) -> None:
    gateway = await simulated(enphase_simulation_factory, "generator")
    config = tmp_path / "poll.toml"
    config.write_text(
        f'[[gateway]]\nhost = "{gateway.url}"\nfingerprint = "{gateway.fingerprint}"\n'
        f'token = "{gateway.token}"\n'
    )
    config.chmod(0o600)
    status, out, err = await run_cli("set", "generator", "on", "--config", str(config), "--yes")
    assert status == 0, err
    assert "command=auto -> command=on" in out
    assert "applied in" in out
