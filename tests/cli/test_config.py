"""Loading the poll configuration file: gateways, token sources, cadences, sinks, mistakes."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import attrs
import pytest

from enphase_local.cli.simulate import config_text
from enphase_local.config import (
    DEFAULT_METRICS_HOST,
    ConfigError,
    EnlightenAccount,
    EnlightenSetting,
    StaticTokenSetting,
    TokenFileSetting,
    check_token_file,
    load_config,
)
from enphase_local.scheduler import PollPlan
from enphase_local.scheduler.plan import DEFAULT_LIVE
from enphase_local.simulator.pytest_plugin import SimulationFactory
from enphase_local.sinks.outbox import OutboxLimit
from tests.helpers import make_jwt

TOKEN = make_jwt("122199900001")
FINGERPRINT = "ab" * 32


def write(folder: Path, text: str, *, mode: int = 0o600) -> Path:
    path = folder / "poll.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def error(folder: Path, text: str) -> str:
    """The message of the ConfigError loading ``text`` raises; it names the file."""
    path = write(folder, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    return message.removeprefix(f"{path}: ")


# -- what simulate writes ------------------------------------------------------------------


async def test_the_file_simulate_writes_is_a_configuration(
    enphase_simulation_factory: SimulationFactory, tmp_path: Path
) -> None:
    sim = await enphase_simulation_factory(profile=["metered", "legacy"], speed=0)
    config = load_config(write(tmp_path, config_text(sim)))
    metered, legacy = config.gateways
    assert metered.host == sim.gateways[0].url
    assert metered.token == StaticTokenSetting(token=sim.gateways[0].token or "")
    assert metered.fingerprint == sim.gateways[0].fingerprint
    assert metered.session_options() == {"fingerprint": sim.gateways[0].fingerprint}
    # Plain-HTTP legacy gateway: simulate writes an empty fingerprint, meaning none.
    assert legacy.host.startswith("http://")
    assert legacy.fingerprint is None
    assert config.plan == PollPlan()
    assert config.sinks.empty


def test_empty_strings_mean_absent(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, '[[gateway]]\nhost = "envoy.local"\ntoken = ""\nfingerprint = ""\n')
    )
    (gateway,) = config.gateways
    assert gateway.token is None
    assert gateway.fingerprint is None
    assert gateway.plan is None
    assert gateway.session_options() == {}


# -- token sources ---------------------------------------------------------------------------


def test_every_token_source_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (tmp_path / "envoy.token").write_text(TOKEN)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "enlighten").write_text("file-password\n")
    config = load_config(
        write(
            tmp_path,
            f"""
            [[gateway]]
            host = "static.local"
            token = "{TOKEN}"

            [[gateway]]
            host = "file.local"
            token_file = "envoy.token"

            [[gateway]]
            host = "cloud.local"
            username = "me@example.com"
            password = "inline-password"

            [[gateway]]
            host = "cloud-2.local"
            username = "other@example.com"
            password_file = "secrets/enlighten"
            enlighten_url = "https://enlighten.test"
            entrez_url = "https://entrez.test/"
            token_cache = "tokens.json"

            [[gateway]]
            host = "legacy.local"
            """,
        )
    )
    static, from_file, cloud, cloud_2, legacy = (g.token for g in config.gateways)
    assert static == StaticTokenSetting(token=TOKEN)
    assert from_file == TokenFileSetting(path=tmp_path / "envoy.token")
    assert cloud == EnlightenSetting(
        account=EnlightenAccount(username="me@example.com", password="inline-password"),
        cache_path=tmp_path / "xdg" / "enphase-local" / "tokens.json",
    )
    assert cloud_2 == EnlightenSetting(
        account=EnlightenAccount(
            username="other@example.com",
            password="file-password",
            enlighten_url="https://enlighten.test",
            entrez_url="https://entrez.test/",
        ),
        cache_path=tmp_path / "tokens.json",
    )
    assert legacy is None
    shown = repr(config)
    for secret in (TOKEN, "inline-password", "file-password"):
        assert secret not in shown


# -- cadences and sinks ----------------------------------------------------------------------


def test_cadences_for_all_gateways_and_one(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
            [poll]
            live_interval = 5
            config_interval = 3600
            [poll.intervals]
            grid_readings = 120
            consumption_reports = false

            [[gateway]]
            host = "envoy.local"

            [[gateway]]
            host = "envoy-2.local"
            live_interval = 2
            intervals = { live_data = 30 }
            """,
        )
    )
    expected = (
        PollPlan().with_live_interval(5).with_intervals(grid_readings=120, consumption_reports=None)
    )
    assert config.plan == attrs.evolve(expected, config_interval_s=3600.0)
    shared, own = config.gateways
    assert shared.plan is None
    assert own.plan is not None
    expected_live = {
        **DEFAULT_LIVE,
        "meter_readings": 2.0,
        "live_data": 30.0,
        "grid_readings": 120.0,
    }
    del expected_live["consumption_reports"]
    assert dict(own.plan.live) == expected_live
    assert own.plan.config_interval_s == 3600.0


def test_sinks(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
            [[gateway]]
            host = "envoy.local"
            [sinks]
            sqlite = "data/enphase.sqlite"
            prometheus = 9531
            [sinks.mqtt]
            url = "mqtt://user:pw@broker.lan:1884"
            prefix = "solar"
            outbox = "state/outbox.sqlite"
            outbox_limit = "200 MB"
            drain_rate = 20
            wait_for_subscriber = true
            """,
        )
    )
    sinks = config.sinks
    assert sinks.sqlite == tmp_path / "data" / "enphase.sqlite"
    assert sinks.prometheus == (DEFAULT_METRICS_HOST, 9531)
    assert sinks.mqtt is not None
    assert sinks.mqtt.url == "mqtt://user:pw@broker.lan:1884"
    assert sinks.mqtt.prefix == "solar"
    assert sinks.mqtt.outbox == tmp_path / "state" / "outbox.sqlite"
    assert sinks.mqtt.outbox_limit == OutboxLimit(max_bytes=200_000_000)
    assert sinks.mqtt.drain_rate == 20.0
    assert sinks.mqtt.wait_for_subscriber
    assert not sinks.mqtt.allow_control  # off unless asked for
    assert not config.allow_control
    assert "pw" not in repr(sinks)


def test_control_over_mqtt_is_asked_for_in_the_mqtt_table(tmp_path: Path) -> None:
    text = '[[gateway]]\nhost = "envoy.local"\n[sinks.mqtt]\nurl = "mqtt://b"\n'
    config = load_config(write(tmp_path, text + "allow_control = true\n"))
    assert config.sinks.mqtt is not None
    assert config.sinks.mqtt.allow_control
    assert config.allow_control


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ('"0.0.0.0:9100"', ("0.0.0.0", 9100)),  # noqa: S104 - parsing, nothing listens
        ('"[::1]:9100"', ("::1", 9100)),
        ('"9100"', (DEFAULT_METRICS_HOST, 9100)),
        ("0", (DEFAULT_METRICS_HOST, 0)),
    ],
)
def test_metrics_addresses(tmp_path: Path, value: str, address: tuple[str, int]) -> None:
    text = f'[[gateway]]\nhost = "envoy.local"\n[sinks]\nprometheus = {value}\nmqtt = "mqtt://b"\n'
    config = load_config(write(tmp_path, text))
    assert config.sinks.prometheus == address
    assert config.sinks.mqtt is not None
    assert config.sinks.mqtt.prefix is None


# -- mistakes --------------------------------------------------------------------------------

GATEWAY = '[[gateway]]\nhost = "envoy.local"\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", r"^no \[\[gateway\]\] table"),
        ("gateway = 3\n", r"^gateway: expected \[\[gateway\]\] tables"),
        (GATEWAY + "[tokens]\n", r"^tokens: unknown key \(known: gateway, poll, sinks\)"),
        (GATEWAY + "tokn = 'x'\n", r"^gateway\[1\]\.tokn: unknown key \(known: config_interval"),
        ("[[gateway]]\ntoken_file = 'x'\n", r"^gateway\[1\]\.host: missing"),
        ("[[gateway]]\nhost = 'ftp://envoy'\n", r"^gateway\[1\]\.host: unsupported URL scheme"),
        ("[[gateway]]\nhost = 42\n", r"^gateway\[1\]\.host: expected a string, not a number"),
        (GATEWAY + GATEWAY.replace("envoy", "ENVOY"), r"^gateway\[2\]\.host: the same gateway"),
        (GATEWAY + "token = 'x'\ntoken_file = 'y'\n", r"^gateway\[1\]: choose one token source"),
        (GATEWAY + "password = 'x'\n", r"^gateway\[1\]\.password: only goes with username"),
        (GATEWAY + "username = 'me'\n", r"^gateway\[1\]: username needs either password or"),
        (
            GATEWAY + "username = 'me'\npassword = 'a'\npassword_file = 'b'\n",
            r"^gateway\[1\]: username needs either password or password_file",
        ),
        (
            GATEWAY + "username = 'me'\npassword_file = 'missing'\n",
            r"^gateway\[1\]\.password_file: cannot read .*missing: No such file",
        ),
        (
            GATEWAY + "username = 'me'\npassword = 'p'\nentrez_url = 'entrez'\n",
            r"^gateway\[1\]\.entrez_url: expected an http\(s\):// URL",
        ),
        (GATEWAY + "token_file = 'nope.token'\n", r"^gateway\[1\]\.token_file: no such file: "),
        (GATEWAY + 'token_file = "a\\u0000b"\n', r"^gateway\[1\]\.token_file: cannot read .*null"),
        (GATEWAY + "token_file = '.'\n", r"^gateway\[1\]\.token_file: cannot read .*directory"),
        (
            GATEWAY + "token_file = 'poll.toml'\n",  # this very file: not a token
            r"^gateway\[1\]\.token_file: .*poll\.toml: the token.s header part is not base64url",
        ),
        (GATEWAY + "fingerprint = 'abc'\n", r"^gateway\[1\]\.fingerprint: .*SHA-256"),
        (GATEWAY + "insecure_http = 'yes'\n", r"^gateway\[1\]\.insecure_http: expected true or"),
        (GATEWAY + "timeout = 0\n", r"^gateway\[1\]\.timeout: must be a positive number"),
        (GATEWAY + "live_interval = 0.5\n", r"^gateway\[1\]\.live_interval: .*the floor is 1 s"),
        ("[poll]\nlive_interval = true\n" + GATEWAY, r"^poll\.live_interval: expected a number"),
        ("[poll]\nintervals = { power = 5 }\n" + GATEWAY, r"^poll\.intervals: unknown endpoint"),
        ("[poll]\nintervals = 5\n" + GATEWAY, r"^poll\.intervals: expected a table"),
        ("[poll]\nfast = true\n" + GATEWAY, r"^poll\.fast: unknown key"),
        (GATEWAY + "[sinks]\nsqlite = 1\n", r"^sinks\.sqlite: expected a string"),
        (GATEWAY + "[sinks]\nredis = 'x'\n", r"^sinks\.redis: unknown key"),
        (GATEWAY + "[sinks]\nprometheus = 'x:y'\n", r"^sinks\.prometheus: expected PORT or"),
        (GATEWAY + "[sinks]\nprometheus = 70000\n", r"^sinks\.prometheus: expected PORT or"),
        (GATEWAY + "[sinks]\nmqtt = 'http://b'\n", r"^sinks\.mqtt: expected mqtt\[s\]://"),
        (GATEWAY + "[sinks.mqtt]\nprefix = 'p'\n", r"^sinks\.mqtt\.url: missing"),
        (GATEWAY + "[sinks.mqtt]\nurl = 'mqtt://b'\nqos = 1\n", r"^sinks\.mqtt\.qos: unknown"),
        (
            GATEWAY + "[sinks.mqtt]\nurl = 'mqtt://b'\noutbox_limit = 'lots'\n",
            r"^sinks\.mqtt\.outbox_limit: not a size: 'lots'",
        ),
        (
            GATEWAY + "[sinks.mqtt]\nurl = 'mqtt://b'\noutbox_limit = true\n",
            r"^sinks\.mqtt\.outbox_limit: expected a string",
        ),
        (
            GATEWAY + "[sinks.mqtt]\nurl = 'mqtt://b'\ndrain_rate = 0\n",
            r"^sinks\.mqtt\.drain_rate: expected a positive number of messages a second",
        ),
        (
            GATEWAY + "[sinks.mqtt]\nurl = 'mqtt://b'\nwait_for_subscriber = 'yes'\n",
            r"^sinks\.mqtt\.wait_for_subscriber: expected",
        ),
        (
            GATEWAY + "[sinks.mqtt]\nurl = 'mqtt://b'\nallow_control = 'yes'\n",
            r"^sinks\.mqtt\.allow_control: expected true or false",
        ),
        ("[[gateway]\n", r"^not valid TOML: "),
    ],
)
def test_mistakes_name_the_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    message = error(tmp_path, text)
    assert re.search(expected, message), message


def test_secrets_stay_out_of_error_messages(tmp_path: Path) -> None:
    broken = TOKEN[:-20] + "!!!!"
    message = error(tmp_path, GATEWAY + f'token = "{broken}"\n')
    assert message.startswith("gateway[1].token: ")
    assert broken not in message
    assert TOKEN.split(".")[1] not in message

    message = error(tmp_path, GATEWAY + "[sinks]\nmqtt = 'mqtt://me:hunter2@broker:x/'\n")
    assert message.startswith("sinks.mqtt: ")
    assert "hunter2" not in message


def test_token_file_check_raises_only_config_errors(tmp_path: Path) -> None:
    binary = tmp_path / "token.bin"
    binary.write_bytes(b"\xff" + TOKEN.encode())
    broken = tmp_path / "broken.token"
    broken.write_text(TOKEN[:-20] + "!!!!")
    for path in (tmp_path / "absent", tmp_path, tmp_path / "a\0b", binary, broken):
        with pytest.raises(ConfigError, match=re.escape(str(path))) as caught:
            check_token_file(path)
        assert TOKEN.split(".")[1] not in str(caught.value)
        # Chained to the cause, except a decode error: it would carry the file's bytes.
        assert (caught.value.__cause__ is None) == (path == binary)


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError, match=r"cannot read .*missing\.toml: No such file"):
        load_config(missing)


def test_a_file_with_secrets_readable_by_others_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="enphase_local.config")
    load_config(write(tmp_path, GATEWAY, mode=0o644))
    assert not caplog.records  # nothing secret in it
    load_config(write(tmp_path, GATEWAY + f'token = "{TOKEN}"\n', mode=0o644))
    assert "readable by others" in caplog.text
    assert TOKEN not in caplog.text
    caplog.clear()
    load_config(write(tmp_path, GATEWAY + f'token = "{TOKEN}"\n', mode=0o600))
    assert not caplog.records
