"""The energy ledger: each gateway's energy per flow in 15-minute buckets.

:class:`Ledger` turns :class:`~enphase_local.events.EnergyEvent` s into shares of buckets:
the change of each of a source's flows since its previous event, spread over the time between
the two in proportion to each bucket's overlap. When that time is a gap (the event says so:
a poller outage, battery power unsampled; or it is longer than :data:`GAP_S`) the buckets it
covers are flagged *filled*: their energy is the counter difference across the gap shared out
evenly, not measured in them. Because changes are differences of running sums, an event lost
on the way only coarsens the spread, and a restarted poller that goes on from the last event
written counts nothing twice.

Buckets start at multiples of :data:`BUCKET_S` Unix seconds, which are quarter hours in
every time zone. The SQLite sink keeps them in its ``ledger`` table; :class:`Buckets` keeps
them in memory (``watch``). Reading a bucket turns the small negative values that timing
between two sources can leave (the batteries' share of production at night) into zeros.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from typing import Final

import attrs

from enphase_local.energy.flows import (
    BATTERY_CHARGE,
    BATTERY_DISCHARGE,
    CONSUMPTION,
    FLOWS,
    GRID_EXPORT,
    GRID_IMPORT,
    PRODUCTION,
)
from enphase_local.events import EnergyEvent
from enphase_local.power import gateway_key

#: Length of a bucket, seconds.
BUCKET_S: Final = 900
#: A longer time between two events of a source is a gap even when the source does not say
#: so (events lost on the way, a poller stopped): a quarter hour could pass unread, seconds.
GAP_S: Final = float(BUCKET_S)


@attrs.frozen(kw_only=True)
class Share:
    """Energy to add to one bucket."""

    #: The gateway (serial number, or host before it is known).
    gateway: str
    #: Start of the bucket, Unix seconds.
    start_s: int
    #: Wh per flow (a source adds only the flows it sees).
    flows: Mapping[str, float]
    #: Whether it was spread over a gap rather than measured.
    filled: bool


@attrs.frozen(kw_only=True)
class Mark:
    """Where a source of a gateway was at its last event."""

    #: Unix seconds.
    at_s: float
    #: Its running flows then, Wh.
    flows: Mapping[str, float]


def bucket_start(seconds: float) -> int:
    """Start of the bucket holding ``seconds`` (Unix), Unix seconds."""
    return math.floor(seconds / BUCKET_S) * BUCKET_S


def spread(
    gateway: str, start_s: float, end_s: float, changes: Mapping[str, float], *, filled: bool
) -> list[Share]:
    """Share ``changes`` out over the buckets between ``start_s`` and ``end_s``."""
    if end_s <= start_s:
        return [Share(gateway=gateway, start_s=bucket_start(end_s), flows=changes, filled=filled)]
    shares = []
    length = end_s - start_s
    for start in range(bucket_start(start_s), math.ceil(end_s), BUCKET_S):
        overlap = min(end_s, start + BUCKET_S) - max(start_s, start)
        if overlap > 0:
            part = overlap / length
            flows = {flow: value * part for flow, value in changes.items()}
            shares.append(Share(gateway=gateway, start_s=start, flows=flows, filled=filled))
    return shares


class Ledger:
    """Each source's last mark, and the bucket shares every new event adds."""

    def __init__(self) -> None:
        self._marks: dict[tuple[str, str], Mark] = {}

    def __repr__(self) -> str:
        return f"Ledger({len(self._marks)} source(s))"

    def restore(self, gateway: str, source: str, mark: Mark) -> None:
        """Go on from where a source was (its last event written by an earlier run)."""
        self._marks[gateway, source] = mark

    def copy(self) -> Ledger:
        """A ledger at the same marks (to add a batch that may yet fail to be written)."""
        other = Ledger()
        other._marks = dict(self._marks)
        return other

    def add(self, event: EnergyEvent) -> list[Share]:
        """The shares of ``event``'s changes (none for a source's first event)."""
        gateway = gateway_key(event)
        at = event.at.timestamp()
        previous = self._marks.get((gateway, event.source))
        if previous is not None and at < previous.at_s:
            return []  # older than what was counted already
        self._marks[gateway, event.source] = Mark(at_s=at, flows=dict(event.flows))
        if previous is None:
            return []
        changes = {
            flow: value - previous.flows[flow]
            for flow, value in event.flows.items()
            if flow in previous.flows
        }
        if not changes:
            return []  # a source that counts no flow (production beside a CT)
        filled = event.filled or at - previous.at_s > GAP_S
        return spread(gateway, previous.at_s, at, changes, filled=filled)


@attrs.frozen(kw_only=True)
class LedgerBucket:
    """One quarter hour of a gateway's energy; a flow is None when nothing measures it."""

    #: The gateway (serial number, or host before it is known).
    gateway: str
    #: Start of the quarter hour, UTC.
    start: dt.datetime
    #: Solar production, Wh.
    production_wh: float | None = None
    #: House consumption, Wh.
    consumption_wh: float | None = None
    #: Energy from the grid, Wh.
    grid_import_wh: float | None = None
    #: Energy to the grid, Wh.
    grid_export_wh: float | None = None
    #: Energy into the batteries, Wh.
    battery_charge_wh: float | None = None
    #: Energy out of the batteries, Wh.
    battery_discharge_wh: float | None = None
    #: Whether some of it was spread over a gap rather than measured.
    filled: bool = False

    @property
    def end(self) -> dt.datetime:
        """End of the quarter hour, UTC."""
        return self.start + dt.timedelta(seconds=BUCKET_S)

    def flows(self) -> dict[str, float | None]:
        """The flows by name (:data:`~enphase_local.energy.FLOWS`)."""
        return {flow: getattr(self, flow) for flow in FLOWS}


def make_bucket(
    gateway: str, start_s: int, flows: Mapping[str, float | None], *, filled: bool
) -> LedgerBucket:
    """A bucket read back from its sums (negative noise becomes 0)."""
    values = {f: None if (v := flows.get(f)) is None else max(v, 0.0) for f in FLOWS}
    return LedgerBucket(
        gateway=gateway,
        start=dt.datetime.fromtimestamp(start_s, dt.UTC),
        filled=filled,
        **values,
    )


class Buckets:
    """Ledger buckets in memory, as shares add up in them."""

    def __init__(self) -> None:
        self._sums: dict[tuple[str, int], dict[str, float]] = {}
        self._filled: set[tuple[str, int]] = set()

    def __len__(self) -> int:
        return len(self._sums)

    def apply(self, shares: Iterable[Share]) -> None:
        """Add shares to their buckets."""
        for share in shares:
            key = (share.gateway, share.start_s)
            sums = self._sums.setdefault(key, {})
            for flow, value in share.flows.items():
                sums[flow] = sums.get(flow, 0.0) + value
            if share.filled:
                self._filled.add(key)

    def day(self, day: dt.date, tz: dt.tzinfo) -> dict[str, dict[str, float | None]]:
        """Each gateway's flows summed over the quarter hours of a local ``day``."""
        return {
            gateway: total(days[day])
            for gateway, days in by_day(self.buckets(), tz).items()
            if day in days
        }

    def buckets(self, gateway: str | None = None) -> list[LedgerBucket]:
        """Every bucket (of one gateway), by gateway then time."""
        return [
            make_bucket(key, start, sums, filled=(key, start) in self._filled)
            for (key, start), sums in sorted(self._sums.items())
            if gateway is None or key == gateway
        ]


def by_day(
    buckets: Iterable[LedgerBucket], tz: dt.tzinfo
) -> dict[str, dict[dt.date, list[LedgerBucket]]]:
    """Buckets by gateway, then by the local day (in ``tz``) they start on."""
    days: dict[str, dict[dt.date, list[LedgerBucket]]] = {}
    for bucket in buckets:
        day = bucket.start.astimezone(tz).date()
        days.setdefault(bucket.gateway, {}).setdefault(day, []).append(bucket)
    return days


def total(buckets: Iterable[LedgerBucket]) -> dict[str, float | None]:
    """Each flow summed over ``buckets`` (None when no bucket has it)."""
    sums: dict[str, float | None] = dict.fromkeys(FLOWS)
    for bucket in buckets:
        for flow, value in bucket.flows().items():
            if value is not None:
                sums[flow] = (sums[flow] or 0.0) + value
    return sums


@attrs.frozen(kw_only=True)
class Destinations:
    """Where energy went: solar split by destination, and what else supplied the house, Wh."""

    #: Solar used in the house.
    solar_to_home_wh: float = 0.0
    #: Solar stored in the batteries.
    solar_to_battery_wh: float = 0.0
    #: Solar sent to the grid.
    solar_to_grid_wh: float = 0.0
    #: Grid energy used in the house.
    grid_to_home_wh: float = 0.0
    #: Battery energy used in the house.
    battery_to_home_wh: float = 0.0

    def __add__(self, other: Destinations) -> Destinations:
        return Destinations(
            **{
                name: getattr(self, name) + getattr(other, name)
                for name in attrs.fields_dict(Destinations)
            }
        )


def destinations(bucket: LedgerBucket) -> Destinations | None:
    """Where a quarter hour's energy went; None without grid meters (it cannot be told).

    Solar serves the batteries' charge first, then what went to the grid, the rest the
    house; the batteries' discharge went to the grid only where solar does not account for
    the export; grid energy charged the batteries only where solar did not.
    """
    flows = bucket.flows()
    grid_in, grid_out = flows[GRID_IMPORT], flows[GRID_EXPORT]
    if grid_in is None or grid_out is None or flows[CONSUMPTION] is None:
        return None
    solar = flows[PRODUCTION] or 0.0
    charge, discharge = flows[BATTERY_CHARGE] or 0.0, flows[BATTERY_DISCHARGE] or 0.0
    to_battery = min(solar, charge)
    to_grid = min(solar - to_battery, grid_out)
    battery_out = min(discharge, grid_out - to_grid)
    return Destinations(
        solar_to_home_wh=solar - to_battery - to_grid,
        solar_to_battery_wh=to_battery,
        solar_to_grid_wh=to_grid,
        grid_to_home_wh=max(grid_in - (charge - to_battery), 0.0),
        battery_to_home_wh=discharge - battery_out,
    )
