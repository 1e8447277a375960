"""Parsing of gateway bodies into models: one function per endpoint.

Each parser takes the body bytes (whatever the Content-Type said) and returns a model, or
raises :class:`~enphase_local.errors.PayloadError` naming the endpoint and the JSON (or XML)
path of the first problem; no json, cattrs or lxml exception escapes. With ``strict=True``
unknown keys are errors too; the tests over real captures use it to notice new fields.
"""

from __future__ import annotations

from enphase_local.parsing.info_xml import parse_info
from enphase_local.parsing.parsers import (
    parse_consumption_reports,
    parse_device_list,
    parse_energy,
    parse_grid_readings,
    parse_inverters,
    parse_live_data,
    parse_meter_readings,
    parse_meters,
    parse_production,
    parse_stream_status,
)

__all__ = [
    "parse_consumption_reports",
    "parse_device_list",
    "parse_energy",
    "parse_grid_readings",
    "parse_info",
    "parse_inverters",
    "parse_live_data",
    "parse_meter_readings",
    "parse_meters",
    "parse_production",
    "parse_stream_status",
]
