"""Every declared firmware quirk is shown by its capture and handled as declared.

Quirks without a capture are shown on the nearest capture changed the way users report (or,
without captures, on the made-up samples).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from enphase_local import endpoints as ep
from enphase_local.errors import NotSupportedError
from enphase_local.models import DeviceKind
from enphase_local.quirks import BY_ID, QUIRKS
from enphase_local.replies import raise_if_soft_error
from tests.conftest import capture_sets, skip_without_captures
from tests.parsing import detail_samples
from tests.parsing.samples import json_body

Check = Callable[[Path], None]
CHECKS: dict[str, Check] = {}


def check(quirk_id: str) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        CHECKS[quirk_id] = function
        return function

    return register


def _shown(page: bytes, label: str) -> float:
    """The value of a row of the HTML page as shown, in W or Wh (read here independently)."""
    match = re.search(label.encode() + rb"</td>\s*<td>\s*([0-9.]+) ([kM]?)W", page)
    assert match is not None
    number, prefix = match.groups()
    return float(number) * {b"": 1, b"k": 1e3, b"M": 1e6}[prefix]


def _raw(folder: Path, name: str) -> Any:
    return json.loads((folder / name).read_bytes())


@check("ensemble-power-key")
def _power_key(folder: Path) -> None:
    raw = _raw(folder, "ivp_ensemble_power")
    assert "devices:" in raw
    power = ep.BATTERY_POWER.parse(json_body(raw), strict=True)
    assert len(power.batteries) == len(raw["devices:"]) > 0


@check("ensemble-power-milliwatts")
def _milliwatts(folder: Path) -> None:
    raw = _raw(folder, "ivp_ensemble_power")["devices:"]
    power = ep.BATTERY_POWER.parse((folder / "ivp_ensemble_power").read_bytes(), strict=True)
    assert any(item["real_power_mw"] for item in raw)
    for battery, item in zip(power.batteries, raw, strict=True):
        assert battery.active_power_w == item["real_power_mw"] / 1000


@check("unknown-temperature")
def _unknown_temperature(folder: Path) -> None:
    raw = _raw(folder, "ivp_ensemble_inventory")
    raw[0]["devices"][0]["temperature"] = "unknown"  # as users report after a reboot
    for strict in (False, True):
        inventory = ep.ENSEMBLE_INVENTORY.parse(json_body(raw), strict=strict)
        assert inventory.batteries[0].temperature_c is None
        assert inventory.batteries[1].temperature_c is not None


@check("controller-fahrenheit")
def _fahrenheit(folder: Path) -> None:
    raw = _raw(folder, "ivp_ensemble_inventory")
    sent = next(g for g in raw if g["type"] == "ENPOWER")["devices"][0]["temperature"]
    inventory = ep.ENSEMBLE_INVENTORY.parse(json_body(raw), strict=True)
    (controller,) = inventory.system_controllers
    assert controller.temperature_c == pytest.approx((sent - 32) / 1.8)
    assert all(b.temperature_c is not None and b.temperature_c < 40 for b in inventory.batteries)


@check("total-consumption-is-net")
def _total_is_net(folder: Path) -> None:
    summary = ep.PRODUCTION_SUMMARY.parse((folder / "production.json_details_1").read_bytes())
    by_type = {source.measurement_type: source for source in summary.consumption}
    assert len(by_type) == 2
    total, net = by_type.values()
    assert total.measurement_type != net.measurement_type
    assert total.power_w == net.power_w
    assert total.energy_lifetime_wh == net.energy_lifetime_wh


@check("production-json-missing-before-4")
def _production_page(folder: Path) -> None:
    with pytest.raises(NotSupportedError):
        raise_if_soft_error(ep.PRODUCTION_SUMMARY.path, (folder / "production.json").read_bytes())
    row = ep.PRODUCTION_SUMMARY.for_firmware((3, 9, 36))
    assert row is ep.PRODUCTION_PAGE
    page = (folder / "production").read_bytes()
    summary = row.parse(page, strict=True)
    assert summary.production[0].energy_lifetime_wh == pytest.approx(
        _shown(page, "Since Installation")
    )


@check("production-page-rounded")
def _rounded(folder: Path) -> None:
    page = (folder / "production").read_bytes()
    (inverters,) = ep.PRODUCTION_PAGE.parse(page).production
    assert re.search(rb"Currently</td>\s*<td>\s*[0-9.]+ kW<", page), "shown in kW"
    assert inverters.power_w == pytest.approx(_shown(page, "Currently"))
    assert inverters.energy_lifetime_wh == pytest.approx(_shown(page, "Since Installation"))


@check("storage-entry-without-acb")
def _idle_storage(folder: Path) -> None:
    (storage,) = ep.PRODUCTION_SUMMARY.parse((folder / "production.json").read_bytes()).storage
    assert storage.active_count == 0
    assert storage.read_at is None
    assert storage.power_w == storage.energy_wh == 0


@check("device-data-cap")
def _capped(folder: Path) -> None:
    raw = _raw(folder, "ivp_pdm_device_data")
    assert not ep.DEVICE_DATA.parse(json_body(raw), strict=True).is_capped
    raw["deviceCount"] = raw["deviceDataLimit"] + 10  # a site larger than the cap
    data = ep.DEVICE_DATA.parse(json_body(raw), strict=True)
    assert data.is_capped
    assert data.device_count == raw["deviceDataLimit"] + 10


@check("removed-inverters")
def _removed(folder: Path) -> None:
    data = ep.DEVICE_DATA.parse((folder / "ivp_pdm_device_data").read_bytes(), strict=True)
    removed = [d for d in data.devices if d.kind is DeviceKind.PCU and d.removed]
    assert removed
    for device in removed:
        assert device.active is False
        assert device.channels[0].reported_at is None
        assert device.channels[0].last_reading is not None
        assert device.channels[0].last_reading.energy_produced_wh is None
    assert not any(device.removed for device in data.inverters)


@check("ct-mod-gone")
def _ct_mod_gone(folder: Path) -> None:
    data = ep.DEVICE_DATA.parse((folder / "ivp_pdm_device_data").read_bytes(), strict=True)
    cts = [d for d in data.devices if d.kind is DeviceKind.EIM]
    assert cts
    assert all(ct.removed and ct.active for ct in cts)
    assert all(ct.channels[0].power_w for ct in cts)
    assert all(d.kind is DeviceKind.PCU for d in data.inverters)


@check("inventory-text-times")
def _text_times(folder: Path) -> None:
    raw = _raw(folder, "inventory.json_deleted_1")
    inventory = ep.DEVICE_INVENTORY.parse(json_body(raw), strict=True)
    pairs = list(zip(inventory.inverters, raw[0]["devices"], strict=True))
    assert any(item["last_rpt_date"] == "0" for _, item in pairs)
    for device, item in pairs:
        assert isinstance(item["installed"], str)
        assert device.installed_at is not None
        assert (device.last_report_at is None) is (item["last_rpt_date"] == "0")


@check("generator-rating-kilowatts")
def _kilowatts(folder: Path) -> None:
    raw = _raw(folder, "ivp_ss_gen_config")
    config = ep.GENERATOR_CONFIG.parse(json_body(raw), strict=True)
    assert f"{raw['name_plate_rating_wat']:g}kW" in raw["model"]
    assert config.rated_power_w == raw["name_plate_rating_wat"] * 1000


@check("dry-contact-text-booleans")
def _text_booleans(folder: Path) -> None:
    raw = _raw(folder, "ivp_ss_dry_contact_settings")["dry_contacts"]
    settings = ep.DRY_CONTACT_SETTINGS.parse((folder / "ivp_ss_dry_contact_settings").read_bytes())
    assert {item["override"] for item in raw} <= {"true", "false"}
    assert [c.override for c in settings.contacts] == [i["override"] == "true" for i in raw]


@check("export-limit-pel-only")
def _pel_only(folder: Path) -> None:
    assert _raw(folder, "ivp_ss_pel_settings") == {"PEL": False}
    limit = ep.EXPORT_LIMIT.parse((folder / "ivp_ss_pel_settings").read_bytes(), strict=True)
    assert limit.enabled is False
    assert limit.limit is None


@check("status-counters-dropped")
def _no_counters(folder: Path) -> None:
    assert "counters" not in _raw(folder, "ivp_ensemble_status")
    status = ep.ENSEMBLE_STATUS.parse((folder / "ivp_ensemble_status").read_bytes(), strict=True)
    assert status.counters == {}
    assert status.summary is not None


@check("tariff-reserve-differs")
def _reserves(folder: Path) -> None:
    tariff = ep.TARIFF.parse((folder / "admin_lib_tariff").read_bytes(), strict=True)
    assert tariff.storage is not None
    assert tariff.schedule is not None
    assert tariff.storage.reserve_percent != tariff.schedule.reserve_percent


def test_every_quirk_has_a_check() -> None:
    assert set(CHECKS) == set(BY_ID)
    assert len(BY_ID) == len(QUIRKS)


def test_quirks_name_declared_endpoints() -> None:
    names = {endpoint.name for endpoint in ep.ENDPOINTS}
    assert {quirk.endpoint for quirk in QUIRKS} <= names


#: The capture a quirk without one of its own is shown on.
_NEAREST = {
    "unknown-temperature": "8.2.127_with_3cts_and_battery_split",
    "device-data-cap": "8.3.5169_with_generator",
}


@skip_without_captures()
@pytest.mark.parametrize("quirk", QUIRKS, ids=lambda q: q.id)
def test_quirk_shown_by_its_capture(quirk: Any) -> None:
    name = quirk.capture or _NEAREST[quirk.id]
    (folder,) = [p for p in capture_sets() if p.name == name]
    CHECKS[quirk.id](folder)


def test_unknown_temperature_on_the_samples() -> None:
    raw = copy.deepcopy(detail_samples.ENSEMBLE_INVENTORY)
    inventory = ep.ENSEMBLE_INVENTORY.parse(json_body(raw), strict=True)
    assert [b.temperature_c for b in inventory.batteries] == [23.0, None]
    assert inventory.system_controllers[0].temperature_c == 35.0  # 95 °F
