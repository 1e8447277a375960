"""The battery, relay, generator and detail endpoints move with the physics, over HTTPS.

The clock is frozen and moved by hand; every view of one instant must agree with every other:
per-battery power with the live data, charge with energy, the relay with the System
Controller and the grid meter, per-inverter detail with the inverters endpoint,
``/production.json`` with ``/api/v1/production`` and the meters.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import aiohttp
import attrs
import pytest
from lxml import html

from enphase_local.simulator.clock import SimClock
from enphase_local.simulator.device import SimulatedDevice
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.profiles import get_profile
from enphase_local.simulator.pytest_plugin import SimulationFactory

from .conftest import MIDSUMMER, NOON, fetch

#: After sunset, with the evening load: the batteries discharge.
EVENING = MIDSUMMER + dt.timedelta(hours=21)
PRODUCTION_EID = 704643328
NET_EID = 704643584


async def get(http: aiohttp.ClientSession, gateway: SimulatedGateway, path: str) -> Any:
    answer = await fetch(http, gateway, path)
    assert answer.status == 200, path
    return answer.json()


async def live(http: aiohttp.ClientSession, gateway: SimulatedGateway) -> Any:
    """The live data's meters, with the stream on so that they are current."""
    switched = await fetch(http, gateway, "/ivp/livedata/stream", method="POST", body={"enable": 1})
    assert switched.status == 200
    return (await get(http, gateway, "/ivp/livedata/status"))["meters"]


async def gateway_of(
    factory: SimulationFactory, profile: str, start: dt.datetime
) -> tuple[SimulatedGateway, SimClock]:
    simulation = await factory(profile=profile, speed=0, start_time=start, cloud=False)
    gateway = simulation.gateways[0]
    gateway.faults.set_slow(0.0)
    return gateway, simulation.clock


def battery_total(power: Any) -> int:
    return sum(battery["real_power_mw"] for battery in power["devices:"])


@pytest.mark.parametrize(("start", "sign"), [(EVENING, 1), (NOON, -1)])
async def test_charge_falls_while_discharging_and_rises_while_charging(
    enphase_simulation_factory: SimulationFactory,
    http: aiohttp.ClientSession,
    start: dt.datetime,
    sign: int,
) -> None:
    gateway, clock = await gateway_of(enphase_simulation_factory, "battery", start)
    power = await get(http, gateway, "/ivp/ensemble/power")
    energy = (await get(http, gateway, "/ivp/ensemble/secctrl"))["ENC_agg_avail_energy"]
    assert sign * battery_total(power) > 0  # positive while discharging
    for _ in range(6):
        clock.advance(300)
        later = await get(http, gateway, "/ivp/ensemble/power")
        later_energy = (await get(http, gateway, "/ivp/ensemble/secctrl"))["ENC_agg_avail_energy"]
        assert sign * (energy - later_energy) > 0
        assert sign * (power["devices:"][0]["soc"] - later["devices:"][0]["soc"]) >= 0
        power, energy = later, later_energy
    inventory = await get(http, gateway, "/ivp/ensemble/inventory")
    assert {d["percentFull"] for d in inventory[0]["devices"]} == {power["devices:"][0]["soc"]}


@pytest.mark.parametrize("profile", ["battery", "generator", "collar"])
@pytest.mark.parametrize("start", [EVENING, NOON])
async def test_batteries_add_up_to_the_live_data(
    enphase_simulation_factory: SimulationFactory,
    http: aiohttp.ClientSession,
    profile: str,
    start: dt.datetime,
) -> None:
    gateway, _ = await gateway_of(enphase_simulation_factory, profile, start)
    meters = await live(http, gateway)
    power = await get(http, gateway, "/ivp/ensemble/power")
    secctrl = await get(http, gateway, "/ivp/ensemble/secctrl")
    tariff = await get(http, gateway, "/admin/lib/tariff")
    assert battery_total(power) == meters["storage"]["agg_p_mw"]
    assert sum(b["apparent_power_mva"] for b in power["devices:"]) == meters["storage"]["agg_s_mva"]
    assert len({b["real_power_mw"] for b in power["devices:"]}) > 1  # not an even split
    assert {b["soc"] for b in power["devices:"]} == {meters["enc_agg_soc"], secctrl["agg_soc"]}
    assert secctrl["ENC_agg_avail_energy"] == meters["enc_agg_energy"]
    reserve = tariff["tariff"]["storage_settings"]["reserved_soc"]
    assert reserve == secctrl["configured_backup_soc"] == meters["backup_soc"]
    assert secctrl["ENC_agg_backup_energy"] == secctrl["Max_energy"] * reserve // 100


async def test_off_grid_the_relay_the_controller_and_the_meters_agree(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, clock = await gateway_of(enphase_simulation_factory, "battery", NOON)
    gateway.set_grid_relay(closed=False)
    for _ in range(3):
        relay = await get(http, gateway, "/ivp/ensemble/relay")
        assert (relay["mains_admin_state"], relay["mains_oper_state"]) == ("open", "open")
        assert (await get(http, gateway, "/ivp/ensemble/status"))["relay"] == relay
        enpower = (await get(http, gateway, "/ivp/ensemble/inventory"))[1]["devices"][0]
        assert (enpower["mains_admin_state"], enpower["mains_oper_state"]) == ("open", "open")
        assert enpower["Enpwr_grid_mode"] == "multimode-offgrid"
        assert (await live(http, gateway))["main_relay_state"] == 0
        readings = await get(http, gateway, "/ivp/meters/readings")
        net = next(r for r in readings if r["eid"] == NET_EID)
        assert all(c["activePower"] == pytest.approx(0.0, abs=0.01) for c in net["channels"])
        secctrl = await get(http, gateway, "/ivp/ensemble/secctrl")
        assert secctrl["offgrid_secctrl"]["is_active"] is True
        clock.advance(600)
    gateway.set_grid_relay(closed=True)
    relay = await get(http, gateway, "/ivp/ensemble/relay")
    assert (relay["mains_admin_state"], relay["mains_oper_state"]) == (
        "closed",
        "open synchronizing",
    )
    clock.advance(31)
    relay = await get(http, gateway, "/ivp/ensemble/relay")
    assert relay["mains_oper_state"] == "closed"
    assert (await live(http, gateway))["main_relay_state"] == 1


async def test_a_load_contact_is_shed_off_grid_when_charge_runs_low(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, _ = await gateway_of(enphase_simulation_factory, "battery", EVENING)

    async def first_contact() -> str:
        status: str = (await get(http, gateway, "/ivp/ensemble/dry_contacts"))["dry_contacts"][0][
            "status"
        ]
        return status

    gateway.set_battery_soc(20)
    assert await first_contact() == "closed"  # on grid the load stays on
    gateway.set_grid_relay(closed=False)
    assert await first_contact() == "open"
    gateway.set_battery_soc(80)
    assert await first_contact() == "closed"


async def test_the_generator_starts_when_charge_runs_low_off_grid(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, clock = await gateway_of(enphase_simulation_factory, "generator", EVENING)
    gateway.set_battery_soc(33)
    gateway.set_grid_relay(closed=False)
    states = []
    for _ in range(36):  # three simulated hours
        clock.advance(300)
        state = (await get(http, gateway, "/ivp/ensemble/generator"))["admin_state"]
        meters = await live(http, gateway)
        states.append((state, meters["enc_agg_soc"], meters["generator"]["agg_p_mw"]))
    running = [s for s in states if s[0] == "closed"]
    assert running, states
    assert all(watts > 0 for _, _, watts in running)
    assert all(watts == 0 for state, _, watts in states if state == "open")
    started = states.index(running[0])
    assert states[started - 1][1] <= 31  # it started at the start level, 30 %
    stopped = states.index(next(s for s in states[started:] if s[0] == "open"))
    assert states[stopped][1] >= 70  # and ran up to the stop level


async def test_device_data_agrees_with_the_inverters(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, clock = await gateway_of(enphase_simulation_factory, "standard", NOON)
    for _ in range(3):
        inverters = {
            i["serialNumber"]: i for i in await get(http, gateway, "/api/v1/production/inverters")
        }
        data = await get(http, gateway, "/ivp/pdm/device_data")
        production = await get(http, gateway, "/api/v1/production")
        present = [d for k, d in data.items() if k.isdigit() and not d["modGone"]]
        assert {d["sn"] for d in present} == set(inverters)
        for device in present:
            channel = device["channels"][0]
            inverter = inverters[device["sn"]]
            assert channel["watts"]["now"] == inverter["lastReportWatts"]
            assert channel["watts"]["max"] == inverter["maxReportWatts"]
            assert channel["lastReading"]["endDate"] == inverter["lastReportDate"]
            reading = channel["lastReading"]
            assert reading["joulesProduced"] == inverter["lastReportWatts"] * reading["duration"]
        lifetime = sum(d["channels"][0]["lifetime"]["joulesProduced"] for d in present) / 3600
        assert lifetime == pytest.approx(production["wattHoursLifetime"], abs=len(present))
        today = sum(d["channels"][0]["wattHours"]["today"] for d in present)
        assert today == pytest.approx(production["wattHoursToday"], abs=len(present))
        clock.advance(137)


def test_device_data_lists_at_most_fifty_devices() -> None:
    profile = attrs.evolve(get_profile("standard"), inverter_count=60)
    device = SimulatedDevice(
        profile, "122199900001", clock=SimClock(NOON.timestamp(), speed=0), tz=dt.UTC
    )
    data = json.loads(device.handle("GET", "/ivp/pdm/device_data", "", b"").body)
    assert len([k for k in data if k.isdigit()]) == 50
    assert (data["deviceCount"], data["deviceDataLimit"]) == (62, 50)


@pytest.mark.parametrize("profile", ["metered", "three-phase", "battery"])
async def test_production_json_agrees_with_production_and_the_meters(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession, profile: str
) -> None:
    gateway, clock = await gateway_of(enphase_simulation_factory, profile, NOON)
    for _ in range(3):
        summary = await get(http, gateway, "/production.json?details=1")
        production = await get(http, gateway, "/api/v1/production")
        readings = await get(http, gateway, "/ivp/meters/readings")
        reports = {r["reportType"]: r for r in await get(http, gateway, "/ivp/meters/reports")}
        inverters = await get(http, gateway, "/api/v1/production/inverters")
        pcu, eim = summary["production"]
        assert pcu["wNow"] == sum(i["lastReportWatts"] for i in inverters)
        assert pcu["readingTime"] == max(i["lastReportDate"] for i in inverters)
        ct = next(r for r in readings if r["eid"] == PRODUCTION_EID)
        assert eim["wNow"] == pytest.approx(ct["activePower"], abs=0.002)
        assert round(eim["wNow"]) == production["wattsNow"]
        assert int(eim["whLifetime"]) == production["wattHoursLifetime"]
        assert int(eim["whToday"]) == production["wattHoursToday"]
        assert len(eim["lines"]) == get_profile(profile).phase_count
        assert sum(line["wNow"] for line in eim["lines"]) == pytest.approx(eim["wNow"], abs=0.01)
        total, net = summary["consumption"]
        assert total["wNow"] == pytest.approx(
            reports["total-consumption"]["cumulative"]["currW"], abs=0.01
        )
        net_ct = next(r for r in readings if r["eid"] == NET_EID)
        assert net["wNow"] == pytest.approx(net_ct["activePower"], abs=0.002)
        assert total["wNow"] == pytest.approx(eim["wNow"] + net["wNow"], abs=0.01)
        assert (await get(http, gateway, "/production"))["production"][1]["wNow"] == eim["wNow"]
        clock.advance(211)


async def test_ac_batteries_agree_with_the_live_data(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, clock = await gateway_of(enphase_simulation_factory, "acb", EVENING)
    for _ in range(3):
        meters = await live(http, gateway)
        storage = (await get(http, gateway, "/production.json"))["storage"][0]
        assert storage["percentFull"] == meters["acb_agg_soc"] == meters["soc"]
        assert storage["whNow"] == meters["acb_agg_energy"]
        assert storage["wNow"] > 0
        assert storage["state"] == "discharging"
        acbs = (await get(http, gateway, "/inventory.json"))[1]["devices"]
        assert {a["charge_status"] for a in acbs} == {"discharging"}
        clock.advance(600)


async def test_battery_temperature_is_unknown_until_the_first_report_after_a_reboot(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, clock = await gateway_of(enphase_simulation_factory, "battery", NOON)

    async def temperatures() -> list[object]:
        inventory = await get(http, gateway, "/ivp/ensemble/inventory")
        return [d["temperature"] for d in inventory[0]["devices"]]

    assert all(isinstance(t, int) for t in await temperatures())
    await gateway.reboot(downtime_s=0.05)
    await gateway.wait_online()
    assert await temperatures() == ["unknown", "unknown"]
    clock.advance(300)
    assert all(isinstance(t, int) for t in await temperatures())


async def test_the_web_back_end_is_slow(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, _ = await gateway_of(enphase_simulation_factory, "metered", NOON)
    gateway.faults.set_slow(0.2)
    took = {}
    for path in ("/production.json", "/home", "/ivp/ensemble/secctrl"):
        started = time.monotonic()
        assert (await fetch(http, gateway, path)).status == 200
        took[path] = time.monotonic() - started
    assert took["/production.json"] >= 0.2
    assert took["/home"] >= 0.37  # the slowest page takes nearly twice as long
    assert took["/ivp/ensemble/secctrl"] < 0.2


async def test_the_old_page_shows_what_the_inverters_report(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    simulation = await enphase_simulation_factory(profile="legacy-html", speed=0, start_time=NOON)
    gateway = simulation.gateways[0]
    gateway.faults.set_slow(0.0)
    page = await fetch(http, gateway, "/production", auth=False)
    found = html.fromstring(page.body).xpath("//tr/td/text()")
    assert isinstance(found, list)
    cells = [str(cell) for cell in found]
    rows = dict(zip(cells[1::2], cells[2::2], strict=False))
    assert list(rows) == ["Currently", "Today", "Past Week", "Since Installation"]
    number, unit = rows["Currently"].split()
    assert gateway.plant is not None
    reported = sum(
        w
        for _, w in (
            gateway.plant.inverter_report(i, NOON.timestamp()) for i in gateway.plant.inverters
        )
    )
    scale = {"W": 1, "kW": 1000, "MW": 1e6}[unit]
    assert float(number) * scale == pytest.approx(reported, rel=0.006)
