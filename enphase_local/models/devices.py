"""``/ivp/ensemble/device_list``: devices provisioned on the gateway's CAN bus."""

from __future__ import annotations

from enum import IntEnum

from attrs import frozen


class DeviceType(IntEnum):
    """Kind of a provisioned device, as numbered by the gateway."""

    #: The gateway does not know the device, or sent a number this library does not know.
    UNKNOWN = 0
    #: A storage device (IQ Battery / Encharge).
    STORAGE = 13
    #: A microinverter.
    MICROINVERTER = 14


@frozen(kw_only=True, slots=True)
class UsbStatus:
    """State of the gateway's USB side (``usb``)."""

    #: State of the CK2 bridge, e.g. ``connected``; None when absent.
    ck2_bridge: str | None = None
    #: Whether automatic scanning is on (sent as the text ``"true"``/``"false"``).
    auto_scan: bool | None = None


@frozen(kw_only=True, slots=True)
class ProvisionedDevice:
    """One device on the list, with its commissioning status."""

    #: Device serial number.
    serial_number: str
    #: Kind of device; UNKNOWN for numbers this library does not know.
    device_type: DeviceType
    #: Device type number exactly as sent, kept when ``device_type`` is UNKNOWN.
    device_type_raw: int
    #: Communication interface number (2 = CAN); None when absent.
    com_interface: int | None = None
    #: Communication interface name, e.g. ``CAN``; None when absent.
    com_interface_str: str | None = None
    #: Connection status as written by the gateway, e.g. ``Connected``, ``Unknown``.
    status: str | None = None
    #: Storage capacity in watt-hours (Wh), from ``dev_info``; None when absent.
    capacity_wh: float | None = None
    #: Phase the device is connected to (1, 2 or 3; ``DER_Index``); None when absent.
    der_index: int | None = None


@frozen(kw_only=True, slots=True)
class DeviceList:
    """The provisioned devices and the USB status."""

    #: The provisioned devices, in the gateway's order.
    devices: tuple[ProvisionedDevice, ...]
    #: USB status; None when absent.
    usb: UsbStatus | None = None
