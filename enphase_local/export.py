"""Models to plain data: JSON-ready dicts with snake_case names and ISO 8601 UTC times, and
back (what a consumer of the MQTT stream needs to rebuild the models)."""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Any, TypeVar

import cattrs

T = TypeVar("T")

_converter = cattrs.Converter()
_converter.register_unstructure_hook(datetime, lambda value: value.isoformat())
_converter.register_unstructure_hook(enum.Enum, lambda value: value.value)
_converter.register_structure_hook(datetime, lambda value, _: datetime.fromisoformat(value))


def to_data(model: Any) -> Any:
    """Unstructure a model (or a tuple of models) into dicts, lists and scalars."""
    return _converter.unstructure(model)


def from_data(data: Any, model: type[T]) -> T:
    """The model (or tuple of models) ``to_data`` rendered as ``data``; cattrs' errors
    (a ``ClassValidationError``, ``ValueError`` or ``TypeError``) when it does not fit."""
    return _converter.structure(data, model)


def to_json(model: Any, *, indent: int | None = 2) -> str:
    """Render a model as JSON; a tuple of models becomes an array."""
    return json.dumps(to_data(model), indent=indent, ensure_ascii=False)


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten unstructured data into ``(dotted.path, scalar)`` pairs, in field order."""
    if isinstance(data, dict):
        pairs: list[tuple[str, Any]] = []
        for key, value in data.items():
            pairs.extend(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return pairs
    if isinstance(data, list | tuple):
        if not data:
            return [(prefix, "[]")]
        pairs = []
        for index, value in enumerate(data):
            pairs.extend(flatten(value, f"{prefix}[{index}]"))
        return pairs
    return [(prefix, data)]
