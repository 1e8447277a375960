"""The command line as a newcomer meets it, through the real command: the overview, the
examples closing every help, quiet ends on a closed pipe and on mistakes."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shlex
import sys
from pathlib import Path

import pytest

from enphase_local.cli import COMMAND_MODULES, build_parser
from enphase_local.simulator.gateway import SimulatedGateway
from tests.cli.test_get import gateway_args, run_cli

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
#: Every command whose --help must end with examples, sub-actions included.
HELPS = [(name,) for name in COMMAND_MODULES] + [("token", "fetch"), ("token", "show")]


async def test_no_arguments_prints_an_overview() -> None:
    status, out, err = await run_cli()
    assert status == 0
    assert err == ""
    assert out.index("enphase-local init") < out.index("Commands:")  # what to run first
    commands = out.split("Commands:")[1].splitlines()
    listed = {line.split()[0] for line in commands if line.startswith("  ")}
    assert listed == set(COMMAND_MODULES)


@pytest.mark.parametrize("command", HELPS, ids=" ".join)
async def test_every_help_ends_with_examples_that_parse(command: tuple[str, ...]) -> None:
    status, out, _ = await run_cli(*command, "--help")
    assert status == 0
    tail = out.rstrip().split("\nexamples:\n")[1].splitlines()
    commands = [line.strip() for line in tail if not line.strip().startswith("#")]
    assert 2 <= len(commands) <= 3
    prefix = "enphase-local " + " ".join(command[:1])
    assert all(line.startswith(prefix) for line in commands), commands
    for line in commands:
        build_parser().parse_args(shlex.split(line)[1:])  # a stale example exits with 2


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_a_closed_pipe_ends_quietly(
    enphase_gateway: SimulatedGateway, tmp_path: Path
) -> None:
    reader, writer = os.pipe()
    os.close(reader)  # as `| head` does once it has its lines: every write now fails
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "enphase_local", "get", "readings",
            *gateway_args(enphase_gateway, tmp_path / "token"),
            stdout=writer, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    finally:
        os.close(writer)
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 141  # as a program stopped by SIGPIPE
    assert err == b""


async def test_a_file_that_cannot_be_read_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.token"
    status, out, err = await run_cli("get", "info", "--host", "127.0.0.1:9", "--token-file",
                                     str(missing))  # fmt: skip
    assert status == 1
    assert out == ""
    assert err == f"enphase-local: error: {missing}: No such file or directory\n"


async def test_a_configuration_mistake_is_a_usage_error(tmp_path: Path) -> None:
    status, _, err = await run_cli("poll", "--config", str(tmp_path / "missing.toml"))
    assert status == 2
    assert err.startswith("enphase-local: error: cannot read ")
    assert "Traceback" not in err
