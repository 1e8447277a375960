"""What one request's body is rendered from: the plant and its flows at one instant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import attrs

from enphase_local.simulator.contacts import DryContactBank
from enphase_local.simulator.physics import Flows, Plant
from enphase_local.simulator.profiles import Profile
from enphase_local.simulator.wire import JsonValue

#: Batteries report every this many simulated seconds; until their first report after a
#: reboot the gateway does not know their temperature.
BATTERY_REPORT_S = 300


@attrs.frozen(kw_only=True)
class Snapshot:
    """The simulated gateway's state as one request sees it."""

    #: The gateway's profile (its firmware may have changed since the plant was built).
    profile: Profile
    #: The site.
    plant: Plant
    #: Power flows now.
    flows: Flows
    #: Simulated time, whole Unix seconds.
    now: int
    #: Query parameters of the request.
    query: Mapping[str, str] = attrs.field(factory=dict)
    #: Simulated seconds since the gateway booted.
    uptime_s: float
    #: Whether the gateway rebooted less than :data:`BATTERY_REPORT_S` ago.
    fresh_boot: bool = False
    #: Requests answered so far per path (the back end's REST counters).
    requests: Mapping[str, int] = attrs.field(factory=dict)
    #: The dry contacts' settings and commands.
    contacts: DryContactBank
    #: The ``tariff`` object as last written (None: never written, the simulator's own).
    tariff: Mapping[str, JsonValue] | None = None

    @property
    def serial(self) -> str:
        """The gateway serial."""
        return self.plant.serial

    @property
    def local(self) -> dt.datetime:
        """Local time at the site."""
        return dt.datetime.fromtimestamp(self.now, self.plant.tz)

    @property
    def connected(self) -> bool:
        """Whether the site is on grid."""
        return self.plant.relay.connected(self.now)

    @property
    def soc(self) -> int:
        """Battery charge, whole percent."""
        return round(self.plant.soc_pct)
