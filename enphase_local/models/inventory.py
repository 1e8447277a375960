"""``/inventory.json?deleted=1``: microinverters, AC Batteries, Q-relays and ESUBs."""

from __future__ import annotations

from datetime import datetime

from attrs import frozen

from enphase_local.models.ensemble import Phase
from enphase_local.models.summary import StorageState


@frozen(kw_only=True, slots=True)
class DeviceControl:
    """A control setting of a device."""

    #: Whether a ground fault clear is set.
    gfi_clear: bool | None = None


@frozen(kw_only=True, slots=True)
class InventoryDevice:
    """One device of the inventory (times are sent as text)."""

    #: Serial number.
    serial_number: str
    #: Part number.
    part_number: str | None = None
    #: Device type number (``dev_type``).
    device_type: int | None = None
    #: When installed, UTC.
    installed_at: datetime | None = None
    #: When added to the gateway's records, UTC.
    created_at: datetime | None = None
    #: When it last reported, UTC; None when never.
    last_report_at: datetime | None = None
    #: Status flags, e.g. ``envoy.global.ok``.
    status_flags: tuple[str, ...] = ()
    #: Administrative state number.
    admin_state: int | None = None
    #: Running firmware (``img_pnum_running``).
    firmware: str | None = None
    #: When the running firmware was loaded, UTC; None when never.
    firmware_loaded_at: datetime | None = None
    #: Parameter table part number (``ptpn``), as sent.
    ptpn: str | None = None
    #: Channel id.
    channel_eid: int | None = None
    #: Control settings.
    control: tuple[DeviceControl, ...] = ()
    #: Whether it produces.
    producing: bool | None = None
    #: Whether the gateway hears from it.
    communicating: bool | None = None
    #: Whether it is provisioned.
    provisioned: bool | None = None
    #: Whether it operates.
    operating: bool | None = None
    #: Phase it is connected to.
    phase: Phase | None = None
    #: State of charge in percent (%; AC Batteries).
    charge_percent: float | None = None
    #: What it does (AC Batteries).
    charge_status: StorageState | None = None
    #: Temperature of the hottest cell in degrees Celsius (°C; AC Batteries).
    max_cell_temperature_c: float | None = None
    #: Whether sleep is enabled (AC Batteries).
    sleep_enabled: bool | None = None
    #: Charge below which it sleeps, in percent (%; AC Batteries).
    sleep_min_percent: float | None = None
    #: Charge above which it wakes, in percent (%; AC Batteries).
    sleep_max_percent: float | None = None


@frozen(kw_only=True, slots=True)
class DeviceInventory:
    """The devices by kind (the gateway sends a list of ``{type, devices}`` groups)."""

    #: Microinverters (``PCU``); with ``deleted=1`` removed ones too.
    inverters: tuple[InventoryDevice, ...] = ()
    #: AC Batteries (``ACB``).
    ac_batteries: tuple[InventoryDevice, ...] = ()
    #: Q-relays (``NSRB``).
    relays: tuple[InventoryDevice, ...] = ()
    #: Communications boards (``ESUB``), e.g. of a System Controller.
    esubs: tuple[InventoryDevice, ...] = ()
