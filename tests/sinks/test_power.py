"""Power derivation: CT semantics, sign conventions, fallbacks, joins by eid."""

from __future__ import annotations

import itertools

import pytest

from enphase_local import endpoints as ep
from enphase_local import models
from enphase_local.errors import GatewayTimeoutError
from enphase_local.events import ErrorEvent
from enphase_local.models import MeasurementType, MeterState
from enphase_local.power import PowerTracker, derive_power, meter_power
from tests.conftest import capture_sets, skip_without_captures
from tests.sinks.builders import (
    CONSUMPTION_EID,
    HOST,
    PRODUCTION_EID,
    SERIAL,
    STORAGE_EID,
    T0,
    data_event,
    grid_reading,
    live_data,
    meter,
    production,
    reading,
)

PROD = meter(PRODUCTION_EID, MeasurementType.PRODUCTION)
NET = meter(CONSUMPTION_EID, MeasurementType.NET_CONSUMPTION)
TOTAL = meter(CONSUMPTION_EID, MeasurementType.TOTAL_CONSUMPTION)
STORAGE = meter(STORAGE_EID, MeasurementType.STORAGE)


def test_net_consumption_ct_measures_the_grid() -> None:
    sample = derive_power(
        SERIAL,
        T0,
        meters=(PROD, NET),
        readings=(reading(PRODUCTION_EID, 3000.0), reading(CONSUMPTION_EID, -1000.0)),
    )
    assert sample is not None
    assert sample.source == "meters"
    assert sample.production_w == 3000.0
    assert sample.consumption_w == 2000.0
    assert sample.net_w == -1000.0
    assert sample.grid_w == -1000.0
    assert sample.storage_w is None
    assert sample.battery_soc_pct is None


def test_total_consumption_ct_measures_the_load() -> None:
    sample = derive_power(
        SERIAL,
        T0,
        meters=(PROD, TOTAL),
        readings=(reading(PRODUCTION_EID, 3000.0), reading(CONSUMPTION_EID, 2000.0)),
    )
    assert sample is not None
    assert sample.consumption_w == 2000.0
    assert sample.net_w == -1000.0
    assert sample.grid_w == -1000.0


@pytest.mark.parametrize(
    ("production_w", "grid_w", "storage_w", "load_w"),
    [
        # The production CT sees PV and battery together: 4.5 kW of PV charging at 1.5 kW.
        pytest.param(3000.0, -200.0, -1500.0, 2800.0, id="charging-while-exporting"),
        # No PV; the battery's 900 W shows on the production CT.
        pytest.param(900.0, 100.0, 900.0, 1000.0, id="discharging-at-night"),
    ],
)
def test_storage_ct_with_net_ct(
    production_w: float, grid_w: float, storage_w: float, load_w: float
) -> None:
    sample = derive_power(
        SERIAL,
        T0,
        meters=(PROD, NET, STORAGE),
        readings=(
            reading(PRODUCTION_EID, production_w),
            reading(CONSUMPTION_EID, grid_w),
            reading(STORAGE_EID, storage_w),
        ),
        live=live_data(pv=production_w, load=load_w, grid=grid_w, storage=storage_w, soc=42.0),
    )
    assert sample is not None
    assert sample.storage_w == storage_w
    assert sample.grid_w == grid_w
    assert sample.consumption_w == pytest.approx(load_w)
    assert sample.net_w == pytest.approx(load_w - production_w)
    assert sample.battery_soc_pct == 42.0


def test_storage_ct_with_total_ct_gives_the_grid() -> None:
    sample = derive_power(
        SERIAL,
        T0,
        meters=(PROD, TOTAL, STORAGE),
        readings=(
            reading(PRODUCTION_EID, 3000.0),
            reading(CONSUMPTION_EID, 1300.0),
            reading(STORAGE_EID, -1500.0),
        ),
    )
    assert sample is not None
    assert sample.grid_w == pytest.approx(-1700.0)  # the load less the production CT
    assert sample.net_w == pytest.approx(-1700.0)


def test_readings_are_joined_by_eid_whatever_the_order() -> None:
    readings = (
        reading(PRODUCTION_EID, 2500.0),
        reading(CONSUMPTION_EID, 400.0),
        reading(STORAGE_EID, -700.0),
    )
    meters = (PROD, NET, STORAGE)
    expected = derive_power(SERIAL, T0, meters=meters, readings=readings)
    assert expected is not None
    assert expected.production_w == 2500.0
    for meter_order in itertools.permutations(meters):
        for reading_order in itertools.permutations(readings):
            assert derive_power(SERIAL, T0, meters=meter_order, readings=reading_order) == expected


def test_disabled_and_unmatched_meters_are_ignored() -> None:
    power = meter_power(
        (meter(PRODUCTION_EID, MeasurementType.PRODUCTION, state=MeterState.DISABLED), NET),
        (reading(PRODUCTION_EID, 100.0), reading(CONSUMPTION_EID, 50.0), reading(1, 9.0)),
    )
    assert power.production_w is None
    assert power.net_consumption_w == 50.0


def test_live_data_fills_in_when_the_readings_are_missing() -> None:
    live = live_data(pv=2500.0, load=800.0, grid=-1700.0)
    from_live = derive_power(SERIAL, T0, meters=(PROD, NET), readings=(), live=live)
    assert from_live is not None
    assert from_live.source == "live_data"
    assert (from_live.production_w, from_live.consumption_w) == (2500.0, 800.0)
    assert (from_live.net_w, from_live.grid_w) == (-1700.0, -1700.0)


def test_no_cts_falls_back_to_production() -> None:
    # Without CTs live data's flows are zeros: production comes from the inverters.
    zeros = live_data(pv=0.0, load=0.0, grid=0.0, storage=0.0, soc=0.0)
    sample = derive_power(SERIAL, T0, live=zeros, production=production(1234.0))
    assert sample is not None
    assert sample.source == "production"
    assert sample.production_w == 1234.0
    assert sample.consumption_w is None
    assert sample.net_w is None
    assert sample.grid_w is None
    assert derive_power(SERIAL, T0, live=zeros) is None
    assert derive_power(SERIAL, T0) is None


def test_stale_live_data_is_not_used() -> None:
    stale = live_data(pv=2500.0, load=800.0, grid=-1700.0, soc=50.0, enabled=False)
    sample = derive_power(SERIAL, T0, live=stale, production=production(900.0))
    assert sample is not None
    assert sample.source == "production"
    assert sample.battery_soc_pct is None


def test_grid_reading_fills_the_grid_without_a_consumption_ct() -> None:
    sample = derive_power(
        SERIAL,
        T0,
        meters=(PROD,),
        readings=(reading(PRODUCTION_EID, 1000.0),),
        grid=(grid_reading(-300.0, -200.0),),
    )
    assert sample is not None
    assert sample.grid_w == -500.0
    assert sample.consumption_w is None


def test_tracker_emits_one_sample_per_primary_poll() -> None:
    tracker = PowerTracker()
    readings = (reading(PRODUCTION_EID, 2000.0), reading(CONSUMPTION_EID, 500.0))
    # Before /ivp/meters is known readings cannot be interpreted: production is the source.
    assert tracker.update(data_event("meter_readings", readings)) is None
    first = tracker.update(data_event("production", production(1900.0)))
    assert first is not None
    assert first.source == "production"
    assert tracker.update(data_event("meters", (NET, PROD))) is None
    sample = tracker.update(data_event("meter_readings", readings))
    assert sample is not None
    assert sample.source == "meters"
    assert sample.gateway == SERIAL
    assert sample.consumption_w == 2500.0
    # Now production, live data and grid readings only refresh what the next sample uses.
    assert tracker.update(data_event("production", production(1800.0))) is None
    assert tracker.update(data_event("live_data", live_data(pv=1.0, soc=77.0))) is None
    again = tracker.update(data_event("meter_readings", readings))
    assert again is not None
    assert again.battery_soc_pct == 77.0
    assert tracker.update(data_event("inverters", ())) is None
    error = ErrorEvent(
        serial=SERIAL,
        host=HOST,
        endpoint="meter_readings",
        error=GatewayTimeoutError("timed out"),
        at=T0,
        latency_s=45.0,
    )
    assert tracker.update(error) is None


def test_tracker_keeps_gateways_apart_and_names_them_by_host_before_serial() -> None:
    tracker = PowerTracker()
    first = tracker.update(data_event("production", production(100.0), serial=None))
    second = tracker.update(data_event("production", production(200.0), serial="2"))
    assert first is not None
    assert second is not None
    assert (first.gateway, first.production_w) == (HOST, 100.0)
    assert (second.gateway, second.production_w) == ("2", 200.0)
    tracker.forget(HOST)
    assert tracker.update(data_event("meter_readings", (), serial=None)) is None


@skip_without_captures()
def test_real_capture_with_three_cts_and_a_battery() -> None:
    folder = next(p for p in capture_sets() if p.name == "8.2.127_with_3cts_and_battery_split")
    meters = ep.METERS.parse((folder / "ivp_meters").read_bytes())
    readings = ep.METER_READINGS.parse((folder / "ivp_meters_readings").read_bytes())
    sample = derive_power(SERIAL, T0, meters=tuple(reversed(meters)), readings=readings)
    assert sample is not None
    assert sample.production_w == pytest.approx(1714.424)
    assert sample.grid_w == pytest.approx(129.407)
    assert sample.storage_w == pytest.approx(-2579.823)
    # The gateway's own total-consumption in the same capture (production.json) is 1843.831.
    assert sample.consumption_w == pytest.approx(1714.424 + 129.407)


def test_battery_zeros_of_a_site_without_battery_are_unknown() -> None:
    live = live_data(pv=2000.0, load=500.0, grid=-1500.0, storage=0.0, soc=0.0)
    sample = derive_power(SERIAL, T0, meters=(PROD, NET), live=live)
    assert sample is not None
    assert sample.storage_w is None
    assert sample.battery_soc_pct is None
    known = derive_power(SERIAL, T0, meters=(PROD, NET), live=live, battery=True)
    assert known is not None
    assert (known.storage_w, known.battery_soc_pct) == (0.0, 0.0)


def test_tracker_learns_the_battery_from_the_device_list_and_remembers_it() -> None:
    storage = models.ProvisionedDevice(
        serial_number="482211111111",
        device_type=models.DeviceType.STORAGE,
        device_type_raw=13,
    )
    empty = live_data(pv=0.0, load=300.0, grid=300.0, storage=0.0, soc=0.0)
    tracker = PowerTracker()
    tracker.update(data_event("meters", (PROD, NET)))
    before = tracker.update(data_event("live_data", empty))
    assert before is not None
    assert before.battery_soc_pct is None
    tracker.update(data_event("device_list", models.DeviceList(devices=(storage,))))
    after = tracker.update(data_event("live_data", empty))
    assert after is not None
    assert after.battery_soc_pct == 0.0

    other = PowerTracker()
    other.update(data_event("meters", (PROD, NET)))
    other.update(data_event("live_data", live_data(pv=0.0, storage=800.0, soc=30.0)))
    emptied = other.update(data_event("live_data", empty))
    assert emptied is not None
    assert (emptied.storage_w, emptied.battery_soc_pct) == (0.0, 0.0)
