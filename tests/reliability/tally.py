"""How many fuzz cases ran, per kind, for the summary line at the end of the test session."""

from __future__ import annotations

import collections

#: Cases per kind: one input tried (``mutated bodies``, ``session requests`` ...).
CASES: collections.Counter[str] = collections.Counter()
#: Parser calls per outcome (each mutated body is parsed several ways).
CALLS: collections.Counter[str] = collections.Counter()


def count(kind: str) -> None:
    """Record one more case of ``kind``."""
    CASES[kind] += 1


def count_call(outcome: str) -> None:
    """Record one parser call that ended in ``outcome`` (``a model`` or ``PayloadError``)."""
    CALLS[outcome] += 1


def summary() -> str | None:
    """One line: the total, the cases per kind, and the parser calls per outcome."""
    if not CASES:
        return None
    kinds = ", ".join(f"{n} {kind}" for kind, n in CASES.most_common())
    line = f"reliability fuzzing: {CASES.total()} cases ({kinds})"
    if CALLS:
        outcomes = ", ".join(f"{n} {outcome}" for outcome, n in CALLS.most_common())
        line += f"; {CALLS.total()} parser calls ({outcomes})"
    return line
