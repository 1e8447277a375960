"""The shape of a JSON body, to compare simulated bodies with real captures.

A shape maps each path to the JSON types seen there, and each object path to the key sets
of the objects seen there. Paths name keys; a key made of digits (a serial, a device id) is
data, so it reads ``{id}``; list items and such map values are told apart by their kind
(``type``, ``measurementType``, ``reportType`` or ``devName``), so that the batteries of an
inventory are compared with batteries and its System Controller with System Controllers.
List lengths do not matter, and neither do empty objects (a channel without readings).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

import attrs

#: Keys whose value tells what kind of item a list holds.
_KINDS = ("type", "measurementType", "reportType", "devName")


def _json_type(value: object) -> str:
    """``object``, ``array``, ``string``, ``bool``, ``null``, ``int`` or ``float``."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return {str: "string", int: "int", float: "float"}[type(value)]


def _kind(value: object) -> str:
    if not isinstance(value, dict):
        return ""
    return "|".join(str(value[k]) for k in _KINDS if isinstance(value.get(k), str))


@attrs.define
class Shape:
    """Types per path and key sets per object path of one or more bodies."""

    #: JSON types seen at each path.
    types: dict[str, set[str]] = attrs.field(factory=lambda: collections.defaultdict(set))
    #: Key sets (data keys left out) of the non-empty objects seen at each path.
    objects: dict[str, list[frozenset[str]]] = attrs.field(
        factory=lambda: collections.defaultdict(list)
    )

    def add(self, value: object, path: str = "$") -> None:
        """Record ``value`` found at ``path`` and everything inside it."""
        self.types[path].add(_json_type(value))
        if isinstance(value, dict):
            names = frozenset(k for k in value if not k.isdigit())
            if value:
                self.objects[path].append(names)
            for key, item in value.items():
                step = f"{{id:{_kind(item)}}}" if key.isdigit() else key
                self.add(item, f"{path}.{step}")
        elif isinstance(value, list):
            for item in value:
                self.add(item, f"{path}[{_kind(item)}]")

    def required(self, path: str) -> frozenset[str]:
        """Keys every object at ``path`` has (none when no object was seen there)."""
        key_sets = self.objects.get(path, [])
        return frozenset.intersection(*key_sets) if key_sets else frozenset()


def shape_of(bodies: Iterable[object]) -> Shape:
    """The shape of several bodies together."""
    shape = Shape()
    for body in bodies:
        shape.add(body)
    return shape


def differences(simulated: object, reality: Shape, peers: Shape) -> list[str]:
    """Where ``simulated`` departs from real bodies.

    ``reality`` is the shape of every capture of the endpoint: each path of the simulated
    body must occur there with one of the types seen there. ``peers`` is the shape of the
    captures of the same firmware generation: each simulated object must have every key that
    all their objects at its path have.
    """
    found: list[str] = []
    mine = shape_of([simulated])
    for path, types in mine.types.items():
        seen = reality.types.get(path)
        if seen is None:
            found.append(f"{path}: no capture has it")
        elif not types <= seen:
            found.append(f"{path}: {sorted(types)} where captures have {sorted(seen)}")
    for path, key_sets in mine.objects.items():
        for keys in key_sets:
            missing = peers.required(path) - keys
            if missing:
                found.append(f"{path}: lacks {sorted(missing)}")
    return found
