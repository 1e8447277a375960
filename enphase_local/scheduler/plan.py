"""Poll plans: which endpoints a poller reads, in which cadence group, and how often.

Three groups (see :class:`~enphase_local.endpoints.Cadence`):

``config``
    ``/info`` at start and every :attr:`PollPlan.config_interval_s` (and first thing after
    an outage: a reboot may have brought new firmware), then the other configuration
    endpoints, one at a time so that live polls due in between go first; everything is
    re-probed when the firmware version changes.
``periodic``
    Data the gateway refreshes about every 5 minutes. Each next poll is placed just after
    the gateway's next expected report, learned from the inverters' report times (or, for
    want of them, from when the data last changed); unchanged data are not emitted again.
``live``
    Fixed intervals, no shorter than :data:`MIN_INTERVAL_S`. The default polls meter
    readings every 9.5 s, so that the power it delivers is never more than 10 s old even
    when one answer takes half a second longer than the one before. The meter readings carry
    the power of every current transformer (the storage CT's too), so the other live
    endpoints add detail, not freshness, and share what is left of the 450 GETs an hour the
    gateway is promised: live data every 10 minutes, grid readings and consumption reports
    every 30, the batteries' power every 15, the System Controller's relay every 30, battery
    inventory and summary, dry contacts and generator every hour.

A gateway that does not serve an endpoint answers 404 once and is not asked again until its
firmware changes, so the battery endpoints cost a system without batteries nothing. The slow
pages (``/production.json``, ``/inventory.json``, ``/home``; 3 to 60 s on real gateways) are
in no default group: the faster endpoints above carry the same data.

``fallback``
    Slow endpoints read only where the faster ones they stand in for are all known not to
    be served, every :attr:`PollPlan.fallback` interval (at least 15 minutes by default).
    The default reads the production summary (on firmware before 4 the ``/production``
    HTML page, its only source of data) every 15 minutes where neither the production
    endpoint nor the meter readings exist. Such a gateway has no other live reads, so the
    slow read never shares a cycle with one.

GETs an hour of the default plan, per simulator profile (``python -m benchmarks.plan_load``:
the poller in lock step with the simulation, averaged over four hours, one configuration
round included): 449.2 for ``battery``, ``generator`` and ``collar``, 449.0 for ``metered``
and ``acb`` (no device list), 437.0 for ``three-phase`` (7.6: no ``device_data``), 66.0 for
``standard`` (no meters, so no meter readings, grid readings or consumption reports; the
simulator answers the battery endpoints with empty bodies there), 24.8 for ``legacy`` (5.0:
production and inverters) and 4.2 for ``legacy-html`` (3.7: ``/info`` and, as the fallback,
its production page every 15 minutes); :meth:`PollPlan.requests_per_hour` counts a gateway
that serves every endpoint. Home Assistant's 60 s sweep sends 300 to 840.

All times are in seconds of the poller's clock (real seconds unless the poller is given
another :class:`~enphase_local.scheduler.clock.Clock`, e.g. a simulation's).
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from enphase_local import endpoints as ep

#: No endpoint is polled more often than once a second (the gateway is fragile).
MIN_INTERVAL_S: Final = 1.0

#: The default live intervals, seconds (see the module's docstring for why these).
DEFAULT_LIVE: Final[Mapping[str, float]] = types.MappingProxyType(
    {
        ep.METER_READINGS.name: 9.5,
        ep.LIVE_DATA.name: 600.0,
        ep.GRID_READINGS.name: 1800.0,
        ep.CONSUMPTION_REPORTS.name: 1800.0,
        ep.BATTERY_POWER.name: 900.0,
        ep.GRID_RELAY.name: 1800.0,
        ep.ENSEMBLE_INVENTORY.name: 3600.0,
        ep.BATTERY_SUMMARY.name: 3600.0,
        ep.DRY_CONTACTS.name: 3600.0,
        ep.GENERATOR.name: 3600.0,
    }
)
#: The default periodic endpoints; the inverters come first because their report times
#: tell when the next report is due.
DEFAULT_PERIODIC: Final = (
    ep.INVERTERS.name,
    ep.PRODUCTION.name,
    ep.ENERGY.name,
    ep.DEVICE_DATA.name,
)
#: The default fallback: endpoint -> (interval, seconds; the endpoints it stands in for).
DEFAULT_FALLBACK: Final[Mapping[str, tuple[float, tuple[str, ...]]]] = types.MappingProxyType(
    {ep.PRODUCTION_SUMMARY.name: (900.0, (ep.PRODUCTION.name, ep.METER_READINGS.name))}
)
#: The default configuration endpoints read after ``/info``.
DEFAULT_CONFIG: Final = (
    ep.METERS.name,
    ep.DEVICE_LIST.name,
    ep.TARIFF.name,
    ep.DRY_CONTACT_SETTINGS.name,
    ep.GENERATOR_CONFIG.name,
    ep.GENERATOR_SCHEDULE.name,
    ep.PV_LIMIT.name,
    ep.EXPORT_LIMIT.name,
)

_NAMES: Final = frozenset(e.name for e in ep.ENDPOINTS)


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _live_intervals(value: Mapping[str, float]) -> Mapping[str, float]:
    return types.MappingProxyType({str(k): float(v) for k, v in value.items()})


def _fallbacks(
    value: Mapping[str, tuple[float, Iterable[str]]],
) -> Mapping[str, tuple[float, tuple[str, ...]]]:
    return types.MappingProxyType(
        {str(k): (float(interval), tuple(covers)) for k, (interval, covers) in value.items()}
    )


def _check_live(
    instance: PollPlan, attribute: attrs.Attribute[Any], value: Mapping[str, float]
) -> None:
    del instance, attribute
    for name, interval in value.items():
        if not interval >= MIN_INTERVAL_S:  # also refuses NaN
            raise ValueError(
                f"{name} every {interval} s is too often: the floor is {MIN_INTERVAL_S:g} s"
            )


def _positive(instance: PollPlan, attribute: attrs.Attribute[Any], value: float) -> None:
    del instance
    if not value > 0:
        raise ValueError(f"{attribute.name} must be positive, not {value}")


@attrs.frozen(kw_only=True)
class PollPlan:
    """What to poll at a gateway, and how often; immutable, shareable between gateways.

    Change one thing with :meth:`with_intervals`, :meth:`with_live_interval` or
    ``attrs.evolve(plan, ...)``.
    """

    #: Live endpoints (by name) and their fixed intervals, seconds (at least 1).
    live: Mapping[str, float] = attrs.field(
        default=DEFAULT_LIVE, converter=_live_intervals, validator=_check_live, hash=False
    )
    #: 5-minute endpoints, polled just after each expected report; the first endpoint that
    #: the gateway serves is the probe that tells whether a new report has arrived.
    periodic: tuple[str, ...] = attrs.field(default=DEFAULT_PERIODIC, converter=_names)
    #: Configuration endpoints read after ``/info``, at start and on each re-read.
    config: tuple[str, ...] = attrs.field(default=DEFAULT_CONFIG, converter=_names)
    #: Slow endpoints read only where every endpoint they stand in for is known not to be
    #: served: name -> (interval in seconds, the names it stands in for).
    fallback: Mapping[str, tuple[float, tuple[str, ...]]] = attrs.field(
        default=DEFAULT_FALLBACK, converter=_fallbacks, hash=False
    )
    #: How often ``/info`` and the configuration are read again, seconds.
    config_interval_s: float = attrs.field(default=4 * 3600.0, validator=_positive)
    #: First guess of the gateway's report cycle, seconds (learned from report times).
    report_interval_s: float = attrs.field(default=300.0, validator=_positive)
    #: How long after an expected report the periodic group is polled, seconds.
    report_margin_s: float = attrs.field(default=15.0, validator=_positive)
    #: When an expected report has not arrived yet, ask again after this many seconds.
    report_retry_s: float = attrs.field(default=30.0, validator=_positive)
    #: How many such retries before falling back to one poll per report cycle.
    report_retries: int = attrs.field(default=3, validator=attrs.validators.ge(0))
    #: How often live streaming is switched on again (the gateway lets it lapse after
    #: about 15 minutes), seconds.
    live_stream_interval_s: float = attrs.field(default=600.0, validator=_positive)
    #: After a control write made through the poller's session, how long what it set is
    #: watched for a change with no write of ours (the cloud undoes a storage mode within
    #: 1-2 minutes), seconds.
    control_watch_s: float = attrs.field(default=900.0, validator=_positive)
    #: How often the watched endpoint is read meanwhile, seconds (at least 1): about 30 GETs
    #: per write with the defaults.
    control_watch_interval_s: float = attrs.field(default=30.0, validator=_positive)

    def __attrs_post_init__(self) -> None:
        groups = {
            "live": tuple(self.live),
            "periodic": self.periodic,
            "config": self.config,
            "fallback": tuple(self.fallback),
        }
        seen: dict[str, str] = {}
        for group, names in groups.items():
            for name in names:
                if name not in _NAMES:
                    known = ", ".join(sorted(_NAMES))
                    raise ValueError(f"unknown endpoint {name!r} in {group} (known: {known})")
                if name == ep.INFO.name:
                    raise ValueError("/info is always read with the configuration; do not list it")
                if name in seen:
                    raise ValueError(f"{name} is listed in both {seen[name]} and {group}")
                seen[name] = group
        for name, (interval, covers) in self.fallback.items():
            if not interval >= MIN_INTERVAL_S:
                raise ValueError(f"fallback {name} every {interval} s is too often")
            unknown = [n for n in covers if n not in _NAMES]
            if not covers or unknown:
                raise ValueError(f"fallback {name} must stand in for known endpoints: {unknown}")
        if not self.control_watch_interval_s >= MIN_INTERVAL_S:
            raise ValueError(
                f"control_watch_interval_s {self.control_watch_interval_s} is too short: "
                f"the floor is {MIN_INTERVAL_S:g} s"
            )
        if self.report_margin_s >= self.report_interval_s:
            raise ValueError("report_margin_s must be shorter than report_interval_s")

    def with_intervals(self, **intervals: float | None) -> PollPlan:
        """A copy with these live intervals (seconds); ``None`` stops polling an endpoint.

        ``plan.with_intervals(meter_readings=5, grid_readings=None)``. An endpoint moved into
        the live group leaves its previous group.
        """
        live = dict(self.live)
        for name, interval in intervals.items():
            if interval is None:
                live.pop(name, None)
            else:
                live[name] = interval
        moved = set(intervals)
        return attrs.evolve(
            self,
            live=live,
            periodic=tuple(n for n in self.periodic if n not in moved),
            config=tuple(n for n in self.config if n not in moved),
            fallback={k: v for k, v in self.fallback.items() if k not in moved},
        )

    def with_live_interval(self, seconds: float) -> PollPlan:
        """A copy polling meter readings every ``seconds``, the other live endpoints no
        more often than that (``--live-interval`` of the command line)."""
        live = {
            name: seconds if name == ep.METER_READINGS.name else max(seconds, interval)
            for name, interval in self.live.items()
        }
        live.setdefault(ep.METER_READINGS.name, seconds)
        return attrs.evolve(self, live=live)

    def requests_per_hour(self) -> float:
        """About how many requests this plan sends a gateway that serves every endpoint
        (so no fallback)."""
        live = sum(3600.0 / interval for interval in self.live.values())
        periodic = len(self.periodic) * 3600.0 / self.report_interval_s
        config = (1 + len(self.config)) * 3600.0 / self.config_interval_s
        stream = 3600.0 / self.live_stream_interval_s if ep.LIVE_DATA.name in self.live else 0.0
        return live + periodic + config + stream
