"""Quantities for people: units out of the names, separators, no exponents."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest

from enphase_local.cli.tables import plain, print_table, quantity, scale_for, split_unit
from enphase_local.simulator.gateway import SimulatedGateway
from tests.cli.test_get import gateway_args, run_cli

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("energy_lifetime_wh", ("energy_lifetime", "wh")),
        ("active_power_a_w", ("active_power_a", "w")),
        ("reactive_energy_lagging_varh", ("reactive_energy_lagging", "varh")),
        ("soc_pct", ("soc", "pct")),
        ("eid", ("eid", None)),
        ("serial_number", ("serial_number", None)),
        ("_w", ("_w", None)),
    ],
)
def test_the_unit_comes_off_the_name(name: str, expected: tuple[str, str | None]) -> None:
    assert split_unit(name) == expected


@pytest.mark.parametrize(
    ("value", "suffix", "text"),
    [
        (20_059_600, "wh", "20.06 MWh"),
        (13_043, "wh", "13.04 kWh"),
        (9_999, "wh", "9,999 Wh"),
        (1.70045e7, "vah", "17.00 MVAh"),
        (1047, "w", "1,047 W"),
        (3412.75, "w", "3,412.8 W"),
        (-466.288, "w", "-466.3 W"),
        (-0.0004, "w", "0.00 W"),
        (239.61, "v", "239.6 V"),
        (60.001, "hz", "60.00 Hz"),
        (61.0, "pct", "61 %"),
        (123_456.7, "w", "123,457 W"),
    ],
)
def test_one_quantity(value: float, suffix: str, text: str) -> None:
    assert quantity(value, suffix) == text


def test_a_column_shares_one_unit_and_precision() -> None:
    scale = scale_for("wh", [5_000, 20_059_600])
    assert scale.unit == "MWh"
    assert [scale.format(v) for v in (5_000, 20_059_600)] == ["0.01", "20.06"]


@pytest.mark.parametrize(
    ("value", "text"),
    [(1e-7, "0.0000001"), (1e16, "10000000000000000"), (-0.999, "-0.999"), (None, "-")],
)
def test_other_numbers_never_use_an_exponent(value: float | None, text: str) -> None:
    assert plain(value) == text


def test_records_become_a_table_with_units_in_the_headers() -> None:
    out = io.StringIO()
    records = [
        {"serial_number": "482200010001", "last_report_w": 51, "energy_wh": 1_234_567.0},
        {"serial_number": "482200010002", "last_report_w": 1053, "energy_wh": 20_000.0},
    ]
    print_table(records, out)
    assert out.getvalue().splitlines() == [
        "serial_number  last_report (W)  energy (MWh)",
        "482200010001                51          1.23",
        "482200010002             1,053          0.02",
    ]


def test_nested_data_becomes_lines_with_the_unit_after_the_value() -> None:
    out = io.StringIO()
    print_table({"meters": {"soc_pct": 61.0, "eid": 704643328, "power_w": None}}, out)
    assert out.getvalue().splitlines() == [
        "meters.soc      61 %",
        "meters.eid      704643328",
        "meters.power_w  -",
    ]


@pytest.mark.enphase_simulation(start_time=NOON)
async def test_tables_show_quantities_for_people(
    enphase_gateway: SimulatedGateway, tmp_path: Path
) -> None:
    args = gateway_args(enphase_gateway, tmp_path / "token")
    status, out, _ = await run_cli("get", "production", *args)
    assert status == 0
    rows = dict(line.split(None, 1) for line in out.splitlines())
    assert re.fullmatch(r"\d{1,3}(,\d{3})* W", rows["power"])
    assert re.fullmatch(r"\d+\.\d\d MWh", rows["energy_lifetime"])
    assert "e+" not in out

    status, out, _ = await run_cli("get", "production", *args, "--json")
    exact = json.loads(out)["energy_lifetime_wh"]
    assert exact > 1_000_000  # the table's MWh came from Wh, which JSON keeps

    status, out, _ = await run_cli("get", "inverters", *args)
    assert status == 0
    header = out.splitlines()[0]
    assert "last_report (W)" in header
    assert "max_report (W)" in header
    assert "_w" not in header
