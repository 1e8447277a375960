"""Every endpoint of every profile answers with the wire shapes of the brief and captures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest
from lxml import etree

from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.harness import Simulation
from enphase_local.simulator.profiles import Profile
from enphase_local.simulator.pytest_plugin import SimulationFactory

from .conftest import NOON, fetch

pytestmark = pytest.mark.enphase_simulation(
    profile=["metered", "three-phase", "standard", "battery", "legacy"],
    speed=0,
    start_time=NOON,
)

READING_KEYS = {
    "eid": int,
    "timestamp": int,
    "actEnergyDlvd": float,
    "actEnergyRcvd": float,
    "apparentEnergy": float,
    "reactEnergyLagg": float,
    "reactEnergyLead": float,
    "instantaneousDemand": float,
    "activePower": float,
    "apparentPower": float,
    "reactivePower": float,
    "pwrFactor": float,
    "voltage": float,
    "current": float,
    "freq": float,
}
METER_KEYS = {
    "eid": int,
    "state": str,
    "measurementType": str,
    "phaseMode": str,
    "phaseCount": int,
    "meteringStatus": str,
    "statusFlags": list,
}
ENERGY_KEYS = {
    "wattHoursToday": int,
    "wattHoursSevenDays": int,
    "wattHoursLifetime": int,
    "wattsNow": int,
}
INVERTER_KEYS = {
    "serialNumber": str,
    "lastReportDate": int,
    "devType": int,
    "lastReportWatts": int,
    "maxReportWatts": int,
}
REPORT_LINE_KEYS = dict.fromkeys(
    [
        "currW",
        "actPower",
        "apprntPwr",
        "reactPwr",
        "whDlvdCum",
        "whRcvdCum",
        "varhLagCum",
        "varhLeadCum",
        "vahCum",
        "rmsVoltage",
        "rmsCurrent",
        "pwrFactor",
        "freqHz",
    ],
    float,
)
GRID_CHANNEL_KEYS = {
    "phase": str,
    "activePower": float,
    "reactivePower": float,
    "voltage": float,
    "current": float,
    "freq": float,
}
LIVE_METER_KEYS = dict.fromkeys(
    [
        "agg_p_mw",
        "agg_s_mva",
        "agg_p_ph_a_mw",
        "agg_p_ph_b_mw",
        "agg_p_ph_c_mw",
        "agg_s_ph_a_mva",
        "agg_s_ph_b_mva",
        "agg_s_ph_c_mva",
    ],
    int,
)


def assert_keys(item: dict[str, Any], spec: Mapping[str, type]) -> None:
    """``item`` has exactly the keys of ``spec`` (in order), each of its type."""
    assert list(item) == list(spec)
    for key, kind in spec.items():
        value = item[key]
        assert isinstance(value, kind), (key, value)
        assert not isinstance(value, bool), (key, value)


def profile_of(gateway: SimulatedGateway) -> Profile:
    assert gateway.profile is not None
    return gateway.profile


def by_profile(simulation: Simulation, name: str) -> SimulatedGateway:
    return next(g for g in simulation.gateways if profile_of(g).name == name)


async def test_info_is_open_xml_per_firmware(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    for gateway in enphase_simulation.gateways:
        answer = await fetch(http, gateway, "/info", auth=False)
        assert answer.status == 200
        profile = profile_of(gateway)
        assert answer.headers.get("Content-Type") == profile.info_content_type
        root = etree.fromstring(answer.body)
        assert root.tag == "envoy_info"
        assert root.findtext("device/sn") == gateway.serial
        assert root.findtext("device/software") == profile.software
        assert root.findtext("device/imeter") == ("true" if profile.imeter else "false")
        assert (root.findtext("web-tokens") == "true") is profile.web_tokens
        assert int(root.findtext("time") or 0) == int(NOON.timestamp())
        assert gateway.url.startswith("https://" if profile.https else "http://")


async def test_headers_are_openresty_without_content_type_on_ivp(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    gateway = by_profile(enphase_simulation, "metered")
    ivp = await fetch(http, gateway, "/ivp/meters/readings")
    assert ivp.status == 200
    assert "Content-Type" not in ivp.headers
    assert ivp.headers["Server"] == "openresty/1.17.8.1"
    assert ivp.headers["X-Frame-Options"] == "DENY"
    assert ivp.headers["X-Content-Type-Options"] == "nosniff"
    assert ivp.headers["Strict-Transport-Security"].startswith("max-age=")
    api = await fetch(http, gateway, "/api/v1/production")
    assert api.headers["Content-Type"] == "application/json"
    legacy = by_profile(enphase_simulation, "legacy")
    old = await fetch(http, legacy, "/api/v1/production", auth=False)
    assert old.status == 200
    assert "Server" not in old.headers
    assert old.headers["Connection"] == "close"


async def test_meters_and_readings(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    for gateway in enphase_simulation.gateways:
        profile = profile_of(gateway)
        auth = not profile.legacy
        meters = (await fetch(http, gateway, "/ivp/meters", auth=auth)).json()
        readings = (await fetch(http, gateway, "/ivp/meters/readings", auth=auth)).json()
        assert [m["measurementType"] for m in meters] == [m.value for m in profile.meters]
        for meter in meters:
            assert_keys(meter, METER_KEYS)
            assert meter["phaseMode"] == profile.phase_mode
            assert meter["phaseCount"] == profile.phase_count
        meter_eids = [m["eid"] for m in meters]
        reading_eids = [r["eid"] for r in readings]
        if profile.reorders_readings:  # 8.3: join by eid, never by position
            assert reading_eids == meter_eids[::-1]
        else:
            assert reading_eids == meter_eids
        for reading in readings:
            channels = reading.pop("channels")
            assert_keys(reading, READING_KEYS)
            assert len(channels) == 3
            for channel in channels:
                assert_keys(channel, READING_KEYS)
            used = channels[: profile.phase_count]
            assert reading["voltage"] == pytest.approx(sum(c["voltage"] for c in used), abs=0.01)
            assert reading["activePower"] == pytest.approx(
                sum(c["activePower"] for c in used), abs=0.01
            )
            for spare in channels[profile.phase_count :]:
                assert spare["activePower"] == 0.0
                assert spare["freq"] == pytest.approx(profile.frequency_hz, abs=0.05)


async def test_production_energy_and_inverters(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    for gateway in enphase_simulation.gateways:
        profile = profile_of(gateway)
        auth = not profile.legacy
        production = (await fetch(http, gateway, "/api/v1/production", auth=auth)).json()
        assert_keys(production, ENERGY_KEYS)
        assert production["wattsNow"] > 0  # noon in midsummer
        assert 0 < production["wattHoursToday"] <= production["wattHoursSevenDays"]
        assert production["wattHoursSevenDays"] < production["wattHoursLifetime"]
        if profile.legacy:
            continue  # inverters need digest auth there; see test_auth
        inverters = (await fetch(http, gateway, "/api/v1/production/inverters")).json()
        assert len(inverters) == profile.inverter_count
        for inverter in inverters:
            assert_keys(inverter, INVERTER_KEYS)
            assert inverter["lastReportWatts"] <= inverter["maxReportWatts"]
            assert inverter["lastReportDate"] <= NOON.timestamp()
        assert len({i["lastReportDate"] for i in inverters}) > 1  # staggered
        energy = (await fetch(http, gateway, "/ivp/pdm/energy")).json()
        assert list(energy) == ["production", "consumption"]
        assert list(energy["production"]) == ["pcu", "rgm", "eim"]
        assert list(energy["consumption"]) == ["eim"]
        for block in (*energy["production"].values(), energy["consumption"]["eim"]):
            assert_keys(block, ENERGY_KEYS)
        assert energy["production"]["pcu"]["wattsNow"] == sum(
            i["lastReportWatts"] for i in inverters
        )
        if profile.meters:
            assert energy["production"]["eim"] == production
        else:
            assert energy["production"]["pcu"] == production
            assert energy["production"]["eim"]["wattHoursLifetime"] == 0


async def test_consumption_reports_and_grid_readings(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    for gateway in enphase_simulation.gateways:
        profile = profile_of(gateway)
        if profile.legacy:
            continue
        reports = (await fetch(http, gateway, "/ivp/meters/reports/consumption")).json()
        grid = (await fetch(http, gateway, "/ivp/meters/gridReading")).json()
        if not profile.meters:
            assert reports == []
            assert grid == []
            continue
        assert [r["reportType"] for r in reports] == ["total-consumption", "net-consumption"]
        for report in reports:
            assert list(report) == ["createdAt", "reportType", "cumulative", "lines"]
            assert report["createdAt"] == int(NOON.timestamp())
            assert_keys(report["cumulative"], REPORT_LINE_KEYS)
            assert len(report["lines"]) == profile.phase_count
            for line in report["lines"]:
                assert_keys(line, REPORT_LINE_KEYS)
        assert len(grid) == 1
        assert list(grid[0]) == ["channels"]
        assert [c["phase"] for c in grid[0]["channels"]] == ["L1", "L2", "L3"]
        for channel in grid[0]["channels"]:
            assert_keys(channel, GRID_CHANNEL_KEYS)
        all_reports = (await fetch(http, gateway, "/ivp/meters/reports")).json()
        assert [r["reportType"] for r in all_reports] == [
            "production",
            "total-consumption",
            "net-consumption",
        ]


async def test_live_data_shape_and_stream_switch(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    for gateway in enphase_simulation.gateways:
        profile = profile_of(gateway)
        if profile.legacy:
            answer = await fetch(http, gateway, "/ivp/livedata/status", auth=False)
            assert answer.status == 404
            continue
        switched = await fetch(
            http, gateway, "/ivp/livedata/stream", method="POST", body={"enable": 1}
        )
        assert switched.status == 200
        assert switched.json() == {"sc_stream": "enabled"}
        live = (await fetch(http, gateway, "/ivp/livedata/status")).json()
        assert list(live) == ["connection", "meters", "tasks", "counters"]
        assert live["connection"]["sc_stream"] == "enabled"
        meters = live["meters"]
        for section in ("pv", "storage", "grid", "load", "generator"):
            assert_keys(meters[section], LIVE_METER_KEYS)
        assert meters["is_split_phase"] == (1 if profile.phase_mode == "split" else 0)
        assert meters["phase_count"] == profile.phase_count
        assert meters["last_update"] == int(NOON.timestamp())
        if profile.meters:
            # Kilowatts at noon, in milliwatts (the production CT also sees a charging battery).
            pv_and_battery = meters["pv"]["agg_p_mw"] - meters["storage"]["agg_p_mw"]
            assert pv_and_battery > 1_000_000
        off = await fetch(http, gateway, "/ivp/livedata/stream", method="POST", body={"enable": 0})
        assert off.json() == {"sc_stream": "disabled"}
        bad = await fetch(http, gateway, "/ivp/livedata/stream", method="POST", body={"on": 1})
        assert bad.status == 400


async def test_device_list(enphase_simulation: Simulation, http: aiohttp.ClientSession) -> None:
    battery = by_profile(enphase_simulation, "battery")
    devices = (await fetch(http, battery, "/ivp/ensemble/device_list")).json()
    assert list(devices) == ["usb", "devices"]
    assert len(devices["devices"]) == profile_of(battery).battery_count
    for device in devices["devices"]:
        assert device["device_type"] == 13
        assert device["com_interface_str"] == "CAN"
        assert device["status"] == "Connected"
        assert device["dev_info"]["capacity"] == 4960
    for name in ("metered", "standard", "three-phase"):
        answer = await fetch(
            http, by_profile(enphase_simulation, name), "/ivp/ensemble/device_list"
        )
        assert answer.status == 404
        assert answer.json() == {"err": "404 - Not Found"}
        assert "Content-Type" not in answer.headers


async def test_not_found_forms(enphase_simulation: Simulation, http: aiohttp.ClientSession) -> None:
    metered = by_profile(enphase_simulation, "metered")
    ivp = await fetch(http, metered, "/ivp/nothing/here")
    assert (ivp.status, ivp.json()) == (404, {"err": "404 - Not Found"})
    page = await fetch(http, metered, "/nothing")
    assert page.status == 404
    assert page.headers["Content-Type"] == "text/html"
    assert b"404 Not Found" in page.body
    legacy = by_profile(enphase_simulation, "legacy")
    old = await fetch(http, legacy, "/ivp/pdm/energy", auth=False)
    assert (old.status, old.json()) == (404, {"error": "404 - Not Found"})
    assert old.headers["Content-Type"] == "application/json; charset=ISO-8859-4"
    gateway = enphase_simulation.gateways[0]
    gateway.removed_paths.add("/ivp/meters")
    gone = await fetch(http, gateway, "/ivp/meters")
    assert gone.status == 404


@pytest.mark.parametrize("profile", ["metered", "three-phase", "battery"])
async def test_grid_readings_match_net_meter(
    enphase_simulation_factory: SimulationFactory, http: aiohttp.ClientSession, profile: str
) -> None:
    simulation = await enphase_simulation_factory(profile=profile, speed=0, start_time=NOON)
    gateway = simulation.gateways[0]
    readings = (await fetch(http, gateway, "/ivp/meters/readings")).json()
    grid = (await fetch(http, gateway, "/ivp/meters/gridReading")).json()
    net = next(r for r in readings if r["eid"] == 704643584)
    for channel, phase in zip(net["channels"], grid[0]["channels"], strict=True):
        assert phase["activePower"] == channel["activePower"]
        assert phase["voltage"] == channel["voltage"]
