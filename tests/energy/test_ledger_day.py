"""The ledger's promise, measured on a shortened simulated day (the whole day is
``benchmarks/ledger_day.py``): three gateways, every counter fault on each, a poller outage;
per gateway and flow the ledger's total is within 0.5 % of the simulator's ground truth, no
quarter hour is missing, and the published energy totals (recorded, and on a real mosquitto
when installed) never fall and never jump beyond what the site can make."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from benchmarks.ledger_day import DAY, PROFILES, TOLERANCE_PCT, broker, report, run_day
from enphase_local.energy import BATTERY_CHARGE, BATTERY_DISCHARGE
from tests.sinks.broker import REQUIRE_ENV


async def test_a_short_day_of_faults_and_an_outage_matches_the_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with broker(tmp_path) as mqtt:
        if os.environ.get(REQUIRE_ENV) == "1":
            assert mqtt is not None, f"{REQUIRE_ENV}=1 but mosquitto is not installed"
        result = await run_day(
            tmp_path,
            start=DAY + dt.timedelta(hours=14),
            hours=6.0,
            outage_hours=0.5,
            outage_at=0.7,
            mqtt=mqtt,
        )
    report(result)
    table = capsys.readouterr().out
    assert "ledger kWh" in table
    assert all(ledger is not None for *_, ledger in result.flows), table
    assert result.worst_pct <= TOLERANCE_PCT, table
    assert not any(result.missing.values()), result.missing
    assert result.problems == []
    assert result.buckets == len(PROFILES) * 6 * 4
    assert result.filled >= len(PROFILES) * 2  # the half hour out, in every ledger
    if mqtt is not None:
        assert result.mqtt_states > 0
    for profile in PROFILES:
        assert {"held", "transient", "spike", "reset"} <= set(result.decisions[profile]), profile
    assert "gap" in result.decisions["acb"]  # battery power unsampled while polling was out
    battery = {flow for _, profile, flow, *_ in result.flows if profile == "acb"}
    assert {BATTERY_CHARGE, BATTERY_DISCHARGE} <= battery
