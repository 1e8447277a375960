"""Each control write, declared once: its input checks, the hardware it needs, the whole body
it sends (built from what the gateway reads now), and how its effect is read back.

The wire contract (``POST``/``PUT`` path, body, where the effect shows):

| method | write | read back from |
|---|---|---|
| ``set_grid_relay`` | ``POST /ivp/ensemble/relay`` ``{"mains_admin_state"}`` | ``/ivp/ensemble/relay`` |
| ``set_dry_contact`` | ``POST /ivp/ensemble/dry_contacts`` ``{"dry_contacts": {"id", "status"}}`` | ``/ivp/ensemble/dry_contacts`` |
| ``update_dry_contact_settings`` | ``POST /ivp/ss/dry_contact_settings`` ``{"dry_contacts": {<whole entry>}}`` | ``/ivp/ss/dry_contact_settings`` |
| ``set_generator_mode`` | ``POST /ivp/ss/gen_mode`` ``{"gen_cmd"}`` | ``/ivp/ss/gen_mode`` |
| ``set_storage_mode``, ``set_reserve``, ``set_charge_from_grid`` | ``PUT /admin/lib/tariff`` ``{"tariff": {<whole tariff>}}`` | ``/admin/lib/tariff`` |
| ``set_acb_sleep`` | ``PUT /admin/lib/acb_config`` ``{"acb_sleep": [{"serial_num", "sleep_min_soc", "sleep_max_soc"}]}`` | ``/admin/lib/acb_config`` |
| ``wake_acb`` | ``DELETE /admin/lib/acb_config`` ``{"acb_sleep": [{"serial_num"}]}`` | ``/admin/lib/acb_config`` |

No capture holds a non-empty ``acb_sleep`` list: the entry is inferred from the inventory's
AC Battery keys, and waking with ``DELETE`` follows pyenphase. A ``PUT`` adds to (or updates)
the sleeping AC Batteries; the others keep their state.
"""  # noqa: E501 - the table's rows

from __future__ import annotations

import copy
import enum
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Protocol, TypeVar

import attrs

from enphase_local import endpoints as ep
from enphase_local.control.result import DRY_CONTACT_SETTLE_S
from enphase_local.endpoints import Endpoint
from enphase_local.errors import ControlValidationError, NotSupportedError, PayloadError
from enphase_local.models import (
    AcbConfig,
    DryContactAction,
    DryContacts,
    DryContactSetting,
    DryContactSettings,
    DryContactState,
    DryContactType,
    EnsembleInventory,
    GeneratorMode,
    GridRelay,
    StorageMode,
    Tariff,
)
from enphase_local.parsing.converter import WIRE_NAMES

T = TypeVar("T")

RELAY_PATH: Final = ep.GRID_RELAY.path
DRY_CONTACTS_PATH: Final = ep.DRY_CONTACTS.path
DRY_CONTACT_SETTINGS_PATH: Final = ep.DRY_CONTACT_SETTINGS.path
GEN_MODE_PATH: Final = ep.GENERATOR_MODE.path
TARIFF_PATH: Final = ep.TARIFF.path
ACB_CONFIG_PATH: Final = ep.ACB_CONFIG.path

#: Storage modes by the names the API takes (``savings`` is ``economy`` on the wire).
STORAGE_MODES: Final[Mapping[str, StorageMode]] = {
    "backup": StorageMode.BACKUP,
    "self-consumption": StorageMode.SELF_CONSUMPTION,
    "savings": StorageMode.SAVINGS,
}
#: Generator commands.
GENERATOR_MODES: Final = ("on", "off", "auto")


class StateReader(Protocol):
    """What preparing a write needs of the session: reads, nothing else."""

    @property
    def host(self) -> str:
        """The gateway's host, for messages."""
        ...

    async def fetch(self, endpoint: Endpoint[T]) -> T:
        """Read and parse an endpoint."""
        ...

    async def read_document(self, endpoint: Endpoint[T]) -> tuple[T, Any]:
        """Read an endpoint once: its model and its decoded JSON, as sent."""
        ...


@attrs.frozen(kw_only=True)
class Draft:
    """A write ready to send: what ``prepare`` returns."""

    #: The JSON body.
    body: Mapping[str, Any]
    #: What should read back.
    requested: Mapping[str, Any]
    #: The same, read before the write.
    before: Mapping[str, Any]


#: Reads back what a write changed, from its read endpoint's model: (model, requested).
Observe = Callable[[Any, Mapping[str, Any]], dict[str, Any]]


@attrs.frozen(kw_only=True)
class ControlSpec:
    """One control write."""

    #: The session method, e.g. ``set_reserve``.
    name: str
    #: ``POST``, ``PUT`` or ``DELETE``.
    method: str
    #: Where the write goes.
    path: str
    #: Where its effect is read back.
    read: Endpoint[Any]
    #: Checks the input (before anything is sent), reads the gateway and builds the body:
    #: ``prepare(reader, **arguments)``.
    prepare: Callable[..., Awaitable[Draft]]
    #: The read-back values of the keys ``requested`` names.
    observe: Observe
    #: Keys that show at once when the write arrives, so that reading the old value proves
    #: it did not (None: every key; empty: none, so the write is never sent twice).
    immediate: tuple[str, ...] | None = None
    #: Keys the poller keeps watching for a revert (None: every key).
    watched: tuple[str, ...] | None = None
    #: Whether the slow wait applies (the grid relay, the dry contacts).
    slow: bool = False
    #: An endpoint whose values the write disturbs for a while (name, seconds at most on
    #: real gateways).
    disturbs: tuple[str, float] | None = None
    #: Whether a reading of ``read`` is what a disturbance looks like (every dry contact
    #: open): while the endpoint is disturbed, such a reading proves nothing.
    unsettled: Callable[[Any], bool] | None = None

    def watched_keys(self, requested: Mapping[str, Any]) -> tuple[str, ...]:
        """The keys of ``requested`` the poller watches."""
        return tuple(requested) if self.watched is None else self.watched

    def immediate_keys(self, requested: Mapping[str, Any]) -> tuple[str, ...]:
        """The keys of ``requested`` that show at once."""
        return tuple(requested) if self.immediate is None else self.immediate

    def subject(self, requested: Mapping[str, Any]) -> str:
        """What the write is about within its endpoint: a contact id, a serial, or ``""``."""
        return str(requested.get("id") or requested.get("serial_number") or "")


# --- input checks (no I/O) --------------------------------------------------------------


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ControlValidationError(f"{name} must be True or False, not {value!r}")
    return value


def _number(value: object, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ControlValidationError(f"{name} must be a number, not {value!r}")
    if not low <= value <= high:
        raise ControlValidationError(f"{name} must be {low:g} to {high:g}, not {value:g}")
    return float(value)


def _percent(value: object, name: str) -> float:
    return _number(value, name, 0.0, 100.0)


def _choice(value: object, allowed: Sequence[str], name: str) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if not isinstance(value, str) or value not in allowed:
        raise ControlValidationError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _name(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ControlValidationError(f"{name} must be a non-empty text, not {value!r}")
    return value.strip()


def _plain(value: object) -> object:
    """A model value as JSON shows it: enum members by value, tuples as lists."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def _wire_number(value: float, old: object) -> int | float:
    """``value`` as the gateway sent the old one: a whole number stays one."""
    if isinstance(old, int) and not isinstance(old, bool) and value.is_integer():
        return int(value)
    return value


# --- hardware -----------------------------------------------------------------------------


async def _inventory(reader: StateReader) -> EnsembleInventory:
    try:
        return await reader.fetch(ep.ENSEMBLE_INVENTORY)
    except NotSupportedError:
        return EnsembleInventory()


async def _require_controller(reader: StateReader, path: str, what: str, *, collar: bool) -> None:
    inventory = await _inventory(reader)
    if inventory.system_controllers or (collar and inventory.collars):
        return
    hardware = "IQ System Controller or Meter Collar" if collar else "IQ System Controller"
    raise NotSupportedError(
        f"gateway {reader.host} has no {hardware} in {ep.ENSEMBLE_INVENTORY.path}: "
        f"{what} cannot be switched; nothing was sent",
        endpoint=path,
    )


def _unsupported(reader: StateReader, path: str, text: str) -> NotSupportedError:
    return NotSupportedError(f"gateway {reader.host}: {text}; nothing was sent", endpoint=path)


# --- grid relay ---------------------------------------------------------------------------


def _observe_relay(relay: GridRelay, requested: Mapping[str, Any]) -> dict[str, Any]:
    del requested
    return {
        "mains_admin_state": _plain(relay.mains_admin_state),
        "mains_oper_state": _plain(relay.mains_oper_state),
    }


async def _prepare_relay(reader: StateReader, *, connected: bool) -> Draft:
    state = "closed" if _flag(connected, "connected") else "open"
    await _require_controller(reader, RELAY_PATH, "the grid relay", collar=True)
    relay = await reader.fetch(ep.GRID_RELAY)
    return Draft(
        body={"mains_admin_state": state},
        requested={"mains_admin_state": state, "mains_oper_state": state},
        before=_observe_relay(relay, {}),
    )


# --- dry contacts -------------------------------------------------------------------------


def _known_id(wanted: str, known: Sequence[str], reader: StateReader, path: str) -> str:
    """The gateway's spelling of contact ``wanted`` (ids match without regard to case)."""
    for contact_id in known:
        if contact_id.casefold() == wanted.casefold():
            return contact_id
    if not known:
        raise _unsupported(reader, path, "it reports no dry contacts")
    raise ControlValidationError(
        f"gateway {reader.host} has no dry contact {wanted!r} (it has {', '.join(known)})"
    )


def _all_open(contacts: DryContacts) -> bool:
    """Whether every contact reads open, as all do while a settings change settles."""
    return all(contact.state is DryContactState.OPEN for contact in contacts.contacts)


def _observe_contact(contacts: DryContacts, requested: Mapping[str, Any]) -> dict[str, Any]:
    states = {contact.id: _plain(contact.state) for contact in contacts.contacts}
    return {key: states.get(key) for key in requested}


async def _prepare_contact(reader: StateReader, contact_id: str, *, closed: bool) -> Draft:
    wanted = _name(contact_id, "the dry contact id")
    status = "closed" if _flag(closed, "closed") else "open"
    await _require_controller(reader, DRY_CONTACTS_PATH, "a dry contact", collar=False)
    contacts = await reader.fetch(ep.DRY_CONTACTS)
    known = _known_id(wanted, [c.id for c in contacts.contacts], reader, DRY_CONTACTS_PATH)
    requested = {known: status}
    return Draft(
        body={"dry_contacts": {"id": known, "status": status}},
        requested=requested,
        before=_observe_contact(contacts, requested),
    )


def _setting_number(low: float, high: float) -> Callable[[object, str], object]:
    return lambda value, name: _number(value, name, low, high)


def _setting_enum(kind: type[enum.Enum]) -> Callable[[object, str], object]:
    allowed = [member.value for member in kind if member.name != "UNKNOWN"]
    return lambda value, name: _choice(value, allowed, name)


def _setting_text(value: object, name: str) -> object:
    if not isinstance(value, str):
        raise ControlValidationError(f"{name} must be a text, not {value!r}")
    return value


def _setting_texts(value: object, name: str) -> object:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ControlValidationError(f"{name} must be a list of texts, not {value!r}")
    return [_setting_text(item, name) for item in value]


#: Every writable dry contact setting (the fields of :class:`DryContactSetting`) and how its
#: value is checked; the wire key comes from the converter's names.
DRY_CONTACT_FIELDS: Final[Mapping[str, Callable[[object, str], object]]] = {
    "type": _setting_enum(DryContactType),
    "load_name": _setting_text,
    "mode": _setting_text,
    "grid_action": _setting_enum(DryContactAction),
    "micro_grid_action": _setting_enum(DryContactAction),
    "generator_action": _setting_enum(DryContactAction),
    "safe_state_action": _setting_enum(DryContactAction),
    "charge_low_percent": _setting_number(0.0, 100.0),
    "charge_high_percent": _setting_number(0.0, 100.0),
    "essential_start_s": _setting_number(0.0, 86400.0),
    "essential_end_s": _setting_number(0.0, 86400.0),
    "priority": _setting_number(0.0, math.inf),
    "black_start": _setting_number(0.0, math.inf),
    "black_start_retries": _setting_number(0.0, math.inf),
    "action_retries": _setting_number(0.0, math.inf),
    "override": _flag,
    "manual_override": _flag,
    "pv_serial_numbers": _setting_texts,
    "pv_phases": _setting_texts,
}
#: Other names the settings are known by (the gateway's ``soc_low``/``soc_high``).
DRY_CONTACT_ALIASES: Final[Mapping[str, str]] = {
    "soc_low_percent": "charge_low_percent",
    "soc_high_percent": "charge_high_percent",
}
_SETTING_WIRE: Final = WIRE_NAMES[DryContactSetting]


def _setting_changes(fields: Mapping[str, object]) -> dict[str, object]:
    """The settings to change, by their model names, checked."""
    if not fields:
        raise ControlValidationError("name at least one dry contact setting to change")
    changes: dict[str, object] = {}
    for given, value in fields.items():
        name = DRY_CONTACT_ALIASES.get(given, given)
        check = DRY_CONTACT_FIELDS.get(name)
        if check is None:
            known = ", ".join(sorted((*DRY_CONTACT_FIELDS, *DRY_CONTACT_ALIASES)))
            raise ControlValidationError(f"unknown dry contact setting {given!r} (known: {known})")
        if name in changes:
            raise ControlValidationError(f"{given} is given twice")
        changes[name] = check(value, given)
    return changes


def _wire_value(value: object, old: object) -> object:
    if isinstance(value, bool) and isinstance(old, str):
        return "true" if value else "false"  # the gateway sends these flags as text
    if isinstance(value, float):
        return _wire_number(value, old)
    return value


def _settings_entry(raw: object, wanted: str, reader: StateReader) -> dict[str, Any]:
    path = DRY_CONTACT_SETTINGS_PATH
    entries = raw.get("dry_contacts") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("id"), str) for e in entries
    ):
        raise PayloadError("not a list of dry contact entries with ids", endpoint=path)
    known = _known_id(wanted, [e["id"] for e in entries], reader, path)
    entry: dict[str, Any] = next(e for e in entries if e["id"] == known)
    return copy.deepcopy(entry)


def _observe_settings(settings: DryContactSettings, requested: Mapping[str, Any]) -> dict[str, Any]:
    wanted = requested.get("id")
    for setting in settings.contacts:
        if setting.id == wanted:
            return {
                key: setting.id if key == "id" else _plain(getattr(setting, key))
                for key in requested
            }
    return {}


async def _prepare_settings(reader: StateReader, contact_id: str, **fields: object) -> Draft:
    wanted = _name(contact_id, "the dry contact id")
    changes = _setting_changes(fields)
    await _require_controller(reader, DRY_CONTACT_SETTINGS_PATH, "a dry contact", collar=False)
    settings, raw = await reader.read_document(ep.DRY_CONTACT_SETTINGS)
    entry = _settings_entry(raw, wanted, reader)
    for name, value in changes.items():
        key = _SETTING_WIRE.get(name, name)
        if key not in entry:
            raise _unsupported(
                reader,
                DRY_CONTACT_SETTINGS_PATH,
                f"dry contact {entry['id']}'s settings have no {key!r} key to change",
            )
        entry[key] = _wire_value(value, entry[key])
    requested = {"id": entry["id"], **changes}
    current = _observe_settings(
        settings, {"id": entry["id"], "charge_low_percent": 0, "charge_high_percent": 0}
    )
    low = changes.get("charge_low_percent", current.get("charge_low_percent"))
    high = changes.get("charge_high_percent", current.get("charge_high_percent"))
    if isinstance(low, float | int) and isinstance(high, float | int) and low > high:
        raise ControlValidationError(
            f"dry contact {entry['id']}: the low charge ({low:g} %) must not exceed the high "
            f"charge ({high:g} %)"
        )
    return Draft(
        body={"dry_contacts": entry},
        requested=requested,
        before=_observe_settings(settings, requested),
    )


# --- generator ----------------------------------------------------------------------------


def _observe_generator(mode: GeneratorMode, requested: Mapping[str, Any]) -> dict[str, Any]:
    del requested
    return {"command": _plain(mode.command)}


async def _prepare_generator(reader: StateReader, mode: str) -> Draft:
    command = _choice(mode, GENERATOR_MODES, "the generator mode")
    try:
        config = await reader.fetch(ep.GENERATOR_CONFIG)
        current = await reader.fetch(ep.GENERATOR_MODE)
    except NotSupportedError as err:
        raise _unsupported(reader, GEN_MODE_PATH, f"no generator ({err})") from err
    if not any(value is not None for value in attrs.astuple(config)) or current.command is None:
        raise _unsupported(reader, GEN_MODE_PATH, "no generator is configured")
    return Draft(
        body={"gen_cmd": command},
        requested={"command": command},
        before=_observe_generator(current, {}),
    )


# --- storage settings (the tariff) --------------------------------------------------------


def _mode_name(mode: StorageMode | None) -> str | None:
    if mode is None:
        return None
    for name, member in STORAGE_MODES.items():
        if member is mode:
            return name
    return mode.value


def _observe_tariff(tariff: Tariff, requested: Mapping[str, Any]) -> dict[str, Any]:
    storage = tariff.storage
    if storage is None:
        return {}
    values = {
        "mode": _mode_name(storage.mode),
        "reserve_percent": storage.reserve_percent,
        "charge_from_grid": storage.charge_from_grid,
    }
    return {key: values.get(key) for key in requested}


async def _prepare_tariff(reader: StateReader, name: str, wire_key: str, value: object) -> Draft:
    """The whole tariff with one storage setting changed: ``name`` in the model,
    ``wire_key`` in ``storage_settings``, ``value`` as the API takes it."""
    inventory = await _inventory(reader)
    if not inventory.batteries:
        raise _unsupported(
            reader,
            TARIFF_PATH,
            f"no IQ Battery in {ep.ENSEMBLE_INVENTORY.path}: the storage mode, reserve and "
            "charging from the grid apply to IQ Batteries",
        )
    tariff, raw = await reader.read_document(ep.TARIFF)
    body = raw.get("tariff") if isinstance(raw, dict) else None
    storage = body.get("storage_settings") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(storage, dict) or wire_key not in storage:
        raise _unsupported(reader, TARIFF_PATH, f"its tariff has no storage_settings.{wire_key}")
    whole = copy.deepcopy(body)
    if name == "mode":
        wire: object = STORAGE_MODES[str(value)].value
    elif isinstance(value, float):
        wire = _wire_number(value, storage[wire_key])
    else:
        wire = value
    whole["storage_settings"][wire_key] = wire
    requested = {name: value}
    return Draft(
        body={"tariff": whole},
        requested=requested,
        before=_observe_tariff(tariff, requested),
    )


async def _prepare_storage_mode(reader: StateReader, mode: str) -> Draft:
    name = _choice(mode, list(STORAGE_MODES), "the storage mode")
    return await _prepare_tariff(reader, "mode", "mode", name)


async def _prepare_reserve(reader: StateReader, *, percent: float) -> Draft:
    value = _percent(percent, "the reserve")
    return await _prepare_tariff(reader, "reserve_percent", "reserved_soc", value)


async def _prepare_charge_from_grid(reader: StateReader, enabled: bool) -> Draft:
    value = _flag(enabled, "enabled")
    return await _prepare_tariff(reader, "charge_from_grid", "charge_from_grid", value)


# --- AC Battery sleep ---------------------------------------------------------------------


def _observe_acb(config: AcbConfig, requested: Mapping[str, Any]) -> dict[str, Any]:
    serial = requested.get("serial_number")
    for entry in config.sleep:
        if entry.get("serial_num") == serial:
            return {
                "serial_number": serial,
                "sleep": True,
                "sleep_min_percent": entry.get("sleep_min_soc"),
                "sleep_max_percent": entry.get("sleep_max_soc"),
            }
    return {"serial_number": serial, "sleep": False}


async def _acb_config(reader: StateReader, serial: str) -> AcbConfig:
    """The sleep settings now (after checking that ``serial`` is an AC Battery here)."""
    try:
        inventory = await reader.fetch(ep.DEVICE_INVENTORY)
        known = [device.serial_number for device in inventory.ac_batteries]
    except NotSupportedError:
        known = []
    if not known:
        raise _unsupported(reader, ACB_CONFIG_PATH, f"no AC Battery in {ep.DEVICE_INVENTORY.path}")
    if serial not in known:
        raise ControlValidationError(
            f"gateway {reader.host} has no AC Battery {serial!r} (it has {', '.join(known)})"
        )
    return await reader.fetch(ep.ACB_CONFIG)


async def _prepare_acb_sleep(
    reader: StateReader, serial: str, *, min_percent: float, max_percent: float
) -> Draft:
    serial = _name(serial, "the AC Battery serial")
    low = _percent(min_percent, "min_percent")
    high = _percent(max_percent, "max_percent")
    if low > high:
        raise ControlValidationError(
            f"min_percent ({low:g}) must not exceed max_percent ({high:g})"
        )
    config = await _acb_config(reader, serial)
    requested = {
        "serial_number": serial,
        "sleep": True,
        "sleep_min_percent": low,
        "sleep_max_percent": high,
    }
    # Whole percentages go as whole numbers, as the inventory shows them.
    entry = {
        "serial_num": serial,
        "sleep_min_soc": _wire_number(low, 0),
        "sleep_max_soc": _wire_number(high, 0),
    }
    return Draft(
        body={"acb_sleep": [entry]},
        requested=requested,
        before=_observe_acb(config, requested),
    )


async def _prepare_acb_wake(reader: StateReader, serial: str) -> Draft:
    serial = _name(serial, "the AC Battery serial")
    config = await _acb_config(reader, serial)
    requested = {"serial_number": serial, "sleep": False}
    return Draft(
        body={"acb_sleep": [{"serial_num": serial}]},
        requested=requested,
        before=_observe_acb(config, requested),
    )


# --- the table ----------------------------------------------------------------------------

_SPECS = (
    ControlSpec(
        name="set_grid_relay",
        method="POST",
        path=RELAY_PATH,
        read=ep.GRID_RELAY,
        prepare=_prepare_relay,
        observe=_observe_relay,
        immediate=("mains_admin_state",),
        # The actual state also opens when the grid fails: only the command is watched.
        watched=("mains_admin_state",),
        slow=True,
    ),
    ControlSpec(
        name="set_dry_contact",
        method="POST",
        path=DRY_CONTACTS_PATH,
        read=ep.DRY_CONTACTS,
        prepare=_prepare_contact,
        observe=_observe_contact,
        # Contacts may read open for a while after a settings change: the old state proves
        # nothing, and neither does an open one then.
        immediate=(),
        slow=True,
        unsettled=_all_open,
    ),
    ControlSpec(
        name="update_dry_contact_settings",
        method="POST",
        path=DRY_CONTACT_SETTINGS_PATH,
        read=ep.DRY_CONTACT_SETTINGS,
        prepare=_prepare_settings,
        observe=_observe_settings,
        disturbs=(ep.DRY_CONTACTS.name, DRY_CONTACT_SETTLE_S),
    ),
    ControlSpec(
        name="set_generator_mode",
        method="POST",
        path=GEN_MODE_PATH,
        read=ep.GENERATOR_MODE,
        prepare=_prepare_generator,
        observe=_observe_generator,
    ),
    ControlSpec(
        name="set_storage_mode",
        method="PUT",
        path=TARIFF_PATH,
        read=ep.TARIFF,
        prepare=_prepare_storage_mode,
        observe=_observe_tariff,
    ),
    ControlSpec(
        name="set_reserve",
        method="PUT",
        path=TARIFF_PATH,
        read=ep.TARIFF,
        prepare=_prepare_reserve,
        observe=_observe_tariff,
    ),
    ControlSpec(
        name="set_charge_from_grid",
        method="PUT",
        path=TARIFF_PATH,
        read=ep.TARIFF,
        prepare=_prepare_charge_from_grid,
        observe=_observe_tariff,
    ),
    ControlSpec(
        name="set_acb_sleep",
        method="PUT",
        path=ACB_CONFIG_PATH,
        read=ep.ACB_CONFIG,
        prepare=_prepare_acb_sleep,
        observe=_observe_acb,
    ),
    ControlSpec(
        name="wake_acb",
        method="DELETE",
        path=ACB_CONFIG_PATH,
        read=ep.ACB_CONFIG,
        prepare=_prepare_acb_wake,
        observe=_observe_acb,
    ),
)

#: Every control write by its session method name.
CONTROLS: Final[Mapping[str, ControlSpec]] = {spec.name: spec for spec in _SPECS}
