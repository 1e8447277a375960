"""``enphase-local get ENDPOINT --host HOST``: read one endpoint and print it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from enphase_local.cli import examples
from enphase_local.cli.tables import print_table
from enphase_local.endpoints import BY_CLI_NAME
from enphase_local.export import to_data, to_json
from enphase_local.session import GatewaySession
from enphase_local.trust import TrustStore, default_trust_path


def register(subparsers: Any) -> None:
    """Add the ``get`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "get",
        help="read one endpoint of a gateway",
        description="Read one endpoint of a gateway and print it as a table (units in the "
        "headers, energies in kWh or MWh) or as exact JSON.",
        epilog=examples(
            (
                "live CT readings as a table",
                "enphase-local get readings --host envoy.local --token-file envoy.token",
            ),
            (
                "production as exact JSON, its certificate trusted on first use",
                "enphase-local get production --host envoy.local --token-file envoy.token "
                "--trust-store --json",
            ),
            ("who the gateway is (no token needed)", "enphase-local get info --host envoy.local"),
        ),
    )
    parser.add_argument(
        "endpoint",
        choices=list(BY_CLI_NAME),
        metavar="ENDPOINT",
        help="one of: " + ", ".join(BY_CLI_NAME),
    )
    parser.add_argument("--host", required=True, help="gateway name, address or URL")
    add_gateway_options(parser)
    parser.add_argument("--json", action="store_true", help="print the model as JSON")
    parser.set_defaults(run=run)


def add_gateway_options(parser: argparse.ArgumentParser) -> None:
    """Token, TLS and transport options shared by the commands that talk to gateways."""
    tokens = parser.add_mutually_exclusive_group()
    tokens.add_argument("--token", help="access token (JWT); prefer --token-file")
    tokens.add_argument("--token-file", type=Path, help="file holding the access token")
    pinning = parser.add_mutually_exclusive_group()
    pinning.add_argument("--fingerprint", help="pin the gateway certificate's SHA-256 (hex)")
    pinning.add_argument(
        "--trust-store",
        type=Path,
        nargs="?",
        const=default_trust_path(),
        metavar="FILE",
        help="trust each gateway's certificate on first use and refuse a changed one "
        f"(default file: {default_trust_path()}; see 'enphase-local trust')",
    )
    parser.add_argument(
        "--insecure-http",
        action="store_true",
        help="allow plain HTTP for firmware that needs a token",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds the call may take in all, retries included (60)",
    )


def read_token(args: argparse.Namespace) -> str | None:
    """The token from ``--token`` or ``--token-file``, if either was given."""
    if args.token_file is not None:
        return str(args.token_file.read_text(encoding="utf-8")).strip()
    token: str | None = args.token
    return token


async def run(args: argparse.Namespace) -> int:
    """Fetch the endpoint and print it."""
    endpoint = BY_CLI_NAME[args.endpoint]
    async with GatewaySession(
        args.host,
        token=read_token(args),
        fingerprint=args.fingerprint,
        trust=TrustStore(args.trust_store) if args.trust_store else None,
        allow_http=args.insecure_http,
        timeout=args.timeout,
    ) as gateway:
        model = await gateway.fetch(endpoint)
    if args.json:
        print(to_json(model))
    else:
        print_table(to_data(model), sys.stdout)
    return 0
