"""``enphase-local trust list|accept|forget``: the certificates trusted on first use.

Commands given ``--trust-store`` record each gateway's certificate the first time they reach
it and refuse a different one later. ``accept`` trusts a gateway's current (or a given)
certificate after a legitimate change, such as a replaced gateway; ``forget`` drops one.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
from pathlib import Path
from typing import Any

from enphase_local.cli import examples
from enphase_local.errors import GatewayConnectionError
from enphase_local.transport import (
    normalize_fingerprint,
    parse_address,
    peer_certificate_sha256,
)
from enphase_local.trust import TrustStore, default_trust_path


def register(subparsers: Any) -> None:
    """Add the ``trust`` sub-command with its ``list``, ``accept`` and ``forget`` actions."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "trust",
        help="list, accept or forget gateway certificates trusted on first use",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=examples(
            ("the gateways trusted so far", "enphase-local trust list"),
            (
                "trust a replaced gateway's new certificate",
                "enphase-local trust accept envoy.local",
            ),
            ("forget a gateway that is gone", "enphase-local trust forget envoy-2.local"),
        ),
    )
    parser.add_argument(
        "--store", type=Path, default=default_trust_path(), help="the trust store file"
    )
    actions = parser.add_subparsers(dest="trust_action", metavar="ACTION", required=True)
    actions.add_parser("list", help="show every trusted gateway and its fingerprint")
    accept = actions.add_parser(
        "accept", help="trust the gateway's current certificate (or --fingerprint)"
    )
    accept.add_argument("host", help="gateway name, address or URL, as given to other commands")
    accept.add_argument("--fingerprint", help="the SHA-256 to trust, instead of asking the gateway")
    forget = actions.add_parser("forget", help="drop a gateway: its next contact is a first use")
    forget.add_argument("host")
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    """Carry out the action."""
    store = TrustStore(args.store)
    # The store's plain methods block on the file: they run in a thread, off the loop.
    if args.trust_action == "list":
        entries = await asyncio.to_thread(store.entries)
        if not entries:
            print(f"no gateway trusted yet in {store.path}")
        for key, fingerprint in sorted(entries.items()):
            print(f"{key}  sha256 {fingerprint.hex()}")
        return 0
    key = parse_address(args.host).authority
    if args.trust_action == "forget":
        known = await asyncio.to_thread(store.forget, key)
        print(f"{key}: forgotten" if known else f"{key}: was not trusted")
        return 0 if known else 1
    if args.fingerprint:
        fingerprint = normalize_fingerprint(args.fingerprint)
    else:
        fingerprint = await current_fingerprint(args.host)
    previous = await store.pinned(key)
    await asyncio.to_thread(store.accept, key, fingerprint)
    change = f" (was sha256 {previous.hex()})" if previous and previous != fingerprint else ""
    print(f"{key}: trusting sha256 {fingerprint.hex()}{change}")
    return 0


async def current_fingerprint(host: str) -> bytes:
    """The SHA-256 of the certificate the gateway presents now."""
    try:
        async with asyncio.timeout(15.0):
            fingerprint = await peer_certificate_sha256(parse_address(host))
    except (OSError, ssl.SSLError, TimeoutError) as err:
        raise GatewayConnectionError(f"cannot reach {host} to read its certificate: {err}") from err
    if fingerprint is None:
        raise GatewayConnectionError(f"{host} presented no certificate")
    return fingerprint
