"""Simulated bodies keep the shape of real ones, so the simulator cannot drift from reality.

Each simulated body is compared with every real capture of its endpoint: every key it has
occurs in some capture with the same JSON type, and it has every key that all captures of
the same firmware generation (and metering) have. Gateways without the hardware answer
exactly what the capture of their firmware holds (404 forms, empty lists).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from enphase_local.simulator.harness import Simulation
from enphase_local.simulator.profiles import PROFILES
from tests.conftest import capture_sets, skip_without_captures

from .captures import TARGETS, is_error_form, real_bodies, recorded
from .conftest import NOON, fetch
from .shapes import differences, shape_of

pytestmark = [
    skip_without_captures(),
    pytest.mark.enphase_simulation(profile=list(PROFILES), speed=0, start_time=NOON),
]

#: Each endpoint and the capture files that hold its body.
COMPARED = {
    "/ivp/ensemble/inventory": ("ivp_ensemble_inventory",),
    "/ivp/ensemble/power": ("ivp_ensemble_power",),
    "/ivp/ensemble/secctrl": ("ivp_ensemble_secctrl",),
    "/ivp/ensemble/status": ("ivp_ensemble_status",),
    "/ivp/ensemble/relay": ("ivp_ensemble_relay",),
    "/ivp/ensemble/dry_contacts": ("ivp_ensemble_dry_contacts",),
    "/ivp/ss/dry_contact_settings": ("ivp_ss_dry_contact_settings",),
    "/ivp/ensemble/generator": ("ivp_ensemble_generator",),
    "/ivp/ss/gen_config": ("ivp_ss_gen_config",),
    "/ivp/ss/gen_schedule": ("ivp_ss_gen_schedule",),
    "/ivp/ss/gen_mode": ("ivp_ss_gen_mode",),
    "/admin/lib/tariff": ("admin_lib_tariff",),
    "/admin/lib/acb_config": ("admin_lib_acb_config",),
    "/ivp/sc/pvlimit": ("ivp_sc_pvlimit",),
    "/ivp/ss/pel_settings": ("ivp_ss_pel_settings",),
    "/ivp/pdm/device_data": ("ivp_pdm_device_data",),
    "/production.json": ("production.json",),
    "/production.json?details=1": ("production.json_details_1", "production.json"),
    "/production": ("production", "production.json"),
    "/inventory.json": ("inventory.json_deleted_1", "inventory"),
    "/inventory.json?deleted=1": ("inventory.json_deleted_1", "inventory"),
    "/home": ("home",),
    "/ivp/meters/reports": ("ivp_meters_reports",),
    "/ivp/meters/pvReading": ("ivp_meters_pvReading",),
}
#: Inventory groups no capture holds, with the keys pyenphase's models of them read.
UNCAPTURED = {
    "COLLAR": {
        "part_num",
        "serial_num",
        "installed",
        "last_rpt_date",
        "admin_state",
        "admin_state_str",
        "img_load_date",
        "img_pnum_running",
        "communicating",
        "temperature",
        "mid_state",
        "grid_state",
        "control_error",
        "collar_state",
    },
    "C6 COMBINER CONTROLLER": {
        "part_num",
        "serial_num",
        "installed",
        "last_rpt_date",
        "admin_state",
        "admin_state_str",
        "img_load_date",
        "fw_version",
        "dmir_version",
        "communicating",
    },
}
#: Profiles and the capture set of the same firmware and (missing) hardware.
TWINS = {
    "legacy": "5.0.62",
    "legacy-html": "3.7.0",
    "three-phase": "7.6.175_with_cts",
    "acb": "8.2.4382_ACB_2",
    "standard": "8.3.5433_tot_is_net_cons",
}


@pytest.fixture(autouse=True)
def fast(enphase_simulation: Simulation) -> None:
    for gateway in enphase_simulation.gateways:
        gateway.faults.set_slow(0.0)


def _without_uncaptured(target: str, body: Any) -> Any:
    """The body minus the groups no capture holds (checked against pyenphase's models)."""
    if target != "/ivp/ensemble/inventory":
        return body
    for group in body:
        for device in group["devices"] if group["type"] in UNCAPTURED else ():
            missing = UNCAPTURED[group["type"]] - set(device)
            assert not missing, (group["type"], missing)
    return [group for group in body if group["type"] not in UNCAPTURED]


async def test_every_body_has_the_shape_of_the_captures(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    drift: list[str] = []
    for target, names in COMPARED.items():
        captured = real_bodies(*names)
        assert captured, f"no capture holds {target}"
        reality = shape_of(body for _, body in captured)
        compared = 0
        for gateway in enphase_simulation.gateways:
            profile = gateway.profile
            assert profile is not None
            answer = await fetch(http, gateway, target, auth=profile.web_tokens)
            if answer.status != 200 or answer.body.lstrip().startswith(b"<"):
                continue
            compared += 1
            peers = shape_of(
                body
                for capture, body in captured
                if capture.version[:2] == profile.firmware_version[:2]
                and capture.metered == profile.imeter
            )
            body = _without_uncaptured(target, answer.json())
            drift += [f"{profile.name} {target} {d}" for d in differences(body, reality, peers)]
        assert compared, f"no profile serves {target}"
    assert not drift, "\n".join(drift)


async def test_gateways_without_the_hardware_answer_as_their_capture(
    enphase_simulation: Simulation, http: aiohttp.ClientSession
) -> None:
    sets = {folder.name: folder for folder in capture_sets()}
    compared = 0
    for gateway in enphase_simulation.gateways:
        profile = gateway.profile
        assert profile is not None
        folder: Path | None = sets.get(TWINS.get(profile.name, ""))
        if folder is None:
            continue
        for name, target in TARGETS.items():
            capture = recorded(folder, name)
            if capture is None or target not in COMPARED:
                continue
            try:
                real = capture.json()
            except ValueError:
                continue
            if not (is_error_form(real) or _empty(real)):
                continue
            answer = await fetch(http, gateway, target, auth=profile.web_tokens)
            assert (answer.status, answer.json()) == (capture.status, real), (profile.name, name)
            compared += 1
    assert compared >= 20


def _empty(value: object) -> bool:
    """``[]``, ``{}`` or an object of empty lists (``{"devices:": []}``)."""
    if isinstance(value, dict):
        return all(item == [] for item in value.values())
    return value == []
