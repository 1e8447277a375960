"""The command line starts without loading what its command does not need."""

from __future__ import annotations

import subprocess
import sys

import pytest

from enphase_local import simulator


def test_help_and_poll_do_not_load_the_simulator() -> None:
    probe = (
        "import sys\n"
        "from enphase_local.cli import build_parser\n"
        "build_parser()\n"
        "print(sorted(m for m in sys.modules if m.startswith('enphase_local.simulator')))\n"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = result.stdout.strip()
    assert "harness" not in loaded
    assert "gateway" not in loaded
    assert "enphase_local.simulator.profiles" in loaded  # the choices of --profile


def test_the_simulator_package_still_offers_every_name() -> None:
    for name in simulator.__all__:
        assert getattr(simulator, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = simulator.Nope
