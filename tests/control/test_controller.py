"""The controller alone, over a fake gateway and a clock moved by hand: pacing, one write at
a time, what listeners hear."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, TypeVar

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from enphase_local import endpoints as ep
from enphase_local.control import Controller, ControlPolicy, ControlResult
from enphase_local.endpoints import Endpoint
from enphase_local.errors import ControlNotAppliedError, ControlRejectedError
from enphase_local.models import EnsembleInventory, GridRelay, RelayState, SystemController
from enphase_local.replies import Reply

T = TypeVar("T")


class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class FakeRelayGateway:
    """A gateway with a System Controller whose relay follows a write at once (or never)."""

    host = "fake.local"

    def __init__(self, clock: FakeClock, *, status: int = 200, obey: bool = True) -> None:
        self.clock = clock
        self.state = RelayState.CLOSED
        self.status = status
        self.obey = obey
        self.sent: list[tuple[float, bytes]] = []
        self.gate: asyncio.Event | None = None

    async def fetch(self, endpoint: Endpoint[T]) -> T:
        if endpoint is ep.ENSEMBLE_INVENTORY:
            model: Any = EnsembleInventory(
                system_controllers=(SystemController(serial_number="482200000001"),)
            )
        else:
            assert endpoint is ep.GRID_RELAY
            model = GridRelay(mains_admin_state=self.state, mains_oper_state=self.state)
        return model  # type: ignore[no-any-return]

    async def read_document(self, endpoint: Endpoint[T]) -> tuple[T, Any]:
        raise AssertionError("the relay write reads no document")

    def url(self, path: str) -> str:
        return "https://fake.local" + path

    def masked_headers(self) -> Mapping[str, str]:
        return {"Content-Type": "application/json"}

    async def send_write(self, method: str, path: str, body: bytes) -> Reply:
        self.sent.append((self.clock.now, body))
        if self.gate is not None:
            await self.gate.wait()
        if self.status == 200 and self.obey:
            self.state = RelayState.OPEN if b'"open"' in body else RelayState.CLOSED
        return Reply(self.status, CIMultiDictProxy(CIMultiDict()), b"refused" * 100)


class Recorder:
    """A control listener that writes down what it hears."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, str, ControlResult | None, object | None]] = []

    def control_started(self, control: str) -> None:
        self.heard.append(("started", control, None, None))

    def control_finished(
        self, control: str, result: ControlResult | None, model: object | None
    ) -> None:
        self.heard.append(("finished", control, result, model))


def controller(gateway: FakeRelayGateway, clock: FakeClock, **policy: float) -> Controller:
    return Controller(
        gateway,
        ControlPolicy(**{"poll_interval_s": 1.0, **policy}),
        allowed=True,
        clock=clock,
        sleep=clock.sleep,
    )


async def test_writes_are_paced_at_the_minimum_interval() -> None:
    clock = FakeClock()
    gateway = FakeRelayGateway(clock)
    control = controller(gateway, clock, min_interval_s=5.0)

    await control.run("set_grid_relay", {"connected": False})
    await control.run("set_grid_relay", {"connected": True})
    await control.run("set_grid_relay", {"connected": False})

    assert [at for at, _ in gateway.sent] == [0.0, 5.0, 10.0]
    assert clock.sleeps == [5.0, 5.0]


async def test_a_write_after_a_long_pause_is_not_held_back() -> None:
    clock = FakeClock()
    gateway = FakeRelayGateway(clock)
    control = controller(gateway, clock, min_interval_s=5.0)
    await control.run("set_grid_relay", {"connected": False})
    clock.now += 60.0
    await control.run("set_grid_relay", {"connected": True})
    assert clock.sleeps == []


async def test_one_write_in_flight_per_gateway() -> None:
    clock = FakeClock()
    gateway = FakeRelayGateway(clock)
    gateway.gate = asyncio.Event()
    control = controller(gateway, clock, min_interval_s=0.0)

    first = asyncio.create_task(control.run("set_grid_relay", {"connected": False}))
    second = asyncio.create_task(control.run("set_grid_relay", {"connected": True}))
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(gateway.sent) == 1  # the second waits for the first to be read back
    gateway.gate.set()
    results = await asyncio.gather(first, second)

    assert [r.requested["mains_admin_state"] for r in results] == ["open", "closed"]
    assert len(gateway.sent) == 2


async def test_not_applied_after_the_bounded_wait_with_reads_in_between() -> None:
    clock = FakeClock()
    gateway = FakeRelayGateway(clock, obey=False)
    control = controller(gateway, clock, slow_wait_s=10.0)

    with pytest.raises(ControlNotAppliedError) as err:
        await control.run("set_grid_relay", {"connected": False})

    assert err.value.result.observed == {
        "mains_admin_state": "closed",
        "mains_oper_state": "closed",
    }
    assert clock.sleeps == [1.0] * 10
    assert len(gateway.sent) == 1  # answered 200: never sent again


async def test_listeners_hear_each_write_and_its_outcome() -> None:
    clock = FakeClock()
    gateway = FakeRelayGateway(clock)
    control = controller(gateway, clock)
    recorder = Recorder()
    stop = control.add_listener(recorder)

    result = await control.run("set_grid_relay", {"connected": False})
    gateway.status = 500
    with pytest.raises(ControlRejectedError, match=r"HTTP 500 \(refusedrefused"):
        await control.run("set_grid_relay", {"connected": True})
    stop()
    gateway.status = 200
    await control.run("set_grid_relay", {"connected": True})

    assert [(kind, name, r) for kind, name, r, _ in recorder.heard] == [
        ("started", "set_grid_relay", None),
        ("finished", "set_grid_relay", result),
        ("started", "set_grid_relay", None),
        ("finished", "set_grid_relay", None),
    ]
    model = recorder.heard[1][3]
    assert isinstance(model, GridRelay)
    assert model.mains_admin_state is RelayState.OPEN
