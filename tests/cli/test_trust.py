"""``get --trust-store`` and ``enphase-local trust`` against a gateway that changes certificate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from enphase_local.cli import build_parser
from enphase_local.simulator.gateway import SimulatedGateway
from tests.blocking import blocking_calls
from tests.cli.test_get import run_cli

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_trust_on_first_use_from_the_command_line(
    enphase_gateway: SimulatedGateway, tmp_path: Path
) -> None:
    assert enphase_gateway.token is not None
    store = tmp_path / "trust.json"
    token_file = tmp_path / "token"
    token_file.write_text(enphase_gateway.token)
    get = ["get", "production", "--host", enphase_gateway.url, "--token-file", str(token_file),
           "--trust-store", str(store)]  # fmt: skip
    key = enphase_gateway.url.removeprefix("https://")

    status, _, err = await run_cli(*get)
    assert status == 0, err
    status, out, _ = await run_cli("trust", "--store", str(store), "list")
    assert out.strip() == f"{key}  sha256 {enphase_gateway.fingerprint}"

    old = enphase_gateway.fingerprint
    new = await enphase_gateway.replace_certificate()
    status, _, err = await run_cli(*get)
    assert status == 1
    assert "not match" in err or "not the one trusted" in err

    status, out, _ = await run_cli("trust", "--store", str(store), "accept", enphase_gateway.url)
    assert status == 0
    assert f"trusting sha256 {new}" in out
    assert f"(was sha256 {old})" in out
    status, _, err = await run_cli(*get)
    assert status == 0, err

    status, out, _ = await run_cli("trust", "--store", str(store), "forget", enphase_gateway.url)
    assert status == 0
    status, out, _ = await run_cli("trust", "--store", str(store), "list")
    assert "no gateway trusted yet" in out


async def test_trust_actions_keep_file_io_off_the_loop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "trust.json")
    actions = [
        ["accept", "envoy.local", "--fingerprint", "ab" * 32],
        ["list"],
        ["forget", "envoy.local"],
    ]
    commands = [build_parser().parse_args(["trust", "--store", store, *a]) for a in actions]
    with blocking_calls() as seen:
        statuses = [await args.run(args) for args in commands]
    assert statuses == [0, 0, 0]
    assert seen == []
    assert f"envoy.local  sha256 {'ab' * 32}" in capsys.readouterr().out
