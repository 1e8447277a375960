"""The ledger's arithmetic: spreading changes over quarter hours, gaps, and where energy went."""

from __future__ import annotations

import datetime as dt

import pytest

from enphase_local.energy import (
    BATTERY_CHARGE,
    BATTERY_DISCHARGE,
    CONSUMPTION,
    GRID_EXPORT,
    GRID_IMPORT,
    PRODUCTION,
    Buckets,
    Destinations,
    Ledger,
    LedgerBucket,
    destinations,
    total,
)
from enphase_local.energy.ledger import BUCKET_S, Mark, bucket_start, make_bucket, spread
from enphase_local.events import EnergyEvent
from tests.sinks.builders import HOST, SERIAL, T0

QUARTER = dt.timedelta(seconds=BUCKET_S)


def energy(
    seconds: float, *, filled: bool = False, source: str = "meters", **flows: float
) -> EnergyEvent:
    return EnergyEvent(
        serial=SERIAL,
        host=HOST,
        source=source,
        at=T0 + dt.timedelta(seconds=seconds),
        flows=flows,
        filled=filled,
    )


def test_spread_shares_in_proportion_to_the_overlap() -> None:
    start = T0.timestamp() + 600  # 12:10
    shares = spread(SERIAL, start, start + 1200, {PRODUCTION: 120.0}, filled=False)
    assert [s.start_s for s in shares] == [bucket_start(start), bucket_start(start) + BUCKET_S]
    assert [s.flows[PRODUCTION] for s in shares] == pytest.approx([30.0, 90.0])
    [instant] = spread(SERIAL, start, start, {PRODUCTION: 1.0}, filled=True)
    assert instant.filled
    assert instant.start_s == bucket_start(start)


def test_changes_are_counted_once_and_gaps_are_filled() -> None:
    ledger = Ledger()
    buckets = Buckets()
    buckets.apply(ledger.add(energy(0, production_wh=1000.0, grid_import_wh=50.0)))
    assert len(buckets) == 0  # the first event only marks where the source is
    buckets.apply(ledger.add(energy(300, production_wh=1100.0, grid_import_wh=50.0)))
    buckets.apply(ledger.add(energy(200, production_wh=9e9)))  # older: counted already
    # Two hours without an event: their 7200 Wh are spread, the quarters flagged.
    buckets.apply(ledger.add(energy(7500, production_wh=8300.0, grid_import_wh=50.0)))
    rows = buckets.buckets()
    assert [row.start for row in rows] == [T0 + k * QUARTER for k in range(9)]
    assert total(rows)[PRODUCTION] == pytest.approx(7300.0)
    assert total(rows)[CONSUMPTION] is None
    assert [row.filled for row in rows] == [True] * 9  # the gap reaches into every quarter
    assert rows[3].production_wh == pytest.approx(900.0)


def test_a_source_that_says_filled_flags_even_a_short_interval() -> None:
    ledger = Ledger()
    buckets = Buckets()
    buckets.apply(ledger.add(energy(0, source="battery", battery_charge_wh=0.0)))
    buckets.apply(ledger.add(energy(60, source="battery", battery_charge_wh=40.0, filled=True)))
    [row] = buckets.buckets()
    assert row.filled
    assert row.battery_charge_wh == 40.0


def test_a_restored_ledger_counts_from_its_mark() -> None:
    ledger = Ledger()
    ledger.restore(SERIAL, "meters", Mark(at_s=T0.timestamp(), flows={PRODUCTION: 1000.0}))
    buckets = Buckets()
    buckets.apply(ledger.add(energy(100, production_wh=1010.0)))
    assert total(buckets.buckets())[PRODUCTION] == pytest.approx(10.0)


def test_negative_noise_reads_as_zero() -> None:
    buckets = Buckets()
    night = spread(SERIAL, T0.timestamp(), T0.timestamp() + 10, {PRODUCTION: -0.4}, filled=False)
    buckets.apply(night)
    [row] = buckets.buckets()
    assert row.production_wh == 0.0


def bucket(**flows: float) -> LedgerBucket:
    return make_bucket(SERIAL, int(T0.timestamp()), flows, filled=False)


def test_destinations_of_a_sunny_quarter_with_a_battery() -> None:
    sunny = bucket(
        production_wh=1000.0,
        consumption_wh=300.0,
        grid_import_wh=0.0,
        grid_export_wh=400.0,
        battery_charge_wh=300.0,
        battery_discharge_wh=0.0,
    )
    assert destinations(sunny) == Destinations(
        solar_to_home_wh=300.0, solar_to_battery_wh=300.0, solar_to_grid_wh=400.0
    )


def test_destinations_of_an_evening_quarter() -> None:
    evening = bucket(
        production_wh=50.0,
        consumption_wh=600.0,
        grid_import_wh=150.0,
        grid_export_wh=0.0,
        battery_charge_wh=0.0,
        battery_discharge_wh=400.0,
    )
    split = destinations(evening)
    assert split == Destinations(
        solar_to_home_wh=50.0, grid_to_home_wh=150.0, battery_to_home_wh=400.0
    )
    assert split + split == Destinations(
        solar_to_home_wh=100.0, grid_to_home_wh=300.0, battery_to_home_wh=800.0
    )


def test_grid_charging_and_battery_export_are_not_counted_as_home_use() -> None:
    odd = bucket(
        production_wh=0.0,
        consumption_wh=200.0,
        grid_import_wh=700.0,
        grid_export_wh=100.0,
        battery_charge_wh=500.0,
        battery_discharge_wh=100.0,
    )
    assert destinations(odd) == Destinations(grid_to_home_wh=200.0, battery_to_home_wh=0.0)


def test_without_grid_meters_nothing_can_be_told() -> None:
    assert destinations(bucket(production_wh=100.0)) is None
    assert total([bucket(production_wh=100.0), bucket(production_wh=5.0)])[PRODUCTION] == 105.0
    assert total([])[GRID_EXPORT] is None
    assert set(total([])) >= {GRID_IMPORT, BATTERY_CHARGE, BATTERY_DISCHARGE}
