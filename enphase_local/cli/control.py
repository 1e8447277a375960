"""``enphase-local set WHAT ...``: one control write, shown, confirmed, sent, read back.

The only command that makes a session with ``allow_control=True``. It reads the gateway to
build the exact request, shows what changes, asks on a terminal (``--yes`` answers; without a
terminal and without ``--yes`` it refuses, exit status 2), sends the write and reads it back.
``--dry-run`` prints the request (token masked) and writes nothing. Exit status 1 when the
gateway did not show the new state within the wait.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from typing import Any

import attrs

from enphase_local.build import TokenSources
from enphase_local.cli import EXIT_FAILED, UsageError, examples
from enphase_local.cli.questions import Questions
from enphase_local.cli.targets import add_target_options, gateways_from_args
from enphase_local.config import GatewayConfig
from enphase_local.control import ControlResult, PreparedWrite, describe
from enphase_local.errors import ControlNotAppliedError, ControlValidationError
from enphase_local.session import GatewaySession

#: What each ``set`` sub-command writes: (session method, its arguments from the command line).
Writes = dict[str, tuple[str, Callable[[argparse.Namespace], dict[str, Any]]]]

_WRITES: Writes = {
    "relay": ("set_grid_relay", lambda a: {"connected": a.state == "on-grid"}),
    "dry-contact": (
        "set_dry_contact",
        lambda a: {"contact_id": a.contact, "closed": a.state == "closed"},
    ),
    "generator": ("set_generator_mode", lambda a: {"mode": a.mode}),
    "storage-mode": ("set_storage_mode", lambda a: {"mode": a.mode}),
    "reserve": ("set_reserve", lambda a: {"percent": a.percent}),
    "charge-from-grid": ("set_charge_from_grid", lambda a: {"enabled": a.state == "on"}),
    "acb-sleep": (
        "set_acb_sleep",
        lambda a: {"serial": a.serial, "min_percent": a.min, "max_percent": a.max},
    ),
    "acb-wake": ("wake_acb", lambda a: {"serial": a.serial}),
}


def register(subparsers: Any) -> None:
    """Add the ``set`` sub-command and its writes."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "set",
        help="change a setting of a gateway (confirmed, then read back)",
        description="Change one setting of a gateway: the grid relay, a dry contact, the "
        "generator, the storage mode, reserve or charging from the grid, AC Battery sleep. "
        "The exact request is built from what the gateway reads now and shown; on a terminal "
        "you confirm it (--yes does, and is needed without a terminal). After the write the "
        "setting is read back until it shows or the wait ends: the output says what was "
        "observed and whether it applied (exit status 1 when not). At most one write every "
        "5 s per gateway.",
        epilog=examples(
            (
                "see the exact request, send nothing",
                "enphase-local set reserve 30 --host envoy.local --token-file envoy.token "
                "--dry-run",
            ),
            (
                "go off grid, asked to confirm",
                "enphase-local set relay off-grid --host envoy.local --token-file envoy.token",
            ),
            (
                "a script: no question, the gateway of a configuration",
                "enphase-local set storage-mode self-consumption --config poll.toml --yes",
            ),
        ),
    )
    writes = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    common = argparse.ArgumentParser(add_help=False)
    add_target_options(common)
    common.add_argument(
        "-y", "--yes", action="store_true", help="send without asking (needed without a terminal)"
    )
    common.add_argument(
        "--dry-run",
        action="store_true",
        help="print the exact request (token masked) and send nothing; the gateway is read",
    )
    common.add_argument(
        "--wait",
        type=_seconds,
        metavar="S",
        help="seconds to read back before calling it not applied (default 30; 120 for the "
        "relay and dry contacts)",
    )
    common.add_argument("--json", action="store_true", help="print the result as JSON")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        description = help_text[0].upper() + help_text[1:] + "."
        write: argparse.ArgumentParser = writes.add_parser(
            name, help=help_text, description=description, parents=[common]
        )
        write.set_defaults(run=run)
        return write

    add("relay", "open the grid relay (off grid) or close it (on grid)").add_argument(
        "state", choices=("off-grid", "on-grid")
    )
    contact = add("dry-contact", "open or close a dry contact")
    contact.add_argument("contact", metavar="ID", help="the contact, e.g. NC1")
    contact.add_argument("state", choices=("open", "closed"))
    add(
        "generator", "command the generator: on, off, or auto (by its start settings)"
    ).add_argument("mode", choices=("on", "off", "auto"))
    add("storage-mode", "choose how the batteries are used").add_argument(
        "mode", choices=("backup", "self-consumption", "savings")
    )
    add("reserve", "set the battery charge kept for outages").add_argument(
        "percent", type=float, metavar="PERCENT", help="0 to 100"
    )
    add("charge-from-grid", "let the batteries charge from the grid, or not").add_argument(
        "state", choices=("on", "off")
    )
    sleep = add("acb-sleep", "let an AC Battery sleep between two charge levels")
    sleep.add_argument("serial", metavar="SERIAL")
    sleep.add_argument("min", type=float, metavar="MIN", help="percent")
    sleep.add_argument("max", type=float, metavar="MAX", help="percent")
    add("acb-wake", "wake an AC Battery").add_argument("serial", metavar="SERIAL")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from err
    if not value >= 0:  # also refuses NaN
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def run(args: argparse.Namespace, questions: Questions | None = None) -> int:
    """Show the write, confirm it, send it; the exit status."""
    ask = questions or Questions.for_terminal(assume_yes=args.yes)
    if not (args.dry_run or args.yes or ask.interactive):
        raise UsageError(
            "set changes the gateway, and there is no terminal to confirm on: give --yes "
            "(or --dry-run to see the request)"
        )
    gateways = gateways_from_args(args)
    if len(gateways) != 1:
        raise UsageError(f"{args.config} lists {len(gateways)} gateways: choose one with --host")
    control, arguments = _WRITES[args.what]
    with asyncio.Runner() as runner:
        return _Run(args, ask, runner, gateways[0], control, arguments(args)).go()


@attrs.define
class _Run:
    """One ``set``: the session lives on one event loop; the question is asked off it."""

    args: argparse.Namespace
    ask: Questions
    runner: asyncio.Runner
    gateway: GatewayConfig
    control: str
    arguments: dict[str, Any]

    def go(self) -> int:
        tokens = TokenSources()
        session = GatewaySession(
            self.gateway.host,
            token=tokens.source(self.gateway.token),
            allow_control=not self.args.dry_run,
            **self.gateway.session_options(),
        )
        try:
            return self._steps(session)
        except ControlValidationError as err:
            raise UsageError(str(err)) from err
        finally:
            self.runner.run(session.close())
            self.runner.run(tokens.close())

    def _steps(self, session: GatewaySession) -> int:
        prepared = self.runner.run(session.prepare_control(self.control, **self.arguments))
        where = f"gateway {self.gateway.host} (serial {session.serial})"
        print(f"{where}, {self.control}: {_change(prepared)}", flush=True)
        if self.args.dry_run:
            print(_request_text(prepared))
            print("dry run: nothing was sent")
            return 0
        question = f"Send {prepared.method} {prepared.path} to {self.gateway.host}?"
        if not self.ask.confirm(question, default=False):
            print("nothing was sent")
            return EXIT_FAILED
        wait = self.args.wait
        try:
            result = self.runner.run(session.control(self.control, wait_s=wait, **self.arguments))
        except ControlNotAppliedError as err:
            self._report(err.result, str(err))
            return EXIT_FAILED
        self._report(result, None)
        return 0

    def _report(self, result: ControlResult, failure: str | None) -> None:
        if self.args.json:
            print(json.dumps(attrs.asdict(result), indent=2))
            return
        twice = " (sent twice: the first was lost)" if result.writes > 1 else ""
        if result.applied:
            print(
                f"applied in {result.seconds_to_apply or 0:.1f} s{twice}: observed "
                f"{describe(result.observed)}"
            )
        else:
            print(f"NOT applied{twice}: {failure}")


def _change(prepared: PreparedWrite) -> str:
    """``reserve_percent=20 -> reserve_percent=30``."""
    return f"{describe(prepared.before)} -> {describe(prepared.requested)}"


def _request_text(prepared: PreparedWrite) -> str:
    """The request as it goes on the wire: line, headers (secrets masked), body."""
    lines = [f"{prepared.method} {prepared.url}"]
    lines += [f"{name}: {value}" for name, value in sorted(prepared.headers.items())]
    return "\n".join([*lines, "", prepared.body_bytes.decode()])
