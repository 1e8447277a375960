"""Shared test configuration."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aioresponses.core
import pytest
from aiohttp import ClientResponse
from aioresponses import aioresponses as Aioresponses

from tests.postgres import PostgresServer, postgres_server

#: The simulator's fixtures (``enphase_simulation``, ``enphase_gateway``, ...) and the
#: DEBUG log capture of the secret checks (``all_logs``), for every test.
pytest_plugins = ["enphase_local.simulator.pytest_plugin", "tests.reliability.hygiene"]

#: Where the real captures live: ``$ENPHASE_FIXTURES`` (CI sets it), else nowhere.
FIXTURES_ENV = "ENPHASE_FIXTURES"


def fixtures_root() -> Path | None:
    """The captures folder (``.../fixtures/gateways``), or None when it is not configured."""
    value = os.environ.get(FIXTURES_ENV)
    if not value:
        return None
    return Path(value)


def capture_sets() -> list[Path]:
    """Every capture set folder; an empty list when the captures are not available.

    With ``ENPHASE_REQUIRE_FIXTURES=1`` (as in ``.ci/run``) a missing or empty folder is an
    error, so the capture suite can never be skipped silently in CI.
    """
    root = fixtures_root()
    required = os.environ.get("ENPHASE_REQUIRE_FIXTURES") == "1"
    if root is None or not root.is_dir():
        if required:
            raise RuntimeError(f"{FIXTURES_ENV} must point at the captures folder, got {root}")
        return []
    sets = sorted(p for p in root.iterdir() if p.is_dir())
    if required and not sets:
        raise RuntimeError(f"no capture sets under {root}")
    return sets


def skip_without_captures() -> pytest.MarkDecorator:
    """Mark a test module that needs the captures: skipped, visibly, when they are absent."""
    return pytest.mark.skipif(
        not capture_sets(),
        reason=f"real captures not available: set {FIXTURES_ENV} to .../shared/fixtures/gateways",
    )


class _CompatResponse(ClientResponse):
    """aioresponses 0.7.9 builds responses without the ``stream_writer`` aiohttp 3.14 requires.

    The request is already sent when aioresponses builds its response, so a writer that
    reports zero bytes sent is what aiohttp itself would have left behind.
    """

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


@pytest.fixture(autouse=True)
def _private_state_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``$XDG_STATE_HOME`` in a temporary folder: no test (nor a command it starts) leaves an
    MQTT outbox in the user's own state folder."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aioresponses]:
    """aioresponses, working with the installed aiohttp, answering the sessions' requests."""
    if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:
        monkeypatch.setattr(aioresponses.core, "ClientResponse", _CompatResponse)
    with Aioresponses() as mock:
        yield mock


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster on a loopback port (skipped when PostgreSQL is not
    installed, unless ``ENPHASE_REQUIRE_POSTGRES=1``)."""
    with postgres_server() as server:
        yield server
