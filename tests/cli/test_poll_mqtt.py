"""``enphase-local poll --mqtt`` against a real mosquitto, restarted in the middle of the run."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import orjson
import pytest

from enphase_local.cli.simulate import config_text
from enphase_local.simulator import Simulation
from enphase_local.simulator.pytest_plugin import SimulationFactory
from tests.cli.running import cli, count_rows, gateway_args, outbox_contents
from tests.sinks.broker import Broker, Collector, Subscriber, require_mosquitto
from tests.sinks.builders import wait_until

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
PREFIX = "solar"


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    """mosquitto on a free loopback port (skipped when it is not installed)."""
    server = Broker(require_mosquitto(), tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def has_power(payload: bytes) -> bool:
    state = orjson.loads(payload)
    return state.get("production_w") is not None and state.get("gateway_state") == "online"


async def test_poll_publishes_and_survives_a_broker_restart(
    enphase_simulation_factory: SimulationFactory, broker: Broker, tmp_path: Path
) -> None:
    sim: Simulation = await enphase_simulation_factory(profile="battery", start_time=NOON)
    serial = sim.gateways[0].serial
    state_topic = f"{PREFIX}/{serial}/state"
    database = tmp_path / "mqtt.sqlite"
    # Credentials the broker ignores (anonymous access is on), to show they never print,
    # not even with --debug.
    url = f"mqtt://enphase:hunter2@127.0.0.1:{broker.port}/{PREFIX}"
    args = gateway_args(sim, 0, tmp_path)
    async with cli(
        "--debug",
        "poll",
        *args,
        "--live-interval",
        "1",
        "--mqtt",
        url,
        "--mqtt-outbox",
        str(tmp_path / "outbox.sqlite"),
        "--sqlite",
        str(database),
    ) as poll:
        async with Subscriber(broker.port, f"{PREFIX}/#", "homeassistant/#") as before:
            await before.wait_for(state_topic, has_power)
            first = before.json(state_topic)["updated_at"]
            config_topic = f"homeassistant/sensor/enphase_{serial}/production_power/config"
            discovery = orjson.loads(await before.wait_for(config_topic))
            assert discovery["state_topic"] == state_topic
            assert discovery["device_class"] == "power"
            assert before.latest[f"{PREFIX}/bridge/availability"] == b"online"

        await broker.stop()  # retained messages are gone: persistence is off
        await poll.wait_for(rf"MQTT broker mqtt://enphase@127\.0\.0\.1:{broker.port}/", stderr=True)
        during = count_rows(database, "power_samples")
        # The poll goes on while the broker is away.
        await wait_until(lambda: count_rows(database, "power_samples") > during, 20)
        await broker.start()

        async with Subscriber(broker.port, f"{PREFIX}/#") as after:
            # The sink reconnects and publishes again, with newer values.
            await after.wait_for(
                state_topic, lambda p: has_power(p) and orjson.loads(p)["updated_at"] > first
            )
        # And the restarted broker (which forgot everything) holds the latest state, the
        # availability and the discovery configs for whoever subscribes later.
        battery_config = f"homeassistant/sensor/enphase_{serial}/battery_soc/config"
        async with Subscriber(broker.port, f"{PREFIX}/#", "homeassistant/#") as late:
            await late.wait_for(state_topic, has_power)
            await late.wait_for(battery_config)
        # Now that all was published again, a later subscriber gets it as retained messages
        # (messages published while a subscriber listens reach it without the retain flag).
        async with Subscriber(broker.port, f"{PREFIX}/#", "homeassistant/#") as later:
            await later.wait_for(state_topic, has_power)
            await later.wait_for(battery_config)
            assert {
                state_topic,
                f"{PREFIX}/{serial}/availability",
                battery_config,
            } <= later.retained
            assert later.latest[f"{PREFIX}/{serial}/availability"] == b"online"
        assert await poll.stop() == 0, poll.stderr
    assert "connected to MQTT broker" in poll.stderr
    mqtt = re.search(r"^  mqtt: (\d+) written, (\d+) dropped", poll.stdout, re.MULTILINE)
    assert mqtt is not None
    assert int(mqtt.group(1)) > 0, poll.stderr[-4000:]
    assert re.search(r"\(\d{12}\): online, \d+ polls, \d+ ok, 0 failed", poll.stdout)
    assert "hunter2" not in poll.stdout + poll.stderr


async def test_a_poller_killed_mid_drain_loses_nothing(
    enphase_simulation_factory: SimulationFactory, tmp_path: Path
) -> None:
    sim: Simulation = await enphase_simulation_factory(
        profile=["battery", "metered", "standard"], start_time=NOON
    )
    config = tmp_path / "sim.toml"
    config.write_text(config_text(sim))
    config.chmod(0o600)
    server = Broker(require_mosquitto(), tmp_path, persistent=True)
    await server.start()
    outbox = tmp_path / "outbox.sqlite"
    args = (
        "poll", "--config", str(config), "--live-interval", "1",
        "--mqtt", f"mqtt://127.0.0.1:{server.port}/{PREFIX}", "--mqtt-outbox", str(outbox),
    )  # fmt: skip
    try:
        async with Collector(server.port, f"{PREFIX}/#") as consumer:
            await server.stop()
            async with cli(*args, "--mqtt-drain-rate", "5") as first:
                await first.wait_for("^polling ")
                await first.wait_for(r"MQTT broker mqtt://127\.0\.0\.1:\d+/solar: ", stderr=True)
                await asyncio.sleep(3)  # three gateways' events pile up in the outbox
                await server.start()
                await wait_until(lambda: len(consumer.messages) >= 5, 30)  # draining, slowly
                first.process.send_signal(signal.SIGKILL)
                assert await first.wait() == -signal.SIGKILL
            left, given = outbox_contents(outbox)
            assert left  # killed before the backlog had drained
            async with cli(*args) as second:
                await second.wait_for("left in the outbox .* by an earlier run", stderr=True)
                await wait_until(lambda: set(left) <= set(consumer.keys()), 30)
                assert await second.stop() == 0, second.stderr
        summary = re.search(r"^  mqtt: \d+ written, 0 dropped(, (\d+) kept)?", second.stdout, re.M)
        assert summary is not None
        remaining, given = outbox_contents(outbox)
        assert len(remaining) == int(summary.group(2) or 0)  # the newest, for the next start
        keys = consumer.keys()
        # Every message either run ever committed arrived (one key each, at least once) or
        # waits in the outbox.
        assert len(set(keys) | set(remaining)) == given
        payloads: dict[str, bytes] = {}
        for key, (_, payload, user_key) in zip(keys, consumer.messages, strict=True):
            assert payloads.setdefault(key, payload) == payload  # a duplicate is the same
            assert user_key == key
    finally:
        await server.stop()


async def test_poll_allow_control_takes_a_command_and_shows_the_read_back(
    enphase_simulation_factory: SimulationFactory, broker: Broker, tmp_path: Path
) -> None:
    sim: Simulation = await enphase_simulation_factory(
        profile="battery", start_time=NOON, cloud=False
    )
    gateway = sim.gateways[0]
    serial = gateway.serial
    state_topic = f"{PREFIX}/{serial}/state"
    url = f"mqtt://127.0.0.1:{broker.port}/{PREFIX}"
    args = gateway_args(sim, 0, tmp_path)
    database = str(tmp_path / "control.sqlite")
    async with (
        Subscriber(broker.port, f"{PREFIX}/#", "homeassistant/#") as sub,
        cli(
            "poll",
            *args,
            "--mqtt",
            url,
            "--allow-control",
            "--sqlite",
            database,
            "--mqtt-outbox",
            str(tmp_path / "outbox.sqlite"),
        ) as poll,
    ):
        await poll.wait_for(rf"commands on {PREFIX}/\+/set/#\)")
        state = orjson.loads(
            await sub.wait_for(
                state_topic, lambda p: orjson.loads(p).get("battery_reserve_pct") is not None
            )
        )
        reserve = 42 if state["battery_reserve_pct"] != 42 else 43
        await sub.wait_for(f"homeassistant/number/enphase_{serial}/control_battery_reserve/config")
        async with aiomqtt.Client("127.0.0.1", broker.port) as ha:
            await ha.publish(f"{PREFIX}/{serial}/set/reserve", str(reserve), qos=1)
        status = orjson.loads(await sub.wait_for(f"{PREFIX}/{serial}/control"))
        assert status["status"] == "applied", status
        assert status["observed"] == {"reserve_percent": reserve}
        await sub.wait_for(state_topic, lambda p: orjson.loads(p)["battery_reserve_pct"] == reserve)
        assert await poll.stop() == 0, poll.stderr
    assert gateway.stats.writes["/admin/lib/tariff"] == 1
