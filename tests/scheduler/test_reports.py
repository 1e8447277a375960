"""Learning when the next 5-minute report comes."""

from __future__ import annotations

import pytest

from enphase_local.scheduler.reports import ReportTracker


def tracker(**options: float) -> ReportTracker:
    settings: dict[str, float] = {"cycle_s": 300, "margin_s": 15, "retry_s": 30, "retries": 3}
    settings.update(options)
    return ReportTracker(
        cycle_s=settings["cycle_s"],
        margin_s=settings["margin_s"],
        retry_s=settings["retry_s"],
        retries=int(settings["retries"]),
    )


def reports(*times: float) -> dict[str, float]:
    return {f"inv{k}": t for k, t in enumerate(times)}


def test_poll_after_the_last_report_of_a_cluster() -> None:
    learner = tracker()
    # Reports at 1000..1040 (phases 100..140 of the 300 s cycle); polled at 1050.
    due = learner.observe(1050, changed=True, reports=reports(1000, 1010, 1025, 1040))
    assert due == 1040 + 300 + 15
    assert learner.expected == 1340


def test_the_widest_gap_separates_cycles() -> None:
    learner = tracker()
    # Phases 10, 100, 120, 290: the widest gap (120 -> 290) ends the cluster at 120.
    due = learner.observe(1300, changed=True, reports=reports(1210, 1000, 1020, 1190))
    assert due == 1320 + 15


def test_cluster_not_complete_yet_is_polled_again_after_it() -> None:
    learner = tracker()
    # Polled at 1030 in the middle of a cycle whose last report is due at 1040.
    due = learner.observe(1030, changed=True, reports=reports(1000, 1010, 1025, 740))
    assert due == 1040 + 15


def test_learns_the_cycle_from_how_reports_move() -> None:
    learner = tracker(cycle_s=300)
    before = reports(0, 5, 12, 20)
    after = reports(600, 605, 1212, 620)  # one inverter missed a cycle
    learner.observe(700, changed=True, reports=after, previous=before)
    assert learner.cycle_s == 600


def test_implausible_cycles_are_not_learned() -> None:
    learner = tracker(cycle_s=300)
    learner.observe(100, changed=True, reports=reports(35, 36, 37), previous=reports(0, 1, 2))
    assert learner.cycle_s == 300  # moves shorter than 60 s are not a cycle
    learner.observe(100, changed=True, reports=reports(50, 60), previous=reports(0, 0))
    assert learner.cycle_s == 300  # two moves are too few


def test_missing_report_retries_then_keeps_the_phase() -> None:
    learner = tracker()
    due = learner.observe(1055, changed=True, reports=reports(1000, 1040))
    assert due == 1355
    assert learner.observe(1355, changed=False) == 1385
    assert learner.observe(1385, changed=False) == 1415
    assert learner.observe(1415, changed=False) == 1445
    assert learner.observe(1445, changed=False) == 1655  # the next cycle's cluster
    assert learner.observe(1655, changed=False) == 1955


def test_without_report_times_the_poll_closes_in_on_the_change() -> None:
    learner = tracker()
    assert learner.observe(1000, changed=True) == 1270  # a retry step early
    assert learner.observe(1270, changed=False) == 1300
    assert learner.observe(1300, changed=True) == 1570


def test_without_any_report_time_polls_once_per_cycle() -> None:
    learner = tracker(retries=0)
    assert learner.observe(0, changed=False) == 300
    assert learner.observe(300, changed=False) == 600


@pytest.mark.parametrize("now", [1050.0, 1340.0, 1354.9])
def test_next_poll_is_never_in_the_past(now: float) -> None:
    learner = tracker()
    due = learner.observe(now, changed=True, reports=reports(1000, 1040))
    assert due > now
