"""One parser per JSON endpoint: body bytes in, model out, PayloadError on anything else."""

from __future__ import annotations

import logging

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
from enphase_local.parsing.converter import structure, structure_items_skipping_bad
from enphase_local.parsing.json_body import decode_json

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


def parse_device_list(body: bytes, *, strict: bool = False) -> DeviceList:
    """Parse ``/ivp/ensemble/device_list``."""
    data = decode_json(body, DEVICE_LIST_PATH)
    return structure(data, DeviceList, strict=strict, endpoint=DEVICE_LIST_PATH)


def parse_meters(body: bytes, *, strict: bool = False) -> tuple[Meter, ...]:
    """Parse ``/ivp/meters`` (an empty tuple on gateways without meters)."""
    data = decode_json(body, METERS_PATH)
    return structure(data, tuple[Meter, ...], strict=strict, endpoint=METERS_PATH)


def parse_meter_readings(body: bytes, *, strict: bool = False) -> tuple[MeterReading, ...]:
    """Parse ``/ivp/meters/readings``; join the readings to the meters by ``eid``."""
    data = decode_json(body, METER_READINGS_PATH)
    return structure(data, tuple[MeterReading, ...], strict=strict, endpoint=METER_READINGS_PATH)


def parse_production(body: bytes, *, strict: bool = False) -> Production:
    """Parse ``/api/v1/production``."""
    data = decode_json(body, PRODUCTION_PATH)
    return structure(data, Production, strict=strict, endpoint=PRODUCTION_PATH)


def parse_energy(body: bytes, *, strict: bool = False) -> Energy:
    """Parse ``/ivp/pdm/energy``."""
    data = decode_json(body, ENERGY_PATH)
    return structure(data, Energy, strict=strict, endpoint=ENERGY_PATH)


def parse_inverters(body: bytes, *, strict: bool = False) -> tuple[Inverter, ...]:
    """Parse ``/api/v1/production/inverters``.

    In lenient mode an inverter entry that does not fit is logged and skipped, so one odd
    microinverter does not hide all the others; in strict mode it is an error.
    """
    data = decode_json(body, INVERTERS_PATH)
    if strict or type(data) is not list:
        return structure(data, tuple[Inverter, ...], strict=strict, endpoint=INVERTERS_PATH)
    return structure_items_skipping_bad(data, Inverter, endpoint=INVERTERS_PATH, logger=_LOGGER)


def parse_live_data(body: bytes, *, strict: bool = False) -> LiveData:
    """Parse ``/ivp/livedata/status`` (milli-units on the wire become W and VA)."""
    data = decode_json(body, LIVE_DATA_PATH)
    return structure(data, LiveData, strict=strict, endpoint=LIVE_DATA_PATH)


def parse_stream_status(body: bytes, *, strict: bool = False) -> LiveStreamState:
    """Parse the reply of ``POST /ivp/livedata/stream``, e.g. ``{"sc_stream": "enabled"}``."""
    data = decode_json(body, LIVE_STREAM_PATH)
    return structure(data, LiveConnection, strict=strict, endpoint=LIVE_STREAM_PATH).stream_state


def parse_consumption_reports(
    body: bytes, *, strict: bool = False
) -> tuple[ConsumptionReport, ...]:
    """Parse ``/ivp/meters/reports/consumption`` (also ``/ivp/meters/reports``).

    The gateway sends an array of reports; a single report object is accepted too, as the
    vendor brief shows one.
    """
    data = decode_json(body, CONSUMPTION_REPORTS_PATH)
    if type(data) is dict:
        report = structure(
            data, ConsumptionReport, strict=strict, endpoint=CONSUMPTION_REPORTS_PATH
        )
        return (report,)
    return structure(
        data, tuple[ConsumptionReport, ...], strict=strict, endpoint=CONSUMPTION_REPORTS_PATH
    )


def parse_grid_readings(body: bytes, *, strict: bool = False) -> tuple[GridReading, ...]:
    """Parse ``/ivp/meters/gridReading``."""
    data = decode_json(body, GRID_READINGS_PATH)
    return structure(data, tuple[GridReading, ...], strict=strict, endpoint=GRID_READINGS_PATH)
