"""The command line as a newcomer meets it, through the real command: the overview and the
examples closing every help."""

from __future__ import annotations

import shlex

import pytest

from enphase_local.cli import COMMAND_MODULES, build_parser
from tests.cli.test_get import run_cli

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
