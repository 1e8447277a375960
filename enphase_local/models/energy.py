"""``/ivp/pdm/energy``: energy counters per source (absent on older firmware)."""

from __future__ import annotations

from attrs import frozen

from enphase_local.models.production import Production


@frozen(kw_only=True, slots=True)
class Energy:
    """Power and energy counters from each source the gateway knows."""

    #: Production as counted by the microinverters (``production.pcu``; 5-minute data).
    production_inverters: Production | None = None
    #: Production from a revenue-grade meter (``production.rgm``); zeros when there is none.
    production_revenue_meter: Production | None = None
    #: Production from the gateway's production CT (``production.eim``; live data).
    production_meter: Production | None = None
    #: Consumption from the gateway's consumption CT (``consumption.eim``; live data).
    consumption_meter: Production | None = None
