"""The System Controller's dry contacts: what each is set up to do, and what it does.

Each contact's settings are kept as the whole entry ``/ivp/ss/dry_contact_settings`` shows
(a write replaces one entry, every key of it). Its status follows them: a contact switching a
load (``type`` ``LOAD``) stays closed, except off grid below its ``soc_low``; an unused one
(``NONE``) is open. A command (``POST /ivp/ensemble/dry_contacts``) sets a contact's status
until its settings are written again. While a settings change settles (the gateway's
``dry_contact_settle`` fault), every contact reads open.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs

from enphase_local.simulator.firmware import Change, has
from enphase_local.simulator.profiles import Profile
from enphase_local.simulator.wire import JsonValue

#: The contacts' ids, in the order the gateway lists them.
CONTACT_IDS = ("NC1", "NC2", "NO1", "NO2")


@attrs.frozen(kw_only=True)
class DryContact:
    """One dry contact of a System Controller and what it is set to do at first."""

    #: ``NC1``, ``NC2``, ``NO1`` or ``NO2``.
    id: str
    #: ``LOAD`` (switches a load) or ``NONE`` (unused).
    type: str = "NONE"
    #: The load's name.
    load_name: str = ""
    #: Off grid, the load is shed below this charge, percent.
    soc_low: float = 30.0
    #: ... and connected again above this one, percent.
    soc_high: float = 70.0
    #: Shedding order.
    priority: float


def dry_contacts(profile: Profile) -> tuple[DryContact, ...]:
    """The four contacts; a System Controller drives a water heater from the first."""
    load = "Water heater" if profile.system_controller else ""
    first = DryContact(id="NC1", type="LOAD" if load else "NONE", load_name=load, priority=1.0)
    others = (DryContact(id=name, priority=float(k + 2)) for k, name in enumerate(CONTACT_IDS[1:]))
    return (first, *others)


def contact_settings(profile: Profile, contact: DryContact) -> dict[str, JsonValue]:
    """A contact's entry in ``/ivp/ss/dry_contact_settings``, in this firmware's form."""
    used = contact.type != "NONE"
    action = "apply" if used else "none"
    # With a System Controller (or from 8.3.5433 on) each contact has a schedule and priority.
    scheduled = profile.system_controller or has(profile, Change.DRY_CONTACT_SCHEDULE)
    retries = has(profile, Change.DRY_CONTACT_RETRIES)
    body: dict[str, JsonValue] = {
        "id": contact.id,
        "type": contact.type,
        "grid_action": action,
        "micro_grid_action": "shed" if used else "none",
        "gen_action": action,
    }
    if retries:
        body["safe_state_action"] = "none"
    if scheduled:
        body |= {
            "essential_start_time": 28800.0,
            "essential_end_time": 64800.0,
            "priority": contact.priority,
            "black_s_start": 5.0,
        }
    if scheduled and retries:
        body |= {"black_start_retries": 10000.0, "action_retries": 1.0}
    body["override"] = "true" if used else "false"
    if scheduled:
        body["manual_override"] = "true"
    body |= {
        "load_name": contact.load_name,
        "mode": "manual",
        "soc_low": contact.soc_low,
        "soc_high": contact.soc_high,
    }
    if retries:
        body["pv_phase_select"] = []
    body["pv_serial_nb"] = []
    return body


def _percent(entry: Mapping[str, JsonValue], key: str, default: float) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


class DryContactBank:
    """The four contacts' settings, commands and settling, as a gateway keeps them."""

    def __init__(self, profile: Profile) -> None:
        #: Each contact's settings entry, by id, in the gateway's order.
        self.entries: dict[str, dict[str, JsonValue]] = {
            contact.id: contact_settings(profile, contact) for contact in dry_contacts(profile)
        }
        #: Statuses set by command, by id (until the contact's settings are written).
        self.commanded: dict[str, str] = {}
        #: Every contact reads open until then, simulated Unix seconds.
        self.open_until = -math.inf

    def __repr__(self) -> str:
        return f"DryContactBank(commanded={self.commanded}, open_until={self.open_until})"

    def command(self, contact_id: str, status: str) -> None:
        """Open or close a contact by command."""
        self.commanded[contact_id] = status

    def configure(self, entry: dict[str, JsonValue], *, now: float, settle_s: float) -> None:
        """Replace a contact's settings (its command ends); every contact reads open for
        ``settle_s`` seconds from ``now``."""
        contact_id = str(entry["id"])
        self.entries[contact_id] = entry
        self.commanded.pop(contact_id, None)
        if settle_s > 0:
            self.open_until = max(self.open_until, now + settle_s)

    def status(self, contact_id: str, *, now: float, connected: bool, soc_pct: float) -> str:
        """``open`` or ``closed`` at ``now`` for this grid state and charge."""
        if now < self.open_until:
            return "open"
        commanded = self.commanded.get(contact_id)
        if commanded is not None:
            return commanded
        entry = self.entries[contact_id]
        if entry.get("type") == "NONE":
            return "open"
        shed = not connected and soc_pct < _percent(entry, "soc_low", 0.0)
        return "open" if shed else "closed"
