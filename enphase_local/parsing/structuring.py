"""Bodies to models: the generated fast path first, the detailed converter on failure."""

from __future__ import annotations

import logging
from typing import Any, Generic, TypeVar, get_args

from enphase_local.errors import PayloadError
from enphase_local.parsing import json_body
from enphase_local.parsing.converter import STRUCTURE_FAILURES, describe_failure
from enphase_local.parsing.fastpath import StructureFn, structure_fn

T = TypeVar("T")


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

    def skipping_bad_items(self, data: list[Any], logger: logging.Logger) -> T:
        """Structure a JSON array leniently; items that do not fit are logged and left out.

        Only for a ``tuple[Model, ...]`` structurer.
        """
        try:
            whole: T = (self._lenient or self._fn(False))(data)
        except STRUCTURE_FAILURES:
            pass
        else:
            return whole
        item_type = get_args(self.tp)[0]
        item_fn = structure_fn(item_type, strict=False)
        kept = []
        for index, item in enumerate(data):
            try:
                kept.append(item_fn(item))
            except STRUCTURE_FAILURES:
                path, message = describe_failure(item, item_type, strict=False)
                logger.warning(
                    "%s: skipping item %d that does not fit: %s (at $[%d]%s)",
                    self.endpoint,
                    index,
                    message,
                    index,
                    path[1:],
                )
        result: T = tuple(kept)  # type: ignore[assignment] # T is tuple[Model, ...] here
        return result
