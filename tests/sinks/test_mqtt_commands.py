"""The MQTT command handling on its own: payloads, one pending command per thing, outcomes,
errors that never escape, closing. A fake control stands in for the poller; the writes
against the simulator through a real broker are in ``test_mqtt_control.py``."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from enphase_local.control import ControlResult
from enphase_local.errors import (
    ControlNotAllowedError,
    ControlNotAppliedError,
    ControlRejectedError,
    ControlValidationError,
    GatewayTimeoutError,
    NotSupportedError,
)
from enphase_local.models import DryContactState
from enphase_local.sinks.mqtt_commands import COMMANDS, STATUSES, MqttCommands, entities
from enphase_local.sinks.view import GatewayView

PREFIX = "solar/site"
SERIAL = "122125067699"


class FakeControl:
    """Records each write; answers applied, or raises what it is told to; may hold writes
    until released."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.raises: BaseException | None = None
        self.release = asyncio.Event()
        self.release.set()
        self.started = asyncio.Event()

    async def __call__(self, host: str, control: str, **arguments: Any) -> ControlResult:
        self.calls.append((host, control, arguments))
        self.started.set()
        await self.release.wait()
        if self.raises is not None:
            raise self.raises
        requested = {"reserve_percent": arguments.get("percent")}
        return ControlResult(control=control, requested=requested, observed=requested, applied=True)


class Statuses:
    """Collects what the commands publish."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, topic: str, payload: bytes) -> None:
        self.published.append((topic, orjson.loads(payload)))

    @property
    def statuses(self) -> list[tuple[str, str]]:
        return [(body["command"], body["status"]) for _, body in self.published]


def gateway_view() -> GatewayView:
    view = GatewayView(host="envoy.local", serial=SERIAL)
    view.ensemble.contacts = {"NC1": DryContactState.OPEN, "NO1": DryContactState.CLOSED}
    view.ensemble.system_controller = True
    return view


@pytest.fixture
def control() -> FakeControl:
    return FakeControl()


@pytest.fixture
def published() -> Statuses:
    return Statuses()


@pytest.fixture
def commands(control: FakeControl, published: Statuses) -> MqttCommands:
    return MqttCommands(control, prefix=PREFIX, publish=published)


def topic(command: str, gateway: str = SERIAL) -> str:
    return f"{PREFIX}/{gateway}/set/{command}"


async def send(
    commands: MqttCommands, command: str, payload: object, *, retain: bool = False
) -> None:
    await commands.handle(topic(command), payload, retain=retain, views=[gateway_view()])


async def settle(commands: MqttCommands) -> None:
    """Until every command task has finished."""
    async with asyncio.timeout(5):
        while commands._tasks:
            await asyncio.gather(*commands._tasks.values())


def test_command_topics_are_told_apart() -> None:
    commands = MqttCommands(FakeControl(), prefix=PREFIX, publish=Statuses())
    assert commands.topic_filter == f"{PREFIX}/+/set/#"
    assert commands.is_command(topic("reserve"))
    assert commands.is_command(topic("dry_contact/NC1"))
    assert not commands.is_command(f"{PREFIX}/{SERIAL}/set")
    assert not commands.is_command(f"{PREFIX}/{SERIAL}/state")
    assert not commands.is_command(f"other/{SERIAL}/set/reserve")
    assert not commands.is_command("homeassistant/status")
    assert commands.status_topic(SERIAL) == f"{PREFIX}/{SERIAL}/control"


@pytest.mark.parametrize(
    "case",
    [
        ("grid_relay", "OFF", "set_grid_relay", {"connected": False}),
        ("grid_relay", "on", "set_grid_relay", {"connected": True}),
        ("grid_relay", "off_grid", "set_grid_relay", {"connected": False}),
        ("dry_contact/NC1", "ON", "set_dry_contact", {"contact_id": "NC1", "closed": True}),
        ("dry_contact/NO1", "open", "set_dry_contact", {"contact_id": "NO1", "closed": False}),
        ("charge_from_grid", b"ON", "set_charge_from_grid", {"enabled": True}),
        ("storage_mode", "self_consumption", "set_storage_mode", {"mode": "self-consumption"}),
        ("storage_mode", "Savings", "set_storage_mode", {"mode": "savings"}),
        ("generator_mode", "auto", "set_generator_mode", {"mode": "auto"}),
        ("reserve", "30", "set_reserve", {"percent": 30.0}),
        ("reserve", " 42.5\n", "set_reserve", {"percent": 42.5}),
    ],
)
async def test_payloads_as_home_assistant_sends_them(
    commands: MqttCommands,
    control: FakeControl,
    published: Statuses,
    case: tuple[str, object, str, dict[str, Any]],
) -> None:
    command, payload, control_name, arguments = case
    await send(commands, command, payload)
    await settle(commands)
    assert control.calls == [("envoy.local", control_name, arguments)]
    assert published.statuses == [(command, "applied")]
    status_topic, body = published.published[0]
    assert status_topic == f"{PREFIX}/{SERIAL}/control"
    assert body["control"] == control_name
    assert body["requested"] == arguments


@pytest.mark.parametrize(
    "case",
    [
        ("reserve", "abc", "expected a number"),
        ("reserve", "nan", "expected a number"),
        ("reserve", "inf", "expected a number"),
        ("grid_relay", "maybe", "expected ON or OFF"),
        ("storage_mode", "turbo", "expected one of backup, self_consumption"),
        ("generator_mode", "", "expected one of on, off, auto"),
        ("dry_contact", "ON", "name the dry contact"),
        ("reserve/extra", "30", "takes no level after it"),
        ("boost", "ON", "unknown command 'boost'"),
        ("reserve", b"\xff\xfe", "not short UTF-8 text"),
        ("reserve", "1" * 100, "not short UTF-8 text"),
        ("reserve", None, "not short UTF-8 text"),
    ],
)
async def test_a_bad_payload_is_invalid_and_runs_nothing(
    commands: MqttCommands,
    control: FakeControl,
    published: Statuses,
    case: tuple[str, object, str],
) -> None:
    command, payload, reason = case
    await send(commands, command, payload)
    await settle(commands)
    assert control.calls == []
    assert published.statuses == [(command, "invalid")]
    assert reason in published.published[0][1]["message"]


async def test_a_retained_command_is_never_run(
    commands: MqttCommands, control: FakeControl, published: Statuses
) -> None:
    await send(commands, "reserve", "30", retain=True)
    await settle(commands)
    assert control.calls == []
    assert published.statuses == [("reserve", "ignored")]


async def test_commands_for_another_pollers_gateway_are_left_alone(
    commands: MqttCommands, control: FakeControl, published: Statuses
) -> None:
    await commands.handle(topic("reserve", "999"), "30", retain=False, views=[gateway_view()])
    await settle(commands)
    assert (control.calls, published.published) == ([], [])


async def test_a_newer_command_replaces_one_still_waiting(
    commands: MqttCommands, control: FakeControl, published: Statuses
) -> None:
    control.release.clear()
    await send(commands, "reserve", "30")
    await control.started.wait()  # the first is being written: it runs to its end
    await send(commands, "reserve", "40")
    await send(commands, "reserve", "50")
    await send(commands, "storage_mode", "backup")  # another thing: its own turn
    assert published.statuses == [("reserve", "superseded")]
    assert published.published[0][1]["requested"] == {"percent": 40.0}
    control.release.set()
    await settle(commands)
    # 40 was never written; storage mode had its own turn (the session serialises writes).
    written = sorted(str(call[2]) for call in control.calls)
    assert written == ["{'mode': 'backup'}", "{'percent': 30.0}", "{'percent': 50.0}"]
    assert sorted(published.statuses) == [
        ("reserve", "applied"),
        ("reserve", "applied"),
        ("reserve", "superseded"),
        ("storage_mode", "applied"),
    ]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (
            ControlNotAppliedError(
                "still shows reserve_percent=10",
                result=ControlResult(
                    control="set_reserve",
                    requested={"reserve_percent": 30.0},
                    observed={"reserve_percent": 10.0},
                    applied=False,
                ),
            ),
            "not_applied",
        ),
        (
            ControlRejectedError("500 from the gateway", status=500, endpoint="/admin/lib/tariff"),
            "rejected",
        ),
        (ControlValidationError("the reserve must be 0 to 100, not 150"), "invalid"),
        (NotSupportedError("no IQ Battery", endpoint="/admin/lib/tariff"), "unsupported"),
        (ControlNotAllowedError("made without allow_control"), "not_allowed"),
        (GatewayTimeoutError("no answer in 45 s"), "error"),
        (RuntimeError("a bug"), "error"),
    ],
)
async def test_each_failure_has_its_status_and_the_loop_goes_on(
    commands: MqttCommands,
    control: FakeControl,
    published: Statuses,
    error: BaseException,
    status: str,
) -> None:
    assert status in STATUSES
    control.raises = error
    await send(commands, "reserve", "30")
    await settle(commands)
    control.raises = None
    await send(commands, "reserve", "31")
    await settle(commands)
    assert published.statuses == [("reserve", status), ("reserve", "applied")]
    body = published.published[0][1]
    assert str(error) in body["message"]
    if isinstance(error, ControlNotAppliedError):
        assert body["expected"] == {"reserve_percent": 30.0}
        assert body["observed"] == {"reserve_percent": 10.0}


async def test_a_broker_that_is_gone_loses_the_status_not_the_command(
    control: FakeControl,
) -> None:
    async def gone(topic: str, payload: bytes) -> None:
        raise OSError("not connected")

    commands = MqttCommands(control, prefix=PREFIX, publish=gone)
    await send(commands, "reserve", "30")
    await settle(commands)
    assert len(control.calls) == 1


async def test_close_cancels_a_running_command_and_drops_waiting_ones(
    commands: MqttCommands, control: FakeControl, published: Statuses
) -> None:
    control.release.clear()  # never released
    await send(commands, "reserve", "30")
    await control.started.wait()
    await send(commands, "reserve", "40")
    await commands.close()
    assert commands._tasks == {}
    await send(commands, "reserve", "50")  # after closing: not taken
    assert [call[2] for call in control.calls] == [{"percent": 30.0}]
    assert published.statuses == []


def test_entities_only_where_the_state_knows_the_value() -> None:
    view = gateway_view()
    state: dict[str, Any] = {
        "grid_state": "on_grid",
        "storage_mode": None,
        "battery_reserve_pct": 20.0,
        "charge_from_grid": False,
        "generator_mode": None,
        "dry_contacts": {"NC1": "open", "NO1": None},
    }
    found = {(spec.component, object_id) for spec, _, object_id in entities(view, state)}
    assert found == {
        ("switch", "control_grid_relay"),
        ("switch", "control_dry_contact_nc1"),
        ("switch", "control_charge_from_grid"),
        ("number", "control_battery_reserve"),
    }
    assert set(COMMANDS) == {
        "grid_relay",
        "dry_contact",
        "charge_from_grid",
        "storage_mode",
        "generator_mode",
        "reserve",
    }
