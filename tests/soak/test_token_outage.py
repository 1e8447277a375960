"""Found by the soak: a token outage must not make live endpoints "unsupported".

A gateway's tokens are revoked while the cloud that issues them answers 503. The token
manager then rests (a minute by default) and, meanwhile, fails each request at once with a
plain :class:`~enphase_local.errors.AuthenticationError`. The poller's worker once took two
such failures on an endpoint, while the last answer of another endpoint (from before the
revocation) was a success, for a role refusal, and stopped polling the endpoint until the
firmware changed, although the gateway never answered anything for it. Now only the
session's :class:`~enphase_local.errors.EndpointForbiddenError` (a 401 for a token the
gateway has just accepted at check_jwt) marks an endpoint beyond the token's role.
"""

from __future__ import annotations

import asyncio

from benchmarks.soak import NOON, _backoff, _cloud_source
from benchmarks.soak_sim import cloud_info
from enphase_local.events import DataEvent, Event, UnsupportedEvent
from enphase_local.scheduler import GatewaySpec, Poller, PollPlan, ScaledClock
from enphase_local.simulator import Simulation

SPEED = 10.0


async def test_token_outage_leaves_live_endpoints_polled() -> None:
    async with Simulation(profile=["metered"], start_time=NOON, speed=SPEED, control=False) as sim:
        gateway = sim.gateways[0]
        assert sim.cloud is not None
        events: list[Event] = []
        source = _cloud_source(cloud_info(sim))
        poller = Poller(
            [
                GatewaySpec(
                    host=gateway.url,
                    token=source,
                    options={"fingerprint": gateway.fingerprint},
                )
            ],
            clock=ScaledClock(sim.clock.now, speed=SPEED),
            session_options={"connect_timeout": 1.0, "timeout": 1.0},
            # Two live endpoints and nothing else, so no third one answers in between.
            plan=PollPlan(live={"meter_readings": 10.0, "live_data": 60.0}, periodic=()),
            backoff=_backoff(SPEED),
            buffer_size=0,
        )
        minute_group = asyncio.Event()

        def keep(event: Event) -> None:
            events.append(event)
            if isinstance(event, DataEvent) and event.endpoint == "live_data":
                minute_group.set()

        poller.subscribe(keep)
        async with source, poller:
            await asyncio.sleep(1.0)
            # Right after the once-a-minute endpoints answered (live data comes last): the
            # meter readings (every simulated 10 s) then fail twice before any other
            # endpoint is asked again.
            minute_group.clear()
            await minute_group.wait()
            sim.cloud.fail_tokens(503)
            gateway.revoke_all_tokens()
            await asyncio.sleep(3.0)
            sim.cloud.fail_tokens(None)
            await asyncio.sleep(8.0)
    assert poller.stats().failures > 0  # the outage was felt
    unsupported = [e.endpoint for e in events if isinstance(e, UnsupportedEvent)]
    assert "meter_readings" not in unsupported
