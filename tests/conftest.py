"""Shared test configuration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
