"""Typed, unit-correct models of the gateway's replies.

Every model is an attrs class: frozen, slotted, keyword-only. Quantities carry their SI unit
in the name (``active_power_w``, ``energy_delivered_wh``); timestamps are UTC-aware
``datetime`` objects; enums map values they do not know to ``UNKNOWN``. Wire names and unit
conversions live in :mod:`enphase_local.parsing`, not here.
"""

from __future__ import annotations

from enphase_local.models.devices import DeviceList, DeviceType, ProvisionedDevice, UsbStatus
from enphase_local.models.energy import Energy
from enphase_local.models.grid import GridChannel, GridReading
from enphase_local.models.info import BuildInfo, Info, Package
from enphase_local.models.inverters import Inverter
from enphase_local.models.livedata import (
    LiveConnection,
    LiveData,
    LiveMeters,
    LivePower,
    LiveStreamState,
    LiveTasks,
)
from enphase_local.models.meters import (
    MeasurementType,
    Meter,
    MeterChannelReading,
    MeteringStatus,
    MeterReading,
    MeterState,
    PhaseMode,
)
from enphase_local.models.production import Production
from enphase_local.models.reports import ConsumptionReport, ReportType, ReportValues

__all__ = [
    "BuildInfo",
    "ConsumptionReport",
    "DeviceList",
    "DeviceType",
    "Energy",
    "GridChannel",
    "GridReading",
    "Info",
    "Inverter",
    "LiveConnection",
    "LiveData",
    "LiveMeters",
    "LivePower",
    "LiveStreamState",
    "LiveTasks",
    "MeasurementType",
    "Meter",
    "MeterChannelReading",
    "MeterReading",
    "MeterState",
    "MeteringStatus",
    "Package",
    "PhaseMode",
    "Production",
    "ProvisionedDevice",
    "ReportType",
    "ReportValues",
    "UsbStatus",
]
