"""Poll plans: defaults, the 1 s floor, validation, derived plans."""

from __future__ import annotations

import attrs
import pytest

from enphase_local.scheduler import MIN_INTERVAL_S, PollPlan


def test_defaults_keep_power_fresh_within_the_request_budget() -> None:
    plan = PollPlan()
    assert dict(plan.live) == {
        "meter_readings": 9.5,
        "live_data": 300.0,
        "grid_readings": 600.0,
        "consumption_reports": 600.0,
    }
    assert plan.periodic == ("inverters", "production", "energy")
    assert plan.config == ("meters", "device_list")
    assert plan.config_interval_s == 4 * 3600
    assert plan.live_stream_interval_s < 900  # renewed before the 15-minute lapse
    # Live: 3600 / 9.5 + 12 + 6 + 6; 3 x 12 periodic; 6 stream switches (POSTs); 3 config
    # reads every 4 h. The GETs stay under issue 7's 450 an hour with room for late reports.
    gets = 3600 / 9.5 + 24 + 36 + 0.75
    assert plan.requests_per_hour() == pytest.approx(gets + 6)
    assert gets < 441


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
    assert PollPlan().live["grid_readings"] == 600  # the original is unchanged


def test_with_live_interval() -> None:
    assert dict(PollPlan().with_live_interval(5).live) == {
        "meter_readings": 5,
        "live_data": 300,
        "grid_readings": 600,
        "consumption_reports": 600,
    }
    slow = PollPlan().with_live_interval(420)
    assert dict(slow.live) == {
        "meter_readings": 420,
        "live_data": 420,
        "grid_readings": 600,
        "consumption_reports": 600,
    }
    assert PollPlan(live={}).with_live_interval(3).live == {"meter_readings": 3}


def test_plans_compare_by_value() -> None:
    assert PollPlan() == PollPlan()
    assert attrs.evolve(PollPlan(), report_margin_s=20) != PollPlan()
