"""The gateway's endpoints, each one small declaration.

A declaration names the path, the model the body becomes, how it is parsed, and the cadence
group the scheduler polls it in; the parser is built here from the model and the path. The
session exposes each as a coroutine method (``gateway.meters()``); adding an endpoint is
adding a declaration, a model and that one-line method.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import attrs

from enphase_local import parsing
from enphase_local.models import (
    AcbConfig,
    BatterySummary,
    ConsumptionReport,
    DeviceData,
    DeviceInventory,
    DeviceList,
    DryContacts,
    DryContactSettings,
    Energy,
    EnsembleInventory,
    EnsemblePower,
    EnsembleStatus,
    ExportLimit,
    Generator,
    GeneratorConfig,
    GeneratorMode,
    GeneratorSchedule,
    GridReading,
    GridRelay,
    Home,
    Info,
    Inverter,
    LiveData,
    Meter,
    MeterReading,
    Production,
    ProductionSummary,
    PvLimit,
    PvReading,
    Tariff,
)

T = TypeVar("T")


class Cadence(enum.Enum):
    """How often an endpoint's data changes on the device, and so how it is polled."""

    #: Static or configuration data: at start, every few hours, and on firmware change.
    CONFIG = "config"
    #: Data the gateway refreshes about every 5 minutes (inverter reports).
    PERIODIC = "periodic"
    #: Data that changes about every second.
    LIVE = "live"


def _structurer_parse(endpoint: Endpoint[T]) -> Callable[..., T]:
    # The structurer's own bound ``parse``: no wrapper call between the session and it.
    return endpoint.structurer(endpoint.model, endpoint.path).parse


@attrs.frozen(kw_only=True)
class Endpoint(Generic[T]):
    """One readable gateway endpoint."""

    #: The session method and event name, e.g. ``meter_readings``.
    name: str
    #: The short name the command line uses, e.g. ``readings``.
    cli_name: str
    #: The URL path, e.g. ``/ivp/meters/readings``; parse errors name it.
    path: str
    #: How often its data changes.
    cadence: Cadence
    #: What the body becomes: a model class, or ``tuple[Model, ...]`` for a JSON array.
    model: type[T]
    #: Builds the parser of a JSON body from ``model`` and ``path``.
    structurer: type[parsing.Structurer[Any]] = attrs.field(default=parsing.Structurer, repr=False)
    #: Turns the body bytes into the model; ``strict`` makes unknown keys errors. Built from
    #: ``structurer`` unless given (``/info`` has an XML parser of its own).
    parse: Callable[..., T] = attrs.field(
        default=attrs.Factory(_structurer_parse, takes_self=True), repr=False, eq=False
    )
    #: True when the body is markup (the XML of ``/info``, an HTML page) rather than JSON.
    xml: bool = False
    #: True for endpoints of the old web back end that real gateways take seconds to answer
    #: (3 to 60 s): the poller keeps them out of the live reads and reads them rarely.
    slow: bool = False
    #: Seconds one call may take when that is longer than the session's ``timeout``.
    timeout_s: float | None = None
    #: The row that firmware below :attr:`legacy_below` is read through instead, if any.
    legacy: Endpoint[T] | None = attrs.field(default=None, repr=False)
    #: The first firmware version this row applies to when it has a :attr:`legacy` row.
    legacy_below: tuple[int, ...] = ()

    def for_firmware(self, version: tuple[int, ...]) -> Endpoint[T]:
        """The row to read on firmware ``version`` (e.g. ``(3, 9, 36)``): this one or its
        legacy row."""
        if self.legacy is not None and version < self.legacy_below:
            return self.legacy
        return self


INFO: Endpoint[Info] = Endpoint(
    name="info",
    cli_name="info",
    path=parsing.INFO_PATH,  # declared beside the XML parser, which names it in errors
    cadence=Cadence.CONFIG,
    model=Info,
    parse=parsing.parse_info,
    xml=True,
)
DEVICE_LIST: Endpoint[DeviceList] = Endpoint(
    name="device_list",
    cli_name="devices",
    path="/ivp/ensemble/device_list",
    cadence=Cadence.CONFIG,
    model=DeviceList,
)
METERS: Endpoint[tuple[Meter, ...]] = Endpoint(
    name="meters",
    cli_name="meters",
    path="/ivp/meters",
    cadence=Cadence.CONFIG,
    model=tuple[Meter, ...],
)
METER_READINGS: Endpoint[tuple[MeterReading, ...]] = Endpoint(
    name="meter_readings",
    cli_name="readings",
    path="/ivp/meters/readings",
    cadence=Cadence.LIVE,
    model=tuple[MeterReading, ...],
)
PRODUCTION: Endpoint[Production] = Endpoint(
    name="production",
    cli_name="production",
    path="/api/v1/production",
    cadence=Cadence.PERIODIC,
    model=Production,
)
ENERGY: Endpoint[Energy] = Endpoint(
    name="energy",
    cli_name="energy",
    path="/ivp/pdm/energy",
    cadence=Cadence.PERIODIC,
    model=Energy,
)
INVERTERS: Endpoint[tuple[Inverter, ...]] = Endpoint(
    name="inverters",
    cli_name="inverters",
    path="/api/v1/production/inverters",
    cadence=Cadence.PERIODIC,
    model=tuple[Inverter, ...],
    structurer=parsing.SkippingStructurer,
)
LIVE_DATA: Endpoint[LiveData] = Endpoint(
    name="live_data",
    cli_name="livedata",
    path="/ivp/livedata/status",
    cadence=Cadence.LIVE,
    model=LiveData,
)
CONSUMPTION_REPORTS: Endpoint[tuple[ConsumptionReport, ...]] = Endpoint(
    name="consumption_reports",
    cli_name="consumption",
    path="/ivp/meters/reports/consumption",
    cadence=Cadence.LIVE,
    model=tuple[ConsumptionReport, ...],
    structurer=parsing.OneOrManyStructurer,
)
GRID_READINGS: Endpoint[tuple[GridReading, ...]] = Endpoint(
    name="grid_readings",
    cli_name="grid",
    path="/ivp/meters/gridReading",
    cadence=Cadence.LIVE,
    model=tuple[GridReading, ...],
)


# Beyond the vendor brief: batteries, System Controller, generator, settings and detail.

ENSEMBLE_INVENTORY: Endpoint[EnsembleInventory] = Endpoint(
    name="inventory",
    cli_name="inventory",
    path="/ivp/ensemble/inventory",
    cadence=Cadence.LIVE,
    model=EnsembleInventory,
    structurer=parsing.GroupedStructurer,
)
BATTERY_POWER: Endpoint[EnsemblePower] = Endpoint(
    name="battery_power",
    cli_name="battery-power",
    path="/ivp/ensemble/power",
    cadence=Cadence.LIVE,
    model=EnsemblePower,
)
BATTERY_SUMMARY: Endpoint[BatterySummary] = Endpoint(
    name="battery_summary",
    cli_name="battery-summary",
    path="/ivp/ensemble/secctrl",
    cadence=Cadence.LIVE,
    model=BatterySummary,
)
ENSEMBLE_STATUS: Endpoint[EnsembleStatus] = Endpoint(
    name="ensemble_status",
    cli_name="ensemble-status",
    path="/ivp/ensemble/status",
    cadence=Cadence.LIVE,
    model=EnsembleStatus,
)
GRID_RELAY: Endpoint[GridRelay] = Endpoint(
    name="grid_relay",
    cli_name="relay",
    path="/ivp/ensemble/relay",
    cadence=Cadence.LIVE,
    model=GridRelay,
)
DRY_CONTACTS: Endpoint[DryContacts] = Endpoint(
    name="dry_contacts",
    cli_name="dry-contacts",
    path="/ivp/ensemble/dry_contacts",
    cadence=Cadence.LIVE,
    model=DryContacts,
)
DRY_CONTACT_SETTINGS: Endpoint[DryContactSettings] = Endpoint(
    name="dry_contact_settings",
    cli_name="dry-contact-settings",
    path="/ivp/ss/dry_contact_settings",
    cadence=Cadence.CONFIG,
    model=DryContactSettings,
)
GENERATOR: Endpoint[Generator] = Endpoint(
    name="generator",
    cli_name="generator",
    path="/ivp/ensemble/generator",
    cadence=Cadence.LIVE,
    model=Generator,
)
GENERATOR_CONFIG: Endpoint[GeneratorConfig] = Endpoint(
    name="generator_config",
    cli_name="generator-config",
    path="/ivp/ss/gen_config",
    cadence=Cadence.CONFIG,
    model=GeneratorConfig,
)
GENERATOR_SCHEDULE: Endpoint[GeneratorSchedule] = Endpoint(
    name="generator_schedule",
    cli_name="generator-schedule",
    path="/ivp/ss/gen_schedule",
    cadence=Cadence.CONFIG,
    model=GeneratorSchedule,
)
GENERATOR_MODE: Endpoint[GeneratorMode] = Endpoint(
    name="generator_mode",
    cli_name="generator-mode",
    path="/ivp/ss/gen_mode",
    cadence=Cadence.CONFIG,
    model=GeneratorMode,
)
TARIFF: Endpoint[Tariff] = Endpoint(
    name="tariff",
    cli_name="tariff",
    path="/admin/lib/tariff",
    cadence=Cadence.CONFIG,
    model=Tariff,
)
ACB_CONFIG: Endpoint[AcbConfig] = Endpoint(
    name="acb_config",
    cli_name="acb-config",
    path="/admin/lib/acb_config",
    cadence=Cadence.CONFIG,
    model=AcbConfig,
)
PV_LIMIT: Endpoint[PvLimit] = Endpoint(
    name="pv_limit",
    cli_name="pv-limit",
    path="/ivp/sc/pvlimit",
    cadence=Cadence.CONFIG,
    model=PvLimit,
)
EXPORT_LIMIT: Endpoint[ExportLimit] = Endpoint(
    name="export_limit",
    cli_name="export-limit",
    path="/ivp/ss/pel_settings",
    cadence=Cadence.CONFIG,
    model=ExportLimit,
)
DEVICE_DATA: Endpoint[DeviceData] = Endpoint(
    name="device_data",
    cli_name="device-data",
    path="/ivp/pdm/device_data",
    cadence=Cadence.PERIODIC,
    model=DeviceData,
)
#: Firmware before 4 has no ``/production.json`` (3.9.36 answers its "Page Not Found" page),
#: only this HTML page; read into the same model.
PRODUCTION_PAGE: Endpoint[ProductionSummary] = Endpoint(
    name="production_summary",
    cli_name="production-summary",
    path=parsing.PRODUCTION_PAGE_PATH,  # declared beside the HTML parser, which names it
    cadence=Cadence.PERIODIC,
    model=ProductionSummary,
    parse=parsing.parse_production_page,
    xml=True,
    slow=True,
)
PRODUCTION_SUMMARY: Endpoint[ProductionSummary] = Endpoint(
    name="production_summary",
    cli_name="production-summary",
    path="/production.json?details=1",
    cadence=Cadence.PERIODIC,
    model=ProductionSummary,
    slow=True,
    timeout_s=90.0,  # 3-5 s typical, up to 55 s seen
    legacy=PRODUCTION_PAGE,
    legacy_below=(4,),
)
DEVICE_INVENTORY: Endpoint[DeviceInventory] = Endpoint(
    name="device_inventory",
    cli_name="device-inventory",
    path="/inventory.json?deleted=1",
    cadence=Cadence.CONFIG,
    model=DeviceInventory,
    structurer=parsing.GroupedStructurer,
    slow=True,
    timeout_s=90.0,  # 4-20 s seen
)
HOME: Endpoint[Home] = Endpoint(
    name="home",
    cli_name="home",
    path="/home",
    cadence=Cadence.CONFIG,
    model=Home,
    slow=True,
    timeout_s=120.0,  # 6-60 s seen
)
METER_REPORTS: Endpoint[tuple[ConsumptionReport, ...]] = Endpoint(
    name="meter_reports",
    cli_name="meter-reports",
    path="/ivp/meters/reports",
    cadence=Cadence.LIVE,
    model=tuple[ConsumptionReport, ...],
)
PV_READINGS: Endpoint[tuple[PvReading, ...]] = Endpoint(
    name="pv_readings",
    cli_name="pv-readings",
    path="/ivp/meters/pvReading",
    cadence=Cadence.LIVE,
    model=tuple[PvReading, ...],
)

#: Every readable endpoint: those of the vendor brief in its order, then the others.
ENDPOINTS: tuple[Endpoint[Any], ...] = (
    INFO,
    DEVICE_LIST,
    METERS,
    METER_READINGS,
    PRODUCTION,
    ENERGY,
    INVERTERS,
    LIVE_DATA,
    CONSUMPTION_REPORTS,
    GRID_READINGS,
    ENSEMBLE_INVENTORY,
    BATTERY_POWER,
    BATTERY_SUMMARY,
    ENSEMBLE_STATUS,
    GRID_RELAY,
    DRY_CONTACTS,
    DRY_CONTACT_SETTINGS,
    GENERATOR,
    GENERATOR_CONFIG,
    GENERATOR_SCHEDULE,
    GENERATOR_MODE,
    TARIFF,
    ACB_CONFIG,
    PV_LIMIT,
    EXPORT_LIMIT,
    DEVICE_DATA,
    PRODUCTION_SUMMARY,
    DEVICE_INVENTORY,
    HOME,
    METER_REPORTS,
    PV_READINGS,
)

#: Endpoints by their command-line name.
BY_CLI_NAME: dict[str, Endpoint[Any]] = {e.cli_name: e for e in ENDPOINTS}

#: The path of the live-stream switch (``POST {"enable": 1}``), declared beside the parser of
#: its reply, :func:`~enphase_local.parsing.parse_stream_status`.
LIVE_STREAM_PATH = parsing.LIVE_STREAM_PATH
#: The path that checks a token and hands out a ``sessionId`` cookie.
CHECK_JWT_PATH = "/auth/check_jwt"
