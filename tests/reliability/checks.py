"""The parser contract, checked on one body: a model or a PayloadError, nothing else."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import orjson

from enphase_local.errors import PayloadError
from enphase_local.parsing import json_body
from tests.reliability import tally
from tests.reliability.corpus import Target

#: Both JSON decoders the library may run with (orjson when installed, else the standard one).
DECODERS: dict[str, json_body.Loads] = {"orjson": orjson.loads, "stdlib": json_body.stdlib_loads}

#: An error message may name the endpoint, the problem and the JSON path; never echo a body.
MAX_MESSAGE_CHARS = 300


@contextlib.contextmanager
def decoder(loads: json_body.Loads) -> Iterator[None]:
    """Run the parsers with ``loads`` as their JSON decoder."""
    saved = json_body.LOADS
    json_body.LOADS = loads
    try:
        yield
    finally:
        json_body.LOADS = saved


def _check_error(target: Target, err: PayloadError) -> None:
    assert err.endpoint == target.path, err
    assert err.path.startswith("/" if target.xml else "$"), err
    assert len(str(err)) <= MAX_MESSAGE_CHARS + len(err.path), str(err)[:2000]


def _parse(target: Target, body: bytes, *, strict: bool) -> object:
    """The model, or the PayloadError raised; any other exception propagates (and fails)."""
    try:
        result = target.parse(body, strict=strict)
    except PayloadError as err:
        _check_error(target, err)
        tally.count_call("PayloadError")
        return err
    assert target.returned_model(result), f"{target.name} returned {type(result).__name__}"
    tally.count_call("a model")
    return result


def check_body(target: Target, body: bytes) -> None:
    """Parse ``body`` strictly and leniently with each decoder; check the contract each time.

    Beyond "a model or a PayloadError": whatever strict mode accepts, lenient mode accepts as
    the same model.
    """
    tally.count("mutated bodies")
    decoders = {"any": json_body.LOADS} if target.xml else DECODERS
    for loads in decoders.values():
        with decoder(loads):
            strict = _parse(target, body, strict=True)
            lenient = _parse(target, body, strict=False)
        if not isinstance(strict, PayloadError):
            assert lenient == strict, "lenient mode refused or changed what strict mode accepted"


def check_labelled(target: Target, label: str, body: bytes) -> None:
    """:func:`check_body`, naming ``label`` when the check fails."""
    try:
        check_body(target, body)
    except Exception as err:
        raise AssertionError(f"{target.name} / {label}: {type(err).__name__}: {err}") from err
