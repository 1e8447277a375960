"""Fixtures of the parsing tests."""

from __future__ import annotations

import importlib.util

import pytest

from enphase_local.parsing import json_body

_BACKENDS = ["stdlib", "orjson"]


@pytest.fixture(params=_BACKENDS)
def json_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once per JSON decoder (orjson only where it is installed)."""
    backend: str = request.param
    if backend == "orjson":
        if importlib.util.find_spec("orjson") is None:
            pytest.skip("orjson is not installed")
        import orjson  # noqa: PLC0415 - optional, imported only once known to be present

        monkeypatch.setattr(json_body, "LOADS", orjson.loads)
    else:
        monkeypatch.setattr(json_body, "LOADS", json_body.stdlib_loads)
    return backend
