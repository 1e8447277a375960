"""``enphase-local report``: a chart from a SQLite file the sink wrote over a simulated day."""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import math
import sqlite3
import struct
import sys
from pathlib import Path

import pytest

from enphase_local.cli.report import _with_gaps, battery_charge, parse_since
from enphase_local.energy import FLOWS, EnergyTracker
from enphase_local.events import DataEvent
from enphase_local.power import PowerSample
from enphase_local.simulator.pytest_plugin import SimulationFactory
from enphase_local.sinks import (
    SinkSet,
    SqliteSink,
    read_battery_samples,
    read_ledger,
    read_power_samples,
)
from enphase_local.sinks.samples import BatterySample
from tests.sinks.conftest import poll_simulation

MIDNIGHT = dt.datetime(2025, 6, 21, tzinfo=dt.UTC)
ROOT = Path(__file__).resolve().parents[2]


async def write_day(
    path: Path,
    factory: SimulationFactory,
    *,
    energy: EnergyTracker | None,
    skip: frozenset[str] = frozenset(),
) -> Path:
    """A SQLite file with a simulated day (every 30 minutes) of two gateways (a battery site
    first, then a standard one), without the reads of the endpoints in ``skip``."""
    sim = await factory(profile=["battery", "standard"], start_time=MIDNIGHT, speed=0)
    events = await poll_simulation(sim, rounds=49, step_s=1800)
    sinks = SinkSet([SqliteSink(path)], energy=energy)
    await sinks.start()
    for event in events:
        if not (isinstance(event, DataEvent) and event.endpoint in skip):
            sinks.submit(event)
    await sinks.close()
    return path


#: The simulated day, written once per test session (about half a minute) and copied.
_DAY: list[Path] = []


@pytest.fixture
async def day_file(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    enphase_simulation_factory: SimulationFactory,
) -> Path:
    """A simulated day as ``poll`` writes it: power samples and the energy ledger (each test
    gets its own copy)."""
    if not _DAY:
        original = tmp_path_factory.mktemp("report") / "day.sqlite"
        _DAY.append(await write_day(original, enphase_simulation_factory, energy=EnergyTracker()))
    copy = tmp_path / "day.sqlite"
    source, target = sqlite3.connect(_DAY[0]), sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return copy


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
    assert ", 98 battery readings and 192 quarter hours of energy from 2 gateway(s)" in stdout
    width, height = png_size(out)
    # 16 x 10 inches at 110 dpi: each gateway's power and energy, the batteries' charge
    # under the battery site's (1.2 + 3.4 + 2.0 + 3.4 inches).
    assert (width, height) == (1760, 1100)
    assert out.stat().st_size > 20_000


async def test_a_file_without_a_ledger_gets_the_power_chart_alone(
    tmp_path: Path, enphase_simulation_factory: SimulationFactory
) -> None:
    path = await write_day(tmp_path / "plain.sqlite", enphase_simulation_factory, energy=None)
    out = tmp_path / "chart.png"
    status, stdout, _ = await report(str(path), "--out", str(out))
    assert status == 0
    assert "quarter hours" not in stdout
    assert png_size(out) == (1210, 1100)  # 11 x 10 inches: three rows of one panel
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
    battery_site, standard = sorted({s.gateway for s in read_power_samples(day_file)})
    out = tmp_path / "one.png"
    status, stdout, _ = await report(
        str(day_file), "--out", str(out), "--gateway", standard, "--since", "2025-06-21T06:00+00:00"
    )
    assert status == 0
    assert "from 1 gateway(s), 2025-06-21 06:00" in stdout
    assert "battery" not in stdout
    assert png_size(out) == (1760, 506)  # 1.2 + 3.4 inches
    status, stdout, _ = await report(str(day_file), "--out", str(out), "--gateway", battery_site)
    assert status == 0
    assert "98 battery readings" in stdout
    assert png_size(out) == (1760, 726)  # 1.2 + 3.4 + 2.0 inches: its batteries' charge too


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


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


async def test_each_battery_as_csv(day_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "batteries.csv"
    status, stdout, stderr = await report(str(day_file), "--battery-csv", str(target))
    assert (status, stderr) == (0, "")
    assert f"98 battery readings written to {target}" in stdout
    assert "Chart of" not in stdout  # no chart unless asked
    rows = read_csv(target)
    assert list(rows[0]) == ["gateway", "battery", "time", "charge_pct", "power_w", "temperature_c"]
    samples = read_battery_samples(day_file)
    assert len(rows) == len(samples) == 98  # two batteries, 49 readings
    ordered = sorted(samples, key=lambda b: (b.gateway, b.serial, b.at))
    for row, sample in zip(rows, ordered, strict=True):
        assert (row["gateway"], row["battery"]) == (sample.gateway, sample.serial)
        assert dt.datetime.fromisoformat(row["time"]) == sample.at
        assert float(row["charge_pct"]) == sample.charge_pct
        assert float(row["power_w"]) == sample.power_w
        temperature = sample.temperature_c
        assert row["temperature_c"] == ("" if temperature is None else repr(temperature))
    charges = [float(row["charge_pct"]) for row in rows]
    assert min(charges) < 50  # a night's discharge
    assert max(charges) == 100  # a sunny day's charge
    standard = sorted({s.gateway for s in read_power_samples(day_file)})[1]
    status, _, stderr = await report(
        str(day_file), "--battery-csv", str(target), "--gateway", standard
    )
    assert status == 1
    assert f"no battery charge of gateway {standard} in {day_file}" in stderr


async def test_without_per_battery_rows_the_charge_comes_from_the_power_samples(
    tmp_path: Path, enphase_simulation_factory: SimulationFactory
) -> None:
    path = await write_day(
        tmp_path / "aggregate.sqlite",
        enphase_simulation_factory,
        energy=None,
        skip=frozenset({"battery_power"}),
    )
    assert read_battery_samples(path) == []
    target = tmp_path / "batteries.csv"
    chart = tmp_path / "chart.png"
    status, stdout, stderr = await report(
        str(path), "--battery-csv", str(target), "--out", str(chart)
    )
    assert (status, stderr) == (0, "")
    # The battery site's, from live data (the first round's meter readings came before it).
    socs = [s for s in read_power_samples(path) if s.battery_soc_pct is not None]
    assert len(socs) == 48
    assert f"48 battery readings written to {target}" in stdout
    rows = read_csv(target)
    assert [(r["gateway"], r["battery"], float(r["charge_pct"])) for r in rows] == [
        (s.gateway, "", s.battery_soc_pct) for s in socs
    ]
    assert {r["temperature_c"] for r in rows} == {""}
    assert png_size(chart) == (1210, 1100)  # the battery site still gets its charge panel


def test_battery_charge_prefers_per_battery_rows() -> None:
    at = MIDNIGHT
    per_battery = [
        BatterySample(gateway="A", serial=serial, at=at + dt.timedelta(minutes=m),
                      charge_pct=50.0, power_w=-100.0, temperature_c=20.0)
        for m in (15, 0) for serial in ("2", "1")
    ]  # fmt: skip
    power = [
        PowerSample(gateway=gateway, at=at, storage_w=300.0, battery_soc_pct=soc, source="meters")
        for gateway, soc in (("A", 55.0), ("B", 61.0), ("C", None))
    ]
    charge = battery_charge(per_battery, power)
    assert [(b.gateway, b.serial, b.at.minute) for b in charge] == [
        ("A", "1", 0), ("A", "1", 15), ("A", "2", 0), ("A", "2", 15), ("B", "", 0),
    ]  # fmt: skip
    assert charge[-1] == BatterySample(
        gateway="B", serial="", at=at, charge_pct=61.0, power_w=300.0, temperature_c=None
    )
