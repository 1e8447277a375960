"""The energy tracker: flows from counters, guarded, with batteries, restarts and restores."""

from __future__ import annotations

import pytest

from enphase_local.energy import (
    BATTERY_CHARGE,
    BATTERY_DISCHARGE,
    CONSUMPTION,
    GRID_EXPORT,
    GRID_IMPORT,
    PRODUCTION,
    EnergyTracker,
)
from enphase_local.energy.tracker import meter_flows
from enphase_local.events import CounterDecision, EnergyEvent, GatewayState, StateEvent
from enphase_local.models import MeasurementType
from tests.energy.builders import (
    Site,
    batteries,
    battery_power,
    info,
    inverters,
    iq_batteries,
    live,
    production,
)
from tests.sinks.builders import HOST, SERIAL, T0

PRODUCTION_CT, NET_CT, STORAGE_CT = (
    MeasurementType.PRODUCTION,
    MeasurementType.NET_CONSUMPTION,
    MeasurementType.STORAGE,
)
#: Lifetime registers at the start, Wh.
PRODUCED, IMPORTED, EXPORTED = 9_000_000.0, 4_000_000.0, 3_000_000.0


def metered_day(site: Site, steps: int, *, glitch: dict[int, float] | None = None) -> None:
    """Readings 10 s apart: 10 Wh produced, 4 Wh imported, 1 Wh exported each time; a
    ``glitch`` replaces the production register at some steps."""
    for k in range(steps):
        delivered = PRODUCED + 10.0 * k
        if glitch and k in glitch:
            delivered = glitch[k]
        site.readings(
            10.0 * k,
            production=(delivered, 50.0),
            net=(IMPORTED + 4.0 * k, EXPORTED + 1.0 * k),
        )


def test_meter_flows_from_registers() -> None:
    registers = {
        "meters.production.delivered_wh": 100.0,
        "meters.production.received_wh": 2.0,
        "meters.net-consumption.delivered_wh": 30.0,
        "meters.net-consumption.received_wh": 50.0,
        "meters.storage.delivered_wh": 7.0,
        "meters.storage.received_wh": 20.0,
    }
    assert meter_flows(registers) == {
        GRID_IMPORT: 30.0,
        GRID_EXPORT: 50.0,
        CONSUMPTION: 78.0,  # what the production CT saw plus the grid
        BATTERY_DISCHARGE: 7.0,
        BATTERY_CHARGE: 20.0,
        PRODUCTION: 111.0,  # the panels: the CT's 98 with the batteries' 13 added back
    }
    total_only = {
        "meters.production.delivered_wh": 10.0,
        "meters.production.received_wh": 0.0,
        "meters.total-consumption.delivered_wh": 4.0,
        "meters.total-consumption.received_wh": 0.0,
    }
    assert meter_flows(total_only) == {
        GRID_IMPORT: 0.0,
        GRID_EXPORT: 6.0,
        CONSUMPTION: 4.0,
        PRODUCTION: 10.0,
    }


def test_metered_site_flows_and_totals() -> None:
    site = Site()
    site.configure(PRODUCTION_CT, NET_CT)
    metered_day(site, 4)
    events = site.energy("meters")
    assert len(events) == 4
    first, last = events[0], events[-1]
    assert first.totals == {
        PRODUCTION: PRODUCED - 50.0,
        GRID_IMPORT: IMPORTED,
        GRID_EXPORT: EXPORTED,
        CONSUMPTION: PRODUCED - 50.0 + IMPORTED - EXPORTED,
    }
    changes = {flow: last.flows[flow] - first.flows[flow] for flow in first.flows}
    assert changes == {PRODUCTION: 30.0, GRID_IMPORT: 12.0, GRID_EXPORT: 3.0, CONSUMPTION: 39.0}
    assert last.totals == last.flows
    assert last.counters["meters.production.delivered_wh"] == PRODUCED + 30.0
    assert (last.serial, last.host, last.at) == (SERIAL, HOST, T0.replace(second=30))
    assert not any(e.filled for e in events)
    assert site.decisions() == []


def test_a_drop_and_a_spike_leave_the_totals_alone() -> None:
    site = Site()
    site.configure(PRODUCTION_CT, NET_CT)
    metered_day(site, 8, glitch={2: 0.0, 5: PRODUCED + 6_780_000.0})
    decisions = [(e.counter, e.decision) for e in site.decisions()]
    assert decisions == [
        ("meters.production.delivered_wh", CounterDecision.HELD),
        ("meters.production.delivered_wh", CounterDecision.TRANSIENT),
        ("meters.production.delivered_wh", CounterDecision.SPIKE),
    ]
    held = site.decisions()[0]
    assert (held.value, held.previous) == (0.0, PRODUCED + 10.0)
    produced = [e.totals[PRODUCTION] for e in site.energy()]
    assert produced == sorted(produced)
    assert produced[-1] - produced[0] == pytest.approx(70.0)


def test_a_reset_is_confirmed_and_counting_goes_on() -> None:
    site = Site()
    site.configure(PRODUCTION_CT, NET_CT)
    for k in range(8):
        delivered = PRODUCED + 10.0 * k if k < 3 else 10.0 * (k - 2)
        site.readings(10.0 * k, production=(delivered, 0.0), net=(IMPORTED, EXPORTED))
    assert [e.decision for e in site.decisions()] == [
        CounterDecision.HELD,
        CounterDecision.HELD,
        CounterDecision.RESET,
    ]
    produced = [e.totals[PRODUCTION] for e in site.energy()]
    assert produced == sorted(produced)
    # 20 Wh before the reset; after it everything from zero (50 Wh).
    assert produced[-1] - produced[0] == pytest.approx(20.0 + 50.0)


def test_new_firmware_makes_the_next_drop_a_reset() -> None:
    site = Site()
    site.configure(PRODUCTION_CT, NET_CT)
    metered_day(site, 2)
    site.feed("info", info("8.3.5167"), 15.0)
    site.readings(20.0, production=(5.0, 0.0), net=(IMPORTED + 8.0, EXPORTED + 2.0))
    resets = [(e.counter, e.decision) for e in site.decisions()]
    assert resets == [
        ("meters.production.delivered_wh", CounterDecision.RESET),
        ("meters.production.received_wh", CounterDecision.RESET),
    ]


def test_live_data_counters_going_down_mean_a_restart() -> None:
    site = Site()
    site.configure(PRODUCTION_CT, NET_CT)
    metered_day(site, 2)
    wrapped = {"rest_Status": 900, "publish": 500, "taskUpdate": 999, "constant": 1}
    site.feed("live_data", live(0.0, counters=wrapped), 11.0)
    site.feed("live_data", live(0.0, counters={**wrapped, "taskUpdate": 0}), 12.0)
    site.readings(20.0, production=(5.0, 50.0), net=(IMPORTED + 8.0, EXPORTED + 2.0))
    assert [e.decision for e in site.decisions()] == [CounterDecision.HELD]  # a wrap only
    restarted = {"rest_Status": 1, "publish": 0, "taskUpdate": 2, "constant": 1}
    site.feed("live_data", live(0.0, counters=restarted), 25.0)
    site.readings(30.0, production=(15.0, 50.0), net=(IMPORTED + 12.0, EXPORTED + 3.0))
    assert site.decisions()[-1].decision is CounterDecision.RESET


def test_the_rating_comes_from_the_inventory() -> None:
    site = Site()
    site.configure(PRODUCTION_CT, NET_CT)
    site.readings(0.0, production=(PRODUCTED := PRODUCED, 0.0), net=(IMPORTED, EXPORTED))
    # 100 Wh in 10 s is 36 kW: possible for an unknown site, not for 16 x 300 W.
    site.readings(10.0, production=(PRODUCTED + 100.0, 0.0), net=(IMPORTED, EXPORTED))
    assert site.decisions() == []
    site.feed("inverters", inverters(16, 300.0), 15.0)
    site.readings(20.0, production=(PRODUCTED + 200.0, 0.0), net=(IMPORTED, EXPORTED))
    assert [e.decision for e in site.decisions()] == [CounterDecision.SPIKE]


def test_production_counts_where_no_ct_does() -> None:
    site = Site()
    site.feed("info", info())
    site.feed("meters", ())
    site.feed("production", production(5_000_000.0), 0.0)
    site.feed("production", production(5_000_400.0, today_wh=1400.0), 300.0)
    site.feed("production", production(5_000_900.0, today_wh=0.0), 600.0)
    events = site.energy("production")
    assert [e.totals[PRODUCTION] for e in events] == [5_000_000.0, 5_000_400.0, 5_000_900.0]
    assert events[-1].counters["production.today_wh"] == 1400.0  # the drop is held
    assert [e.counter for e in site.decisions()] == ["production.today_wh"]


def test_with_a_production_ct_the_production_endpoint_only_reports_its_counters() -> None:
    site = Site()
    site.configure(PRODUCTION_CT, NET_CT)
    site.feed("production", production(5_000_000.0), 0.0)
    site.feed("production", production(5_000_400.0), 300.0)
    [first, second] = site.energy("production")
    assert first.flows == second.flows == {}
    assert second.counters["production.lifetime_wh"] == 5_000_400.0


def battery_site() -> Site:
    site = Site()
    site.configure(PRODUCTION_CT, NET_CT)
    site.feed("device_list", batteries(5000.0, 5000.0))
    return site


def test_battery_power_is_integrated_and_taken_out_of_production() -> None:
    site = battery_site()
    for k in range(4):  # charging at 1.8 kW: 5 Wh per 10 s
        site.feed("live_data", live(-1800.0, stored_wh=4000.0 + 5.0 * k), 10.0 * k)
    events = site.energy("battery")
    assert len(events) == 4
    assert events[-1].flows == pytest.approx(
        {BATTERY_CHARGE: 15.0, BATTERY_DISCHARGE: 0.0, PRODUCTION: 15.0}
    )
    assert events[-1].counters["battery.stored_wh"] == 4015.0
    assert events[-1].totals[BATTERY_CHARGE] == pytest.approx(15.0)


def test_a_battery_gap_is_recorded_and_filled() -> None:
    site = battery_site()
    for k in range(4):
        site.feed("live_data", live(1800.0, stored_wh=8000.0 - 5.0 * k), 10.0 * k)
    site.feed("live_data", live(1800.0, stored_wh=7000.0), 3600.0)
    [gap] = site.decisions()
    assert gap.decision is CounterDecision.GAP
    assert gap.counter == "battery.power_w"
    assert "filled" in gap.reason
    last = site.energy("battery")[-1]
    assert last.filled
    assert last.flows[BATTERY_DISCHARGE] == pytest.approx(15.0 + 985.0)


def test_implausible_battery_power_is_ignored() -> None:
    site = battery_site()
    site.feed("live_data", live(-1000.0, stored_wh=4000.0), 0.0)
    site.feed("live_data", live(5e7, stored_wh=4000.0), 10.0)
    assert [e.decision for e in site.decisions()] == [CounterDecision.SPIKE]
    site.feed("live_data", live(-1000.0, stored_wh=4005.0), 20.0)
    assert site.energy("battery")[-1].flows[BATTERY_CHARGE] == pytest.approx(1000.0 * 20 / 3600)


def test_no_battery_no_integration_and_a_storage_ct_wins() -> None:
    plain = Site()
    plain.configure(PRODUCTION_CT, NET_CT)
    plain.feed("live_data", live(0.0, stored_wh=0.0, soc_pct=0.0), 0.0)
    assert plain.energy() == []
    metered = Site()
    metered.configure(PRODUCTION_CT, NET_CT, STORAGE_CT)
    metered.feed("live_data", live(-1800.0, stored_wh=4000.0), 0.0)
    assert metered.energy() == []
    metered.readings(0.0, production=(100.0, 0.0), net=(10.0, 5.0), storage=(7.0, 20.0))
    metered.readings(10.0, production=(105.0, 0.0), net=(10.0, 6.0), storage=(7.0, 25.0))
    last = metered.energy("meters")[-1]
    assert last.flows[BATTERY_CHARGE] == 25.0
    assert last.totals[PRODUCTION] == pytest.approx(113.0 + 10.0)


def test_the_batteries_own_power_is_integrated_instead_of_live_data() -> None:
    site = Site()
    site.configure(PRODUCTION_CT, NET_CT)
    site.feed("inventory", iq_batteries(5000.0, 5000.0))
    site.feed("live_data", live(-1800.0, stored_wh=5000.0), 0.0)  # before the first reading
    # Two batteries discharging 900 W each, charge falling: 5 Wh per 10 s together.
    for k in range(1, 5):
        site.feed(
            "battery_power", battery_power(900.0, 900.0, charge_pct=50.0 - 0.05 * k), 10.0 * k
        )
        # Live data says the batteries charge: once the batteries' own reading came, it is
        # not integrated (it would count a charge that did not happen).
        site.feed("live_data", live(-1800.0, stored_wh=5000.0), 10.0 * k + 5)
    events = site.energy("battery")
    assert len(events) == 5
    last = events[-1]
    # The first interval runs from live data's sample (charging) to the batteries' own one.
    assert last.flows[BATTERY_CHARGE] == pytest.approx(1800.0 / 2 * 10 / 3600)
    assert last.flows[BATTERY_DISCHARGE] == pytest.approx(1800.0 / 2 * 10 / 3600 + 3 * 5.0)
    assert last.counters["battery.stored_wh"] == pytest.approx(2 * 0.498 * 5000.0)
    assert last.counters["battery.power_w"] == 1800.0
    assert site.decisions() == []


def test_the_batteries_own_power_waits_for_the_meters_and_yields_to_a_storage_ct() -> None:
    unknown = Site()
    unknown.feed("battery_power", battery_power(-500.0), 0.0)
    assert unknown.energy() == []  # a storage CT may yet turn up
    metered = Site()
    metered.configure(PRODUCTION_CT, NET_CT, STORAGE_CT)
    metered.feed("battery_power", battery_power(-500.0), 0.0)
    metered.feed("battery_power", battery_power(-500.0), 10.0)
    assert metered.energy() == []
    acb = battery_site()  # AC Batteries: an empty list (as real gateways send) changes nothing
    acb.feed("battery_power", battery_power(), 0.0)
    acb.feed("live_data", live(-1800.0, stored_wh=4000.0), 5.0)
    acb.feed("live_data", live(-1800.0, stored_wh=4005.0), 15.0)
    assert acb.energy("battery")[-1].flows[BATTERY_CHARGE] == pytest.approx(5.0)


def test_a_restored_tracker_goes_on_and_fills_the_outage() -> None:
    first = battery_site()
    metered_day(first, 3)
    for k in range(3):
        first.feed("live_data", live(-1800.0, stored_wh=4000.0 + 5.0 * k), 10.0 * k)
    last_events: dict[str, EnergyEvent] = {e.source: e for e in first.energy()}
    second = Site(tracker=EnergyTracker())
    second.tracker.restore(last_events.values())
    second.configure(PRODUCTION_CT, NET_CT)
    hours = 7200.0
    second.readings(
        hours,
        production=(PRODUCED + 20.0 + 1000.0, 50.0),
        net=(IMPORTED + 8.0 + 100.0, EXPORTED + 2.0 + 10.0),
    )
    second.feed("live_data", live(-1800.0, stored_wh=4010.0 + 900.0), hours)
    meters, battery = second.energy("meters")[0], second.energy("battery")[0]
    assert meters.filled
    assert battery.filled
    before = last_events["meters"].totals
    assert meters.totals[GRID_IMPORT] - before[GRID_IMPORT] == pytest.approx(100.0)
    assert battery.flows[BATTERY_CHARGE] - last_events["battery"].flows[BATTERY_CHARGE] == (
        pytest.approx(900.0)
    )
    assert battery.totals[PRODUCTION] >= before[PRODUCTION]


def test_other_events_derive_nothing() -> None:
    tracker = EnergyTracker()
    state = StateEvent(
        serial=SERIAL,
        host=HOST,
        previous=GatewayState.STARTING,
        state=GatewayState.ONLINE,
        at=T0,
        reason="first answer",
    )
    assert tracker.update(state) == []
