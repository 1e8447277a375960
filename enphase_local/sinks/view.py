"""The latest known values of each gateway, kept up to date from the event stream.

The MQTT and Prometheus sinks publish state rather than a log of events; both read it from
:class:`GatewayViews`. Updating is cheap (a few dictionary writes per event), so they do it in
``submit`` and the latest state survives even when raw events are dropped.

Energy values come only from the energy tracker's guarded events
(:class:`~enphase_local.events.EnergyEvent`), never from a counter as the gateway sent it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

import attrs

from enphase_local.energy import (
    BATTERY_CHARGE,
    BATTERY_DISCHARGE,
    CONSUMPTION,
    GRID_EXPORT,
    GRID_IMPORT,
    PRODUCTION,
)
from enphase_local.events import (
    CounterEvent,
    DataEvent,
    EnergyEvent,
    ErrorEvent,
    GatewayState,
    SinkEvent,
    StateEvent,
)
from enphase_local.models import EnsembleInventory, Info, Inverter
from enphase_local.power import PowerSample, PowerTracker
from enphase_local.sinks.base import event_endpoint, event_kind, event_time
from enphase_local.sinks.ensemble import EnsembleView
from enphase_local.sinks.samples import BatterySample, DeviceSampler, InverterSample

#: States in which a gateway's values are current.
AVAILABLE_STATES = frozenset({GatewayState.ONLINE, GatewayState.DEGRADED})

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")

#: The energy values (Wh, guarded totals that never decrease) and the flow each one is.
ENERGY_VALUES: Final = {
    "solar_energy_wh": PRODUCTION,
    "consumption_energy_wh": CONSUMPTION,
    "grid_import_wh": GRID_IMPORT,
    "grid_export_wh": GRID_EXPORT,
    "battery_charge_wh": BATTERY_CHARGE,
    "battery_discharge_wh": BATTERY_DISCHARGE,
}
#: The gateway's own production counters, guarded (they reset when the gateway's do).
COUNTER_VALUES: Final = {
    "production_today_wh": "production.today_wh",
    "production_lifetime_wh": "production.lifetime_wh",
}


def safe_id(text: str) -> str:
    """``text`` reduced to letters, digits, ``_`` and ``-`` (MQTT levels, HA object ids)."""
    return _UNSAFE.sub("_", text).strip("_") or "_"


@attrs.define
class GatewayView:
    """What is known now about one gateway (one configured host)."""

    #: The configured host.
    host: str
    #: Serial number, once known.
    serial: str | None = None
    #: Gateway state from the poller; None until the first state event.
    state: GatewayState | None = None
    #: Why the state last changed.
    state_reason: str | None = None
    #: Firmware version, from ``/info``.
    firmware: str | None = None
    #: Gateway part number, from ``/info``.
    part_number: str | None = None
    #: The latest power sample.
    power: PowerSample | None = None
    #: Energy totals per flow (:data:`~enphase_local.energy.FLOWS`), Wh, from the latest
    #: energy event: they never decrease.
    energy: dict[str, float] = attrs.Factory(dict)
    #: The guarded counters by name (e.g. ``production.today_wh``), Wh.
    counters: dict[str, float] = attrs.Factory(dict)
    #: The counter guard's decisions so far, by decision (``held``, ``spike``...).
    decisions: Counter[str] = attrs.Factory(Counter)
    #: The latest report of each microinverter, by serial number.
    inverters: dict[str, Inverter] = attrs.Factory(dict)
    #: The latest sample of each battery, by serial number.
    batteries: dict[str, BatterySample] = attrs.Factory(dict)
    #: The latest device data sample of each microinverter, by serial number.
    inverter_samples: dict[str, InverterSample] = attrs.Factory(dict)
    #: Grid, dry contact, generator and storage settings of a battery site.
    ensemble: EnsembleView = attrs.Factory(EnsembleView)
    #: Joins battery power with the inventory's temperatures.
    sampler: DeviceSampler = attrs.field(factory=DeviceSampler, repr=False, eq=False)
    #: Events seen, by (kind, endpoint); endpoint is ``""`` for state changes.
    events: Counter[tuple[str, str]] = attrs.Factory(Counter)
    #: When each endpoint was last read successfully, UTC.
    last_success: dict[str, datetime] = attrs.Factory(dict)
    #: How long each endpoint's last read took, seconds.
    last_latency_s: dict[str, float] = attrs.Factory(dict)
    #: When anything about this gateway last changed, UTC.
    updated_at: datetime | None = None

    @property
    def key(self) -> str:
        """The serial number, or the host before it is known."""
        return self.serial if self.serial is not None else self.host

    @property
    def topic_id(self) -> str:
        """:attr:`key` made safe for an MQTT topic level or a Home Assistant id."""
        return safe_id(self.key)

    @property
    def available(self) -> bool:
        """Whether the values are current: online or degraded, or data and no state yet."""
        if self.state is None:
            return bool(self.last_success)
        return self.state in AVAILABLE_STATES

    @property
    def has_battery(self) -> bool:
        """Whether the site shows batteries (per-battery reads, the inventory, or the power
        sample's battery values)."""
        power = self.power
        if self.batteries or self.ensemble.batteries_listed:
            return True
        return power is not None and (
            power.storage_w is not None or power.battery_soc_pct is not None
        )

    def site_values(self) -> dict[str, str | float | None]:
        """Grid state, generator state, storage mode and backup reserve, where the site has
        the hardware (see :class:`~enphase_local.sinks.ensemble.EnsembleView`)."""
        return self.ensemble.values(battery=self.has_battery)

    def setting_values(self) -> dict[str, str | bool | None]:
        """Whether the batteries charge from the grid and the generator command, where the
        site has the hardware (see
        :meth:`~enphase_local.sinks.ensemble.EnsembleView.setting_values`)."""
        return self.ensemble.setting_values(battery=self.has_battery)

    def values(self) -> dict[str, float | None]:
        """The sensor values by name (None when unknown)."""
        power = self.power
        return {
            "production_w": None if power is None else power.production_w,
            "consumption_w": None if power is None else power.consumption_w,
            "net_w": None if power is None else power.net_w,
            "grid_w": None if power is None else power.grid_w,
            "storage_w": None if power is None else power.storage_w,
            "battery_soc_pct": None if power is None else power.battery_soc_pct,
            **{key: self.counters.get(name) for key, name in COUNTER_VALUES.items()},
            **{key: self.energy.get(flow) for key, flow in ENERGY_VALUES.items()},
        }

    def apply(self, event: SinkEvent) -> bool:
        """Take in an event; return whether a published value may have changed."""
        if event.serial is not None:
            self.serial = event.serial
        self.updated_at = event_time(event)
        if isinstance(event, EnergyEvent):
            self.energy = dict(event.totals)
            self.counters |= event.counters
            return True
        if isinstance(event, CounterEvent):
            self.decisions[event.decision.value] += 1
            return False
        endpoint = event_endpoint(event)
        self.events[event_kind(event), endpoint or ""] += 1
        if isinstance(event, StateEvent):
            self.state, self.state_reason = event.state, event.reason
            return True
        if isinstance(event, ErrorEvent):
            self.last_latency_s[event.endpoint] = event.latency_s
            return False
        if not isinstance(event, DataEvent):
            return False
        self.last_success[event.endpoint] = event.fetched_at
        self.last_latency_s[event.endpoint] = event.latency_s
        batteries, inverters = self.sampler.batteries(event), self.sampler.inverters(event)
        self.batteries.update((b.serial, b) for b in batteries)
        self.inverter_samples.update((i.serial, i) for i in inverters)
        if isinstance(event.model, EnsembleInventory):
            self._refresh_temperatures(event.model)
        ensemble = self.ensemble.apply(event.model)
        return self._apply_model(event.endpoint, event.model) or bool(
            batteries or inverters or ensemble
        )

    def _refresh_temperatures(self, inventory: EnsembleInventory) -> None:
        """Each known battery's latest sample with the inventory's new temperature."""
        for battery in inventory.batteries:
            sample = self.batteries.get(battery.serial_number)
            if sample is not None:
                self.batteries[battery.serial_number] = attrs.evolve(
                    sample, temperature_c=battery.temperature_c
                )

    def _apply_model(self, endpoint: str, model: Any) -> bool:
        if isinstance(model, Info):
            self.firmware, self.part_number = model.firmware, model.part_number
        elif endpoint == "inverters":
            self.inverters = {inverter.serial_number: inverter for inverter in model}
        else:
            return False
        return True


class GatewayViews:
    """Every gateway's :class:`GatewayView`, by configured host, plus their power samples."""

    def __init__(self) -> None:
        self._views: dict[str, GatewayView] = {}
        self._tracker = PowerTracker()

    def update(self, event: SinkEvent) -> tuple[GatewayView, bool]:
        """Apply an event; return its gateway's view and whether published values changed."""
        view = self._views.get(event.host)
        if view is None:
            view = self._views[event.host] = GatewayView(host=event.host)
        changed = view.apply(event)
        if isinstance(event, CounterEvent | EnergyEvent):
            return view, changed
        sample = self._tracker.update(event)
        if sample is not None:
            view.power = sample
            changed = True
        return view, changed

    def __iter__(self) -> Iterator[GatewayView]:
        return iter(list(self._views.values()))

    def __len__(self) -> int:
        return len(self._views)
