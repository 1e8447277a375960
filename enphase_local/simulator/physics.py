"""A small, physically consistent solar site that moves with the simulated clock.

Power flows are functions of simulated time (a sun curve with passing clouds, a household
load that wanders) plus one piece of state, the battery's charge. :class:`Plant` integrates
them into energy counters as time advances, so that every number a gateway serves agrees with
every other: net = load - pv - storage (storage is positive while discharging; the production
CT sees pv + storage, as on sites whose batteries share the production circuit), energy
is the integral of power, lifetime counters never decrease, "today" restarts at local midnight,
and the microinverters' staggered 5-minute reports add up to the production they measured.

Everything is derived from the gateway serial, so two runs with the same serial and start
time produce the same data.

Beside what the gateway serves, the plant keeps the ground truth (:attr:`Plant.truth`): the
energy of each flow since it started, untouched by the counter faults a test injects
(:class:`CounterGlitch` for one reply, :meth:`Plant.reset_registers` for good).
"""

from __future__ import annotations

import collections
import datetime as dt
import enum
import hashlib
import math

import attrs

from enphase_local.simulator.grid import VERY_LOW_SOC_PCT, Generator, GridRelay, island
from enphase_local.simulator.profiles import MeterType, Profile
from enphase_local.simulator.storage import (
    BatteryLimits,
    PeakSchedule,
    StorageMode,
    StorageSettings,
    battery_dispatch,
)

#: Longest integration step, simulated seconds.
STEP_S = 5.0
#: Microinverters report every this many seconds, each at its own offset.
REPORT_INTERVAL_S = 300
#: Fraction of charging power that ends up stored.
CHARGE_EFFICIENCY = 0.95
#: Inverter-measured energy reads this much higher than the production CT.
_PCU_GAIN = 1.015
_MASK64 = (1 << 64) - 1
_TWO_PI = 2 * math.pi


def _unit(seed: int, key: int) -> float:
    """A deterministic pseudo-random number in [0, 1) for (seed, key) (splitmix64)."""
    x = (seed + (key + 1) * 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (x ^ (x >> 31)) / 2.0**64


def _wander(t: float, seed: int, periods_s: tuple[float, ...]) -> float:
    """A smooth deterministic wobble in [-1, 1] made of sines of the given periods."""
    total = 0.0
    for k, period in enumerate(periods_s):
        total += math.sin(_TWO_PI * (t / period + _unit(seed, k)))
    return total / len(periods_s)


@attrs.frozen(kw_only=True)
class PhaseFlow:
    """Power on one phase at one instant (W and VAr; storage positive while discharging)."""

    #: Solar production, W.
    pv_w: float
    #: Household load, W.
    load_w: float
    #: Battery power, W: positive while discharging, negative while charging.
    storage_w: float
    #: Reactive power of the production, VAr.
    pv_var: float
    #: Reactive power of the load, VAr.
    load_var: float
    #: Reactive power of the battery inverters, VAr.
    storage_var: float
    #: Phase-to-neutral voltage, V.
    voltage_v: float
    #: Standby generator power, W.
    generator_w: float = 0.0

    @property
    def net_w(self) -> float:
        """Power drawn from the grid, W (negative while exporting)."""
        return self.load_w - self.pv_w - self.storage_w - self.generator_w

    @property
    def net_var(self) -> float:
        """Reactive power at the grid connection, VAr."""
        return self.load_var - self.pv_var - self.storage_var

    def power(self, meter: MeterType) -> tuple[float, float]:
        """(active W, reactive VAr) that the CT of type ``meter`` sees on this phase."""
        if meter is MeterType.PRODUCTION:
            # The batteries share the production circuit, as on the real sites whose gateway
            # reports total consumption as production + net: charging lowers this reading.
            return self.pv_w + self.storage_w, self.pv_var + self.storage_var
        if meter is MeterType.NET_CONSUMPTION:
            return self.net_w, self.net_var
        if meter is MeterType.STORAGE:
            return self.storage_w, self.storage_var
        return self.load_w, self.load_var


@attrs.frozen(kw_only=True)
class Flows:
    """Power on every phase in use at one instant."""

    #: Simulated time, Unix seconds.
    time: float
    #: One entry per phase in use.
    phases: tuple[PhaseFlow, ...]
    #: Grid frequency, Hz.
    frequency_hz: float
    #: Whether the site is shut down: off grid with empty batteries, nothing flows.
    shutdown: bool = False

    @property
    def pv_w(self) -> float:
        """Total solar production, W."""
        return sum(p.pv_w for p in self.phases)

    @property
    def load_w(self) -> float:
        """Total household load, W."""
        return sum(p.load_w for p in self.phases)

    @property
    def storage_w(self) -> float:
        """Total battery power, W (positive while discharging)."""
        return sum(p.storage_w for p in self.phases)

    @property
    def net_w(self) -> float:
        """Total grid import, W (negative while exporting)."""
        return sum(p.net_w for p in self.phases)

    @property
    def generator_w(self) -> float:
        """Total standby generator power, W."""
        return sum(p.generator_w for p in self.phases)


@attrs.define(kw_only=True)
class EnergyCounter:
    """The cumulative registers of one CT channel."""

    #: Active energy delivered (flowing in the CT's positive direction), Wh.
    delivered_wh: float = 0.0
    #: Active energy received (flowing the other way), Wh.
    received_wh: float = 0.0
    #: Apparent energy, VAh.
    apparent_vah: float = 0.0
    #: Lagging reactive energy, VArh.
    lagging_varh: float = 0.0
    #: Leading reactive energy, VArh.
    leading_varh: float = 0.0

    def add(self, power_w: float, reactive_var: float, hours: float) -> None:
        """Integrate constant power over ``hours``."""
        if power_w >= 0:
            self.delivered_wh += power_w * hours
        else:
            self.received_wh -= power_w * hours
        if reactive_var >= 0:
            self.lagging_varh += reactive_var * hours
        else:
            self.leading_varh -= reactive_var * hours
        self.apparent_vah += math.hypot(power_w, reactive_var) * hours


@attrs.define(kw_only=True)
class FlowTotals:
    """Ground truth: the energy of each flow since the plant started, Wh.

    Import and export are counted phase by phase, as the grid connection's CTs count them.
    """

    #: What the panels made.
    production_wh: float = 0.0
    #: What the house used.
    consumption_wh: float = 0.0
    #: Energy from the grid.
    grid_import_wh: float = 0.0
    #: Energy to the grid.
    grid_export_wh: float = 0.0
    #: Energy into the batteries.
    battery_charge_wh: float = 0.0
    #: Energy out of the batteries.
    battery_discharge_wh: float = 0.0

    def add(self, flows: Flows, hours: float) -> None:
        """Integrate constant flows over ``hours``."""
        self.production_wh += flows.pv_w * hours
        self.consumption_wh += flows.load_w * hours
        for phase in flows.phases:
            self.grid_import_wh += max(phase.net_w, 0.0) * hours
            self.grid_export_wh += max(-phase.net_w, 0.0) * hours
        self.battery_charge_wh += max(-flows.storage_w, 0.0) * hours
        self.battery_discharge_wh += max(flows.storage_w, 0.0) * hours


class GlitchKind(enum.StrEnum):
    """How one reply's cumulative counters go wrong."""

    #: Every counter reads zero (today, seven days and lifetime alike).
    DROP = "drop"
    #: The lifetime counters (the CTs' delivered registers, the lifetime figures) jump up.
    SPIKE = "spike"


@attrs.frozen(kw_only=True)
class CounterGlitch:
    """A fault of the counters in one reply (the registers themselves are untouched)."""

    #: What goes wrong.
    kind: GlitchKind
    #: How far a spike jumps, Wh (a Home Assistant user recorded 6.78 MWh from one glitch).
    wh: float = 6_780_000.0

    def register(self, counter: EnergyCounter) -> EnergyCounter:
        """A CT channel's registers as the glitch shows them."""
        if self.kind is GlitchKind.DROP:
            return EnergyCounter()
        return attrs.evolve(counter, delivered_wh=counter.delivered_wh + self.wh)

    def served(self, today: float, week: float, lifetime: float) -> tuple[float, float, float]:
        """(today, seven days, lifetime) as the glitch shows them."""
        if self.kind is GlitchKind.DROP:
            return 0.0, 0.0, 0.0
        return today, week, lifetime + self.wh


@attrs.frozen(kw_only=True)
class Inverter:
    """A microinverter's fixed traits."""

    #: Serial number.
    serial: str
    #: Its share of the site's production (shares add up to 1).
    share: float
    #: Offset of its 5-minute report cycle, seconds.
    report_offset_s: int
    #: Highest power it ever reported, W.
    max_report_w: int


@attrs.frozen(kw_only=True)
class DayTotals:
    """Site energy totals, Wh, at one moment (used for today and the last seven days)."""

    #: Production measured by the production CT.
    production_wh: float
    #: Production measured by the microinverters.
    inverters_wh: float
    #: Household consumption.
    consumption_wh: float

    def minus(self, other: DayTotals) -> DayTotals:
        """Element-wise difference."""
        return DayTotals(
            production_wh=self.production_wh - other.production_wh,
            inverters_wh=self.inverters_wh - other.inverters_wh,
            consumption_wh=self.consumption_wh - other.consumption_wh,
        )


class Plant:
    """The site behind one gateway: its power flows and energy counters over simulated time."""

    def __init__(self, profile: Profile, serial: str, *, start: float, tz: dt.tzinfo) -> None:
        #: The gateway profile: phases, CTs, inverters, batteries.
        self.profile = profile
        #: The site's time zone (local midnight, the sun).
        self.tz = tz
        self._seed = int(hashlib.sha256(serial.encode()).hexdigest()[:16], 16)
        #: The microinverters.
        self.inverters = self._make_inverters(serial)
        #: The gateway serial.
        self.serial = serial
        #: Serial numbers of the batteries.
        self.battery_serials = tuple(
            f"4922{serial[-4:]}{k + 1:04d}" for k in range(profile.battery_count)
        )
        #: Serial numbers of microinverters removed from the site (the gateway lists them).
        self.removed_serials = tuple(
            f"1221{serial[-4:]}{k + 1:04d}" for k in range(profile.removed_inverter_count)
        )
        #: Peak AC production on a clear summer day, W.
        self.peak_w = 0.93 * profile.inverter_count * profile.inverter_rating_w
        self._base_load_w = 220.0 + 200.0 * self._rand(1)
        self._load_scale = 0.8 + 0.5 * self._rand(2)
        #: Usable capacity of all batteries, Wh.
        self.battery_capacity_wh = profile.battery_count * profile.battery_capacity_wh
        self._battery_power_w = profile.battery_count * profile.battery_power_w
        #: Energy stored in the batteries, Wh.
        self.stored_wh = self.battery_capacity_wh * (0.35 + 0.4 * self._rand(3))
        #: How the batteries run on grid: mode, reserve, charge from grid (the tariff's).
        self.storage = StorageSettings()
        #: The tariff's peak hours, which the economy mode follows.
        self.peak_hours = PeakSchedule.default()
        #: AC Batteries told to sleep: serial -> (min, max) charge, percent, between which
        #: they neither charge nor discharge.
        self.acb_sleep: dict[str, tuple[float, float]] = {}
        #: The grid relay (always closed on a site without System Controller or Collar).
        self.relay = GridRelay()
        #: The standby generator (rated 0 W on a site without one).
        self.generator = Generator(rating_w=profile.generator_w)
        #: Simulated time the counters are at, Unix seconds.
        self.time = float(start)
        years = 1.5 + 3.0 * self._rand(4)
        #: When the system was installed, Unix seconds.
        self.installed_at = math.floor(start - years * 365 * 86400)
        #: Energy registers per CT type and phase.
        self.counters = self._seed_counters(years)
        #: Energy the microinverters measured, Wh.
        self.inverters_wh = self._production_total() * _PCU_GAIN
        self._next_midnight = self._midnight_after(self.time)
        self._last_midnight = self._midnight_at_or_before(self.time)
        self._history: collections.deque[DayTotals] = collections.deque(
            self._seed_history(), maxlen=6
        )
        # Seed "today" as if the counters had run since local midnight.
        self._day_start = self.totals().minus(self._seed_today())
        self._previous_day_start = self._day_start.minus(self._history[-1])
        #: Quirk of some firmware, off by default: "today" goes on counting from the previous
        #: midnight until this many simulated seconds after midnight, then drops to the
        #: (non-zero) energy since midnight.
        self.today_reset_delay_s = 0.0
        #: Quirk of some firmware, off by default: served lifetime counters wrap at this, Wh.
        self.lifetime_wrap_wh: float | None = None
        #: Ground truth: the energy of each flow since the plant started.
        self.truth = FlowTotals()
        #: A counter fault in the reply being rendered (set and cleared around it).
        self.glitch: CounterGlitch | None = None

    # --- deterministic randomness -------------------------------------------------------

    def _rand(self, key: int) -> float:
        return _unit(self._seed, key)

    def _make_inverters(self, serial: str) -> tuple[Inverter, ...]:
        count = self.profile.inverter_count
        raw = [0.96 + 0.08 * self._rand(100 + j) for j in range(count)]
        total = sum(raw)
        rating = self.profile.inverter_rating_w
        return tuple(
            Inverter(
                serial=f"4822{serial[-4:]}{j + 1:04d}",
                share=raw[j] / total,
                report_offset_s=int(REPORT_INTERVAL_S * self._rand(200 + j)),
                max_report_w=int(rating) + int(3 * self._rand(300 + j)),
            )
            for j in range(count)
        )

    # --- sun and load -------------------------------------------------------------------

    @staticmethod
    def _sun_window(day_of_year: int) -> tuple[float, float]:
        """Local sunrise and sunset hours for a mid-latitude northern site."""
        day_length = 12.0 + 3.0 * math.sin(_TWO_PI * (day_of_year - 80) / 365.25)
        noon = 12.5
        return noon - day_length / 2, noon + day_length / 2

    def _when(self, t: float) -> tuple[float, int, int]:
        """(local hour of day, day of year, date ordinal) at ``t``."""
        local = dt.datetime.fromtimestamp(t, self.tz)
        hour = local.hour + local.minute / 60 + (local.second + local.microsecond / 1e6) / 3600
        return hour, local.timetuple().tm_yday, local.toordinal()

    def is_daylight(self, t: float) -> bool:
        """Whether the sun is up at ``t``."""
        hour, day_of_year, _ = self._when(t)
        rise, sunset = self._sun_window(day_of_year)
        return rise < hour < sunset

    def pv_w(self, t: float) -> float:
        """Total AC production at ``t``, W."""
        return self._pv_w(t, *self._when(t))

    def _pv_w(self, t: float, hour: float, day_of_year: int, ordinal: int) -> float:
        rise, sunset = self._sun_window(day_of_year)
        if not rise < hour < sunset:
            return 0.0
        elevation = math.pow(math.sin(math.pi * (hour - rise) / (sunset - rise)), 1.8)
        season = 0.75 + 0.2 * math.sin(_TWO_PI * (day_of_year - 80) / 365.25)
        cloudiness = 0.7 * _unit(self._seed, 10_000 + ordinal) ** 2
        clouds = 1.0 - cloudiness * (0.55 + 0.45 * _wander(t, self._seed + 1, (360, 1020, 2460)))
        return self.peak_w * elevation * season * max(clouds, 0.05)

    def load_w(self, t: float) -> float:
        """Total household load at ``t``, W."""
        return self._load_w(t, self._when(t)[0])

    def _load_w(self, t: float, hour: float) -> float:
        shape = (
            600.0 * math.exp(-(((hour - 7.25) / 0.8) ** 2))
            + 1400.0 * math.exp(-(((hour - 19.0) / 1.6) ** 2))
            + 300.0 * math.exp(-(((hour - 13.0) / 2.0) ** 2))
        )
        wander = 250.0 * (1.0 + _wander(t, self._seed + 2, (258, 660, 1740))) / 2
        return self._base_load_w + self._load_scale * shape + wander + self._appliance_w(t)

    def _appliance_w(self, t: float) -> float:
        """A kettle, oven or dryer that runs a few minutes in some half hours."""
        slot = int(t // 1800)
        if _unit(self._seed + 3, slot) > 0.3:
            return 0.0
        start = slot * 1800 + 1500 * _unit(self._seed + 4, slot)
        length = 120 + 480 * _unit(self._seed + 5, slot)
        return 1500.0 + 1000.0 * _unit(self._seed + 6, slot) if start <= t < start + length else 0.0

    @property
    def reserve_pct(self) -> float:
        """Charge the batteries keep for outages while on grid (``reserved_soc``), percent."""
        return self.storage.reserve_pct

    def asleep(self, serial: str) -> bool:
        """Whether this AC Battery sleeps now: told to, and its charge is in the band."""
        band = self.acb_sleep.get(serial)
        return band is not None and band[0] <= self.soc_pct <= band[1]

    def _power_limit_w(self) -> float:
        """The most the batteries that are awake can charge or discharge, W."""
        if not self.acb_sleep:
            return self._battery_power_w
        awake = sum(not self.asleep(serial) for serial in self.battery_serials)
        return self.profile.battery_power_w * awake

    def _storage_w(self, t: float, pv: float, load: float) -> float:
        """Battery power on grid for this surplus or deficit, the charge and the settings."""
        peak = self.storage.mode is StorageMode.ECONOMY and self.peak_hours.contains(
            dt.datetime.fromtimestamp(t, self.tz)
        )
        limits = BatteryLimits(
            power_w=self._power_limit_w(),
            stored_wh=self.stored_wh,
            capacity_wh=self.battery_capacity_wh,
        )
        return battery_dispatch(self.storage, limits, surplus_w=pv - load, peak=peak)

    def _off_grid(self, pv: float, load: float) -> tuple[float, float, float, float]:
        """(pv, load, storage, generator) W balanced off grid by the batteries and generator;
        all zero when the site shuts down (see :meth:`shut_down`)."""
        power = self._power_limit_w()
        generator = self.generator.rating_w if self.generator.running else 0.0
        discharge = power if self.soc_pct > VERY_LOW_SOC_PCT else 0.0
        if not discharge and not generator and pv < load:
            return 0.0, 0.0, 0.0, 0.0
        flow = island(
            pv,
            load,
            generator_w=generator,
            charge_w=power if self.stored_wh < self.battery_capacity_wh else 0.0,
            discharge_w=discharge,
        )
        return flow.pv_w, flow.load_w, flow.storage_w, flow.generator_w

    def flows_at(self, t: float) -> Flows:
        """Power on every phase at ``t``, with the battery and the relay in their state."""
        phases = self.profile.phase_count
        hour, day_of_year, ordinal = self._when(t)
        pv = self._pv_w(t, hour, day_of_year, ordinal)
        load = self._load_w(t, hour)
        generator = 0.0
        islanded = not self.relay.connected(t)
        if islanded:
            pv, load, storage, generator = self._off_grid(pv, load)
        else:
            storage = self._storage_w(t, pv, load)
        tilt = 0.12 * _wander(t, self._seed + 7, (1500, 4100))
        load_shares = [1.0 / phases] * phases
        load_shares[0] += tilt / phases
        load_shares[1] -= tilt / phases
        reactive_ratio = 0.25 + 0.1 * _wander(t, self._seed + 8, (900, 2300))
        nominal = self.profile.nominal_voltage_v
        flows = []
        for i in range(phases):
            pv_i = pv * (0.5 + 0.01 * (-1) ** i if phases == 2 else 1 / phases)
            load_i = load * load_shares[i]
            generator_i = generator / phases
            pv_var, load_var = -0.03 * pv_i, reactive_ratio * load_i
            # Off grid nothing flows to the grid on any phase: the batteries (through the
            # System Controller's neutral-forming transformer) balance each phase.
            storage_i = load_i - pv_i - generator_i if islanded else storage / phases
            storage_var = load_var - pv_var if islanded else 0.05 * abs(storage_i)
            flows.append(
                PhaseFlow(
                    pv_w=pv_i,
                    load_w=load_i,
                    storage_w=storage_i,
                    pv_var=pv_var,
                    load_var=load_var,
                    storage_var=storage_var,
                    voltage_v=nominal
                    * (1 + 0.008 * _wander(t, self._seed + 20 + i, (37, 271, 1130))),
                    generator_w=generator_i,
                )
            )
        frequency = self.profile.frequency_hz + 0.015 * _wander(t, self._seed + 9, (97, 600))
        return Flows(
            time=t,
            phases=tuple(flows),
            frequency_hz=frequency,
            shutdown=islanded and not (pv or load),
        )

    # --- integration --------------------------------------------------------------------

    def advance_to(self, t: float) -> None:
        """Integrate every counter from :attr:`time` to ``t`` (earlier times are ignored)."""
        while self.time < t:
            if self.time >= self._next_midnight:
                self._roll_day()
            dt_s = min(STEP_S, t - self.time, self._next_midnight - self.time)
            self._step(dt_s)
        if self.time >= self._next_midnight:
            self._roll_day()

    def _step(self, dt_s: float) -> None:
        flows = self.flows_at(self.time + dt_s / 2)
        hours = dt_s / 3600
        for meter, channels in self.counters.items():
            for counter, phase in zip(channels, flows.phases, strict=True):
                counter.add(*phase.power(meter), hours)
        self.inverters_wh += flows.pv_w * _PCU_GAIN * hours
        self.truth.add(flows, hours)
        storage = flows.storage_w
        if storage < 0:
            self.stored_wh = min(
                self.battery_capacity_wh, self.stored_wh - storage * hours * CHARGE_EFFICIENCY
            )
        else:
            self.stored_wh = max(0.0, self.stored_wh - storage * hours)
        self.time += dt_s
        self.generator.update(self.soc_pct, self.relay.connected(self.time))

    def _midnight_at_or_before(self, t: float) -> float:
        local = dt.datetime.fromtimestamp(t, self.tz)
        return dt.datetime.combine(local.date(), dt.time(), self.tz).timestamp()

    def _midnight_after(self, t: float) -> float:
        local = dt.datetime.fromtimestamp(t, self.tz)
        tomorrow = local.date() + dt.timedelta(days=1)
        return dt.datetime.combine(tomorrow, dt.time(), self.tz).timestamp()

    def _roll_day(self) -> None:
        totals = self.totals()
        self._history.append(totals.minus(self._day_start))
        self._previous_day_start = self._day_start
        self._day_start = totals
        self._last_midnight = self._next_midnight
        self._next_midnight = self._midnight_after(self._next_midnight)

    # --- what the gateway reports --------------------------------------------------------

    def _production_total(self) -> float:
        return sum(c.delivered_wh for c in self.counters[MeterType.PRODUCTION])

    def totals(self) -> DayTotals:
        """Lifetime totals now."""
        return DayTotals(
            production_wh=self._production_total(),
            inverters_wh=self.inverters_wh,
            consumption_wh=sum(c.delivered_wh for c in self.counters[MeterType.TOTAL_CONSUMPTION]),
        )

    def today(self) -> DayTotals:
        """Energy since local midnight (or the one before, see :attr:`today_reset_delay_s`)."""
        if self.time - self._last_midnight < self.today_reset_delay_s:
            return self.totals().minus(self._previous_day_start)
        return self.totals().minus(self._day_start)

    def served(self, kind: str) -> tuple[float, float, float]:
        """(today, last seven days, lifetime) Wh of ``production``, ``inverters`` or
        ``consumption``, as the gateway serves them (quirks and a glitch included)."""
        field = f"{kind}_wh"
        lifetime = getattr(self.totals(), field)
        if self.lifetime_wrap_wh:
            lifetime %= self.lifetime_wrap_wh
        today = getattr(self.today(), field)
        week = getattr(self.last_seven_days(), field)
        if self.glitch is not None:
            return self.glitch.served(today, week, lifetime)
        return today, week, lifetime

    def registers(self, meter: MeterType) -> list[EnergyCounter]:
        """The registers of a CT's channels as the gateway serves them (a glitch included)."""
        channels = self.counters[meter]
        if self.glitch is None:
            return channels
        return [self.glitch.register(channel) for channel in channels]

    def reset_registers(self) -> None:
        """Every lifetime register starts again from zero, for good (as after some firmware
        updates); today and the last seven days go on."""
        before = self.totals()
        for channels in self.counters.values():
            channels[:] = [EnergyCounter() for _ in channels]
        self.inverters_wh = 0.0
        self._day_start = self._day_start.minus(before)
        self._previous_day_start = self._previous_day_start.minus(before)

    def yesterday(self) -> DayTotals:
        """Energy of the day before today."""
        return self._history[-1]

    def last_seven_days(self) -> DayTotals:
        """Energy of today and the six days before it."""
        today = self.today()
        return DayTotals(
            production_wh=today.production_wh + sum(d.production_wh for d in self._history),
            inverters_wh=today.inverters_wh + sum(d.inverters_wh for d in self._history),
            consumption_wh=today.consumption_wh + sum(d.consumption_wh for d in self._history),
        )

    @property
    def soc_pct(self) -> float:
        """Battery state of charge, percent (0 without a battery)."""
        if self.battery_capacity_wh <= 0:
            return 0.0
        return 100.0 * self.stored_wh / self.battery_capacity_wh

    def set_soc(self, pct: float) -> None:
        """Put this much charge in the batteries, percent (as after a long outage)."""
        if not 0 <= pct <= 100:
            raise ValueError("the state of charge is a percentage, 0 to 100")
        if self.battery_capacity_wh <= 0:
            raise ValueError("this site has no battery")
        self.stored_wh = self.battery_capacity_wh * pct / 100

    def inverter_report(self, inverter: Inverter, t: float) -> tuple[int, int]:
        """(time, watts) of the inverter's last report at or before ``t``.

        Inverters report every 5 minutes at their own offset, and only while the sun is up:
        at night the last report is the one just before sunset.
        """
        interval = REPORT_INTERVAL_S
        report = inverter.report_offset_s + (t - inverter.report_offset_s) // interval * interval
        if not self.is_daylight(report):
            report = self._last_slot_before_sunset(inverter, report)
        watts = inverter.share * self.pv_w(report)
        return int(report), round(watts)

    def _last_slot_before_sunset(self, inverter: Inverter, t: float) -> float:
        local = dt.datetime.fromtimestamp(t, self.tz)
        day = local.date()
        rise, sunset = self._sun_window(local.timetuple().tm_yday)
        if local.hour + local.minute / 60 < rise:
            day -= dt.timedelta(days=1)
            sunset = self._sun_window(day.timetuple().tm_yday)[1]
        midnight = dt.datetime.combine(day, dt.time(), self.tz).timestamp()
        sunset_t = midnight + sunset * 3600 - 1
        interval = REPORT_INTERVAL_S
        offset = inverter.report_offset_s
        return offset + (sunset_t - offset) // interval * interval

    # --- plausible history for a site that has run for years ----------------------------

    def _seed_counters(self, years: float) -> dict[MeterType, list[EnergyCounter]]:
        days = 365 * years
        phases = self.profile.phase_count
        produced = self.peak_w * 4.2 * days / phases
        consumed = (self._base_load_w + 650.0) * 24 * days / phases
        stored = self.battery_capacity_wh * 0.7 * days / phases

        def counter(delivered: float, received: float, reactive: float) -> EnergyCounter:
            return EnergyCounter(
                delivered_wh=delivered,
                received_wh=received,
                apparent_vah=(delivered + received) * 1.05,
                lagging_varh=reactive,
                leading_varh=reactive * 0.1,
            )

        return {
            MeterType.PRODUCTION: [counter(produced, 2.0, produced * 0.01) for _ in range(phases)],
            MeterType.NET_CONSUMPTION: [
                counter(consumed * 0.55, produced * 0.5, consumed * 0.3) for _ in range(phases)
            ],
            MeterType.STORAGE: [
                counter(stored * 0.9, stored, stored * 0.05) for _ in range(phases)
            ],
            MeterType.TOTAL_CONSUMPTION: [
                counter(consumed, 0.0, consumed * 0.3) for _ in range(phases)
            ],
        }

    def _seed_history(self) -> list[DayTotals]:
        days = []
        for k in range(6):
            production = self.peak_w * (2.5 + 2.5 * self._rand(500 + k))
            days.append(
                DayTotals(
                    production_wh=production,
                    inverters_wh=production * _PCU_GAIN,
                    consumption_wh=(self._base_load_w + 650.0)
                    * 24
                    * (0.8 + 0.4 * self._rand(600 + k)),
                )
            )
        return days

    def _seed_today(self) -> DayTotals:
        """Rough energy since local midnight, so 'today' is plausible from the first request."""
        midnight = self._last_midnight
        elapsed_h = max(0.0, (self.time - midnight) / 3600)
        sample_times = [midnight + k * 900 for k in range(int(elapsed_h * 4))]
        production = sum(self.pv_w(s) for s in sample_times) * 0.25
        consumption = sum(self.load_w(s) for s in sample_times) * 0.25
        return DayTotals(
            production_wh=production,
            inverters_wh=production * _PCU_GAIN,
            consumption_wh=consumption,
        )
