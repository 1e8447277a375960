"""The grid relay and the standby generator: what a System Controller does for its site.

A site with an IQ System Controller (or an IQ Meter Collar) can leave the grid. With the
relay open, the batteries alone balance the site: solar they cannot absorb is curtailed, load
they cannot carry is shed. A standby generator starts when their charge falls to its start
level and stops once it reaches the stop level, or when the grid is back. Closing the relay
takes a while: the gateway first synchronises with the grid (``open synchronizing``).
"""

from __future__ import annotations

import enum
import math

import attrs

#: Seconds from the command to close until the relay closes (synchronising with the grid).
SYNC_S = 30.0
#: Seconds from a written command to open (``POST /ivp/ensemble/relay``) until it opens.
OPEN_S = 3.0
#: The generator starts at or below this charge, percent (``start_soc``).
GENERATOR_START_SOC = 30
#: The generator stops at or above this charge, percent (``stop_soc``).
GENERATOR_STOP_SOC = 70
#: Off grid the batteries give power down to this charge, percent (``very_low_soc``).
VERY_LOW_SOC_PCT = 5


class RelayState(enum.StrEnum):
    """``mains_oper_state`` of the grid relay."""

    CLOSED = "closed"
    OPEN = "open"
    SYNCHRONIZING = "open synchronizing"


@attrs.define
class GridRelay:
    """The relay between the site and the grid."""

    #: Whether the relay is commanded closed (``mains_admin_state``).
    commanded_closed: bool = True
    #: When the last command to close takes effect, simulated Unix seconds.
    closes_at: float = -math.inf
    #: When the last command to open takes effect, simulated Unix seconds.
    opens_at: float = -math.inf

    def command(self, closed: bool, t: float, *, open_delay_s: float = 0.0) -> None:
        """Start opening the relay (it opens ``open_delay_s`` later), or start synchronising
        to close it (a relay still closed stays closed)."""
        if closed and not self.commanded_closed:
            self.closes_at = t + SYNC_S if t >= self.opens_at else -math.inf
        elif not closed and self.commanded_closed:
            self.opens_at = t + open_delay_s
        self.commanded_closed = closed

    def state(self, t: float) -> RelayState:
        """What the relay actually does at ``t``."""
        if not self.commanded_closed:
            return RelayState.OPEN if t >= self.opens_at else RelayState.CLOSED
        return RelayState.CLOSED if t >= self.closes_at else RelayState.SYNCHRONIZING

    def connected(self, t: float) -> bool:
        """Whether the site is on grid at ``t``."""
        return self.state(t) is RelayState.CLOSED


class GeneratorMode(enum.StrEnum):
    """``gen_cmd`` of ``/ivp/ss/gen_mode``: what the generator is told."""

    ON = "on"
    OFF = "off"
    AUTO = "auto"


@attrs.define
class Generator:
    """A standby generator the System Controller starts off grid (rated 0 W: none)."""

    #: Rated power, W.
    rating_w: float
    #: What it is told.
    mode: GeneratorMode = GeneratorMode.AUTO
    #: Whether it runs.
    running: bool = False

    def update(self, soc_pct: float, connected: bool) -> None:
        """Start or stop for this charge and grid state (hysteresis between the levels)."""
        if connected or not self.rating_w or self.mode is GeneratorMode.OFF:
            self.running = False
        elif self.mode is GeneratorMode.ON or soc_pct <= GENERATOR_START_SOC:
            self.running = True
        elif soc_pct >= GENERATOR_STOP_SOC:
            self.running = False


@attrs.frozen(kw_only=True)
class Island:
    """The site's power balance off grid (W; storage positive while discharging)."""

    #: Solar production after curtailment.
    pv_w: float
    #: Household load after shedding.
    load_w: float
    #: Battery power.
    storage_w: float
    #: Generator power.
    generator_w: float


def island(
    pv_w: float, load_w: float, *, generator_w: float, charge_w: float, discharge_w: float
) -> Island:
    """Balance a site off grid: net power is zero.

    ``generator_w`` is what a running generator can give, ``charge_w`` and ``discharge_w``
    what the batteries can take and give now. The generator covers the deficit and charges
    the batteries; the batteries cover the rest; what is still missing is shed, and what is
    too much is curtailed (solar first, then the generator).
    """
    generator = min(generator_w, max(0.0, load_w - pv_w) + charge_w)
    deficit = load_w - pv_w - generator
    storage = min(max(deficit, -charge_w), discharge_w)
    residual = deficit - storage
    if residual > 0:
        load_w -= residual
    else:
        curtailed = min(pv_w, -residual)
        pv_w -= curtailed
        generator += residual + curtailed
    return Island(pv_w=pv_w, load_w=load_w, storage_w=storage, generator_w=generator)
