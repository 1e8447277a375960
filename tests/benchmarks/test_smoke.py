"""Every benchmark script, run with tiny sizes so it never rots (no timing is asserted).

The scripts run in-process through their ``main(argv)``; the replay server they start runs
in a child process. pyenphase's columns are checked only where the bench extra is installed.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks import (
    ingest,
    ledger_day,
    lines,
    memory,
    memory_probe,
    outbox,
    overhead,
    parse,
    per_poll,
    plan_load,
    politeness,
    scale,
    startup,
)
from benchmarks.harness import have_pyenphase
from tests.conftest import skip_without_captures
from tests.postgres import require_postgres
from tests.sinks.broker import require_mosquitto

SET = "7.6.175_with_cts"


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@skip_without_captures()
def test_per_poll(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "per_poll.json"
    assert per_poll.main(["--rounds", "2", "--polls", "1", "--sets", SET, "--json", str(out)]) == 0
    assert "per_poll: enphase_local CPU per GET" in capsys.readouterr().out
    result = _read(out)
    assert result["target_x_pyenphase"] == per_poll.TARGET_X_PYENPHASE
    [measured] = result["sets"]
    clients = measured["clients"]
    expected = {per_poll.OURS, per_poll.RAW_OURS}
    if have_pyenphase():
        expected |= {per_poll.PYENPHASE, per_poll.RAW_PYENPHASE}
    assert set(clients) == expected
    assert clients[per_poll.OURS]["gets_per_poll"] == len(measured["paths"][per_poll.OURS])
    assert "/ivp/meters/readings" in measured["paths"][per_poll.OURS]
    assert all(len(c["samples_ms_per_get"]) == 2 for c in clients.values())
    assert all(c["ms_per_get"] > 0 for c in clients.values())


@skip_without_captures()
def test_overhead(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "overhead.json"
    argv = ["--rounds", "1", "--fetches", "1", "--sets", SET, "--json", str(out)]
    assert overhead.main(argv) == 0
    assert "overhead: enphase_local fetch+parse vs raw" in capsys.readouterr().out
    [measured] = _read(out)["sets"]
    paths = {row["endpoint"] for row in measured["endpoints"]}
    assert {"/ivp/meters", "/ivp/meters/readings", "/api/v1/production"} <= paths
    assert all(row["bytes"] > 0 and row["ours_ms"] > 0 for row in measured["endpoints"])


@skip_without_captures()
def test_parse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "parse.json"
    argv = ["--repeat", "1", "--loops", "1", "--sets", SET, "--json", str(out)]
    assert parse.main(argv) == 0
    assert "parse: " in capsys.readouterr().out
    result = _read(out)
    rows = result["payloads"]
    sources = {row["source"] for row in rows}
    assert sources == {SET, "sim:battery"}
    endpoints = {row["endpoint"] for row in rows}
    assert {"/info", "/ivp/livedata/status", "/ivp/ensemble/device_list"} <= endpoints
    compared = [r for r in rows if not math.isnan(r["x_pyenphase"])]
    assert bool(compared) == have_pyenphase()


def test_startup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "startup.json"
    assert startup.main(["--runs", "1", "--json", str(out)]) == 0
    assert "startup: import enphase_local" in capsys.readouterr().out
    commands = _read(out)["commands"]
    assert {"import enphase_local", "enphase-local --help"} <= set(commands)


def test_memory_probe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "memory.json"
    argv = ["--gateways", "3", "--options", "default", "--settle", "0.05"]
    argv += ["--json", str(out)]
    assert memory_probe.main(argv) == 0
    assert "memory_probe:" in capsys.readouterr().out
    options = {row["option"]: row for row in _read(out)["options"]}
    assert set(options) == {"default"}
    assert all(math.isfinite(row["rss_kib_per_gateway"]) for row in options.values())
    assert options["default"]["tracemalloc_kib_per_gateway"] > 0


def test_memory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "memory.json"
    argv = ["--gateways", "2", "--servers", "1", "--seconds", "0.5"]
    argv += ["--options", "default", "burst"]
    assert memory.main([*argv, "--json", str(out)]) == 0
    assert "memory: " in capsys.readouterr().out
    result = _read(out)
    assert result["target_kib_per_gateway"] == memory.TARGET_KIB
    rows = {row["option"]: row for row in result["options"]}
    assert set(rows) == {"default", "burst"}
    assert all(row["gateways"] == 2 for row in rows.values())
    assert all(math.isfinite(row["rss_kib_per_gateway"]) for row in rows.values())


def test_memory_summary_sets_the_burst_beside_the_spread_start() -> None:
    rows = {"default": 100.0, "burst": 150.0, "asyncio-buffer": 300.0}
    line = memory._summary(
        {option: {"rss_kib_per_gateway": kib} for option, kib in rows.items()}, 1024
    )
    assert "100 KiB RSS per polled gateway at 1024 gateways spread (target <= 128 KiB)" in line
    assert "150 KiB started at once (the burst costs +50 KiB a gateway, +50 MiB in all)" in line
    assert "300 KiB with asyncio's 256 KiB TLS buffers" in line


def test_scale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scale.json"
    argv = ["--sizes", "2", "--servers", "1", "--seconds", "0.5", "--warm-up", "0.5"]
    assert scale.main([*argv, "--json", str(out)]) == 0
    assert "scale: " in capsys.readouterr().out
    result = _read(out)
    assert result["live_intervals_s"] == dict(scale.PLAN.live)
    assert result["target_gateways"] == scale.TARGET_GATEWAYS
    [row] = result["sizes"]
    assert row["gateways"] == 2
    assert row["failures"] == 0
    assert row["client_cpu_share"] > 0
    assert row["servers_cpu_share"] >= 0
    assert row["server_cpus"] >= 1
    assert "start_up_lateness_p99_s" in row


def test_steady_lateness_counts_from_the_best_kept_grid_point() -> None:
    starts = {("a", "meter_readings"): [100.2, 110.0, 120.5, 140.1]}
    lateness = scale.steady_lateness(starts, {"meter_readings": 10.0})
    assert lateness == pytest.approx([0.2, 0.0, 0.5, 0.1])


def test_steady_lateness_is_not_thrown_by_a_late_first_poll() -> None:
    # Start-up queued the first poll 6 s past its grid point (100); every later poll is on
    # time. Anchored on the first poll, each would look 4 s late.
    starts = {("a", "meter_readings"): [106.0, 110.0, 120.0, 130.2, 140.0]}
    lateness = scale.steady_lateness(starts, {"meter_readings": 10.0}, since=108.0)
    assert lateness == pytest.approx([0.0, 0.0, 0.2, 0.0])


def test_steady_lateness_shows_a_grid_that_moves() -> None:
    # A poller that re-based its grid on each late poll: 2 s late once, then 2 s late for
    # ever after against the grid that most polls kept.
    starts = {("a", "meter_readings"): [100.0, 110.0, 120.0, 132.0, 142.0, 152.0]}
    lateness = scale.steady_lateness(starts, {"meter_readings": 10.0}, since=125.0)
    assert lateness == pytest.approx([2.0, 2.0, 2.0])


def test_steady_lateness_keeps_each_endpoint_on_its_own_interval() -> None:
    starts = {
        ("a", "meter_readings"): [101.0, 109.5, 119.2],
        ("a", "live_data"): [100.0, 405.0],
    }
    intervals = {"meter_readings": 9.5, "live_data": 300.0}
    # Polls before ``since`` anchor their grid but are not counted (the meter readings' 1 s);
    # on a 9.5 s grid the live data poll at 405 s would be 1 s late, on its own 5 s.
    lateness = scale.steady_lateness(starts, intervals, since=105.0)
    assert sorted(lateness) == pytest.approx([0.0, 0.2, 5.0])


def test_politeness(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "politeness.json"
    argv = ["--hours", "0.1", "--speed", "120", "--gateways", "1", "--warm-up", "60"]
    assert politeness.main([*argv, "--json", str(out)]) == 0
    assert "politeness: default " in capsys.readouterr().out
    result = _read(out)
    assert result["target"]["gets_per_hour"] == politeness.TARGET_GETS_PER_HOUR
    plans = {row["plan"]: row for row in result["plans"]}
    assert set(plans) == {"default", "first"}
    for row in plans.values():
        assert row["max_in_flight"] == 1
        assert row["poller"]["failures"] == 0
        assert row["gets_per_hour"] > 0
        assert row["stream_posts_per_hour"] > 0
        assert row["live_age_max_s"] is not None
        assert row["live_age_p99_s"] is not None
        assert row["live_age_peak_s"] >= row["live_age_max_s"]
        assert {"report_delay_max_s", "report_delay_p99_s", "reports_missed"} <= set(row)
        [gateway] = row["per_gateway"]
        assert "/ivp/meters/readings" in gateway["by_path"]
    assert plans["default"]["live_intervals_s"]["live_data"] == 600
    assert plans["first"]["live_intervals_s"]["live_data"] == 60


def test_politeness_ages_and_report_delays() -> None:
    deliveries = [10.0, 20.5, 30.0]
    assert politeness.sampled_ages(deliveries, 12.0, 31.0, 0.0) == pytest.approx(
        [2, 3, 4, 5, 6, 7, 8, 9, 10, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 0, 1]
    )
    assert politeness.peak_age(deliveries, 12.0, 31.0, 0.0) == pytest.approx(10.5)
    assert politeness.peak_age(deliveries, 5.0, 31.0, 0.0) == pytest.approx(10.5)
    assert politeness.peak_age(deliveries, 5.0, 31.0, -2.0) == pytest.approx(12.0)
    assert politeness.peak_age([], 5.0, 31.0, 1.0) == pytest.approx(30.0)
    events = [
        (1015.0, {"a": 1000.0, "b": 900.0}),
        (1320.0, {"a": 1300.0, "b": 1200.0}),
        (1920.0, {"a": 1900.0, "b": 1500.0}),  # a's report at 1600 was never delivered
    ]
    cycles, every, missed = politeness.report_delays(events, 1000.0)
    assert cycles == [15.0, 20.0, 20.0]
    assert sorted(every) == [15.0, 20.0, 20.0, 120.0, 420.0]
    assert missed == 1


def _git(root: Path, *arguments: str) -> None:
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    command = ["git", *identity, *arguments]
    subprocess.run(command, cwd=root, check=True, capture_output=True)  # noqa: S603 - our git commands


def test_lines_counts_the_package_now_and_at_a_revision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = tmp_path / lines.PACKAGE
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n\n   \ny = 2\n", encoding="utf-8")
    (package / "sub" / "b.py").write_text('"""Doc."""\n', encoding="utf-8")
    (package / "notes.txt").write_text("not counted\n", encoding="utf-8")
    _git(tmp_path, "init", "--quiet")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "--quiet", "-m", "before")
    (package / "sub" / "b.py").unlink()
    (package / "c.py").write_text("\tz = 3\nw = 4\n", encoding="utf-8")
    out = tmp_path / "lines.json"
    argv = ["--root", str(tmp_path), "--before", "HEAD", "--json", str(out)]
    assert lines.main(argv) == 0
    assert "lines: 4 non-blank lines in enphase_local/ (+1 since HEAD, 3 then)" in (
        capsys.readouterr().out
    )
    assert _read(out)["trees"] == [
        {"tree": "HEAD", "files": 2, "lines": 3},
        {"tree": "working tree", "files": 2, "lines": 4},
    ]


def test_ledger_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ledger_day.json"
    argv = ["--hours", "1", "--outage-hours", "0.1", "--start-hour", "12", "--json", str(out)]
    status = ledger_day.main(argv)
    printed = capsys.readouterr().out
    assert "truth kWh  ledger kWh  error %" in printed
    result = _read(out)
    assert status == (0 if result["ok"] else 1)
    assert {flow for _, profile, flow, *_ in result["flows"] if profile == "acb"} >= {
        "battery_charge_wh",
        "battery_discharge_wh",
    }
    assert result["requests"] > 0


def test_plan_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plan_load.json"
    argv = ["--hours", "1", "--warm-up", "0.25", "--profiles", "battery", "standard"]
    assert plan_load.main([*argv, "--json", str(out)]) == 0
    assert "profile   firmware   GETs/h" in capsys.readouterr().out
    battery, standard = _read(out)["profiles"]
    assert (battery["profile"], standard["profile"]) == ("battery", "standard")
    assert 0 < battery["gets_per_hour"] <= plan_load.TARGET_GETS_PER_HOUR
    assert battery["by_path"]["/ivp/ensemble/power"] == 4  # every 15 minutes
    assert battery["other_per_hour"] == {"POST /ivp/livedata/stream": 6}
    assert "/ivp/meters/readings" not in standard["by_path"]  # no meters: not polled


def test_ingest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_postgres()
    require_mosquitto()
    out = tmp_path / "ingest.json"
    argv = ["--hours", "0.5", "--messages", "400", "--gateways", "20", "--json", str(out)]
    assert ingest.main(argv) == 0
    printed = capsys.readouterr().out
    assert "rows per gateway per day" in printed
    assert "one ingest process kept up with about" in printed
    result = _read(out)
    assert [d["processes"] for d in result["drains"]] == [1, 2]
    assert all(d["messages"] == 400 and d["events_per_s"] > 0 for d in result["drains"])
    day = result["rows_per_gateway_per_day"]
    assert len(day) == 2
    assert all(rows["power_samples"] > 0 and rows["events"] > 0 for rows in day.values())
    assert result["gateways_one_process"] > 0


def test_outbox(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_mosquitto()
    out = tmp_path / "outbox.json"
    argv = ["--gateways", "2", "--speed", "10", "--before", "1", "--outage", "1.5"]
    status = outbox.main([*argv, "--after", "0.5", "--drain-rate", "500", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "lost:                 0 (unknown 0)" in printed
    assert status == 0
    result = _read(out)["result"]
    assert result["polled"] > 0
    assert result["lost"] == 0
