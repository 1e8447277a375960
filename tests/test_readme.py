"""What the README says of the reads and the default plan stays true.

Its table of the reads beyond the brief names each one's session method, path, ``get`` name
and how many capture sets hold a real body of it; the poll section gives the default plan's
GETs an hour and those of its example configuration.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from enphase_local import endpoints as ep
from enphase_local.config import parse_config
from enphase_local.scheduler import PollPlan
from tests.conftest import capture_sets, skip_without_captures
from tests.parsing.test_detail_captures import FILES, is_real_body

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
#: The reads beyond the brief (issue 14), in the endpoint table's order.
ROWS = ep.ENDPOINTS[ep.ENDPOINTS.index(ep.ENSEMBLE_INVENTORY) :]
#: A row of the README's table: method, path, ``get`` name, captures.
ROW = re.compile(r"^\| `(\w+)\(\)` \| `([^`]+)` \| `([\w-]+)` \| (\d+) \|", re.MULTILINE)


def table() -> list[tuple[str, str, str, int]]:
    return [(m[1], m[2], m[3], int(m[4])) for m in ROW.finditer(README)]


def test_the_table_names_every_read_as_the_library_does() -> None:
    assert [(name, path, get) for name, path, get, _ in table()] == [
        (row.name, row.path, row.cli_name) for row in ROWS
    ]


@skip_without_captures()
def test_the_capture_counts_are_those_of_the_captures() -> None:
    files: dict[str, list[str]] = {}
    for name, (row, _) in FILES.items():
        files.setdefault(row.name, []).append(name)
    sets = capture_sets()
    assert f"({len(sets)} of them, firmware 3.7 to 8.3)" in README
    counted = {
        row: sum(
            any((folder / name).is_file() and is_real_body(folder / name) for name in names)
            for folder in sets
        )
        for row, names in files.items()
    }
    assert {name: captures for name, _, _, captures in table()} == counted


def test_the_default_plan_gets_an_hour() -> None:
    plan = PollPlan()
    stream = 3600 / plan.live_stream_interval_s
    # A battery site serves every endpoint of the plan.
    battery_site = plan.requests_per_hour() - stream
    assert f"(`collar`) | {battery_site:.1f} |" in README


def test_the_example_trade_off_stays_under_450() -> None:
    match = re.search(r"```toml\n(\[poll\]\nlive_interval = 11\.5.*?)```", README, re.DOTALL)
    assert match is not None
    document = tomllib.loads(match[1]) | {"gateway": [{"host": "envoy.local"}]}
    plan = parse_config(document, source="README", base=Path()).plan
    stream = 3600 / plan.live_stream_interval_s
    gets = plan.requests_per_hour() - stream
    assert gets < 450
    assert f"That is {gets:.0f} GETs an hour at a battery site." in README
    assert plan.live[ep.METER_READINGS.name] == pytest.approx(11.5)
    assert f"meter readings: {3600 / 11.5:.0f} GETs an hour" in README
