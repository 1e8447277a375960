"""The ``enphase-local`` command: a thin shell over the public API.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``run`` to a function taking the
parsed arguments and returning the exit status: a coroutine function for most commands, or a
plain function for one that asks questions between its network steps (``init``).

Exit statuses: 0 done; 1 a gateway, the cloud or the data failed; 2 the command line or the
configuration is wrong; 130 interrupted (Ctrl-C); 141 the reader of the output went away
(``| head``), as for any program stopped by SIGPIPE.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, Final

from enphase_local.config import ConfigError
from enphase_local.errors import EnphaseError

#: Sub-command modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "init", "get", "set", "poll", "watch", "simulate", "token", "trust", "demo", "report",
    "doctor", "capture", "ingest",
)  # fmt: skip

#: Modules whose name is not the command's (``set`` would shadow the built-in).
_MODULES: Final = {"set": "control"}

#: Exit statuses (see the module's docstring).
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130
EXIT_BROKEN_PIPE: Final = 141

#: What ``enphase-local`` alone prints: the commands in the order a newcomer needs them.
OVERVIEW: Final = """\
enphase-local reads Enphase IQ Gateways (Envoys) on your own network, without the cloud.

First time? Run
  enphase-local init
It finds your gateways, gets a token, checks that a reading works and writes poll.toml.
No gateway at hand? `enphase-local demo` polls three simulated ones.

Commands:
  init      find gateways, get their tokens and write a poll configuration
  watch     show gateways live in the terminal
  poll      poll gateways for months into SQLite, MQTT or Prometheus
  get       read one endpoint once, as a table or JSON
  set       change a setting: grid relay, dry contact, generator, storage mode, reserve...
  report    chart the power a poll wrote to SQLite
  token     fetch tokens from the Enphase cloud, or show what a token holds
  trust     list, accept or forget pinned gateway certificates
  simulate  run simulated gateways and a fake Enphase cloud to point tools at
  demo      poll three simulated gateways, watch them, chart the day
  doctor    check a gateway step by step and say what is wrong
  capture   record a gateway, redacted, to attach to a bug report
  ingest    write many sites' pollers' MQTT stream into PostgreSQL

Run `enphase-local COMMAND --help` for a command's options and examples.
"""


class UsageError(Exception):
    """The command line cannot be carried out as given (exit status 2); the message says why."""


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions as usual, but prints an ``examples:`` epilog line by line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose help keeps the examples' line breaks (sub-parsers too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def examples(*pairs: tuple[str, str]) -> str:
    """The epilog of a command's help: ``(what it does, command line)`` pairs."""
    lines = ["examples:"]
    for meaning, command in pairs:
        lines += [f"  # {meaning}", f"  {command}"]
    return "\n".join(lines)


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
    parser = CommandParser(
        prog="enphase-local",
        description="Read Enphase IQ Gateways (Envoys) over their local API.",
        epilog=examples(
            ("set up: find gateways, get tokens, write poll.toml", "enphase-local init"),
            ("watch what poll.toml lists", "enphase-local watch --config poll.toml"),
            ("try everything on simulated gateways", "enphase-local demo"),
        ),
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"enphase_local.cli.{_MODULES.get(name, name)}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``enphase-local`` script; returns the process exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments:
        print(OVERVIEW, end="")
        return 0
    args = build_parser().parse_args(arguments)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _run(args)
    except BrokenPipeError:
        _drop_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        if sys.stderr.isatty():
            print(file=sys.stderr)  # the shell's prompt starts on a line of its own
        return EXIT_INTERRUPTED
    except (UsageError, ConfigError) as err:
        return _report(err, args, EXIT_USAGE)
    except (EnphaseError, OSError) as err:
        return _report(err, args, EXIT_FAILED)


def _run(args: argparse.Namespace) -> int:
    outcome = args.run(args)
    status: int = asyncio.run(outcome) if inspect.iscoroutine(outcome) else outcome
    return status


def _report(err: Exception, args: argparse.Namespace, status: int) -> int:
    """One line on standard error (the traceback with ``--debug``); returns ``status``."""
    if args.debug:
        raise err
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        message = f"{err.filename}: {err.strerror}"
    else:
        message = str(err) or type(err).__name__
    print(f"enphase-local: error: {message}", file=sys.stderr)
    return status


def _drop_stdout() -> None:
    """Point standard output at the null device, so the final flush cannot fail again."""
    # A sys.stdout without a file descriptor (a test's capture) has nothing to flush there.
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
