"""The Prometheus sink scraped over HTTP and parsed with prometheus-client's parser."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from enphase_local.energy import (
    BATTERY_CHARGE,
    BATTERY_DISCHARGE,
    CONSUMPTION,
    PRODUCTION,
    EnergyTracker,
)
from enphase_local.errors import GatewayConnectionError
from enphase_local.events import DataEvent, EnergyEvent, Event
from enphase_local.power import PowerTracker
from enphase_local.scheduler import ManualClock, Poller
from enphase_local.simulator import Simulation
from enphase_local.sinks import SinkSet, SqliteSink
from enphase_local.sinks.prometheus import PrometheusSink, add_poller_metrics
from tests.scheduler.fakes import FakeGateway
from tests.sinks.builders import with_energy


async def scrape(url: str) -> tuple[str, dict[str, list[Sample]]]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        text = await response.text()
    families = {family.name: family.samples for family in text_string_to_metric_families(text)}
    return text, families


def value(samples: list[Sample], name: str | None = None, **labels: str) -> float:
    matching = [
        s
        for s in samples
        if (name is None or s.name == name) and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(matching) == 1, (name, labels, matching)
    return matching[0].value


async def test_metrics_of_gateways_inverters_health_and_sinks(
    tmp_path: Path, simulation: Simulation, simulated_events: list[Event]
) -> None:
    metrics = PrometheusSink(0)
    sqlite = SqliteSink(tmp_path / "data.sqlite")
    sinks = SinkSet([sqlite, metrics], energy=EnergyTracker())
    metrics_with_sinks = PrometheusSink(0, sink_stats=sinks.all_stats)
    await sinks.start()
    await metrics_with_sinks.start()
    try:
        assert metrics.url.startswith("http://127.0.0.1:")
        for event in simulated_events:
            sinks.submit(event)
            metrics_with_sinks.submit(event)
        text, families = await scrape(metrics.url)
        _, with_sinks = await scrape(metrics_with_sinks.url)
    finally:
        await sinks.close()
        await metrics_with_sinks.close()

    battery, metered, standard = (g.serial for g in simulation.gateways)
    tracker = PowerTracker()
    last = {s.gateway: s for s in map(tracker.update, simulated_events) if s is not None}
    for serial, sample in last.items():
        production = value(families["enphase_production_watts"], gateway=serial)
        assert production == pytest.approx(sample.production_w)
        if sample.consumption_w is not None:
            consumption = value(families["enphase_consumption_watts"], gateway=serial)
            assert consumption == pytest.approx(sample.consumption_w)
        assert value(families["enphase_gateway_up"], gateway=serial) == 1
        assert value(families["enphase_gateway_state"], gateway=serial, state="online") == 1
        assert value(families["enphase_gateway_state"], gateway=serial, state="backing_off") == 0
        data_events = [
            e
            for e in simulated_events
            if isinstance(e, DataEvent) and e.serial == serial and e.endpoint == "meter_readings"
        ]
        events_total = value(
            families["enphase_poller_events"],
            "enphase_poller_events_total",
            gateway=serial,
            kind="data",
            endpoint="meter_readings",
        )
        assert events_total == len(data_events)
        assert value(
            families["enphase_last_success_timestamp_seconds"],
            gateway=serial,
            endpoint="meter_readings",
        ) == pytest.approx(data_events[-1].fetched_at.timestamp())
    assert {s.labels["gateway"] for s in families["enphase_battery_soc_percent"]} == {battery}
    lifetime = families["enphase_production_energy_watthours"]
    assert {s.name for s in lifetime} == {"enphase_production_energy_watthours_total"}
    assert len(lifetime) == 3
    imports = families["enphase_grid_import_energy_watthours"]
    assert {s.labels["gateway"] for s in imports} == {battery, metered}
    last_energy = {e.serial: e for e in with_energy(simulated_events) if isinstance(e, EnergyEvent)}
    for family, flow in (
        ("enphase_solar_energy_watthours", PRODUCTION),
        ("enphase_consumption_energy_watthours", CONSUMPTION),
        ("enphase_battery_charge_energy_watthours", BATTERY_CHARGE),
        ("enphase_battery_discharge_energy_watthours", BATTERY_DISCHARGE),
    ):
        counted = {s.labels["gateway"]: s.value for s in families[family]}
        known = {serial: e.totals[flow] for serial, e in last_energy.items() if flow in e.totals}
        assert counted == pytest.approx(known), family
        assert {s.name for s in families[family]} <= {f"{family}_total"}
    assert value(families["enphase_battery_charge_energy_watthours"], gateway=battery) > 0
    assert families["enphase_counter_decisions"] == []  # nothing odd in a healthy poll

    inverters = [
        e for e in simulated_events if isinstance(e, DataEvent) and e.endpoint == "inverters"
    ]
    last_reports = {e.serial: e.model for e in inverters}
    power = families["enphase_inverter_power_watts"]
    assert len(power) == sum(len(models) for models in last_reports.values())
    first = last_reports[standard][0]
    assert value(power, gateway=standard, inverter=first.serial_number) == pytest.approx(
        first.last_report_w
    )
    info = value(families["enphase_gateway_info"], gateway=metered, firmware="8.2.4345")
    assert info == 1

    assert "enphase_sink_backlog" not in families
    assert value(with_sinks["enphase_sink_backlog"], sink="sqlite") >= 0
    dropped = value(with_sinks["enphase_sink_dropped"], "enphase_sink_dropped_total", sink="sqlite")
    assert dropped == 0
    written = with_sinks["enphase_sink_written"]
    assert value(written, sink="prometheus") == len(with_energy(simulated_events))

    assert prometheus_client.REGISTRY.get_sample_value("enphase_gateway_up") is None
    secrets = [g.token for g in simulation.gateways if g.token is not None]
    assert not any(secret in text for secret in secrets)


async def test_closed_sink_stops_serving() -> None:
    metrics = PrometheusSink(0)
    await metrics.start()
    url = metrics.url
    _, families = await scrape(url)
    assert families["enphase_gateway_up"] == []
    await metrics.close()
    with pytest.raises(aiohttp.ClientConnectionError):
        await scrape(url)


async def test_poller_counters_are_taken_on_its_loop_at_each_scrape(tmp_path: Path) -> None:
    clock = ManualClock()
    online = FakeGateway(clock, latency=0.5)
    down = FakeGateway(clock, "envoy-2.local")
    down.errors["info"] = down.errors["*"] = GatewayConnectionError("refused")
    poller = Poller([online, down], clock=clock, buffer_size=0)
    metrics = PrometheusSink(0)
    sinks = SinkSet([SqliteSink(tmp_path / "data.sqlite"), metrics])
    add_poller_metrics(sinks, poller)  # the SQLite sink has no /metrics: left alone
    await metrics.start()
    try:
        async with poller:
            await clock.advance(120)
            # The scrape runs in the server's thread while this loop waits for the reply.
            _, families = await scrape(metrics.url)
            stats = {g.serial or g.host: g for g in poller.stats().gateways}
    finally:
        await metrics.close()

    assert set(stats) == {"122125067699", "envoy-2.local"}  # a serial, else the host
    for gateway, counted in stats.items():
        for name in ("polls", "successes", "failures", "skipped", "deferred"):
            family = families[f"enphase_poller_{name}"]
            assert value(family, gateway=gateway) == getattr(counted, name)
    assert stats["envoy-2.local"].failures > 0
    latency = families["enphase_poller_latency_seconds"]
    assert {s.labels["quantile"] for s in latency} == {"0.5", "0.9", "0.99"}
    assert value(latency, gateway="122125067699", quantile="0.99") == pytest.approx(0.5)
    assert value(families["enphase_poller_events_dropped"]) == 0


async def test_battery_and_inverter_gauges_carry_serial_labels(
    simulation: Simulation, simulated_events: list[Event]
) -> None:
    metrics = PrometheusSink(0)
    await metrics.start()
    try:
        for event in simulated_events:
            metrics.submit(event)
        _, families = await scrape(metrics.url)
    finally:
        await metrics.close()
    site = simulation.gateways[0].serial
    data = [e for e in simulated_events if isinstance(e, DataEvent) and e.serial == site]
    power = [e.model for e in data if e.endpoint == "battery_power"][-1]
    inventory = [e.model for e in data if e.endpoint == "inventory"][-1]
    assert len(power.batteries) == 2
    for battery in power.batteries:
        labels = {"gateway": site, "battery": battery.serial_number}
        assert value(families["enphase_battery_charge_percent"], **labels) == pytest.approx(
            battery.charge_percent
        )
        assert value(families["enphase_battery_power_watts"], **labels) == pytest.approx(
            battery.active_power_w
        )
        (known,) = [b for b in inventory.batteries if b.serial_number == battery.serial_number]
        temperature = value(families["enphase_battery_temperature_celsius"], **labels)
        assert temperature == pytest.approx(known.temperature_c)
    device_data = [e.model for e in data if e.endpoint == "device_data"][-1]
    for inverter in device_data.inverters:
        reading = inverter.channels[0].last_reading
        assert reading is not None
        labels = {"gateway": site, "inverter": str(inverter.serial_number)}
        volts = value(families["enphase_inverter_dc_volts"], **labels)
        assert volts == pytest.approx(reading.dc_voltage_v)
        celsius = value(families["enphase_inverter_temperature_celsius"], **labels)
        assert celsius == pytest.approx(reading.temperature_c)
