"""Every profile answers the battery, System Controller, settings and detail endpoints as a real
gateway of its kind does: status and dress per firmware, bodies per hardware."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.harness import Simulation
from enphase_local.simulator.profiles import PROFILES, Profile

from .conftest import NOON, Answer, fetch

pytestmark = pytest.mark.enphase_simulation(profile=list(PROFILES), speed=0, start_time=NOON)

#: Dress of a reply: (status, Content-Type).
IVP = (200, None)
WEB = (200, "application/json")
ERROR_404 = (404, "application/json; charset=ISO-8859-4")  # { "error" : "404 - Not Found" }
ERR_404 = (404, None)  # { "err": "404 - Not Found" }
#: The firmware classes of the profiles.
FIRMWARE = {
    "metered": "8.2",
    "acb": "8.2",
    "three-phase": "7",
    "standard": "8.3",
    "battery": "8.3",
    "generator": "8.3",
    "collar": "8.3",
    "legacy": "5",
    "legacy-html": "3.7",
}
ENSEMBLE_PATHS = (
    "/ivp/ensemble/inventory",
    "/ivp/ensemble/power",
    "/ivp/ensemble/secctrl",
    "/ivp/ensemble/status",
    "/ivp/ensemble/relay",
    "/ivp/ensemble/dry_contacts",
    "/ivp/ensemble/generator",
)
SS_PATHS = (
    "/ivp/ss/dry_contact_settings",
    "/ivp/ss/gen_config",
    "/ivp/ss/gen_schedule",
    "/ivp/ss/gen_mode",
    "/ivp/sc/pvlimit",
    "/ivp/ss/pel_settings",
)

ALL_PATHS = (
    *ENSEMBLE_PATHS,
    *SS_PATHS,
    "/admin/lib/tariff",
    "/admin/lib/acb_config",
    "/ivp/pdm/device_data",
    "/ivp/meters/pvReading",
    "/production.json",
    "/production.json?details=1",
    "/inventory.json",
    "/inventory.json?deleted=1",
    "/home",
    "/production",
)


def expected(path: str, firmware: str) -> tuple[int, str | None]:
    """What a gateway of this firmware answers, from the captures (see firmware.py)."""
    legacy = firmware in ("5", "3.7")
    not_found = ERROR_404 if legacy else ERR_404
    ss_not_found = ERR_404 if firmware == "5" else ERROR_404  # 5.0.62 vs 3.x forms
    admin = (200, None) if firmware == "8.3" else WEB  # 8.3 sends the tariff untyped
    newest = firmware in ("8.2", "8.3")  # device_data and pvReading: 8.x only
    table: dict[str, tuple[int, str | None]] = {
        **dict.fromkeys(ENSEMBLE_PATHS, ERROR_404 if legacy else IVP),
        **dict.fromkeys(SS_PATHS, ss_not_found if legacy else IVP),
        "/admin/lib/tariff": ERROR_404 if firmware == "3.7" else admin,
        "/admin/lib/acb_config": ERROR_404 if legacy else admin,
        "/ivp/pdm/device_data": IVP if newest else not_found,
        "/ivp/meters/pvReading": IVP if newest else not_found,
        "/production.json": WEB,  # 3.7: its "Page Not Found" page, status 200, as JSON
        "/production.json?details=1": WEB,
        "/inventory.json": ERROR_404 if firmware == "3.7" else WEB,
        "/inventory.json?deleted=1": ERROR_404 if firmware == "3.7" else WEB,
        "/home": ERROR_404 if legacy else WEB,
        "/production": (401, "text/html") if firmware == "5" else WEB,
    }
    return table[path]


@pytest.fixture(autouse=True)
def fast(enphase_simulation: Simulation) -> None:
    """No slow web back end here: test_site.py measures it."""
    for gateway in enphase_simulation.gateways:
        gateway.faults.set_slow(0.0)


def profile_of(gateway: SimulatedGateway) -> Profile:
    assert gateway.profile is not None
    return gateway.profile


async def get(http: aiohttp.ClientSession, gateway: SimulatedGateway, path: str) -> Answer:
    return await fetch(http, gateway, path, auth=profile_of(gateway).web_tokens)


async def get_json(http: aiohttp.ClientSession, gateway: SimulatedGateway, path: str) -> Any:
    answer = await get(http, gateway, path)
    assert answer.status == 200, path
    return answer.json()


def by_name(simulation: Simulation, name: str) -> SimulatedGateway:
    return next(g for g in simulation.gateways if profile_of(g).name == name)


async def test_status_and_dress_per_firmware(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    for gateway in enphase_simulation.gateways:
        firmware = FIRMWARE[profile_of(gateway).name]
        for path in ALL_PATHS:
            answer = await get(http, gateway, path)
            dress = (answer.status, answer.headers.get("Content-Type"))
            assert dress == expected(path, firmware), (profile_of(gateway).name, path)
            if answer.status == 404 and dress == ERROR_404:
                assert answer.json() == {"error": "404 - Not Found"}
            elif answer.status == 404:
                assert answer.json() == {"err": "404 - Not Found"}


async def test_owner_tokens_read_them_and_no_token_is_refused(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = by_name(enphase_simulation, "battery")
    for path in (*ENSEMBLE_PATHS, *SS_PATHS, "/admin/lib/tariff", "/home", "/production.json"):
        refused = await fetch(http, gateway, path, auth=False)
        assert refused.status == 401, path
        assert refused.headers["Content-Type"] == "text/html"
        assert (await fetch(http, gateway, path)).status == 200, path


async def test_inventory_lists_the_hardware_of_each_kind(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    kinds = {
        "battery": {"ENCHARGE": 2, "ENPOWER": 1},
        "generator": {"ENCHARGE": 3, "ENPOWER": 1},
        "collar": {"ENCHARGE": 2, "COLLAR": 1, "C6 COMBINER CONTROLLER": 1},
    }
    for gateway in enphase_simulation.gateways:
        profile = profile_of(gateway)
        if profile.legacy:
            continue
        inventory = await get_json(http, gateway, "/ivp/ensemble/inventory")
        found = {group["type"]: len(group["devices"]) for group in inventory}
        assert found == kinds.get(profile.name, {}), profile.name
        power = await get_json(http, gateway, "/ivp/ensemble/power")
        assert list(power) == ["devices:"]  # the key really ends in a colon
        assert len(power["devices:"]) == profile.iq_batteries
        for battery in power["devices:"]:
            assert set(battery) == {"serial_num", "real_power_mw", "apparent_power_mva", "soc"}
            assert all(isinstance(battery[k], int) for k in ("real_power_mw", "soc"))


async def test_generator_endpoints_only_with_a_generator(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    generator = by_name(enphase_simulation, "generator")
    state = await get_json(http, generator, "/ivp/ensemble/generator")
    assert (state["present"], state["admin_mode"], state["start_soc"]) == (1, 2, 30)
    config = await get_json(http, generator, "/ivp/ss/gen_config")
    assert config["gen_type"] == "Standby"
    schedule = await get_json(http, generator, "/ivp/ss/gen_schedule")
    assert schedule["default_soc"] == {"start_soc": 30, "stop_soc": 70}
    assert (await get_json(http, generator, "/ivp/ss/gen_mode"))["gen_cmd"] == "auto"
    battery = by_name(enphase_simulation, "battery")
    state = await get_json(http, battery, "/ivp/ensemble/generator")
    assert (state["present"], state["admin_state"], state["stop_soc"]) == (0, "unknown", -1)
    for path in ("/ivp/ss/gen_config", "/ivp/ss/gen_schedule", "/ivp/ss/gen_mode"):
        assert await get_json(http, battery, path) == {}


async def test_ac_batteries_appear_in_the_web_back_end_only(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    acb = by_name(enphase_simulation, "acb")
    assert await get_json(http, acb, "/ivp/ensemble/inventory") == []
    storage = (await get_json(http, acb, "/production.json"))["storage"]
    assert [(s["type"], s["activeCount"]) for s in storage] == [("acb", 2)]
    assert set(storage[0]) >= {"wNow", "whNow", "percentFull", "state"}
    listed = {g["type"]: g["devices"] for g in await get_json(http, acb, "/inventory.json")}
    assert len(listed["ACB"]) == 2
    assert {d["percentFull"] for d in listed["ACB"]} == {storage[0]["percentFull"]}
    assert await get_json(http, acb, "/admin/lib/acb_config") == {"acb_sleep": []}
    secctrl = await get_json(http, acb, "/ivp/ensemble/secctrl")
    assert secctrl["ACB_agg_soc"] == storage[0]["percentFull"]
    assert secctrl["ENC_agg_soc"] == 0
    metered = by_name(enphase_simulation, "metered")
    idle = (await get_json(http, metered, "/production.json"))["storage"]
    assert idle == [
        {"type": "acb", "activeCount": 0, "readingTime": 0, "wNow": 0, "whNow": 0, "state": "idle"}
    ]


async def test_settings_bodies(enphase_simulation: Simulation, http: aiohttp.ClientSession) -> None:
    battery = by_name(enphase_simulation, "battery")
    tariff = await get_json(http, battery, "/admin/lib/tariff")
    assert tariff["tariff"]["storage_settings"]["mode"] == "self-consumption"
    assert (
        tariff["schedule"]["reserved_soc"] == tariff["tariff"]["storage_settings"]["reserved_soc"]
    )
    contacts = (await get_json(http, battery, "/ivp/ss/dry_contact_settings"))["dry_contacts"]
    assert [c["id"] for c in contacts] == ["NC1", "NC2", "NO1", "NO2"]
    assert contacts[0]["type"] == "LOAD"
    assert await get_json(http, battery, "/ivp/sc/pvlimit") == {
        "enable": False,
        "pv_limit_pct": 100,
    }
    assert (await get_json(http, battery, "/ivp/ss/pel_settings"))["PEL"] is False
    metered = by_name(enphase_simulation, "metered")
    assert await get_json(http, metered, "/ivp/ss/pel_settings") == {"PEL": False}
    legacy = by_name(enphase_simulation, "legacy")
    old = await get_json(http, legacy, "/admin/lib/tariff")
    assert "storage_settings" not in old["tariff"]
    assert set(old["schedule"]) == {"source", "date", "version"}


async def test_home_and_web_pages_are_compact_json(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = by_name(enphase_simulation, "generator")
    for path in ("/home", "/production.json", "/inventory.json", "/admin/lib/tariff"):
        answer = await get(http, gateway, path)
        assert b"\n" not in answer.body.rstrip(b"\n"), path  # one line, as the device writes
    home = await get_json(http, gateway, "/home")
    assert home["timezone"] == "UTC"
    assert home["current_date"] == NOON.strftime("%m/%d/%Y")
    assert home["comm"]["pcu"]["num"] == profile_of(gateway).inverter_count
    assert home["comm"]["encharge"][0]["num"] == 3
    assert home["comm"]["esub"]["num"] == 1
    answer = await get(http, gateway, "/home")
    assert answer.headers["Cache-Control"] == "no-cache"


async def test_removed_microinverters_are_listed_as_gone(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    standard = by_name(enphase_simulation, "standard")
    data = await get_json(http, standard, "/ivp/pdm/device_data")
    gone = [d for k, d in data.items() if k.isdigit() and d["modGone"]]
    assert len(gone) == 2
    assert all(d["active"] is False and d["channels"][0]["lastReading"] == {} for d in gone)
    assert data["deviceCount"] == 12 + 2
    assert data["deviceDataLimit"] == 50
    listed = (await get_json(http, standard, "/inventory.json"))[0]["devices"]
    with_deleted = (await get_json(http, standard, "/inventory.json?deleted=1"))[0]["devices"]
    assert len(listed) == 12
    assert len(with_deleted) == 14
    assert {d["sn"] for d in gone} == {
        d["serial_num"] for d in with_deleted if "producing" not in d
    }


async def test_old_firmware_serves_production_as_a_page(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    oldest = by_name(enphase_simulation, "legacy-html")
    page = await get(http, oldest, "/production")
    assert page.status == 200
    assert b"<h1>System Energy Production</h1>" in page.body
    assert b"<tr><td>Currently</td>" in page.body
    soft = await get(http, oldest, "/production.json")
    assert (soft.status, soft.headers["Content-Type"]) == (200, "application/json")
    assert b"Page Not Found" in soft.body
    assert (await get(http, oldest, "/api/v1/production")).status == 404
    legacy = by_name(enphase_simulation, "legacy")
    refused = await get(http, legacy, "/production")
    assert refused.body == b"<html><body><h2>401 Unauthorized</h2></body></html>\n"
    assert refused.headers["WWW-Authenticate"].startswith("Digest ")
    digest = aiohttp.DigestAuthMiddleware("envoy", legacy.serial[-6:])
    async with (
        aiohttp.ClientSession(middlewares=(digest,)) as client,
        client.get(legacy.url + "/production") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/html"
        assert "<title>production</title>" in await response.text()


async def test_seven_x_counts_the_requests_it_serves(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = by_name(enphase_simulation, "three-phase")
    before = (await get_json(http, gateway, "/ivp/ensemble/status"))["counters"]
    for _ in range(2):
        await get_json(http, gateway, "/ivp/ensemble/power")
    after = (await get_json(http, gateway, "/ivp/ensemble/status"))["counters"]
    assert after["rest_StatusGet"] == before["rest_StatusGet"] + 1
    assert after["rest_Power"] == before["rest_Power"] + 2
    assert "counters" not in await get_json(
        http, by_name(enphase_simulation, "metered"), "/ivp/ensemble/status"
    )
