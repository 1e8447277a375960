"""A short fault soak (``benchmarks.soak``) in the test run: about 40 s of wall time.

Fifty simulated gateways in a child process (as in the release run), the Poller and the
SQLite sink; every fault kind is injected at least once and must be detected and recovered
from, with no event lost on the way to the file, never two requests in flight at one
gateway, and no unhandled exception. No timing is asserted (how fast each fault is recovered
from is the benchmark's figure, not a test's), and the run is too short for the memory trend
to be judged (see ``tests/soak/test_soak_memory.py`` for its arithmetic).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.soak import EXPIRY_KIND, FAULT_KINDS, SoakConfig, broken_invariants, run_soak


async def test_short_soak_holds_every_invariant(tmp_path: Path) -> None:
    database = tmp_path / "soak.sqlite"
    # Gateway faults also on gateways renewing short-lived tokens, as in the release run.
    config = SoakConfig(gateways=50, duration_s=40.0, database=database, child_process=True)
    report = await run_soak(config)
    overall = report["overall"]
    assert broken_invariants(report) == [], report["errors"]
    # The run did real work, and what it wrote is in the file.
    assert overall["polls_succeeded"] > 1000
    assert overall["data_rows_written"] == overall["data_events_delivered"] > 1000
    assert overall["polls_failed"] > 0  # the faults were felt
    assert overall["max_in_flight_per_gateway"] == 1
    assert database.stat().st_mode & 0o077 == 0
    for kind in (*FAULT_KINDS, EXPIRY_KIND):
        row = report["faults"][kind]
        assert row["injected"] >= 1, kind
        assert row["detected"] == row["injected"], (kind, row)
        assert row["recovered"] == row["injected"], (kind, row)
    assert overall["expired_tokens_refused"] == 0
    assert overall["final_states"] == {"online": 50}
    assert overall["simulator"] == "child process"
    assert overall["simulator_errors"] == 0
    assert overall["memory_start_kib"] > 0
    assert overall["memory_trend_judged"] is False
