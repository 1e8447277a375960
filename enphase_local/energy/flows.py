"""The energy flows of a site, as the tracker, the ledger and the sinks name them."""

from __future__ import annotations

from typing import Final

#: Solar production, Wh (what the panels made; a battery on the production circuit is
#: taken out).
PRODUCTION: Final = "production_wh"
#: What the house used, Wh.
CONSUMPTION: Final = "consumption_wh"
#: Energy bought from the grid, Wh.
GRID_IMPORT: Final = "grid_import_wh"
#: Energy sent to the grid, Wh.
GRID_EXPORT: Final = "grid_export_wh"
#: Energy into the batteries, Wh.
BATTERY_CHARGE: Final = "battery_charge_wh"
#: Energy out of the batteries, Wh.
BATTERY_DISCHARGE: Final = "battery_discharge_wh"

#: Every flow, in the order tables and files list them.
FLOWS: Final = (
    PRODUCTION,
    CONSUMPTION,
    GRID_IMPORT,
    GRID_EXPORT,
    BATTERY_CHARGE,
    BATTERY_DISCHARGE,
)
