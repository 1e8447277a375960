"""``enphase-local report FILE --out chart.png``: chart the power samples of a SQLite file.

Draws production, consumption and net power over time, one panel per gateway, from the
``power_samples`` table the SQLite sink writes. Needs the ``report`` extra (matplotlib,
used through its Agg backend: no display needed).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import math
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from enphase_local.cli import examples
from enphase_local.power import PowerSample
from enphase_local.sinks.sqlite import read_power_samples

#: A gap longer than this many typical sample intervals (and at least MIN_GAP_S) breaks a line.
GAP_FACTOR = 5
MIN_GAP_S = 300.0

#: Line colour and label of each plotted quantity.
SERIES = (
    ("production_w", "production", "#2e9e44"),
    ("consumption_w", "consumption", "#e07b12"),
    ("net_w", "net (consumption - production)", "#2f6fbf"),
)


def register(subparsers: Any) -> None:
    """Add the ``report`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="chart power over time from a SQLite file",
        description=(
            "Draw production, consumption and net power over time from the power samples in "
            "a SQLite file written by the poll command; one panel per gateway."
        ),
        epilog=examples(
            ("everything poll wrote", "enphase-local report enphase-local.sqlite --out chart.png"),
            (
                "one gateway since this morning",
                "enphase-local report enphase-local.sqlite --gateway 122125067699 "
                "--since 2025-06-21T06:00 --out today.png",
            ),
        ),
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="SQLite file written by poll")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("enphase-local-report.png"),
        help="where to write the PNG (default: %(default)s)",
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
    """Read the samples and write the chart."""
    try:
        samples = await asyncio.to_thread(
            read_power_samples, args.file, gateway=args.gateway, since=args.since
        )
    except FileNotFoundError:
        print(f"enphase-local: error: no such file: {args.file}", file=sys.stderr)
        return 1
    if not samples:
        which = f" of gateway {args.gateway}" if args.gateway else ""
        since = f" since {args.since.isoformat()}" if args.since else ""
        print(f"enphase-local: no power samples{which}{since} in {args.file}", file=sys.stderr)
        return 1
    try:
        gateways = await asyncio.to_thread(draw_power_chart, samples, args.out)
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
    print(
        f"Chart of {len(samples)} power samples from {gateways} gateway(s), "
        f"{first.astimezone():%Y-%m-%d %H:%M} to {last.astimezone():%Y-%m-%d %H:%M}, "
        f"written to {args.out.resolve()}"
    )
    return 0


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


def draw_power_chart(samples: Sequence[PowerSample], out: Path) -> int:
    """Write a PNG with one panel per gateway; return the number of gateways drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - optional extra
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.ticker import FuncFormatter  # noqa: PLC0415

    groups = _by_gateway(samples)
    local = dt.datetime.now().astimezone().tzinfo
    figure = Figure(figsize=(11, 1.2 + 3.4 * len(groups)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0]
    peak = max(
        (abs(v) for s in samples for v in (s.production_w, s.consumption_w, s.net_w) if v),
        default=0.0,
    )
    kilo = peak >= 2000
    for ax, (gateway, group) in zip(axes, sorted(groups.items()), strict=True):
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
    locator = AutoDateLocator(tz=local)  # type: ignore[no-untyped-call]  # untyped in matplotlib
    axes[-1].xaxis.set_major_locator(locator)
    formatter = ConciseDateFormatter(locator, tz=local)  # type: ignore[no-untyped-call]  # ditto
    axes[-1].xaxis.set_major_formatter(formatter)
    axes[-1].set_xlabel(f"time ({dt.datetime.now(local).tzname()})")
    figure.suptitle("Power over time", fontsize=13)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    return len(groups)
