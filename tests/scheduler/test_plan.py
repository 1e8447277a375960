"""Poll plans: defaults, the 1 s floor, validation, derived plans."""

from __future__ import annotations

import attrs
import pytest

from enphase_local.scheduler import MIN_INTERVAL_S, PollPlan


def test_defaults_keep_power_fresh_within_the_request_budget() -> None:
    plan = PollPlan()
    assert dict(plan.live) == {
        "meter_readings": 9.5,
        "live_data": 600.0,
        "grid_readings": 1800.0,
        "consumption_reports": 1800.0,
        "battery_power": 900.0,
        "grid_relay": 1800.0,
        "inventory": 3600.0,
        "battery_summary": 3600.0,
        "dry_contacts": 3600.0,
        "generator": 3600.0,
    }
    assert plan.periodic == ("inverters", "production", "energy", "device_data")
    assert plan.config[:2] == ("meters", "device_list")
    assert plan.config_interval_s == 4 * 3600
    assert plan.live_stream_interval_s < 900  # renewed before the 15-minute lapse
    # Live: 3600 / 9.5 + 6 + 2 + 2 + 4 + 2 + 1 + 1 + 1 + 1; 4 x 12 periodic; 6 stream
    # switches (POSTs); 9 config reads every 4 h. A battery site's GETs stay under issue
    # 7's 450 an hour.
    gets = 3600 / 9.5 + 20 + 48 + 9 / 4
    assert plan.requests_per_hour() == pytest.approx(gets + 6)
    assert gets < 450


def test_floor_of_one_second() -> None:
    assert PollPlan().with_intervals(meter_readings=MIN_INTERVAL_S).live["meter_readings"] == 1.0
    with pytest.raises(ValueError, match="floor is 1 s"):
        PollPlan().with_intervals(meter_readings=0.5)
    with pytest.raises(ValueError, match="too often"):
        PollPlan(live={"meter_readings": float("nan")})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"live": {"meters_readings": 10}}, "unknown endpoint 'meters_readings'"),
        ({"periodic": ("info",)}, "always read"),
        ({"config": ("meters", "production")}, "both periodic and config"),
        ({"report_margin_s": 400}, "shorter than report_interval_s"),
        ({"config_interval_s": 0}, "must be positive"),
        ({"report_retries": -1}, "report_retries"),
        ({"fallback": {"production_summary": (0.5, ("production",))}}, "too often"),
        ({"fallback": {"production_summary": (900, ())}}, "stand in for known endpoints"),
        ({"fallback": {"production_summary": (900, ("nope",))}}, "stand in for known endpoints"),
        ({"fallback": {"production": (900, ("meters",))}, "periodic": ("production",)}, "both"),
    ],
)
def test_invalid_plans_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PollPlan(**options)  # type: ignore[arg-type]  # deliberately wrong values


def test_with_intervals_moves_and_removes_endpoints() -> None:
    plan = PollPlan().with_intervals(production=15, grid_readings=None)
    assert plan.live["production"] == 15
    assert "production" not in plan.periodic
    assert "grid_readings" not in plan.live
    assert PollPlan().live["grid_readings"] == 1800  # the original is unchanged


def test_with_live_interval() -> None:
    default = dict(PollPlan().live)
    assert dict(PollPlan().with_live_interval(5).live) == default | {"meter_readings": 5}
    slow = dict(PollPlan().with_live_interval(1200).live)
    assert slow == default | {"meter_readings": 1200, "live_data": 1200, "battery_power": 1200}
    assert PollPlan(live={}).with_live_interval(3).live == {"meter_readings": 3}


def test_plans_compare_by_value() -> None:
    assert PollPlan() == PollPlan()
    assert attrs.evolve(PollPlan(), report_margin_s=20) != PollPlan()
