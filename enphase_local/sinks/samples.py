"""Per-device samples for typed tables: one row per battery and per microinverter.

A battery row comes from each ``battery_power`` event (power and charge), with the
temperature of the latest ``inventory`` event of the same battery (joined by serial number);
an inverter row comes from each ``device_data`` event, from its first channel.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import attrs

from enphase_local.events import DataEvent, SinkEvent
from enphase_local.models.device_data import DeviceData
from enphase_local.models.ensemble import EnsembleInventory, EnsemblePower
from enphase_local.models.summary import StorageState
from enphase_local.power import gateway_key

#: Below this power (either way) a battery is at rest: full IQ Batteries report a standby
#: draw of a few watts (16 W each in the ``8.3.5167_3rd-pv`` capture).
IDLE_BELOW_W: Final = 25.0
#: The states :attr:`BatterySample.state` takes.
BATTERY_STATES: Final = (
    StorageState.CHARGING,
    StorageState.DISCHARGING,
    StorageState.IDLE,
    StorageState.FULL,
)


@attrs.frozen(kw_only=True)
class BatterySample:
    """One battery at one moment."""

    #: The gateway (serial, or host before the serial is known).
    gateway: str
    #: The battery's serial number.
    serial: str
    #: When the power was read, UTC.
    at: dt.datetime
    #: State of charge in percent (%).
    charge_pct: float | None
    #: Power in watts (W; positive discharging).
    power_w: float | None
    #: Temperature in degrees Celsius (°C) from the latest inventory, if any.
    temperature_c: float | None

    @property
    def state(self) -> StorageState | None:
        """Charging, discharging, idle (less than :data:`IDLE_BELOW_W` either way), or full
        (idle at 100 %); None while the power is unknown."""
        power = self.power_w
        if power is None:
            return None
        if power >= IDLE_BELOW_W:
            return StorageState.DISCHARGING
        if power <= -IDLE_BELOW_W:
            return StorageState.CHARGING
        full = self.charge_pct is not None and self.charge_pct >= 100
        return StorageState.FULL if full else StorageState.IDLE


@attrs.frozen(kw_only=True)
class InverterSample:
    """One microinverter's latest report."""

    #: The gateway (serial, or host before the serial is known).
    gateway: str
    #: The inverter's serial number.
    serial: str
    #: When the data were read, UTC.
    at: dt.datetime
    #: AC power in watts (W).
    power_w: float | None
    #: DC (panel) voltage in volts (V).
    dc_voltage_v: float | None
    #: DC (panel) current in amperes (A).
    dc_current_a: float | None
    #: Temperature in degrees Celsius (°C).
    temperature_c: float | None


@attrs.define
class DeviceSampler:
    """Turns data events into battery and inverter samples, remembering temperatures."""

    _temperatures: dict[tuple[str, str], float | None] = attrs.field(factory=dict)

    def batteries(self, event: SinkEvent) -> list[BatterySample]:
        """Battery samples of ``event`` (none unless it is battery power)."""
        if not isinstance(event, DataEvent):
            return []
        gateway = gateway_key(event)
        model = event.model
        if isinstance(model, EnsembleInventory):
            for battery in model.batteries:
                self._temperatures[gateway, battery.serial_number] = battery.temperature_c
            return []
        if not isinstance(model, EnsemblePower):
            return []
        return [
            BatterySample(
                gateway=gateway,
                serial=battery.serial_number,
                at=event.fetched_at,
                charge_pct=battery.charge_percent,
                power_w=battery.active_power_w,
                temperature_c=self._temperatures.get((gateway, battery.serial_number)),
            )
            for battery in model.batteries
        ]

    def inverters(self, event: SinkEvent) -> list[InverterSample]:
        """Inverter samples of ``event`` (none unless it is device data)."""
        if not isinstance(event, DataEvent) or not isinstance(event.model, DeviceData):
            return []
        samples = []
        for device in event.model.inverters:
            if device.serial_number is None or not device.channels:
                continue
            channel = device.channels[0]
            reading = channel.last_reading
            samples.append(
                InverterSample(
                    gateway=gateway_key(event),
                    serial=device.serial_number,
                    at=event.fetched_at,
                    power_w=channel.power_w,
                    dc_voltage_v=reading.dc_voltage_v if reading else None,
                    dc_current_a=reading.dc_current_a if reading else None,
                    temperature_c=reading.temperature_c if reading else None,
                )
            )
        return samples
