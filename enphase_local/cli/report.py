"""``enphase-local report FILE --out chart.png``: chart the power and energy of a SQLite file.

Draws production, consumption and net power over time, one panel per gateway, from the
``power_samples`` table the SQLite sink writes; beside it, when the file has an energy
ledger, each day's energy as a stacked bar: solar to home, to battery and to grid, grid to
home, battery to home (see :func:`~enphase_local.energy.destinations`). Under the power of a
gateway with batteries, their charge over time: a line per IQ Battery from the
``battery_samples`` table, or, where it holds none for that gateway (AC Batteries, files
written before it existed, a plan that does not read ``battery_power``), one line for all
of them from the power samples' ``battery_soc_pct``. ``--csv FILE`` writes the ledger's
quarter hours and ``--battery-csv FILE`` the charge series drawn, instead of the chart (the
chart too when ``--out`` is given). Needs the ``report`` extra (matplotlib, used through its
Agg backend: no display needed) for the chart.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import itertools
import math
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from enphase_local.cli import examples
from enphase_local.energy import (
    FLOWS,
    Destinations,
    LedgerBucket,
    by_day,
    destinations,
)
from enphase_local.power import PowerSample
from enphase_local.sinks.samples import BatterySample
from enphase_local.sinks.sqlite import read_battery_samples, read_ledger, read_power_samples

#: A gap longer than this many typical sample intervals (and at least MIN_GAP_S) breaks a line.
GAP_FACTOR = 5
MIN_GAP_S = 300.0

#: Line colour and label of each plotted quantity.
SERIES = (
    ("production_w", "production", "#2e9e44"),
    ("consumption_w", "consumption", "#e07b12"),
    ("net_w", "net (consumption - production)", "#2f6fbf"),
)
#: The segments of a day's energy bar: :class:`~enphase_local.energy.Destinations` field,
#: label and colour.
SEGMENTS = (
    ("solar_to_home_wh", "solar to home", "#f2b233"),
    ("solar_to_battery_wh", "solar to battery", "#7fb84b"),
    ("solar_to_grid_wh", "solar to grid", "#4fa8d8"),
    ("grid_to_home_wh", "grid to home", "#7a7f87"),
    ("battery_to_home_wh", "battery to home", "#2f9c84"),
)
#: Default chart file.
DEFAULT_OUT = Path("enphase-local-report.png")
#: Heights (inches) of a gateway's power panel and of its battery charge panel.
POWER_HEIGHT_IN = 3.4
BATTERY_HEIGHT_IN = 2.0
#: The label of the one line of a gateway without per-battery rows.
ALL_BATTERIES = "all batteries (live data)"


def register(subparsers: Any) -> None:
    """Add the ``report`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="chart power and daily energy from a SQLite file, or write its ledger as CSV",
        description=(
            "Draw production, consumption and net power over time from the power samples in "
            "a SQLite file written by the poll command, and beside it each day's energy from "
            "its ledger (solar to home, battery and grid; grid and battery to home), and under "
            "it the charge of each battery; a row per gateway. --csv writes the ledger's "
            "quarter hours instead, --battery-csv the battery charge."
        ),
        epilog=examples(
            ("everything poll wrote", "enphase-local report enphase-local.sqlite --out chart.png"),
            (
                "one gateway since this morning",
                "enphase-local report enphase-local.sqlite --gateway 122125067699 "
                "--since 2025-06-21T06:00 --out today.png",
            ),
            (
                "the energy ledger and each battery's charge for a spreadsheet",
                "enphase-local report enphase-local.sqlite --csv ledger.csv "
                "--battery-csv batteries.csv",
            ),
        ),
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="SQLite file written by poll")
    parser.add_argument(
        "--out",
        type=Path,
        help=f"where to write the PNG (default: {DEFAULT_OUT}, unless a CSV file is asked for)",
    )
    parser.add_argument(
        "--csv",
        type=Path,
        metavar="CSV",
        help="write the energy ledger (a row per gateway and quarter hour) to this file",
    )
    parser.add_argument(
        "--battery-csv",
        type=Path,
        metavar="CSV",
        help="write the battery charge drawn (a row per battery and reading) to this file",
    )
    parser.add_argument("--gateway", metavar="SERIAL", help="chart only this gateway")
    parser.add_argument(
        "--since",
        type=parse_since,
        metavar="ISO",
        help="only samples from this time on, e.g. 2025-06-21 or 2025-06-21T06:00+02:00 "
        "(local time when no offset is given)",
    )
    parser.set_defaults(run=run)


def parse_since(text: str) -> dt.datetime:
    """An ISO 8601 date or time; without an offset it is local time."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {text!r}") from err
    return when if when.tzinfo is not None else when.astimezone()


async def run(args: argparse.Namespace) -> int:
    """Read the file; write the CSV files and/or the chart."""
    try:
        samples, buckets, batteries = await asyncio.to_thread(_read, args)
    except FileNotFoundError:
        print(f"enphase-local: error: no such file: {args.file}", file=sys.stderr)
        return 1
    which = f" of gateway {args.gateway}" if args.gateway else ""
    since = f" since {args.since.isoformat()}" if args.since else ""
    charge = battery_charge(batteries, samples)
    if not await _write_csv_files(args, buckets, charge, f"{which}{since} in {args.file}"):
        return 1
    if args.out is None and (args.csv is not None or args.battery_csv is not None):
        return 0
    out = args.out or DEFAULT_OUT
    if not samples:
        print(f"enphase-local: no power samples{which}{since} in {args.file}", file=sys.stderr)
        return 1
    try:
        gateways = await asyncio.to_thread(draw_chart, samples, buckets, out, batteries=batteries)
    except ImportError:
        print(
            "enphase-local: error: the report command needs matplotlib: "
            "pip install 'enphase-local[report]'",
            file=sys.stderr,
        )
        return 1
    first, last = samples[0].at, samples[-1].at
    for sample in samples:
        first, last = min(first, sample.at), max(last, sample.at)
    battery = f", {len(charge)} battery readings" if charge else ""
    energy = f" and {len(buckets)} quarter hours of energy" if buckets else ""
    print(
        f"Chart of {len(samples)} power samples{battery}{energy} from {gateways} gateway(s), "
        f"{first.astimezone():%Y-%m-%d %H:%M} to {last.astimezone():%Y-%m-%d %H:%M}, "
        f"written to {out.resolve()}"
    )
    return 0


async def _write_csv_files(
    args: argparse.Namespace,
    buckets: Sequence[LedgerBucket],
    charge: Sequence[BatterySample],
    where: str,
) -> bool:
    """Write the CSV files asked for; False (and a message) when one has nothing to hold."""
    if args.csv is not None:
        if not buckets:
            print(f"enphase-local: no energy ledger{where}", file=sys.stderr)
            return False
        await asyncio.to_thread(write_csv, buckets, args.csv)
        print(f"Ledger of {len(buckets)} quarter hours written to {args.csv.resolve()}")
    if args.battery_csv is not None:
        if not charge:
            print(f"enphase-local: no battery charge{where}", file=sys.stderr)
            return False
        await asyncio.to_thread(write_battery_csv, charge, args.battery_csv)
        print(f"{len(charge)} battery readings written to {args.battery_csv.resolve()}")
    return True


def _read(
    args: argparse.Namespace,
) -> tuple[list[PowerSample], list[LedgerBucket], list[BatterySample]]:
    options = {"gateway": args.gateway, "since": args.since}
    return (
        read_power_samples(args.file, **options),
        read_ledger(args.file, **options),
        read_battery_samples(args.file, **options),
    )


def battery_charge(
    batteries: Sequence[BatterySample], samples: Sequence[PowerSample]
) -> list[BatterySample]:
    """What the chart draws of the batteries, by gateway, battery and time: each gateway's
    per-battery samples, or, for a gateway with none, one series for all its batteries from
    the power samples (``serial`` empty, the battery power and charge of live data or a
    storage CT)."""
    charge = list(batteries)
    per_battery = {b.gateway for b in batteries}
    charge += (
        BatterySample(
            gateway=s.gateway,
            serial="",
            at=s.at,
            charge_pct=s.battery_soc_pct,
            power_w=s.storage_w,
            temperature_c=None,
        )
        for s in samples
        if s.gateway not in per_battery and s.battery_soc_pct is not None
    )
    return sorted(charge, key=lambda b: (b.gateway, b.serial, b.at))


def write_csv(buckets: Sequence[LedgerBucket], path: Path) -> None:
    """The ledger as CSV: gateway, start and end (local time, ISO 8601), Wh per flow (empty
    where nothing measures it) and whether the quarter hour was filled across a gap."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["gateway", "start", "end", *FLOWS, "filled"])
        for bucket in buckets:
            values = ["" if v is None else f"{v:.3f}" for v in bucket.flows().values()]
            start, end = (t.astimezone().isoformat() for t in (bucket.start, bucket.end))
            writer.writerow([bucket.gateway, start, end, *values, int(bucket.filled)])


def write_battery_csv(charge: Sequence[BatterySample], path: Path) -> None:
    """The battery charge as CSV: gateway, battery serial (empty: all of the gateway's
    batteries together), time (local, ISO 8601), charge %, power W (positive while
    discharging) and temperature °C (empty where unknown)."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["gateway", "battery", "time", "charge_pct", "power_w", "temperature_c"])
        for row in charge:
            values = (row.charge_pct, row.power_w, row.temperature_c)
            numbers = ["" if v is None else repr(v) for v in values]
            writer.writerow([row.gateway, row.serial, row.at.astimezone().isoformat(), *numbers])


def _by_gateway(samples: Sequence[PowerSample]) -> dict[str, list[PowerSample]]:
    groups: dict[str, list[PowerSample]] = {}
    for sample in samples:
        groups.setdefault(sample.gateway, []).append(sample)
    for group in groups.values():
        group.sort(key=lambda s: s.at)
    return groups


def _with_gaps(
    times: list[dt.datetime], values: list[float | None]
) -> tuple[list[dt.datetime], list[float]]:
    """Insert a NaN where sampling stopped for a while, so lines do not bridge outages."""
    steps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    limit = max(GAP_FACTOR * statistics.median(steps), MIN_GAP_S) if steps else 0.0
    out_times: list[dt.datetime] = []
    out_values: list[float] = []
    for index, (when, value) in enumerate(zip(times, values, strict=True)):
        if index and steps[index - 1] > limit:
            out_times.append(times[index - 1] + (when - times[index - 1]) / 2)
            out_values.append(float("nan"))
        out_times.append(when)
        out_values.append(float("nan") if value is None else value)
    return out_times, out_values


def _power_panel(ax: Any, gateway: str, group: list[PowerSample], kilo: bool) -> None:
    from matplotlib.ticker import FuncFormatter  # noqa: PLC0415 - optional extra

    local = dt.datetime.now().astimezone().tzinfo
    times = [s.at.astimezone(local) for s in group]
    for key, label, colour in SERIES:
        xs, ys = _with_gaps(times, [getattr(s, key) for s in group])
        if not all(math.isnan(y) for y in ys):
            ax.plot(xs, ys, label=label, color=colour, linewidth=1.4)
    ax.axhline(0, color="#888888", linewidth=0.8)
    if not any(getattr(s, key) for s in group for key, _, _ in SERIES):
        ax.set_ylim(-1000 if kilo else -1, 1000 if kilo else 1)  # all zero: a sane scale
    metered = any(s.consumption_w is not None for s in group)
    note = "" if metered else "  (no consumption meter: production only)"
    ax.set_title(f"Gateway {gateway}{note}", loc="left", fontsize=11)
    ax.set_ylabel("power (kW)" if kilo else "power (W)")
    ax.yaxis.set_major_formatter(
        FuncFormatter(lambda y, _pos: f"{y / 1000:g}" if kilo else f"{y:g}")
    )
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.legend(loc="upper left", fontsize=9, frameon=False)


def _energy_panel(ax: Any, days: dict[dt.date, list[LedgerBucket]]) -> None:
    """One stacked bar per day, kWh: where the solar went, and what else fed the house."""
    dates = sorted(days)
    labels = [f"{day:%d %b}" for day in dates]
    split = [_split(days[day]) for day in dates]
    if all(part is None for part in split):  # no grid meters: production only
        solar = [sum(b.production_wh or 0.0 for b in days[day]) / 1000 for day in dates]
        ax.bar(labels, solar, color=SEGMENTS[0][2], label="solar (no consumption meter)")
    else:
        base = [0.0] * len(dates)
        for field, label, colour in SEGMENTS:
            heights = [0.0 if part is None else getattr(part, field) / 1000 for part in split]
            ax.bar(labels, heights, bottom=base, color=colour, label=label, width=0.7)
            base = [b + h for b, h in zip(base, heights, strict=True)]
    ax.set_title("Energy per day", loc="left", fontsize=11)
    ax.set_ylabel("energy (kWh)")
    ax.grid(True, axis="y", color="#dddddd", linewidth=0.6)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.tick_params(axis="x", labelrotation=45 if len(dates) > 7 else 0, labelsize=8)


def _split(buckets: list[LedgerBucket]) -> Destinations | None:
    parts = [destinations(bucket) for bucket in buckets]
    known = [part for part in parts if part is not None]
    return sum(known, Destinations()) if known else None


def _battery_panel(ax: Any, gateway: str, charge: list[BatterySample]) -> None:
    """A line per battery (or one for all of them): charge over time, 0 to 100 %."""
    local = dt.datetime.now().astimezone().tzinfo
    series: dict[str, list[BatterySample]] = {}
    for sample in charge:
        series.setdefault(sample.serial, []).append(sample)
    for serial, group in series.items():
        times = [s.at.astimezone(local) for s in group]
        xs, ys = _with_gaps(times, [s.charge_pct for s in group])
        ax.plot(xs, ys, label=serial or ALL_BATTERIES, linewidth=1.4)
    ax.set_ylim(-3, 103)  # a full or empty battery's line stays in sight
    ax.set_yticks(range(0, 101, 25))
    ax.set_title(f"Gateway {gateway}: battery charge", loc="left", fontsize=11)
    ax.set_ylabel("charge (%)")
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncols=min(len(series), 4))


def draw_chart(
    samples: Sequence[PowerSample],
    buckets: Sequence[LedgerBucket],
    out: Path,
    *,
    batteries: Sequence[BatterySample] = (),
) -> int:
    """Write a PNG with a row per gateway: power over time, and each day's energy beside it
    when there is a ledger; under a gateway with batteries, a row with their charge (see
    :func:`battery_charge`); return the number of gateways drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - optional extra
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    groups = _by_gateway(samples)
    charge: dict[str, list[BatterySample]] = {}
    for sample in battery_charge(batteries, samples):
        if sample.gateway in groups:
            charge.setdefault(sample.gateway, []).append(sample)
    local = dt.datetime.now().astimezone().tzinfo
    assert local is not None
    energy = by_day(buckets, local)
    columns = 2 if energy else 1
    width = 11 + 5 * (columns - 1)
    # A row per gateway's power, and one under it for its batteries' charge.
    rows = [(gateway, kind) for gateway in sorted(groups) for kind in ("power", "battery")
            if kind == "power" or gateway in charge]  # fmt: skip
    heights = [POWER_HEIGHT_IN if kind == "power" else BATTERY_HEIGHT_IN for _, kind in rows]
    figure = Figure(figsize=(width, 1.2 + sum(heights)), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(
        len(rows),
        columns,
        squeeze=False,
        width_ratios=[11, 5][:columns],
        height_ratios=heights,
    )
    time_axes = grid[:, 0]
    for ax in time_axes[1:]:
        ax.sharex(time_axes[0])
    peak = max(
        (abs(v) for s in samples for v in (s.production_w, s.consumption_w, s.net_w) if v),
        default=0.0,
    )
    for row, (gateway, kind) in enumerate(rows):
        if kind == "battery":
            _battery_panel(grid[row, 0], gateway, charge[gateway])
        else:
            _power_panel(grid[row, 0], gateway, groups[gateway], peak >= 2000)
        if columns == 2:
            if kind == "power" and gateway in energy:
                _energy_panel(grid[row, 1], energy[gateway])
            else:
                grid[row, 1].set_axis_off()
    locator = AutoDateLocator(tz=local)  # type: ignore[no-untyped-call]  # untyped in matplotlib
    time_axes[-1].xaxis.set_major_locator(locator)
    formatter = ConciseDateFormatter(locator, tz=local)  # type: ignore[no-untyped-call]  # ditto
    time_axes[-1].xaxis.set_major_formatter(formatter)
    time_axes[-1].set_xlabel(f"time ({dt.datetime.now(local).tzname()})")
    figure.suptitle("Power over time" + (" and energy per day" if energy else ""), fontsize=13)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    return len(groups)
