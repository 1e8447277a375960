"""Twenty simulated gateways through a broker outage, counted in PostgreSQL: the pollers'
outbox, mosquitto restarted, ``enphase-local ingest`` writing every event once."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.outbox import OutageConfig, run_outage
from tests.postgres import PostgresServer
from tests.sinks.broker import needs_puback_reasons, require_mosquitto

# A reduced install (no postgres extra) skips it; CI installs everything.
pytest.importorskip("asyncpg", reason="the ingest path needs asyncpg (the postgres extra)")


@needs_puback_reasons  # the pollers wait for ingest to subscribe again
async def test_every_event_polled_through_an_outage_is_one_row(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    require_mosquitto()
    config = OutageConfig(
        gateways=20,
        speed=10.0,  # the default plan, ten times as fast: 40 simulated s of outage
        before_s=2.0,
        outage_s=4.0,
        after_s=1.0,
        drain_rate=300.0,
        reconnect_delay_s=(0.05, 0.5),
        patience_s=20.0,
    )
    result = await run_outage(config, tmp_path, postgres)
    print(f"{result.polled} events polled, {result.received} rows; the pollers' sink waited "
          f"for a subscriber {result.stats.failures} times")  # fmt: skip
    assert result.consumer == "postgres"
    assert result.waiting > 0  # the outage was felt
    assert result.polled > result.waiting
    assert result.received == result.polled  # rows in PostgreSQL: one per event polled
    assert (result.lost, result.unknown) == (0, 0)
    assert result.mismatched == 0  # no reading is two rows
    assert {"data", "energy"} <= result.kinds.keys()
    assert sum(result.kinds.values()) == result.received
    assert result.stats.dropped == 0
    assert result.stats.kept == 0
    assert result.ok
