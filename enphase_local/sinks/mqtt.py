"""Publish events and gateway state to an MQTT broker, with Home Assistant discovery.

Needs the ``mqtt`` extra (aiomqtt). Topics, with ``<id>`` the gateway's serial number (its
host, made topic-safe, before the serial is known):

``<prefix>/bridge/availability``
    ``online`` / ``offline``, retained; the broker publishes ``offline`` as our last will.
``<prefix>/<id>/availability``
    ``online`` while the poller says the gateway is online or degraded, else ``offline``;
    retained.
``<prefix>/<id>/state``
    Retained JSON with the latest values: ``gateway_state``, ``updated_at`` (ISO 8601 UTC),
    ``production_w``, ``consumption_w``, ``net_w``, ``grid_w``, ``storage_w``,
    ``battery_soc_pct`` (signs as in :mod:`enphase_local.power`), the gateway's own
    ``production_today_wh`` and ``production_lifetime_wh`` as the counter guard let them
    through, the energy totals ``solar_energy_wh``, ``consumption_energy_wh``,
    ``grid_import_wh``, ``grid_export_wh``, ``battery_charge_wh``, ``battery_discharge_wh``
    (guarded: they never decrease; see :mod:`enphase_local.energy`), all null when unknown;
    on battery sites ``grid_state`` (``on_grid``, ``off_grid``, ``synchronizing``),
    ``generator_state`` (``running``, ``off``, ``synchronizing``), ``storage_mode``
    (``backup``, ``self_consumption``, ``savings``) and ``battery_reserve_pct``, null where
    the site lacks the hardware (see :mod:`enphase_local.sinks.ensemble`), and
    ``dry_contacts`` (id to ``open`` / ``closed``), ``charge_from_grid`` (true / false, from
    the tariff, on battery sites) and ``generator_mode`` (``on``, ``off``, ``auto``, where a
    generator is known and its command read); ``inverters`` (serial number to last report,
    W).
``<prefix>/<id>/battery/<serial>`` and ``<prefix>/<id>/inverter/<serial>``
    Retained, published when the device has a new reading: an IQ Battery's ``at``,
    ``charge_pct``, ``power_w`` (positive discharging), ``temperature_c`` and ``state``
    (``charging``, ``discharging``, ``idle``, ``full``); a microinverter's ``power_w`` and
    ``last_report_at`` (its last report) and ``temperature_c``, ``dc_voltage_v``,
    ``dc_current_a`` and ``detail_at`` (from ``/ivp/pdm/device_data``).
``<prefix>/<id>/<endpoint>``
    Every successful poll, not retained: ``{"key", "at", "latency_s", "data"}`` with ``data``
    the model as :func:`enphase_local.export.to_data` renders it (as the gateway sent it).
``<prefix>/<id>/error`` and ``<prefix>/<id>/unsupported``
    Failed polls ``{"key", "at", "endpoint", "type", "message"}`` and endpoints the gateway
    does not serve ``{"key", "at", "endpoint", "reason"}``, not retained.
``<prefix>/<id>/state_change``
    Every change of the gateway's state ``{"key", "at", "previous", "state", "reason"}``.
``<prefix>/<id>/control_reverted``
    A state a control write of ours set changed back with no write of ours since
    ``{"key", "at", "control", "endpoint", "expected", "observed", "written_at", "reason"}``,
    not retained.
``<prefix>/<id>/set/...`` and ``<prefix>/<id>/control``
    Only with control (``poll --allow-control``): commands in (grid relay, dry contacts,
    charge from grid, storage mode, generator mode, reserve) and each one's outcome, retained;
    see :mod:`enphase_local.sinks.mqtt_commands`.
``<prefix>/<id>/energy`` and ``<prefix>/<id>/counter``
    Every energy event ``{"key", "at", "source", "flows", "filled", "totals"}`` and every
    decision of the counter guard ``{"key", "at", "counter", "decision", "value",
    "previous", "reason"}``, not retained.

These event messages go through a durable outbox (store and forward): each is committed to
a SQLite file (:mod:`enphase_local.sinks.outbox`) before it is published with QoS 1, and
deleted once the broker has acknowledged it; what the outbox holds when the broker comes
back, after an outage or from an earlier run, is published oldest first at a bounded rate
while new messages go at once (:mod:`enphase_local.sinks.forward` says which order holds).
So a message is delivered at least once; ``key`` is its idempotency key
``{"gateway", "kind", "subject", "at"}`` (:func:`~enphase_local.fleet.records.event_key`;
as text, ``<gateway>/<what>/<microseconds>``, its MQTT 5 user property ``key``: see
:mod:`enphase_local.sinks.keys`), the same on every delivery, for consumers to drop
duplicates by. Past the outbox's size limit the oldest
messages are dropped, counted in the sink's statistics. The connection is MQTT 5.

Home Assistant discovery configs go to
``<discovery_prefix>/<component>/enphase_<id>/<object>/config`` (retained): sensors, and with
control the switches, selects and the number of the command topics. One device per
gateway with a sensor for each value once it is first known (the grid, generator, storage
mode and dry contact states as ``enum`` sensors), and one device per IQ Battery (charge,
power, temperature, state) and per microinverter (power, temperature), linked to the
gateway's by ``via_device``; unique ids are made of serial numbers. Each config is sent
once, when its value is first known, and again after every reconnection (a broker without
persistence forgets retained messages) and when Home Assistant announces ``online`` on
``<discovery_prefix>/status``. The energy
sensors (solar production, consumption, grid import and export, battery in and out) are
``device_class: energy``, ``state_class: total_increasing``: what Home Assistant's Energy
dashboard takes.

While the broker is away, the connection is retried with growing, jittered delays; on
reconnection the latest retained state is published again. The password is never logged or
shown in ``repr``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import ssl
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
import attrs
import orjson
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from enphase_local.events import (
    ControlRevertedEvent,
    CounterEvent,
    DataEvent,
    EnergyEvent,
    ErrorEvent,
    SinkEvent,
    StateEvent,
)
from enphase_local.export import to_data
from enphase_local.fleet.records import event_key
from enphase_local.models import Inverter
from enphase_local.sinks.base import SinkStats, event_time, stop_task
from enphase_local.sinks.ensemble import CONTACT_STATES, STORAGE_MODES, GeneratorState, GridState
from enphase_local.sinks.forward import DEFAULT_DRAIN_RATE, Forwarder
from enphase_local.sinks.keys import key_text
from enphase_local.sinks.mqtt_commands import ControlCall, MqttCommands, entities
from enphase_local.sinks.outbox import Entry, Message, Outbox, OutboxLimit
from enphase_local.sinks.puback import (
    NO_MATCHING_SUBSCRIBERS,
    PUBACK_REASONS,
    Acknowledgements,
    NoSubscriberError,
)
from enphase_local.sinks.samples import BATTERY_STATES, BatterySample, InverterSample
from enphase_local.sinks.view import GatewayView, GatewayViews, safe_id

_LOGGER = logging.getLogger(__name__)

#: Home Assistant's birth message topic suffix and payload.
HA_STATUS = "status"

#: First and longest wait between connection attempts, seconds.
RECONNECT_DELAY_S = (1.0, 60.0)
#: The outbox limit of a sink whose outbox is in memory (no file given).
MEMORY_OUTBOX_LIMIT = OutboxLimit(max_bytes=64 * 1024 * 1024, max_rows=10_000)
#: How long one publish may wait for the broker. A publish that was waiting for its
#: acknowledgement when the connection dropped is never answered: it fails after this and
#: the batch is retried on the new connection, instead of stalling the sink for longer.
PUBLISH_TIMEOUT_S = 2.0


@attrs.frozen(kw_only=True)
class MqttSettings:
    """Where and how to connect, and the topic prefixes."""

    #: Broker host name or address.
    host: str
    #: Broker port (1883, or 8883 with TLS).
    port: int = 1883
    #: User name; None for anonymous access.
    username: str | None = None
    #: Password (a secret: never logged, hidden from repr).
    password: str | None = attrs.field(default=None, repr=False)
    #: Whether to use TLS (``mqtts://``), verified against the system's CAs.
    tls: bool = False
    #: Root of the topic tree.
    prefix: str = "enphase_local"
    #: Home Assistant's discovery prefix; None turns discovery off.
    discovery_prefix: str | None = "homeassistant"
    #: MQTT client id; None lets the library choose a random one.
    client_id: str | None = None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MqttSettings:
        """Parse ``mqtt[s]://[user[:password]@]host[:port][/prefix]``."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(
                "MQTT URL must look like mqtt://[user[:password]@]host[:port][/prefix]"
            )
        tls = parts.scheme == "mqtts"
        prefix = parts.path.strip("/")
        if prefix:
            options.setdefault("prefix", prefix)
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            **options,
        )

    def describe(self) -> str:
        """The broker as a URL without the password, for start lines and logs."""
        user = f"{self.username}@" if self.username else ""
        scheme = "mqtts" if self.tls else "mqtt"
        return f"{scheme}://{user}{self.host}:{self.port}/{self.prefix}"


@attrs.frozen
class SensorSpec:
    """One Home Assistant sensor read from a state topic."""

    #: Key in the state JSON.
    key: str
    #: Object id in the discovery topic and unique id (after the device's prefix, if any).
    object_id: str
    #: Entity name shown under the device.
    name: str
    #: Unit of measurement; None for a state (text).
    unit: str | None
    #: Home Assistant device class; None for none.
    device_class: str | None
    #: Home Assistant state class; None for a state (text).
    state_class: str | None
    #: The values an ``enum`` sensor takes.
    options: tuple[str, ...] = ()


def _enum(key: str, object_id: str, name: str, options: Iterable[str]) -> SensorSpec:
    return SensorSpec(key, object_id, name, None, "enum", None, tuple(options))


#: The gateway-level sensors.
SENSORS = (
    SensorSpec("production_w", "production_power", "Production", "W", "power", "measurement"),
    SensorSpec("consumption_w", "consumption_power", "Consumption", "W", "power", "measurement"),
    SensorSpec("net_w", "net_power", "Net consumption", "W", "power", "measurement"),
    SensorSpec("grid_w", "grid_power", "Grid power", "W", "power", "measurement"),
    SensorSpec("storage_w", "storage_power", "Battery power", "W", "power", "measurement"),
    SensorSpec(
        "battery_soc_pct", "battery_soc", "Battery state of charge", "%", "battery", "measurement"
    ),
    SensorSpec(
        "production_today_wh",
        "production_energy_today",
        "Production today",
        "Wh",
        "energy",
        "total_increasing",
    ),
    SensorSpec(
        "production_lifetime_wh",
        "production_energy_lifetime",
        "Lifetime production",
        "Wh",
        "energy",
        "total_increasing",
    ),
    SensorSpec(
        "grid_import_wh", "grid_energy_import", "Grid import", "Wh", "energy", "total_increasing"
    ),
    SensorSpec(
        "grid_export_wh", "grid_energy_export", "Grid export", "Wh", "energy", "total_increasing"
    ),
    SensorSpec(
        "solar_energy_wh", "solar_energy", "Solar production", "Wh", "energy", "total_increasing"
    ),
    SensorSpec(
        "consumption_energy_wh",
        "consumption_energy",
        "Consumption energy",
        "Wh",
        "energy",
        "total_increasing",
    ),
    SensorSpec(
        "battery_charge_wh",
        "battery_energy_in",
        "Battery energy in",
        "Wh",
        "energy",
        "total_increasing",
    ),
    SensorSpec(
        "battery_discharge_wh",
        "battery_energy_out",
        "Battery energy out",
        "Wh",
        "energy",
        "total_increasing",
    ),
    _enum("grid_state", "grid_state", "Grid state", GridState),
    _enum("generator_state", "generator_state", "Generator", GeneratorState),
    _enum("storage_mode", "storage_mode", "Storage mode", STORAGE_MODES.values()),
    # A setting, not the charge left (not device class battery) and not measured (no state
    # class: no long-term statistics).
    SensorSpec("battery_reserve_pct", "battery_reserve", "Battery reserve", "%", None, None),
)
#: The sensors of each IQ Battery (a device of its own), read from its state topic.
BATTERY_SENSORS = (
    SensorSpec("charge_pct", "charge", "Charge", "%", "battery", "measurement"),
    SensorSpec("power_w", "power", "Power", "W", "power", "measurement"),
    SensorSpec("temperature_c", "temperature", "Temperature", "°C", "temperature", "measurement"),
    _enum("state", "state", "State", (state.value for state in BATTERY_STATES)),
)
#: The sensors of each microinverter (a device of its own), read from its state topic.
INVERTER_SENSORS = (
    SensorSpec("power_w", "power", "Power", "W", "power", "measurement"),
    SensorSpec("temperature_c", "temperature", "Temperature", "°C", "temperature", "measurement"),
)


def _json(data: Any) -> bytes:
    return orjson.dumps(data)


def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def _event_body(event: SinkEvent) -> tuple[str, dict[str, Any]]:  # noqa: PLR0911 - one return per kind of event
    """The last topic level of an event and its fields (``at`` and ``key`` aside)."""
    if isinstance(event, DataEvent):
        return safe_id(event.endpoint), {
            "latency_s": event.latency_s,
            "data": to_data(event.model),
        }
    if isinstance(event, ErrorEvent):
        return "error", {
            "endpoint": event.endpoint,
            "type": type(event.error).__name__,
            "message": str(event.error),
        }
    if isinstance(event, StateEvent):
        return "state_change", {
            "previous": event.previous.value,
            "state": event.state.value,
            "reason": event.reason,
        }
    if isinstance(event, CounterEvent):
        return "counter", {
            "counter": event.counter,
            "decision": event.decision.value,
            "value": event.value,
            "previous": event.previous,
            "reason": event.reason,
        }
    if isinstance(event, EnergyEvent):
        return "energy", {
            "source": event.source,
            "flows": event.flows,
            "filled": event.filled,
            "totals": event.totals,
        }
    if isinstance(event, ControlRevertedEvent):
        return "control_reverted", {
            "control": event.control,
            "endpoint": event.endpoint,
            "expected": event.expected,
            "observed": event.observed,
            "written_at": _iso(event.written_at),
            "reason": event.reason,
        }
    return "unsupported", {"endpoint": event.endpoint, "reason": event.reason}


def event_message(event: SinkEvent) -> Entry:
    """The outbox entry of an event: its topic below the prefix (``<id>/<leaf>``), its JSON
    payload (``key`` and ``at`` first) and its idempotency key as text."""
    gateway = safe_id(event.serial if event.serial is not None else event.host)
    leaf, fields = _event_body(event)
    key = event_key(event)
    payload = _json({"key": key.to_data(), "at": _iso(event_time(event)), **fields})
    return Entry(f"{gateway}/{leaf}", payload, key_text(key))


class MqttSink:
    """Publishes to one MQTT broker; see the module for the topic tree."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        outbox: str | os.PathLike[str] | None = None,
        outbox_limit: OutboxLimit | None = None,
        drain_rate: float = DEFAULT_DRAIN_RATE,
        flush_interval_s: float = 0.05,
        reconnect_delay_s: tuple[float, float] = RECONNECT_DELAY_S,
        close_timeout_s: float = 5.0,
        wait_for_subscriber: bool = False,
        control: ControlCall | None = None,
    ) -> None:
        """``outbox`` is the outbox's file; None keeps it in memory (lost at exit), where
        ``outbox_limit`` defaults to :data:`MEMORY_OUTBOX_LIMIT` rather than the file's
        :class:`~enphase_local.sinks.outbox.OutboxLimit`. ``drain_rate`` bounds the
        messages a second published from the outbox's backlog; ``flush_interval_s`` is
        the longest an event waits to be committed. With ``wait_for_subscriber`` an event
        message the broker gave to no subscriber (PUBACK 0x10, :mod:`~enphase_local.sinks.
        puback`) stays in the outbox and is sent again, like one that failed. ``control`` (the
        poller's :meth:`~enphase_local.Poller.control`, with sessions that allow control)
        turns the command topics on; see :mod:`~enphase_local.sinks.mqtt_commands`."""
        if wait_for_subscriber and not PUBACK_REASONS:
            raise ValueError(
                "waiting for a subscriber needs paho-mqtt 2.0 or newer (aiomqtt 2.1 or newer): "
                "older ones do not say what the broker answered"
            )
        #: Connection and topic settings.
        self.settings = settings
        self._wait_for_subscriber = wait_for_subscriber
        self._acks: Acknowledgements | None = None
        self._commands = (
            None
            if control is None
            else MqttCommands(control, prefix=settings.prefix, publish=self._publish_status)
        )
        self._reconnect_delay_s = reconnect_delay_s
        self._close_timeout_s = close_timeout_s
        self._flush_interval_s = flush_interval_s
        if outbox_limit is None and outbox is None:
            outbox_limit = MEMORY_OUTBOX_LIMIT
        self._forwarder = Forwarder(
            self.name,
            Outbox(outbox, limit=outbox_limit),
            self._send,
            drain_rate=drain_rate,
            flush_interval_s=flush_interval_s,
        )
        self._state_task: asyncio.Task[None] | None = None
        self._state_wake = asyncio.Event()
        self._views = GatewayViews()
        self._dirty: set[str] = set()
        self._discovered: dict[str, set[str]] = {}
        #: The payload last published on each battery's and inverter's state topic.
        self._device_states: dict[str, bytes] = {}
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._connection_task: asyncio.Task[None] | None = None
        self._closing = False
        #: Successful connections so far (the first one included).
        self.connections = 0

    @property
    def name(self) -> str:
        """``mqtt``."""
        return "mqtt"

    @property
    def connected(self) -> bool:
        """Whether a broker connection is up."""
        return self._connected.is_set()

    def _topic(self, *levels: str) -> str:
        return "/".join((self.settings.prefix, *levels))

    @property
    def bridge_topic(self) -> str:
        """``<prefix>/bridge/availability``."""
        return self._topic("bridge", "availability")

    @property
    def outbox(self) -> Outbox:
        """The outbox the event messages go through."""
        return self._forwarder.outbox

    async def start(self) -> None:
        """Open the outbox and start connecting (in the background: a missing broker does
        not stop polling)."""
        await self._forwarder.start()
        loop = asyncio.get_running_loop()
        self._connection_task = loop.create_task(
            self._connection_loop(), name="enphase-local mqtt connection"
        )
        self._state_task = loop.create_task(self._state_loop(), name="enphase-local mqtt state")

    def submit(self, event: SinkEvent) -> None:
        """Update the gateway's latest state and queue the event for the outbox."""
        view, changed = self._views.update(event)
        if changed:
            self._dirty.add(view.host)
            self._state_wake.set()
        self._forwarder.put(event_message(event))

    async def close(self) -> None:
        """Commit what was submitted, publish the new messages and the latest state (within
        the close timeout), say offline, disconnect.

        Without a broker connection there is nothing to wait for. What is not published
        stays in the outbox for the next start (an outbox in memory loses it, counted as
        dropped). Commands still running are cancelled first.
        """
        if self._commands is not None:
            await self._commands.close()
        # A broker that has answered is worth waiting for; an absent one is not.
        connecting = self._client is not None
        await self._forwarder.close(self._close_timeout_s, connecting=connecting)
        self._closing = True
        state_task, self._state_task = self._state_task, None
        if state_task is not None:
            await stop_task(state_task)
        client = self._client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                async with asyncio.timeout(self._close_timeout_s):
                    await self._publish_dirty(client)
                await client.publish(
                    self.bridge_topic, b"offline", qos=1, retain=True, timeout=PUBLISH_TIMEOUT_S
                )
        task, self._connection_task = self._connection_task, None
        if task is not None:
            await stop_task(task)

    def stats(self) -> SinkStats:
        """Events submitted, acknowledged by the broker, dropped and waiting (in the outbox
        or to be committed), and kept in the outbox at close."""
        return self._forwarder.stats()

    # --- connection ------------------------------------------------------------------------

    def _new_client(self) -> aiomqtt.Client:
        s = self.settings
        client = aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=s.client_id,
            will=aiomqtt.Will(self.bridge_topic, b"offline", qos=1, retain=True),
            tls_context=ssl.create_default_context() if s.tls else None,
            timeout=10,
            protocol=aiomqtt.ProtocolVersion.V5,
        )
        # A full window of messages awaiting their acknowledgement is the plan, not a worry.
        client.pending_calls_threshold = 100
        self._acks = Acknowledgements(client)
        return client

    async def _connection_loop(self) -> None:
        first, longest = self._reconnect_delay_s
        delay = first
        while not self._closing:
            try:
                async with self._new_client() as client:
                    self._client = client  # the broker answered; publishing waits for announce
                    await self._announce(client)
                    self._connected.set()
                    self._forwarder.connected()
                    self._state_wake.set()
                    self.connections += 1
                    _LOGGER.info("connected to MQTT broker %s", self.settings.describe())
                    delay = first
                    await self._listen(client)
            except aiomqtt.MqttError as err:
                if self._closing:
                    return
                _LOGGER.warning(
                    "MQTT broker %s: %s; reconnecting in %.0f s",
                    self.settings.describe(),
                    err,
                    delay,
                )
            finally:
                self._forwarder.disconnected()
                self._connected.clear()
                self._client = None
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not crypto
            delay = min(delay * 2, longest)

    async def _listen(self, client: aiomqtt.Client) -> None:
        """Answer Home Assistant's birth messages (and take commands) until the connection
        drops."""
        commands = self._commands
        async for message in client.messages:
            topic = message.topic.value
            if commands is not None and commands.is_command(topic):
                await commands.handle(
                    topic, message.payload, retain=message.retain, views=self._views
                )
            elif message.payload == b"online":
                _LOGGER.debug("Home Assistant is online: sending discovery configs again")
                for view in self._views:
                    await self._publish_discovery(client, view, again=True)
        raise aiomqtt.MqttError("connection closed")

    async def _announce(self, client: aiomqtt.Client) -> None:
        """After connecting: availability, discovery configs and the latest retained state."""
        discovery = self.settings.discovery_prefix
        if discovery is not None:
            await client.subscribe(f"{discovery}/{HA_STATUS}")
        if self._commands is not None:
            await client.subscribe(self._commands.topic_filter, qos=1)
        await client.publish(
            self.bridge_topic, b"online", qos=1, retain=True, timeout=PUBLISH_TIMEOUT_S
        )
        self._device_states.clear()  # a broker without persistence lost them
        for view in self._views:
            await self._publish_state(client, view)
            await self._publish_discovery(client, view, again=True)

    # --- publishing ------------------------------------------------------------------------

    async def _send(self, message: Message) -> None:
        """Publish one outbox message with QoS 1: returns once the broker acknowledged it
        (and, with ``wait_for_subscriber``, gave it to a subscriber)."""
        acks = self._acks
        if self._client is None or acks is None or not self._connected.is_set():
            raise aiomqtt.MqttError("not connected")
        entry = message.entry
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho: no annotations
        properties.UserProperty = ("key", entry.key)
        topic = self._topic(entry.topic)
        reason = await acks.publish(
            topic, entry.payload, properties=properties, timeout_s=PUBLISH_TIMEOUT_S
        )
        if reason == NO_MATCHING_SUBSCRIBERS and self._wait_for_subscriber:
            raise NoSubscriberError(f"no subscriber for {topic}: kept in the outbox")

    async def _state_loop(self) -> None:
        """Publish the retained state of the gateways whose values changed, a batch at a
        time, straight from memory: the latest state never waits behind the outbox."""
        while True:
            await self._state_wake.wait()
            await self._connected.wait()
            await asyncio.sleep(self._flush_interval_s)  # gather the changes of a poll
            self._state_wake.clear()
            client = self._client
            if client is None:
                continue
            try:
                await self._publish_dirty(client)
            except aiomqtt.MqttError as err:  # the connection loop reconnects and announces
                _LOGGER.debug("MQTT state not published: %s", err)

    async def _publish_dirty(self, client: aiomqtt.Client) -> None:
        dirty, self._dirty = self._dirty, set()
        try:
            for view in self._views:
                if view.host in dirty:
                    await self._publish_state(client, view)
                    await self._publish_discovery(client, view)
        except BaseException:
            self._dirty |= dirty
            raise

    def state_payload(self, view: GatewayView) -> dict[str, Any]:
        """The retained state JSON of a gateway."""
        return {
            "gateway_state": None if view.state is None else view.state.value,
            "updated_at": _iso(view.updated_at),
            **view.values(),
            **view.site_values(),
            **view.setting_values(),
            "dry_contacts": {
                safe_id(contact): state
                for contact, state in sorted(view.ensemble.dry_contacts().items())
            },
            "inverters": {
                safe_id(sn): inv.last_report_w for sn, inv in sorted(view.inverters.items())
            },
        }

    def battery_topic(self, view: GatewayView, serial: str) -> str:
        """``<prefix>/<id>/battery/<serial>``: an IQ Battery's retained state."""
        return self._topic(view.topic_id, "battery", safe_id(serial))

    def inverter_topic(self, view: GatewayView, serial: str) -> str:
        """``<prefix>/<id>/inverter/<serial>``: a microinverter's retained state."""
        return self._topic(view.topic_id, "inverter", safe_id(serial))

    def device_payloads(self, view: GatewayView) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(topic, state)`` of each IQ Battery and microinverter of the gateway."""
        for serial, battery in sorted(view.batteries.items()):
            yield self.battery_topic(view, serial), _battery_state(battery)
        for serial in sorted(view.inverters.keys() | view.inverter_samples.keys()):
            state = _inverter_state(view.inverters.get(serial), view.inverter_samples.get(serial))
            yield self.inverter_topic(view, serial), state

    async def _publish_state(self, client: aiomqtt.Client, view: GatewayView) -> None:
        availability = b"online" if view.available else b"offline"
        await client.publish(
            self._topic(view.topic_id, "availability"),
            availability,
            qos=1,
            retain=True,
            timeout=PUBLISH_TIMEOUT_S,
        )
        await client.publish(
            self._topic(view.topic_id, "state"),
            _json(self.state_payload(view)),
            qos=1,
            retain=True,
            timeout=PUBLISH_TIMEOUT_S,
        )
        for topic, state in self.device_payloads(view):
            payload = _json(state)
            if self._device_states.get(topic) == payload:
                continue  # no new reading of this device since it was last published
            await client.publish(topic, payload, qos=1, retain=True, timeout=PUBLISH_TIMEOUT_S)
            self._device_states[topic] = payload

    async def _publish_discovery(
        self, client: aiomqtt.Client, view: GatewayView, *, again: bool = False
    ) -> None:
        if self.settings.discovery_prefix is None or view.serial is None:
            return
        done = self._discovered.setdefault(view.serial, set())
        node = f"enphase_{view.topic_id}"
        for component, object_id, config in self._entity_configs(view):
            key = f"{component}/{object_id}"
            if key in done and not again:
                continue
            topic = f"{self.settings.discovery_prefix}/{component}/{node}/{object_id}/config"
            payload = b"" if config is None else _json(config)
            await client.publish(topic, payload, qos=1, retain=True, timeout=PUBLISH_TIMEOUT_S)
            done.add(key)

    def _entity_configs(
        self, view: GatewayView
    ) -> Iterator[tuple[str, str, dict[str, Any] | None]]:
        """``(component, object_id, config)`` of the sensors and of the command entities;
        without control the command entities' configs are None: an empty retained config
        withdraws any a run with control left behind."""
        for object_id, config in self.discovery_configs(view):
            yield "sensor", object_id, config
        state = self.state_payload(view)
        if self._commands is None:
            for spec, _, object_id in entities(view, state):
                yield spec.component, object_id, None
            return
        base = {
            "state_topic": self._topic(view.topic_id, "state"),
            **self._entity_base(view, self._gateway_device(view)),
        }
        yield from self._commands.discovery_configs(view, state, base)

    def discovery_configs(self, view: GatewayView) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(object_id, config)`` for every sensor of the gateway whose value is known."""
        topic, device = self._topic(view.topic_id, "state"), self._gateway_device(view)
        values = {**view.values(), **view.site_values()}
        gateway_sensors = [
            (spec.object_id, spec, f"{{{{ value_json.{spec.key} }}}}")
            for spec in SENSORS
            if values[spec.key] is not None
        ]
        for contact in sorted(view.ensemble.dry_contacts()):
            key = safe_id(contact)
            object_id = f"dry_contact_{key.lower()}"
            spec = _enum(key, object_id, f"Dry contact {contact}", CONTACT_STATES)
            template = f"{{{{ value_json.dry_contacts.get('{key}') }}}}"
            gateway_sensors.append((object_id, spec, template))
        for object_id, spec, template in gateway_sensors:
            config = self._config(
                view, object_id, spec, topic=topic, template=template, device=device
            )
            yield object_id, config
        for serial, battery in sorted(view.batteries.items()):
            yield from self._device_configs(
                view,
                f"battery_{safe_id(serial)}",
                _battery_state(battery),
                BATTERY_SENSORS,
                topic=self.battery_topic(view, serial),
                device=self._device(view, serial, f"IQ Battery {serial}", "IQ Battery"),
            )
        for serial in sorted(view.inverters.keys() | view.inverter_samples.keys()):
            yield from self._device_configs(
                view,
                f"inverter_{safe_id(serial)}",
                _inverter_state(view.inverters.get(serial), view.inverter_samples.get(serial)),
                INVERTER_SENSORS,
                topic=self.inverter_topic(view, serial),
                device=self._device(view, serial, f"Microinverter {serial}", "Microinverter"),
            )

    def _device_configs(
        self,
        view: GatewayView,
        prefix: str,
        values: dict[str, Any],
        specs: Iterable[SensorSpec],
        *,
        topic: str,
        device: dict[str, Any],
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """The configs of one battery's or inverter's sensors whose value is known."""
        for spec in specs:
            if values.get(spec.key) is None:
                continue
            object_id = f"{prefix}_{spec.object_id}"
            template = f"{{{{ value_json.{spec.key} }}}}"
            yield (
                object_id,
                self._config(view, object_id, spec, topic=topic, template=template, device=device),
            )

    def _gateway_device(self, view: GatewayView) -> dict[str, Any]:
        device: dict[str, Any] = {
            "identifiers": [f"enphase_local_{view.topic_id}"],
            "name": f"Enphase gateway {view.key}",
            "manufacturer": "Enphase Energy",
            "model": "IQ Gateway",
            "serial_number": view.key,
        }
        if view.firmware is not None:
            device["sw_version"] = view.firmware
        if view.part_number is not None:
            device["model_id"] = view.part_number
        return device

    @staticmethod
    def _device(view: GatewayView, serial: str, name: str, model: str) -> dict[str, Any]:
        """A battery or inverter: a device of its own, reached through the gateway."""
        return {
            "identifiers": [f"enphase_local_{safe_id(serial)}"],
            "name": name,
            "manufacturer": "Enphase Energy",
            "model": model,
            "serial_number": serial,
            "via_device": f"enphase_local_{view.topic_id}",
        }

    def _config(
        self,
        view: GatewayView,
        object_id: str,
        spec: SensorSpec,
        *,
        topic: str,
        template: str,
        device: dict[str, Any],
    ) -> dict[str, Any]:
        gateway = view.topic_id
        config: dict[str, Any] = {
            "name": spec.name,
            "unique_id": f"enphase_local_{gateway}_{object_id}",
            "state_topic": topic,
            "value_template": template,
        }
        if spec.unit is not None:
            config["unit_of_measurement"] = spec.unit
        if spec.device_class is not None:
            config["device_class"] = spec.device_class
        if spec.state_class is not None:
            config["state_class"] = spec.state_class
        if spec.options:
            config["options"] = list(spec.options)
        return config | self._entity_base(view, device)

    def _entity_base(self, view: GatewayView, device: dict[str, Any]) -> dict[str, Any]:
        """What every entity's config carries: availability, device, origin."""
        return {
            "availability": [
                {"topic": self.bridge_topic},
                {"topic": self._topic(view.topic_id, "availability")},
            ],
            "availability_mode": "all",
            "device": device,
            "origin": {"name": "enphase-local"},
        }

    async def _publish_status(self, topic: str, payload: bytes) -> None:
        """A command's outcome, retained (see :mod:`~enphase_local.sinks.mqtt_commands`)."""
        client = self._client
        if client is None:
            raise aiomqtt.MqttError("not connected")
        await client.publish(topic, payload, qos=1, retain=True, timeout=PUBLISH_TIMEOUT_S)


def _inverter_state(report: Inverter | None, detail: InverterSample | None) -> dict[str, Any]:
    """A microinverter's last report (power) and device data (temperature, DC side)."""
    return {
        "power_w": None if report is None else report.last_report_w,
        "last_report_at": None if report is None else _iso(report.last_report_at),
        "temperature_c": None if detail is None else detail.temperature_c,
        "dc_voltage_v": None if detail is None else detail.dc_voltage_v,
        "dc_current_a": None if detail is None else detail.dc_current_a,
        "detail_at": None if detail is None else _iso(detail.at),
    }


def _battery_state(battery: BatterySample) -> dict[str, Any]:
    state = battery.state
    return {
        "at": _iso(battery.at),
        "charge_pct": battery.charge_pct,
        "power_w": battery.power_w,
        "temperature_c": battery.temperature_c,
        "state": None if state is None else state.value,
    }
