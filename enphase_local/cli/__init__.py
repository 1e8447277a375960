"""The ``enphase-local`` command: a thin shell over the public API.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``run`` to a coroutine
function taking the parsed arguments and returning the exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from collections.abc import Sequence

from enphase_local.errors import EnphaseError

#: Sub-command modules, in the order ``--help`` lists them.
COMMAND_MODULES = ("get", "poll", "watch", "simulate", "token", "trust", "demo", "report")


def positive_float(text: str) -> float:
    """An argparse type: a number greater than zero (NaN refused)."""
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from err
    if not value > 0:  # also refuses NaN
        raise argparse.ArgumentTypeError("must be positive")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="enphase-local",
        description="Read Enphase IQ Gateways (Envoys) over their local API.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"enphase_local.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``enphase-local`` script; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        status: int = asyncio.run(args.run(args))
    except EnphaseError as err:
        if args.debug:
            raise
        print(f"enphase-local: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status
