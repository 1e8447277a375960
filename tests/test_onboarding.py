"""The onboarding steps on their own: candidates, token checks, the files a setup writes."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest

from enphase_local.auth.token import Token
from enphase_local.config import EnlightenSetting, TokenFileSetting, load_config
from enphase_local.errors import TokenExpiredError, TokenSerialMismatchError
from enphase_local.onboarding import (
    EnlightenLogin,
    FoundGateway,
    GatewayEntry,
    candidates,
    check_token,
    config_text,
    write_setup,
)
from enphase_local.scheduler.discovery import DiscoveredGateway
from tests.tokens.jwt import OTHER_SERIAL, SERIAL, T0, make_jwt

FINGERPRINT = "ab" * 32


def found(host: str, serial: str = SERIAL, *, needs_token: bool = True) -> FoundGateway:
    return FoundGateway(
        host=host,
        found_by="--host",
        serial=serial,
        firmware="8.2.4345" if needs_token else "5.0.62",
        needs_token=needs_token,
        fingerprint=FINGERPRINT if needs_token else None,
    )


def test_candidates_list_hosts_first_and_each_gateway_once() -> None:
    discovered = [
        DiscoveredGateway(host="envoy.local", addresses=("192.168.1.20",)),
        DiscoveredGateway(
            host="envoy-x.local",
            addresses=("fe80::1", "192.168.1.21"),
            found_by="zeroconf",
            serial="122125067700",
        ),
        DiscoveredGateway(host="ENVOY.local", addresses=("192.168.1.20",)),
    ]
    listed = candidates(["10.0.0.5", "envoy.local"], discovered)
    assert [(c.host, c.found_by) for c in listed] == [
        ("10.0.0.5", "--host"),
        ("envoy.local", "--host"),
        ("192.168.1.21", "zeroconf"),  # its .local name may not resolve here: its IPv4 address
    ]


def test_a_good_token_passes_with_notes_worth_telling() -> None:
    owner = Token.parse(make_jwt(SERIAL))
    assert check_token(owner, SERIAL, now=T0) == []
    installer = Token.parse(make_jwt(SERIAL, role="installer", lifetime=timedelta(hours=12)))
    assert check_token(installer, SERIAL, now=T0) == [
        "an installer token: it lasts hours, not months",
        "it expires in 12 hours",
    ]
    assert check_token(owner, SERIAL, now=T0 + timedelta(days=355)) == ["it expires in 10 days"]


def test_a_token_for_another_gateway_or_expired_is_refused() -> None:
    token = Token.parse(make_jwt(OTHER_SERIAL))
    with pytest.raises(TokenSerialMismatchError, match=f"for gateway {OTHER_SERIAL}, not"):
        check_token(token, SERIAL, now=T0)
    with pytest.raises(TokenExpiredError, match="expired on 2027-03-01"):
        check_token(Token.parse(make_jwt(SERIAL)), SERIAL, now=T0 + timedelta(days=366))


def test_the_configuration_reads_back_with_every_token_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    config = tmp_path / "site" / "poll.toml"
    outside = tmp_path / "elsewhere" / "envoy-2.token"
    outside.parent.mkdir()
    outside.write_text(make_jwt(OTHER_SERIAL))
    login = EnlightenLogin(
        username='"odd\\name"@example.com',  # quotes and a backslash, escaped in TOML
        password_file=config.parent / "enlighten-password",
        enlighten_url="https://login.example",
    )
    entries = [
        GatewayEntry(gateway=found("envoy.local"), login=login),
        GatewayEntry(gateway=found("envoy-2.local", OTHER_SERIAL), token_file=outside),
        GatewayEntry(gateway=found("192.168.1.30", "121935144671", needs_token=False)),
    ]
    text = config_text(entries, config)
    write_setup(config, text, {login.password_file: "s3cret pass"})

    assert "s3cret" not in config.read_text()
    assert 'password_file = "enlighten-password"' in text  # beside it: relative
    assert f'token_file = "{outside}"' in text  # elsewhere: absolute
    loaded = load_config(config)
    first, second, third = loaded.gateways
    assert (first.host, first.fingerprint) == ("envoy.local", FINGERPRINT)
    assert isinstance(first.token, EnlightenSetting)
    assert first.token.account.password == "s3cret pass"
    assert first.token.account.enlighten_url == "https://login.example"
    assert first.token.cache_path == tmp_path / "cache" / "enphase-local" / "tokens.json"
    assert first.token.account.username == '"odd\\name"@example.com'
    assert second.host == "envoy-2.local"
    assert second.token == TokenFileSetting(path=outside)
    assert (third.host, third.token, third.fingerprint) == ("192.168.1.30", None, None)
    assert loaded.sinks.sqlite == config.parent / "enphase-local.sqlite"
    for path in (config, login.password_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_nothing_is_replaced_without_force(tmp_path: Path) -> None:
    config = tmp_path / "poll.toml"
    secret = tmp_path / "enlighten-password"
    secret.write_text("old\n")
    with pytest.raises(FileExistsError) as refused:
        write_setup(config, "new", {secret: "new"})
    assert refused.value.filename == str(secret)
    assert not config.exists()
    assert secret.read_text() == "old\n"

    write_setup(config, "new", {secret: "new"}, force=True)
    assert (config.read_text(), secret.read_text()) == ("new", "new\n")
