"""``enphase-local simulate`` in a subprocess: it prints, serves, and stops on a signal."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from enphase_local.transport import gateway_ssl_context

_MAIN = "from enphase_local.cli import main; raise SystemExit(main())"


async def _start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _MAIN,
        "simulate",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _stop(process: asyncio.subprocess.Process, sig: signal.Signals) -> int:
    process.send_signal(sig)
    async with asyncio.timeout(15):
        return await process.wait()


async def test_json_line_then_clean_shutdown_on_sigint(tmp_path: Path) -> None:
    config = tmp_path / "gateways.toml"
    process = await _start(
        "--json", "--gateways", "2", "--speed", "60", "--write-config", str(config)
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            line = await process.stdout.readline()
        info: dict[str, Any] = json.loads(line)
        assert [sorted(g) for g in info["gateways"]] == [
            ["fingerprint", "profile", "serial", "token", "url"]
        ] * 2
        assert sorted(info["cloud"]) == ["password", "url", "username"]
        gateway = info["gateways"][0]
        pin = aiohttp.Fingerprint(bytes.fromhex(gateway["fingerprint"]))
        headers = {"Authorization": f"Bearer {gateway['token']}"}
        async with aiohttp.ClientSession() as http:
            async with http.get(gateway["url"] + "/ivp/meters", ssl=pin, headers=headers) as r:
                assert r.status == 200
            form = {
                "user[email]": info["cloud"]["username"],
                "user[password]": info["cloud"]["password"],
            }
            async with http.post(
                info["cloud"]["url"] + "/login/login.json", data=form, ssl=False
            ) as r:
                assert r.status == 200
            async with http.get(info["control"]["url"] + "/status") as r:
                assert len((await r.json())["gateways"]) == 2
        written = tomllib.loads(config.read_text(encoding="utf-8"))
        assert written["gateway"] == [
            {"host": g["url"], "token": g["token"], "fingerprint": g["fingerprint"]}
            for g in info["gateways"]
        ]
        assert config.stat().st_mode & 0o777 == 0o600
    finally:
        status = await _stop(process, signal.SIGINT)
    assert status == 0
    assert process.stderr is not None
    assert await process.stderr.read() == b""


async def test_tls_option_sets_the_gateways_handshake() -> None:
    process = await _start("--json", "--tls", "legacy")
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            line = await process.stdout.readline()
        url = urlsplit(json.loads(line)["gateways"][0]["url"])
        assert url.hostname is not None
        _, writer = await asyncio.open_connection(url.hostname, url.port, ssl=gateway_ssl_context())
        assert writer.get_extra_info("cipher")[0] == "DHE-RSA-AES128-SHA"
        writer.close()
        await writer.wait_closed()
    finally:
        status = await _stop(process, signal.SIGINT)
    assert status == 0


async def test_human_output_and_sigterm() -> None:
    process = await _start("--profile", "legacy")
    try:
        assert process.stdout is not None
        lines: list[str] = []
        async with asyncio.timeout(30):
            while not lines or not lines[-1].startswith("serving"):
                lines.append((await process.stdout.readline()).decode().strip())
        text = "\n".join(lines)
        assert "gateway 1 (legacy): http://127.0.0.1:" in text
        assert "fingerprint  (plain HTTP)" in text
        assert "owner@example.com" in text
    finally:
        status = await _stop(process, signal.SIGTERM)
    assert status == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--gateways", "0"],
        ["--profile", "nope"],
        ["--speed", "-1"],
        ["--speed", "nan"],
        ["--tls", "ancient"],
    ],
)
async def test_bad_arguments_exit_with_usage(args: list[str]) -> None:
    process = await _start(*args)
    async with asyncio.timeout(30):
        _, err = await process.communicate()
    assert process.returncode == 2
    assert b"usage:" in err


async def test_replay_of_a_folder_without_sets(tmp_path: Path) -> None:
    process = await _start("--replay", str(tmp_path))
    async with asyncio.timeout(30):
        _, err = await process.communicate()
    assert process.returncode == 2
    assert b"no capture set" in err
