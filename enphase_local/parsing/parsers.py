"""One parser per JSON endpoint: body bytes in, model out, PayloadError on anything else."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from enphase_local.models import (
    ConsumptionReport,
    DeviceList,
    Energy,
    GridReading,
    Inverter,
    LiveConnection,
    LiveData,
    LiveStreamState,
    Meter,
    MeterReading,
    Production,
)
from enphase_local.parsing.json_body import decode_json
from enphase_local.parsing.structuring import Structurer

_LOGGER = logging.getLogger("enphase_local.parsing")

DEVICE_LIST_PATH = "/ivp/ensemble/device_list"
METERS_PATH = "/ivp/meters"
METER_READINGS_PATH = "/ivp/meters/readings"
PRODUCTION_PATH = "/api/v1/production"
ENERGY_PATH = "/ivp/pdm/energy"
INVERTERS_PATH = "/api/v1/production/inverters"
LIVE_DATA_PATH = "/ivp/livedata/status"
LIVE_STREAM_PATH = "/ivp/livedata/stream"
CONSUMPTION_REPORTS_PATH = "/ivp/meters/reports/consumption"
GRID_READINGS_PATH = "/ivp/meters/gridReading"

_DEVICE_LIST = Structurer(DeviceList, DEVICE_LIST_PATH)
_METERS = Structurer(tuple[Meter, ...], METERS_PATH)
_METER_READINGS = Structurer(tuple[MeterReading, ...], METER_READINGS_PATH)
_PRODUCTION = Structurer(Production, PRODUCTION_PATH)
_ENERGY = Structurer(Energy, ENERGY_PATH)
_INVERTERS = Structurer(tuple[Inverter, ...], INVERTERS_PATH)
_LIVE_DATA = Structurer(LiveData, LIVE_DATA_PATH)
_LIVE_STREAM = Structurer(LiveConnection, LIVE_STREAM_PATH)
_CONSUMPTION_REPORT = Structurer(ConsumptionReport, CONSUMPTION_REPORTS_PATH)
_CONSUMPTION_REPORTS = Structurer(tuple[ConsumptionReport, ...], CONSUMPTION_REPORTS_PATH)
_GRID_READINGS = Structurer(tuple[GridReading, ...], GRID_READINGS_PATH)


def parse_device_list(body: bytes, *, strict: bool = False) -> DeviceList:
    """Parse ``/ivp/ensemble/device_list``."""
    return _DEVICE_LIST.parse(body, strict)


def parse_meters(body: bytes, *, strict: bool = False) -> tuple[Meter, ...]:
    """Parse ``/ivp/meters`` (an empty tuple on gateways without meters)."""
    return _METERS.parse(body, strict)


def parse_meter_readings(body: bytes, *, strict: bool = False) -> tuple[MeterReading, ...]:
    """Parse ``/ivp/meters/readings``; join the readings to the meters by ``eid``."""
    return _METER_READINGS.parse(body, strict)


def parse_production(body: bytes, *, strict: bool = False) -> Production:
    """Parse ``/api/v1/production``."""
    return _PRODUCTION.parse(body, strict)


def parse_energy(body: bytes, *, strict: bool = False) -> Energy:
    """Parse ``/ivp/pdm/energy``."""
    return _ENERGY.parse(body, strict)


def parse_inverters(body: bytes, *, strict: bool = False) -> tuple[Inverter, ...]:
    """Parse ``/api/v1/production/inverters``.

    In lenient mode an inverter entry that does not fit is logged and skipped, so one odd
    microinverter does not hide all the others; in strict mode it is an error.
    """
    data = decode_json(body, INVERTERS_PATH)
    if strict or type(data) is not list:
        return _INVERTERS.structure(data, strict)
    return _INVERTERS.skipping_bad_items(data, _LOGGER)


def parse_live_data(body: bytes, *, strict: bool = False) -> LiveData:
    """Parse ``/ivp/livedata/status`` (milli-units on the wire become W and VA)."""
    return _LIVE_DATA.parse(body, strict)


def parse_stream_status(body: bytes, *, strict: bool = False) -> LiveStreamState:
    """Parse the reply of ``POST /ivp/livedata/stream``, e.g. ``{"sc_stream": "enabled"}``."""
    return _LIVE_STREAM.parse(body, strict).stream_state


def parse_consumption_reports(
    body: bytes, *, strict: bool = False
) -> tuple[ConsumptionReport, ...]:
    """Parse ``/ivp/meters/reports/consumption`` (also ``/ivp/meters/reports``).

    The gateway sends an array of reports; a single report object is accepted too, as the
    vendor brief shows one.
    """
    data = decode_json(body, CONSUMPTION_REPORTS_PATH)
    if type(data) is dict:
        report = _CONSUMPTION_REPORT.structure(data, strict)
        return (report,)
    return _CONSUMPTION_REPORTS.structure(data, strict)


def parse_grid_readings(body: bytes, *, strict: bool = False) -> tuple[GridReading, ...]:
    """Parse ``/ivp/meters/gridReading``."""
    return _GRID_READINGS.parse(body, strict)


#: Each ``parse_*`` above that only hands the body to its structurer, mapped to that
#: structurer's own ``parse``: the same arguments and result, one Python call less per body.
#: The endpoint table uses these.
DIRECT: dict[Callable[..., Any], Callable[..., Any]] = {
    parse_device_list: _DEVICE_LIST.parse,
    parse_meters: _METERS.parse,
    parse_meter_readings: _METER_READINGS.parse,
    parse_production: _PRODUCTION.parse,
    parse_energy: _ENERGY.parse,
    parse_live_data: _LIVE_DATA.parse,
    parse_grid_readings: _GRID_READINGS.parse,
}
