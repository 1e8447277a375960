"""Decoding JSON bodies from bytes, whatever the Content-Type said."""

from __future__ import annotations

import json
from typing import NoReturn

from enphase_local.errors import PayloadError


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


# One decoder, built once: json.loads() with options would build a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def decode_json(body: bytes, endpoint: str) -> object:
    """Decode a UTF-8 JSON body; NaN and Infinity are refused.

    :raises PayloadError: the body is not UTF-8, not JSON, or nested too deeply.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PayloadError(f"body is not UTF-8 (byte {err.start})", endpoint=endpoint) from err
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as err:
        raise PayloadError(
            f"body is not valid JSON: {err.msg} (line {err.lineno} column {err.colno})",
            endpoint=endpoint,
        ) from err
    except ValueError as err:  # NaN/Infinity, or an integer with too many digits
        raise PayloadError(f"body is not valid JSON: {err}", endpoint=endpoint) from err
    except RecursionError as err:
        raise PayloadError("body is nested too deeply", endpoint=endpoint) from err
