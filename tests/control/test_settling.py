"""Dry contacts read back while a settings change of ours settles (every contact reads open
for a while on real gateways), over a fake gateway and a clock moved by hand."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from enphase_local import endpoints as ep
from enphase_local.control import Controller, ControlPolicy
from enphase_local.endpoints import Endpoint
from enphase_local.errors import ControlNotAppliedError
from enphase_local.models import (
    DryContact,
    DryContacts,
    DryContactSetting,
    DryContactSettings,
    DryContactState,
    EnsembleInventory,
    SystemController,
)
from enphase_local.replies import Reply
from tests.control.test_controller import FakeClock

T = TypeVar("T")
OPEN, CLOSED = DryContactState.OPEN, DryContactState.CLOSED


class FakeContactsGateway:
    """Two contacts; a settings write makes both read open for ``settle_s``."""

    host = "fake.local"

    def __init__(self, clock: FakeClock, *, settle_s: float, obey: bool = True) -> None:
        self.clock = clock
        self.settle_s = settle_s
        self.obey = obey
        self.states = {"NC1": CLOSED, "NC2": CLOSED}
        self.priorities = {"NC1": 1.0, "NC2": 2.0}
        self.open_until = -1.0
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def _settings(self) -> tuple[DryContactSettings, dict[str, Any]]:
        model = DryContactSettings(
            contacts=tuple(
                DryContactSetting(id=name, priority=value)
                for name, value in self.priorities.items()
            )
        )
        entries = [{"id": name, "priority": value} for name, value in self.priorities.items()]
        return model, {"dry_contacts": entries}

    async def fetch(self, endpoint: Endpoint[T]) -> T:
        model: Any
        if endpoint is ep.ENSEMBLE_INVENTORY:
            model = EnsembleInventory(
                system_controllers=(SystemController(serial_number="482200000001"),)
            )
        elif endpoint is ep.DRY_CONTACT_SETTINGS:
            model = self._settings()[0]
        else:
            assert endpoint is ep.DRY_CONTACTS
            settling = self.clock.now < self.open_until
            model = DryContacts(
                contacts=tuple(
                    DryContact(id=name, state=OPEN if settling else state)
                    for name, state in self.states.items()
                )
            )
        return model  # type: ignore[no-any-return]

    async def read_document(self, endpoint: Endpoint[T]) -> tuple[T, Any]:
        assert endpoint is ep.DRY_CONTACT_SETTINGS
        return self._settings()  # type: ignore[return-value]

    def url(self, path: str) -> str:
        return "https://fake.local" + path

    def masked_headers(self) -> Mapping[str, str]:
        return {"Content-Type": "application/json"}

    async def send_write(self, method: str, path: str, body: bytes) -> Reply:
        document = json.loads(body)
        self.sent.append((path, document))
        entry = document["dry_contacts"]
        if path == ep.DRY_CONTACT_SETTINGS.path:
            self.open_until = self.clock.now + self.settle_s
            self.priorities[entry["id"]] = entry["priority"]
        elif self.obey:
            self.states[entry["id"]] = OPEN if entry["status"] == "open" else CLOSED
        return Reply(200, CIMultiDictProxy(CIMultiDict()), b"{}")


def controller(gateway: FakeContactsGateway, clock: FakeClock, **policy: float) -> Controller:
    return Controller(
        gateway,
        ControlPolicy(**{"poll_interval_s": 1.0, "min_interval_s": 0.0, **policy}),
        allowed=True,
        clock=clock,
        sleep=clock.sleep,
    )


async def settings_changed(control: Controller) -> None:
    await control.run("update_dry_contact_settings", {"contact_id": "NC2", "priority": 5})


async def test_an_opened_contact_shows_once_another_reads_closed() -> None:
    clock = FakeClock()
    gateway = FakeContactsGateway(clock, settle_s=40.0)
    control = controller(gateway, clock)
    await settings_changed(control)

    result = await control.run("set_dry_contact", {"contact_id": "NC1", "closed": False})

    # Both read open until 40 s; then NC2 closed shows the settling is over.
    assert result.observed == {"NC1": "open"}
    assert result.seconds_to_apply == 40.0


async def test_an_ignored_open_is_not_applied_once_the_contacts_settled() -> None:
    clock = FakeClock()
    gateway = FakeContactsGateway(clock, settle_s=40.0, obey=False)
    control = controller(gateway, clock, slow_wait_s=60.0)
    await settings_changed(control)

    with pytest.raises(ControlNotAppliedError, match="still shows NC1=closed") as err:
        await control.run("set_dry_contact", {"contact_id": "NC1", "closed": False})

    assert err.value.result.observed == {"NC1": "closed"}
    assert len(gateway.sent) == 2  # the settings and the command, each once


async def test_every_contact_open_for_real_shows_when_the_settling_time_ends() -> None:
    clock = FakeClock()
    gateway = FakeContactsGateway(clock, settle_s=40.0)
    gateway.states["NC2"] = OPEN
    control = controller(gateway, clock, settle_s=70.0)
    await settings_changed(control)
    clock.now = 10.0

    result = await control.run("set_dry_contact", {"contact_id": "NC1", "closed": False})

    assert result.seconds_to_apply == 60.0  # 70 s after the settings change


async def test_a_wait_shorter_than_the_settling_says_so() -> None:
    clock = FakeClock()
    gateway = FakeContactsGateway(clock, settle_s=40.0)
    control = controller(gateway, clock)
    await settings_changed(control)

    with pytest.raises(ControlNotAppliedError, match="while a settings change settles") as err:
        await control.run("set_dry_contact", {"contact_id": "NC1", "closed": False}, wait_s=20.0)

    assert err.value.result.observed == {"NC1": "open"}
    assert not err.value.result.applied


async def test_contacts_all_open_without_a_settings_change_of_ours_are_believed() -> None:
    clock = FakeClock()
    gateway = FakeContactsGateway(clock, settle_s=40.0)
    gateway.states["NC2"] = OPEN
    control = controller(gateway, clock)

    result = await control.run("set_dry_contact", {"contact_id": "NC1", "closed": False})

    assert result.seconds_to_apply == 0.0


async def test_a_closed_contact_is_believed_while_settling() -> None:
    clock = FakeClock()
    gateway = FakeContactsGateway(clock, settle_s=0.0)
    control = controller(gateway, clock)
    await settings_changed(control)

    result = await control.run("set_dry_contact", {"contact_id": "NC1", "closed": True})

    assert result.seconds_to_apply == 0.0
