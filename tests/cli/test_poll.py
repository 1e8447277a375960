"""``enphase-local poll`` end to end: a real process against simulated gateways over HTTPS."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import json
import logging
import os
import re
import signal
import socket
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from enphase_local.auth.cache import TokenCache
from enphase_local.cli import build_parser, main
from enphase_local.cli.poll import config_from_args, describe_plan, freeze_start_up, span
from enphase_local.config import ConfigError, StaticTokenSetting
from enphase_local.scheduler import PollPlan
from enphase_local.simulator import Simulation
from enphase_local.simulator.pytest_plugin import SimulationFactory
from enphase_local.sinks.outbox import Outbox, OutboxLimit
from tests.cli.running import cli, count_rows, gateway_args
from tests.helpers import make_jwt
from tests.sinks.builders import wait_until

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
SUMMARY = re.compile(
    r"^  (\S+) \((\d{12})\): (\w[\w ]*), (\d+) polls, (\d+) ok, (\d+) failed, (\d+) skipped$"
)


@pytest.fixture
async def simulation(enphase_simulation_factory: SimulationFactory) -> Simulation:
    """A metered and a battery gateway at noon, in real time."""
    return await enphase_simulation_factory(
        profile=["metered", "battery"], start_time=NOON, cloud_tls=False
    )


def summary(out: str) -> dict[str, tuple[str, int, int, int, int]]:
    """Per gateway serial: state, polls, successes, failures, skipped."""
    rows = {}
    for line in out.splitlines():
        if match := SUMMARY.match(line):
            _, serial, state, *counts = match.groups()
            polls, ok, failed, skipped = map(int, counts)
            rows[serial] = (state, polls, ok, failed, skipped)
    return rows


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_poll_into_sqlite_until_ctrl_c(simulation: Simulation, tmp_path: Path) -> None:
    database = tmp_path / "data" / "power.sqlite"
    database.parent.mkdir()
    serial = simulation.gateways[0].serial
    args = gateway_args(simulation, 0, tmp_path)
    async with cli("poll", *args, "--live-interval", "1", "--sqlite", str(database)) as poll:
        start = await poll.wait_for("^polling ")
        host = simulation.gateways[0].url.removeprefix("https://")
        assert start.startswith(f"polling 1 gateway ({host}): meter_readings every 1 s, ")
        assert "inverters, production, energy, device_data after each report" in start
        assert start.endswith(f"; writing to SQLite {database.resolve()}")
        await wait_until(
            lambda: database.exists() and count_rows(database, "power_samples") >= 2, 20
        )
        status = await poll.stop(signal.SIGINT)
    assert status == 0, poll.stderr
    # The only problem worth a line: this profile has no device list.
    assert poll.err == [
        line for line in poll.err if line.endswith(": device_list not polled: "
        "/ivp/ensemble/device_list: not served by this gateway (404)")
    ]  # fmt: skip
    assert len(poll.err) == 1
    assert re.search(r"^stopped after polling for [\d.]+ s:$", poll.stdout, re.MULTILINE)
    state, polls, ok, failed, _ = summary(poll.stdout)[serial]
    assert state == "online"
    assert polls >= ok > 0
    assert failed == 0
    written = re.search(r"^  sqlite: (\d+) written, 0 dropped$", poll.stdout, re.MULTILINE)
    assert written is not None
    # Everything submitted was written at the end: the file holds each poll's event, and each
    # energy event (one per meter readings and production read) went into the ledger.
    with sqlite3.connect(database) as conn:
        [(energy_events,)] = conn.execute(
            "SELECT COUNT(*) FROM events"
            " WHERE kind = 'data' AND endpoint IN ('meter_readings', 'production')"
        ).fetchall()
    assert count_rows(database, "events") + energy_events == int(written.group(1))
    assert count_rows(database, "power_samples", gateway=serial) >= 2
    assert count_rows(database, "ledger", gateway=serial) >= 1
    assert count_rows(database, "energy_state", gateway=serial) == 2  # meters, production
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


async def test_sigterm_stops_cleanly_into_the_default_file(
    simulation: Simulation, tmp_path: Path
) -> None:
    args = gateway_args(simulation, 1, tmp_path)
    async with cli("poll", *args, "--live-interval", "1", cwd=tmp_path) as poll:
        start = await poll.wait_for("^polling ")
        default = tmp_path / "enphase-local.sqlite"
        assert start.endswith(f"writing to SQLite {default}")
        await wait_until(lambda: default.exists() and count_rows(default, "events") > 0, 20)
        status = await poll.stop(signal.SIGTERM)
    assert status == 0, poll.stderr
    serial = simulation.gateways[1].serial
    assert summary(poll.stdout)[serial][0] == "online"
    # The battery site's samples carry its state of charge.
    assert count_rows(default, "power_samples", gateway=serial) > 0


async def test_poll_the_file_simulate_writes(tmp_path: Path) -> None:
    config = tmp_path / "simulated.toml"
    database = tmp_path / "poll.sqlite"
    async with cli(
        "simulate", "--gateways", "2", "--profile", "three-phase", "--json",
        "--write-config", str(config),
    ) as simulate:  # fmt: skip
        info = json.loads(await simulate.wait_for("^{"))
        serials = [g["serial"] for g in info["gateways"]]
        async with cli(
            "poll", "--config", str(config), "--live-interval", "1", "--sqlite", str(database)
        ) as poll:
            start = await poll.wait_for("^polling ")
            assert start.startswith("polling 2 gateways (127.0.0.1:")
            await wait_until(
                lambda: (
                    database.exists()
                    and all(count_rows(database, "power_samples", gateway=s) for s in serials)
                ),
                20,
            )
            assert await poll.stop() == 0, poll.stderr
        assert await simulate.stop() == 0
    rows = summary(poll.stdout)
    assert set(rows) == set(serials)
    assert all(row[0] == "online" and row[3] == 0 for row in rows.values())
    tokens = [g["token"] for g in info["gateways"]]
    assert not any(token in poll.stdout + poll.stderr for token in tokens)


async def test_enlighten_credentials_one_login_for_every_gateway(
    simulation: Simulation, tmp_path: Path
) -> None:
    cloud = simulation.cloud
    assert cloud is not None
    password = simulation.owner.password
    (tmp_path / "password").write_text(password + "\n")
    config = tmp_path / "poll.toml"
    config.write_text(
        "".join(
            f"""
            [[gateway]]
            host = "{g.url}"
            fingerprint = "{g.fingerprint}"
            username = "{simulation.owner.username}"
            password_file = "password"
            enlighten_url = "{cloud.url}"
            entrez_url = "{cloud.url}"
            token_cache = "cache/tokens.json"
            """
            for g in simulation.gateways
        )
        + "\n[sinks]\nsqlite = 'enlighten.sqlite'\n"
    )
    database = tmp_path / "enlighten.sqlite"
    serials = [g.serial for g in simulation.gateways]
    async with cli("poll", "--config", str(config), "--live-interval", "1") as poll:
        await poll.wait_for(f"writing to SQLite {database}$")
        await wait_until(
            lambda: (
                database.exists()
                and all(count_rows(database, "power_samples", gateway=s) for s in serials)
            ),
            20,
        )
        assert await poll.stop() == 0, poll.stderr
    assert cloud.stats.logins == 1
    assert cloud.stats.tokens == len(serials)
    cache = tmp_path / "cache" / "tokens.json"
    assert set(TokenCache(cache).load()) == set(serials)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert password not in poll.stdout + poll.stderr
    assert all(row[0] == "online" for row in summary(poll.stdout).values())


async def test_prometheus_metrics_scraped_and_parsed(
    simulation: Simulation, tmp_path: Path
) -> None:
    serial = simulation.gateways[0].serial
    args = gateway_args(simulation, 0, tmp_path)
    database = tmp_path / "p.sqlite"
    async with cli(
        "poll", *args, "--live-interval", "1", "--prometheus", "0", "--sqlite", str(database)
    ) as poll:
        start = await poll.wait_for("^polling ")
        found = re.search(r"Prometheus (http://127\.0\.0\.1:\d+/metrics)", start)
        assert found is not None, start
        samples: dict[str, list[Sample]] = {}
        async with aiohttp.ClientSession() as http:

            async def scrape() -> bool:
                async with http.get(found.group(1)) as reply:
                    assert reply.status == 200
                    text = await reply.text()
                samples.clear()
                for family in text_string_to_metric_families(text):
                    for sample in family.samples:
                        samples.setdefault(sample.name, []).append(sample)
                return "enphase_production_watts" in samples

            for _ in range(100):
                if await scrape():
                    break
                await asyncio.sleep(0.2)
        assert await poll.stop() == 0, poll.stderr

    def value(name: str, **labels: str) -> float:
        matching = [s.value for s in samples[name] if labels.items() <= s.labels.items()]
        assert len(matching) == 1, (name, labels, samples.get(name))
        return matching[0]

    assert value("enphase_production_watts", gateway=serial) >= 0
    assert value("enphase_gateway_up", gateway=serial) == 1
    # The poller's own health, per gateway.
    assert value("enphase_poller_polls_total", gateway=serial) > 0
    assert value("enphase_poller_successes_total", gateway=serial) > 0
    assert value("enphase_poller_failures_total", gateway=serial) == 0
    assert value("enphase_poller_events_dropped_total") == 0
    assert value("enphase_poller_latency_seconds", gateway=serial, quantile="0.5") > 0
    # Both sinks report their backlog and drops.
    assert value("enphase_sink_dropped_total", sink="sqlite") == 0
    assert value("enphase_sink_backlog", sink="prometheus") == 0


async def test_an_outbox_in_use_by_another_poller_is_a_clear_error(
    simulation: Simulation, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    await outbox.open()  # another poller holds it
    try:
        async with cli(
            "poll", *gateway_args(simulation, 0, tmp_path),
            "--mqtt", f"mqtt://127.0.0.1:{closed_port()}", "--mqtt-outbox", str(outbox.path),
        ) as poll:  # fmt: skip
            assert await poll.wait() == 1
    finally:
        await outbox.close()
    assert poll.stderr.startswith("enphase-local: error: cannot start the sinks (MQTT ")
    assert poll.stderr.strip().endswith(
        f"the outbox {outbox.path} is in use by another process: give each poller its own outbox"
    )
    assert "\n" not in poll.stderr.strip()  # one line


async def test_a_broker_that_is_down_never_stalls_polling_and_secrets_never_print(
    simulation: Simulation, tmp_path: Path
) -> None:
    gateway = simulation.gateways[0]
    assert gateway.token is not None
    assert gateway.fingerprint is not None
    database = tmp_path / "down.sqlite"
    port = closed_port()
    async with cli(
        "poll", gateway.url, "--token", gateway.token, "--fingerprint", gateway.fingerprint,
        "--live-interval", "1", "--sqlite", str(database),
        "--mqtt", f"mqtt://enphase:hunter2@127.0.0.1:{port}/solar",
    ) as poll:  # fmt: skip
        start = await poll.wait_for("^polling ")
        assert f"MQTT mqtt://enphase@127.0.0.1:{port}/solar" in start
        await poll.wait_for(rf"MQTT broker mqtt://enphase@127.0.0.1:{port}/solar: ", stderr=True)
        # Polling and the SQLite sink go on while MQTT cannot deliver anything.
        await wait_until(
            lambda: database.exists() and count_rows(database, "power_samples") >= 3, 20
        )
        assert await poll.stop() == 0, poll.stderr
    assert summary(poll.stdout)[gateway.serial][0] == "online"
    # What MQTT could not deliver waits in the outbox (by default in $XDG_STATE_HOME).
    outbox = Path(os.environ["XDG_STATE_HOME"]) / "enphase-local" / "mqtt-outbox.sqlite"
    assert f"(outbox {outbox})" in start
    kept = re.search(
        r"^  mqtt: 0 written, 0 dropped, (\d+) kept in the outbox for the next start$",
        poll.stdout,
        re.MULTILINE,
    )
    assert kept is not None
    assert int(kept.group(1)) > 0
    assert count_rows(outbox, "messages") == int(kept.group(1))
    assert "Traceback" not in poll.stderr
    for line in poll.stderr.splitlines():  # one line per problem, each dated
        assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", line), line
    output = poll.stdout + poll.stderr
    assert "hunter2" not in output
    assert gateway.token not in output
    assert gateway.token.split(".")[1] not in output


async def test_debug_output_holds_no_secret_either(simulation: Simulation, tmp_path: Path) -> None:
    gateway = simulation.gateways[0]
    assert gateway.token is not None
    async with cli(
        "--debug", "poll", gateway.url, "--token", gateway.token, "--live-interval", "1",
        "--sqlite", str(tmp_path / "debug.sqlite"),
    ) as poll:  # fmt: skip
        await poll.wait_for(r"DEBUG enphase_local\.session: GET /ivp/meters/readings", stderr=True)
        assert await poll.stop() == 0, poll.stderr
    output = poll.stdout + poll.stderr
    assert gateway.token not in output
    assert gateway.token.split(".")[1] not in output


async def test_an_unreachable_gateway_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    port = closed_port()
    async with cli(
        "poll", f"https://127.0.0.1:{port}", "--sqlite", str(tmp_path / "x.sqlite")
    ) as poll:
        line = await poll.wait_for("backing off", stderr=True)
        assert f"gateway 127.0.0.1:{port}: backing off (GatewayConnectionError: " in line
        assert await poll.stop() == 0
    assert "Traceback" not in poll.stderr
    assert re.search(rf"^  127\.0\.0\.1:{port}: backing off, \d+ polls, 0 ok, [1-9]\d* failed, ",
                     poll.stdout, re.MULTILINE)  # fmt: skip


@pytest.fixture
def package_logging() -> Iterator[None]:
    """Put back what an in-process run changes in the package's logging."""
    package = logging.getLogger("enphase_local")
    quiet = logging.getLogger("enphase_local.scheduler.gateway_worker")
    saved = (package.handlers[:], package.propagate, package.level, quiet.level)
    try:
        yield
    finally:
        package.handlers[:], package.propagate, package.level, quiet.level = saved


@pytest.mark.usefixtures("package_logging")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name the gateways: HOST... or --config FILE"),
        (("--config", "missing.toml"), "cannot read missing.toml: No such file or directory"),
        (("a.local", "--config", "x.toml"), "give HOSTs or --config, not both"),
        (("a.local", "b.local", "--fingerprint", "ab" * 32), "--fingerprint pins one gateway"),
        (("a.local", "--token", "nonsense"), "--token: a JWT has three dot-separated parts"),
        (("a.local", "a.local"), "gateway a.local is listed twice"),
        (("a.local", "--allow-control"), "--allow-control takes commands over MQTT: give --mqtt"),
    ],
)
def test_usage_mistakes_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    status = main(["poll", *args, "--sqlite", str(tmp_path / "never.sqlite")])
    out, err = capsys.readouterr()
    assert status == 2  # usage: the command line or the configuration
    assert out == ""
    assert err.startswith(f"enphase-local: error: {message}")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "never.sqlite").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("a.local", "--live-interval", "0.5"), "the floor is 1 s"),
        (("a.local", "--prometheus", "x"), "expected PORT or ADDRESS:PORT"),
        (("a.local", "--mqtt", "http://me:secret@b"), "expected mqtt[s]://"),
    ],
)
def test_bad_option_values_are_usage_errors(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["poll", *args])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "secret" not in err


def test_command_line_and_file_combine(tmp_path: Path) -> None:
    token_file = tmp_path / "envoy.token"
    token_file.write_text(make_jwt("122199900001"))
    config = tmp_path / "poll.toml"
    config.write_text(
        f"""
        [poll]
        live_interval = 5
        [[gateway]]
        host = "envoy.local"
        token_file = "{token_file}"
        timeout = 20
        [[gateway]]
        host = "envoy-2.local"
        [sinks]
        sqlite = "file.sqlite"
        prometheus = 9100
        """
    )
    parser = build_parser()
    args = parser.parse_args(["poll", "--config", str(config), "--timeout", "7", "--insecure-http"])
    loaded = config_from_args(args)
    first, second = loaded.gateways
    assert (first.timeout_s, second.timeout_s) == (20.0, 7.0)  # the file's own wins
    assert first.insecure_http
    assert second.insecure_http
    assert loaded.plan.live["meter_readings"] == 5.0
    assert loaded.sinks.sqlite == tmp_path / "file.sqlite"

    # Sink options and --live-interval on the command line take the file's place.
    args = parser.parse_args(
        ["poll", "--config", str(config), "--live-interval", "2", "--mqtt", "mqtt://b"]
    )
    loaded = config_from_args(args)
    assert loaded.plan.live["meter_readings"] == 2.0
    assert loaded.sinks.sqlite is None
    assert loaded.sinks.prometheus is None
    assert loaded.sinks.mqtt is not None
    assert loaded.sinks.mqtt.url == "mqtt://b"
    assert not loaded.allow_control

    # --allow-control turns control on for the MQTT sink of the command line or the file.
    args = parser.parse_args(
        ["poll", "--config", str(config), "--mqtt", "mqtt://b", "--allow-control"]
    )
    assert config_from_args(args).allow_control
    config.write_text(config.read_text() + 'mqtt = "mqtt://b"\n')
    args = parser.parse_args(["poll", "--config", str(config), "--allow-control"])
    loaded = config_from_args(args)
    assert loaded.allow_control
    assert loaded.sinks.prometheus == ("127.0.0.1", 9100)  # the file's sinks, mqtt with control


def test_outbox_options_go_to_the_mqtt_sink_of_the_command_line_or_the_file(
    tmp_path: Path,
) -> None:
    config = tmp_path / "poll.toml"
    config.write_text('[[gateway]]\nhost = "envoy.local"\n[sinks]\nmqtt = "mqtt://b/p"\n')
    parser = build_parser()
    outbox = ["--mqtt-outbox", "o.sqlite", "--mqtt-outbox-limit", "1000rows"]
    args = parser.parse_args(["poll", "--config", str(config), *outbox, "--mqtt-drain-rate", "5"])
    mqtt = config_from_args(args).sinks.mqtt
    assert mqtt is not None
    assert (mqtt.url, mqtt.outbox, mqtt.drain_rate) == ("mqtt://b/p", Path("o.sqlite"), 5.0)
    assert mqtt.outbox_limit == OutboxLimit(max_bytes=None, max_rows=1000)
    assert not mqtt.wait_for_subscriber

    args = parser.parse_args(["poll", "--config", str(config), "--mqtt-wait-for-subscriber"])
    mqtt = config_from_args(args).sinks.mqtt
    assert mqtt is not None
    assert mqtt.wait_for_subscriber

    args = parser.parse_args(["poll", "envoy.local", "--mqtt", "mqtt://c", *outbox[:2]])
    mqtt = config_from_args(args).sinks.mqtt
    assert mqtt is not None
    assert (mqtt.url, mqtt.outbox, mqtt.outbox_limit) == ("mqtt://c", Path("o.sqlite"), None)

    for options in (outbox[:2], ["--mqtt-wait-for-subscriber"]):
        args = parser.parse_args(["poll", "envoy.local", "--sqlite", "x", *options])
        with pytest.raises(ConfigError, match="need --mqtt"):
            config_from_args(args)


def test_a_bad_outbox_limit_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["poll", "envoy.local", "--mqtt-outbox-limit", "huge"])
    assert exit_info.value.code == 2
    assert "not a size: 'huge'" in capsys.readouterr().err


def test_hosts_from_the_command_line(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["watch", "[::1]:8443", "--token", make_jwt(), "--fingerprint", ":".join(["AB"] * 32)]
    )
    (gateway,) = config_from_args(args).gateways
    assert gateway.host == "[::1]:8443"
    assert gateway.token == StaticTokenSetting(token=make_jwt())
    assert gateway.fingerprint == "ab" * 32
    assert gateway.plan is None


def test_the_start_line_describes_cadences() -> None:
    plan = PollPlan(live={"meter_readings": 9.5, "live_data": 300}).with_intervals(
        grid_readings=120, device_data=None
    )
    assert describe_plan(plan) == (
        "meter_readings every 9.5 s, grid_readings every 2 min, live_data every 5 min, "
        "inverters, production, energy after each report, configuration every 4 h"
    )
    assert [span(s) for s in (1, 2.54, 90, 150, 5400, 7200, 14400, 90000)] == [
        "1 s", "2.5 s", "90 s", "2.5 min", "90 min", "2 h", "4 h", "25 h",
    ]  # fmt: skip


@pytest.mark.usefixtures("package_logging")
def test_a_sink_that_cannot_start_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        database = tmp_path / "x.sqlite"
        status = main(["poll", "127.0.0.1:1", "--prometheus", str(port), "--sqlite", str(database)])
    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""
    assert err.startswith(
        f"enphase-local: error: cannot start the sinks (SQLite {database}, "
        f"Prometheus on 127.0.0.1:{port}): "
    )
    assert "Address already in use" in err
    assert len(err.splitlines()) == 1


async def test_poll_writes_battery_and_inverter_samples(
    simulation: Simulation, tmp_path: Path
) -> None:
    gateway = simulation.gateways[1]  # the battery site
    assert gateway.token is not None
    assert gateway.fingerprint is not None
    config = tmp_path / "poll.toml"
    database = tmp_path / "poll.sqlite"
    config.write_text(
        "[poll]\nlive_interval = 1\n[poll.intervals]\nbattery_power = 1\ninventory = 60\n"
        f'[[gateway]]\nhost = "{gateway.url}"\ntoken = "{gateway.token}"\n'
        f'fingerprint = "{gateway.fingerprint}"\n'
    )
    async with cli("poll", "--config", str(config), "--sqlite", str(database)) as poll:
        await poll.wait_for("^polling ")
        await wait_until(
            lambda: (
                database.exists()
                and count_rows(database, "battery_samples", gateway=gateway.serial) >= 4
                and count_rows(database, "inverter_samples", gateway=gateway.serial) > 0
            ),
            30,
        )
        assert await poll.stop() == 0, poll.stderr
    conn = sqlite3.connect(database)
    try:
        rows = conn.execute("SELECT serial, charge_pct, power_w FROM battery_samples").fetchall()
        inverters = conn.execute("SELECT dc_voltage_v FROM inverter_samples").fetchall()
    finally:
        conn.close()
    assert len({serial for serial, _, _ in rows}) == 2
    assert all(0 <= charge <= 100 and power is not None for _, charge, power in rows)
    assert all(volts > 0 for (volts,) in inverters)


def test_start_up_is_frozen_out_of_full_collections() -> None:
    kept = [[n] for n in range(1000)]  # long-lived objects the collector tracks
    try:
        freeze_start_up()
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()
