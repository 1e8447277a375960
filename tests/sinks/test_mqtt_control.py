"""Control over MQTT end to end: a real mosquitto, the poller and the simulator over HTTPS.

A Home Assistant stand-in publishes commands as Home Assistant does; the writes go through
the poller's control (validated, read back); the state topic then shows what was read back
and the status topic each command's outcome. Without control nothing is subscribed or sent.

The simulated clock runs 20 times as fast as real time, so that the grid relay's few
simulated seconds pass while the library reads back (it waits in real seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiomqtt
import orjson
import pytest

from enphase_local import ControlPolicy, Event, GatewaySpec, Poller, PollPlan
from enphase_local.simulator import Simulation
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.pytest_plugin import SimulationFactory
from enphase_local.sinks.mqtt import MqttSettings, MqttSink
from tests.sinks.broker import Broker, Subscriber, require_mosquitto

PREFIX = "enphase_local"
DISCOVERY = "homeassistant"
NIGHT = dt.datetime(2025, 6, 21, 22, tzinfo=dt.UTC)
SPEED = 20.0
#: Quick read-backs; the slow wait long enough for the relay at SPEED, the others short so
#: that an ignored write is reported within a second.
POLICY = ControlPolicy(
    min_interval_s=0.1, poll_interval_s=0.05, wait_s=1.0, slow_wait_s=20.0, settle_s=1.0
)
#: What the entities show, read once right at the start (and by the writes' read-backs).
PLAN = PollPlan(
    live={"meter_readings": 5.0},
    periodic=(),
    config=("inventory", "tariff", "generator_mode", "grid_relay", "dry_contacts", "generator"),
    fallback={},
)
#: Each command entity of a gateway with every kind of hardware: (component, object id).
ALL_ENTITIES = {
    ("switch", "control_grid_relay"),
    ("switch", "control_charge_from_grid"),
    ("select", "control_storage_mode"),
    ("select", "control_generator_mode"),
    ("number", "control_battery_reserve"),
}
COMMAND_COMPONENTS = ("switch", "select", "number")


@pytest.fixture
async def broker(tmp_path: Any) -> AsyncIterator[Broker]:
    """A started mosquitto on a free loopback port (skipped when it is not installed)."""
    server = Broker(require_mosquitto(), tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def simulation(factory: SimulationFactory, *profiles: str) -> Simulation:
    sim = await factory(profile=list(profiles), speed=SPEED, start_time=NIGHT, cloud=False)
    for gateway in sim.gateways:
        gateway.faults.set_slow(0.0)
    return sim


@contextlib.asynccontextmanager
async def polled(
    sim: Simulation, port: int, *, control: bool, connect_late: bool = False
) -> AsyncIterator[Poller]:
    """The poller (sessions allowing control only with ``control``) feeding an MQTT sink
    that takes commands only with ``control``, as ``poll --allow-control`` wires them.
    ``connect_late``: the sink connects once it knows every gateway's serial number."""
    specs = [
        GatewaySpec(host=g.url, token=g.token, options={"fingerprint": g.fingerprint})
        for g in sim.gateways
    ]
    options = {"allow_control": True, "control_policy": POLICY} if control else {}
    poller = Poller(specs, plan=PLAN, buffer_size=0, session_options=options)
    sink = MqttSink(
        MqttSettings(host="127.0.0.1", port=port, client_id="enphase-local-control-test"),
        reconnect_delay_s=(0.05, 0.2),
        flush_interval_s=0.01,
        control=poller.control if control else None,
    )
    poller.subscribe(sink.submit, name="mqtt")
    serials: set[str] = set()
    all_known = asyncio.Event()

    def learn(event: Event) -> None:  # called right after the sink's submit
        if event.serial is not None:
            serials.add(event.serial)
            if len(serials) == len(sim.gateways):
                all_known.set()

    poller.subscribe(learn, name="serials")
    if not connect_late:
        await sink.start()
    try:
        async with poller:
            if connect_late:
                async with asyncio.timeout(10):
                    await all_known.wait()
                await sink.start()
            yield poller
    finally:
        await sink.close()


def state_topic(gateway: SimulatedGateway) -> str:
    return f"{PREFIX}/{gateway.serial}/state"


def status_topic(gateway: SimulatedGateway) -> str:
    return f"{PREFIX}/{gateway.serial}/control"


def config_topic(gateway: SimulatedGateway, component: str, object_id: str) -> str:
    return f"{DISCOVERY}/{component}/enphase_{gateway.serial}/{object_id}/config"


def statuses(sub: Subscriber, gateway: SimulatedGateway) -> list[dict[str, Any]]:
    """Every status published for the gateway so far, in order."""
    head = f"{status_topic(gateway)} "
    return [orjson.loads(text[len(head) :]) for text in sub.texts if text.startswith(head)]


def known(*keys: str) -> Callable[[bytes], bool]:
    """A check that the state JSON knows each of ``keys``."""
    return lambda payload: all(orjson.loads(payload).get(key) is not None for key in keys)


def shows(key: str, value: object) -> Callable[[bytes], bool]:
    """A check that the state JSON shows ``value`` under ``key``."""
    return lambda payload: bool(orjson.loads(payload).get(key) == value)


def writes(gateway: SimulatedGateway) -> list[tuple[str, str]]:
    """Every request other than a GET the gateway received: (method, path)."""
    return [(r.method, r.path) for r in gateway.stats.log if r.method != "GET"]


async def command(
    sub: Subscriber, gateway: SimulatedGateway, name: str, payload: str
) -> dict[str, Any]:
    """Publish a command as Home Assistant does (QoS 1, not retained); return its outcome."""
    before = len(statuses(sub, gateway))
    async with aiomqtt.Client("127.0.0.1", sub.port) as ha:
        await ha.publish(f"{PREFIX}/{gateway.serial}/set/{name}", payload, qos=1)
    await sub.wait_for(status_topic(gateway), lambda _: len(statuses(sub, gateway)) > before)
    (outcome,) = statuses(sub, gateway)[before:]
    assert outcome["command"] == name
    return outcome


async def test_each_entity_kind_writes_and_the_state_shows_the_read_back(
    enphase_simulation_factory: SimulationFactory, broker: Broker
) -> None:
    sim = await simulation(enphase_simulation_factory, "generator")
    gateway = sim.gateways[0]
    async with (
        Subscriber(broker.port, f"{PREFIX}/#", f"{DISCOVERY}/#") as sub,
        polled(sim, broker.port, control=True),
    ):
        state = orjson.loads(
            await sub.wait_for(
                state_topic(gateway),
                known(
                    "grid_state",
                    "storage_mode",
                    "battery_reserve_pct",
                    "charge_from_grid",
                    "generator_mode",
                ),
            )
        )
        contact = sorted(state["dry_contacts"])[0]
        configs = {
            (component, object_id): orjson.loads(
                await sub.wait_for(config_topic(gateway, component, object_id))
            )
            for component, object_id in sorted(ALL_ENTITIES)
        }
        reserve = configs["number", "control_battery_reserve"]
        assert reserve["command_topic"] == f"{PREFIX}/{gateway.serial}/set/reserve"
        assert (reserve["min"], reserve["max"], reserve["state_topic"]) == (
            0,
            100,
            state_topic(gateway),
        )
        assert configs["select", "control_storage_mode"]["options"] == [
            "backup",
            "self_consumption",
            "savings",
        ]
        assert configs["select", "control_generator_mode"]["options"] == ["on", "off", "auto"]
        assert configs["switch", "control_grid_relay"]["payload_on"] == "ON"
        await sub.wait_for(
            config_topic(gateway, "switch", f"control_dry_contact_{contact.lower()}")
        )

        mode = "savings" if state["storage_mode"] != "savings" else "backup"
        generator = "on" if state["generator_mode"] != "on" else "off"
        closed = state["dry_contacts"][contact] == "closed"
        cases = [
            ("storage_mode", mode, "storage_mode", mode),
            ("reserve", "55", "battery_reserve_pct", 55),
            (
                "charge_from_grid",
                "OFF" if state["charge_from_grid"] else "ON",
                "charge_from_grid",
                not state["charge_from_grid"],
            ),
            ("generator_mode", generator, "generator_mode", generator),
            (
                f"dry_contact/{contact}",
                "OFF" if closed else "ON",
                "dry_contacts",
                {**state["dry_contacts"], contact: "open" if closed else "closed"},
            ),
            ("grid_relay", "OFF", "grid_state", "off_grid"),
        ]
        for name, payload, key, shown in cases:
            outcome = await command(sub, gateway, name, payload)
            assert outcome["status"] == "applied", outcome
            assert outcome["observed"] == outcome["expected"]
            await sub.wait_for(state_topic(gateway), shows(key, shown))
    assert sorted(writes(gateway)) == sorted([
        ("PUT", "/admin/lib/tariff"),
        ("PUT", "/admin/lib/tariff"),
        ("PUT", "/admin/lib/tariff"),
        ("POST", "/ivp/ss/gen_mode"),
        ("POST", "/ivp/ensemble/dry_contacts"),
        ("POST", "/ivp/ensemble/relay"),
    ])  # fmt: skip


async def test_an_ignored_write_is_not_applied_and_the_state_keeps_the_read_back(
    enphase_simulation_factory: SimulationFactory, broker: Broker
) -> None:
    sim = await simulation(enphase_simulation_factory, "battery")
    gateway = sim.gateways[0]
    gateway.control_faults.ignore_writes()  # the tariff: answered 200, changes nothing
    async with (
        Subscriber(broker.port, f"{PREFIX}/#") as sub,
        polled(sim, broker.port, control=True),
    ):
        state = orjson.loads(await sub.wait_for(state_topic(gateway), known("storage_mode")))
        mode = "savings" if state["storage_mode"] != "savings" else "backup"
        outcome = await command(sub, gateway, "storage_mode", mode)
        assert outcome["status"] == "not_applied"
        assert outcome["control"] == "set_storage_mode"
        assert outcome["observed"] == {"mode": state["storage_mode"].replace("_", "-")}
        assert "still shows" in outcome["message"]
        assert (
            orjson.loads(sub.latest[state_topic(gateway)])["storage_mode"]
            == (state["storage_mode"])
        )
    assert gateway.control_faults.served["ignore_writes"] == 1
    assert writes(gateway) == [("PUT", "/admin/lib/tariff")]


async def test_invalid_commands_send_nothing(
    enphase_simulation_factory: SimulationFactory, broker: Broker
) -> None:
    sim = await simulation(enphase_simulation_factory, "battery")
    gateway = sim.gateways[0]
    async with (
        Subscriber(broker.port, f"{PREFIX}/#") as sub,
        polled(sim, broker.port, control=True),
    ):
        await sub.wait_for(state_topic(gateway), known("storage_mode", "battery_reserve_pct"))
        for name, payload, status in [
            ("reserve", "lots", "invalid"),
            ("reserve", "150", "invalid"),  # checked by the write, before sending
            ("storage_mode", "turbo", "invalid"),
            ("dry_contact/NC9", "ON", "invalid"),  # the gateway has no NC9
            ("boost", "ON", "invalid"),
            ("generator_mode", "on", "unsupported"),  # no generator here
        ]:
            outcome = await command(sub, gateway, name, payload)
            assert outcome["status"] == status, outcome
            assert outcome["message"]
    assert writes(gateway) == []


async def test_without_control_no_command_is_taken_and_no_entity_announced(
    enphase_simulation_factory: SimulationFactory, broker: Broker
) -> None:
    sim = await simulation(enphase_simulation_factory, "generator")
    gateway = sim.gateways[0]
    async with (
        Subscriber(broker.port, f"{PREFIX}/#", f"{DISCOVERY}/#") as sub,
        polled(sim, broker.port, control=False),
    ):
        await sub.wait_for(
            state_topic(gateway), known("grid_state", "storage_mode", "battery_reserve_pct")
        )
        # Any command entity a run with control left behind is withdrawn: empty configs,
        # the battery reserve's last.
        last = config_topic(gateway, "number", "control_battery_reserve")
        await sub.wait_for(last, lambda payload: payload == b"")
        async with aiomqtt.Client("127.0.0.1", broker.port) as ha:
            for name, payload in [
                ("reserve", "55"),
                ("grid_relay", "OFF"),
                ("storage_mode", "backup"),
            ]:
                await ha.publish(f"{PREFIX}/{gateway.serial}/set/{name}", payload, qos=1)
            # Home Assistant's birth message, sent after the commands: once the sink has
            # answered it (discovery again), it has seen whatever it was subscribed to.
            sent = sub.count[last]
            await ha.publish(f"{DISCOVERY}/status", "online", qos=1)
        await sub.wait_for(last, lambda _: sub.count[last] > sent)
        assert status_topic(gateway) not in sub.latest
        for component, object_id in ALL_ENTITIES:
            assert sub.latest[config_topic(gateway, component, object_id)] == b""
        assert sub.json(config_topic(gateway, "sensor", "storage_mode"))["name"] == "Storage mode"
    assert writes(gateway) == []
    assert sum(gateway.stats.writes.values()) == 0


async def test_a_retained_command_is_never_run(
    enphase_simulation_factory: SimulationFactory, broker: Broker
) -> None:
    sim = await simulation(enphase_simulation_factory, "battery")
    gateway = sim.gateways[0]
    async with aiomqtt.Client("127.0.0.1", broker.port) as someone:
        await someone.publish(f"{PREFIX}/{gateway.serial}/set/reserve", "77", qos=1, retain=True)
    # The sink knows the gateway when it connects and the broker hands it the command.
    async with (
        Subscriber(broker.port, f"{PREFIX}/#") as sub,
        polled(sim, broker.port, control=True, connect_late=True),
    ):
        ignored = orjson.loads(await sub.wait_for(status_topic(gateway)))
        assert (ignored["command"], ignored["status"]) == ("reserve", "ignored")
        assert ignored["payload"] == "77"
        outcome = await command(sub, gateway, "reserve", "33")
        assert outcome["status"] == "applied"
        await sub.wait_for(
            state_topic(gateway), lambda p: orjson.loads(p)["battery_reserve_pct"] == 33
        )
    assert [s["status"] for s in statuses(sub, gateway)] == ["ignored", "applied"]
    assert writes(gateway) == [("PUT", "/admin/lib/tariff")]  # the live command's only
    assert gateway.stats.writes["/admin/lib/tariff"] == 1


async def test_command_entities_only_with_the_hardware(
    enphase_simulation_factory: SimulationFactory, broker: Broker
) -> None:
    sim = await simulation(enphase_simulation_factory, "generator", "battery", "metered")
    generator, battery, metered = sim.gateways
    async with (
        Subscriber(broker.port, f"{PREFIX}/#", f"{DISCOVERY}/#") as sub,
        polled(sim, broker.port, control=True),
    ):
        for gateway in (generator, battery):
            await sub.wait_for(state_topic(gateway), known("grid_state", "battery_reserve_pct"))
        await sub.wait_for(state_topic(metered), shows("gateway_state", "online"))
        for component, object_id in ALL_ENTITIES:
            await sub.wait_for(config_topic(generator, component, object_id))
            if object_id != "control_generator_mode":
                await sub.wait_for(config_topic(battery, component, object_id))

    def command_entities(gateway: SimulatedGateway) -> set[tuple[str, str]]:
        found = set()
        for topic, payload in sub.latest.items():
            parts = topic.split("/")
            node = f"enphase_{gateway.serial}"
            if len(parts) == 5 and parts[1] in COMMAND_COMPONENTS and parts[2] == node and payload:
                found.add((parts[1], parts[3]))
        return found

    contacts = {("switch", f"control_dry_contact_{c}") for c in ("nc1", "nc2", "no1", "no2")}
    assert command_entities(generator) - contacts == ALL_ENTITIES
    assert command_entities(battery) - contacts == ALL_ENTITIES - {
        ("select", "control_generator_mode")
    }
    assert command_entities(generator) & contacts
    assert command_entities(metered) == set()  # no batteries, no System Controller
