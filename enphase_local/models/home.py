"""``/home``: the gateway's clock and time zone, network, cloud reporting and radio levels."""

from __future__ import annotations

from datetime import datetime

from attrs import frozen


@frozen(kw_only=True, slots=True)
class NetworkInterface:
    """One network interface."""

    #: Interface name, e.g. ``eth0``.
    name: str | None = None
    #: Kind, e.g. ``ethernet``, ``wifi`` or ``cellular``.
    type: str | None = None
    #: MAC address; None for a modem.
    mac: str | None = None
    #: IP address; None when not connected.
    ip: str | None = None
    #: Whether the address comes from DHCP.
    dhcp: bool | None = None
    #: Whether a carrier (link) is present.
    carrier: bool | None = None
    #: Whether the interface reaches the network.
    network: bool | None = None
    #: Signal strength.
    signal_strength: int | None = None
    #: Best signal strength.
    signal_strength_max: int | None = None
    #: Whether the hardware supports it (Wi-Fi).
    supported: bool | None = None
    #: Whether the hardware is present (Wi-Fi).
    present: bool | None = None
    #: Whether it is configured (Wi-Fi).
    configured: bool | None = None
    #: Connection status, e.g. ``connecting`` (Wi-Fi).
    status: str | None = None


@frozen(kw_only=True, slots=True)
class CommLevel:
    """How many devices of a kind there are and how well the gateway hears them."""

    #: Number of devices (``num``).
    count: int | None = None
    #: Signal level, 0 (none) to 5.
    level: int | None = None


@frozen(kw_only=True, slots=True)
class BatteryCommLevel(CommLevel):
    """Signal levels of the IQ Batteries, per radio."""

    #: 2.4 GHz level, 0 to 5.
    level_2_4_ghz: int | None = None
    #: Sub-GHz level, 0 to 5.
    level_sub_ghz: int | None = None


@frozen(kw_only=True, slots=True)
class CommLevels(CommLevel):
    """Signal levels of all devices together and of each kind."""

    #: Microinverters.
    pcu: CommLevel | None = None
    #: AC Batteries.
    acb: CommLevel | None = None
    #: Q-relays.
    nsrb: CommLevel | None = None
    #: Communications boards.
    esub: CommLevel | None = None
    #: IQ Batteries.
    encharge: tuple[BatteryCommLevel, ...] = ()


@frozen(kw_only=True, slots=True)
class WirelessConnection:
    """One radio of the gateway (Zigbee, sub-GHz)."""

    #: Kind, e.g. ``zigbee``.
    type: str | None = None
    #: Whether it is connected.
    connected: bool | None = None
    #: Signal strength.
    signal_strength: int | None = None
    #: Best signal strength.
    signal_strength_max: int | None = None


@frozen(kw_only=True, slots=True)
class Home:
    """``/home`` (slow: real gateways take 6 to 60 s to answer)."""

    #: Time zone name, e.g. ``Europe/Paris``.
    time_zone: str | None = None
    #: The gateway's local date as it shows it, ``MM/DD/YYYY``.
    local_date: str | None = None
    #: The gateway's local time as it shows it, ``HH:MM``.
    local_time: str | None = None
    #: When the firmware was built, UTC.
    software_built_at: datetime | None = None
    #: Whether the gateway reaches the cloud.
    web_comm: bool | None = None
    #: Whether it ever reported to Enlighten.
    ever_reported: bool | None = None
    #: When it last reported to Enlighten, UTC.
    last_report_at: datetime | None = None
    #: Interface it reports through, e.g. ``eth0``.
    primary_interface: str | None = None
    #: Network interfaces.
    interfaces: tuple[NetworkInterface, ...] = ()
    #: Tariff kind, e.g. ``single_rate``.
    tariff: str | None = None
    #: Signal levels of the devices.
    comm: CommLevels | None = None
    #: The gateway's radios.
    wireless: tuple[WirelessConnection, ...] = ()
