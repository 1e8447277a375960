"""Decoding JSON bodies from bytes, whatever the Content-Type said.

orjson is used when it is installed (it decodes three to four times faster than the standard
library, which matters for live endpoints polled every second); otherwise the standard
library's decoder, set up to refuse the same things: invalid UTF-8, NaN and Infinity, numbers
too large for a float, and nesting deeper than the interpreter can follow. Either way a
decoded body holds finite floats only, which the generated structuring functions rely on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import NoReturn

from enphase_local.errors import PayloadError

Loads = Callable[[bytes], object]


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value - value != 0.0:  # inf: a literal such as 1e999, which orjson refuses too
        raise ValueError(f"number {text[:40]} is too large for a float")
    return value


# One decoder, built once: json.loads() with options would build a new one per call.
_STDLIB_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def stdlib_loads(body: bytes) -> object:
    """Decode with the standard library (strict UTF-8; NaN, Infinity and ``1e999`` refused)."""
    return _STDLIB_DECODER.decode(body.decode("utf-8"))


def _find_orjson() -> Loads | None:
    try:
        import orjson  # noqa: PLC0415 - optional accelerator, imported where it is probed
    except ImportError:
        return None
    loads: Loads = orjson.loads
    return loads


#: The decoder in use: orjson's when it is installed, else :func:`stdlib_loads`.
LOADS: Loads = _find_orjson() or stdlib_loads


def decode_json(body: bytes, endpoint: str) -> object:
    """Decode a UTF-8 JSON body.

    :raises PayloadError: the body is not UTF-8, not JSON, or nested too deeply.
    """
    try:
        return LOADS(body)
    except DECODE_FAILURES as err:
        raise decode_error(err, endpoint) from err


#: What :data:`LOADS` raises on a body it cannot decode.
DECODE_FAILURES = (ValueError, RecursionError)


def decode_error(err: Exception, endpoint: str) -> PayloadError:
    """The PayloadError for one of :data:`DECODE_FAILURES` raised by :data:`LOADS`."""
    if isinstance(err, UnicodeDecodeError):
        return PayloadError(f"body is not UTF-8 (byte {err.start})", endpoint=endpoint)
    if isinstance(err, json.JSONDecodeError):  # orjson's error is a subclass
        return PayloadError(
            f"body is not valid JSON: {err.msg} (line {err.lineno} column {err.colno})",
            endpoint=endpoint,
        )
    if isinstance(err, RecursionError):
        return PayloadError("body is nested too deeply", endpoint=endpoint)
    # NaN/Infinity, or a number with too many digits.
    return PayloadError(f"body is not valid JSON: {err}", endpoint=endpoint)
