"""Configuration of the reliability tests: the fuzz-case count in the terminal summary."""

from __future__ import annotations

import pytest

from tests.reliability import tally


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many fuzz cases ran (shown with ``-q`` too)."""
    line = tally.summary()
    if line is not None:
        terminalreporter.write_line(line)
