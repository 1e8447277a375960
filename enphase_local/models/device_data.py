"""``/ivp/pdm/device_data``: per device detail (microinverters and CTs), keyed by device id.

Milli-units (``acVoltageINmV``) are given in base units and joules (``joulesProduced``) in
watt-hours. The gateway lists at most ``deviceDataLimit`` (50) devices: on larger sites
:attr:`DeviceData.is_capped` is true and the inverters beyond the cap are only in
``GatewaySession.inverters()``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from attrs import frozen


class DeviceKind(StrEnum):
    """What kind of device an entry describes (``devName``)."""

    #: A microinverter (power conditioning unit).
    PCU = "pcu"
    #: A current transformer pair of the gateway's meter (``EIM1``, ``EIM2``).
    EIM = "eim"
    #: An AC Battery.
    ACB = "acb"
    #: A Q-relay.
    NSRB = "nsrb"
    #: A kind this library does not know.
    UNKNOWN = "unknown"


@frozen(kw_only=True, slots=True)
class ChannelReading:
    """The last interval a channel reported (``lastReading``); empty for a silent channel.

    Microinverters report the AC and DC values and the energy of the interval; CT channels
    the ``rms`` values and cumulative registers.
    """

    #: Channel id.
    eid: int | None = None
    #: When the interval ended, UTC.
    ended_at: datetime | None = None
    #: Length of the interval in seconds (s).
    duration_s: float | None = None
    #: Interval type number.
    interval_type: int | None = None
    #: Condition flags.
    flags: int | None = None
    #: Energy produced in the interval in watt-hours (Wh; sent in joules).
    energy_produced_wh: float | None = None
    #: Energy used in the interval in watt-hours (Wh; sent in joules).
    energy_used_wh: float | None = None
    #: AC voltage in volts (V).
    ac_voltage_v: float | None = None
    #: AC current in amperes (A).
    ac_current_a: float | None = None
    #: AC frequency in hertz (Hz).
    ac_frequency_hz: float | None = None
    #: DC (panel) voltage in volts (V).
    dc_voltage_v: float | None = None
    #: DC (panel) current in amperes (A).
    dc_current_a: float | None = None
    #: Line 1 to neutral voltage in volts (V).
    l1_voltage_v: float | None = None
    #: Line 2 to neutral voltage in volts (V).
    l2_voltage_v: float | None = None
    #: Line 3 to neutral voltage in volts (V).
    l3_voltage_v: float | None = None
    #: Channel temperature in degrees Celsius (°C).
    temperature_c: float | None = None
    #: Leading reactive quantity of the interval (``leadingVArs``), as sent.
    leading_reactive: float | None = None
    #: Lagging reactive quantity of the interval (``laggingVArs``), as sent.
    lagging_reactive: float | None = None
    #: Seconds with power conversion errors.
    conversion_error_s: float | None = None
    #: Most cycles in error at once.
    conversion_max_error_cycles: int | None = None
    #: Received signal strength.
    rssi: int | None = None
    #: Signal strength the device received.
    issi: int | None = None
    #: Power in watts (W; CTs).
    power_w: float | None = None
    #: RMS voltage in volts (V; CTs).
    voltage_v: float | None = None
    #: RMS current in amperes (A; CTs).
    current_a: float | None = None
    #: Frequency in hertz (Hz; CTs).
    frequency_hz: float | None = None
    #: Energy delivered, cumulative, in watt-hours (Wh; CTs).
    energy_delivered_wh: float | None = None
    #: Positive energy, cumulative, in watt-hours (Wh; CTs).
    energy_positive_wh: float | None = None
    #: Negative energy, cumulative, in watt-hours (Wh; CTs).
    energy_negative_wh: float | None = None
    #: Leading reactive energy, cumulative, in var-hours (varh; CTs).
    reactive_energy_leading_varh: float | None = None
    #: Lagging reactive energy, cumulative, in var-hours (varh; CTs).
    reactive_energy_lagging_varh: float | None = None
    #: Apparent energy, cumulative, in volt-ampere-hours (VAh; CTs).
    apparent_energy_vah: float | None = None


@frozen(kw_only=True, slots=True)
class ChannelLifetime:
    """A channel's totals since it was created (``lifetime``); empty for a silent channel."""

    #: When the channel was created, UTC.
    created_at: datetime | None = None
    #: Time covered in seconds (s).
    duration_s: float | None = None
    #: Energy produced in watt-hours (Wh; sent in joules).
    energy_produced_wh: float | None = None
    #: Energy delivered in watt-hours (Wh; CTs).
    energy_delivered_wh: float | None = None
    #: Leading reactive energy in var-hours (varh; CTs).
    reactive_energy_leading_varh: float | None = None
    #: Lagging reactive energy in var-hours (varh; CTs).
    reactive_energy_lagging_varh: float | None = None
    #: Apparent energy in volt-ampere-hours (VAh; CTs).
    apparent_energy_vah: float | None = None


@frozen(kw_only=True, slots=True)
class DeviceChannel:
    """One channel of a device: a microinverter has one, a CT pair one per phase."""

    #: Channel id.
    channel_eid: int | None = None
    #: When the channel last reported, UTC; None when it never did.
    reported_at: datetime | None = None
    #: Power now in watts (W).
    power_w: float | None = None
    #: Power used now in watts (W).
    power_used_w: float | None = None
    #: Highest power in watts (W).
    max_power_w: float | None = None
    #: Energy today in watt-hours (Wh).
    energy_today_wh: float | None = None
    #: Energy yesterday in watt-hours (Wh).
    energy_yesterday_wh: float | None = None
    #: Energy over the last seven days in watt-hours (Wh).
    energy_week_wh: float | None = None
    #: The last interval reported.
    last_reading: ChannelReading | None = None
    #: Totals since the channel was created.
    lifetime: ChannelLifetime | None = None


@frozen(kw_only=True, slots=True)
class DeviceDetail:
    """One device of ``device_data``."""

    #: The gateway's id of the device (the key of its entry).
    device_id: str
    #: Serial number (CT pairs: the gateway's serial and ``EIM1``/``EIM2``).
    serial_number: str | None = None
    #: What kind of device it is.
    kind: DeviceKind | None = None
    #: Whether the device is active.
    active: bool | None = None
    #: Whether the device was removed (``modGone``); CTs report it although present.
    removed: bool | None = None
    #: Its channels.
    channels: tuple[DeviceChannel, ...] = ()


@frozen(kw_only=True, slots=True)
class DeviceData:
    """``/ivp/pdm/device_data``: the devices, and how many the gateway knows."""

    #: The devices listed, in the gateway's order.
    devices: tuple[DeviceDetail, ...] = ()
    #: How many devices the gateway knows (``deviceCount``).
    device_count: int | None = None
    #: How many it lists at most (``deviceDataLimit``, 50).
    device_limit: int | None = None

    @property
    def is_capped(self) -> bool:
        """Whether the gateway knows more devices than it listed (the 50-device cap).

        The microinverters left out are only in ``GatewaySession.inverters()``.
        """
        return self.device_count is not None and self.device_count > len(self.devices)

    @property
    def inverters(self) -> tuple[DeviceDetail, ...]:
        """The microinverters listed that were not removed."""
        return tuple(d for d in self.devices if d.kind is DeviceKind.PCU and not d.removed)
