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
    ConsumptionReport,
    DeviceList,
    Energy,
    GridReading,
    Info,
    Inverter,
    LiveData,
    Meter,
    MeterReading,
    Production,
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
    #: True when the body is XML rather than JSON.
    xml: bool = False


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

#: Every readable endpoint, in the order of the vendor brief.
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
)

#: Endpoints by their command-line name.
BY_CLI_NAME: dict[str, Endpoint[Any]] = {e.cli_name: e for e in ENDPOINTS}

#: The path of the live-stream switch (``POST {"enable": 1}``), declared beside the parser of
#: its reply, :func:`~enphase_local.parsing.parse_stream_status`.
LIVE_STREAM_PATH = parsing.LIVE_STREAM_PATH
#: The path that checks a token and hands out a ``sessionId`` cookie.
CHECK_JWT_PATH = "/auth/check_jwt"
