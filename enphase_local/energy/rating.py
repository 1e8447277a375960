"""How much power a site can move: the limit that tells a real rise of a counter from a glitch.

Built from what the gateway says about itself: the microinverters' highest reports
(``/api/v1/production/inverters``), the batteries' capacity (``/ivp/ensemble/device_list``)
and the phases the meters measure (``/ivp/meters``). Whatever is not known yet is taken to be
large (:data:`UNKNOWN_W`): far above what any home moves, still far below what a glitch of
megawatt-hours would need.
"""

from __future__ import annotations

from typing import Final

import attrs

#: Taken for any part of a site not known (yet), W.
UNKNOWN_W: Final = 100_000.0
#: The most a grid connection is taken to carry per phase, W: a 200 A service at 120 V is
#: 24 kW, a 63 A one at 230 V is 14.5 kW.
GRID_PHASE_W: Final = 25_000.0
#: Phases taken when the meters do not say.
DEFAULT_PHASES: Final = 3
#: A battery is taken to charge or discharge at most its capacity in an hour (IQ Batteries
#: manage 0.4 to 0.8 of it).
BATTERY_C_RATE_PER_H: Final = 1.0


@attrs.define(kw_only=True)
class SiteRating:
    """What is known of a site's power: the source of every counter's physical limit."""

    #: Sum of the microinverters' highest reports, W; None until they are read.
    pv_w: float | None = None
    #: Whether the site has batteries.
    battery: bool = False
    #: Sum of the batteries' capacity, Wh; None when not known.
    battery_capacity_wh: float | None = None
    #: Phases the meters measure; None until ``/ivp/meters`` is read.
    phases: int | None = None

    @property
    def battery_w(self) -> float:
        """The most the batteries can charge or discharge, W (0 without batteries)."""
        if not self.battery:
            return 0.0
        if self.battery_capacity_wh is None:
            return UNKNOWN_W
        return self.battery_capacity_wh * BATTERY_C_RATE_PER_H

    @property
    def production_w(self) -> float:
        """The most a production counter can gain per hour, W (batteries may share its CT)."""
        pv = UNKNOWN_W if self.pv_w is None else self.pv_w
        return pv + self.battery_w

    @property
    def site_w(self) -> float:
        """The most the grid and house counters can gain per hour, W: production and battery
        on one side, the grid connection on the other."""
        phases = DEFAULT_PHASES if self.phases is None else self.phases
        return self.production_w + phases * GRID_PHASE_W

    def limit_w(self, counter: str) -> float:
        """The physical limit of the counter named ``counter`` (see the tracker's names)."""
        if counter.startswith(("meters.production.", "production.")):
            return self.production_w
        if counter.startswith(("meters.storage.", "battery.")):
            return self.battery_w or UNKNOWN_W
        return self.site_w
