"""Control writes over real HTTPS, with plain aiohttp: each answer, its effect on later reads
under the frozen simulator clock, refusals (500, 400, 404) and the write faults."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import aiohttp
import pytest

from enphase_local.simulator.clock import SimClock
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.harness import Simulation
from enphase_local.simulator.pytest_plugin import SimulationFactory

from .conftest import MIDSUMMER, NOON, Answer, fetch

#: After sunset, in the tariff's peak (16:00 to 21:00).
PEAK_EVENING = MIDSUMMER + dt.timedelta(hours=20, minutes=15)
#: The sun low, the evening load up.
DUSK = MIDSUMMER + dt.timedelta(hours=19)
#: Night, off peak.
NIGHT = MIDSUMMER + dt.timedelta(hours=22)
RELAY = "/ivp/ensemble/relay"
CONTACTS = "/ivp/ensemble/dry_contacts"
CONTACT_SETTINGS = "/ivp/ss/dry_contact_settings"
GEN_MODE = "/ivp/ss/gen_mode"
TARIFF = "/admin/lib/tariff"
ACB_CONFIG = "/admin/lib/acb_config"
#: Two IQ Batteries of 3840 W each (the ``battery`` profile).
BATTERY_POWER_MW = 2 * 3840 * 1000


async def start(
    factory: SimulationFactory, profile: str, when: dt.datetime
) -> tuple[SimulatedGateway, SimClock]:
    simulation = await factory(profile=profile, speed=0, start_time=when, cloud=False)
    gateway = simulation.gateways[0]
    gateway.faults.set_slow(0.0)
    return gateway, simulation.clock


async def get(http: aiohttp.ClientSession, gateway: SimulatedGateway, path: str) -> Any:
    answer = await fetch(http, gateway, path)
    assert answer.status == 200, (path, answer.body)
    return answer.json()


async def send(
    http: aiohttp.ClientSession,
    gateway: SimulatedGateway,
    path: str,
    body: object,
    *,
    method: str = "POST",
    raw: bytes | None = None,
) -> Answer:
    """One write, JSON or ``raw`` bytes, with the gateway's token."""
    data = raw if raw is not None else json.dumps(body).encode()
    async with http.request(
        method,
        gateway.url + path,
        ssl=False,
        data=data,
        headers={"Authorization": f"Bearer {gateway.token}", "Content-Type": "application/json"},
    ) as response:
        return Answer(response.status, response.headers, await response.read())


async def meters(http: aiohttp.ClientSession, gateway: SimulatedGateway) -> Any:
    """The live data's meters, current (the stream on)."""
    assert await fetch(http, gateway, "/ivp/livedata/stream", method="POST", body={"enable": 1})
    return (await get(http, gateway, "/ivp/livedata/status"))["meters"]


async def storage_mw(http: aiohttp.ClientSession, gateway: SimulatedGateway) -> int:
    """The IQ Batteries' power, mW (positive while discharging)."""
    power = await get(http, gateway, "/ivp/ensemble/power")
    return sum(battery["real_power_mw"] for battery in power["devices:"])


async def put_storage(
    http: aiohttp.ClientSession, gateway: SimulatedGateway, **changes: object
) -> Answer:
    """Read the whole tariff, change storage settings in place, write it back."""
    tariff = (await get(http, gateway, TARIFF))["tariff"]
    tariff["storage_settings"].update(changes)
    return await send(http, gateway, TARIFF, {"tariff": tariff}, method="PUT")


async def storage_settings(http: aiohttp.ClientSession, gateway: SimulatedGateway) -> Any:
    return (await get(http, gateway, TARIFF))["tariff"]["storage_settings"]


# --- grid relay -----------------------------------------------------------------------------


async def test_off_grid_the_batteries_carry_the_load_and_the_relay_follows(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, clock = await start(enphase_simulation_factory, "battery", NOON)
    answer = await send(http, gateway, RELAY, {"mains_admin_state": "open"})
    assert (answer.status, answer.json()) == (200, {"mains_admin_state": "open"})
    relay = await get(http, gateway, RELAY)
    assert (relay["mains_admin_state"], relay["mains_oper_state"]) == ("open", "closed")
    clock.advance(3)
    relay = await get(http, gateway, RELAY)
    assert relay["mains_oper_state"] == "open"
    for _ in range(3):
        live = await meters(http, gateway)
        assert live["grid"]["agg_p_mw"] == 0
        assert live["main_relay_state"] == 0
        # The batteries carry what the sun does not: load = pv + storage.
        assert live["load"]["agg_p_mw"] == pytest.approx(live["pv"]["agg_p_mw"], abs=2)
        clock.advance(600)
    assert (await send(http, gateway, RELAY, {"mains_admin_state": "closed"})).status == 200
    relay = await get(http, gateway, RELAY)
    assert (relay["mains_admin_state"], relay["mains_oper_state"]) == (
        "closed",
        "open synchronizing",
    )
    clock.advance(30)
    assert (await get(http, gateway, RELAY))["mains_oper_state"] == "closed"
    assert (await meters(http, gateway))["main_relay_state"] == 1
    assert gateway.stats.writes[RELAY] == 2


async def test_off_grid_with_empty_batteries_the_site_shuts_down(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, clock = await start(enphase_simulation_factory, "battery", DUSK)
    gateway.set_battery_soc(4)
    await send(http, gateway, RELAY, {"mains_admin_state": "open"})
    clock.advance(5)
    live = await meters(http, gateway)
    # The low sun cannot carry the load alone: the microinverters stop with the rest.
    assert [live[m]["agg_p_mw"] for m in ("pv", "storage", "grid", "load")] == [0, 0, 0, 0]
    assert (await get(http, gateway, "/api/v1/production"))["wattsNow"] == 0
    assert (await get(http, gateway, "/ivp/ensemble/secctrl"))["shutdown"] is True
    assert (await get(http, gateway, RELAY))["mains_oper_state"] == "open"
    gateway.set_battery_soc(50)  # charged again: the batteries form the grid
    live = await meters(http, gateway)
    assert live["load"]["agg_p_mw"] > 0
    assert live["grid"]["agg_p_mw"] == 0
    assert live["storage"]["agg_p_mw"] > 0
    assert (await get(http, gateway, "/ivp/ensemble/secctrl"))["shutdown"] is False


# --- storage mode, reserve, charge from grid ------------------------------------------------


async def test_storage_modes_decide_when_the_batteries_discharge(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, clock = await start(enphase_simulation_factory, "battery", PEAK_EVENING)
    gateway.set_battery_soc(80)
    assert await storage_mw(http, gateway) > 0  # self-consumption: covers the evening load
    answer = await put_storage(http, gateway, mode="backup")
    assert answer.status == 200
    assert answer.json()["tariff"]["storage_settings"]["mode"] == "backup"
    assert (await storage_settings(http, gateway))["mode"] == "backup"
    assert await storage_mw(http, gateway) == 0  # backup holds the charge
    assert (await put_storage(http, gateway, mode="economy")).status == 200
    assert await storage_mw(http, gateway) > 0  # economy: discharges in the peak
    clock.advance(3600)  # 21:15, off peak
    assert await storage_mw(http, gateway) == 0
    assert (await put_storage(http, gateway, mode="self-consumption")).status == 200
    assert await storage_mw(http, gateway) > 0


async def test_the_reserve_stops_discharge_and_shows_everywhere(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, _ = await start(enphase_simulation_factory, "battery", NIGHT)
    gateway.set_battery_soc(40)
    assert await storage_mw(http, gateway) > 0
    assert (await put_storage(http, gateway, reserved_soc=50)).status == 200
    assert await storage_mw(http, gateway) == 0
    secctrl = await fetch(http, gateway, "/ivp/ensemble/secctrl")
    assert b'"configured_backup_soc": 50,' in secctrl.body  # whole percent, as gateways say
    assert secctrl.json()["ENC_agg_backup_energy"] == secctrl.json()["Max_energy"] // 2
    assert (await meters(http, gateway))["backup_soc"] == 50
    assert (await storage_settings(http, gateway))["reserved_soc"] == 50
    assert (await put_storage(http, gateway, reserved_soc=20)).status == 200
    assert await storage_mw(http, gateway) > 0


async def test_charge_from_grid_charges_the_batteries_from_the_grid(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, clock = await start(enphase_simulation_factory, "battery", NIGHT)
    gateway.set_battery_soc(50)
    assert (await put_storage(http, gateway, mode="backup")).status == 200
    assert await storage_mw(http, gateway) == 0
    assert (await put_storage(http, gateway, charge_from_grid=True)).status == 200
    assert (await storage_settings(http, gateway))["charge_from_grid"] is True
    assert await storage_mw(http, gateway) == -BATTERY_POWER_MW
    live = await meters(http, gateway)
    assert live["grid"]["agg_p_mw"] == pytest.approx(
        live["load"]["agg_p_mw"] + BATTERY_POWER_MW, abs=2
    )
    before = (await get(http, gateway, "/ivp/ensemble/secctrl"))["ENC_agg_avail_energy"]
    clock.advance(1800)
    after = (await get(http, gateway, "/ivp/ensemble/secctrl"))["ENC_agg_avail_energy"]
    assert after - before == pytest.approx(0.95 * BATTERY_POWER_MW / 1000 / 2, abs=2)


# --- dry contacts ---------------------------------------------------------------------------


async def contact(http: aiohttp.ClientSession, gateway: SimulatedGateway, contact_id: str) -> str:
    listed = (await get(http, gateway, CONTACTS))["dry_contacts"]
    status: str = next(c["status"] for c in listed if c["id"] == contact_id)
    return status


async def test_a_dry_contact_switches_by_command(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, _ = await start(enphase_simulation_factory, "battery", NOON)
    assert await contact(http, gateway, "NC2") == "open"
    closed = {"dry_contacts": {"id": "NC2", "status": "closed"}}
    answer = await send(http, gateway, CONTACTS, closed)
    assert (answer.status, answer.json()) == (200, closed)
    assert await contact(http, gateway, "NC2") == "closed"
    await send(http, gateway, CONTACTS, {"dry_contacts": {"id": "NC2", "status": "open"}})
    assert await contact(http, gateway, "NC2") == "open"
    unknown = await send(http, gateway, CONTACTS, {"dry_contacts": {"id": "NC9", "status": "open"}})
    assert unknown.status == 400
    ajar = await send(http, gateway, CONTACTS, {"dry_contacts": {"id": "NC1", "status": "ajar"}})
    assert ajar.status == 400
    partial = await send(http, gateway, CONTACTS, {"dry_contacts": {"id": "NC1"}})
    assert partial.status == 500
    assert gateway.stats.bad_writes == {CONTACTS: 1}


async def test_dry_contact_settings_are_written_whole_and_take_effect(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, clock = await start(enphase_simulation_factory, "battery", NIGHT)
    gateway.set_battery_soc(25)
    await send(http, gateway, RELAY, {"mains_admin_state": "open"})
    clock.advance(5)
    assert await contact(http, gateway, "NC1") == "open"  # shed below soc_low, 30 %
    entry = (await get(http, gateway, CONTACT_SETTINGS))["dry_contacts"][0]
    entry["soc_low"] = 20.0
    answer = await send(http, gateway, CONTACT_SETTINGS, {"dry_contacts": entry})
    assert (answer.status, answer.json()) == (200, {"dry_contacts": entry})
    assert (await get(http, gateway, CONTACT_SETTINGS))["dry_contacts"][0] == entry
    assert await contact(http, gateway, "NC1") == "closed"  # 25 % is above the new level
    partial = {k: v for k, v in entry.items() if k != "priority"}
    extra = {**entry, "colour": "red"}
    wrong_type = {**entry, "soc_low": "20"}
    for body in ({"dry_contacts": partial}, {"dry_contacts": extra}, {"dry_contacts": wrong_type}):
        answer = await send(http, gateway, CONTACT_SETTINGS, body)
        assert answer.status == 500
        assert answer.headers["Content-Type"] == "text/plain"
    assert (await send(http, gateway, CONTACT_SETTINGS, None, raw=b"{not json")).status == 500
    assert gateway.stats.bad_writes[CONTACT_SETTINGS] == 4
    unknown = await send(http, gateway, CONTACT_SETTINGS, {"dry_contacts": {**entry, "id": "X"}})
    assert unknown.status == 400
    high = await send(http, gateway, CONTACT_SETTINGS, {"dry_contacts": {**entry, "soc_low": 101}})
    assert high.status == 400
    assert (await get(http, gateway, CONTACT_SETTINGS))["dry_contacts"][0] == entry


# --- generator ------------------------------------------------------------------------------


async def generator_state(http: aiohttp.ClientSession, gateway: SimulatedGateway) -> str:
    state: str = (await get(http, gateway, "/ivp/ensemble/generator"))["oper_state"]
    return state


async def test_the_generator_runs_when_told_and_charges_the_batteries(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, clock = await start(enphase_simulation_factory, "generator", NIGHT)
    gateway.set_battery_soc(60)
    answer = await send(http, gateway, GEN_MODE, {"gen_cmd": "on"})
    assert (answer.status, answer.json()) == (200, {"gen_cmd": "on"})
    assert (await get(http, gateway, GEN_MODE))["gen_cmd"] == "on"
    assert await generator_state(http, gateway) == "open"  # only off grid
    await send(http, gateway, RELAY, {"mains_admin_state": "open"})
    clock.advance(10)
    assert await generator_state(http, gateway) == "closed"
    live = await meters(http, gateway)
    assert live["generator"]["agg_p_mw"] > 0
    assert live["storage"]["agg_p_mw"] < 0  # what the load leaves charges the batteries
    before = (await get(http, gateway, "/ivp/ensemble/secctrl"))["ENC_agg_avail_energy"]
    clock.advance(600)
    assert (await get(http, gateway, "/ivp/ensemble/secctrl"))["ENC_agg_avail_energy"] > before
    await send(http, gateway, GEN_MODE, {"gen_cmd": "off"})
    assert await generator_state(http, gateway) == "open"
    assert (await meters(http, gateway))["generator"]["agg_p_mw"] == 0
    assert (await send(http, gateway, GEN_MODE, {"gen_cmd": "auto"})).status == 200
    assert await generator_state(http, gateway) == "open"  # 60 % is above its start level
    gateway.set_battery_soc(25)
    clock.advance(5)
    assert await generator_state(http, gateway) == "closed"
    assert (await send(http, gateway, GEN_MODE, {"gen_cmd": "turbo"})).status == 400
    assert (await send(http, gateway, GEN_MODE, {"cmd": "on"})).status == 500


async def test_writes_to_hardware_the_gateway_lacks_answer_404(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    simulation = await enphase_simulation_factory(
        profile=["metered", "battery", "legacy"], speed=0, start_time=NOON, cloud=False
    )
    metered, battery, legacy = simulation.gateways
    absent = [
        (metered, RELAY, {"mains_admin_state": "open"}, "POST"),
        (metered, CONTACTS, {"dry_contacts": {"id": "NC1", "status": "open"}}, "POST"),
        (battery, GEN_MODE, {"gen_cmd": "on"}, "POST"),
        (battery, ACB_CONFIG, {"acb_sleep": []}, "PUT"),
        (legacy, RELAY, {"mains_admin_state": "open"}, "POST"),  # 5.x has no such path
    ]
    for gateway, path, body, method in absent:
        answer = await send(http, gateway, path, body, method=method)
        assert answer.status == 404, (gateway.profile, path)
        assert answer.body == (await fetch(http, gateway, path + "_nothing")).body  # its form
    not_json = await send(http, metered, RELAY, None, raw=b"{")  # absent before malformed
    assert not_json.status == 404
    wrong_method = await send(http, battery, TARIFF, {"tariff": {}}, method="POST")
    assert wrong_method.status == 404


async def test_writes_are_authorised_like_reads(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    simulation = await enphase_simulation_factory(
        profile="battery", speed=0, start_time=NOON, cloud=False
    )
    gateway = simulation.gateways[0]
    body = {"mains_admin_state": "open"}
    unauthorised = await fetch(http, gateway, RELAY, auth=False, method="POST", body=body)
    assert unauthorised.status == 401
    gateway.installer_only.add(RELAY)
    assert (await send(http, gateway, RELAY, body)).status == 401
    installer = simulation.tokens.installer(gateway.serial)
    answer = await fetch(http, gateway, RELAY, token=installer, method="POST", body=body)
    assert answer.status == 200
    assert gateway.stats.writes == {RELAY: 1}


# --- tariff bodies --------------------------------------------------------------------------


async def test_partial_or_malformed_tariffs_are_refused(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, _ = await start(enphase_simulation_factory, "battery", NOON)
    whole = await get(http, gateway, TARIFF)
    tariff = whole["tariff"]
    storage = tariff["storage_settings"]
    without_seasons = {k: v for k, v in tariff.items() if k != "seasons"}
    without_reserve = {k: v for k, v in storage.items() if k != "reserved_soc"}
    malformed: list[object] = [
        {"tariff": without_seasons},
        {"tariff": {**tariff, "storage_settings": without_reserve}},
        {"tariff": {**tariff, "storage_settings": {**storage, "charge_from_grid": "yes"}}},
        whole,  # the schedule is not part of a write
        {"storage_settings": storage},
        [tariff],
    ]
    for body in malformed:
        assert (await send(http, gateway, TARIFF, body, method="PUT")).status == 500
    assert (await send(http, gateway, TARIFF, None, method="PUT", raw=b"<html>")).status == 500
    assert gateway.stats.bad_writes == {TARIFF: len(malformed) + 1}
    assert (await put_storage(http, gateway, mode="turbo")).status == 400
    assert (await put_storage(http, gateway, reserved_soc=150)).status == 400
    assert (await put_storage(http, gateway, mode="savings")).status == 400  # "economy" on the wire
    assert await get(http, gateway, TARIFF) == whole


async def test_a_written_tariff_is_kept_whole_and_its_peak_hours_followed(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, clock = await start(enphase_simulation_factory, "battery", NIGHT)
    gateway.set_battery_soc(80)
    tariff = (await get(http, gateway, TARIFF))["tariff"]
    tariff["storage_settings"]["mode"] = "economy"
    for season in tariff["seasons"]:  # the peak moves to 21:00-23:00
        season["days"][0]["periods"] = [
            {"id": "filler", "start": 0, "rate": 0.1},
            {"id": "period_1", "start": 1260, "rate": 0.5},
            {"id": "filler", "start": 1380, "rate": 0.1},
        ]
    assert (await send(http, gateway, TARIFF, {"tariff": tariff}, method="PUT")).status == 200
    assert (await get(http, gateway, TARIFF))["tariff"] == tariff
    assert await storage_mw(http, gateway) > 0  # 22:00 is in the new peak
    clock.advance(3600)
    assert await storage_mw(http, gateway) == 0


# --- AC Battery sleep -----------------------------------------------------------------------


async def acbs(http: aiohttp.ClientSession, gateway: SimulatedGateway) -> list[Any]:
    listed = {g["type"]: g["devices"] for g in await get(http, gateway, "/inventory.json")}
    return list(listed["ACB"])


async def test_ac_batteries_sleep_in_their_band_and_wake(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, clock = await start(enphase_simulation_factory, "acb", NIGHT)
    gateway.set_battery_soc(50)
    first, second = (b["serial_num"] for b in await acbs(http, gateway))
    assert (await get(http, gateway, "/production.json"))["storage"][0]["wNow"] > 0
    one = [{"serial_num": first, "sleep_min_soc": 40, "sleep_max_soc": 60}]
    answer = await send(http, gateway, ACB_CONFIG, {"acb_sleep": one}, method="PUT")
    assert (answer.status, answer.json()) == (200, {"acb_sleep": one})
    assert await get(http, gateway, ACB_CONFIG) == {"acb_sleep": one}
    listed = {b["serial_num"]: b for b in await acbs(http, gateway)}
    assert listed[first]["sleep_enabled"] is True
    assert (listed[first]["sleep_min_soc"], listed[first]["sleep_max_soc"]) == (40, 60)
    assert listed[first]["charge_status"] == "idle"
    assert listed[second]["sleep_enabled"] is False
    assert listed[second]["charge_status"] == "discharging"
    # A PUT adds to the sleeping ones: the first stays asleep.
    other = [{"serial_num": second, "sleep_min_soc": 25, "sleep_max_soc": 55}]
    assert (await send(http, gateway, ACB_CONFIG, {"acb_sleep": other}, method="PUT")).status == 200
    assert await get(http, gateway, ACB_CONFIG) == {"acb_sleep": [*one, *other]}
    assert (await get(http, gateway, "/production.json"))["storage"][0]["wNow"] == 0
    clock.advance(3600)
    assert (await get(http, gateway, "/production.json"))["storage"][0]["percentFull"] == 50
    # A DELETE wakes the ones it lists.
    wake = {"acb_sleep": [{"serial_num": first}]}
    answer = await send(http, gateway, ACB_CONFIG, wake, method="DELETE")
    assert (answer.status, answer.json()) == (200, wake)
    assert await get(http, gateway, ACB_CONFIG) == {"acb_sleep": other}
    wake = {"acb_sleep": [{"serial_num": second}]}
    assert (await send(http, gateway, ACB_CONFIG, wake, method="DELETE")).status == 200
    assert all(not b["sleep_enabled"] for b in await acbs(http, gateway))
    assert (await get(http, gateway, "/production.json"))["storage"][0]["wNow"] > 0
    refused = [
        (400, [{"serial_num": "000000000000", "sleep_min_soc": 25, "sleep_max_soc": 30}]),
        (400, [{"serial_num": first, "sleep_min_soc": 60, "sleep_max_soc": 30}]),  # inverted
        (400, [*one, *one]),  # twice
        (500, [{"serial_num": first, "sleep_min_soc": 25}]),  # partial
        (500, {"serial_num": first}),  # not a list
    ]
    for status, entries in refused:
        answer = await send(http, gateway, ACB_CONFIG, {"acb_sleep": entries}, method="PUT")
        assert answer.status == status, entries
    for status, entries in [
        (400, [{"serial_num": "000000000000"}]),
        (500, [{"serial_num": first, "sleep_min_soc": 25}]),
        (500, {"serial_num": first}),
    ]:
        answer = await send(http, gateway, ACB_CONFIG, {"acb_sleep": entries}, method="DELETE")
        assert answer.status == status, entries
    assert await get(http, gateway, ACB_CONFIG) == {"acb_sleep": []}


# --- faults ---------------------------------------------------------------------------------


async def test_an_ignored_tariff_write_answers_200_and_changes_nothing(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, _ = await start(enphase_simulation_factory, "battery", NIGHT)
    gateway.control_faults.ignore_writes()
    before = await get(http, gateway, TARIFF)
    answer = await put_storage(http, gateway, mode="backup", reserved_soc=80)
    assert answer.status == 200
    assert answer.json()["tariff"]["storage_settings"]["mode"] == "backup"  # it claims so
    assert await get(http, gateway, TARIFF) == before
    assert gateway.control_faults.served["ignore_writes"] == 1
    assert (await put_storage(http, gateway, reserved_soc="80")).status == 500  # still checked
    await send(http, gateway, CONTACTS, {"dry_contacts": {"id": "NC2", "status": "closed"}})
    assert await contact(http, gateway, "NC2") == "closed"  # other paths are not ignored
    gateway.control_faults.ignore_writes(enabled=False)
    assert (await put_storage(http, gateway, mode="backup")).status == 200
    assert (await storage_settings(http, gateway))["mode"] == "backup"


async def test_the_cloud_puts_the_previous_storage_settings_back(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, clock = await start(enphase_simulation_factory, "battery", NIGHT)
    gateway.set_battery_soc(80)
    gateway.control_faults.set_cloud_overwrite(90)
    assert (await put_storage(http, gateway, mode="backup", reserved_soc=40)).status == 200
    clock.advance(60)
    assert (await put_storage(http, gateway, charge_from_grid=True)).status == 200
    clock.advance(89)  # a second write: the cloud waits again, for the settings of before both
    written = await storage_settings(http, gateway)
    assert (written["mode"], written["reserved_soc"], written["charge_from_grid"]) == (
        "backup",
        40,
        True,
    )
    assert await storage_mw(http, gateway) == -BATTERY_POWER_MW
    clock.advance(2)
    reverted = await storage_settings(http, gateway)
    assert (reverted["mode"], reverted["reserved_soc"], reverted["charge_from_grid"]) == (
        "self-consumption",
        10,
        False,
    )
    assert await storage_mw(http, gateway) > 0
    assert gateway.control_faults.served["cloud_overwrite"] == 1
    # The batteries charged from the grid from the second write until the cloud undid it.
    charged = gateway.energy_truth().battery_charge_wh
    assert charged == pytest.approx(BATTERY_POWER_MW / 1000 * 90 / 3600, abs=0.5)
    clock.advance(600)
    assert gateway.energy_truth().battery_charge_wh == charged
    assert (await put_storage(http, gateway, mode="backup")).status == 200
    gateway.control_faults.set_cloud_overwrite(None)  # cancels what the cloud would undo
    clock.advance(600)
    assert (await storage_settings(http, gateway))["mode"] == "backup"


async def test_dry_contacts_read_open_while_a_settings_change_settles(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    gateway, clock = await start(enphase_simulation_factory, "battery", NOON)
    gateway.control_faults.set_dry_contact_settle(45)
    await send(http, gateway, CONTACTS, {"dry_contacts": {"id": "NC2", "status": "closed"}})
    assert await contact(http, gateway, "NC1") == "closed"
    entry = (await get(http, gateway, CONTACT_SETTINGS))["dry_contacts"][0]
    assert (await send(http, gateway, CONTACT_SETTINGS, {"dry_contacts": entry})).status == 200
    for _ in range(3):
        statuses = {c["status"] for c in (await get(http, gateway, CONTACTS))["dry_contacts"]}
        assert statuses == {"open"}
        clock.advance(14)
    clock.advance(4)
    assert await contact(http, gateway, "NC1") == "closed"
    assert await contact(http, gateway, "NC2") == "closed"  # NC2's own command stays
    assert gateway.control_faults.served["dry_contact_settle"] == 1


async def control(
    http: aiohttp.ClientSession, simulation: Simulation, method: str, path: str, body: object
) -> tuple[int, Any]:
    assert simulation.control_url is not None
    async with http.request(method, simulation.control_url + path, json=body) as response:
        return response.status, await response.json()


async def test_the_control_api_switches_the_write_faults(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession
) -> None:
    simulation = await enphase_simulation_factory(
        profile="battery", speed=0, start_time=NIGHT, cloud=False
    )
    gateway = simulation.gateways[0]
    base = f"/gateways/{gateway.serial}/faults"
    status, active = await control(http, simulation, "POST", base + "/ignore_writes", {})
    assert (status, active) == (200, {"ignore_writes": [TARIFF]})
    status, active = await control(
        http, simulation, "POST", base + "/ignore_writes", {"path": CONTACTS}
    )
    assert active == {"ignore_writes": [TARIFF, CONTACTS]}
    status, active = await control(
        http, simulation, "POST", base + "/cloud_overwrite", {"delay_s": 60}
    )
    assert active["cloud_overwrite"] == {"delay_s": 60.0}
    status, active = await control(
        http, simulation, "POST", base + "/dry_contact_settle", {"seconds": 30}
    )
    assert active["dry_contact_settle"] == {"seconds": 30.0}
    await put_storage(http, gateway, mode="backup")
    await send(http, gateway, "/ivp/ss/gen_mode", {"gen_cmd": "on"})  # absent: 404
    await send(http, gateway, TARIFF, None, method="PUT", raw=b"{")
    status, described = await control(http, simulation, "GET", f"/gateways/{gateway.serial}", None)
    assert described["control_faults"] == active
    assert described["stats"]["writes"] == {TARIFF: 1}
    assert described["stats"]["bad_writes"] == {TARIFF: 1}
    assert described["site"]["storage_mode"] == "self-consumption"  # the write was ignored
    assert (await control(http, simulation, "DELETE", base, None))[0] == 200
    assert gateway.control_faults.active() == {}
    status, _ = await control(http, simulation, "POST", base + "/ignore_writes", {"path": "/x"})
    assert status == 400
    status, _ = await control(
        http, simulation, "POST", base + "/cloud_overwrite", {"delay_s": None}
    )
    assert status == 200
    assert (await put_storage(http, gateway, mode="backup")).status == 200
    _, described = await control(http, simulation, "GET", f"/gateways/{gateway.serial}", None)
    assert described["site"]["storage_mode"] == "backup"
