"""A poll never blocks the event loop: the token file and the trust store are read, written
and fsynced in threads.

Two detectors watch a short poll of a simulated gateway over real HTTPS on loopback, with a
token file and a trust store so that their paths run. Every blocking call the library makes on
the loop's thread is recorded (:mod:`tests.blocking`): that one cannot miss a fast local file
read, which no timer would notice. Meanwhile asyncio's debug mode reports any callback that
holds the loop longer than ``SLOW_CALLBACK_S``: the backstop for blocking that no list of
calls foresees.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

import pytest

from enphase_local.auth.sources import TokenFileSource
from enphase_local.events import DataEvent, ErrorEvent, Event
from enphase_local.scheduler import GatewaySpec, Poller, ScaledClock
from enphase_local.simulator import Simulation
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.trust import TrustStore
from tests.blocking import blocking_calls

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
SPEED = 60.0
#: Far above any callback of this poll (milliseconds, even under debug mode on a busy
#: machine), far below what a stalled disk or a sleep takes.
SLOW_CALLBACK_S = 0.25
#: One endpoint of each cadence group: configuration, 5-minute data, live data.
EXPECTED = frozenset({"meters", "production", "meter_readings"})
#: Real seconds the poll may take to deliver them.
WAIT_S = 30.0


async def _poll_until_expected(poller: Poller) -> None:
    """Run ``poller`` until it delivered data from every endpoint of ``EXPECTED``."""
    delivered: set[str] = set()
    errors: list[str] = []
    done = asyncio.Event()

    def on_event(event: Event) -> None:
        if isinstance(event, DataEvent):
            delivered.add(event.endpoint)
        elif isinstance(event, ErrorEvent):
            errors.append(f"{event.endpoint}: {event.error}")
        if delivered >= EXPECTED:
            done.set()

    poller.subscribe(on_event)
    async with poller:
        try:
            async with asyncio.timeout(WAIT_S):
                await done.wait()
        except TimeoutError:
            pytest.fail(f"no data from {sorted(EXPECTED - delivered)}; errors: {errors}")


@pytest.mark.enphase_simulation(start_time=NOON, speed=SPEED)
async def test_a_poll_never_blocks_the_event_loop(
    enphase_simulation: Simulation,
    enphase_gateway: SimulatedGateway,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert enphase_gateway.token is not None
    token_file = tmp_path / "envoy.token"
    token_file.write_text(enphase_gateway.token)
    store = TrustStore(tmp_path / "trust.json")
    spec = GatewaySpec(
        host=enphase_gateway.url, token=TokenFileSource(token_file), options={"trust": store}
    )
    caplog.set_level(logging.WARNING, logger="asyncio")
    loop = asyncio.get_running_loop()
    debug, slow_after = loop.get_debug(), loop.slow_callback_duration
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_CALLBACK_S
    try:
        with blocking_calls() as blocking:
            clock = ScaledClock(enphase_simulation.clock.now, speed=SPEED)
            await _poll_until_expected(Poller([spec], clock=clock))
    finally:
        loop.set_debug(debug)
        loop.slow_callback_duration = slow_after

    assert not blocking, "\n".join(blocking)
    slow = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Executing ")]
    assert not slow, "\n".join(slow)
    # The trust store's path ran: the first contact recorded the gateway's certificate.
    assert enphase_gateway.fingerprint is not None
    trusted = store.get(enphase_gateway.url.removeprefix("https://"))
    assert trusted == bytes.fromhex(enphase_gateway.fingerprint)
