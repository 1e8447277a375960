"""The poller watching what control writes set, on a manual clock against a fake gateway:
revert events, watch reads and their end, writes of ours in between, waking a sleeping worker.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from enphase_local.control import ControlListener, ControlPolicy, ControlResult
from enphase_local.events import ControlRevertedEvent, DataEvent, Event
from enphase_local.models import (
    DryContact,
    DryContacts,
    DryContactSetting,
    DryContactSettings,
    DryContactState,
    StorageMode,
    StorageSettings,
    Tariff,
)
from enphase_local.scheduler import ManualClock, Poller, PollPlan
from tests.scheduler.fakes import FakeGateway

MODES = {"savings": StorageMode.SAVINGS, "self-consumption": StorageMode.SELF_CONSUMPTION}


class ControlledGateway(FakeGateway):
    """A fake session that makes control writes of the tariff and dry contacts at once."""

    allow_control = True

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.mode = StorageMode.SELF_CONSUMPTION
        self.contact = DryContactState.OPEN
        self.listeners: list[ControlListener] = []
        self._answers["tariff"] = lambda: Tariff(storage=StorageSettings(mode=self.mode))
        self._answers["dry_contacts"] = lambda: DryContacts(
            contacts=(DryContact(id="NC1", state=self.contact),)
        )
        self._answers["dry_contact_settings"] = lambda: DryContactSettings(
            contacts=(DryContactSetting(id="NC1", priority=2.0),)
        )
        #: A write started but not finished (to look between the two).
        self.hold = False

    def add_control_listener(self, listener: ControlListener) -> Any:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    async def control(self, control: str, **arguments: Any) -> ControlResult:
        for listener in self.listeners:
            listener.control_started(control)
        requested: dict[str, Any]
        model: object
        if control == "set_storage_mode":
            self.mode = MODES[arguments["mode"]]
            requested = {"mode": arguments["mode"]}
            model = self._answers["tariff"]()
        elif control == "set_dry_contact":
            self.contact = DryContactState.CLOSED if arguments["closed"] else DryContactState.OPEN
            requested = {"NC1": self.contact.value}
            model = self._answers["dry_contacts"]()
        else:
            assert control == "update_dry_contact_settings"
            self.contact = DryContactState.OPEN  # every contact reads open for a while
            requested = {"id": "NC1", "priority": 2.0}
            model = None
        result = ControlResult(
            control=control, requested=requested, observed=requested, applied=True
        )
        if not self.hold:
            for listener in self.listeners:
                listener.control_finished(control, result, model)
        return result


PLAN = PollPlan(live={"meter_readings": 10.0}, periodic=(), config=(), fallback={})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def make(
    clock: ManualClock, plan: PollPlan = PLAN
) -> tuple[ControlledGateway, Poller, list[Event]]:
    gateway = ControlledGateway(clock)
    poller = Poller([gateway], plan=plan, clock=clock, rng=random.Random(3), buffer_size=0)
    events: list[Event] = []
    poller.subscribe(events.append, name="list")
    return gateway, poller, events


def reverts(events: list[Event]) -> list[ControlRevertedEvent]:
    return [e for e in events if isinstance(e, ControlRevertedEvent)]


async def test_a_cloud_overwrite_after_a_write_is_a_revert_event(clock: ManualClock) -> None:
    gateway, poller, events = make(clock)
    async with poller:
        await clock.advance(5)
        result = await poller.control("envoy.local", "set_storage_mode", mode="savings")
        assert result.applied
        await clock.advance(40)
        assert reverts(events) == []
        gateway.mode = StorageMode.SELF_CONSUMPTION  # the cloud puts its mode back
        await clock.advance(30)

    (event,) = reverts(events)
    assert (event.control, event.endpoint, event.host) == (
        "set_storage_mode",
        "tariff",
        "envoy.local",
    )
    assert (event.expected, event.observed) == ({"mode": "savings"}, {"mode": "self-consumption"})
    assert 60 <= (event.at - event.written_at).total_seconds() <= 75
    assert "with no write of ours" in event.reason
    tariffs = [e.model for e in events if isinstance(e, DataEvent) and e.endpoint == "tariff"]
    assert [t.storage.mode for t in tariffs] == [StorageMode.SAVINGS, StorageMode.SELF_CONSUMPTION]


async def test_the_watch_reads_every_interval_and_ends(clock: ManualClock) -> None:
    plan = PollPlan(
        live={"meter_readings": 10.0},
        periodic=(),
        config=(),
        fallback={},
        control_watch_s=300.0,
        control_watch_interval_s=60.0,
    )
    gateway, poller, events = make(clock, plan)
    async with poller:
        await clock.advance(1)
        await poller.control("envoy.local", "set_storage_mode", mode="savings")
        written = clock.monotonic()
        await clock.advance(1000)
        gateway.mode = StorageMode.SELF_CONSUMPTION  # after the watch: nobody looks
        await clock.advance(200)
    assert [round(t - written) for t in gateway.times("tariff")] == [60, 120, 180, 240]
    assert reverts(events) == []


async def test_a_sleeping_worker_is_woken_for_the_watch(clock: ManualClock) -> None:
    plan = PollPlan(live={"meter_readings": 3600.0}, periodic=(), config=(), fallback={})
    gateway, poller, _ = make(clock, plan)
    async with poller:
        await clock.advance(10)
        await poller.control("envoy.local", "set_storage_mode", mode="savings")
        await clock.advance(31)
    assert gateway.times("tariff") == [pytest.approx(40.0)]


async def test_a_later_write_of_ours_is_not_a_revert(clock: ManualClock) -> None:
    gateway, poller, events = make(clock)
    async with poller:
        await clock.advance(1)
        await poller.control("envoy.local", "set_storage_mode", mode="savings")
        await clock.advance(10)
        await poller.control("envoy.local", "set_storage_mode", mode="self-consumption")
        await clock.advance(120)
    assert reverts(events) == []
    assert gateway.count("tariff") >= 3


async def test_nothing_is_a_revert_while_a_write_of_ours_is_under_way(clock: ManualClock) -> None:
    gateway, poller, events = make(clock)
    async with poller:
        await clock.advance(1)
        await poller.control("envoy.local", "set_storage_mode", mode="savings")
        gateway.hold = True  # the next write starts and is not over
        await poller.control("envoy.local", "set_storage_mode", mode="self-consumption")
        await clock.advance(120)
    assert reverts(events) == []


async def test_a_settings_change_of_ours_quiets_the_dry_contacts_a_while(
    clock: ManualClock,
) -> None:
    gateway, poller, events = make(clock)
    async with poller:
        await clock.advance(1)
        await poller.control("envoy.local", "set_dry_contact", contact_id="NC1", closed=True)
        await clock.advance(5)
        await poller.control("envoy.local", "update_dry_contact_settings", contact_id="NC1")
        await clock.advance(80)  # every contact reads open meanwhile: not a revert
        assert reverts(events) == []
        gateway.contact = DryContactState.CLOSED  # settled
        await clock.advance(60)
        assert reverts(events) == []
        gateway.contact = DryContactState.OPEN  # now it is one
        await clock.advance(31)
    (event,) = reverts(events)
    assert (event.control, event.observed) == ("set_dry_contact", {"NC1": "open"})


async def test_the_quiet_time_after_a_settings_change_is_the_sessions_settle_time(
    clock: ManualClock,
) -> None:
    gateway, poller, events = make(clock)
    gateway.control_policy = ControlPolicy(settle_s=20.0)  # type: ignore[attr-defined]
    async with poller:
        await clock.advance(1)
        await poller.control("envoy.local", "set_dry_contact", contact_id="NC1", closed=True)
        await poller.control("envoy.local", "update_dry_contact_settings", contact_id="NC1")
        await clock.advance(15)  # settling: not a revert
        assert reverts(events) == []
        await clock.advance(20)  # still open past the 20 s: a revert
    (event,) = reverts(events)
    assert (event.control, event.observed) == ("set_dry_contact", {"NC1": "open"})


async def test_a_write_made_elsewhere_can_be_reported(clock: ManualClock) -> None:
    gateway, poller, events = make(clock)
    async with poller:
        await clock.advance(1)
        gateway.mode = StorageMode.SAVINGS
        poller.report_control(
            "envoy.local",
            ControlResult(
                control="set_storage_mode",
                requested={"mode": "savings"},
                observed={"mode": "savings"},
                applied=True,
            ),
        )
        await clock.advance(31)
        gateway.mode = StorageMode.SELF_CONSUMPTION
        await clock.advance(30)
    assert [e.observed for e in reverts(events)] == [{"mode": "self-consumption"}]


async def test_a_session_without_control_writes_is_refused(clock: ManualClock) -> None:
    poller = Poller([FakeGateway(clock)], plan=PLAN, clock=clock, buffer_size=0)
    with pytest.raises(TypeError, match="makes no control writes"):
        await poller.control("envoy.local", "set_reserve", percent=30)
    with pytest.raises(KeyError):
        await poller.control("elsewhere.local", "set_reserve", percent=30)


async def test_a_gateway_is_found_by_its_serial_once_known(clock: ManualClock) -> None:
    gateway, poller, events = make(clock)
    with pytest.raises(KeyError, match="no gateway '122125067699' is polled"):
        await poller.control("122125067699", "set_storage_mode", mode="savings")
    async with poller:
        await clock.advance(5)  # /info read
        result = await poller.control("122125067699", "set_storage_mode", mode="savings")
        assert result.applied
        assert poller.state("122125067699") is poller.state("envoy.local")
        gateway.mode = StorageMode.SELF_CONSUMPTION
        await clock.advance(31)
    assert [e.observed for e in reverts(events)] == [{"mode": "self-consumption"}]
