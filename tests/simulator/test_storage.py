"""Storage modes and the tariff's peak hours, as the plant asks them (no network)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from enphase_local.simulator.storage import (
    BatteryLimits,
    PeakSchedule,
    StorageMode,
    StorageSettings,
    battery_dispatch,
)
from tests.conftest import capture_sets

#: 3 kW of batteries holding half of 10 kWh.
HALF = BatteryLimits(power_w=3000.0, stored_wh=5000.0, capacity_wh=10000.0)
FULL = BatteryLimits(power_w=3000.0, stored_wh=10000.0, capacity_wh=10000.0)
LOW = BatteryLimits(power_w=3000.0, stored_wh=1000.0, capacity_wh=10000.0)


def at(day: str, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hour:02d}:{minute:02d}:00")


@pytest.mark.parametrize(
    ("mode", "limits", "surplus_w", "peak", "cfg", "expected_w"),
    [
        # Surplus: every mode charges, up to the batteries' power, until full.
        (StorageMode.SELF_CONSUMPTION, HALF, 1000.0, False, False, -1000.0),
        (StorageMode.BACKUP, HALF, 5000.0, False, False, -3000.0),
        (StorageMode.ECONOMY, FULL, 1000.0, True, False, 0.0),
        # Deficit: self-consumption covers it; backup holds; economy only in the peak.
        (StorageMode.SELF_CONSUMPTION, HALF, -800.0, False, False, 800.0),
        (StorageMode.SELF_CONSUMPTION, HALF, -8000.0, False, False, 3000.0),
        (StorageMode.BACKUP, HALF, -800.0, True, False, 0.0),
        (StorageMode.ECONOMY, HALF, -800.0, True, False, 800.0),
        (StorageMode.ECONOMY, HALF, -800.0, False, False, 0.0),
        # The reserve (10 % here) stops discharge.
        (StorageMode.SELF_CONSUMPTION, BatteryLimits(power_w=3000, stored_wh=900, capacity_wh=1e4),
         -800.0, False, False, 0.0),
        # Charge from grid: full power, to the reserve (self-consumption) or full (the others).
        (StorageMode.BACKUP, HALF, -800.0, False, True, -3000.0),
        (StorageMode.BACKUP, FULL, -800.0, False, True, 0.0),
        (StorageMode.SELF_CONSUMPTION, HALF, -800.0, False, True, 800.0),
        (StorageMode.ECONOMY, HALF, -800.0, False, True, -3000.0),
        (StorageMode.ECONOMY, HALF, -800.0, True, True, 800.0),
    ],
)  # fmt: skip
def test_battery_dispatch(
    *,
    mode: StorageMode,
    limits: BatteryLimits,
    surplus_w: float,
    peak: bool,
    cfg: bool,
    expected_w: float,
) -> None:
    settings = StorageSettings(mode=mode, reserve_pct=10, charge_from_grid=cfg)
    assert battery_dispatch(settings, limits, surplus_w=surplus_w, peak=peak) == expected_w


def test_charge_from_grid_in_self_consumption_fills_only_to_the_reserve() -> None:
    settings = StorageSettings(reserve_pct=30, charge_from_grid=True)
    assert battery_dispatch(settings, LOW, surplus_w=-500.0, peak=False) == -3000.0
    assert battery_dispatch(settings, HALF, surplus_w=-500.0, peak=False) == 500.0


def test_no_battery_no_power() -> None:
    none = BatteryLimits(power_w=0.0, stored_wh=0.0, capacity_wh=0.0)
    assert battery_dispatch(StorageSettings(), none, surplus_w=-500.0, peak=True) == 0.0


def test_the_default_peak_is_four_to_nine_in_the_evening() -> None:
    peak = PeakSchedule.default()
    assert not peak.contains(at("2025-06-21", 15, 59))
    assert peak.contains(at("2025-06-21", 16))
    assert peak.contains(at("2025-12-25", 20, 59))
    assert not peak.contains(at("2025-06-21", 21))


def test_seasons_weekdays_and_rates_decide_the_peak() -> None:
    seasons = [
        {
            "id": "winter",
            "start": "11/1",
            "days": [{"days": "Mon,Tue,Wed,Thu,Fri", "periods": [{"start": 0, "rate": 0.2}]}],
        },
        {
            "id": "summer",
            "start": "5/1",
            "days": [
                {
                    "days": "Mon,Tue,Wed,Thu,Fri",
                    "periods": [
                        {"start": 0, "rate": 0.1},
                        {"start": 420, "rate": 0.3},
                        {"start": 600, "rate": 0.1},
                    ],
                },
                {"days": "Sat,Sun", "periods": [{"start": 0, "rate": 0.1}]},
            ],
        },
    ]
    peak = PeakSchedule.from_seasons(seasons)
    assert peak.contains(at("2025-07-01", 8))  # a summer Tuesday, 07:00-10:00
    assert not peak.contains(at("2025-07-01", 10))
    assert not peak.contains(at("2025-07-05", 8))  # Saturday: one rate, no peak
    assert not peak.contains(at("2025-12-02", 8))  # winter: one rate
    assert not peak.contains(at("2025-02-04", 8))  # before May: still winter (wraps round)


@pytest.mark.parametrize("seasons", [None, [], "x", [{"start": "june"}], [{"start": "6/1"}]])
def test_what_cannot_be_read_has_no_peak(seasons: object) -> None:
    assert not PeakSchedule.from_seasons(seasons).contains(at("2025-06-21", 18))


def test_the_captured_time_of_use_tariffs_have_their_peak_in_the_afternoon() -> None:
    found = 0
    for folder in capture_sets():
        path = folder / "admin_lib_tariff"
        if not path.is_file():
            continue
        try:
            tariff = json.loads(path.read_text())["tariff"]
        except ValueError:  # an error page of firmware without the tariff
            continue
        peak = PeakSchedule.from_seasons(tariff.get("seasons"))
        if folder.name.startswith("8.2.127"):  # 16:00-21:00 at the highest rate
            found += 1
            assert peak.contains(at("2025-07-01", 16))
            assert peak.contains(at("2025-12-06", 20, 59))
            assert not peak.contains(at("2025-07-01", 15, 30))
        if folder.name.startswith("8.3.5433"):  # tiers, no time of use
            found += 1
            assert not any(peak.contains(at("2025-07-01", h)) for h in range(24))
    if capture_sets():
        assert found == 2
