"""The bodies the writes would send, built from every real capture of the dry contact settings
and the tariff: whole, every key kept as the gateway gave it, only the asked value changed."""

from __future__ import annotations

import copy
import json
from typing import Any, TypeVar

import pytest

from enphase_local import endpoints as ep
from enphase_local.control import CONTROLS
from enphase_local.endpoints import Endpoint
from enphase_local.errors import NotSupportedError
from enphase_local.models import Battery, EnsembleInventory, SystemController
from tests.conftest import capture_sets, skip_without_captures
from tests.parsing.test_detail_captures import is_real_body

pytestmark = skip_without_captures()

T = TypeVar("T")


def captured(name: str) -> list[Any]:
    """The real bodies of capture file ``name``, one parameter each (named by its set)."""
    return [
        pytest.param((folder / name).read_bytes(), id=folder.name)
        for folder in capture_sets()
        if (folder / name).is_file() and is_real_body(folder / name)
    ]


class CaptureReader:
    """A gateway that serves one captured body (and has the hardware for it)."""

    host = "capture.local"

    def __init__(self, endpoint: Endpoint[Any], body: bytes) -> None:
        self.endpoint = endpoint
        self.body = body

    async def fetch(self, endpoint: Endpoint[T]) -> T:
        if endpoint is ep.ENSEMBLE_INVENTORY:
            inventory: Any = EnsembleInventory(
                batteries=(Battery(serial_number="1"),),
                system_controllers=(SystemController(serial_number="2"),),
            )
            return inventory  # type: ignore[no-any-return]
        raise AssertionError(endpoint.name)

    async def read_document(self, endpoint: Endpoint[T]) -> tuple[T, Any]:
        assert endpoint is self.endpoint
        return endpoint.parse(self.body, strict=False), json.loads(self.body)


SETTINGS = captured("ivp_ss_dry_contact_settings")
TARIFFS = captured("admin_lib_tariff")


def test_there_are_captures_to_check() -> None:
    assert len(SETTINGS) >= 10
    assert len(TARIFFS) >= 10


@pytest.mark.parametrize("body", SETTINGS)
async def test_a_dry_contact_settings_body_is_the_whole_entry(body: bytes) -> None:
    document = json.loads(body)
    for entry in document["dry_contacts"]:
        reader = CaptureReader(ep.DRY_CONTACT_SETTINGS, body)
        low = 15.0 if entry.get("soc_high", 100) >= 15 else 0.0
        draft = await CONTROLS["update_dry_contact_settings"].prepare(
            reader, entry["id"], soc_low_percent=low, load_name="Pool pump"
        )
        expected = copy.deepcopy(entry) | {"load_name": "Pool pump"}
        expected["soc_low"] = int(low) if isinstance(entry["soc_low"], int) else low
        assert draft.body == {"dry_contacts": expected}
        assert list(draft.body["dry_contacts"]) == list(entry)  # the gateway's key order
        assert draft.requested == {
            "id": entry["id"],
            "charge_low_percent": low,
            "load_name": "Pool pump",
        }


@pytest.mark.parametrize("body", TARIFFS)
async def test_a_tariff_body_is_the_whole_tariff(body: bytes) -> None:
    document = json.loads(body)
    reader = CaptureReader(ep.TARIFF, body)
    storage = document["tariff"].get("storage_settings")
    if storage is None:  # before firmware 7: nothing to change
        with pytest.raises(NotSupportedError, match="no storage_settings"):
            await CONTROLS["set_reserve"].prepare(reader, percent=40)
        return
    for control, arguments, key, wire in (
        ("set_reserve", {"percent": 40}, "reserved_soc", 40),
        ("set_storage_mode", {"mode": "savings"}, "mode", "economy"),
        ("set_charge_from_grid", {"enabled": True}, "charge_from_grid", True),
    ):
        draft = await CONTROLS[control].prepare(reader, **arguments)
        expected = copy.deepcopy(document["tariff"])
        expected["storage_settings"][key] = wire
        assert draft.body == {"tariff": expected}, control
        sent = draft.body["tariff"]["storage_settings"][key]
        assert type(sent) is type(storage[key]), control  # 40.0 where the gateway sent 0.0
