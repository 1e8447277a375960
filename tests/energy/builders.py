"""A small site in events: meters with registers that move as energy flows, for the tracker."""

from __future__ import annotations

import datetime as dt

import attrs

from enphase_local.energy import EnergyTracker
from enphase_local.events import CounterEvent, EnergyEvent
from enphase_local.models import (
    Battery,
    BatteryPower,
    DeviceList,
    DeviceType,
    EnsembleInventory,
    EnsemblePower,
    Info,
    Inverter,
    LiveConnection,
    LiveData,
    LiveMeters,
    LivePower,
    LiveStreamState,
    MeasurementType,
    MeterReading,
    Production,
    ProvisionedDevice,
)
from tests.sinks.builders import (
    CONSUMPTION_EID,
    PRODUCTION_EID,
    SERIAL,
    STORAGE_EID,
    T0,
    data_event,
    meter,
    reading,
)

EIDS = {
    MeasurementType.PRODUCTION: PRODUCTION_EID,
    MeasurementType.NET_CONSUMPTION: CONSUMPTION_EID,
    MeasurementType.STORAGE: STORAGE_EID,
}


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def info(firmware: str = "8.2.4345") -> Info:
    return Info(
        serial_number=SERIAL,
        part_number="800-00654-r08",
        software=f"D{firmware}",
        firmware=firmware,
        web_tokens=True,
        imeter=True,
    )


def registers(
    eid: int, delivered_wh: float, received_wh: float, *, when: dt.datetime = T0
) -> MeterReading:
    return attrs.evolve(
        reading(eid, 0.0, at=when), energy_delivered_wh=delivered_wh, energy_received_wh=received_wh
    )


def inverters(count: int, max_w: float) -> tuple[Inverter, ...]:
    return tuple(
        Inverter(
            serial_number=f"48220000{k:04d}",
            last_report_at=T0,
            last_report_w=0.0,
            max_report_w=max_w,
        )
        for k in range(count)
    )


def batteries(*capacities_wh: float) -> DeviceList:
    return DeviceList(
        devices=tuple(
            ProvisionedDevice(
                serial_number=f"49220000{k:04d}",
                device_type=DeviceType.STORAGE,
                device_type_raw=13,
                capacity_wh=capacity,
            )
            for k, capacity in enumerate(capacities_wh)
        )
    )


def iq_batteries(*capacities_wh: float) -> EnsembleInventory:
    """``/ivp/ensemble/inventory`` of IQ Batteries with these capacities."""
    return EnsembleInventory(
        batteries=tuple(
            Battery(serial_number=f"49220000{k:04d}", capacity_wh=capacity)
            for k, capacity in enumerate(capacities_wh)
        )
    )


def battery_power(*watts: float, charge_pct: float = 50.0) -> EnsemblePower:
    """``/ivp/ensemble/power``: each battery's power (positive discharging) and charge."""
    return EnsemblePower(
        batteries=tuple(
            BatteryPower(
                serial_number=f"49220000{k:04d}",
                active_power_w=power,
                apparent_power_va=abs(power),
                charge_percent=charge_pct,
            )
            for k, power in enumerate(watts)
        )
    )


def live(
    storage_w: float,
    *,
    stored_wh: float | None = None,
    soc_pct: float = 50.0,
    counters: dict[str, int] | None = None,
) -> LiveData:
    power = LivePower(active_power_w=storage_w, apparent_power_va=abs(storage_w))
    return LiveData(
        connection=LiveConnection(stream_state=LiveStreamState.ENABLED),
        meters=LiveMeters(
            last_update_at=T0,
            soc_pct=soc_pct,
            encharge_energy_wh=stored_wh,
            pv=power,
            storage=power,
        ),
        counters=counters or {},
    )


def production(
    lifetime_wh: float, *, today_wh: float = 1000.0, week_wh: float = 9000.0
) -> Production:
    return Production(
        power_w=0.0,
        energy_today_wh=today_wh,
        energy_seven_days_wh=week_wh,
        energy_lifetime_wh=lifetime_wh,
    )


@attrs.define
class Site:
    """A tracker fed one gateway's events; what it derived, by kind."""

    tracker: EnergyTracker = attrs.Factory(EnergyTracker)
    derived: list[CounterEvent | EnergyEvent] = attrs.Factory(list)

    def feed(
        self, endpoint: str, model: object, seconds: float = 0.0
    ) -> list[CounterEvent | EnergyEvent]:
        out = self.tracker.update(data_event(endpoint, model, at=at(seconds)))
        self.derived += out
        return out

    def configure(self, *kinds: MeasurementType, phases: int = 2) -> None:
        self.feed("info", info())
        self.feed("meters", tuple(meter(EIDS[kind], kind, phases=phases) for kind in kinds))

    def readings(
        self, seconds: float, **registers_wh: tuple[float, float]
    ) -> list[CounterEvent | EnergyEvent]:
        """Meter readings: ``production=(delivered, received)``, ``net=...``, ``storage=...``."""
        kinds = {
            "production": MeasurementType.PRODUCTION,
            "net": MeasurementType.NET_CONSUMPTION,
            "storage": MeasurementType.STORAGE,
        }
        models = tuple(
            registers(EIDS[kinds[name]], *values, when=at(seconds))
            for name, values in registers_wh.items()
        )
        return self.feed("meter_readings", models, seconds)

    def energy(self, source: str | None = None) -> list[EnergyEvent]:
        return [
            e
            for e in self.derived
            if isinstance(e, EnergyEvent) and (source is None or e.source == source)
        ]

    def decisions(self) -> list[CounterEvent]:
        return [e for e in self.derived if isinstance(e, CounterEvent)]
