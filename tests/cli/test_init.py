"""``enphase-local init`` against simulated gateways and the fake cloud, on loopback only.

Discovery goes through an injected resolver (no multicast, no system resolver): it maps
``envoy.local``, ``envoy-2.local`` to simulated gateways, for the lookups of discovery and
for the connections alike. The fake cloud speaks plain HTTP on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import socket
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from enphase_local.auth.cache import TokenCache
from enphase_local.cli import UsageError, build_parser
from enphase_local.cli.init import Setup
from enphase_local.cli.questions import Questions
from enphase_local.config import EnlightenSetting, TokenFileSetting, load_config
from enphase_local.simulator import Simulation
from tests.cli.running import WAIT_S, cli

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
#: A simulation whose cloud answers over plain HTTP (no certificate to trust).
SIMULATION = pytest.mark.enphase_simulation(start_time=NOON, cloud_tls=False)


class LoopbackNames(AbstractResolver):
    """Gateway names that lead to simulated gateways on 127.0.0.1, whatever port is asked."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.ports = ports
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.ports:
            raise OSError(f"{host}: no such name")
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=self.ports[host],
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        """Nothing to release."""


class Script:
    """Answers prompts in order, checking each prompt says what the test expects."""

    def __init__(self, *exchanges: tuple[str, str]) -> None:
        self.exchanges = list(exchanges)

    def __call__(self, prompt: str) -> str:
        expected, answer = self.exchanges.pop(0)
        assert expected in prompt, f"asked {prompt!r}, expected {expected!r}"
        return answer


def cloud_args(simulation: Simulation) -> list[str]:
    assert simulation.cloud is not None
    return ["--enlighten-url", simulation.cloud.url, "--entrez-url", simulation.cloud.url]


def in_process(argv: list[str], questions: Questions, **options: object) -> Callable[[], int]:
    """``Setup(...).run`` for a thread: the simulator keeps serving on the test's loop."""
    args = build_parser().parse_args(["init", *argv])
    return Setup(args, questions, **options).run  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def token_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own token cache (commands started by the test inherit it)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "enphase-local" / "tokens.json"


async def run_init(*argv: str, stdin: str = "", cwd: Path) -> tuple[int, str, str]:
    """The real command without a terminal: standard input is a pipe."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "enphase_local", "init", *argv,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=cwd,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.enphase_simulation(start_time=NOON, cloud_tls=False, profile=["metered", "legacy"])
async def test_discovered_by_name_and_written_for_poll(
    enphase_simulation: Simulation,
    tmp_path: Path,
    token_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    metered, legacy = enphase_simulation.gateways
    names = LoopbackNames({"envoy.local": metered.port, "envoy-2.local": legacy.port})
    owner = enphase_simulation.owner
    monkeypatch.setattr("sys.stdin", io.StringIO(owner.password + "\n"))
    out = tmp_path / "site" / "poll.toml"
    run = in_process(
        ["--yes", "--username", owner.username, "--password-stdin",
         *cloud_args(enphase_simulation), "--out", str(out)],
        Questions(interactive=False, assume_yes=True),
        resolver=names,
        zeroconf=False,
    )  # fmt: skip
    assert await asyncio.to_thread(run) == 0
    printed = capsys.readouterr().out

    assert names.asked[:3] == ["envoy.local", "envoy-2.local", "envoy-3.local"]
    assert "envoy-4.local" not in names.asked  # discovery stops at the first name missing
    assert f"envoy.local    serial {metered.serial}" in printed
    assert f"envoy-2.local  serial {legacy.serial}  firmware 5" in printed
    assert "no token (legacy firmware)" in printed
    assert printed.count("reading works: producing") == 2
    assert f"enphase-local watch --config {out}" in printed

    config = load_config(out)
    first, second = config.gateways
    assert (first.host, first.fingerprint) == ("envoy.local", metered.fingerprint)
    assert isinstance(first.token, EnlightenSetting)
    assert first.token.account.username == owner.username
    assert first.token.account.password == owner.password
    assert first.token.account.entrez_url == enphase_simulation.cloud.url  # type: ignore[union-attr]
    assert first.token.cache_path == token_cache
    assert (second.host, second.token, second.fingerprint) == ("envoy-2.local", None, None)
    assert config.sinks.sqlite == out.parent / "enphase-local.sqlite"
    assert owner.password not in out.read_text()
    assert TokenCache(token_cache).get(metered.serial) is not None
    for path in (out, out.parent / "enlighten-password"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.enphase_simulation(start_time=NOON, cloud_tls=False, gateways=2)
async def test_a_terminal_falls_back_to_a_pasted_token_and_can_decline_a_gateway(
    enphase_simulation: Simulation, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = enphase_simulation.gateways
    mfa = enphase_simulation.mfa
    assert first.token is not None
    script = Script(
        ("Trust this certificate", "y"),
        ("How should the token come?", ""),  # Enlighten, the default
        ("Enlighten username", mfa.username),
        (f"Enlighten password for {mfa.username}", mfa.password),
        ("How should the token come?", "2"),  # multi-factor login: paste instead
        ("Paste the token", first.token),
        ("Trust this certificate", "n"),
    )
    out = tmp_path / "poll.toml"
    run = in_process(
        ["--host", first.url, "--host", second.url, *cloud_args(enphase_simulation),
         "--out", str(out)],
        Questions(interactive=True, read_line=script, read_secret=script),
    )  # fmt: skip
    assert await asyncio.to_thread(run) == 0
    assert script.exchanges == []
    printed = capsys.readouterr().out
    assert "multi-factor" in printed
    assert "skipped" in printed

    (gateway,) = load_config(out).gateways
    token_file = tmp_path / f"{first.serial}.token"
    assert gateway.token == TokenFileSetting(path=token_file)
    assert token_file.read_text().strip() == first.token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert f'token_file = "{first.serial}.token"' in out.read_text()


@SIMULATION
async def test_without_a_terminal_then_watch_uses_what_it_wrote(
    enphase_simulation: Simulation, tmp_path: Path
) -> None:
    gateway = enphase_simulation.gateways[0]
    owner = enphase_simulation.owner
    argv = ["--host", gateway.url, "--username", owner.username, "--password-stdin",
            *cloud_args(enphase_simulation)]  # fmt: skip

    status, out, err = await run_init(*argv, stdin=owner.password + "\n", cwd=tmp_path)
    assert status == 2  # trusting a certificate needs an answer
    assert err.strip() == (
        "enphase-local: error: no terminal to ask 'Trust this certificate and pin it in the "
        "configuration?': give --yes"
    )
    assert not (tmp_path / "poll.toml").exists()

    status, out, err = await run_init(*argv, "--yes", stdin=owner.password + "\n", cwd=tmp_path)
    assert status == 0, err
    assert "owner token, expires" in out
    assert out.rstrip().endswith(
        "enphase-local poll --config poll.toml    # keep every reading in enphase-local.sqlite"
    )
    assert enphase_simulation.cloud is not None
    logins = enphase_simulation.cloud.stats.logins

    async with cli("watch", "--config", "poll.toml", "--refresh", "0.5", cwd=tmp_path) as watch:
        await watch.wait_for(rf"^{gateway.serial}\s+online\s+-?\d+\.\d\d\s")
        assert await watch.stop() == 0, watch.stderr
    assert enphase_simulation.cloud.stats.logins == logins  # the cached token served

    status, _, err = await run_init(*argv, "--yes", stdin=owner.password + "\n", cwd=tmp_path)
    assert status == 2
    assert err.strip() == (
        "enphase-local: error: poll.toml already exists: give --force to replace it"
    )


@SIMULATION
async def test_without_a_terminal_every_missing_answer_names_its_flag(
    enphase_simulation: Simulation, tmp_path: Path
) -> None:
    gateway = enphase_simulation.gateways[0]
    host = ["--host", gateway.url, "--yes"]

    status, _, err = await run_init(*host, cwd=tmp_path)
    assert status == 2
    assert "needs a token: give --username with --password-stdin, or --token-file" in err

    other = enphase_simulation.tokens.owner("122199900099")
    (tmp_path / "other.token").write_text(other)
    status, _, err = await run_init(*host, "--token-file", "other.token", cwd=tmp_path)
    assert status == 1
    assert f"no token file given is for gateway {gateway.serial}" in err
    assert "nothing to write" in err

    mfa = enphase_simulation.mfa
    status, _, err = await run_init(
        *host, "--username", mfa.username, "--password-stdin", *cloud_args(enphase_simulation),
        stdin=mfa.password + "\n", cwd=tmp_path,
    )  # fmt: skip
    assert status == 1
    assert "multi-factor" in err
    assert mfa.password not in err
    assert os.listdir(tmp_path) == ["other.token"]  # nothing written


def dialogue(argv: list[str], cwd: Path, *steps: tuple[str, str | None]) -> tuple[int, str]:
    """Run init on a pseudo-terminal: for each step wait for the prompt, then type the answer
    (None: press Ctrl-C). Returns the exit status and everything the terminal showed."""
    shown = io.StringIO()
    child = pexpect.spawn(
        sys.executable, ["-m", "enphase_local", "init", *argv],
        cwd=str(cwd), encoding="utf-8", timeout=WAIT_S, dimensions=(24, 200),
    )  # fmt: skip
    child.logfile_read = shown
    try:
        for expected, answer in steps:
            child.expect_exact(expected)
            if answer is None:
                child.sendintr()
            else:
                child.sendline(answer)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus is not None, shown.getvalue()
    return child.exitstatus, shown.getvalue()


@SIMULATION
async def test_on_a_terminal_the_questions_are_asked_and_answered(
    enphase_simulation: Simulation, tmp_path: Path
) -> None:
    gateway = enphase_simulation.gateways[0]
    owner = enphase_simulation.owner
    argv = ["--host", gateway.url, *cloud_args(enphase_simulation)]
    status, shown = await asyncio.to_thread(
        dialogue,
        argv,
        tmp_path,
        ("Trust this certificate and pin it in the configuration? [Y/n] ", "y"),
        ("How should the token come? [1] ", ""),
        ("Enlighten username (e-mail): ", owner.username),
        (f"Enlighten password for {owner.username}: ", owner.password),
    )
    assert status == 0, shown
    assert f"certificate sha256 {gateway.fingerprint}" in shown
    assert "reading works: producing" in shown
    assert "Wrote poll.toml" in shown
    assert owner.password not in shown  # typed without echo
    assert load_config(tmp_path / "poll.toml").gateways[0].fingerprint == gateway.fingerprint


@SIMULATION
async def test_ctrl_c_at_a_prompt_stops_without_a_traceback(
    enphase_simulation: Simulation, tmp_path: Path
) -> None:
    gateway = enphase_simulation.gateways[0]
    argv = ["--host", gateway.url, *cloud_args(enphase_simulation)]
    status, shown = await asyncio.to_thread(
        dialogue,
        argv,
        tmp_path,
        ("[Y/n] ", "y"),
        ("[1] ", ""),
        ("Enlighten username (e-mail): ", "you@example.com"),
        ("Enlighten password for you@example.com: ", None),
    )
    assert status == 130
    assert "Traceback" not in shown
    assert os.listdir(tmp_path) == []


async def test_nothing_found_on_the_network_asks_for_a_host(tmp_path: Path) -> None:
    names = LoopbackNames({})
    run = in_process(
        ["--out", str(tmp_path / "poll.toml")],
        Questions(interactive=False),
        resolver=names,
        zeroconf=False,
    )
    with pytest.raises(UsageError, match="no gateway found on the network: give its address"):
        await asyncio.to_thread(run)
    assert names.asked == ["envoy.local"]


@SIMULATION
async def test_a_mistyped_password_is_asked_again(
    enphase_simulation: Simulation, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway = enphase_simulation.gateways[0]
    owner = enphase_simulation.owner
    script = Script(
        ("Trust this certificate", ""),
        ("How should the token come?", ""),
        ("Enlighten username", owner.username),
        ("Enlighten password", "not the password"),
        ("How should the token come?", ""),
        ("Enlighten username", owner.username),
        ("Enlighten password", owner.password),
    )
    out = tmp_path / "poll.toml"
    run = in_process(
        ["--host", gateway.url, *cloud_args(enphase_simulation), "--out", str(out)],
        Questions(interactive=True, read_line=script, read_secret=script),
    )
    assert await asyncio.to_thread(run) == 0
    assert script.exchanges == []
    assert "not the password" not in capsys.readouterr().out
    assert (tmp_path / "enlighten-password").read_text() == owner.password + "\n"
