"""The state of a battery site's hardware and settings, as the MQTT and Prometheus sinks show it.

From the latest reads of the System Controller and its neighbours: whether the site is on
the grid (the grid relay's actual position in ``/ivp/ensemble/relay``, ``/ivp/ensemble/status``
or the inventory's System Controller or Meter Collar), each dry contact's state, whether the
generator runs and the command it was given (``/ivp/ss/gen_mode``), and the storage mode,
backup reserve and charging from the grid of ``/admin/lib/tariff``.

Gateways without the hardware answer these endpoints all the same (a closed relay, four open
dry contacts, a generator that is ``present`` with an ``unknown`` relay on 7.x, storage
settings on sites without batteries: see the ``7.3.466`` and ``8.3.5433`` captures). So each
value is shown only where the hardware shows itself: the grid state where the inventory
lists a System Controller or Meter Collar, the dry contacts where it lists a System
Controller, the generator (and its command) where its relay state is known, storage mode,
reserve and charging from the grid where the site has batteries.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

import attrs

from enphase_local.models import (
    DryContacts,
    DryContactState,
    EnsembleInventory,
    EnsembleStatus,
    Generator,
    GeneratorCommand,
    GeneratorMode,
    GridRelay,
    RelayState,
    StorageMode,
    StorageSettings,
    Tariff,
)


class GridState(StrEnum):
    """Whether the site is on the grid (from the grid relay's actual position)."""

    #: Relay closed.
    ON_GRID = "on_grid"
    #: Relay open: the batteries (or a generator) form the grid.
    OFF_GRID = "off_grid"
    #: Relay still open, matching the grid's voltage and frequency before closing.
    SYNCHRONIZING = "synchronizing"


class GeneratorState(StrEnum):
    """Whether the generator supplies the site (from the generator relay's actual position)."""

    #: Relay closed: the generator supplies the site.
    RUNNING = "running"
    #: Relay open.
    OFF = "off"
    #: Relay open, matching the generator's voltage and frequency before closing.
    SYNCHRONIZING = "synchronizing"


#: The storage modes as the sinks name them (the gateway sends ``economy`` for savings).
STORAGE_MODES: Final = {
    StorageMode.BACKUP: "backup",
    StorageMode.SELF_CONSUMPTION: "self_consumption",
    StorageMode.SAVINGS: "savings",
}
#: The dry contact states the sinks show.
CONTACT_STATES: Final = (DryContactState.OPEN.value, DryContactState.CLOSED.value)

_GRID: Final = {
    RelayState.CLOSED: GridState.ON_GRID,
    RelayState.OPEN: GridState.OFF_GRID,
    RelayState.SYNCHRONIZING: GridState.SYNCHRONIZING,
}
_GENERATOR: Final = {
    RelayState.CLOSED: GeneratorState.RUNNING,
    RelayState.OPEN: GeneratorState.OFF,
    RelayState.SYNCHRONIZING: GeneratorState.SYNCHRONIZING,
}
#: A Meter Collar's own ``grid_state`` words.
_COLLAR_GRID: Final = {"on_grid": GridState.ON_GRID, "off_grid": GridState.OFF_GRID}


def _grid(relay: RelayState | None) -> GridState | None:
    return None if relay is None else _GRID.get(relay)


@attrs.define
class EnsembleView:
    """The latest grid, dry contact, generator and storage settings of one gateway."""

    #: Whether the ensemble inventory lists IQ Batteries.
    batteries_listed: bool = False
    #: Whether it lists an IQ System Controller.
    system_controller: bool = False
    #: Whether it lists an IQ Meter Collar.
    collar: bool = False
    #: The grid relay's position from the latest read that reports it.
    relay: GridState | None = None
    #: Each dry contact's state by id (``NC1``...), from the latest read.
    contacts: dict[str, DryContactState] = attrs.Factory(dict)
    #: The latest generator read.
    generator: Generator | None = None
    #: The latest storage settings (from the tariff).
    storage: StorageSettings | None = None
    #: The generator command in force (``/ivp/ss/gen_mode``), from the latest read.
    generator_command: GeneratorCommand | None = None

    def apply(self, model: Any) -> bool:
        """Take in a model the poller read; return whether it was one of these reads."""
        if isinstance(model, EnsembleInventory):
            self._inventory(model)
        elif isinstance(model, GridRelay):
            self.relay = _grid(model.mains_oper_state)
        elif isinstance(model, EnsembleStatus):
            if model.relay is not None:
                self.relay = _grid(model.relay.mains_oper_state)
        elif isinstance(model, DryContacts):
            self.contacts = {contact.id: contact.state for contact in model.contacts}
        elif isinstance(model, Generator):
            self.generator = model
        elif isinstance(model, Tariff):
            self.storage = model.storage
        elif isinstance(model, GeneratorMode):
            self.generator_command = model.command
        else:
            return False
        return True

    def _inventory(self, inventory: EnsembleInventory) -> None:
        self.batteries_listed = bool(inventory.batteries)
        self.system_controller = bool(inventory.system_controllers)
        self.collar = bool(inventory.collars)
        if inventory.system_controllers:
            self.relay = _grid(inventory.system_controllers[0].mains_oper_state)
        elif inventory.collars:
            self.relay = _COLLAR_GRID.get(inventory.collars[0].grid_state or "")

    @property
    def grid_state(self) -> GridState | None:
        """On or off grid, where a System Controller or Meter Collar can switch it."""
        return self.relay if self.system_controller or self.collar else None

    @property
    def generator_state(self) -> GeneratorState | None:
        """Whether the generator runs; None without one (its relay state unknown)."""
        generator = self.generator
        if generator is None or not generator.present:
            return None
        if generator.admin_state in (None, RelayState.UNKNOWN) or generator.state is None:
            return None
        return _GENERATOR.get(generator.state)

    def dry_contacts(self) -> dict[str, str | None]:
        """Each dry contact's ``open`` or ``closed`` by id, where a System Controller has them."""
        if not self.system_controller:
            return {}
        return {
            contact: state.value if state.value in CONTACT_STATES else None
            for contact, state in self.contacts.items()
        }

    def _storage(self, *, battery: bool) -> StorageSettings | None:
        """The storage settings, where the site has batteries."""
        return self.storage if battery or self.batteries_listed else None

    def values(self, *, battery: bool) -> dict[str, str | float | None]:
        """Grid state, generator state, storage mode and reserve by name (None when not
        known or not there); ``battery`` says whether the site has batteries."""
        storage = self._storage(battery=battery)
        mode = None if storage is None or storage.mode is None else storage.mode
        return {
            "grid_state": None if self.grid_state is None else self.grid_state.value,
            "generator_state": (
                None if self.generator_state is None else self.generator_state.value
            ),
            "storage_mode": None if mode is None else STORAGE_MODES.get(mode),
            "battery_reserve_pct": None if storage is None else storage.reserve_percent,
        }

    def setting_values(self, *, battery: bool) -> dict[str, str | bool | None]:
        """The settings control writes change that :meth:`values` leaves out (None when not
        known or not there): whether the batteries charge from the grid (the tariff), and
        the generator command (``on``, ``off``, ``auto``) where a generator is known."""
        storage = self._storage(battery=battery)
        command = self.generator_command if self.generator_state is not None else None
        known = command is not None and command is not GeneratorCommand.UNKNOWN
        return {
            "charge_from_grid": None if storage is None else storage.charge_from_grid,
            "generator_mode": command.value if known and command is not None else None,
        }
