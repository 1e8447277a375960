"""``enphase-local report``: a chart from a SQLite file the sink wrote over a simulated day."""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import math
import struct
import sys
from pathlib import Path

import pytest

from enphase_local.cli.report import _with_gaps, parse_since
from enphase_local.energy import FLOWS, EnergyTracker
from enphase_local.simulator.pytest_plugin import SimulationFactory
from enphase_local.sinks import SinkSet, SqliteSink, read_ledger, read_power_samples
from tests.sinks.conftest import poll_simulation

MIDNIGHT = dt.datetime(2025, 6, 21, tzinfo=dt.UTC)
ROOT = Path(__file__).resolve().parents[2]


async def write_day(
    path: Path, factory: SimulationFactory, *, energy: EnergyTracker | None
) -> Path:
    """A SQLite file with a simulated day (every 30 minutes) of two gateways."""
    sim = await factory(profile=["battery", "standard"], start_time=MIDNIGHT, speed=0)
    events = await poll_simulation(sim, rounds=49, step_s=1800)
    sinks = SinkSet([SqliteSink(path)], energy=energy)
    await sinks.start()
    for event in events:
        sinks.submit(event)
    await sinks.close()
    return path


@pytest.fixture
async def day_file(tmp_path: Path, enphase_simulation_factory: SimulationFactory) -> Path:
    """A simulated day as ``poll`` writes it: power samples and the energy ledger."""
    return await write_day(
        tmp_path / "day.sqlite", enphase_simulation_factory, energy=EnergyTracker()
    )


async def report(*args: str) -> tuple[int, str, str]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "enphase_local",
        "report",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await child.communicate()
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG header."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


async def test_chart_of_every_gateway(day_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "charts" / "chart.png"
    status, stdout, stderr = await report(str(day_file), "--out", str(out))
    assert (status, stderr) == (0, "")
    assert str(out) in stdout
    assert "and 192 quarter hours of energy from 2 gateway(s)" in stdout
    width, height = png_size(out)
    assert (width, height) == (1760, 880)  # 16 x 8 inches at 110 dpi: two rows of two panels
    assert out.stat().st_size > 20_000


async def test_a_file_without_a_ledger_gets_the_power_chart_alone(
    tmp_path: Path, enphase_simulation_factory: SimulationFactory
) -> None:
    path = await write_day(tmp_path / "plain.sqlite", enphase_simulation_factory, energy=None)
    out = tmp_path / "chart.png"
    status, stdout, _ = await report(str(path), "--out", str(out))
    assert status == 0
    assert "quarter hours" not in stdout
    assert png_size(out) == (1210, 880)  # 11 x 8 inches: two rows of one panel
    status, _, stderr = await report(str(path), "--csv", str(tmp_path / "x.csv"))
    assert status == 1
    assert "no energy ledger" in stderr


async def test_the_ledger_as_csv(day_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "ledger.csv"
    status, stdout, stderr = await report(str(day_file), "--csv", str(target))
    assert (status, stderr) == (0, "")
    assert "Ledger of 192 quarter hours written" in stdout
    assert "Chart of" not in stdout  # no chart unless asked
    with target.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["gateway", "start", "end", *FLOWS, "filled"]
    assert len(rows) == 192
    buckets = read_ledger(day_file)
    for row, bucket in zip(rows, buckets, strict=True):
        assert row["gateway"] == bucket.gateway
        assert dt.datetime.fromisoformat(row["start"]) == bucket.start
        assert dt.datetime.fromisoformat(row["end"]) - bucket.start == dt.timedelta(minutes=15)
        for flow, value in bucket.flows().items():
            assert row[flow] == ("" if value is None else f"{value:.3f}")
        assert row["filled"] == str(int(bucket.filled))
    standard = {row["consumption_wh"] for row in rows if row["gateway"] != buckets[0].gateway}
    assert standard == {""}  # no consumption meter
    produced = sum(float(row["production_wh"]) for row in rows)
    assert produced > 10_000  # a summer day of two sites
    chart = tmp_path / "both.png"
    status, stdout, _ = await report(str(day_file), "--csv", str(target), "--out", str(chart))
    assert status == 0
    assert chart.exists()


async def test_chart_of_one_gateway_since_a_time(day_file: Path, tmp_path: Path) -> None:
    serial = read_power_samples(day_file)[0].gateway
    out = tmp_path / "one.png"
    status, stdout, _ = await report(
        str(day_file), "--out", str(out), "--gateway", serial, "--since", "2025-06-21T06:00+00:00"
    )
    assert status == 0
    assert "from 1 gateway(s), 2025-06-21 06:00" in stdout
    assert png_size(out) == (1760, 506)


async def test_nothing_to_draw_is_an_error(day_file: Path, tmp_path: Path) -> None:
    status, stdout, stderr = await report(
        str(day_file), "--out", str(tmp_path / "x.png"), "--gateway", "000000000000"
    )
    assert status == 1
    assert stdout == ""
    assert "no power samples of gateway 000000000000" in stderr
    assert not (tmp_path / "x.png").exists()
    status, _, stderr = await report(str(tmp_path / "missing.sqlite"))
    assert status == 1
    assert "no such file" in stderr


def test_since_parsing() -> None:
    assert parse_since("2025-06-21T06:00+02:00").utcoffset() == dt.timedelta(hours=2)
    assert parse_since("2025-06-21").tzinfo is not None
    with pytest.raises(argparse.ArgumentTypeError, match="ISO 8601"):
        parse_since("yesterday")


def test_gaps_break_the_lines() -> None:
    times = [MIDNIGHT + dt.timedelta(seconds=10 * i) for i in range(5)]
    times.append(times[-1] + dt.timedelta(hours=1))
    xs, ys = _with_gaps(times, [1.0, 2.0, None, 4.0, 5.0, 6.0])
    assert len(xs) == 7
    assert [math.isnan(y) for y in ys] == [False, False, True, False, False, True, False]
