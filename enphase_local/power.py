"""One power picture per gateway, derived from the latest models the poller delivered.

Sign conventions of :class:`PowerSample` (the same as the gateway's own):

- ``production_w``: what the production CT measures, positive while producing. On sites whose
  batteries share the production circuit it includes their flow (charging lowers it), which
  is how the gateway itself accounts for them.
- ``consumption_w``: the house load, positive: ``production + grid``, the gateway's own
  "total consumption" (a capture with a storage CT, ``8.2.127_with_3cts_and_battery_split``,
  reports exactly ``production + net`` while its battery charges at 2.6 kW; adding the
  storage CT on top would give a negative load).
- ``net_w``: load minus production; negative while the site produces more than it uses.
- ``storage_w``: battery power as its CT or live data reports it, positive while discharging,
  negative while charging; shown beside the others, not added to them.
- ``grid_w``: power at the grid connection, positive while importing, negative while
  exporting; equal to ``net_w`` when a CT measures it.

Where the numbers come from, best first:

1. The meters (CTs): ``/ivp/meters/readings`` joined to ``/ivp/meters`` by ``eid`` (never by
   list position; 8.3 firmware reorders them), enabled meters only. A ``production`` CT gives
   production. A ``net-consumption`` CT sits at the grid connection and measures the grid
   exchange, so ``consumption = production + grid``. A ``total-consumption`` CT measures the
   load itself, so ``grid = consumption - production``. A ``storage`` CT gives the battery
   power.
2. ``/ivp/livedata/status`` while its stream is on and the gateway has enabled meters (its
   ``pv``, ``load`` and ``grid`` come from the CTs: without them they are zeros): used when
   the readings are missing. Its battery values and state of charge (the only source of it)
   are used whenever the site has a battery.
3. ``/api/v1/production`` (the microinverters' total, 5-minute data): production only.

``/ivp/meters/gridReading`` fills ``grid_w`` when nothing better knows it.

Gateways without a battery still send zeros for its power and charge in live data, so
``storage_w`` and ``battery_soc_pct`` are None until a battery shows itself: a storage CT, a
storage device in ``/ivp/ensemble/device_list``, or non-zero battery values in live data.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from enphase_local.events import DataEvent, Event, SinkEvent
from enphase_local.models import (
    DeviceType,
    GridReading,
    LiveData,
    LivePower,
    MeasurementType,
    Meter,
    MeterReading,
    MeterState,
    Production,
)


@attrs.frozen(kw_only=True)
class PowerSample:
    """Power flows of one gateway at one moment (see the module for signs and sources)."""

    #: Gateway serial number (the configured host before the serial is known).
    gateway: str
    #: When the data the sample was computed from arrived, UTC.
    at: datetime
    #: Photovoltaic production in watts (W); None when unknown.
    production_w: float | None = None
    #: House load in watts (W); None when unknown (no consumption CT, no live data).
    consumption_w: float | None = None
    #: Load minus production in watts (W); negative while producing more than is used.
    net_w: float | None = None
    #: Battery power in watts (W); negative while charging, positive while discharging.
    storage_w: float | None = None
    #: Battery state of charge in percent (%); None without a battery or live data.
    battery_soc_pct: float | None = None
    #: Power at the grid connection in watts (W); negative while exporting.
    grid_w: float | None = None
    #: Which source production came from: ``meters``, ``live_data`` or ``production``.
    source: str


@attrs.frozen(kw_only=True)
class MeterPower:
    """The enabled meters' active power by what they measure, joined by ``eid``."""

    #: Production CT, W.
    production_w: float | None = None
    #: Net-consumption CT (grid exchange), W.
    net_consumption_w: float | None = None
    #: Total-consumption CT (load), W.
    total_consumption_w: float | None = None
    #: Storage CT, W (negative while charging).
    storage_w: float | None = None


_METER_FIELDS = {
    MeasurementType.PRODUCTION: "production_w",
    MeasurementType.NET_CONSUMPTION: "net_consumption_w",
    MeasurementType.TOTAL_CONSUMPTION: "total_consumption_w",
    MeasurementType.STORAGE: "storage_w",
}


def readings_by_type(
    meters: tuple[Meter, ...], readings: tuple[MeterReading, ...]
) -> dict[MeasurementType, MeterReading]:
    """The reading of each enabled meter, by what it measures, joined on ``eid``.

    The first enabled meter of a type wins (gateways list at most one per type).
    """
    by_eid = {reading.eid: reading for reading in readings}
    joined: dict[MeasurementType, MeterReading] = {}
    for meter in meters:
        reading = by_eid.get(meter.eid)
        if reading is not None and meter.state is MeterState.ENABLED:
            joined.setdefault(meter.measurement_type, reading)
    return joined


def meter_power(meters: tuple[Meter, ...], readings: tuple[MeterReading, ...]) -> MeterPower:
    """Join readings to the enabled meters by ``eid`` and pick each measurement type's power."""
    joined = readings_by_type(meters, readings)
    return MeterPower(
        **{
            name: joined[kind].active_power_w
            for kind, name in _METER_FIELDS.items()
            if kind in joined
        }
    )


def grid_power(readings: tuple[GridReading, ...]) -> float | None:
    """Sum of the per-phase active power at the grid connection, W; None without channels."""
    channels = [channel for reading in readings for channel in reading.channels]
    if not channels:
        return None
    return sum(channel.active_power_w for channel in channels)


def _live(power: LivePower | None) -> float | None:
    return None if power is None else power.active_power_w


def battery_evidence(live: LiveData) -> bool:
    """Whether live data shows a battery: gateways without one send zeros for it."""
    meters = live.meters
    values = (
        meters.soc_pct,
        meters.encharge_soc_pct,
        meters.acb_soc_pct,
        meters.encharge_energy_wh,
        meters.acb_energy_wh,
        _live(meters.storage),
    )
    return any(values)


def live_flows_usable(live: LiveData | None, meters: tuple[Meter, ...]) -> bool:
    """Whether live data's pv/load/grid mean something: stream on, and CTs to measure them."""
    return (
        live is not None
        and live.stream_enabled
        and live.meters.pv is not None
        and any(meter.state is MeterState.ENABLED for meter in meters)
    )


def _soc(live: LiveData | None) -> float | None:
    if live is None:
        return None
    meters = live.meters
    for soc in (meters.soc_pct, meters.encharge_soc_pct, meters.acb_soc_pct):
        if soc is not None:
            return soc
    return None


def derive_power(
    gateway: str,
    at: datetime,
    *,
    meters: tuple[Meter, ...] = (),
    readings: tuple[MeterReading, ...] = (),
    live: LiveData | None = None,
    production: Production | None = None,
    grid: tuple[GridReading, ...] = (),
    battery: bool = False,
) -> PowerSample | None:
    """Compute a sample from whatever is known; None when nothing gives production.

    ``battery`` says the site is known to have a battery (e.g. from the device list); a
    storage CT or non-zero battery values in live data show it too. Without one, storage
    power and state of charge are None rather than the zeros the gateway sends.
    """
    live = live if live is not None and live.stream_enabled else None
    ct = meter_power(meters, readings)
    battery = battery or ct.storage_w is not None or (live is not None and battery_evidence(live))
    storage = ct.storage_w
    if storage is None and live is not None and battery:
        storage = _live(live.meters.storage)
    flows = live.meters if live is not None and live_flows_usable(live, meters) else None

    if ct.production_w is not None:
        source, produced = "meters", ct.production_w
    elif flows is not None and flows.pv is not None:
        source, produced = "live_data", flows.pv.active_power_w
    elif production is not None:
        source, produced = "production", production.power_w
    else:
        return None

    consumed: float | None = None
    grid_w: float | None = None
    if ct.net_consumption_w is not None:
        grid_w = ct.net_consumption_w
        consumed = produced + grid_w
    elif ct.total_consumption_w is not None:
        consumed = ct.total_consumption_w
        grid_w = consumed - produced
    elif flows is not None:
        consumed = _live(flows.load)
    if grid_w is None:
        grid_w = grid_power(grid)
    if grid_w is None and flows is not None:
        grid_w = _live(flows.grid)
    return PowerSample(
        gateway=gateway,
        at=at,
        production_w=produced,
        consumption_w=consumed,
        net_w=None if consumed is None else consumed - produced,
        storage_w=storage,
        battery_soc_pct=_soc(live) if battery else None,
        grid_w=grid_w,
        source=source,
    )


def gateway_key(event: SinkEvent) -> str:
    """How sinks name a gateway: its serial, or its configured host before that is known."""
    return event.serial if event.serial is not None else event.host


@attrs.define
class _Latest:
    meters: tuple[Meter, ...] = ()
    readings: tuple[MeterReading, ...] = ()
    live: LiveData | None = None
    production: Production | None = None
    grid: tuple[GridReading, ...] = ()
    #: Whether a battery was ever seen (sticky: an empty battery still is one).
    battery: bool = False

    def primary(self) -> str:
        """The endpoint whose arrival makes a new sample: the best source available."""
        if meter_power(self.meters, self.readings).production_w is not None:
            return "meter_readings"
        if live_flows_usable(self.live, self.meters):
            return "live_data"
        return "production"


#: Endpoints that feed the power picture, by event endpoint name.
FEEDS = frozenset(
    {"device_list", "meters", "meter_readings", "live_data", "production", "grid_readings"}
)


class PowerTracker:
    """Keeps the latest power-related models of each gateway and derives samples from them.

    :meth:`update` returns a sample when an event of the gateway's best available source
    arrives (meter readings when production CTs are in use, else live data, else
    ``/api/v1/production``), so a gateway yields one sample per poll of that source rather
    than one per endpoint. Not thread-safe: use one tracker per consumer.
    """

    def __init__(self) -> None:
        self._latest: dict[str, _Latest] = {}

    def update(self, event: Event) -> PowerSample | None:
        """Take in an event; return a new sample when it brings the gateway's primary data."""
        if not isinstance(event, DataEvent) or event.endpoint not in FEEDS:
            return None
        key = gateway_key(event)
        latest = self._latest.setdefault(key, _Latest())
        model = event.model
        if event.endpoint == "meters":
            latest.meters = model
            return None
        if event.endpoint == "device_list":
            latest.battery |= any(d.device_type is DeviceType.STORAGE for d in model.devices)
            return None
        if event.endpoint == "meter_readings":
            latest.readings = model
        elif event.endpoint == "live_data":
            latest.live = model
        elif event.endpoint == "production":
            latest.production = model
        else:
            latest.grid = model
        if event.endpoint != latest.primary():
            return None
        sample = derive_power(
            key,
            event.fetched_at,
            meters=latest.meters,
            readings=latest.readings,
            live=latest.live,
            production=latest.production,
            grid=latest.grid,
            battery=latest.battery,
        )
        if sample is not None and sample.storage_w is not None:
            latest.battery = True
        return sample

    def forget(self, gateway: str) -> None:
        """Drop what is known about a gateway (e.g. after its firmware changed)."""
        self._latest.pop(gateway, None)
