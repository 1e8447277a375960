"""From the poller's events to guarded energy: counter guards, battery integration, totals.

:meth:`EnergyTracker.update` takes each event of the poller and returns what it derives: an
:class:`~enphase_local.events.EnergyEvent` per reading of an energy source, and a
:class:`~enphase_local.events.CounterEvent` per decision of a guard. Every counter goes
through a :class:`~enphase_local.energy.guard.CounterGuard`, limited by what the site can
physically move (:class:`~enphase_local.energy.rating.SiteRating`). Sources:

``meters``
    The registers of the enabled CTs in ``/ivp/meters/readings`` (joined on ``eid``), named
    ``meters.<measurement type>.delivered_wh`` and ``...received_wh``. A production CT gives
    production (delivered minus received), a net-consumption CT grid import (delivered) and
    export (received), a total-consumption CT consumption; consumption is production plus
    the grid's net when only a net-consumption CT is there, the grid what consumption leaves
    over production when only a total-consumption CT is. A storage CT gives battery
    discharge (delivered) and charge (received).
``production``
    ``/api/v1/production``: its ``production.today_wh``, ``production.seven_days_wh`` and
    ``production.lifetime_wh`` are guarded; the lifetime counter gives production on sites
    without a production CT (the microinverters' own count).
``battery``
    Battery power integrated by a :class:`~enphase_local.energy.battery.BatteryIntegrator`
    on sites with batteries and no storage CT: the IQ Batteries' own power from
    ``/ivp/ensemble/power`` (summed; the stored energy from each battery's charge and its
    capacity in ``/ivp/ensemble/inventory``) once the site has sent it, else live data's
    storage power (while the stream is on). The batteries' own reading needs no live
    stream and covers every battery by serial number; live data's serves sites that do
    not answer it (AC Batteries) and the minutes before its first reading.

Batteries are taken to share the production CT's circuit, as :mod:`enphase_local.power`
explains: their charge is added back to production and their discharge taken out of it,
so that production is what the panels made.

A gateway that restarted (new firmware in ``/info``, or most of live data's diagnostic
counters gone down) has its next counter drop taken as a reset at once. Each source's flows
start at the counters' own values (so totals read like the gateway's lifetime figures) and
grow by what the guards let through; the totals never decrease. :meth:`EnergyTracker.restore`
goes on from the last events of an earlier run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Final

import attrs

from enphase_local.energy.battery import BatteryIntegrator, Sample
from enphase_local.energy.cadence import Cadence
from enphase_local.energy.flows import (
    BATTERY_CHARGE,
    BATTERY_DISCHARGE,
    CONSUMPTION,
    GRID_EXPORT,
    GRID_IMPORT,
    PRODUCTION,
)
from enphase_local.energy.guard import MARGIN, CounterGuard
from enphase_local.energy.rating import SiteRating
from enphase_local.events import (
    CounterDecision,
    CounterEvent,
    DataEvent,
    EnergyEvent,
    Event,
    SinkEvent,
)
from enphase_local.models import (
    DeviceType,
    EnsembleInventory,
    EnsemblePower,
    LiveData,
    MeasurementType,
    Meter,
    MeterState,
)
from enphase_local.power import battery_evidence, gateway_key, readings_by_type

_LOGGER = logging.getLogger(__name__)

#: The sources, as :attr:`EnergyEvent.source` names them.
METERS: Final = "meters"
PRODUCTION_SOURCE: Final = "production"
BATTERY: Final = "battery"

#: The 5-minute data may report this much production at once, seconds.
REPORT_S: Final = 300.0
#: The CTs whose registers are guarded.
_METER_TYPES: Final = (
    MeasurementType.PRODUCTION,
    MeasurementType.NET_CONSUMPTION,
    MeasurementType.TOTAL_CONSUMPTION,
    MeasurementType.STORAGE,
)
#: ``/api/v1/production``'s counters: (name, model field, whether it resets daily).
_PRODUCTION_COUNTERS: Final = (
    ("production.today_wh", "energy_today_wh", True),
    ("production.seven_days_wh", "energy_seven_days_wh", True),
    ("production.lifetime_wh", "energy_lifetime_wh", False),
)
_DAILY: Final = frozenset(name for name, _, daily in _PRODUCTION_COUNTERS if daily)


def register(kind: MeasurementType, which: str) -> str:
    """The tracker's name of a CT register: ``meters.<type>.delivered_wh`` (or ``received``)."""
    return f"meters.{kind.value}.{which}_wh"


def _net(registers: Mapping[str, float], kind: MeasurementType) -> float | None:
    delivered = registers.get(register(kind, "delivered"))
    received = registers.get(register(kind, "received"))
    if delivered is None or received is None:
        return None
    return delivered - received


def meter_flows(registers: Mapping[str, float]) -> dict[str, float]:
    """The flows that CT registers (values or changes, named by :func:`register`) give."""
    flows: dict[str, float] = {}
    produced = _net(registers, MeasurementType.PRODUCTION)
    stored = _net(registers, MeasurementType.STORAGE)
    grid = _net(registers, MeasurementType.NET_CONSUMPTION)
    consumed = _net(registers, MeasurementType.TOTAL_CONSUMPTION)
    if grid is not None:
        flows[GRID_IMPORT] = registers[register(MeasurementType.NET_CONSUMPTION, "delivered")]
        flows[GRID_EXPORT] = registers[register(MeasurementType.NET_CONSUMPTION, "received")]
        if consumed is None and produced is not None:
            consumed = produced + grid
    elif consumed is not None and produced is not None:
        flows[GRID_IMPORT] = max(consumed - produced, 0.0)
        flows[GRID_EXPORT] = max(produced - consumed, 0.0)
    if consumed is not None:
        flows[CONSUMPTION] = consumed
    if stored is not None:
        flows[BATTERY_DISCHARGE] = registers[register(MeasurementType.STORAGE, "delivered")]
        flows[BATTERY_CHARGE] = registers[register(MeasurementType.STORAGE, "received")]
    if produced is not None:
        flows[PRODUCTION] = produced - (stored or 0.0)
    return flows


def _restarted_counters(before: Mapping[str, int], after: Mapping[str, int]) -> bool:
    """Whether most of live data's diagnostic counters that moved went down (a restart; one
    alone may just wrap)."""
    moved = [name for name in before.keys() & after.keys() if after[name] != before[name]]
    down = [name for name in moved if after[name] < before[name]]
    return len(down) >= 2 and 2 * len(down) > len(moved)


@attrs.define
class _Series:
    """One source of a gateway: its running flows and when it was last read."""

    at: float | None = None
    flows: dict[str, float] = attrs.Factory(dict)
    cadence: Cadence = attrs.Factory(Cadence)


@attrs.define
class _Site:
    """What the tracker knows of one gateway."""

    serial: str | None
    host: str
    rating: SiteRating = attrs.Factory(SiteRating)
    meters: tuple[Meter, ...] = ()
    #: Whether ``/ivp/meters`` was read (so a storage CT would be known).
    meters_read: bool = False
    #: Whether ``/ivp/ensemble/power`` reported batteries: their power is integrated from
    #: it, not from live data.
    ensemble_power: bool = False
    #: Each IQ Battery's capacity by serial number, Wh (from the ensemble inventory).
    capacities_wh: dict[str, float] = attrs.Factory(dict)
    firmware: str | None = None
    live_counters: Mapping[str, int] = attrs.Factory(dict)
    guards: dict[str, CounterGuard] = attrs.Factory(dict)
    series: dict[str, _Series] = attrs.Factory(dict)
    battery: BatteryIntegrator = attrs.Factory(BatteryIntegrator)
    #: Every flow's sum over the sources (it may dip a little; the totals do not).
    running: dict[str, float] = attrs.Factory(dict)
    totals: dict[str, float] = attrs.Factory(dict)

    @property
    def label(self) -> str:
        return f"gateway {self.serial or self.host}:"

    def enabled(self, kind: MeasurementType) -> bool:
        return any(
            m.measurement_type is kind and m.state is MeterState.ENABLED for m in self.meters
        )

    def restarted(self) -> None:
        for guard in self.guards.values():
            guard.note_restart()


def _new_guard(site: _Site, counter: str) -> CounterGuard:
    batch = REPORT_S if counter.startswith("production.") else 0.0
    return CounterGuard(f"{site.label} {counter}", batch_s=batch, daily=counter in _DAILY)


#: What the tracker derives.
Derived = CounterEvent | EnergyEvent
_Handler = Callable[["EnergyTracker", _Site, DataEvent], list[Derived]]


class EnergyTracker:
    """Guards every energy counter of many gateways and derives their energy flows.

    Feed it every event, in order, from one task; it keeps no reference to them. A
    :class:`~enphase_local.sinks.SinkSet` made with one runs it between the poller and
    the sinks.
    """

    def __init__(self) -> None:
        self._sites: dict[str, _Site] = {}

    def __repr__(self) -> str:
        return f"EnergyTracker({len(self._sites)} gateway(s))"

    def update(self, event: Event) -> list[Derived]:
        """Take an event; return the events derived from it (often none)."""
        if not isinstance(event, DataEvent):
            return []
        handler = _HANDLERS.get(event.endpoint)
        if handler is None:
            return []
        return handler(self, self._site(event), event)

    def restore(self, events: Iterable[EnergyEvent]) -> None:
        """Go on from the last event of each gateway's sources, written by an earlier run."""
        for event in sorted(events, key=lambda e: e.at):
            site = self._site(event)
            at = event.at.timestamp()
            site.series[event.source] = _Series(at=at, flows=dict(event.flows))
            for flow, total in event.totals.items():
                site.totals[flow] = site.running[flow] = max(site.totals.get(flow, total), total)
            state: dict[str, float] = {}
            for name, value in event.counters.items():
                if name.startswith(f"{BATTERY}."):
                    state[name.removeprefix(f"{BATTERY}.")] = value
                else:
                    self._guard(site, name).restore(at, value)
            if event.source == BATTERY:
                site.rating.battery = True
                flows = event.flows
                site.battery.restore(
                    flows.get(BATTERY_CHARGE, 0.0), flows.get(BATTERY_DISCHARGE, 0.0), state
                )

    def _site(self, event: SinkEvent) -> _Site:
        key = gateway_key(event)
        site = self._sites.get(key)
        if site is None:
            site = self._sites[key] = _Site(serial=event.serial, host=event.host)
        return site

    @staticmethod
    def _guard(site: _Site, counter: str) -> CounterGuard:
        guard = site.guards.get(counter)
        if guard is None:
            guard = site.guards[counter] = _new_guard(site, counter)
        return guard

    def _judge(
        self, site: _Site, counter: str, value: float, event: DataEvent, out: list[Derived]
    ) -> tuple[float, float]:
        """(energy the reading adds, the counter's accepted value), Wh; a decision goes to
        ``out``."""
        guard = self._guard(site, counter)
        previous = guard.value
        verdict = guard.update(event.fetched_at.timestamp(), value, site.rating.limit_w(counter))
        if verdict.decision is not None:
            out.append(
                CounterEvent(
                    serial=event.serial,
                    host=event.host,
                    counter=counter,
                    decision=verdict.decision,
                    value=value,
                    previous=previous,
                    at=event.fetched_at,
                    reason=verdict.reason,
                )
            )
        accepted = guard.value
        assert accepted is not None  # set by the first reading
        return verdict.delta_wh, accepted

    def _emit(
        self,
        site: _Site,
        source: str,
        event: DataEvent,
        changes: Mapping[str, float],
        *,
        starts: Mapping[str, float],
        counters: Mapping[str, float],
        gap: bool | None = None,
    ) -> EnergyEvent:
        """Add ``changes`` to a source's flows (``starts`` are where new flows begin) and to
        the gateway's totals; ``gap`` says whether the interval was one (None: the source's
        cadence tells)."""
        at = event.fetched_at.timestamp()
        series = site.series.setdefault(source, _Series())
        filled = (
            gap
            if gap is not None
            else (series.at is not None and series.cadence.observe(at - series.at))
        )
        for flow, start in starts.items():
            series.flows.setdefault(flow, max(start, 0.0))
            if flow not in site.running:
                site.running[flow] = site.totals[flow] = max(start, 0.0)
        for flow, change in changes.items():
            series.flows[flow] += change
            site.running[flow] += change
            site.totals[flow] = max(site.totals[flow], site.running[flow])
        series.at = at
        return EnergyEvent(
            serial=event.serial,
            host=event.host,
            source=source,
            at=event.fetched_at,
            flows=dict(series.flows),
            filled=filled,
            totals=dict(site.totals),
            counters=dict(counters),
        )

    # --- the events that matter --------------------------------------------------------

    def _info(self, site: _Site, event: DataEvent) -> list[Derived]:
        firmware = event.model.firmware
        if site.firmware is not None and firmware != site.firmware:
            _LOGGER.info(
                "%s firmware %s, was %s: counters may restart", site.label, firmware, site.firmware
            )
            site.restarted()
        site.firmware = firmware
        return []

    def _meter_config(self, site: _Site, event: DataEvent) -> list[Derived]:
        site.meters = event.model
        site.meters_read = True
        phases = [m.phase_count for m in site.meters if m.state is MeterState.ENABLED]
        site.rating.phases = max(phases) if phases else None
        site.rating.battery |= site.enabled(MeasurementType.STORAGE)
        return []

    def _device_list(self, site: _Site, event: DataEvent) -> list[Derived]:
        storage = [d for d in event.model.devices if d.device_type is DeviceType.STORAGE]
        if storage:
            site.rating.battery = True
            capacities = [d.capacity_wh for d in storage if d.capacity_wh is not None]
            site.rating.battery_capacity_wh = sum(capacities) if capacities else None
        return []

    def _ensemble_inventory(self, site: _Site, event: DataEvent) -> list[Derived]:
        inventory: EnsembleInventory = event.model
        if inventory.batteries:
            site.rating.battery = True
            site.capacities_wh = {
                b.serial_number: b.capacity_wh
                for b in inventory.batteries
                if b.capacity_wh is not None
            }
            if len(site.capacities_wh) == len(inventory.batteries):
                site.rating.battery_capacity_wh = sum(site.capacities_wh.values())
        return []

    def _inverters(self, site: _Site, event: DataEvent) -> list[Derived]:
        if event.model:
            site.rating.pv_w = sum(inverter.max_report_w for inverter in event.model)
        return []

    def _meter_readings(self, site: _Site, event: DataEvent) -> list[Derived]:
        joined = readings_by_type(site.meters, event.model)
        out: list[Derived] = []
        changes: dict[str, float] = {}
        values: dict[str, float] = {}
        for kind in _METER_TYPES:
            reading = joined.get(kind)
            if reading is None:
                continue
            for which, value in (
                ("delivered", reading.energy_delivered_wh),
                ("received", reading.energy_received_wh),
            ):
                counter = register(kind, which)
                changes[counter], values[counter] = self._judge(site, counter, value, event, out)
        if not values:
            return out
        starts = meter_flows(values)
        out.append(
            self._emit(site, METERS, event, meter_flows(changes), starts=starts, counters=values)
        )
        return out

    def _production(self, site: _Site, event: DataEvent) -> list[Derived]:
        out: list[Derived] = []
        changes: dict[str, float] = {}
        values: dict[str, float] = {}
        for counter, field, _ in _PRODUCTION_COUNTERS:
            value = getattr(event.model, field)
            changes[counter], values[counter] = self._judge(site, counter, value, event, out)
        if site.enabled(MeasurementType.PRODUCTION):  # the CT counts production
            out.append(self._emit(site, PRODUCTION_SOURCE, event, {}, starts={}, counters=values))
            return out
        lifetime = "production.lifetime_wh"
        out.append(
            self._emit(
                site,
                PRODUCTION_SOURCE,
                event,
                {PRODUCTION: changes[lifetime]},
                starts={PRODUCTION: values[lifetime]},
                counters=values,
            )
        )
        return out

    def _live_data(self, site: _Site, event: DataEvent) -> list[Derived]:
        live: LiveData = event.model
        if site.live_counters and _restarted_counters(site.live_counters, live.counters):
            _LOGGER.info("%s live data's counters restarted: so did the gateway", site.label)
            site.restarted()
        if live.counters:
            site.live_counters = dict(live.counters)
        sample = self._battery_sample(site, live, event)
        return [] if sample is None else self._integrate(site, event, sample)

    def _battery_sample(self, site: _Site, live: LiveData, event: DataEvent) -> Sample | None:
        """Live data's battery power, where it is the best there is (no storage CT)."""
        usable = live.stream_enabled and any(m.state is MeterState.ENABLED for m in site.meters)
        if not usable or site.enabled(MeasurementType.STORAGE) or site.ensemble_power:
            return None
        site.rating.battery |= battery_evidence(live)
        storage = live.meters.storage
        if not site.rating.battery or storage is None:
            return None
        meters = live.meters
        stored = [v for v in (meters.encharge_energy_wh, meters.acb_energy_wh) if v is not None]
        return Sample(
            at=event.fetched_at.timestamp(),
            power_w=storage.active_power_w,
            stored_wh=sum(stored) if stored else None,
        )

    def _battery_power(self, site: _Site, event: DataEvent) -> list[Derived]:
        """The IQ Batteries' own power, summed: preferred to live data's once it comes."""
        power: EnsemblePower = event.model
        watts = [b.active_power_w for b in power.batteries if b.active_power_w is not None]
        if not watts or len(watts) < len(power.batteries) or not site.meters_read:
            return []
        if site.enabled(MeasurementType.STORAGE):  # the storage CT's registers count it
            return []
        site.rating.battery = site.ensemble_power = True
        sample = Sample(
            at=event.fetched_at.timestamp(),
            power_w=sum(watts),
            stored_wh=_stored_wh(power, site.capacities_wh),
        )
        return self._integrate(site, event, sample)

    def _integrate(self, site: _Site, event: DataEvent, sample: Sample) -> list[Derived]:
        """Integrate one battery power sample that ``event`` brought (any source of battery
        power feeds this)."""
        limit = site.rating.limit_w("battery.power_w") * MARGIN
        if abs(sample.power_w) > limit:
            reason = f"{sample.power_w:.0f} W is more than the batteries can move ({limit:.0f} W)"
            _LOGGER.warning("%s battery power %s: ignored", site.label, reason)
            return [self._counter_event(event, CounterDecision.SPIKE, sample.power_w, reason)]
        step = site.battery.add(sample)
        if step is None:  # not newer than the last sample
            return []
        out: list[Derived] = []
        changes = {BATTERY_CHARGE: step.charge_wh, BATTERY_DISCHARGE: step.discharge_wh}
        if site.enabled(MeasurementType.PRODUCTION):  # the batteries share its circuit
            changes[PRODUCTION] = step.charge_wh - step.discharge_wh
        if step.gap_s is not None:
            filled = (
                f"filled with {step.charge_wh:.0f} Wh charge and {step.discharge_wh:.0f} Wh "
                "discharge from the stored energy"
                if step.filled
                else "not filled: the stored energy is not known"
            )
            reason = f"no battery power for {step.gap_s:.0f} s: not integrated, {filled}"
            out.append(self._counter_event(event, CounterDecision.GAP, sample.power_w, reason))
        state = {f"{BATTERY}.{key}": value for key, value in site.battery.state().items()}
        starts = dict.fromkeys(changes, 0.0)
        gap = step.gap_s is not None
        out.append(
            self._emit(site, BATTERY, event, changes, starts=starts, counters=state, gap=gap)
        )
        return out

    @staticmethod
    def _counter_event(
        event: DataEvent, decision: CounterDecision, power_w: float, reason: str
    ) -> CounterEvent:
        return CounterEvent(
            serial=event.serial,
            host=event.host,
            counter="battery.power_w",
            decision=decision,
            value=power_w,
            previous=None,
            at=event.fetched_at,
            reason=reason,
        )


def _stored_wh(power: EnsemblePower, capacities_wh: Mapping[str, float]) -> float | None:
    """Energy stored in the batteries, Wh: each one's charge times its capacity (None unless
    every battery's are known)."""
    stored = 0.0
    for battery in power.batteries:
        capacity = capacities_wh.get(battery.serial_number)
        if capacity is None or battery.charge_percent is None:
            return None
        stored += battery.charge_percent / 100 * capacity
    return stored


_HANDLERS: Final[Mapping[str, _Handler]] = {
    "info": EnergyTracker._info,
    "meters": EnergyTracker._meter_config,
    "device_list": EnergyTracker._device_list,
    "inverters": EnergyTracker._inverters,
    "meter_readings": EnergyTracker._meter_readings,
    "production": EnergyTracker._production,
    "live_data": EnergyTracker._live_data,
    "inventory": EnergyTracker._ensemble_inventory,
    "battery_power": EnergyTracker._battery_power,
}
