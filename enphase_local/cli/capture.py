"""``enphase-local capture``: record a gateway, redacted, for a bug report anyone can replay.

Reads every endpoint the library knows, one request at a time (``--pause`` seconds apart, the
slow ones last), replaces serial numbers, the token, session cookies, MAC and IP addresses,
e-mail addresses and the site's location with pseudonyms, checks that nothing identifying is
left, and writes the folder ``--out`` (or ``--out``.zip with ``--zip``) that
``enphase-local simulate --replay`` serves. Nothing else is written: with ``--trust-store``
the store pins a gateway it knows, and one it does not know yet is pinned for this run only.
Exit status 1 when an endpoint did not answer (the capture holds the rest), or when nothing
could be written.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from enphase_local.build import TokenSources
from enphase_local.cli import EXIT_FAILED, UsageError, examples
from enphase_local.cli.targets import add_target_options, gateways_from_args
from enphase_local.diagnostics.capture import (
    DEFAULT_PAUSE_S,
    CaptureResult,
    ReadOnlyTrust,
    Recorded,
    capture,
    output_path,
    with_legacy_rows,
)
from enphase_local.endpoints import ENDPOINTS
from enphase_local.session import GatewaySession


def register(subparsers: Any) -> None:
    """Add the ``capture`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "capture",
        help="record a gateway, redacted, to attach to a bug report",
        description="Read every endpoint of a gateway, gently, and write the replies with "
        "everything that identifies the site replaced, in the layout "
        "`enphase-local simulate --replay` serves. Safe to post publicly.",
        epilog=examples(
            (
                "record a gateway into the folder envoy-capture",
                "enphase-local capture --host envoy.local --token-file envoy.token "
                "--out envoy-capture",
            ),
            (
                "one zip, for the gateway of a configuration",
                "enphase-local capture --config poll.toml --out envoy-capture --zip",
            ),
            (
                "slower, with the live values fresh",
                "enphase-local capture --host envoy.local --token-file envoy.token "
                "--out envoy-capture --pause 3 --enable-live-stream",
            ),
        ),
    )
    add_target_options(parser)
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="the folder")
    parser.add_argument("--zip", action="store_true", help="write DIR.zip instead")
    parser.add_argument(
        "--pause",
        type=_pause,
        default=DEFAULT_PAUSE_S,
        metavar="S",
        help=f"seconds between requests (default {DEFAULT_PAUSE_S:g}; the gateway is fragile)",
    )
    parser.add_argument(
        "--enable-live-stream",
        action="store_true",
        help="switch live data on first (one POST), so that the live values are fresh",
    )
    parser.set_defaults(run=run)


def _pause(text: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from err
    if not value >= 0:  # also refuses NaN
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


async def run(args: argparse.Namespace) -> int:
    """Capture one gateway and say what was written."""
    gateways = gateways_from_args(args)
    if len(gateways) != 1:
        raise UsageError(f"{args.config} lists {len(gateways)} gateways: choose one with --host")
    gateway = gateways[0]
    try:
        output_path(args.out, as_zip=args.zip)  # refused now rather than after the capture
    except FileExistsError as err:
        raise UsageError(f"{err.filename}: {err.strerror}") from None
    print(
        f"capturing {gateway.host}: {len(with_legacy_rows(ENDPOINTS))} endpoints, "
        f"one every {args.pause:g} s",
        flush=True,
    )
    options = gateway.session_options()
    if "trust" in options:
        options["trust"] = ReadOnlyTrust(gateway.trust_store)
    tokens = TokenSources()
    try:
        async with GatewaySession(
            gateway.host, token=tokens.source(gateway.token), **options
        ) as session:
            result = await capture(
                session,
                args.out,
                as_zip=args.zip,
                pause_s=args.pause,
                enable_live_stream=args.enable_live_stream,
                on_record=_show,
            )
    finally:
        await tokens.close()
    _summarise(result)
    return 0 if result.complete else EXIT_FAILED


def _show(recorded: Recorded) -> None:
    print(recorded.describe(), flush=True)


def _summarise(result: CaptureResult) -> None:
    redacted = ", ".join(f"{n} {kind}(s)" for kind, n in result.redacted.items()) or "nothing"
    print(f"wrote {result.path}: gateway {result.serial} (a pseudonym), firmware {result.firmware}")
    print(f"redacted: {redacted}")
    missing = [r.target for r in result.records if r.status is None]
    if missing:
        print(f"not recorded: {', '.join(missing)}")
    folder = result.path.with_suffix("") if result.path.suffix == ".zip" else result.path
    unzip = f"unzip {result.path}, then " if folder != result.path else ""
    print(f"replay it: {unzip}enphase-local simulate --replay {folder}")
