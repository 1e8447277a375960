"""``enphase-local demo`` runs to completion against its own simulated gateways."""

from __future__ import annotations

from tests.cli.test_get import run_cli


async def test_demo_reads_three_gateways() -> None:
    status, out, err = await run_cli("demo", "--duration", "1", "--interval", "1")
    assert status == 0, err
    rows = [line for line in out.splitlines() if line.startswith("20")]
    assert len(rows) == 3
    for row in rows:
        assert "error" not in row
        production = float(row.split()[3])
        assert production >= 0
    assert "Done" in out
