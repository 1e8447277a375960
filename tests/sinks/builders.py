"""Small model and event builders for the sink and power tests."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

from enphase_local.energy import EnergyTracker
from enphase_local.events import DataEvent, Event, SinkEvent
from enphase_local.models import (
    GridChannel,
    GridReading,
    LiveConnection,
    LiveData,
    LiveMeters,
    LivePower,
    LiveStreamState,
    MeasurementType,
    Meter,
    MeteringStatus,
    MeterReading,
    MeterState,
    PhaseMode,
    Production,
)

T0 = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
SERIAL = "122125067699"
HOST = "envoy.local"

#: Meter ids as real gateways number them.
PRODUCTION_EID = 704643328
CONSUMPTION_EID = 704643584
STORAGE_EID = 704643840


def meter(
    eid: int, kind: MeasurementType, *, state: MeterState = MeterState.ENABLED, phases: int = 2
) -> Meter:
    """One meter of ``/ivp/meters``."""
    return Meter(
        eid=eid,
        state=state,
        measurement_type=kind,
        phase_mode=PhaseMode.SPLIT if phases == 2 else PhaseMode.THREE,
        phase_count=phases,
        metering_status=MeteringStatus.NORMAL,
    )


def reading(eid: int, power_w: float, *, at: dt.datetime = T0) -> MeterReading:
    """One reading of ``/ivp/meters/readings`` with plausible values around ``power_w``."""
    return MeterReading(
        eid=eid,
        timestamp=at,
        active_power_w=power_w,
        reactive_power_var=0.1 * power_w,
        apparent_power_va=abs(power_w) * 1.02,
        instantaneous_demand_w=power_w,
        voltage_v=240.0,
        current_a=abs(power_w) / 240.0,
        frequency_hz=60.0,
        power_factor=0.98,
        energy_delivered_wh=1_000_000.0,
        energy_received_wh=50_000.0,
        apparent_energy_vah=1_100_000.0,
        reactive_energy_lagging_varh=1000.0,
        reactive_energy_leading_varh=10.0,
    )


def live_power(power_w: float) -> LivePower:
    """A ``meters.<point>`` entry of live data."""
    return LivePower(active_power_w=power_w, apparent_power_va=abs(power_w) * 1.05)


def live_data(
    *,
    pv: float | None = None,
    load: float | None = None,
    grid: float | None = None,
    storage: float | None = None,
    soc: float | None = None,
    enabled: bool = True,
) -> LiveData:
    """``/ivp/livedata/status`` with the given flows (W) and state of charge (%)."""
    return LiveData(
        connection=LiveConnection(
            stream_state=LiveStreamState.ENABLED if enabled else LiveStreamState.DISABLED
        ),
        meters=LiveMeters(
            last_update_at=T0,
            soc_pct=soc,
            pv=None if pv is None else live_power(pv),
            load=None if load is None else live_power(load),
            grid=None if grid is None else live_power(grid),
            storage=None if storage is None else live_power(storage),
        ),
    )


def production(power_w: float) -> Production:
    """``/api/v1/production``."""
    return Production(
        power_w=power_w,
        energy_today_wh=12_000.0,
        energy_seven_days_wh=80_000.0,
        energy_lifetime_wh=2_400_000.0,
    )


def grid_reading(*phase_w: float) -> GridReading:
    """``/ivp/meters/gridReading`` with one channel per given phase power (W)."""
    return GridReading(
        channels=tuple(
            GridChannel(
                phase=f"L{i + 1}",
                active_power_w=w,
                reactive_power_var=0.0,
                voltage_v=120.0,
                current_a=abs(w) / 120.0,
                frequency_hz=60.0,
            )
            for i, w in enumerate(phase_w)
        )
    )


def data_event(
    endpoint: str,
    model: Any,
    *,
    at: dt.datetime = T0,
    serial: str | None = SERIAL,
    host: str = HOST,
) -> DataEvent:
    """A successful poll of ``endpoint`` carrying ``model``."""
    return DataEvent(
        serial=serial, host=host, endpoint=endpoint, model=model, fetched_at=at, latency_s=0.05
    )


def with_energy(events: list[Event]) -> list[SinkEvent]:
    """The events as a :class:`~enphase_local.sinks.SinkSet` with an energy tracker hands
    them to its sinks: each followed by what the tracker derives from it."""
    tracker = EnergyTracker()
    out: list[SinkEvent] = []
    for event in events:
        out.append(event)
        out += tracker.update(event)
    return out


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait for a condition the code under test exposes as a counter, not as an event."""
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - sinks offer counters to watch, not events
            await asyncio.sleep(0.01)
