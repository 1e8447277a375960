"""The gateway's endpoints, each one small declaration.

A declaration names the path, how the body is parsed into a model, and the cadence group the
scheduler polls it in. The session exposes each as a coroutine method (``gateway.meters()``);
adding an endpoint is adding a declaration, a model and that one-line method.
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
from enphase_local.parsing.parsers import DIRECT

T = TypeVar("T")


class Cadence(enum.Enum):
    """How often an endpoint's data changes on the device, and so how it is polled."""

    #: Static or configuration data: at start, every few hours, and on firmware change.
    CONFIG = "config"
    #: Data the gateway refreshes about every 5 minutes (inverter reports).
    PERIODIC = "periodic"
    #: Data that changes about every second.
    LIVE = "live"


def _direct_parser(parse: Callable[..., T]) -> Callable[..., T]:
    return DIRECT.get(parse, parse)


@attrs.frozen(kw_only=True)
class Endpoint(Generic[T]):
    """One readable gateway endpoint."""

    #: The session method and event name, e.g. ``meter_readings``.
    name: str
    #: The short name the command line uses, e.g. ``readings``.
    cli_name: str
    #: The URL path, e.g. ``/ivp/meters/readings``.
    path: str
    #: How often its data changes.
    cadence: Cadence
    #: Turns the body bytes into the model; ``strict`` makes unknown keys errors. A ``parse_*``
    #: function that only calls its structurer is stored as the structurer's own ``parse``.
    parse: Callable[..., T] = attrs.field(repr=False, converter=_direct_parser)
    #: False only for ``/info``, which never needs a token.
    needs_auth: bool = True
    #: True when the body is XML rather than JSON.
    xml: bool = False


INFO: Endpoint[Info] = Endpoint(
    name="info",
    cli_name="info",
    path="/info",
    cadence=Cadence.CONFIG,
    parse=parsing.parse_info,
    needs_auth=False,
    xml=True,
)
DEVICE_LIST: Endpoint[DeviceList] = Endpoint(
    name="device_list",
    cli_name="devices",
    path="/ivp/ensemble/device_list",
    cadence=Cadence.CONFIG,
    parse=parsing.parse_device_list,
)
METERS: Endpoint[tuple[Meter, ...]] = Endpoint(
    name="meters",
    cli_name="meters",
    path="/ivp/meters",
    cadence=Cadence.CONFIG,
    parse=parsing.parse_meters,
)
METER_READINGS: Endpoint[tuple[MeterReading, ...]] = Endpoint(
    name="meter_readings",
    cli_name="readings",
    path="/ivp/meters/readings",
    cadence=Cadence.LIVE,
    parse=parsing.parse_meter_readings,
)
PRODUCTION: Endpoint[Production] = Endpoint(
    name="production",
    cli_name="production",
    path="/api/v1/production",
    cadence=Cadence.PERIODIC,
    parse=parsing.parse_production,
)
ENERGY: Endpoint[Energy] = Endpoint(
    name="energy",
    cli_name="energy",
    path="/ivp/pdm/energy",
    cadence=Cadence.PERIODIC,
    parse=parsing.parse_energy,
)
INVERTERS: Endpoint[tuple[Inverter, ...]] = Endpoint(
    name="inverters",
    cli_name="inverters",
    path="/api/v1/production/inverters",
    cadence=Cadence.PERIODIC,
    parse=parsing.parse_inverters,
)
LIVE_DATA: Endpoint[LiveData] = Endpoint(
    name="live_data",
    cli_name="livedata",
    path="/ivp/livedata/status",
    cadence=Cadence.LIVE,
    parse=parsing.parse_live_data,
)
CONSUMPTION_REPORTS: Endpoint[tuple[ConsumptionReport, ...]] = Endpoint(
    name="consumption_reports",
    cli_name="consumption",
    path="/ivp/meters/reports/consumption",
    cadence=Cadence.LIVE,
    parse=parsing.parse_consumption_reports,
)
GRID_READINGS: Endpoint[tuple[GridReading, ...]] = Endpoint(
    name="grid_readings",
    cli_name="grid",
    path="/ivp/meters/gridReading",
    cadence=Cadence.LIVE,
    parse=parsing.parse_grid_readings,
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

#: The path of the live-stream switch (``POST {"enable": 1}``).
LIVE_STREAM_PATH = "/ivp/livedata/stream"
#: The path that checks a token and hands out a ``sessionId`` cookie.
CHECK_JWT_PATH = "/auth/check_jwt"
