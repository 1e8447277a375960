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
from tests.sinks.conftest import last_model, poll_simulation


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


async def test_battery_site_states_are_gauges_where_the_hardware_is(
    battery_sites: Simulation,
) -> None:
    site, collar, metered = battery_sites.gateways
    metrics = PrometheusSink(0)
    await metrics.start()
    try:
        events = await poll_simulation(battery_sites, rounds=2)
        for event in events:
            metrics.submit(event)
        _, noon = await scrape(metrics.url)
        site.set_grid_relay(False)  # off grid with little charge: the generator starts
        site.set_battery_soc(20)
        battery_sites.clock.advance(60)
        for event in await poll_simulation(battery_sites, rounds=1):
            metrics.submit(event)
        _, off_grid = await scrape(metrics.url)
    finally:
        await metrics.close()

    states = noon["enphase_battery_state"]
    for gateway in (site, collar):
        for battery in last_model(events, gateway.serial, "battery_power").batteries:
            labels = {"gateway": gateway.serial, "battery": battery.serial_number}
            assert battery.active_power_w < 0  # charging at noon
            for state in ("charging", "discharging", "idle", "full"):
                expected = 1 if state == "charging" else 0
                assert value(states, state=state, **labels) == expected
    assert {s.labels["gateway"] for s in states} == {site.serial, collar.serial}

    def current(metrics: dict[str, list[Sample]], family: str, **labels: str) -> set[str]:
        """The label values of a family's series that are 1, for these labels."""
        samples = metrics[family]
        key = "mode" if family == "enphase_storage_mode" else "state"
        return {
            s.labels[key]
            for s in samples
            if s.value == 1 and all(s.labels[k] == v for k, v in labels.items())
        }

    assert current(noon, "enphase_grid_state", gateway=site.serial) == {"on_grid"}
    assert current(noon, "enphase_grid_state", gateway=collar.serial) == {"on_grid"}
    assert len(noon["enphase_grid_state"]) == 2 * 3  # two sites with a grid relay, 3 states
    assert current(noon, "enphase_generator_state", gateway=site.serial) == {"off"}
    assert {s.labels["gateway"] for s in noon["enphase_generator_state"]} == {site.serial}
    for gateway in (site, collar):
        assert current(noon, "enphase_storage_mode", gateway=gateway.serial) == {"self_consumption"}
        reserve = last_model(events, gateway.serial, "tariff").storage.reserve_percent
        assert value(noon["enphase_battery_reserve_percent"], gateway=gateway.serial) == reserve
    contacts = {
        contact: current(noon, "enphase_dry_contact_state", gateway=site.serial, contact=contact)
        for contact in ("NC1", "NC2", "NO1", "NO2")
    }
    assert contacts == {"NC1": {"closed"}, "NC2": {"open"}, "NO1": {"open"}, "NO2": {"open"}}
    assert {s.labels["gateway"] for s in noon["enphase_dry_contact_state"]} == {site.serial}
    for family in (
        "enphase_grid_state",
        "enphase_generator_state",
        "enphase_storage_mode",
        "enphase_battery_reserve_percent",
        "enphase_battery_state",
    ):
        assert metered.serial not in {s.labels["gateway"] for s in noon[family]}, family

    assert current(off_grid, "enphase_grid_state", gateway=site.serial) == {"off_grid"}
    assert current(off_grid, "enphase_generator_state", gateway=site.serial) == {"running"}
    shed = current(off_grid, "enphase_dry_contact_state", gateway=site.serial, contact="NC1")
    assert shed == {"open"}
    inverter = str(last_model(events, site.serial, "device_data").inverters[0].serial_number)
    celsius = noon["enphase_inverter_temperature_celsius"]
    assert value(celsius, gateway=site.serial, inverter=inverter) > 0
    watts = noon["enphase_inverter_power_watts"]
    assert value(watts, gateway=site.serial, inverter=inverter) >= 0
