"""The gateway's control writes (the wire contract in ``CONTROL-WIRE.md``) and their faults.

| write | body | changes |
|---|---|---|
| ``POST /ivp/ensemble/relay`` | ``{"mains_admin_state"}`` | the grid relay |
| ``POST /ivp/ensemble/dry_contacts`` | ``{"dry_contacts": {"id", "status"}}`` | a contact |
| ``POST /ivp/ss/dry_contact_settings`` | ``{"dry_contacts": {<whole entry>}}`` | its settings |
| ``POST /ivp/ss/gen_mode`` | ``{"gen_cmd"}`` (``on``, ``off``, ``auto``) | the generator |
| ``PUT /admin/lib/tariff`` | ``{"tariff": {<whole tariff>}}`` | storage settings, peak hours |
| ``PUT /admin/lib/acb_config`` | ``{"acb_sleep": [<entries>]}`` | AC Battery sleep |
| ``DELETE /admin/lib/acb_config`` | ``{"acb_sleep": [{"serial_num"}]}`` | AC Battery wake |

An ``acb_sleep`` entry is ``{"serial_num", "sleep_min_soc", "sleep_max_soc"}``; a ``PUT``
puts the AC Batteries it lists to sleep (the others keep their state), a ``DELETE`` wakes the
ones it lists (pyenphase wakes them so; no capture holds a non-empty list).

A write answers 200 with the state it stored. A body that is not JSON, has other keys than
these (a settings entry or tariff: other keys than the GET shows, or a value of another JSON
type) answers **500** with a plain-text reason, as real gateways crash on a partial body; an
unknown contact id or AC Battery serial, or a value out of range (a mode or state not listed,
a charge outside 0-100 %), answers 400; a gateway without the hardware answers its 404 (no
grid relay, no System Controller for the dry contacts, no generator, no AC Battery). The
tariff is written on any gateway that serves it (its rates are not hardware).

The faults (:class:`ControlFaults`, off by default) mimic what users meet: a write answered
200 and ignored (``ignore_writes``), the cloud putting the previous storage settings back a
while after a tariff write (``cloud_overwrite``), and every dry contact reading open for a
while after a settings change (``dry_contact_settle``).
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable, Mapping

import attrs

from enphase_local.simulator import settings
from enphase_local.simulator.contacts import DryContactBank
from enphase_local.simulator.grid import OPEN_S, GeneratorMode
from enphase_local.simulator.physics import Plant
from enphase_local.simulator.profiles import Profile
from enphase_local.simulator.snapshot import Snapshot
from enphase_local.simulator.storage import PeakSchedule, StorageMode, StorageSettings
from enphase_local.simulator.wire import JsonValue, compact, dumps

RELAY = "/ivp/ensemble/relay"
DRY_CONTACTS = "/ivp/ensemble/dry_contacts"
DRY_CONTACT_SETTINGS = "/ivp/ss/dry_contact_settings"
GEN_MODE = "/ivp/ss/gen_mode"
TARIFF = "/admin/lib/tariff"
ACB_CONFIG = "/admin/lib/acb_config"
#: The method of each write path.
METHODS = {
    RELAY: "POST",
    DRY_CONTACTS: "POST",
    DRY_CONTACT_SETTINGS: "POST",
    GEN_MODE: "POST",
    TARIFF: "PUT",
    ACB_CONFIG: "PUT",
}
#: Every write route, (method, path): the writes above and the AC Battery wake.
ROUTES = frozenset({*((method, path) for path, method in METHODS.items()), ("DELETE", ACB_CONFIG)})
_OPEN_CLOSED = ("open", "closed")


class WriteRefused(Exception):
    """A write the gateway refuses, with the status it answers."""

    #: HTTP status.
    status = 400


class MalformedBody(WriteRefused):
    """Not JSON, the wrong shape, or a partial entry: the gateway answers 500."""

    status = 500


class HardwareAbsent(WriteRefused):
    """The gateway lacks what the write would switch: it answers its 404."""

    status = 404


@attrs.define
class ControlFaults:
    """The write faults of one gateway (all off by default)."""

    #: Write paths answered 200 that change nothing.
    ignored_paths: set[str] = attrs.field(factory=set)
    #: After a tariff write the cloud puts the previous storage settings back this many
    #: simulated seconds later (None: it does not).
    cloud_overwrite_s: float | None = None
    #: After a dry contact settings write every contact reads open for this many simulated
    #: seconds (None: they do not).
    dry_contact_settle_s: float | None = None
    #: Faults applied so far, per kind (``ignore_writes``, ``cloud_overwrite``,
    #: ``dry_contact_settle``).
    served: collections.Counter[str] = attrs.field(factory=collections.Counter)

    def ignore_writes(self, path: str = TARIFF, *, enabled: bool = True) -> None:
        """Answer writes to ``path`` with 200 and change nothing (or stop doing so)."""
        if path not in METHODS:
            raise ValueError(f"not a write path: {path!r} (known: {', '.join(METHODS)})")
        if enabled:
            self.ignored_paths.add(path)
        else:
            self.ignored_paths.discard(path)

    def set_cloud_overwrite(self, delay_s: float | None) -> None:
        """Put the previous storage settings back ``delay_s`` after a tariff write (None: off)."""
        if delay_s is not None and delay_s < 0:
            raise ValueError("the delay must not be negative")
        self.cloud_overwrite_s = delay_s

    def set_dry_contact_settle(self, seconds: float | None) -> None:
        """Read every dry contact open for ``seconds`` after a settings write (None: off)."""
        if seconds is not None and seconds < 0:
            raise ValueError("the time must not be negative")
        self.dry_contact_settle_s = seconds

    def clear(self) -> None:
        """Switch every write fault off."""
        self.ignored_paths.clear()
        self.cloud_overwrite_s = self.dry_contact_settle_s = None

    def active(self) -> dict[str, object]:
        """A JSON-friendly description of the switches that are on."""
        state: dict[str, object] = {}
        if self.ignored_paths:
            state["ignore_writes"] = sorted(self.ignored_paths)
        if self.cloud_overwrite_s is not None:
            state["cloud_overwrite"] = {"delay_s": self.cloud_overwrite_s}
        if self.dry_contact_settle_s is not None:
            state["dry_contact_settle"] = {"seconds": self.dry_contact_settle_s}
        return state


@attrs.frozen
class CloudRevert:
    """Storage settings the cloud will put back, and when."""

    #: When, simulated Unix seconds.
    at: float
    #: The settings before the first write it undoes.
    settings: StorageSettings


# --- body checks ----------------------------------------------------------------------------


def _parse(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise MalformedBody("the body is not JSON") from err


def _object(value: object, keys: frozenset[str] | set[str], what: str) -> dict[str, object]:
    """``value`` as an object with exactly these keys, else the gateway's 500."""
    if not isinstance(value, dict):
        raise MalformedBody(f"{what} must be a JSON object")
    missing, extra = set(keys) - set(value), set(value) - set(keys)
    if missing or extra:
        raise MalformedBody(f"{what}: missing {sorted(missing)}, unexpected {sorted(extra)}")
    return value


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "null"


def _like(value: object, model: Mapping[str, JsonValue], what: str) -> dict[str, object]:
    """``value`` as an object with the keys of ``model``, each of the same JSON type."""
    entry = _object(value, set(model), what)
    for key, old in model.items():
        if _kind(entry[key]) != _kind(old):
            raise MalformedBody(f"{what}: {key} must be a {_kind(old)}")
    return entry


def _choice(value: object, allowed: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str):
        raise MalformedBody(f"{what} must be a string")
    if value not in allowed:
        raise WriteRefused(f"{what} must be one of {', '.join(allowed)}")
    return value


def _percent(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedBody(f"{what} must be a number")
    if not 0 <= value <= 100:
        raise WriteRefused(f"{what} must be 0 to 100")
    return value


# --- the writes -----------------------------------------------------------------------------


class Writes:
    """The write endpoints of one simulated gateway, over its plant and dry contacts."""

    def __init__(self, profile: Profile, plant: Plant, contacts: DryContactBank) -> None:
        self._profile = profile
        self._plant = plant
        self._contacts = contacts
        #: The fault switches.
        self.faults = ControlFaults()
        #: The ``tariff`` object as last written (None: never written).
        self.tariff: dict[str, JsonValue] | None = None
        #: What the cloud will put back, and when (None: nothing pending).
        self.revert: CloudRevert | None = None
        self._handlers: dict[str, Callable[[object, Snapshot, bool], JsonValue]] = {
            RELAY: self._relay,
            DRY_CONTACTS: self._dry_contact,
            DRY_CONTACT_SETTINGS: self._dry_contact_settings,
            GEN_MODE: self._gen_mode,
            TARIFF: self._tariff,
            ACB_CONFIG: self._acb_config,
        }

    def __repr__(self) -> str:
        return f"Writes(faults={self.faults.active()}, revert={self.revert})"

    def handle(self, path: str, raw: bytes, snapshot: Snapshot, *, method: str = "") -> bytes:
        """Apply one write (its state brought to now in ``snapshot``); the body to answer.

        Raises :class:`WriteRefused` (or a subclass) with the status to answer instead.
        """
        absent = self._absent(path)
        if absent is not None:
            raise HardwareAbsent(absent)
        handler = (
            self._acb_wake if (method, path) == ("DELETE", ACB_CONFIG) else self._handlers[path]
        )
        ignored = path in self.faults.ignored_paths
        value = handler(_parse(raw), snapshot, not ignored)
        if ignored:
            self.faults.served["ignore_writes"] += 1
        return compact(value) if path.startswith("/admin/") else dumps(value)

    def _absent(self, path: str) -> str | None:
        """What the gateway lacks to take this write (None: nothing)."""
        profile = self._profile
        if path == RELAY and not profile.grid_relay:
            return "no System Controller or Meter Collar"
        if path in (DRY_CONTACTS, DRY_CONTACT_SETTINGS) and not profile.system_controller:
            return "no System Controller, no dry contacts"
        if path == GEN_MODE and not profile.generator_w:
            return "no generator"
        if path == ACB_CONFIG and not profile.ac_batteries:
            return "no AC Battery"
        return None

    # --- the cloud ----------------------------------------------------------------------

    def cloud_due(self, now: float) -> float | None:
        """When the pending cloud overwrite happens, if it is due by ``now`` (switching the
        fault off cancels it)."""
        if self.faults.cloud_overwrite_s is None:
            self.revert = None
        revert = self.revert
        return revert.at if revert is not None and revert.at <= now else None

    def apply_cloud(self) -> None:
        """The cloud puts the storage settings back."""
        if self.revert is not None:
            self._plant.storage = self.revert.settings
            self.revert = None
            self.faults.served["cloud_overwrite"] += 1

    # --- handlers (each validates everything, and changes state only when ``apply``) ----

    def _relay(self, body: object, snapshot: Snapshot, apply: bool) -> JsonValue:
        state = _choice(
            _object(body, {"mains_admin_state"}, "the body")["mains_admin_state"],
            _OPEN_CLOSED,
            "mains_admin_state",
        )
        if apply:
            self._plant.relay.command(state == "closed", snapshot.now, open_delay_s=OPEN_S)
        return {"mains_admin_state": state}

    def _contact_id(self, entry: Mapping[str, object]) -> str:
        contact_id = entry["id"]
        if not isinstance(contact_id, str):
            raise MalformedBody("the dry contact id must be a string")
        if contact_id not in self._contacts.entries:
            raise WriteRefused(f"unknown dry contact {contact_id!r}")
        return contact_id

    def _dry_contact(self, body: object, snapshot: Snapshot, apply: bool) -> JsonValue:
        outer = _object(body, {"dry_contacts"}, "the body")
        entry = _object(outer["dry_contacts"], {"id", "status"}, "dry_contacts")
        contact_id = self._contact_id(entry)
        status = _choice(entry["status"], _OPEN_CLOSED, "status")
        if apply:
            self._contacts.command(contact_id, status)
        del snapshot
        return {"dry_contacts": {"id": contact_id, "status": status}}

    def _dry_contact_settings(self, body: object, snapshot: Snapshot, apply: bool) -> JsonValue:
        outer = _object(body, {"dry_contacts"}, "the body")
        given = outer["dry_contacts"]
        if not isinstance(given, dict) or "id" not in given:
            raise MalformedBody("dry_contacts must be one whole contact entry with its id")
        contact_id = self._contact_id(given)
        entry = _like(given, self._contacts.entries[contact_id], f"dry contact {contact_id}")
        for key in ("soc_low", "soc_high"):
            _percent(entry[key], key)
        stored: dict[str, JsonValue] = json.loads(json.dumps(entry))
        if apply:
            settle = self.faults.dry_contact_settle_s or 0.0
            self._contacts.configure(stored, now=snapshot.now, settle_s=settle)
            if settle:
                self.faults.served["dry_contact_settle"] += 1
        return {"dry_contacts": stored}

    def _gen_mode(self, body: object, snapshot: Snapshot, apply: bool) -> JsonValue:
        command = _choice(
            _object(body, {"gen_cmd"}, "the body")["gen_cmd"],
            tuple(GeneratorMode),
            "gen_cmd",
        )
        if apply:
            generator = self._plant.generator
            generator.mode = GeneratorMode(command)
            generator.update(self._plant.soc_pct, snapshot.connected)
        return {"gen_cmd": command}

    def _tariff(self, body: object, snapshot: Snapshot, apply: bool) -> JsonValue:
        current = settings.tariff_object(snapshot)
        tariff = _like(_object(body, {"tariff"}, "the body")["tariff"], current, "tariff")
        stored: dict[str, JsonValue] = json.loads(json.dumps(tariff))
        old_storage = current.get("storage_settings")
        new = self._plant.storage
        if isinstance(old_storage, Mapping):
            storage = _like(stored["storage_settings"], old_storage, "storage_settings")
            new = StorageSettings(
                mode=StorageMode(
                    _choice(storage["mode"], tuple(StorageMode), "storage_settings.mode")
                ),
                reserve_pct=_percent(storage["reserved_soc"], "storage_settings.reserved_soc"),
                charge_from_grid=bool(storage["charge_from_grid"]),
            )
        if apply:
            self._store_tariff(stored, new, snapshot.now)
        return {"tariff": stored}

    def _store_tariff(
        self, tariff: dict[str, JsonValue], storage: StorageSettings, now: float
    ) -> None:
        previous = self._plant.storage
        self.tariff = tariff
        self._plant.storage = storage
        self._plant.peak_hours = PeakSchedule.from_seasons(tariff.get("seasons"))
        delay = self.faults.cloud_overwrite_s
        if delay is not None:
            # The cloud restores what it knew before the first write it has not undone yet.
            kept = previous if self.revert is None else self.revert.settings
            self.revert = CloudRevert(at=now + delay, settings=kept)

    def _acb_config(self, body: object, snapshot: Snapshot, apply: bool) -> JsonValue:
        del snapshot
        entries = _object(body, {"acb_sleep"}, "the body")["acb_sleep"]
        if not isinstance(entries, list):
            raise MalformedBody("acb_sleep must be a list")
        known = self._plant.battery_serials[: self._profile.ac_batteries]
        sleep: dict[str, tuple[float, float]] = {}
        for given in entries:
            entry = _object(given, {"serial_num", "sleep_min_soc", "sleep_max_soc"}, "acb_sleep")
            serial = entry["serial_num"]
            if not isinstance(serial, str):
                raise MalformedBody("serial_num must be a string")
            if serial not in known or serial in sleep:
                raise WriteRefused(f"unknown or repeated AC Battery {serial!r}")
            low = _percent(entry["sleep_min_soc"], "sleep_min_soc")
            high = _percent(entry["sleep_max_soc"], "sleep_max_soc")
            if low > high:
                raise WriteRefused("sleep_min_soc must not exceed sleep_max_soc")
            sleep[serial] = (low, high)
        if apply:
            self._plant.acb_sleep = {**self._plant.acb_sleep, **sleep}
        return {"acb_sleep": settings.acb_sleep_entries(sleep)}

    def _acb_wake(self, body: object, snapshot: Snapshot, apply: bool) -> JsonValue:
        del snapshot
        entries = _object(body, {"acb_sleep"}, "the body")["acb_sleep"]
        if not isinstance(entries, list):
            raise MalformedBody("acb_sleep must be a list")
        known = self._plant.battery_serials[: self._profile.ac_batteries]
        woken: list[str] = []
        for given in entries:
            serial = _object(given, {"serial_num"}, "acb_sleep")["serial_num"]
            if not isinstance(serial, str):
                raise MalformedBody("serial_num must be a string")
            if serial not in known or serial in woken:
                raise WriteRefused(f"unknown or repeated AC Battery {serial!r}")
            woken.append(serial)
        if apply:
            self._plant.acb_sleep = {
                serial: band
                for serial, band in self._plant.acb_sleep.items()
                if serial not in woken
            }
        return {"acb_sleep": [{"serial_num": serial} for serial in woken]}
