"""``enphase-local demo``: three simulated gateways polled into SQLite, shown, and charted."""

from __future__ import annotations

import asyncio
import re
import stat
from pathlib import Path

from enphase_local.sinks import read_battery_samples, read_power_samples
from tests.cli.running import cli, count_rows
from tests.cli.test_get import run_cli

PNG = b"\x89PNG\r\n\x1a\n"


def check_outputs(out: str, folder: Path) -> None:
    """The data and the chart exist where the demo says they are."""
    database = (folder / "demo.sqlite").resolve()
    chart = (folder / "power.png").resolve()
    assert f"data:  {database} (tables events, power_samples, battery_samples," in out
    assert f"chart: {chart}" in out
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert chart.read_bytes().startswith(PNG)
    assert count_rows(database, "events") > 0
    samples = read_power_samples(database)
    # One panel per gateway: all three produced power samples, two of them with a battery
    # reading only where there is a battery.
    assert len({s.gateway for s in samples}) == 3
    battery = [s for s in samples if s.battery_soc_pct is not None]
    assert battery
    assert len({s.gateway for s in battery}) == 1
    # The battery site's two IQ Batteries, one by one.
    batteries = read_battery_samples(database)
    assert {b.gateway for b in batteries} == {battery[0].gateway}
    assert len({b.serial for b in batteries}) == 2
    assert all(b.charge_pct is not None and 0 <= b.charge_pct <= 100 for b in batteries)


async def test_demo_polls_shows_and_charts(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    status, out, err = await run_cli("demo", "--duration", "2", "--out", str(folder))
    assert status == 0, err
    assert "Traceback" not in err
    # No terminal: the live view falls back to blocks of plain lines.
    header = [line for line in out.splitlines() if line.split()[:3] == ["gateway", "state", "prod"]]
    assert header
    rows = [line for line in out.splitlines() if re.match(r"1221999\d{5}\s+online\s", line)]
    assert len(rows) >= 3
    # Under them, the battery site's (the third gateway's) grid and storage mode, and a row
    # per battery.
    assert re.search(r"^122199900003\s+on grid\s+-\s+self consumption\s+\d+ %$", out, re.M)
    last = out.rindex("batteries, power in kW (- charging)\n")
    columns, *lines = out[last:].splitlines()[1:4]
    assert columns.split() == ["gateway", "battery", "SoC", "power", "temp", "age"]
    battery = r"122199900003\s+(\d{12})\s+\d+ %\s+-?\d+\.\d\d\s+(\d+ °C|-)\s+\d+ s"
    serials = {m[1] for line in lines if (m := re.fullmatch(battery, line))}
    assert len(serials) == 2
    # Then the energy of the simulated day so far.
    assert re.search(r"^energy today since 05:3\d, kWh$", out, re.MULTILINE)
    assert re.search(r"sqlite: \d+ written, 0 dropped", out)
    check_outputs(out, folder)


async def test_ctrl_c_ends_the_demo_early_and_still_writes_everything(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    async with cli("demo", "--duration", "120", "--out", str(folder)) as demo:
        await demo.wait_for("^Polling them into")
        await asyncio.sleep(1.5)  # some polling, before the first block of lines
        status = await demo.stop()
    assert status == 0, demo.stderr
    assert "Traceback" not in demo.stderr
    assert "stopped after polling for" in demo.stdout
    # The view's last block is printed on the way out.
    assert re.search(r"^1221999\d{5}\s+online\s", demo.stdout, re.MULTILINE)
    check_outputs(demo.stdout, folder)
