"""``enphase-local token fetch|show`` in-process, against the simulator's cloud on loopback."""

from __future__ import annotations

import argparse
import io
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from enphase_local.auth.cache import TokenCache
from enphase_local.cli import token as token_cli
from enphase_local.errors import (
    CloudLoginError,
    CloudUnavailableError,
    InvalidTokenError,
    MfaRequiredError,
)
from enphase_local.simulator import FakeCloud, TokenIssuer
from enphase_local.simulator.cloud import CloudStats
from tests.tokens.jwt import OTHER_SERIAL, SERIAL, make_jwt
from tests.tokens.simcloud import MFA, PASSWORD, USERNAME, own


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="enphase-local")
    token_cli.register(top.add_subparsers(dest="command", required=True))
    return top


async def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    status: int = await args.run(args)
    return status


def fetch_argv(url: str, cache: Path, *serials: str, username: str = USERNAME) -> list[str]:
    argv = ["token", "fetch", "--username", username, "--password-stdin"]
    for serial in serials or (SERIAL,):
        argv += ["--serial", serial]
    argv += ["--enlighten-url", url, "--entrez-url", url, "--cache", str(cache)]
    return [*argv, "--insecure-cloud-tls"]


@pytest.fixture
def stdin_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))


@pytest.mark.usefixtures("stdin_password")
async def test_fetch_writes_a_private_cache_and_prints_no_token(
    sim_cloud: FakeCloud,
    sim_issuer: TokenIssuer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache = tmp_path / "cache" / "tokens.json"
    assert await run(fetch_argv(sim_cloud.url, cache)) == 0
    out, err = capsys.readouterr()
    assert sim_cloud.stats == CloudStats(logins=1, tokens=1)
    issued = TokenCache(cache).get(SERIAL)
    assert issued is not None
    assert issued.jti is not None
    assert sim_issuer.sequence_of(issued.jti) == 1  # the one token the cloud minted
    assert issued.secret() not in out + err
    assert PASSWORD not in out + err
    assert SERIAL in out
    assert str(cache) in out
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


@pytest.mark.usefixtures("stdin_password")
async def test_fetch_several_serials_with_one_login(sim_cloud: FakeCloud, tmp_path: Path) -> None:
    own(sim_cloud, OTHER_SERIAL)
    cache = tmp_path / "tokens.json"
    assert await run(fetch_argv(sim_cloud.url, cache, SERIAL, OTHER_SERIAL, SERIAL)) == 0
    tokens = TokenCache(cache).load()
    assert set(tokens) == {SERIAL, OTHER_SERIAL}
    assert [tokens[serial].serial for serial in (SERIAL, OTHER_SERIAL)] == [SERIAL, OTHER_SERIAL]
    assert sim_cloud.stats == CloudStats(logins=1, tokens=2)


async def test_fetch_prompts_for_the_password(
    sim_cloud: FakeCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        return PASSWORD

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    argv = fetch_argv(sim_cloud.url, tmp_path / "t.json")
    assert await run([arg for arg in argv if arg != "--password-stdin"]) == 0
    assert prompts == [f"Enlighten password for {USERNAME}: "]
    assert sim_cloud.stats == CloudStats(logins=1, tokens=1)


async def test_fetch_uses_the_default_cache(
    sim_cloud: FakeCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD))
    argv = fetch_argv(sim_cloud.url, Path("unused"))
    cut = argv.index("--cache")
    assert await run(argv[:cut] + argv[cut + 2 :]) == 0
    assert TokenCache(tmp_path / "xdg" / "enphase-local" / "tokens.json").get(SERIAL)


async def test_fetch_wrong_password(
    sim_cloud: FakeCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("hunter2\n"))
    cache = tmp_path / "tokens.json"
    with pytest.raises(CloudLoginError) as caught:
        await run(fetch_argv(sim_cloud.url, cache))
    assert "hunter2" not in str(caught.value)
    assert not cache.exists()
    assert sim_cloud.stats == CloudStats(failed_logins=1)


@pytest.mark.usefixtures("stdin_password")
async def test_fetch_with_mfa(sim_cloud: FakeCloud, tmp_path: Path) -> None:
    cache = tmp_path / "tokens.json"
    with pytest.raises(MfaRequiredError, match="paste a token"):
        await run(fetch_argv(sim_cloud.url, cache, username=MFA.username))
    assert not cache.exists()
    assert sim_cloud.stats == CloudStats()


@pytest.mark.usefixtures("stdin_password")
async def test_fetch_verifies_cloud_tls_unless_told_not_to(
    sim_cloud: FakeCloud, tmp_path: Path
) -> None:
    argv = fetch_argv(sim_cloud.url, tmp_path / "t.json")
    with pytest.raises(CloudUnavailableError, match="TLS"):
        await run([arg for arg in argv if arg != "--insecure-cloud-tls"])
    assert sim_cloud.stats == CloudStats()


async def test_fetch_without_a_password(
    sim_cloud: FakeCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert await run(fetch_argv(sim_cloud.url, tmp_path / "tokens.json")) == 2
    assert sim_cloud.stats == CloudStats()


@pytest.mark.usefixtures("stdin_password")
async def test_fetch_cannot_write_the_cache(
    sim_cloud: FakeCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert await run(fetch_argv(sim_cloud.url, blocker / "tokens.json")) == 1
    # A save re-reads the file first (to keep others' entries): that read is what fails here.
    assert f"cannot read {blocker / 'tokens.json'}: Not a directory" in capsys.readouterr().err


def test_password_is_never_an_argument(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(
            ["token", "fetch", "--serial", SERIAL, "--username", USERNAME, "--password", "x"]
        )
    assert "unrecognized arguments" in capsys.readouterr().err


# --- show ---------------------------------------------------------------------------------


def fresh(serial: str = SERIAL, **kwargs: object) -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    return make_jwt(serial, issued_at=now, **kwargs)  # type: ignore[arg-type] # claims as given


def write_cache(path: Path, **tokens: str) -> None:
    path.write_text(json.dumps({"version": 1, "tokens": tokens}))


async def test_show_cache_prints_claims_not_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "tokens.json"
    owner = fresh()
    expired = make_jwt(
        OTHER_SERIAL,
        role="installer",
        issued_at=datetime.now(UTC) - timedelta(hours=14),
        lifetime=timedelta(hours=12),
    )
    write_cache(cache, **{SERIAL: owner, OTHER_SERIAL: expired})
    assert await run(["token", "show", str(cache)]) == 0
    out = capsys.readouterr().out
    assert owner not in out
    assert expired not in out
    assert owner.split(".")[2] not in out
    assert SERIAL in out
    assert OTHER_SERIAL in out
    assert "owner" in out
    assert "installer" in out
    assert "in 364 d 23 h" in out
    assert "expired 1 h 59 min ago" in out or "expired 2 h 0 min ago" in out


async def test_show_reveal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "tokens.json"
    owner = fresh()
    write_cache(cache, **{SERIAL: owner})
    assert await run(["token", "show", "--reveal", str(cache)]) == 0
    assert owner in capsys.readouterr().out


async def test_show_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "tokens.json"
    owner = fresh(lifetime=timedelta(hours=12), role="installer")
    write_cache(cache, **{SERIAL: owner})
    assert await run(["token", "show", "--json", str(cache)]) == 0
    out = capsys.readouterr().out
    assert owner not in out
    (record,) = json.loads(out)
    assert record["serial"] == SERIAL
    assert record["role"] == "installer"
    assert record["issuer"] == "Entrez"
    assert record["expired"] is False
    assert 12 * 3600 - 120 <= record["expires_in_s"] <= 12 * 3600
    assert "token" not in record
    assert await run(["token", "show", "--json", "--reveal", str(cache)]) == 0
    assert json.loads(capsys.readouterr().out)[0]["token"] == owner


async def test_show_token_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "token.txt"
    raw = fresh(username=None)
    path.write_text(f'"{raw}"\n')
    assert await run(["token", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert raw not in out
    assert "username  -" in out


async def test_show_default_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert await run(["token", "show"]) == 1
    assert "token fetch" in capsys.readouterr().err
    (tmp_path / "enphase-local").mkdir()
    write_cache(tmp_path / "enphase-local" / "tokens.json", **{SERIAL: fresh()})
    assert await run(["token", "show"]) == 0
    assert SERIAL in capsys.readouterr().out


async def test_show_malformed_token_file(tmp_path: Path) -> None:
    path = tmp_path / "token.txt"
    broken = fresh().rsplit(".", 1)[0]
    path.write_text(broken)
    with pytest.raises(InvalidTokenError, match=r"token\.txt") as caught:
        await run(["token", "show", str(path)])
    assert broken not in str(caught.value)


@pytest.mark.parametrize("content", ['{"version": 1, "tokens": {}}', "{not json"])
async def test_show_empty_cache(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(content)
    assert await run(["token", "show", str(path)]) == 1
    assert "no valid tokens" in capsys.readouterr().err


async def test_show_unreadable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(["token", "show", str(tmp_path)]) == 1
    assert "cannot read" in capsys.readouterr().err
    binary = tmp_path / "token.bin"
    binary.write_bytes(b"\xff\xfe")
    assert await run(["token", "show", str(binary)]) == 1
    assert "not UTF-8" in capsys.readouterr().err
