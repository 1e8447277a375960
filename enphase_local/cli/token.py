"""``enphase-local token fetch|show``: get tokens from the Enphase cloud and inspect them.

``fetch`` logs in to Enlighten, asks Entrez for a token per ``--serial`` and writes them to the
token cache (mode 0600). ``show`` prints the claims and the time left of a token file or of
every cache entry; the token itself only with ``--reveal``. The password is read from a prompt
or from standard input (``--password-stdin``), never from the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from enphase_local.auth.cache import TokenCache, default_cache_path
from enphase_local.auth.cloud import DEFAULT_ENLIGHTEN_URL, DEFAULT_ENTREZ_URL, EnphaseCloud
from enphase_local.auth.token import Token, utc_now
from enphase_local.cli import examples
from enphase_local.errors import InvalidTokenError, PrivateFileError


def register(subparsers: Any) -> None:
    """Add the ``token`` sub-command with its ``fetch`` and ``show`` actions."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "token",
        help="fetch gateway tokens from the Enphase cloud, or inspect them",
        description="Fetch gateway tokens from the Enphase cloud into the token cache, "
        "or show what a token file or the cache holds.",
        epilog=examples(
            (
                "a token for one gateway, the password typed at a prompt",
                "enphase-local token fetch --serial 122125067699 --username you@example.com",
            ),
            ("what the cache holds (never the tokens themselves)", "enphase-local token show"),
            ("the claims of a token file", "enphase-local token show envoy.token"),
        ),
    )
    actions = parser.add_subparsers(dest="token_action", metavar="ACTION", required=True)

    fetch = actions.add_parser(
        "fetch",
        help="log in to Enlighten and cache a token per gateway serial",
        description="Log in to Enlighten, fetch a token for each --serial from Entrez and "
        "save them to the token cache (mode 0600). Accounts with multi-factor "
        "authentication cannot fetch tokens this way.",
        epilog=examples(
            (
                "a token for one gateway, the password typed at a prompt",
                "enphase-local token fetch --serial 122125067699 --username you@example.com",
            ),
            (
                "two gateways of one account, the password read from standard input",
                "enphase-local token fetch --serial 122125067699 --serial 122125067700 "
                "--username you@example.com --password-stdin",
            ),
        ),
    )
    fetch.add_argument(
        "--serial",
        required=True,
        action="append",
        help="gateway serial number (repeat for several gateways of the account)",
    )
    fetch.add_argument("--username", required=True, help="Enlighten account (email address)")
    fetch.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of a prompt",
    )
    fetch.add_argument("--enlighten-url", default=DEFAULT_ENLIGHTEN_URL, help="login service")
    fetch.add_argument("--entrez-url", default=DEFAULT_ENTREZ_URL, help="token service")
    fetch.add_argument("--cache", type=Path, help=f"token cache (default {_default_hint()})")
    fetch.add_argument(
        "--insecure-cloud-tls",
        action="store_true",
        help="do not verify the cloud's certificate (only for a local test cloud)",
    )
    fetch.set_defaults(run=run_fetch)

    show = actions.add_parser(
        "show",
        help="print the claims and expiry of a token file or of the cache",
        description="Print the serial, role, user, issue and expiry times of a token file "
        "or of every token in a cache file. The token itself is printed only with --reveal.",
        epilog=examples(
            ("what the cache holds (never the tokens themselves)", "enphase-local token show"),
            ("a token file's claims as JSON", "enphase-local token show envoy.token --json"),
        ),
    )
    show.add_argument(
        "file", nargs="?", type=Path, help=f"token or cache file (default {_default_hint()})"
    )
    show.add_argument("--reveal", action="store_true", help="also print the token itself")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(run=run_show)


def _default_hint() -> str:
    return "$XDG_CACHE_HOME/enphase-local/tokens.json"


def read_password(args: argparse.Namespace) -> str:
    """The Enlighten password from standard input or an interactive prompt."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return getpass.getpass(f"Enlighten password for {args.username}: ")


async def run_fetch(args: argparse.Namespace) -> int:
    """Fetch a token per serial and save them to the cache."""
    password = read_password(args)
    if not password:
        print("enphase-local: error: no password given", file=sys.stderr)
        return 2
    path: Path = args.cache or default_cache_path()
    cache = TokenCache(path)
    async with EnphaseCloud(
        args.username,
        password,
        enlighten_url=args.enlighten_url,
        entrez_url=args.entrez_url,
        ssl=not args.insecure_cloud_tls,
    ) as cloud:
        for serial in dict.fromkeys(args.serial):
            token = await cloud.fetch_token(serial)
            try:
                await asyncio.to_thread(cache.put, serial, token)
            except PrivateFileError as err:
                print(f"enphase-local: error: {err}", file=sys.stderr)
                return 1
            print(f"saved {token} to {path}")
    return 0


async def run_show(args: argparse.Namespace) -> int:
    """Print what a token file or the cache holds."""
    path: Path = args.file or default_cache_path()
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    except FileNotFoundError:
        hint = "" if args.file else "; run `enphase-local token fetch` first"
        print(f"enphase-local: error: {path} does not exist{hint}", file=sys.stderr)
        return 1
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        print(f"enphase-local: error: cannot read {path}: {reason}", file=sys.stderr)
        return 1
    if text.lstrip().startswith("{"):
        tokens = await asyncio.to_thread(TokenCache(path).load)
    else:
        try:
            token = Token.parse(text)
        except InvalidTokenError as err:
            raise InvalidTokenError(f"{path}: {err}") from err
        tokens = {token.serial: token}
    if not tokens:
        print(f"enphase-local: error: no valid tokens in {path}", file=sys.stderr)
        return 1
    now = utc_now()
    records = [describe(token, now, reveal=args.reveal) for _, token in sorted(tokens.items())]
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        print("\n\n".join(_format_record(record) for record in records))
    return 0


def describe(token: Token, now: datetime, *, reveal: bool = False) -> dict[str, Any]:
    """The token's claims as plain data (the token itself only when ``reveal``)."""
    record: dict[str, Any] = {
        "serial": token.serial,
        "role": token.role.value,
        "username": token.username,
        "issuer": token.issuer,
        "issued_at": token.issued_at.isoformat() if token.issued_at else None,
        "expires_at": token.expires_at.isoformat(),
        "expires_in_s": int(token.expires_in(now).total_seconds()),
        "expired": token.is_expired(now),
        "fingerprint": token.fingerprint,
    }
    if reveal:
        record["token"] = token.secret()
    return record


def _format_record(record: dict[str, Any]) -> str:
    left = timedelta(seconds=record["expires_in_s"])
    when = f"expired {_span(-left)} ago" if record["expired"] else f"in {_span(left)}"
    rows = [
        ("serial", record["serial"]),
        ("role", record["role"]),
        ("username", record["username"] or "-"),
        ("issuer", record["issuer"] or "-"),
        ("issued", record["issued_at"] or "-"),
        ("expires", f"{record['expires_at']} ({when})"),
        ("sha256", record["fingerprint"]),
    ]
    if "token" in record:
        rows.append(("token", record["token"]))
    return "\n".join(f"{name:<9} {value}" for name, value in rows)


def _span(delta: timedelta) -> str:
    """``3 d 4 h 5 min`` style, to the minute."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d"] if days else []
    if days or hours:
        parts.append(f"{hours} h")
    parts.append(f"{minutes} min")
    return " ".join(parts)
