"""The MQTT sink against a real mosquitto broker: topics, discovery, values, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest

from enphase_local.errors import GatewayTimeoutError
from enphase_local.events import (
    ControlRevertedEvent,
    DataEvent,
    EnergyEvent,
    ErrorEvent,
    Event,
    GatewayState,
    StateEvent,
)
from enphase_local.export import to_data
from enphase_local.models import StorageMode
from enphase_local.power import PowerTracker
from enphase_local.simulator import Simulation
from enphase_local.sinks.mqtt import SENSORS, MqttSettings, MqttSink
from enphase_local.sinks.samples import IDLE_BELOW_W
from enphase_local.sinks.view import ENERGY_VALUES
from tests.sinks import broker as broker_module
from tests.sinks.broker import Broker, Subscriber, require_mosquitto
from tests.sinks.builders import (
    HOST,
    SERIAL,
    T0,
    data_event,
    production,
    wait_until,
    with_energy,
)
from tests.sinks.conftest import poll_simulation

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "enphase_local"
DISCOVERY = "homeassistant"
TEMPLATE = re.compile(r"^\{\{ value_json\.(\w+) \}\}$")


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    """A started mosquitto on a free loopback port (skipped when it is not installed)."""
    server = Broker(require_mosquitto(), tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def make_sink(port: int) -> MqttSink:
    return MqttSink(
        MqttSettings(host="127.0.0.1", port=port, client_id="enphase-local-test"),
        reconnect_delay_s=(0.05, 0.2),
        flush_interval_s=0.01,
    )


def state_topic(serial: str) -> str:
    return f"{PREFIX}/{serial}/state"


def has_values(values: dict[str, Any]) -> Callable[[bytes], bool]:
    """A check that a state payload carries ``values``."""
    return lambda payload: bool(orjson.loads(payload).items() >= values.items())


async def retained_topics(port: int, topics: Iterable[str]) -> set[str]:
    """Which of ``topics`` a new subscriber gets as retained messages."""
    wanted = set(topics)
    async with Subscriber(port, "#") as late:
        with contextlib.suppress(TimeoutError):
            await wait_until(lambda: wanted <= late.retained, timeout_s=5)
        return wanted & late.retained


def expected_samples(events: list[Event]) -> dict[str, dict[str, float | None]]:
    """The last power sample of each gateway, as the state topic carries it."""
    tracker = PowerTracker()
    last: dict[str, dict[str, float | None]] = {}
    for sample in filter(None, map(tracker.update, events)):
        last[sample.gateway] = {
            "production_w": sample.production_w,
            "consumption_w": sample.consumption_w,
            "net_w": sample.net_w,
            "grid_w": sample.grid_w,
            "storage_w": sample.storage_w,
            "battery_soc_pct": sample.battery_soc_pct,
        }
    return last


async def test_discovery_configs_and_values(
    broker: Broker, simulation: Simulation, simulated_events: list[Event]
) -> None:
    battery, metered, standard = (g.serial for g in simulation.gateways)
    expected = expected_samples(simulated_events)
    events = with_energy(simulated_events)
    sink = make_sink(broker.port)
    async with Subscriber(broker.port, f"{PREFIX}/#", f"{DISCOVERY}/#") as sub:
        await sink.start()
        for event in events:
            sink.submit(event)
        for serial, values in expected.items():
            await sub.wait_for(
                state_topic(serial),
                has_values(values),
            )
        await sink.close()
        await sub.wait_for(f"{PREFIX}/bridge/availability", lambda p: p == b"offline")

    assert sink.stats().written == len(events)
    assert sink.stats().dropped == 0
    configs = {
        topic: orjson.loads(payload)
        for topic, payload in sub.latest.items()
        if topic.startswith(f"{DISCOVERY}/sensor/")
    }
    states = [state_topic(s) for s in (battery, metered, standard)]
    retained = [*configs, *states, f"{PREFIX}/bridge/availability"]
    assert await retained_topics(broker.port, retained) == set(retained)
    by_gateway: dict[str, dict[str, dict[str, object]]] = {}
    for topic, config in configs.items():
        _, _, node, object_id, leaf = topic.split("/")
        assert leaf == "config"
        by_gateway.setdefault(node, {})[object_id] = config
    assert set(by_gateway) == {f"enphase_{s}" for s in (battery, metered, standard)}

    unique_ids = [c["unique_id"] for c in configs.values()]
    assert len(unique_ids) == len(set(unique_ids))
    specs = {spec.object_id: spec for spec in SENSORS}
    for node, sensors in by_gateway.items():
        serial = node.removeprefix("enphase_")
        state = sub.json(state_topic(serial))
        assert state["gateway_state"] == "online"
        for object_id, config in sensors.items():
            assert config["availability"] == [
                {"topic": f"{PREFIX}/bridge/availability"},
                {"topic": f"{PREFIX}/{serial}/availability"},
            ]
            assert config["availability_mode"] == "all"
            device = config["device"]
            assert isinstance(device, dict)
            if "via_device" in device:  # a battery or inverter: a device of its own
                kind, device_serial, _ = object_id.split("_", 2)
                assert device["identifiers"] == [f"enphase_local_{device_serial}"]
                assert device["via_device"] == f"enphase_local_{serial}"
                assert config["state_topic"] == f"{PREFIX}/{serial}/{kind}/{device_serial}"
                continue
            assert config["state_topic"] == state_topic(serial)
            assert device["identifiers"] == [f"enphase_local_{serial}"]
            if object_id.startswith("dry_contact_"):
                assert config["device_class"] == "enum"
                continue
            spec = specs[object_id]
            assert config.get("device_class") == spec.device_class
            assert config.get("unit_of_measurement") == spec.unit
            assert config.get("state_class") == spec.state_class
            match = TEMPLATE.match(str(config["value_template"]))
            assert match is not None
            assert state[match.group(1)] is not None
        assert sub.latest[f"{PREFIX}/{serial}/availability"] == b"online"

    battery_sensors = by_gateway[f"enphase_{battery}"]
    assert battery_sensors["battery_soc"]["device_class"] == "battery"
    assert battery_sensors["battery_soc"]["unit_of_measurement"] == "%"
    dashboard = {
        "solar_energy",
        "consumption_energy",
        "grid_energy_import",
        "grid_energy_export",
        "battery_energy_in",
        "battery_energy_out",
        "production_energy_lifetime",
    }
    assert dashboard <= set(battery_sensors)
    for object_id in dashboard:
        config = battery_sensors[object_id]
        assert (config["device_class"], config["state_class"]) == ("energy", "total_increasing")
        assert config["unit_of_measurement"] == "Wh"
    assert not {"battery_energy_in", "battery_energy_out"} & set(by_gateway[f"enphase_{metered}"])
    assert {"solar_energy", "production_energy_today"} <= set(by_gateway[f"enphase_{standard}"])
    assert "grid_energy_import" not in by_gateway[f"enphase_{standard}"]
    for serial in (battery, metered, standard):
        [*_, last] = (e for e in events if isinstance(e, EnergyEvent) and e.serial == serial)
        state = sub.json(state_topic(serial))
        for key, flow in ENERGY_VALUES.items():
            assert state[key] == last.totals.get(flow), (serial, key)
    assert {"production_power", "consumption_power", "net_power", "grid_power"} <= set(
        battery_sensors
    )
    assert "storage_power" in battery_sensors
    assert "battery_soc" not in by_gateway[f"enphase_{metered}"]
    inverters = [o for o in by_gateway[f"enphase_{standard}"] if o.endswith("_power")]
    inverters = [o for o in inverters if o.startswith("inverter_")]
    assert len(inverters) == simulation.gateways[2].profile.inverter_count  # type: ignore[union-attr]  # simulated, not replayed

    last_production = [
        e for e in simulated_events if isinstance(e, DataEvent) and e.endpoint == "production"
    ][-1]
    message = sub.json(f"{PREFIX}/{last_production.serial}/production")
    assert message["data"] == to_data(last_production.model)
    assert message["at"] == last_production.fetched_at.isoformat()

    secrets = [g.token for g in simulation.gateways if g.token is not None]
    assert not any(s.encode() in payload for s in secrets for payload in sub.latest.values())


async def test_errors_and_state_changes_are_published_as_given(broker: Broker) -> None:
    sink = make_sink(broker.port)
    events: list[Event] = [
        StateEvent(
            serial=SERIAL,
            host=HOST,
            previous=GatewayState.ONLINE,
            state=GatewayState.BACKING_OFF,
            at=T0,
            reason="3 timeouts",
        ),
        ErrorEvent(
            serial=SERIAL,
            host=HOST,
            endpoint="inverters",
            error=GatewayTimeoutError("no answer within 45 s"),
            at=T0,
            latency_s=45.0,
        ),
        ControlRevertedEvent(
            serial=SERIAL,
            host=HOST,
            control="set_storage_mode",
            endpoint="tariff",
            expected={"mode": "backup"},
            observed={"mode": "self-consumption"},
            written_at=T0,
            at=T0 + dt.timedelta(minutes=2),
            reason="mode changed back",
        ),
    ]
    async with Subscriber(broker.port, f"{PREFIX}/#") as sub:
        await sink.start()
        for event in events:
            sink.submit(event)
        await sub.wait_for(f"{PREFIX}/{SERIAL}/error")
        await sub.wait_for(f"{PREFIX}/{SERIAL}/control_reverted")
        await sub.wait_for(f"{PREFIX}/{SERIAL}/availability", lambda p: p == b"offline")
        await sink.close()
    assert sub.json(f"{PREFIX}/{SERIAL}/error") == {
        "key": {
            "gateway": SERIAL,
            "kind": "error",
            "subject": "inverters",
            "at": T0.isoformat(),
        },
        "at": T0.isoformat(),
        "endpoint": "inverters",
        "type": "GatewayTimeoutError",
        "message": "no answer within 45 s",
    }
    assert sub.json(f"{PREFIX}/{SERIAL}/state_change")["reason"] == "3 timeouts"
    assert sub.json(state_topic(SERIAL))["gateway_state"] == "backing_off"
    reverted_at = (T0 + dt.timedelta(minutes=2)).isoformat()
    assert sub.json(f"{PREFIX}/{SERIAL}/control_reverted") == {
        "key": {
            "gateway": SERIAL,
            "kind": "control_reverted",
            "subject": "tariff",
            "at": reverted_at,
        },
        "at": reverted_at,
        "control": "set_storage_mode",
        "endpoint": "tariff",
        "expected": {"mode": "backup"},
        "observed": {"mode": "self-consumption"},
        "written_at": T0.isoformat(),
        "reason": "mode changed back",
    }
    assert f"{PREFIX}/{SERIAL}/unsupported" not in sub.latest


async def test_broker_restart_reconnects_and_republishes_the_latest_state(
    broker: Broker, simulation: Simulation
) -> None:
    sink = make_sink(broker.port)
    await sink.start()
    first = await poll_simulation(simulation, rounds=1)
    for event in first:
        sink.submit(event)
    await wait_until(lambda: sink.stats().written == len(first))
    assert sink.connections == 1

    await broker.stop()
    await wait_until(lambda: not sink.connected)
    simulation.clock.advance(3 * 3600)  # the afternoon: different numbers
    later = await poll_simulation(simulation, rounds=1)
    for event in later:
        sink.submit(event)
    assert sink.stats().backlog > 0
    expected = expected_samples(first + later)

    await broker.start()  # same port, empty: no persistence, no retained messages
    async with Subscriber(broker.port, f"{PREFIX}/#", f"{DISCOVERY}/#") as sub:
        for serial, values in expected.items():
            await sub.wait_for(
                state_topic(serial),
                has_values(values),
            )
        await wait_until(lambda: sink.stats().backlog == 0)
        battery = simulation.gateways[0].serial
        config = f"{DISCOVERY}/sensor/enphase_{battery}/battery_soc/config"
        await sub.wait_for(config)
        await sub.wait_for(f"{PREFIX}/bridge/availability", lambda p: p == b"online")
        states = {state_topic(s) for s in expected} | {config}
        assert await retained_topics(broker.port, states) == states
    assert sink.connections == 2
    stats = sink.stats()
    assert stats.written == len(first) + len(later)
    assert stats.dropped == 0
    await sink.close()


_KILLED_PUBLISHER = """
import asyncio, sys
from enphase_local.sinks.mqtt import MqttSettings, MqttSink

async def main():
    sink = MqttSink(MqttSettings(host="127.0.0.1", port=int(sys.argv[1])))
    await sink.start()
    while not sink.connected:
        await asyncio.sleep(0.01)
    print("READY", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_last_will_marks_the_bridge_offline_when_the_process_dies(broker: Broker) -> None:
    async with Subscriber(broker.port, f"{PREFIX}/bridge/#") as sub:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _KILLED_PUBLISHER,
            str(broker.port),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdout is not None
        async with asyncio.timeout(30):
            assert await child.stdout.readline() == b"READY\n"
        await sub.wait_for(f"{PREFIX}/bridge/availability", lambda p: p == b"online")
        child.send_signal(signal.SIGKILL)
        await child.wait()
        await sub.wait_for(f"{PREFIX}/bridge/availability", lambda p: p == b"offline")


async def test_events_wait_while_no_broker_is_reachable() -> None:
    from tests.sinks.broker import free_port  # noqa: PLC0415 - only this test needs it

    sink = make_sink(free_port())
    await sink.start()
    for i in range(5):
        sink.submit(data_event("production", production(float(i))))
    await wait_until(lambda: sink.stats().failures == 0 and not sink.connected)
    assert sink.stats().backlog == 5
    sink._close_timeout_s = 3600.0  # no broker: close must not wait for it
    async with asyncio.timeout(30):
        await sink.close()
    assert sink.stats().dropped == 5


def test_settings_from_url_never_show_the_password() -> None:
    settings = MqttSettings.from_url("mqtts://ha:s3cr%40t@broker.lan/solar")
    assert (settings.host, settings.port, settings.tls) == ("broker.lan", 8883, True)
    assert (settings.username, settings.password, settings.prefix) == ("ha", "s3cr@t", "solar")
    assert "s3cr" not in repr(settings)
    assert settings.describe() == "mqtts://ha@broker.lan:8883/solar"
    plain = MqttSettings.from_url("mqtt://127.0.0.1")
    assert (plain.port, plain.prefix, plain.username) == (1883, PREFIX, None)
    with pytest.raises(ValueError, match="MQTT URL"):
        MqttSettings.from_url("http://broker")


def test_missing_broker_skips_locally_but_fails_when_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(broker_module, "mosquitto_binary", lambda: None)
    monkeypatch.delenv(broker_module.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"scripts/mosquitto\.sh"):
        broker_module.require_mosquitto()
    monkeypatch.setenv(broker_module.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="ENPHASE_REQUIRE_MOSQUITTO=1"):
        broker_module.require_mosquitto()


async def test_home_assistant_birth_message_brings_the_configs_again(broker: Broker) -> None:
    sink = make_sink(broker.port)
    config = f"{DISCOVERY}/sensor/enphase_{SERIAL}/production_power/config"
    async with Subscriber(broker.port, f"{DISCOVERY}/sensor/#") as sub:
        await sink.start()
        sink.submit(data_event("production", production(1500.0)))
        await sub.wait_for(config)
        await wait_until(lambda: sink.connected)
        async with aiomqtt.Client("127.0.0.1", broker.port) as home_assistant:
            await home_assistant.publish(f"{DISCOVERY}/status", b"online", qos=1)
        await wait_until(lambda: sub.count[config] == 2)
        await sink.close()


def configs_of(sub: Subscriber, serial: str) -> dict[str, dict[str, Any]]:
    """The discovery configs under a gateway's node, by object id."""
    node = f"{DISCOVERY}/sensor/enphase_{serial}/"
    return {
        topic.removeprefix(node).removesuffix("/config"): sub.json(topic)
        for topic in sub.latest
        if topic.startswith(node)
    }


def readings(events: list[Event], serial: str, endpoint: str) -> list[DataEvent]:
    return [
        e
        for e in events
        if isinstance(e, DataEvent) and e.serial == serial and e.endpoint == endpoint
    ]


class BatteryRun:
    """Polls the battery sites round by round into the sink, as a poller would."""

    def __init__(self, sim: Simulation, sink: MqttSink, sub: Subscriber) -> None:
        self.sim, self.sink, self.sub = sim, sink, sub
        self.events: list[Event] = []

    async def round(self, advance_s: float = 0.0) -> dict[str, Any]:
        """Advance the clock, read every endpoint, wait until each battery's reading is
        out; return the battery site's gateway state then."""
        self.sim.clock.advance(advance_s)
        polled = await poll_simulation(self.sim, rounds=1)
        self.events += polled
        for event in polled:
            self.sink.submit(event)
        for gateway in self.sim.gateways[:2]:
            [power] = readings(polled, gateway.serial, "battery_power")
            at = power.fetched_at.isoformat()
            for battery in power.model.batteries:
                topic = f"{PREFIX}/{gateway.serial}/battery/{battery.serial_number}"
                await self.sub.wait_for(topic, has_values({"at": at}))
        return dict(self.sub.json(state_topic(self.sim.gateways[0].serial)))


async def test_battery_sites_publish_devices_states_and_settings(
    broker: Broker, battery_sites: Simulation
) -> None:
    site, collar, metered = battery_sites.gateways
    sink = make_sink(broker.port)
    async with Subscriber(broker.port, f"{PREFIX}/#", f"{DISCOVERY}/#") as sub:
        await sink.start()
        run = BatteryRun(battery_sites, sink, sub)
        for k in range(3):
            on_grid = await run.round(60.0 if k else 0.0)
        noon = list(run.events)
        noon_topics = {
            t: sub.json(t) for t in sub.latest if re.search(r"/(state|battery/.*|inverter/.*)$", t)
        }
        # Off grid with little charge left: the System Controller starts the generator.
        site.set_grid_relay(False)
        site.set_battery_soc(20)
        off_grid = await run.round(60.0)
        off_contacts = readings(run.events, site.serial, "dry_contacts")[-1].model
        site.set_grid_relay(True)  # closes after synchronising with the grid
        synchronizing = await run.round(1.0)
        back = await run.round(60.0)
        await sink.close()
    configs = {g.serial: configs_of(sub, g.serial) for g in battery_sites.gateways}

    # Each IQ Battery: a device of its own, through the gateway, with four sensors whose
    # values are the last reading (charging at noon) with the inventory's temperature.
    sensors = {
        "charge": ("%", "battery", "measurement"),
        "power": ("W", "power", "measurement"),
        "temperature": ("°C", "temperature", "measurement"),
        "state": (None, "enum", None),
    }
    for gateway in (site, collar):
        power = readings(noon, gateway.serial, "battery_power")[-1]
        inventory = readings(noon, gateway.serial, "inventory")[-1].model
        temperatures = {b.serial_number: b.temperature_c for b in inventory.batteries}
        assert len(power.model.batteries) == gateway.profile.iq_batteries  # type: ignore[union-attr]  # simulated
        for battery in power.model.batteries:
            serial = battery.serial_number
            topic = f"{PREFIX}/{gateway.serial}/battery/{serial}"
            for name, (unit, device_class, state_class) in sensors.items():
                object_id = f"battery_{serial}_{name}"
                config = configs[gateway.serial][object_id]
                assert config["unique_id"] == f"enphase_local_{gateway.serial}_{object_id}"
                assert config["state_topic"] == topic
                assert (config.get("unit_of_measurement"), config["device_class"]) == (
                    unit,
                    device_class,
                )
                assert config.get("state_class") == state_class
                assert config["device"] == {
                    "identifiers": [f"enphase_local_{serial}"],
                    "name": f"IQ Battery {serial}",
                    "manufacturer": "Enphase Energy",
                    "model": "IQ Battery",
                    "serial_number": serial,
                    "via_device": f"enphase_local_{gateway.serial}",
                }
            options = configs[gateway.serial][f"battery_{serial}_state"]["options"]
            assert options == ["charging", "discharging", "idle", "full"]
            state = noon_topics[topic]
            assert state["at"] == power.fetched_at.isoformat()
            assert state["charge_pct"] == battery.charge_percent
            assert state["power_w"] == pytest.approx(battery.active_power_w)
            assert battery.active_power_w is not None
            assert battery.active_power_w < -IDLE_BELOW_W
            assert state["state"] == "charging"
            assert state["temperature_c"] == temperatures[serial]
    # Every reading of a battery was published on its topic; every config only once.
    fetched = {e.fetched_at.isoformat() for e in readings(run.events, site.serial, "battery_power")}
    assert len(fetched) == 6
    battery_serial = (
        readings(noon, site.serial, "battery_power")[-1].model.batteries[0].serial_number
    )
    topic = f"{PREFIX}/{site.serial}/battery/{battery_serial}"
    published = {
        orjson.loads(text.removeprefix(f"{topic} "))["at"]
        for text in sub.texts
        if text.startswith(f"{topic} ")
    }
    assert published == fetched
    discovery = [t for t in sub.count if t.startswith(f"{DISCOVERY}/sensor/")]
    assert len(discovery) > 100
    assert {sub.count[t] for t in discovery} == {1}

    # The System Controller site: grid state, generator, dry contacts, storage settings.
    gateway_configs = configs[site.serial]
    options = {
        "grid_state": ["on_grid", "off_grid", "synchronizing"],
        "generator_state": ["running", "off", "synchronizing"],
        "storage_mode": ["backup", "self_consumption", "savings"],
    }
    for object_id, values in options.items():
        config = gateway_configs[object_id]
        assert (config["device_class"], config["options"]) == ("enum", values)
        assert "unit_of_measurement" not in config
        assert "state_class" not in config
        assert config["value_template"] == f"{{{{ value_json.{object_id} }}}}"
        assert config["device"]["identifiers"] == [f"enphase_local_{site.serial}"]
    reserve = gateway_configs["battery_reserve"]
    assert reserve["unit_of_measurement"] == "%"
    assert reserve["value_template"] == "{{ value_json.battery_reserve_pct }}"
    for contact in ("NC1", "NC2", "NO1", "NO2"):
        config = gateway_configs[f"dry_contact_{contact.lower()}"]
        assert config["name"] == f"Dry contact {contact}"
        assert (config["device_class"], config["options"]) == ("enum", ["open", "closed"])
        assert config["value_template"] == f"{{{{ value_json.dry_contacts.get('{contact}') }}}}"
    storage = readings(noon, site.serial, "tariff")[-1].model.storage
    assert storage.mode is StorageMode.SELF_CONSUMPTION
    assert on_grid["storage_mode"] == "self_consumption"
    assert on_grid["battery_reserve_pct"] == storage.reserve_percent
    assert (on_grid["grid_state"], on_grid["generator_state"]) == ("on_grid", "off")
    assert on_grid["dry_contacts"] == {"NC1": "closed", "NC2": "open", "NO1": "open", "NO2": "open"}
    assert (off_grid["grid_state"], off_grid["generator_state"]) == ("off_grid", "running")
    assert off_grid["dry_contacts"] == {c.id: c.state.value for c in off_contacts.contacts}
    assert off_grid["dry_contacts"]["NC1"] == "open"  # its load shed below its low charge
    assert synchronizing["grid_state"] == "synchronizing"
    assert (back["grid_state"], back["generator_state"]) == ("on_grid", "off")

    # The Meter Collar site: a grid state, no dry contacts, no generator.
    collar_state = noon_topics[state_topic(collar.serial)]
    assert (collar_state["grid_state"], collar_state["generator_state"]) == ("on_grid", None)
    assert collar_state["dry_contacts"] == {}
    assert {"grid_state", "storage_mode", "battery_reserve"} <= set(configs[collar.serial])
    assert "generator_state" not in configs[collar.serial]
    assert not [o for o in configs[collar.serial] if o.startswith("dry_contact_")]

    # The site without batteries answers the same endpoints: none of it is announced.
    plain = configs[metered.serial]
    assert not {"grid_state", "generator_state", "storage_mode", "battery_reserve"} & set(plain)
    assert not [o for o in plain if o.startswith("dry_contact_") or o.endswith("_charge")]
    plain_state = noon_topics[state_topic(metered.serial)]
    hidden = ("grid_state", "generator_state", "storage_mode", "battery_reserve_pct")
    assert [plain_state[key] for key in hidden] == [None] * 4

    # Each microinverter: a device of its own; power from its last report, temperature and
    # DC side from the device data.
    reports = {i.serial_number: i for i in readings(noon, site.serial, "inverters")[-1].model}
    detail = readings(noon, site.serial, "device_data")[-1].model
    assert len(detail.inverters) == len(reports) == 20
    for inverter in detail.inverters:
        serial = str(inverter.serial_number)
        topic = f"{PREFIX}/{site.serial}/inverter/{serial}"
        reading = inverter.channels[0].last_reading
        state = noon_topics[topic]
        assert state["temperature_c"] == reading.temperature_c
        assert state["dc_voltage_v"] == pytest.approx(reading.dc_voltage_v)
        assert state["power_w"] == reports[serial].last_report_w
        for name, unit, device_class in (
            ("power", "W", "power"),
            ("temperature", "°C", "temperature"),
        ):
            config = gateway_configs[f"inverter_{serial}_{name}"]
            assert (config["unit_of_measurement"], config["device_class"]) == (unit, device_class)
            assert (config["state_topic"], config["state_class"]) == (topic, "measurement")
            assert config["device"]["name"] == f"Microinverter {serial}"
            assert config["device"]["via_device"] == f"enphase_local_{site.serial}"
