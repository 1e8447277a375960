"""``enphase-local ingest`` processes under faults, against real mosquitto and PostgreSQL:
one of two killed (the other takes the stream), a named one killed and restarted (nothing
lost, nothing twice), and the whole path from ``poll --mqtt``, also with the poller killed
with SIGKILL while it drains its outbox after a broker outage."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from enphase_local.cli.simulate import config_text
from enphase_local.events import Event
from enphase_local.simulator.pytest_plugin import SimulationFactory
from tests.cli.running import CliProcess, cli, gateway_args, outbox_contents
from tests.fleet.streams import (
    PREFIX,
    Message,
    ingest_summary,
    ingesting,
    publish,
    readings_twice,
    record,
    row_keys,
    rows,
    shifted,
    wait_for_keys,
    wait_for_rows,
)
from tests.postgres import PostgresServer
from tests.sinks.broker import Broker, needs_puback_reasons, require_mosquitto
from tests.sinks.builders import with_energy

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    """mosquitto on a free loopback port (skipped when it is not installed)."""
    server = Broker(require_mosquitto(), tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def ingest_args(broker: Broker, dsn: str, *extra: str) -> list[str]:
    return ["ingest", "--mqtt", f"mqtt://127.0.0.1:{broker.port}/{PREFIX}", "--postgres", dsn,
            "--verbose", *extra]  # fmt: skip


def broker_saw_a_death(broker: Broker) -> int:
    """How many connections mosquitto has seen closed without a DISCONNECT so far."""
    return broker.log.read_text().count("closed its connection")


async def subscribed(process: CliProcess) -> None:
    await process.wait_for("subscribed to ", stderr=True)


async def rows_since(dsn: str, since: dt.datetime) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        events = await conn.fetchval("SELECT count(*) FROM events WHERE time >= $1", since)
        energy = await conn.fetchval("SELECT count(*) FROM energy_events WHERE time >= $1", since)
        return int(events) + int(energy)
    finally:
        await conn.close()


async def stream(broker: Broker, events: list[Event], rounds: int) -> tuple[list[Message], int]:
    """The messages of ``rounds`` rounds of the events, and how many a round has."""
    round_events = with_energy(events)
    return await record(broker.port, shifted(round_events, rounds)), len(round_events)


async def test_one_of_two_killed_the_other_takes_the_whole_stream(
    broker: Broker, postgres: PostgresServer, simulated_events: list[Event]
) -> None:
    messages, per_round = await stream(broker, simulated_events, 4)
    first, second = messages[: 2 * per_round], messages[2 * per_round :]
    later = NOON + dt.timedelta(hours=2)  # where the second half's readings start
    async with (
        cli(*ingest_args(broker, postgres.dsn)) as one,
        cli(*ingest_args(broker, postgres.dsn)) as two,
    ):
        await subscribed(one)
        await subscribed(two)
        await publish(broker.port, first, per_second=1000)
        closed = broker_saw_a_death(broker)
        one.process.kill()  # SIGKILL, possibly with a batch in hand
        killed = time.monotonic()
        # Messages the broker routes to the dead client before it sees the connection close
        # go with its clean session; from then on the survivor has every one.
        async with asyncio.timeout(20):
            while broker_saw_a_death(broker) == closed:  # noqa: ASYNC110 - a log file, no event
                await asyncio.sleep(0.02)
        await publish(broker.port, second)
        async with asyncio.timeout(20):
            while await rows_since(postgres.dsn, later) < len(second):  # noqa: ASYNC110 - a database, no event
                await asyncio.sleep(0.1)
        took = time.monotonic() - killed
        assert await two.stop() == 0, two.stderr
    kept = await rows(postgres.dsn) - len(second)
    lost = len(first) - kept
    print(f"the survivor had the whole stream {took:.1f} s after the kill; {lost} of the")
    print(f"first {len(first)} readings went with the killed clean session")
    assert "readings written" in two.stdout
    # With clean sessions (no --name) what the killed one held unacknowledged is gone:
    # mosquitto 2.0 does not hand it to the other member. The named test below loses none.
    assert 0 < kept <= len(first)


async def test_a_named_ingest_killed_is_taken_over_and_loses_nothing(
    broker: Broker, postgres: PostgresServer, simulated_events: list[Event]
) -> None:
    messages, per_round = await stream(broker, simulated_events, 6)
    first, second, third = (messages[k * 2 * per_round : (k + 1) * 2 * per_round] for k in range(3))
    async with cli(*ingest_args(broker, postgres.dsn, "--name", "ingest-b")) as other:
        await subscribed(other)
        async with cli(*ingest_args(broker, postgres.dsn, "--name", "ingest-a")) as victim:
            await subscribed(victim)
            await publish(broker.port, first, per_second=1000)
            victim.process.kill()  # SIGKILL, with readings in hand unacknowledged
            killed = time.monotonic()
        # The survivor takes the dead one's session over: what it held comes again, and its
        # share of what follows, without waiting for it to come back.
        await other.wait_for("holding the session of ingest-a", stderr=True)
        await publish(broker.port, second)
        await wait_for_rows(postgres.dsn, len(first) + len(second))
        print(f"every reading of the first two parts written {time.monotonic() - killed:.1f} s "
              "after the kill, the killed one not restarted")  # fmt: skip
        async with cli(*ingest_args(broker, postgres.dsn, "--name", "ingest-a")) as back:
            await subscribed(back)
            await other.wait_for("no longer holding the session of ingest-a", stderr=True)
            await publish(broker.port, third)
            await wait_for_rows(postgres.dsn, len(messages))
            assert await back.stop() == 0, back.stderr
        assert await other.stop() == 0, other.stderr
    assert await rows(postgres.dsn) == len(messages)  # none lost, none twice
    written = [int(p.stdout.split("messages: ")[1].split()[0]) for p in (back, other)]
    assert all(count > 0 for count in written), written  # the stream is shared again


async def test_from_poll_mqtt_through_ingest_into_postgres(
    enphase_simulation_factory: SimulationFactory,
    broker: Broker,
    postgres: PostgresServer,
    tmp_path: Path,
) -> None:
    sim = await enphase_simulation_factory(profile="battery", start_time=NOON)
    serial = sim.gateways[0].serial
    url = f"mqtt://127.0.0.1:{broker.port}/{PREFIX}"
    async with cli(*ingest_args(broker, postgres.dsn)) as ingest:
        await subscribed(ingest)
        args = gateway_args(sim, 0, tmp_path)
        async with cli("poll", *args, "--live-interval", "1", "--mqtt", url) as poll:
            await poll.wait_for("^polling ")
            conn = await asyncpg.connect(postgres.dsn)
            try:
                async with asyncio.timeout(30):
                    while True:
                        with contextlib.suppress(asyncpg.UndefinedTableError):
                            power = await conn.fetchval(
                                "SELECT count(*) FROM power_samples WHERE gateway = $1", serial
                            )
                            if power >= 3:
                                break
                        await asyncio.sleep(0.2)
            finally:
                await conn.close()
            assert await poll.stop() == 0, poll.stderr
        assert await ingest.stop() == 0, ingest.stderr
    assert "0 malformed" in ingest.stdout


@needs_puback_reasons  # the poller waits for ingest to subscribe again
async def test_a_poller_killed_mid_drain_and_restarted_leaves_one_row_per_event(
    enphase_simulation_factory: SimulationFactory, postgres: PostgresServer, tmp_path: Path
) -> None:
    sim = await enphase_simulation_factory(
        profile=["battery", "metered", "standard"], start_time=NOON
    )
    config = tmp_path / "sim.toml"
    config.write_text(config_text(sim))
    config.chmod(0o600)
    # Persistent: ingest's named session outlives the restart (its shared subscription does
    # not, in mosquitto 2.0: the pollers wait for a subscriber).
    server = Broker(require_mosquitto(), tmp_path, persistent=True)
    await server.start()
    outbox = tmp_path / "outbox.sqlite"
    args = (
        "poll", "--config", str(config), "--live-interval", "1",
        "--mqtt", f"mqtt://127.0.0.1:{server.port}/{PREFIX}", "--mqtt-outbox", str(outbox),
        "--mqtt-wait-for-subscriber",
    )  # fmt: skip
    try:
        async with ingesting(server.port, PREFIX, postgres.dsn) as ingest:
            await server.stop()
            async with cli(*args, "--mqtt-drain-rate", "5") as first:
                await first.wait_for("^polling ")
                await first.wait_for(
                    rf"MQTT broker mqtt://127\.0\.0\.1:\d+/{PREFIX}: ", stderr=True
                )
                await asyncio.sleep(3)  # three gateways' events pile up in the outbox
                await server.start()
                await wait_for_rows(postgres.dsn, 5)  # draining, slowly
                first.process.send_signal(signal.SIGKILL)
                assert await first.wait() == -signal.SIGKILL
            left, _ = outbox_contents(outbox)
            assert left  # killed before the backlog had drained
            async with cli(*args) as second:
                await second.wait_for("left in the outbox .* by an earlier run", stderr=True)
                await wait_for_keys(postgres.dsn, set(left))
                assert await second.stop() == 0, second.stderr
            remaining, given = outbox_contents(outbox)
            done = set(remaining)

            async def missing() -> int:
                return given - len(set(await row_keys(postgres.dsn)) | done)

            try:
                async with asyncio.timeout(30):
                    while await missing():  # noqa: ASYNC110 - a database, no event
                        await asyncio.sleep(0.2)
            except TimeoutError:
                raise AssertionError(
                    f"{await missing()} of the {given} events committed to the outbox are "
                    f"neither rows nor in the outbox:\n{ingest.stderr[-2000:]}"
                ) from None
            assert await ingest.stop() == 0, ingest.stderr
    finally:
        await server.stop()
    summary = re.search(r"^  mqtt: \d+ written, 0 dropped(, (\d+) kept)?", second.stdout, re.M)
    assert summary is not None
    assert len(remaining) == int(summary.group(2) or 0)  # the newest, for the next start
    keys = await row_keys(postgres.dsn)
    # Every event either run ever committed to the outbox is a row or still waits there,
    # and no reading is two rows, however often it was delivered.
    assert len(set(keys) | set(remaining)) == given
    assert len(keys) == len(set(keys))
    assert await readings_twice(postgres.dsn) == 0
    written, duplicates = ingest_summary(ingest)
    assert written == len(keys)
    print(f"{given} events committed, {len(keys)} rows, {len(remaining)} left in the outbox; "
          f"ingest found {duplicates} delivered again")  # fmt: skip
