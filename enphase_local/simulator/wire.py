"""JSON as the gateway writes it: pretty-printed, floats with a fixed number of decimals.

The device prints measurements with ``%.3f`` (``60.000``, ``-0.000``) and a few report fields
with two decimals; Python's ``json`` cannot, so bodies are written by this small encoder.
The older web back end (``/production.json``, ``/inventory.json``, ``/home``,
``/admin/lib/*``) writes compact JSON with the shortest form of each float instead:
:func:`compact`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TypeAlias

import attrs


@attrs.frozen
class Fixed:
    """A float printed with ``digits`` decimals (plain floats get three)."""

    #: The number.
    value: float
    #: Decimals to print.
    digits: int


#: A JSON value as the encoder accepts it.
JsonValue: TypeAlias = (
    "bool | int | float | str | Fixed | Sequence[JsonValue] | Mapping[str, JsonValue] | None"
)


def _scalar(value: object) -> str | None:
    """The JSON text of a scalar, or None for a container."""
    text: str | None = None
    if value is None or isinstance(value, bool | str):
        text = json.dumps(value)
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = f"{value:.3f}"
    elif isinstance(value, Fixed):
        text = f"{value.value:.{value.digits}f}"
    return text


def _encode(value: JsonValue, indent: int, level: int) -> str:
    scalar = _scalar(value)
    if scalar is not None:
        return scalar
    inner = " " * (indent * (level + 1))
    outer = " " * (indent * level)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        items = (
            f"{inner}{json.dumps(k)}: {_encode(v, indent, level + 1)}" for k, v in value.items()
        )
        return "{\n" + ",\n".join(items) + "\n" + outer + "}"
    if isinstance(value, Sequence):
        if not value:
            return "[]"
        items = (f"{inner}{_encode(v, indent, level + 1)}" for v in value)
        return "[\n" + ",\n".join(items) + "\n" + outer + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(value: JsonValue, *, indent: int = 4) -> bytes:
    """``value`` as pretty-printed JSON bytes with a trailing newline."""
    return (_encode(value, indent, 0) + "\n").encode("utf-8")


def compact(value: object) -> bytes:
    """``value`` as compact JSON bytes with a trailing newline (plain Python values only)."""
    return (json.dumps(value, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")
