"""Control over MQTT: command topics, their Home Assistant entities, and the write each one runs.

Only an MQTT sink given the poller's control (``enphase-local poll --mqtt URL
--allow-control``) subscribes to commands and announces these entities; without it no
command topic is subscribed and the entities are withdrawn (an empty retained config).

Command topics (``<id>`` as in the sink's other topics) and the payloads Home Assistant sends:

============================================  ======================================  =====================
topic                                         payload                                 write
============================================  ======================================  =====================
``<prefix>/<id>/set/grid_relay``              ``ON`` (on grid) or ``OFF`` (off grid)  ``set_grid_relay``
``<prefix>/<id>/set/dry_contact/<contact>``   ``ON`` (closed) or ``OFF`` (open)       ``set_dry_contact``
``<prefix>/<id>/set/charge_from_grid``        ``ON`` or ``OFF``                       ``set_charge_from_grid``
``<prefix>/<id>/set/storage_mode``            ``backup``, ``self_consumption``,       ``set_storage_mode``
                                              ``savings``
``<prefix>/<id>/set/generator_mode``          ``on``, ``off``, ``auto``               ``set_generator_mode``
``<prefix>/<id>/set/reserve``                 a number, 0 to 100 (%)                  ``set_reserve``
============================================  ======================================  =====================

Each command runs through the poller's control (the library's validated, read-back-confirmed
path), in a task of its own so that reading MQTT never waits for a gateway. Per gateway and
command one command waits at most: a newer one replaces it (``superseded``). A retained
command is never run: one replayed by the broker at every (re)connection would switch the
hardware at every restart. Each command for a gateway of this poller gets exactly one
outcome on ``<prefix>/<id>/control`` (retained)::

    {"at", "command", "control", "payload", "status", "requested", "expected", "observed",
     "seconds_to_apply", "message"}

``command`` as the topic names it (``reserve``, ``dry_contact/NC1``), ``control`` the write
(``set_reserve``), ``payload`` as received, ``status`` one of :data:`STATUSES`,
``requested`` the write's arguments (``{"percent": 30.0}``), ``expected`` and ``observed``
what should read back and what did (``{"reserve_percent": 30.0}``; null when the write
did not get that far), ``seconds_to_apply`` from sending to reading it back, ``message``
the reason in words. The entities' state comes from the retained state
JSON, so it shows what the gateway read back, never what was asked.
"""  # noqa: E501 - the table's rows

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any, Final, TypeAlias

import attrs
import orjson

from enphase_local.control import ControlResult, describe
from enphase_local.errors import (
    ControlNotAllowedError,
    ControlNotAppliedError,
    ControlRejectedError,
    ControlValidationError,
    EnphaseError,
    NotSupportedError,
)
from enphase_local.sinks.view import GatewayView, safe_id

_LOGGER = logging.getLogger(__name__)

#: Makes a control write at a polled gateway, as :meth:`~enphase_local.Poller.control` does:
#: ``await control(host, "set_reserve", percent=30)``.
ControlCall: TypeAlias = Callable[..., Awaitable[ControlResult]]
#: Publishes a retained status: ``await publish(topic, payload)``.
StatusPublisher: TypeAlias = Callable[[str, bytes], Awaitable[None]]

#: The outcomes a command can have, on the status topic.
STATUSES: Final = (
    "applied",  # the gateway shows what was asked
    "not_applied",  # it took the write but does not show it within the wait
    "rejected",  # it answered the write with an error status
    "invalid",  # the payload or the command topic is wrong: nothing was sent
    "unsupported",  # the gateway lacks the hardware or setting: nothing was sent
    "not_allowed",  # the session does not allow control writes: nothing was sent
    "error",  # the gateway could not be reached or answered nonsense
    "superseded",  # a newer command for the same thing came first: nothing was sent
    "ignored",  # a retained command: never run
)
#: The level under ``<prefix>/<id>`` the commands go to.
COMMAND_LEVEL: Final = "set"
#: The status topic's last level.
STATUS_LEVEL: Final = "control"
#: Longest payload taken, bytes (every valid one is a few characters).
MAX_PAYLOAD_BYTES: Final = 64

Parse: TypeAlias = Callable[[str], dict[str, Any]]


def _switch(argument: str, on_word: str, off_word: str) -> Parse:
    """ON/OFF as Home Assistant's switch sends them (or the state's own words)."""
    words = {"ON": True, "OFF": False, on_word.upper(): True, off_word.upper(): False}

    def parse(text: str) -> dict[str, Any]:
        value = words.get(text.strip().upper())
        if value is None:
            raise ControlValidationError(f"expected ON or OFF, not {text!r}")
        return {argument: value}

    return parse


def _option(argument: str, options: Mapping[str, str]) -> Parse:
    """One of a select's options (case does not matter), as the write's argument."""

    def parse(text: str) -> dict[str, Any]:
        value = options.get(text.strip().lower())
        if value is None:
            raise ControlValidationError(
                f"expected one of {', '.join(dict.fromkeys(options))}, not {text!r}"
            )
        return {argument: value}

    return parse


def _number(argument: str) -> Parse:
    """A number as Home Assistant's number entity sends it (``30`` or ``30.0``); its range
    is checked by the write itself."""

    def parse(text: str) -> dict[str, Any]:
        try:
            value = float(text.strip())
        except ValueError:
            raise ControlValidationError(f"expected a number, not {text!r}") from None
        if not math.isfinite(value):
            raise ControlValidationError(f"expected a number, not {text!r}")
        return {argument: value}

    return parse


@attrs.frozen(kw_only=True)
class CommandSpec:
    """One kind of command: its topic, the write it runs, its Home Assistant entity."""

    #: The topic level after ``set`` (a dry contact's id follows it).
    key: str
    #: The session write it runs.
    control: str
    #: Turns the payload into the write's arguments; raises ControlValidationError.
    parse: Parse = attrs.field(repr=False)
    #: ``switch``, ``select`` or ``number``.
    component: str
    #: Object id in the discovery topic and unique id (a dry contact's id is added).
    object_id: str
    #: Entity name shown under the gateway's device (``{contact}``: a dry contact's id).
    name: str
    #: The key of the state JSON the entity shows; it is announced once that is known.
    state_key: str
    #: The entity's own config: options, range, how the state reads.
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    #: Whether a dry contact id follows ``key`` in the topic.
    per_contact: bool = False


def _on_off(mapping: str, value: str) -> str:
    """A switch's value template: ON, OFF, or None (unknown) from the state JSON."""
    return f"{{{{ {mapping}.get({value}, 'None') }}}}"


#: What a switch sends (Home Assistant's defaults, said outright) and its value template gives.
_SWITCH: Final = {"payload_on": "ON", "payload_off": "OFF", "state_on": "ON", "state_off": "OFF"}
#: The storage modes as the state JSON names them, and the names the write takes.
_STORAGE: Final = {
    "backup": "backup",
    "self_consumption": "self-consumption",
    "self-consumption": "self-consumption",
    "savings": "savings",
}
#: The generator commands.
_GENERATOR: Final = {"on": "on", "off": "off", "auto": "auto"}

#: Every command, by topic key.
COMMANDS: Final[Mapping[str, CommandSpec]] = {
    spec.key: spec
    for spec in (
        CommandSpec(
            key="grid_relay",
            control="set_grid_relay",
            parse=_switch("connected", "on_grid", "off_grid"),
            component="switch",
            object_id="control_grid_relay",
            name="Grid connection",
            state_key="grid_state",
            extra={
                **_SWITCH,
                "value_template": _on_off(
                    "{'on_grid': 'ON', 'off_grid': 'OFF'}", "value_json.grid_state"
                ),
            },
        ),
        CommandSpec(
            key="dry_contact",
            control="set_dry_contact",
            parse=_switch("closed", "closed", "open"),
            component="switch",
            object_id="control_dry_contact",
            name="Dry contact {contact} control",
            state_key="dry_contacts",
            extra=_SWITCH,
            per_contact=True,
        ),
        CommandSpec(
            key="charge_from_grid",
            control="set_charge_from_grid",
            parse=_switch("enabled", "true", "false"),
            component="switch",
            object_id="control_charge_from_grid",
            name="Charge from grid",
            state_key="charge_from_grid",
            extra={
                **_SWITCH,
                "value_template": _on_off(
                    "{true: 'ON', false: 'OFF'}", "value_json.charge_from_grid"
                ),
            },
        ),
        CommandSpec(
            key="storage_mode",
            control="set_storage_mode",
            parse=_option("mode", _STORAGE),
            component="select",
            object_id="control_storage_mode",
            name="Storage mode control",
            state_key="storage_mode",
            extra={
                "value_template": "{{ value_json.storage_mode }}",
                "options": ["backup", "self_consumption", "savings"],
            },
        ),
        CommandSpec(
            key="generator_mode",
            control="set_generator_mode",
            parse=_option("mode", _GENERATOR),
            component="select",
            object_id="control_generator_mode",
            name="Generator mode",
            state_key="generator_mode",
            extra={
                "value_template": "{{ value_json.generator_mode }}",
                "options": list(_GENERATOR),
            },
        ),
        CommandSpec(
            key="reserve",
            control="set_reserve",
            parse=_number("percent"),
            component="number",
            object_id="control_battery_reserve",
            name="Battery reserve control",
            state_key="battery_reserve_pct",
            extra={
                "value_template": "{{ value_json.battery_reserve_pct }}",
                "min": 0,
                "max": 100,
                "step": 1,
                "mode": "box",
                "unit_of_measurement": "%",
            },
        ),
    )
}


@attrs.frozen(kw_only=True)
class Command:
    """A command taken from a command topic, to run."""

    #: The gateway's topic id.
    gateway: str
    #: The gateway's host, as the poller knows it.
    host: str
    #: What kind of command.
    spec: CommandSpec
    #: The dry contact's id (as the gateway spells it), else ``""``.
    subject: str
    #: The payload as received.
    payload: str
    #: The write's arguments.
    arguments: Mapping[str, Any] = attrs.field(hash=False)

    @property
    def key(self) -> tuple[str, str, str]:
        """What a newer command replaces an older one of: (gateway, command, contact)."""
        return (self.gateway, self.spec.key, self.subject.casefold())

    @property
    def name(self) -> str:
        """``reserve``, ``dry_contact/NC1``: the command as its topic names it."""
        return f"{self.spec.key}/{self.subject}" if self.subject else self.spec.key


def _outcome(err: BaseException) -> str:
    """The status of a write that raised ``err``."""
    for kind, status in (
        (ControlNotAllowedError, "not_allowed"),
        (ControlValidationError, "invalid"),
        (NotSupportedError, "unsupported"),
        (ControlRejectedError, "rejected"),
    ):
        if isinstance(err, kind):
            return status
    return "error"


class MqttCommands:
    """The command topics of one MQTT sink: parsing, one task per command, the outcomes.

    The sink subscribes to :attr:`topic_filter`, hands each message of it to :meth:`handle`
    (which never raises and never waits for a gateway), adds :meth:`discovery_configs` to its
    Home Assistant discovery and calls :meth:`close` before disconnecting.
    """

    def __init__(self, control: ControlCall, *, prefix: str, publish: StatusPublisher) -> None:
        self._control = control
        self._prefix = prefix
        self._publish = publish
        #: The command waiting to run, by :attr:`Command.key`.
        self._queued: dict[tuple[str, str, str], Command] = {}
        #: The task running the commands of each key, while there are any.
        self._tasks: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        self._closed = False

    @property
    def topic_filter(self) -> str:
        """``<prefix>/+/set/#``: every command topic."""
        return f"{self._prefix}/+/{COMMAND_LEVEL}/#"

    def command_topic(self, view: GatewayView, spec: CommandSpec, contact: str = "") -> str:
        """Where Home Assistant sends a command of ``spec`` to ``view``'s gateway."""
        levels = [self._prefix, view.topic_id, COMMAND_LEVEL, spec.key]
        if contact:
            levels.append(safe_id(contact))
        return "/".join(levels)

    def status_topic(self, gateway: str) -> str:
        """``<prefix>/<id>/control``: the outcome of the gateway's last command."""
        return f"{self._prefix}/{gateway}/{STATUS_LEVEL}"

    def is_command(self, topic: str) -> bool:
        """Whether ``topic`` is a command topic."""
        levels = topic.split("/")
        prefix = self._prefix.split("/")
        return (
            len(levels) > len(prefix) + 2
            and levels[: len(prefix)] == prefix
            and levels[len(prefix) + 1] == COMMAND_LEVEL
        )

    # --- taking commands in --------------------------------------------------------------

    async def handle(
        self, topic: str, payload: object, *, retain: bool, views: Iterable[GatewayView]
    ) -> None:
        """Take a message from a command topic: start its write, or say why not. Never
        raises: a command never ends the sink's connection."""
        try:
            await self._handle(topic, payload, retain=retain, views=views)
        except Exception:  # logged; the next message is taken all the same
            _LOGGER.exception("MQTT command on %s failed", topic)

    async def _handle(
        self, topic: str, payload: object, *, retain: bool, views: Iterable[GatewayView]
    ) -> None:
        levels = topic.split("/")[len(self._prefix.split("/")) :]
        gateway, path = levels[0], levels[2:]
        view = next((v for v in views if v.topic_id == gateway), None)
        if view is None or self._closed:
            # Another poller's gateway (shards share a broker), or not yet known.
            _LOGGER.debug("MQTT command on %s: no gateway %s here", topic, gateway)
            return
        text, name = _text(payload), "/".join(path)
        spec = COMMANDS.get(path[0])
        if retain:
            _LOGGER.warning(
                "gateway %s: retained MQTT command %s=%s ignored: publish commands without "
                "the retain flag",
                view.key,
                name,
                text,
            )
            await self._report(
                gateway, name, spec, text, "ignored", message="a retained command is never run"
            )
            return
        try:
            command = _command(view, spec, path, text)
        except ControlValidationError as err:
            await self._report(gateway, name, spec, text, "invalid", message=str(err))
            return
        await self._submit(command)

    async def _submit(self, command: Command) -> None:
        """Queue ``command``, replacing an older one of its key that has not started."""
        key = command.key
        older = self._queued.pop(key, None)
        self._queued[key] = command
        if key not in self._tasks:
            self._tasks[key] = asyncio.get_running_loop().create_task(
                self._drain(key), name=f"enphase-local mqtt command {command.name}"
            )
        if older is not None:
            await self._report_for(older, "superseded", message="a newer command came first")

    async def _drain(self, key: tuple[str, str, str]) -> None:
        """Run the commands of ``key`` one after the other, until none waits."""
        try:
            while (command := self._queued.pop(key, None)) is not None:
                await self._run(command)
        finally:
            self._tasks.pop(key, None)

    async def _run(self, command: Command) -> None:
        spec = command.spec
        try:
            result = await self._control(command.host, spec.control, **command.arguments)
        except ControlNotAppliedError as err:
            await self._report_for(command, "not_applied", result=err.result, message=str(err))
        except EnphaseError as err:
            await self._report_for(command, _outcome(err), message=str(err))
        except Exception as err:  # a command never ends the sink's loop
            _LOGGER.exception("gateway %s: MQTT command %s failed", command.host, command.name)
            await self._report_for(command, "error", message=f"{type(err).__name__}: {err}")
        else:
            status = "applied" if result.applied else "not_applied"
            await self._report_for(command, status, result=result)

    # --- outcomes ------------------------------------------------------------------------

    async def _report_for(
        self,
        command: Command,
        status: str,
        *,
        result: ControlResult | None = None,
        message: str | None = None,
    ) -> None:
        await self._report(
            command.gateway,
            command.name,
            command.spec,
            command.payload,
            status,
            requested=dict(command.arguments),
            expected=None if result is None else dict(result.requested),
            observed=None if result is None else dict(result.observed),
            seconds_to_apply=None if result is None else result.seconds_to_apply,
            message=message,
        )

    async def _report(
        self,
        gateway: str,
        name: str,
        spec: CommandSpec | None,
        payload: str | None,
        status: str,
        *,
        requested: Mapping[str, Any] | None = None,
        expected: Mapping[str, Any] | None = None,
        observed: Mapping[str, Any] | None = None,
        seconds_to_apply: float | None = None,
        message: str | None = None,
    ) -> None:
        if message is None and observed is not None:
            message = f"read back: {describe(observed)}"
        log = _LOGGER.info if status in ("applied", "superseded") else _LOGGER.warning
        log("gateway %s: MQTT command %s=%s: %s (%s)", gateway, name, payload, status, message)
        body = {
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "command": name,
            "control": None if spec is None else spec.control,
            "payload": payload,
            "status": status,
            "requested": requested,
            "expected": expected,
            "observed": observed,
            "seconds_to_apply": seconds_to_apply,
            "message": message,
        }
        try:
            await self._publish(self.status_topic(gateway), orjson.dumps(body))
        except Exception as err:  # noqa: BLE001 - the broker may be gone; the outcome is logged
            _LOGGER.warning(
                "gateway %s: the MQTT command's status was not published: %s", gateway, err
            )

    # --- Home Assistant ------------------------------------------------------------------

    def discovery_configs(
        self, view: GatewayView, state: Mapping[str, Any], base: Mapping[str, Any]
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """``(component, object_id, config)`` of each command entity whose value ``state``
        (the gateway's state JSON) shows; ``base`` holds what every entity of the gateway
        carries (state topic, availability, device)."""
        for spec, contact, object_id in entities(view, state):
            config = {
                **base,
                "name": spec.name.format(contact=contact),
                "unique_id": f"enphase_local_{view.topic_id}_{object_id}",
                "command_topic": self.command_topic(view, spec, contact),
                "qos": 1,
                "retain": False,
                **spec.extra,
            }
            if contact:
                key = safe_id(contact)
                config["value_template"] = _on_off(
                    "{'closed': 'ON', 'open': 'OFF'}", f"value_json.dry_contacts.get('{key}')"
                )
            yield spec.component, object_id, config

    async def close(self) -> None:
        """Take no more commands; drop those waiting; cancel and await those running."""
        self._closed = True
        for command in self._queued.values():
            _LOGGER.warning(
                "gateway %s: MQTT command %s=%s dropped: stopping",
                command.gateway,
                command.name,
                command.payload,
            )
        self._queued.clear()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def entities(view: GatewayView, state: Mapping[str, Any]) -> Iterator[tuple[CommandSpec, str, str]]:
    """``(spec, contact, object_id)`` of each command entity the gateway has: where the
    state JSON knows the value it shows (the hardware is there and was read)."""
    for spec in COMMANDS.values():
        if not spec.per_contact:
            if state.get(spec.state_key) is not None:
                yield spec, "", spec.object_id
            continue
        contacts = state.get(spec.state_key) or {}
        for contact in sorted(view.ensemble.contacts):
            if contacts.get(safe_id(contact)) is not None:
                yield spec, contact, f"{spec.object_id}_{safe_id(contact).lower()}"


def _command(
    view: GatewayView, spec: CommandSpec | None, path: list[str], text: str | None
) -> Command:
    """The command a message on ``<prefix>/<id>/set/<path>`` asks for; raises
    ControlValidationError."""
    if text is None:
        raise ControlValidationError("the payload is not short UTF-8 text")
    if spec is None:
        raise ControlValidationError(
            f"unknown command {'/'.join(path)!r} (known: {', '.join(COMMANDS)})"
        )
    arguments, rest, subject = spec.parse(text), path[1:], ""
    if spec.per_contact:
        if len(rest) != 1 or not rest[0]:
            raise ControlValidationError(
                f"name the dry contact: {spec.key}/<id>, e.g. {spec.key}/NC1"
            )
        # The gateway's own spelling, where the view knows it; else as given (the write
        # checks it against the gateway's contacts).
        subject = next((c for c in view.ensemble.contacts if safe_id(c) == rest[0]), rest[0])
        arguments = {"contact_id": subject, **arguments}
    elif rest:
        raise ControlValidationError(f"{spec.key} takes no level after it")
    return Command(
        gateway=view.topic_id,
        host=view.host,
        spec=spec,
        subject=subject,
        payload=text,
        arguments=arguments,
    )


def _text(payload: object) -> str | None:
    """The payload as text, or None when it is not short UTF-8 text."""
    if isinstance(payload, str):
        raw = payload.encode()
    elif isinstance(payload, bytes | bytearray):
        raw = bytes(payload)
    elif isinstance(payload, int | float) and not isinstance(payload, bool):
        raw = str(payload).encode()
    else:
        return None
    if len(raw) > MAX_PAYLOAD_BYTES:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
