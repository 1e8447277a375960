"""The real captures under ``$ENPHASE_FIXTURES``, read for comparison (never copied)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import attrs

from enphase_local.simulator.firmware import parse_version
from tests.conftest import capture_sets

#: Every capture file name in the shared sets, with the request that fetched it.
TARGETS = {
    "info": "/info",
    "api_v1_production": "/api/v1/production",
    "api_v1_production_inverters": "/api/v1/production/inverters",
    "ivp_meters": "/ivp/meters",
    "ivp_meters_readings": "/ivp/meters/readings",
    "ivp_meters_reports": "/ivp/meters/reports",
    "ivp_meters_gridReading": "/ivp/meters/gridReading",
    "ivp_meters_pvReading": "/ivp/meters/pvReading",
    "ivp_pdm_energy": "/ivp/pdm/energy",
    "ivp_pdm_device_data": "/ivp/pdm/device_data",
    "ivp_ensemble_inventory": "/ivp/ensemble/inventory",
    "ivp_ensemble_power": "/ivp/ensemble/power",
    "ivp_ensemble_secctrl": "/ivp/ensemble/secctrl",
    "ivp_ensemble_status": "/ivp/ensemble/status",
    "ivp_ensemble_relay": "/ivp/ensemble/relay",
    "ivp_ensemble_dry_contacts": "/ivp/ensemble/dry_contacts",
    "ivp_ensemble_generator": "/ivp/ensemble/generator",
    "ivp_ss": "/ivp/ss",
    "ivp_ss_dry_contact_settings": "/ivp/ss/dry_contact_settings",
    "ivp_ss_gen_config": "/ivp/ss/gen_config",
    "ivp_ss_gen_schedule": "/ivp/ss/gen_schedule",
    "ivp_ss_gen_mode": "/ivp/ss/gen_mode",
    "ivp_ss_pel_settings": "/ivp/ss/pel_settings",
    "ivp_sc_pvlimit": "/ivp/sc/pvlimit",
    "admin_lib_tariff": "/admin/lib/tariff",
    "admin_lib_acb_config": "/admin/lib/acb_config",
    "production": "/production",
    "production.json": "/production.json",
    "production.json_details_1": "/production.json?details=1",
    "inventory": "/inventory",
    "inventory.json_deleted_1": "/inventory.json?deleted=1",
    "inv": "/inv",
    "home": "/home",
}


@attrs.frozen
class Capture:
    """One recorded answer."""

    #: The capture set's folder name, e.g. ``8.3.5169_with_generator``.
    set_name: str
    #: Firmware version from the set's ``info``.
    version: tuple[int, ...]
    #: Whether the set's gateway is metered (``<imeter>true``).
    metered: bool
    #: Recorded status (200 without a log).
    status: int
    #: The body bytes.
    body: bytes

    def json(self) -> object:
        """The body as JSON (ValueError when it is not)."""
        return json.loads(self.body)


def _software(folder: Path) -> tuple[tuple[int, ...], bool]:
    info = (folder / "info").read_text(encoding="utf-8")
    software = re.search(r"<software>([^<]+)</software>", info)
    assert software is not None, folder
    return parse_version(software.group(1)), "<imeter>true</imeter>" in info


def recorded(folder: Path, name: str) -> Capture | None:
    """The capture of file ``name`` in set ``folder`` (None when the set lacks it)."""
    path = folder / name
    if not path.is_file():
        return None
    log = folder / f"{name}_log.json"
    status = json.loads(log.read_bytes()).get("code", 200) if log.is_file() else 200
    version, metered = _software(folder)
    return Capture(folder.name, version, metered, int(status), path.read_bytes())


def captures_of(*names: str) -> list[Capture]:
    """Every capture of these file names, in every set."""
    found = (recorded(folder, name) for folder in capture_sets() for name in names)
    return [c for c in found if c is not None]


def is_error_form(value: object) -> bool:
    """Whether a JSON body is one of the firmware's 404 forms."""
    return isinstance(value, dict) and set(value) <= {"error", "err"} and bool(value)


def real_bodies(*names: str) -> list[tuple[Capture, object]]:
    """The captures of these names that hold a real 200 JSON body."""
    bodies = []
    for capture in captures_of(*names):
        if capture.status != 200:
            continue
        try:
            body = capture.json()
        except ValueError:  # an HTML page
            continue
        if not is_error_form(body):
            bodies.append((capture, body))
    return bodies
