"""``enphase-local watch``: a live view of gateways in the terminal, nothing stored.

One row per gateway: state, production, consumption, net, grid, battery (power and charge),
how long ago the last data arrived, and the last error while the gateway is not online.
Under it, for a site with the hardware, a row with its grid state (where a System Controller
or Meter Collar can take it off grid), generator state, storage mode and backup reserve (as
:class:`~enphase_local.sinks.ensemble.EnsembleView` shows them); where a gateway reports IQ
Batteries one by one (``battery_power``, with the temperatures of its ``inventory``), a row
per battery: charge, power, temperature and the age of that reading (every 15 minutes at the
default plan). Then, once counted, each
gateway's energy today (since local midnight, or since watch started when that was later):
solar production, house consumption, grid import and export, battery charge and discharge,
through the counter guard as ``poll`` counts them.
On a terminal it redraws in place (with rich, the ``watch`` extra); when standard output is
not a terminal (a pipe, CI) it prints a block of plain lines every ``--refresh`` seconds
(default 10) instead. :class:`LiveView` and :func:`show` are also what ``demo`` uses.
Ctrl-C or SIGTERM ends it with status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

import attrs

from enphase_local.build import TokenSources, make_poller
from enphase_local.cli import examples, positive_float
from enphase_local.cli.poll import (
    add_target_options,
    config_from_args,
    configure_logging,
    stop_on_signals,
)
from enphase_local.energy import FLOWS, Buckets, EnergyTracker, Ledger
from enphase_local.events import (
    DataEvent,
    EnergyEvent,
    ErrorEvent,
    Event,
    GatewayState,
    StateEvent,
)
from enphase_local.models import EnsemblePower
from enphase_local.power import PowerSample
from enphase_local.sinks.samples import BatterySample
from enphase_local.sinks.view import GatewayView, GatewayViews

#: Seconds between redraws on a terminal, and between printed blocks elsewhere.
TERMINAL_REFRESH_S: Final = 1.0
PLAIN_REFRESH_S: Final = 10.0

#: rich styles of the states.
_STYLES: Final = {
    GatewayState.STARTING: "dim",
    GatewayState.ONLINE: "green",
    GatewayState.DEGRADED: "yellow",
    GatewayState.BACKING_OFF: "red",
    GatewayState.AUTH_FAILED: "bold red",
    GatewayState.UNREACHABLE: "bold red",
}
#: Column headings: production, consumption, net, grid and battery power in kW (net and
#: grid negative while exporting, battery negative while charging), battery charge, and the
#: age of the latest data. They fit an 80-column terminal.
_HEADERS: Final = ("gateway", "state", "prod", "cons", "net", "grid", "batt", "SoC", "age")
#: Per gateway, energy today in kWh, in the order of :data:`~enphase_local.energy.FLOWS`.
_ENERGY_HEADERS: Final = (
    "gateway", "solar", "house", "import", "export", "charge", "discharge",
)  # fmt: skip
#: Per site with the hardware: grid state, generator state, storage mode, backup reserve.
_SITE_HEADERS: Final = ("gateway", "grid", "generator", "mode", "reserve")
#: The heading above the site rows.
SITE_HEADING: Final = "grid, generator and battery settings"
#: Per battery: its gateway and serial number, charge, power in kW (negative while
#: charging), temperature and the age of its latest reading.
_BATTERY_HEADERS: Final = ("gateway", "battery", "SoC", "power", "temp", "age")
#: The heading above the battery rows.
BATTERY_HEADING: Final = "batteries, power in kW (- charging)"


def register(subparsers: Any) -> None:
    """Add the ``watch`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "watch",
        help="show gateways live in the terminal (nothing stored)",
        description=(
            "Poll gateways and show each one's state, production, consumption, net, grid and "
            "battery power, refreshed in place, until Ctrl-C. Nothing is stored: use poll."
        ),
        epilog=examples(
            ("the gateways `enphase-local init` set up", "enphase-local watch --config poll.toml"),
            ("one gateway", "enphase-local watch envoy.local --token-file envoy.token"),
            (
                "refreshed every 30 s",
                "enphase-local watch --config poll.toml --refresh 30",
            ),
        ),
    )
    add_target_options(parser)
    parser.add_argument(
        "--refresh",
        type=positive_float,
        metavar="S",
        help=f"seconds between updates (default {TERMINAL_REFRESH_S:g} on a terminal, "
        f"{PLAIN_REFRESH_S:g} when printing lines)",
    )
    parser.set_defaults(run=run)


def format_kw(watts: float | None) -> str:
    """``0.85``, ``-3.12`` (kW), or ``-`` when unknown."""
    return "-" if watts is None else f"{watts / 1000:.2f}"


def format_percent(value: float | None) -> str:
    """``56 %``, or ``-`` when unknown."""
    return "-" if value is None else f"{value:.0f} %"


def format_age(seconds: float | None) -> str:
    """``4 s``, ``12 min``, ``3 h``, or ``never``."""
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{max(seconds, 0):.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


@attrs.frozen(kw_only=True)
class Row:
    """One gateway as the view shows it."""

    #: Serial number, or the host before it is known.
    gateway: str
    #: The gateway's state (None before the poller reported one).
    state: GatewayState | None
    #: The latest power sample (None before the first).
    power: PowerSample | None
    #: Seconds since data last arrived (None: never).
    age_s: float | None
    #: The last error while the gateway is not online, else empty.
    error: str

    def cells(self) -> tuple[str, ...]:
        """The texts in column order (the error is shown apart)."""
        state = "starting" if self.state is None else self.state.value.replace("_", " ")
        power = self.power
        return (
            self.gateway,
            state,
            format_kw(power.production_w if power else None),
            format_kw(power.consumption_w if power else None),
            format_kw(power.net_w if power else None),
            format_kw(power.grid_w if power else None),
            format_kw(power.storage_w if power else None),
            format_percent(power.battery_soc_pct if power else None),
            format_age(self.age_s),
        )


@attrs.frozen(kw_only=True)
class BatteryRow:
    """One IQ Battery as the view shows it."""

    #: Its gateway's serial number (or host before it is known).
    gateway: str
    #: The battery's latest sample.
    sample: BatterySample
    #: Seconds since its power last arrived (None: not seen by this view's clock).
    age_s: float | None

    def cells(self) -> tuple[str, ...]:
        """The texts in column order."""
        sample = self.sample
        temperature = sample.temperature_c
        return (
            self.gateway,
            sample.serial,
            format_percent(sample.charge_pct),
            format_kw(sample.power_w),
            "-" if temperature is None else f"{temperature:.0f} °C",
            format_age(self.age_s),
        )


class LiveView:
    """The latest of each gateway, fed with the poller's events (a plain callback).

    ``hosts`` (e.g. ``poller.hosts``) shows gateways before their first event. Ages are
    measured with ``now`` (real monotonic seconds by default) from when data arrived; the
    day of "energy today" is the one ``wall`` says (local time by default).
    """

    def __init__(
        self,
        hosts: Iterable[str] = (),
        *,
        title: Callable[[], str] | None = None,
        now: Callable[[], float] = time.monotonic,
        wall: Callable[[], dt.datetime] = lambda: dt.datetime.now().astimezone(),
    ) -> None:
        self._views = GatewayViews()
        self._by_host: dict[str, GatewayView | None] = dict.fromkeys(hosts)
        self._received: dict[str, float] = {}
        self._battery_received: dict[tuple[str, str], float] = {}
        self._errors: dict[str, str] = {}
        self._title = title
        self._now = now
        self._wall = wall
        self._energy = EnergyTracker()
        self._ledger = Ledger()
        self._buckets = Buckets()
        self._counting_since: dt.datetime | None = None

    def __call__(self, event: Event) -> None:
        """Take in an event."""
        for derived in self._energy.update(event):
            if isinstance(derived, EnergyEvent):
                self._buckets.apply(self._ledger.add(derived))
                self._counting_since = self._counting_since or derived.at
        view, _ = self._views.update(event)
        self._by_host[event.host] = view
        if isinstance(event, DataEvent):
            self._received[event.host] = now = self._now()
            if isinstance(event.model, EnsemblePower):
                for battery in event.model.batteries:
                    self._battery_received[event.host, battery.serial_number] = now
        elif isinstance(event, ErrorEvent):
            self._errors[event.host] = f"{event.endpoint}: {event.error}"
        elif isinstance(event, StateEvent) and event.state is GatewayState.ONLINE:
            self._errors.pop(event.host, None)

    @property
    def title(self) -> str:
        """The heading above the rows."""
        return self._title() if self._title is not None else "enphase-local watch"

    def rows(self) -> list[Row]:
        """One row per gateway, in the order first seen."""
        return [self._row(host, view) for host, view in self._by_host.items()]

    def _row(self, host: str, view: GatewayView | None) -> Row:
        state = view.state if view is not None else None
        received = self._received.get(host)
        return Row(
            gateway=view.key if view is not None else host,
            state=state,
            power=view.power if view is not None else None,
            age_s=None if received is None else self._now() - received,
            error="" if state is GatewayState.ONLINE else self._errors.get(host, ""),
        )

    def site_rows(self) -> list[tuple[str, ...]]:
        """Per gateway whose hardware shows any, in the order first seen: its grid state,
        generator state, storage mode and backup reserve (``-`` where not shown)."""
        rows = []
        for view in self._by_host.values():
            if view is None:
                continue
            values = view.site_values()
            if all(value is None for value in values.values()):
                continue
            texts = (values["grid_state"], values["generator_state"], values["storage_mode"])
            reserve = values["battery_reserve_pct"]
            rows.append((
                view.key,
                *("-" if text is None else str(text).replace("_", " ") for text in texts),
                format_percent(None if reserve is None else float(reserve)),
            ))  # fmt: skip
        return rows

    def battery_rows(self) -> list[BatteryRow]:
        """A row per IQ Battery reported one by one, by gateway (in the order first seen),
        then serial number; none on sites without them."""
        now = self._now()
        rows = []
        for host, view in self._by_host.items():
            if view is None:
                continue
            for serial, sample in sorted(view.batteries.items()):
                received = self._battery_received.get((host, serial))
                age = None if received is None else now - received
                rows.append(BatteryRow(gateway=view.key, sample=sample, age_s=age))
        return rows

    def energy_today(self) -> tuple[str, list[tuple[str, ...]]]:
        """A heading and, per gateway with energy counted today, its kWh per flow
        (``-`` where nothing measures it)."""
        now = self._wall()
        local, day = now.tzinfo or dt.UTC, now.date()
        since = self._counting_since
        heading = "energy today, kWh"
        if since is not None and since.astimezone(local).date() == day:
            heading = f"energy today since {since.astimezone(local):%H:%M}, kWh"
        rows = [
            (gateway, *("-" if (v := flows[f]) is None else f"{v / 1000:.2f}" for f in FLOWS))
            for gateway, flows in self._buckets.day(day, local).items()
        ]
        return heading, rows

    def lines(self) -> list[str]:
        """The title, one aligned plain line per gateway (its error at the end), then a line
        per battery site and per battery where there are some, then the energy today once
        some is counted."""
        table = [(*_HEADERS, "error"), *((*row.cells(), row.error) for row in self.rows())]
        widths = [*(max(len(cells[i]) for cells in table) for i in range(len(_HEADERS))), 0]
        text = [
            "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
            for cells in table
        ]
        batteries = [row.cells() for row in self.battery_rows()]
        heading, energy = self.energy_today()
        return [
            self.title,
            *text,
            *_section(SITE_HEADING, self.site_rows(), headers=_SITE_HEADERS, left=4),
            *_section(BATTERY_HEADING, batteries, headers=_BATTERY_HEADERS, left=2),
            *_section(heading, energy, headers=_ENERGY_HEADERS, left=1),
        ]

    def renderable(self) -> Any:
        """The view for rich: the gateways' table, the errors under it, then the batteries
        and the energy today as :meth:`lines` has them (needs rich)."""
        from rich.console import Group  # noqa: PLC0415 - optional extra
        from rich.table import Table  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415

        table = Table(box=None, pad_edge=False, header_style="bold")
        for index, header in enumerate(_HEADERS):
            table.add_column(header, justify="left" if index < 2 else "right", no_wrap=True)
        rows = self.rows()
        for row in rows:
            cells: list[Any] = list(row.cells())
            cells[1] = Text(cells[1], style=_STYLES.get(row.state or GatewayState.STARTING, ""))
            table.add_row(*cells)
        errors = [Text(f"{row.gateway}: {row.error}", style="red") for row in rows if row.error]
        batteries = [row.cells() for row in self.battery_rows()]
        return Group(
            Text(self.title, style="italic"),
            table,
            *errors,
            *_rich_section(SITE_HEADING, self.site_rows(), headers=_SITE_HEADERS, left=4),
            *_rich_section(BATTERY_HEADING, batteries, headers=_BATTERY_HEADERS, left=2),
            *_rich_section(*self.energy_today(), headers=_ENERGY_HEADERS, left=1),
        )


def _section(
    heading: str, rows: list[tuple[str, ...]], *, headers: tuple[str, ...], left: int
) -> list[str]:
    """A heading, the column headings and the rows as aligned lines (the first ``left``
    columns to the left, the numbers to the right), or nothing when there are no rows."""
    if not rows:
        return []
    table = [headers, *rows]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(headers))]
    return [heading, *(_aligned(cells, widths, left) for cells in table)]


def _rich_section(
    heading: str, rows: list[tuple[str, ...]], *, headers: tuple[str, ...], left: int
) -> list[Any]:
    """:func:`_section` for rich: a heading and a table, or nothing when there are no rows."""
    from rich.table import Table  # noqa: PLC0415 - optional extra
    from rich.text import Text  # noqa: PLC0415

    if not rows:
        return []
    table = Table(box=None, pad_edge=False, header_style="bold")
    for index, header in enumerate(headers):
        table.add_column(header, justify="left" if index < left else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return [Text(heading, style="italic"), table]


def _aligned(cells: tuple[str, ...], widths: list[int], left: int) -> str:
    """The first ``left`` cells (names) left-aligned, the numbers right-aligned."""
    pairs = list(zip(cells, widths, strict=True))
    names = [c.ljust(w) for c, w in pairs[:left]]
    return "  ".join([*names, *(c.rjust(w) for c, w in pairs[left:])])


def _rich_console() -> Any | None:
    """A rich console on standard output if it is a terminal that can redraw, else None."""
    try:
        from rich.console import Console  # noqa: PLC0415 - optional extra
    except ImportError:
        return None
    console = Console()
    if not console.is_terminal or console.is_dumb_terminal:
        return None
    return console


async def show(
    view: LiveView,
    stop: asyncio.Event,
    *,
    refresh_s: float = TERMINAL_REFRESH_S,
    plain_refresh_s: float = PLAIN_REFRESH_S,
) -> None:
    """Show ``view`` until ``stop`` is set: redrawn in place every ``refresh_s`` on a
    terminal, else a block of plain lines every ``plain_refresh_s``.

    The plain output ends with a last block, so even a short run prints the final state.
    """
    console = _rich_console()
    if console is None:
        await _print_blocks(view, stop, plain_refresh_s)
        return
    from rich.live import Live  # noqa: PLC0415 - optional extra

    with Live(view.renderable(), console=console, auto_refresh=False) as live:
        while not await _wait(stop, refresh_s):
            live.update(view.renderable(), refresh=True)
        live.update(view.renderable(), refresh=True)


async def _print_blocks(view: LiveView, stop: asyncio.Event, refresh_s: float) -> None:
    while True:
        stopped = await _wait(stop, refresh_s)
        print("\n".join(view.lines()), flush=True)
        if stopped:
            return


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until ``stop`` is set; return whether it is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
    return stop.is_set()


async def run(args: argparse.Namespace) -> int:
    """Poll and show until SIGINT or SIGTERM."""
    configure_logging(verbose=False, debug=args.debug)
    config = config_from_args(args)
    tokens = TokenSources()
    try:
        poller = make_poller(config, tokens, buffer_size=0)

        def title() -> str:
            now = dt.datetime.now().astimezone()
            return f"enphase-local watch {now:%Y-%m-%d %H:%M:%S}, power in kW, Ctrl-C stops"

        view = LiveView(poller.hosts, title=title)
        poller.subscribe(view, name="watch")
        async with stop_on_signals() as stop, poller:
            await show(
                view,
                stop,
                refresh_s=args.refresh or TERMINAL_REFRESH_S,
                plain_refresh_s=args.refresh or PLAIN_REFRESH_S,
            )
    finally:
        await tokens.close()
    return 0
