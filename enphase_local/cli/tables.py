"""Models as tables for people: units out of the names, readable numbers.

Model fields carry their unit as a name suffix (``active_power_w``, ``energy_lifetime_wh``).
A table shows the name without it and the unit once, in the column header
(``active_power (W)``), or after the value in a list of ``name  value`` rows. Numbers get
thousands separators and never an exponent; an energy column switches to kWh or MWh where
Wh would run long. ``--json`` output does not come through here: it stays exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Final, TextIO

import attrs

from enphase_local.export import flatten

#: Name suffix of a quantity -> the unit shown.
UNITS: Final = {
    "w": "W",
    "va": "VA",
    "var": "var",
    "wh": "Wh",
    "vah": "VAh",
    "varh": "varh",
    "v": "V",
    "a": "A",
    "hz": "Hz",
    "pct": "%",
    "percent": "%",
    "c": "°C",
}
#: Energy units, shown with a k or M prefix when the numbers are large.
_ENERGIES: Final = frozenset({"wh", "vah", "varh"})
#: (smallest magnitude, divisor, prefix) from the largest down.
_PREFIXES: Final = ((1e6, 1e6, "M"), (1e4, 1e3, "k"))


@attrs.frozen
class Scale:
    """How one column (or one value) of a quantity is shown."""

    #: The unit with its prefix, e.g. ``MWh``.
    unit: str
    #: What the values are divided by first.
    divisor: float
    #: Digits after the decimal point.
    decimals: int

    def format(self, value: float) -> str:
        """``20.06``, ``3,412.5``, ``-466`` (never ``-0``, never an exponent)."""
        text = f"{value / self.divisor:,.{self.decimals}f}"
        return text[1:] if text.startswith("-") and not text.strip("-0.,") else text


def split_unit(name: str) -> tuple[str, str | None]:
    """``energy_lifetime_wh`` -> (``energy_lifetime``, ``wh``); names without a unit as they are."""
    base, sep, suffix = name.rpartition("_")
    if sep and base and suffix in UNITS:
        return base, suffix
    return name, None


def scale_for(suffix: str, values: Iterable[float]) -> Scale:
    """The scale that shows all ``values`` of the unit ``suffix`` with the same unit."""
    numbers = list(values)
    largest = max((abs(v) for v in numbers), default=0.0)
    unit, divisor = UNITS[suffix], 1.0
    if suffix in _ENERGIES:
        for smallest, by, prefix in _PREFIXES:
            if largest >= smallest:
                unit, divisor = prefix + unit, by
                break
    if divisor == 1.0 and all(isinstance(v, int) or float(v).is_integer() for v in numbers):
        return Scale(unit, divisor, 0)
    return Scale(unit, divisor, _decimals(largest / divisor))


def _decimals(magnitude: float) -> int:
    """Enough digits for a reading, not more: 2 below 100, 1 below 10,000, else none."""
    if magnitude < 100:
        return 2
    if magnitude < 10_000:
        return 1
    return 0


def quantity(value: float, suffix: str) -> str:
    """One value with its unit: ``1,047 W``, ``17.00 MWh``."""
    scale = scale_for(suffix, [value])
    return f"{scale.format(value)} {scale.unit}"


def plain(value: Any) -> str:
    """A value that is not a quantity: ids as they are, floats without an exponent."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def print_table(data: Any, out: TextIO) -> None:
    """Print unstructured model data: one row per item for a list of flat records, else
    one ``name  value unit`` line per leaf."""
    if isinstance(data, list) and data and all(_is_flat(item) for item in data):
        _print_records(data, out)
    else:
        _print_pairs(flatten(data), out)


def _is_flat(item: Any) -> bool:
    return isinstance(item, dict) and not any(isinstance(v, dict | list) for v in item.values())


def _print_records(records: Sequence[dict[str, Any]], out: TextIO) -> None:
    columns = list(dict.fromkeys(key for item in records for key in item))
    headers: list[str] = []
    cells: list[list[str]] = []
    numeric: list[bool] = []
    for column in columns:
        values = [item.get(column) for item in records]
        header, texts = _column(column, values)
        headers.append(header)
        cells.append(texts)
        numeric.append(any(_is_number(v) for v in values))
    widths = [
        max(len(h), *(len(t) for t in texts)) for h, texts in zip(headers, cells, strict=True)
    ]
    rows = [headers, *zip(*cells, strict=True)]
    for row in rows:
        line = "  ".join(
            text.rjust(width) if right else text.ljust(width)
            for text, width, right in zip(row, widths, numeric, strict=True)
        )
        print(line.rstrip(), file=out)


def _column(name: str, values: list[Any]) -> tuple[str, list[str]]:
    """The header and the cell texts of one column."""
    base, suffix = split_unit(name)
    numbers = [v for v in values if _is_number(v)]
    if suffix is None or not numbers:
        return name, [plain(v) for v in values]
    scale = scale_for(suffix, numbers)
    texts = [scale.format(v) if _is_number(v) else plain(v) for v in values]
    return f"{base} ({scale.unit})", texts


def _print_pairs(pairs: list[tuple[str, Any]], out: TextIO) -> None:
    rows = [_pair(path, value) for path, value in pairs]
    width = max((len(label) for label, _ in rows), default=0)
    for label, text in rows:
        print(f"{label.ljust(width)}  {text}", file=out)


def _pair(path: str, value: Any) -> tuple[str, str]:
    """``energy_lifetime_wh``, 17004500 -> (``energy_lifetime``, ``17.00 MWh``)."""
    head, dot, name = path.rpartition(".")
    base, suffix = split_unit(name)
    if suffix is None or not _is_number(value):
        return path, plain(value)
    return f"{head}{dot}{base}", quantity(value, suffix)
