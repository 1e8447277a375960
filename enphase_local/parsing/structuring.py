"""Bodies to models: the generated fast path first, the detailed converter on failure.

The endpoint table (:mod:`enphase_local.endpoints`) builds one structurer per endpoint from
its model and path; the subclasses serve endpoints whose bodies need more than structuring
as they come.
"""

from __future__ import annotations

import logging
from typing import Any, Generic, TypeVar, get_args

from enphase_local.errors import PayloadError
from enphase_local.parsing import json_body
from enphase_local.parsing.converter import STRUCTURE_FAILURES, _kind, _step, describe_failure
from enphase_local.parsing.fastpath import StructureFn, structure_fn

T = TypeVar("T")

_LOGGER = logging.getLogger("enphase_local.parsing")


class Structurer(Generic[T]):
    """Structures the body of one endpoint into one type.

    The structuring functions are generated on first use, so importing costs nothing.
    """

    __slots__ = ("_lenient", "_strict", "endpoint", "tp")

    def __init__(self, tp: type[T], endpoint: str) -> None:
        """Structure into ``tp`` (a model class or ``tuple[Model, ...]``) for ``endpoint``."""
        #: The type structured into.
        self.tp = tp
        #: The URL path, for error messages.
        self.endpoint = endpoint
        # Two attributes rather than a list indexed by a bool: measurably cheaper per body.
        self._lenient: StructureFn | None = None
        self._strict: StructureFn | None = None

    def _fn(self, strict: bool) -> StructureFn:
        fn = structure_fn(self.tp, strict=strict)
        if strict:
            self._strict = fn
        else:
            self._lenient = fn
        return fn

    def parse(self, body: bytes, strict: bool = False) -> T:
        """Decode and structure a body (one call less than decoding, then structuring).

        :raises PayloadError: the body is not JSON, or does not fit; see :meth:`structure`.
        """
        try:
            data = json_body.LOADS(body)
        except json_body.DECODE_FAILURES as err:
            raise json_body.decode_error(err, self.endpoint) from err
        # What structure() does, inlined: one call less on every body parsed.
        fn = (self._strict or self._fn(True)) if strict else (self._lenient or self._fn(False))
        try:
            result: T = fn(data)
        except STRUCTURE_FAILURES as err:
            raise self._failure(data, strict) from err
        return result

    def structure(self, data: object, strict: bool = False) -> T:
        """Structure ``data`` as a JSON decoder made it; with ``strict`` unknown keys are errors.

        :raises PayloadError: naming the JSON path of the first problem.
        """
        fn = (self._strict or self._fn(True)) if strict else (self._lenient or self._fn(False))
        try:
            result: T = fn(data)
        except STRUCTURE_FAILURES as err:
            raise self._failure(data, strict) from err
        return result

    def _failure(self, data: object, strict: bool) -> PayloadError:
        path, message = describe_failure(data, self.tp, strict=strict)
        return PayloadError(message, endpoint=self.endpoint, path=path)


class SkippingStructurer(Structurer[T]):
    """Structures a JSON array of models; when lenient, items that do not fit are left out.

    Each item left out is logged, so one odd microinverter does not hide all the others; in
    strict mode it is an error. Only for a ``tuple[Model, ...]``.
    """

    __slots__ = ()

    def parse(self, body: bytes, strict: bool = False) -> T:
        """Decode and structure a body; see the class."""
        data = json_body.decode_json(body, self.endpoint)
        if strict or type(data) is not list:
            return self.structure(data, strict)
        try:
            whole: T = (self._lenient or self._fn(False))(data)
        except STRUCTURE_FAILURES:
            return self._fitting_items(data)
        return whole

    def _fitting_items(self, data: list[Any]) -> T:
        item_type = get_args(self.tp)[0]
        item_fn = structure_fn(item_type, strict=False)
        kept = []
        for index, item in enumerate(data):
            try:
                kept.append(item_fn(item))
            except STRUCTURE_FAILURES:
                path, message = describe_failure(item, item_type, strict=False)
                _LOGGER.warning(
                    "%s: skipping item %d that does not fit: %s (at $[%d]%s)",
                    self.endpoint,
                    index,
                    message,
                    index,
                    path[1:],
                )
        result: T = tuple(kept)  # type: ignore[assignment] # T is tuple[Model, ...] here
        return result


class OneOrManyStructurer(Structurer[T]):
    """Structures a JSON array of models, or one model object as a tuple of one.

    The gateway sends an array of consumption reports; the vendor brief shows a single
    object. Only for a ``tuple[Model, ...]``.
    """

    __slots__ = ("_one",)

    def __init__(self, tp: type[T], endpoint: str) -> None:
        """Structure into ``tp``, a ``tuple[Model, ...]``, for ``endpoint``."""
        super().__init__(tp, endpoint)
        self._one: Structurer[Any] = Structurer(get_args(tp)[0], endpoint)

    def parse(self, body: bytes, strict: bool = False) -> T:
        """Decode and structure a body; see the class."""
        data = json_body.decode_json(body, self.endpoint)
        if type(data) is dict:
            result: T = (self._one.structure(data, strict),)  # type: ignore[assignment] # as above
            return result
        return self.structure(data, strict)


class GroupedStructurer(Structurer[T]):
    """Structures a JSON array of ``{"type": ..., "devices": [...]}`` groups as one object whose
    keys are the group types (``ENCHARGE``, ``PCU``): a model with a field per kind of device.

    Error paths name the groups as sent (``$[1].devices[0].temperature``). Groups of a type
    the model does not know are ignored, or errors in strict mode.
    """

    __slots__ = ()

    def parse(self, body: bytes, strict: bool = False) -> T:
        """Decode, regroup and structure a body; see the class."""
        data = json_body.decode_json(body, self.endpoint)
        grouped, positions = self._by_type(data, strict)
        fn = (self._strict or self._fn(True)) if strict else (self._lenient or self._fn(False))
        try:
            result: T = fn(grouped)
        except STRUCTURE_FAILURES as err:
            path, message = describe_failure(grouped, self.tp, strict=strict)
            path = _path_as_sent(path, message, positions)
            raise PayloadError(message, endpoint=self.endpoint, path=path) from err
        return result

    def _by_type(self, data: object, strict: bool) -> tuple[dict[str, Any], dict[str, int]]:
        """The devices by group type, and where each type's group is in the array."""
        if type(data) is not list:
            raise PayloadError(f"expected an array, got {_kind(data)}", endpoint=self.endpoint)
        grouped: dict[str, Any] = {}
        positions: dict[str, int] = {}
        for index, group in enumerate(data):
            kind, devices = self._group(group, index, strict)
            if isinstance(grouped.get(kind), list) and isinstance(devices, list):
                devices = grouped[kind] + devices  # the same type twice: one list
            grouped[kind] = devices
            positions.setdefault(kind, index)
        return grouped, positions

    def _group(self, group: object, index: int, strict: bool) -> tuple[str, object]:
        where = f"$[{index}]"
        if type(group) is not dict:
            raise PayloadError(
                f"expected an object, got {_kind(group)}", endpoint=self.endpoint, path=where
            )
        kind = group.get("type")
        if type(kind) is not str:
            message = (
                "missing required key" if kind is None else f"expected a string, got {_kind(kind)}"
            )
            raise PayloadError(message, endpoint=self.endpoint, path=f"{where}.type")
        extra = sorted(set(group) - {"type", "devices"})
        if strict and extra:
            raise PayloadError(
                "unexpected key", endpoint=self.endpoint, path=f"{where}{_step(extra[0])}"
            )
        return kind, group.get("devices", [])


def _path_as_sent(path: str, message: str, positions: dict[str, int]) -> str:
    """``$.ENCHARGE[0].temperature`` as sent: ``$[0].devices[0].temperature``."""
    for kind, index in positions.items():
        prefix = "$" + _step(kind)
        if path == prefix:
            return f"$[{index}].type" if message == "unexpected key" else f"$[{index}].devices"
        if path.startswith(prefix + "["):
            return f"$[{index}].devices{path[len(prefix) :]}"
    return path
