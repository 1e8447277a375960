"""The endpoint table's direct parsers behave exactly like the public ``parse_*`` functions."""

from __future__ import annotations

from typing import Any

import pytest

from enphase_local import endpoints as ep
from enphase_local.errors import PayloadError
from enphase_local.parsing.parsers import DIRECT
from tests.parsing import samples

CASES: list[tuple[ep.Endpoint[Any], Any]] = [
    (ep.DEVICE_LIST, samples.DEVICE_LIST),
    (ep.METERS, samples.METERS),
    (ep.METER_READINGS, samples.METER_READINGS),
    (ep.PRODUCTION, samples.PRODUCTION),
    (ep.ENERGY, samples.ENERGY),
    (ep.LIVE_DATA, samples.LIVE_DATA),
    (ep.GRID_READINGS, samples.GRID_READINGS),
]


def _public(endpoint: ep.Endpoint[Any]) -> Any:
    (public,) = [wrapper for wrapper, direct in DIRECT.items() if direct == endpoint.parse]
    return public


def _with_unknown_key(sample: Any) -> Any:
    copy = samples.mutable(sample)
    target = copy[0] if isinstance(copy, list) else copy
    target["brandNewField"] = 1
    return copy


def test_every_plain_parser_is_called_directly() -> None:
    assert {id(endpoint.parse) for endpoint, _ in CASES} == {id(d) for d in DIRECT.values()}
    assert all(endpoint.parse in DIRECT.values() for endpoint, _ in CASES)


@pytest.mark.parametrize(("endpoint", "sample"), CASES, ids=[e.name for e, _ in CASES])
def test_same_models_and_same_strictness(endpoint: ep.Endpoint[Any], sample: Any) -> None:
    public = _public(endpoint)
    body = samples.json_body(sample)
    assert endpoint.parse(body) == public(body)
    assert endpoint.parse(body, strict=True) == public(body, strict=True)
    extra = samples.json_body(_with_unknown_key(sample))
    assert endpoint.parse(extra) == public(extra)  # lenient: the new key is ignored
    for parse in (endpoint.parse, public):
        with pytest.raises(PayloadError, match="brandNewField"):
            parse(extra, strict=True)
    for parse in (endpoint.parse, public):
        with pytest.raises(PayloadError, match=endpoint.path):
            parse(b"{not json")
