"""How many fuzz cases ran, per kind, for the summary line at the end of the test session."""

from __future__ import annotations

import collections

#: Cases per kind (``parser bodies``, ``parser calls``, ``session requests`` ...).
CASES: collections.Counter[str] = collections.Counter()


def count(kind: str, n: int = 1) -> None:
    """Record ``n`` more cases of ``kind``."""
    CASES[kind] += n


def summary() -> str | None:
    """One line naming every kind with its count, or None when nothing ran."""
    if not CASES:
        return None
    parts = ", ".join(f"{n} {kind}" for kind, n in sorted(CASES.items()))
    return f"reliability fuzzing: {parts}"
