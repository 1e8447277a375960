"""``enphase-local watch`` and its view: rows from events, plain lines, the rich rendering."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import pty
import re
import signal
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
from rich.console import Console

from enphase_local import GatewaySession
from enphase_local.cli.watch import LiveView, format_age, format_kw, show
from enphase_local.errors import GatewayTimeoutError
from enphase_local.events import ErrorEvent, GatewayState, StateEvent
from enphase_local.models import (
    Battery,
    BatteryPower,
    EnsembleInventory,
    EnsemblePower,
    Generator,
    GridRelay,
    MeasurementType,
    RelayState,
    StorageMode,
    StorageSettings,
    SystemController,
    Tariff,
)
from enphase_local.simulator import SimulatedGateway, Simulation
from enphase_local.simulator.pytest_plugin import SimulationFactory
from tests.cli.running import cli, gateway_args
from tests.sinks.builders import (
    CONSUMPTION_EID,
    HOST,
    PRODUCTION_EID,
    SERIAL,
    T0,
    data_event,
    live_data,
    meter,
    reading,
)

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
OTHER = "envoy-2.local"


class Clock:
    """Real seconds, moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state(new: GatewayState, previous: GatewayState, host: str = HOST) -> StateEvent:
    return StateEvent(
        serial=SERIAL, host=host, previous=previous, state=new, at=T0, reason="because"
    )


def timeout(host: str = HOST) -> ErrorEvent:
    return ErrorEvent(
        serial=SERIAL,
        host=host,
        endpoint="meter_readings",
        error=GatewayTimeoutError("no answer within 45 s"),
        at=T0,
        latency_s=45.0,
    )


def metered_view(clock: Clock, **options: Any) -> LiveView:
    """A view of a metered gateway producing 3.2 kW while the house uses 1.1 kW."""
    view = LiveView([HOST, OTHER], title=lambda: "test view", now=clock, **options)
    view(state(GatewayState.ONLINE, GatewayState.STARTING))
    meters = (
        meter(PRODUCTION_EID, MeasurementType.PRODUCTION),
        meter(CONSUMPTION_EID, MeasurementType.NET_CONSUMPTION),
    )
    view(data_event("meters", meters))
    readings = (reading(PRODUCTION_EID, 3200.0), reading(CONSUMPTION_EID, -2100.0))
    view(data_event("meter_readings", readings))
    return view


def test_rows_follow_the_events() -> None:
    clock = Clock()
    view = metered_view(clock)
    clock.now += 4
    first, second = view.rows()
    assert first.cells() == (SERIAL, "online", "3.20", "1.10", "-2.10", "-2.10", "-", "-", "4 s")
    assert first.error == ""
    # Listed before any event, in the order given.
    assert second.cells() == (OTHER, "starting", "-", "-", "-", "-", "-", "-", "never")

    view(timeout())
    view(state(GatewayState.DEGRADED, GatewayState.ONLINE))
    clock.now += 300
    row = view.rows()[0]
    assert row.cells()[1] == "degraded"
    assert row.cells()[-1] == "5 min"
    assert row.error == "meter_readings: no answer within 45 s"

    view(state(GatewayState.ONLINE, GatewayState.DEGRADED))
    assert view.rows()[0].error == ""


def test_battery_columns() -> None:
    clock = Clock()
    view = metered_view(clock)
    view(data_event("live_data", live_data(pv=3200, load=1100, storage=-600, soc=56)))
    view(
        data_event(
            "meter_readings", (reading(PRODUCTION_EID, 3300.0), reading(CONSUMPTION_EID, -2200.0))
        )
    )
    (row, _) = view.rows()
    assert row.cells()[2:8] == ("3.30", "1.10", "-2.20", "-2.20", "-0.60", "56 %")


def battery_power(*batteries: tuple[str, float, float]) -> EnsemblePower:
    """``/ivp/ensemble/power`` of batteries given as (serial, W, %)."""
    return EnsemblePower(
        batteries=tuple(
            BatteryPower(serial_number=serial, active_power_w=watts, charge_percent=charge)
            for serial, watts, charge in batteries
        )
    )


def battery_inventory(*batteries: tuple[str, float | None]) -> EnsembleInventory:
    """``/ivp/ensemble/inventory`` of batteries given as (serial, °C)."""
    return EnsembleInventory(
        batteries=tuple(
            Battery(serial_number=serial, temperature_c=celsius) for serial, celsius in batteries
        )
    )


def test_a_row_per_battery() -> None:
    clock = Clock()
    view = metered_view(clock)
    assert view.battery_rows() == []  # no battery reported: no section
    assert not any(line.startswith("batteries") for line in view.lines())
    view(data_event("inventory", battery_inventory(("482201000002", 24.0), ("482201000001", None))))
    assert view.battery_rows() == []  # the inventory alone gives temperatures, not rows
    view(data_event("battery_power", battery_power(("482201000002", -1250.0, 41.0),
                                                   ("482201000001", 1830.4, 87.6))))  # fmt: skip
    clock.now += 20
    first, second = (row.cells() for row in view.battery_rows())
    # By serial number; power in kW (negative: charging); an unknown temperature is "-".
    assert first == (SERIAL, "482201000001", "88 %", "1.83", "-", "20 s")
    assert second == (SERIAL, "482201000002", "41 %", "-1.25", "24 °C", "20 s")

    view(data_event("inventory", battery_inventory(("482201000001", 31.0))))
    view(data_event("battery_power", battery_power(("482201000001", 0.0, 88.0))))
    clock.now += 900
    first, second = (row.cells() for row in view.battery_rows())
    assert first == (SERIAL, "482201000001", "88 %", "0.00", "31 °C", "15 min")
    assert second[-1] == "15 min"  # not in the last reading: its own age keeps growing
    assert view.rows()[0].cells()[-1] == "15 min"


def test_battery_lines_sit_between_the_gateways_and_the_energy() -> None:
    view = metered_view(Clock())
    view(data_event("battery_power", battery_power(("482201000001", -640.0, 56.0))))
    title, _, _, other, heading, columns, battery = view.lines()
    assert (title, heading) == ("test view", "batteries, power in kW (- charging)")
    assert other.startswith(OTHER)  # the gateway without batteries has no battery line
    assert columns.split() == ["gateway", "battery", "SoC", "power", "temp", "age"]
    assert battery.split() == [SERIAL, "482201000001", "56", "%", "-0.64", "-", "0", "s"]
    # Names to the left, numbers to the right.
    assert columns.index("battery") == battery.index("482201000001")
    assert columns.index("age") + len("age") == len(battery)
    console = Console(width=80, record=True, color_system=None)
    console.print(view.renderable())
    text = console.export_text()
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    assert "batteries, power in kW (- charging)" in text
    assert re.search(rf"^{SERIAL}\s+482201000001\s+56 %\s+-0\.64\s+-\s+0 s$", text, re.M)


def test_a_row_per_battery_site() -> None:
    view = metered_view(Clock())
    # Answered by gateways without the hardware too: a settings body alone shows nothing.
    storage = StorageSettings(mode=StorageMode.SELF_CONSUMPTION, reserve_percent=20.0)
    view(data_event("tariff", Tariff(storage=storage)))
    view(data_event("grid_relay", GridRelay(mains_oper_state=RelayState.CLOSED)))
    assert view.site_rows() == []
    controller = SystemController(serial_number="482202000001", mains_oper_state=RelayState.CLOSED)
    inventory = EnsembleInventory(
        batteries=(Battery(serial_number="482201000001", temperature_c=22.0),),
        system_controllers=(controller,),
    )
    view(data_event("inventory", inventory))
    assert view.site_rows() == [(SERIAL, "on grid", "-", "self consumption", "20 %")]
    view(data_event("grid_relay", GridRelay(mains_oper_state=RelayState.SYNCHRONIZING)))
    generator = Generator(present=True, admin_state=RelayState.OPEN, state=RelayState.CLOSED)
    view(data_event("generator", generator))
    assert view.site_rows() == [(SERIAL, "synchronizing", "running", "self consumption", "20 %")]
    view(data_event("battery_power", battery_power(("482201000001", 900.0, 70.0))))
    lines = view.lines()
    start = lines.index("grid, generator and battery settings")
    assert lines[start + 1].split() == ["gateway", "grid", "generator", "mode", "reserve"]
    assert lines[start + 2].split() == [SERIAL, "synchronizing", "running", "self", "consumption",
                                        "20", "%"]  # fmt: skip
    assert lines[start + 3] == "batteries, power in kW (- charging)"
    console = Console(width=80, record=True, color_system=None)
    console.print(view.renderable())
    text = console.export_text()
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    assert re.search(rf"^{SERIAL}\s+synchronizing\s+running\s+self consumption\s+20 %$", text, re.M)


def test_plain_lines_are_aligned_with_the_error_last() -> None:
    clock = Clock()
    view = metered_view(clock)
    view(timeout(OTHER))
    title, header, first, second = view.lines()
    assert title == "test view"
    assert header.split() == [
        "gateway", "state", "prod", "cons", "net", "grid", "batt", "SoC", "age", "error",
    ]  # fmt: skip
    assert header.index("state") == first.index("online") == second.index("starting")
    assert first.endswith("0 s")
    assert second.endswith("never  meter_readings: no answer within 45 s")


def test_energy_today_follows_the_guarded_counters() -> None:
    view = metered_view(Clock(), wall=lambda: T0 + dt.timedelta(hours=1))
    assert view.energy_today()[1] == []  # one reading: nothing counted yet
    for minutes in range(1, 31):
        later = T0 + dt.timedelta(minutes=minutes)
        produced = attrs.evolve(
            reading(PRODUCTION_EID, 3200.0, at=later),
            energy_delivered_wh=1_000_000.0 + 50 * minutes,
        )
        view(data_event("meter_readings", (produced, reading(CONSUMPTION_EID, -2100.0)), at=later))
    heading, rows = view.energy_today()
    assert heading == "energy today since 12:00, kWh"
    assert rows == [(SERIAL, "1.50", "1.50", "0.00", "0.00", "-", "-")]
    text = "\n".join(view.lines())
    assert "solar  house  import  export  charge  discharge" in text
    console = Console(width=80, record=True, color_system=None)
    console.print(view.renderable())
    assert f"{SERIAL}   1.50   1.50" in console.export_text()


def test_the_rich_table_fits_80_columns() -> None:
    clock = Clock()
    view = metered_view(clock)
    view(timeout(OTHER))
    view(state(GatewayState.BACKING_OFF, GatewayState.STARTING, host=OTHER))
    console = Console(width=80, record=True, color_system=None)
    console.print(view.renderable())
    text = console.export_text()
    lines = text.splitlines()
    assert lines[0] == "test view"
    assert max(len(line.rstrip()) for line in lines) <= 80
    assert "…" not in text  # nothing cut short
    assert re.search(rf"^{SERIAL}\s+online\s+3\.20\s+1\.10\s+-2\.10\s+-2\.10\s+-\s+-\s+0 s$",
                     text, re.MULTILINE)  # fmt: skip
    assert f"{SERIAL}: meter_readings: no answer within 45 s" in text


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "never"), (-0.2, "0 s"), (59.4, "59 s"), (600, "10 min")]
)
def test_ages(seconds: float | None, text: str) -> None:
    assert format_age(seconds) == text


def test_power_in_kilowatts() -> None:
    assert (format_kw(None), format_kw(12.0), format_kw(-3456.0)) == ("-", "0.01", "-3.46")


async def test_without_a_terminal_show_prints_blocks_until_stopped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    view = metered_view(Clock())
    stop = asyncio.Event()
    task = asyncio.create_task(show(view, stop, plain_refresh_s=0.05))
    await asyncio.sleep(0.2)
    stop.set()
    await task
    out = capsys.readouterr().out
    # Several blocks, and a last one on the way out.
    assert out.count("test view\n") >= 2
    assert out.endswith(view.lines()[-1] + "\n")


@pytest.fixture
async def simulation(enphase_simulation_factory: SimulationFactory) -> Simulation:
    return await enphase_simulation_factory(profile="battery", start_time=NOON)


async def test_watch_without_a_terminal(simulation: Simulation, tmp_path: Path) -> None:
    serial = simulation.gateways[0].serial
    args = gateway_args(simulation, 0, tmp_path)
    # The storage mode at once; the grid state once the hourly inventory lists the System
    # Controller (after this test).
    site = rf"^{serial}\s+-\s+-\s+self consumption\s+\d+ %$"
    async with cli(
        "watch", *args, "--live-interval", "1", "--refresh", "0.5", cwd=tmp_path
    ) as watch:
        # Power from the meters, and the battery's charge from live data.
        await watch.wait_for(rf"^{serial}\s+online\s+\d+\.\d\d\s.*\s\d+ %\s")
        await watch.wait_for(site)
        assert await watch.stop() == 0, watch.stderr
    lines = watch.out
    assert lines[0].startswith("enphase-local watch ")
    assert lines[1].split()[:3] == ["gateway", "state", "prod"]
    # The last block: the power row, the site's settings, then the energy counted so far today.
    top = max(i for i, line in enumerate(lines) if line.split()[:2] == ["gateway", "state"])
    assert re.match(rf"{serial}\s+online\s.*\s\d+ %\s+\d+ s$", lines[top + 1])
    assert lines[top + 2] == "grid, generator and battery settings"
    assert lines[top + 3].split() == ["gateway", "grid", "generator", "mode", "reserve"]
    assert re.match(site, lines[top + 4])
    assert lines[-3].startswith("energy today since ")
    assert lines[-2].split() == [
        "gateway",
        "solar",
        "house",
        "import",
        "export",
        "charge",
        "discharge",
    ]
    assert re.fullmatch(rf"{serial}(\s+\d+\.\d\d){{6}}", lines[-1])
    assert "Traceback" not in watch.stderr
    assert not any(name.endswith(".sqlite") for name in os.listdir(tmp_path))  # nothing stored


@pytest.mark.parametrize("profile", ["battery", "generator"])
async def test_watch_shows_each_battery(
    profile: str, enphase_simulation_factory: SimulationFactory, tmp_path: Path
) -> None:
    simulation = await enphase_simulation_factory(profile=profile, start_time=NOON)
    gateway = simulation.gateways[0]
    config = tmp_path / "poll.toml"
    # Battery power every second (not 15 minutes) so that its first read comes at once.
    config.write_text(
        "[poll]\nlive_interval = 1\n[poll.intervals]\n"
        "battery_power = 1\ninventory = 1\ngenerator = 1\n"
        f'[[gateway]]\nhost = "{gateway.url}"\ntoken = "{gateway.token}"\n'
        f'fingerprint = "{gateway.fingerprint}"\n'
    )
    config.chmod(0o600)
    battery = rf"^{gateway.serial}\s+(\d{{12}})\s+(\d+) %\s+(-?\d+\.\d\d)\s+(\d+) °C\s+\d+ s$"
    # On grid at noon; a generator site's generator is off then.
    generator = "off" if profile == "generator" else "-"
    site = rf"^{gateway.serial}\s+on grid\s+{generator}\s+self consumption\s+\d+ %$"
    async with cli("watch", "--config", str(config), "--refresh", "0.5", cwd=tmp_path) as watch:
        await watch.wait_for(battery)
        await watch.wait_for(site)
        assert await watch.stop() == 0, watch.stderr
    lines = watch.out
    start = max(i for i, line in enumerate(lines) if line == "batteries, power in kW (- charging)")
    assert re.match(site, lines[start - 1])
    assert lines[start + 1].split() == ["gateway", "battery", "SoC", "power", "temp", "age"]
    rows = [m for line in lines[start + 2 :] if (m := re.match(battery, line))]
    serials = {b.serial_number for b in (await simulated_power(gateway)).batteries}
    assert len(serials) == {"battery": 2, "generator": 3}[profile]
    assert {m[1] for m in rows} == serials
    assert all(0 <= int(m[2]) <= 100 and 0 < int(m[4]) < 60 for m in rows)


async def simulated_power(gateway: SimulatedGateway) -> EnsemblePower:
    """The gateway's battery power, read over HTTPS."""
    async with GatewaySession(
        gateway.url, token=gateway.token, fingerprint=gateway.fingerprint
    ) as client:
        return await client.battery_power()


async def test_watch_on_a_terminal_redraws_in_place(simulation: Simulation, tmp_path: Path) -> None:
    serial = simulation.gateways[0].serial
    args = gateway_args(simulation, 0, tmp_path)
    controller, terminal = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    env.pop("NO_COLOR", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "enphase_local", "watch", *args, "--live-interval", "1",
        "--refresh", "0.2",
        stdin=asyncio.subprocess.DEVNULL, stdout=terminal, stderr=asyncio.subprocess.PIPE,
        env=env,
    )  # fmt: skip
    os.close(terminal)
    screen = bytearray()
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(20):
            # Until the power shows (the state turns online before the first meter readings).
            while not re.search(rf"{serial}\s+\S*online\S*\s+-?\d+\.\d\d".encode(), screen):
                screen += await loop.run_in_executor(None, os.read, controller, 65536)
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(20):
            status = await process.wait()
        screen += await loop.run_in_executor(None, read_rest, controller)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        os.close(controller)
    assert status == 0
    text = screen.decode(errors="replace")
    assert "\x1b[2K" in text  # lines erased and drawn again: redrawn in place
    assert "\x1b[32monline" in text  # in colour
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert "enphase-local watch " in plain
    assert re.search(r"^gateway\s+state\s+prod\s+cons\s+net\s+grid\s+batt\s+SoC\s+age", plain, re.M)
    assert re.search(rf"^{serial}\s+online\s+-?\d+\.\d\d\s", plain, re.MULTILINE)


def read_rest(fd: int) -> bytes:
    """What is left to read from a terminal whose other side closed."""
    data = bytearray()
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the process ended
            return bytes(data)
        if not chunk:
            return bytes(data)
        data += chunk
