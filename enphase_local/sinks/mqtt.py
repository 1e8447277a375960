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
    Every successful poll, not retained: ``{"at", "latency_s", "data"}`` with ``data`` the
    model as :func:`enphase_local.export.to_data` renders it (as the gateway sent it).
``<prefix>/<id>/error`` and ``<prefix>/<id>/unsupported``
    Failed polls ``{"at", "endpoint", "type", "message"}`` and endpoints the gateway does not
    serve ``{"at", "endpoint", "reason"}``, not retained.
``<prefix>/<id>/control_reverted``
    A state a control write of ours set changed back with no write of ours since
    ``{"at", "control", "endpoint", "expected", "observed", "written_at", "reason"}``, not
    retained.
``<prefix>/<id>/set/...`` and ``<prefix>/<id>/control``
    Only with control (``poll --allow-control``): commands in (grid relay, dry contacts,
    charge from grid, storage mode, generator mode, reserve) and each one's outcome, retained;
    see :mod:`enphase_local.sinks.mqtt_commands`.
``<prefix>/<id>/energy`` and ``<prefix>/<id>/counter``
    Every energy event ``{"at", "source", "flows", "filled", "totals"}`` and every decision of
    the counter guard ``{"at", "counter", "decision", "value", "previous", "reason"}``, not
    retained.

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

Publishing runs in a bounded batching runner: while the broker is away, events wait (the
oldest dropped beyond ``max_backlog``) and the connection is retried with growing, jittered
delays; on reconnection the latest retained state is published again. The password is never
logged or shown in ``repr``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import ssl
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
import attrs
import orjson

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
from enphase_local.models import Inverter
from enphase_local.sinks.base import BatchRunner, SinkStats, event_time
from enphase_local.sinks.ensemble import CONTACT_STATES, STORAGE_MODES, GeneratorState, GridState
from enphase_local.sinks.mqtt_commands import ControlCall, MqttCommands, entities
from enphase_local.sinks.samples import BATTERY_STATES, BatterySample, InverterSample
from enphase_local.sinks.view import GatewayView, GatewayViews, safe_id

_LOGGER = logging.getLogger(__name__)

#: Home Assistant's birth message topic suffix and payload.
HA_STATUS = "status"

#: First and longest wait between connection attempts, seconds.
RECONNECT_DELAY_S = (1.0, 60.0)
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


class MqttSink:
    """Publishes to one MQTT broker; see the module for the topic tree."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        max_backlog: int = 10_000,
        batch_size: int = 100,
        flush_interval_s: float = 0.2,
        reconnect_delay_s: tuple[float, float] = RECONNECT_DELAY_S,
        close_timeout_s: float = 5.0,
        control: ControlCall | None = None,
    ) -> None:
        """``control`` (the poller's :meth:`~enphase_local.Poller.control`, with sessions
        that allow control) turns the command topics on; see
        :mod:`~enphase_local.sinks.mqtt_commands`."""
        #: Connection and topic settings.
        self.settings = settings
        self._commands = (
            None
            if control is None
            else MqttCommands(control, prefix=settings.prefix, publish=self._publish_status)
        )
        self._reconnect_delay_s = reconnect_delay_s
        self._close_timeout_s = close_timeout_s
        self._runner: BatchRunner[SinkEvent] = BatchRunner(
            self.name,
            self._publish_batch,
            max_backlog=max_backlog,
            batch_size=batch_size,
            flush_interval_s=flush_interval_s,
            retry_delay_s=(0.1, 2.0),
        )
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

    async def start(self) -> None:
        """Start connecting (in the background: a missing broker does not stop polling)."""
        self._connection_task = asyncio.get_running_loop().create_task(
            self._connection_loop(), name="enphase-local mqtt connection"
        )
        self._runner.start()

    def submit(self, event: SinkEvent) -> None:
        """Update the gateway's latest state and queue the event for publishing."""
        view, changed = self._views.update(event)
        if changed:
            self._dirty.add(view.host)
        self._runner.put(event)

    async def close(self) -> None:
        """Publish what is queued (within the close timeout), say offline, disconnect.

        Without a broker connection there is nothing to wait for: what is queued is dropped
        (and counted) at once, so stopping is never held up by an absent broker. Commands
        still running are cancelled first.
        """
        if self._commands is not None:
            await self._commands.close()
        await self._runner.close(self._close_timeout_s if self._client is not None else 0.0)
        self._closing = True
        client = self._client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await client.publish(
                    self.bridge_topic, b"offline", qos=1, retain=True, timeout=PUBLISH_TIMEOUT_S
                )
        task, self._connection_task = self._connection_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def stats(self) -> SinkStats:
        """Events submitted, published, dropped and waiting."""
        return self._runner.stats()

    # --- connection ------------------------------------------------------------------------

    def _new_client(self) -> aiomqtt.Client:
        s = self.settings
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=s.client_id,
            will=aiomqtt.Will(self.bridge_topic, b"offline", qos=1, retain=True),
            tls_context=ssl.create_default_context() if s.tls else None,
            timeout=10,
        )

    async def _connection_loop(self) -> None:
        first, longest = self._reconnect_delay_s
        delay = first
        while not self._closing:
            try:
                async with self._new_client() as client:
                    self._client = client  # the broker answered; publishing waits for announce
                    await self._announce(client)
                    self._connected.set()
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

    async def _publish_batch(self, batch: list[SinkEvent]) -> None:
        await self._connected.wait()
        client = self._client
        if client is None:
            raise aiomqtt.MqttError("not connected")
        for event in batch:
            topic, payload = self._event_message(event)
            await client.publish(topic, payload, qos=0, timeout=PUBLISH_TIMEOUT_S)
        dirty, self._dirty = self._dirty, set()
        try:
            for view in self._views:
                if view.host in dirty:
                    await self._publish_state(client, view)
                    await self._publish_discovery(client, view)
        except BaseException:
            self._dirty |= dirty
            raise

    def _event_message(self, event: SinkEvent) -> tuple[str, bytes]:
        gateway = safe_id(event.serial if event.serial is not None else event.host)
        at = _iso(event_time(event))
        if isinstance(event, DataEvent):
            body = {"at": at, "latency_s": event.latency_s, "data": to_data(event.model)}
            return self._topic(gateway, safe_id(event.endpoint)), _json(body)
        if isinstance(event, ErrorEvent):
            error = {
                "at": at,
                "endpoint": event.endpoint,
                "type": type(event.error).__name__,
                "message": str(event.error),
            }
            return self._topic(gateway, "error"), _json(error)
        if isinstance(event, StateEvent):
            change = {
                "at": at,
                "previous": event.previous.value,
                "state": event.state.value,
                "reason": event.reason,
            }
            return self._topic(gateway, "state_change"), _json(change)
        if isinstance(event, CounterEvent):
            decision = {
                "at": at,
                "counter": event.counter,
                "decision": event.decision.value,
                "value": event.value,
                "previous": event.previous,
                "reason": event.reason,
            }
            return self._topic(gateway, "counter"), _json(decision)
        if isinstance(event, EnergyEvent):
            energy = {
                "at": at,
                "source": event.source,
                "flows": event.flows,
                "filled": event.filled,
                "totals": event.totals,
            }
            return self._topic(gateway, "energy"), _json(energy)
        if isinstance(event, ControlRevertedEvent):
            name, body = (
                "control_reverted",
                {
                    "at": at,
                    "control": event.control,
                    "endpoint": event.endpoint,
                    "expected": event.expected,
                    "observed": event.observed,
                    "written_at": _iso(event.written_at),
                    "reason": event.reason,
                },
            )
        else:
            name, body = (
                "unsupported",
                {"at": at, "endpoint": event.endpoint, "reason": event.reason},
            )
        return self._topic(gateway, name), _json(body)

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
