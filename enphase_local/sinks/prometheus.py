"""Serve the gateways' latest values and the poller's health on ``/metrics`` for Prometheus.

Needs the ``prometheus`` extra (prometheus-client). The metrics come from a custom registry
(never the process-wide default one), computed at scrape time from the latest events, so a
gateway's series appear once it is seen. Labels: ``gateway`` is the serial number (the host
before it is known), ``endpoint`` an endpoint name, ``inverter`` a microinverter serial.

Power (gauges, W; signs as in :mod:`enphase_local.power`): ``enphase_production_watts``,
``enphase_consumption_watts``, ``enphase_net_consumption_watts``, ``enphase_grid_watts``,
``enphase_storage_watts``; ``enphase_battery_soc_percent``;
``enphase_inverter_power_watts{inverter}`` (last report). Per device (``battery`` and
``inverter`` are serial numbers): ``enphase_battery_charge_percent``,
``enphase_battery_power_watts`` (positive discharging), ``enphase_battery_temperature_celsius``;
``enphase_inverter_dc_volts``, ``enphase_inverter_dc_amperes``,
``enphase_inverter_temperature_celsius``. States, one series per state with 1 for the current
one, shown only where the site has the hardware (see :mod:`enphase_local.sinks.ensemble`):
``enphase_battery_state{battery,state}`` (charging, discharging, idle, full),
``enphase_grid_state{state}`` (on_grid, off_grid, synchronizing),
``enphase_generator_state{state}`` (running, off, synchronizing),
``enphase_dry_contact_state{contact,state}`` (open, closed),
``enphase_storage_mode{mode}`` (backup, self_consumption, savings); and
``enphase_battery_reserve_percent``. Energy, through the counter guard (see
:mod:`enphase_local.energy`): ``enphase_production_energy_today_watthours`` (a gauge: it
resets at midnight) and the gateway's lifetime ``enphase_production_energy_watthours_total``
(a confirmed reset of the gateway's counter resets it; ``rate()`` takes that in its stride);
the energy totals, which never decrease: ``enphase_solar_energy_watthours_total``,
``enphase_consumption_energy_watthours_total``,
``enphase_grid_import_energy_watthours_total``, ``enphase_grid_export_energy_watthours_total``,
``enphase_battery_charge_energy_watthours_total``,
``enphase_battery_discharge_energy_watthours_total``; and the guard's decisions,
``enphase_counter_decisions_total{decision}``. Health: ``enphase_gateway_info``,
``enphase_gateway_up``, ``enphase_gateway_state{state}`` (one series per state, 1 for the
current one),
``enphase_poller_events_total{kind, endpoint}``,
``enphase_last_success_timestamp_seconds{endpoint}``, ``enphase_poll_latency_seconds{endpoint}``,
and per sink ``enphase_sink_backlog``, ``enphase_sink_dropped_total``,
``enphase_sink_written_total``, ``enphase_sink_failures_total``. :func:`add_poller_metrics`
adds the poller's own counters (:class:`PollerCollector`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from enphase_local.events import GatewayState, SinkEvent
from enphase_local.scheduler import Poller, PollerStats
from enphase_local.sinks.base import SinkSet, SinkStats
from enphase_local.sinks.ensemble import CONTACT_STATES, STORAGE_MODES, GeneratorState, GridState
from enphase_local.sinks.samples import BATTERY_STATES
from enphase_local.sinks.view import GatewayView, GatewayViews

#: Gauges read from :meth:`GatewayView.values`: (value key, metric name, help).
_POWER_GAUGES = (
    ("production_w", "enphase_production_watts", "Photovoltaic production, W"),
    ("consumption_w", "enphase_consumption_watts", "House load, W"),
    ("net_w", "enphase_net_consumption_watts", "Load minus production, W"),
    ("grid_w", "enphase_grid_watts", "Power at the grid connection, W (negative: export)"),
    ("storage_w", "enphase_storage_watts", "Battery power, W (negative: charging)"),
    ("battery_soc_pct", "enphase_battery_soc_percent", "Battery state of charge, %"),
    (
        "production_today_wh",
        "enphase_production_energy_today_watthours",
        "Energy produced since local midnight, Wh",
    ),
)
#: Counters read from :meth:`GatewayView.values` (names without ``_total``).
_ENERGY_COUNTERS = (
    (
        "production_lifetime_wh",
        "enphase_production_energy_watthours",
        "Energy produced since installation, Wh",
    ),
    ("grid_import_wh", "enphase_grid_import_energy_watthours", "Energy imported, Wh"),
    ("grid_export_wh", "enphase_grid_export_energy_watthours", "Energy exported, Wh"),
    ("solar_energy_wh", "enphase_solar_energy_watthours", "Solar production, Wh"),
    ("consumption_energy_wh", "enphase_consumption_energy_watthours", "House consumption, Wh"),
    ("battery_charge_wh", "enphase_battery_charge_energy_watthours", "Energy into batteries, Wh"),
    (
        "battery_discharge_wh",
        "enphase_battery_discharge_energy_watthours",
        "Energy out of batteries, Wh",
    ),
)


class GatewayCollector(Collector):
    """Builds the metric families from the gateway views at scrape time (thread-safe)."""

    def __init__(
        self,
        views: GatewayViews,
        lock: threading.Lock,
        sink_stats: Callable[[], Iterable[SinkStats]] | None = None,
    ) -> None:
        self._views = views
        self._lock = lock
        self._sink_stats = sink_stats

    def collect(self) -> Iterator[Metric]:
        """Every family, gateway by gateway, then the sinks."""
        with self._lock:
            views = list(self._views)
            yield from _power(views)
            yield from _inverters(views)
            yield from _devices(views)
            yield from _device_states(views)
            yield from _site_states(views)
            yield from _health(views)
        if self._sink_stats is not None:
            yield from _sinks(list(self._sink_stats()))


def _power(views: list[GatewayView]) -> Iterator[Metric]:
    values = [(view.key, view.values()) for view in views]
    for key, name, help_text in _POWER_GAUGES:
        gauge = GaugeMetricFamily(name, help_text, labels=["gateway"])
        for gateway, known in values:
            if (value := known[key]) is not None:
                gauge.add_metric([gateway], value)
        yield gauge
    for key, name, help_text in _ENERGY_COUNTERS:
        counter = CounterMetricFamily(name, help_text, labels=["gateway"])
        for gateway, known in values:
            if (value := known[key]) is not None:
                counter.add_metric([gateway], value)
        yield counter
    sampled = GaugeMetricFamily(
        "enphase_power_sample_timestamp_seconds",
        "When the latest power values were fetched, Unix time",
        labels=["gateway"],
    )
    for view in views:
        if view.power is not None:
            sampled.add_metric([view.key], view.power.at.timestamp())
    yield sampled


def _inverters(views: list[GatewayView]) -> Iterator[Metric]:
    power = GaugeMetricFamily(
        "enphase_inverter_power_watts",
        "Last report of each microinverter, W",
        labels=["gateway", "inverter"],
    )
    reported = GaugeMetricFamily(
        "enphase_inverter_last_report_timestamp_seconds",
        "When each microinverter last reported, Unix time",
        labels=["gateway", "inverter"],
    )
    for view in views:
        for serial, inverter in sorted(view.inverters.items()):
            power.add_metric([view.key, serial], inverter.last_report_w)
            reported.add_metric([view.key, serial], inverter.last_report_at.timestamp())
    yield power
    yield reported


#: Gateway-level states (see :class:`~enphase_local.sinks.ensemble.EnsembleView`): value
#: key, metric name, help, label, the states.
_SITE_STATES: Final = (
    (
        "grid_state",
        "enphase_grid_state",
        "Whether the site is on the grid (1 for the current state): on_grid, off_grid, "
        "synchronizing",
        "state",
        tuple(state.value for state in GridState),
    ),
    (
        "generator_state",
        "enphase_generator_state",
        "The generator (1 for the current state): running, off, synchronizing",
        "state",
        tuple(state.value for state in GeneratorState),
    ),
    (
        "storage_mode",
        "enphase_storage_mode",
        "The batteries' storage mode (1 for the current one): backup, self_consumption, savings",
        "mode",
        tuple(STORAGE_MODES.values()),
    ),
)
#: Per-battery gauges: (sample attribute, metric name, help).
_BATTERY_GAUGES = (
    ("charge_pct", "enphase_battery_charge_percent", "State of charge of each battery, %"),
    ("power_w", "enphase_battery_power_watts", "Power of each battery, W (positive discharging)"),
    ("temperature_c", "enphase_battery_temperature_celsius", "Temperature of each battery, °C"),
)
#: Per-inverter gauges from device data: (sample attribute, metric name, help).
_INVERTER_GAUGES = (
    ("dc_voltage_v", "enphase_inverter_dc_volts", "DC (panel) voltage of each inverter, V"),
    ("dc_current_a", "enphase_inverter_dc_amperes", "DC (panel) current of each inverter, A"),
    ("temperature_c", "enphase_inverter_temperature_celsius", "Temperature of each inverter, °C"),
)


def _devices(views: list[GatewayView]) -> Iterator[Metric]:
    for attribute, name, help_text in _BATTERY_GAUGES:
        gauge = GaugeMetricFamily(name, help_text, labels=["gateway", "battery"])
        for view in views:
            for serial, battery in sorted(view.batteries.items()):
                if (value := getattr(battery, attribute)) is not None:
                    gauge.add_metric([view.key, serial], value)
        yield gauge
    for attribute, name, help_text in _INVERTER_GAUGES:
        gauge = GaugeMetricFamily(name, help_text, labels=["gateway", "inverter"])
        for view in views:
            for serial, inverter in sorted(view.inverter_samples.items()):
                if (value := getattr(inverter, attribute)) is not None:
                    gauge.add_metric([view.key, serial], value)
        yield gauge


def _one_of(
    family: GaugeMetricFamily, labels: list[str], states: Iterable[str], current: object
) -> None:
    """One series per state, 1 for ``current`` and 0 for the others."""
    for state in states:
        family.add_metric([*labels, state], 1 if state == current else 0)


def _device_states(views: list[GatewayView]) -> Iterator[Metric]:
    battery = GaugeMetricFamily(
        "enphase_battery_state",
        "What each battery does (1 for the current state): charging, discharging, idle, full",
        labels=["gateway", "battery", "state"],
    )
    contacts = GaugeMetricFamily(
        "enphase_dry_contact_state",
        "Each dry contact of the System Controller (1 for the current state): open, closed",
        labels=["gateway", "contact", "state"],
    )
    battery_states = [state.value for state in BATTERY_STATES]
    for view in views:
        for serial, sample in sorted(view.batteries.items()):
            if sample.state is not None:
                _one_of(battery, [view.key, serial], battery_states, sample.state.value)
        for contact, value in sorted(view.ensemble.dry_contacts().items()):
            if value is not None:
                _one_of(contacts, [view.key, contact], CONTACT_STATES, value)
    yield battery
    yield contacts


def _site_states(views: list[GatewayView]) -> Iterator[Metric]:
    values = [(view.key, view.site_values()) for view in views]
    for key, name, help_text, label, states in _SITE_STATES:
        gauge = GaugeMetricFamily(name, help_text, labels=["gateway", label])
        for gateway, known in values:
            if known[key] is not None:
                _one_of(gauge, [gateway], states, known[key])
        yield gauge
    reserve = GaugeMetricFamily(
        "enphase_battery_reserve_percent",
        "Backup reserve: charge the batteries keep for outages, % (from the tariff)",
        labels=["gateway"],
    )
    for gateway, known in values:
        if isinstance(percent := known["battery_reserve_pct"], float | int):
            reserve.add_metric([gateway], percent)
    yield reserve


def _health(views: list[GatewayView]) -> Iterator[Metric]:
    info = GaugeMetricFamily(
        "enphase_gateway_info",
        "Gateway identity (always 1)",
        labels=["gateway", "host", "firmware", "part_number"],
    )
    up = GaugeMetricFamily(
        "enphase_gateway_up", "1 while the gateway answers (online or degraded)", labels=["gateway"]
    )
    state = GaugeMetricFamily(
        "enphase_gateway_state",
        "Gateway state (1 for the current one)",
        labels=["gateway", "state"],
    )
    events = CounterMetricFamily(
        "enphase_poller_events",
        "Events from the poller by kind and endpoint",
        labels=["gateway", "kind", "endpoint"],
    )
    decisions = CounterMetricFamily(
        "enphase_counter_decisions",
        "Decisions of the counter guard (held, transient, reset, spike, gap)",
        labels=["gateway", "decision"],
    )
    success = GaugeMetricFamily(
        "enphase_last_success_timestamp_seconds",
        "When each endpoint was last read successfully, Unix time",
        labels=["gateway", "endpoint"],
    )
    latency = GaugeMetricFamily(
        "enphase_poll_latency_seconds",
        "How long the last poll of each endpoint took, s",
        labels=["gateway", "endpoint"],
    )
    for view in views:
        gateway = view.key
        info.add_metric([gateway, view.host, view.firmware or "", view.part_number or ""], 1)
        up.add_metric([gateway], 1 if view.available else 0)
        if view.state is not None:
            for member in GatewayState:
                state.add_metric([gateway, member.value], 1 if member is view.state else 0)
        for (kind, endpoint), count in sorted(view.events.items()):
            events.add_metric([gateway, kind, endpoint], count)
        for decision, count in sorted(view.decisions.items()):
            decisions.add_metric([gateway, decision], count)
        for endpoint, when in sorted(view.last_success.items()):
            success.add_metric([gateway, endpoint], when.timestamp())
        for endpoint, seconds in sorted(view.last_latency_s.items()):
            latency.add_metric([gateway, endpoint], seconds)
    yield from (info, up, state, events, decisions, success, latency)


def _sinks(stats: list[SinkStats]) -> Iterator[Metric]:
    backlog = GaugeMetricFamily("enphase_sink_backlog", "Items waiting in a sink", labels=["sink"])
    dropped = CounterMetricFamily(
        "enphase_sink_dropped", "Items a sink dropped (backlog full or failing)", labels=["sink"]
    )
    written = CounterMetricFamily("enphase_sink_written", "Items a sink delivered", labels=["sink"])
    failures = CounterMetricFamily(
        "enphase_sink_failures", "Failed delivery attempts of a sink", labels=["sink"]
    )
    for item in stats:
        backlog.add_metric([item.name], item.backlog)
        dropped.add_metric([item.name], item.dropped)
        written.add_metric([item.name], item.written)
        failures.add_metric([item.name], item.failures)
    yield from (backlog, dropped, written, failures)


class PrometheusSink:
    """Serves ``/metrics`` on ``host:port`` (loopback by default; port 0 picks a free one).

    ``sink_stats`` (e.g. ``SinkSet.all_stats``) adds the sinks' backlog and drop counts; it
    is called from the HTTP server's thread. :attr:`registry` takes further collectors, such
    as the poller's own statistics.
    """

    def __init__(
        self,
        port: int = 9531,
        *,
        host: str = "127.0.0.1",
        sink_stats: Callable[[], Iterable[SinkStats]] | None = None,
    ) -> None:
        self._requested = (host, port)
        self._views = GatewayViews()
        self._lock = threading.Lock()
        self._submitted = 0
        #: The registry ``/metrics`` serves (not prometheus-client's global one).
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(GatewayCollector(self._views, self._lock, sink_stats))
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        """``prometheus``."""
        return "prometheus"

    @property
    def port(self) -> int:
        """The port actually listened on (after :meth:`start`)."""
        if self._server is None:
            return self._requested[1]
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        """Where the metrics are, e.g. ``http://127.0.0.1:9531/metrics``."""
        host = self._requested[0]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}/metrics"

    async def start(self) -> None:
        """Start the HTTP server in its own thread."""
        host, port = self._requested
        self._server, self._thread = await asyncio.to_thread(
            start_http_server, port, host, self.registry
        )

    def submit(self, event: SinkEvent) -> None:
        """Update the gateway's latest values (a few dictionary writes, under a lock)."""
        with self._lock:
            self._views.update(event)
            self._submitted += 1

    async def close(self) -> None:
        """Stop serving."""
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        if server is not None:
            await asyncio.to_thread(server.shutdown)
            server.server_close()
        if thread is not None:
            await asyncio.to_thread(thread.join)

    def stats(self) -> SinkStats:
        """Events taken in (all applied at once: no backlog, no drops)."""
        return SinkStats(name=self.name, submitted=self._submitted, written=self._submitted)


def add_poller_metrics(sinks: SinkSet, poller: Poller) -> None:
    """Serve the poller's own counters on the ``/metrics`` of each Prometheus sink in ``sinks``.

    Call it on the poller's event loop: the scrapes read the counters there.
    """
    for sink in sinks.sinks:
        if isinstance(sink, PrometheusSink):
            sink.registry.register(PollerCollector(poller, asyncio.get_running_loop()))


class PollerCollector(Collector):
    """The poller's counters, read on its event loop at each scrape.

    ``enphase_poller_{polls,successes,failures,skipped,deferred}_total{gateway}``,
    ``enphase_poller_latency_seconds{gateway,quantile}`` (recent successful polls) and
    ``enphase_poller_events_dropped_total``; ``gateway`` as in the gateway metrics.
    """

    def __init__(self, poller: Poller, loop: asyncio.AbstractEventLoop) -> None:
        self._poller = poller
        self._loop = loop

    def collect(self) -> Iterator[Metric]:
        """Called from the HTTP server's thread: the stats are taken on the loop."""

        async def snapshot() -> PollerStats:
            return self._poller.stats()

        try:
            stats = asyncio.run_coroutine_threadsafe(snapshot(), self._loop).result(timeout=5)
        except (RuntimeError, TimeoutError, concurrent.futures.CancelledError):
            return  # the loop is closing: the scrape gets the sink's metrics only
        yield from _poller(stats)


#: The poller's per-gateway counters: GatewayStats field and help text.
_POLLER_COUNTERS = {
    "polls": "Requests sent",
    "successes": "Requests answered with data",
    "failures": "Requests that failed",
    "skipped": "Polls skipped because the gateway was still busy",
    "deferred": "Polls deferred while the gateway was backing off",
}


def _poller(stats: PollerStats) -> Iterator[Metric]:
    counters = {
        name: CounterMetricFamily(f"enphase_poller_{name}", text, labels=["gateway"])
        for name, text in _POLLER_COUNTERS.items()
    }
    latency = GaugeMetricFamily(
        "enphase_poller_latency_seconds",
        "Latency of recent successful polls, s",
        labels=["gateway", "quantile"],
    )
    for gateway in stats.gateways:
        key = gateway.serial or gateway.host
        for name, family in counters.items():
            family.add_metric([key], getattr(gateway, name))
        for quantile, value in (
            ("0.5", gateway.latency.p50),
            ("0.9", gateway.latency.p90),
            ("0.99", gateway.latency.p99),
        ):
            if value is not None:
                latency.add_metric([key, quantile], value)
    yield from counters.values()
    yield latency
    yield CounterMetricFamily(
        "enphase_poller_events_dropped",
        "Events the poller dropped for slow consumers",
        value=stats.events.dropped,
    )
