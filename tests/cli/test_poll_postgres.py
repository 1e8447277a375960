"""``enphase-local poll --postgres`` and ``--shard``: shards of one list, into one database."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import asyncpg

from enphase_local.cli.simulate import config_text
from enphase_local.fleet.shard import Shard
from enphase_local.simulator.pytest_plugin import SimulationFactory
from enphase_local.sinks.postgres import connect
from tests.cli.running import cli
from tests.postgres import PostgresServer

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
SHARDS = 2


async def gateways_with(conn: asyncpg.Connection, table: str) -> set[str]:
    rows = await conn.fetch(f"SELECT DISTINCT gateway FROM {table}")  # noqa: S608 - fixed names
    return {row["gateway"] for row in rows}


async def test_shards_split_the_list_and_write_into_one_database(
    enphase_simulation_factory: SimulationFactory, postgres: PostgresServer, tmp_path: Path
) -> None:
    sim = await enphase_simulation_factory(gateways=5, profile="metered", start_time=NOON)
    config = tmp_path / "fleet.toml"
    config.write_text("[poll]\nlive_interval = 1\n" + config_text(sim))
    # A password the server does not ask for (trust on loopback), to show it never prints.
    dsn = postgres.dsn.replace("enphase@", "enphase:hunter2@")
    serials = {g.serial for g in sim.gateways}
    expected = [sum(1 for g in sim.gateways if Shard(k, SHARDS).owns(g.url)) for k in range(SHARDS)]
    conn = await connect(postgres.dsn)
    try:
        async with (
            cli(
                "poll", "--config", str(config), "--shard", f"0/{SHARDS}", "--postgres", dsn
            ) as zero,
            cli(
                "poll", "--config", str(config), "--shard", f"1/{SHARDS}", "--postgres", dsn
            ) as one,
        ):
            for k, poll in enumerate((zero, one)):
                await poll.wait_for(rf"^shard {k}/{SHARDS}: {expected[k]} of 5 gateways$")
                line = await poll.wait_for("^polling ")
                assert "writing to PostgreSQL postgresql://enphase@127.0.0.1" in line

            async def all_there() -> bool:
                return await gateways_with(conn, "power_samples") == serials

            async with asyncio.timeout(40):
                while not await all_there():  # noqa: ASYNC110 - a database to poll, no event
                    await asyncio.sleep(0.2)
            for poll in (zero, one):
                assert await poll.stop() == 0, poll.stderr
                assert "hunter2" not in poll.stdout + poll.stderr
                assert "  postgres: " in poll.stdout
        assert await gateways_with(conn, "events") == serials
        assert await gateways_with(conn, "energy_events") == serials
        assert await conn.fetchval("SELECT count(*) FROM ledger") > 0
    finally:
        await conn.close()
    assert sorted(expected) != [0, 5]  # both shards had gateways to poll


async def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    dsn = "postgresql://enphase:hunter2@127.0.0.1:9/solar"
    async with cli("poll", "http://127.0.0.1:9", "--insecure-http", "--postgres", dsn) as poll:
        status = await poll.wait()
    assert status == 1
    assert poll.stderr.startswith(
        "enphase-local: error: cannot start the sinks "
        "(PostgreSQL postgresql://enphase@127.0.0.1:9/solar): cannot connect to PostgreSQL"
    )
    assert len(poll.stderr.splitlines()) == 1
    assert "hunter2" not in poll.stderr
