"""``enphase-local init``: from a gateway on the network to a working ``poll.toml``.

Finds gateways (``envoy.local``, ``envoy-2.local``..., mDNS with the ``discovery`` extra, and
every ``--host``), shows each one's serial, firmware and whether it needs a token, then for
each gateway chosen: shows its certificate's fingerprint and pins it once trusted, gets a
token (Enlighten login, a pasted token, or a token file), checks the token's gateway, role
and expiry, and reads one live value. Then it writes the configuration (mode 0600; an
existing one only with ``--force``) and the secrets beside it, and prints the commands to
run next. The steps are :mod:`enphase_local.onboarding`; this module asks the questions.

Every question has a flag, and without a terminal a question no flag answered stops the
command (status 2). Status 1 when a gateway, the cloud or a token failed; what worked is
still written.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import shlex
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from aiohttp.abc import AbstractResolver

from enphase_local.auth.cache import TokenCache, default_cache_path
from enphase_local.auth.cloud import DEFAULT_ENLIGHTEN_URL, DEFAULT_ENTREZ_URL, EnphaseCloud
from enphase_local.auth.token import Token
from enphase_local.cli import UsageError, examples
from enphase_local.cli.questions import Questions
from enphase_local.cli.tables import quantity
from enphase_local.errors import (
    AuthenticationError,
    CloudLoginError,
    EnphaseError,
    PrivateFileError,
    TokenSerialMismatchError,
)
from enphase_local.onboarding import (
    DEFAULT_CONFIG,
    EnlightenLogin,
    FoundGateway,
    GatewayEntry,
    Prober,
    candidates,
    check_token,
    config_text,
    password_file_for,
    probe_all,
    read_token_file,
    refuse_existing,
    token_file_for,
    write_setup,
)
from enphase_local.onboarding.writing import SQLITE_FILE
from enphase_local.transport import parse_address

T = TypeVar("T")

#: How a token can be had, in the order offered.
_METHODS = (
    "log in to Enlighten (the password is kept in a file only you can read, so tokens renew)",
    "paste a token (for accounts with multi-factor login)",
    "read a token file",
)
#: Tries at a gateway's token on a terminal (a typo in a password is not the end).
_TRIES = 3


def register(subparsers: Any) -> None:
    """Add the ``init`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "init",
        help="find gateways, get their tokens and write a poll configuration",
        description="Find gateways on the network (or take --host), trust each one's "
        "certificate, get and check a token, read one live value, then write a poll "
        "configuration (mode 0600) and print the commands to run next. Every question has a "
        "flag; without a terminal nothing waits for an answer.",
        epilog=examples(
            ("find the gateways and answer the questions", "enphase-local init"),
            (
                "in a script: one gateway, tokens from Enlighten, the password on stdin",
                "enphase-local init --host envoy.local --yes --username you@example.com "
                "--password-stdin",
            ),
            (
                "a token you already have, into another file",
                "enphase-local init --host 192.168.1.20 --token-file envoy.token --yes "
                "--out /etc/enphase/poll.toml",
            ),
        ),
    )
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        type=_host,
        metavar="HOST",
        help="a gateway to set up: name, address or URL (repeat for several)",
    )
    parser.add_argument(
        "--discover",
        action=argparse.BooleanOptionalAction,
        help="look for gateways on the network (default: only when no --host is given)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"the configuration to write (default {DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace FILE and the secret files beside it"
    )
    parser.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="set up every gateway found and trust the certificates shown, without asking",
    )
    tokens = parser.add_argument_group("tokens")
    tokens.add_argument("--username", metavar="EMAIL", help="Enlighten account for the tokens")
    tokens.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the Enlighten password from the first line of standard input",
    )
    tokens.add_argument(
        "--token-file",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a token file, used for the gateway whose serial it names (repeat for several)",
    )
    tokens.add_argument("--enlighten-url", default=DEFAULT_ENLIGHTEN_URL, help="login service")
    tokens.add_argument("--entrez-url", default=DEFAULT_ENTREZ_URL, help="token service")
    parser.set_defaults(run=run)


def _host(text: str) -> str:
    try:
        parse_address(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err
    return text


def run(args: argparse.Namespace) -> int:
    """Set up from the terminal (or the flags alone, without one)."""
    return Setup(args, Questions.for_terminal(assume_yes=args.yes)).run()


def zeroconf_installed() -> bool:
    """Whether the ``discovery`` extra (zeroconf) is there to browse mDNS."""
    return importlib.util.find_spec("zeroconf") is not None


class Setup:
    """One run of ``init``: the network steps run on one event loop, the questions between
    them outside it.

    ``resolver`` decides where names lead (tests map them to simulated gateways);
    ``zeroconf`` browses mDNS too (default: when the extra is installed).
    """

    def __init__(
        self,
        args: argparse.Namespace,
        questions: Questions,
        *,
        resolver: AbstractResolver | None = None,
        zeroconf: bool | None = None,
    ) -> None:
        self._args = args
        self._ask = questions
        self._out: Path = args.out
        self._prober = Prober(resolver=resolver)
        self._zeroconf = zeroconf_installed() if zeroconf is None else zeroconf
        self._runner: asyncio.Runner | None = None
        self._cloud: EnphaseCloud | None = None
        self._username: str | None = args.username
        self._password: str | None = None
        self._file_tokens: dict[str, tuple[Path, Token]] = {}
        self._secrets: dict[Path, str] = {}
        self._fetched: dict[str, Token] = {}
        self._failed = False
        #: --username answers how tokens come, until a login fails on a terminal.
        self._login_chosen = args.username is not None

    def run(self) -> int:
        """Every step; the exit status."""
        if not self._args.force:
            self._refuse_existing(self._out)
        self._file_tokens = {token.serial: (path, token) for path, token in self._token_files()}
        with asyncio.Runner() as runner:
            self._runner = runner
            try:
                entries = [entry for gateway in self._find() if (entry := self._set_up(gateway))]
            finally:
                runner.run(self._close())
        if not entries:
            _problem("nothing to write: no gateway was set up")
            return 1
        self._write(entries)
        return 1 if self._failed else 0

    def _await(self, work: Coroutine[Any, Any, T]) -> T:
        assert self._runner is not None
        return self._runner.run(work)

    async def _close(self) -> None:
        if self._cloud is not None:
            await self._cloud.close()
        await self._prober.close()

    def _refuse_existing(self, path: Path) -> None:
        try:
            refuse_existing([path])
        except FileExistsError:
            raise UsageError(f"{path} already exists: give --force to replace it") from None

    def _token_files(self) -> list[tuple[Path, Token]]:
        return [(path, read_token_file(path)) for path in self._args.token_file]

    # -- finding -------------------------------------------------------------------------------

    def _find(self) -> list[FoundGateway]:
        """Every candidate probed and listed; the gateways chosen to set up."""
        args = self._args
        discovered = []
        discover = args.discover if args.discover is not None else not args.host
        if discover:
            where = "envoy.local, envoy-2.local, ..." + (" and mDNS" if self._zeroconf else "")
            print(f"Looking for gateways ({where})...", flush=True)
            discovered = self._await(self._prober.discover(zeroconf=self._zeroconf))
        listed = candidates(args.host, discovered)
        if not listed:
            where = "found on the network" if discover else "named"
            raise UsageError(f"no gateway {where}: give its address with --host")
        found: dict[str, FoundGateway] = {}
        for candidate, result in zip(
            listed, self._await(probe_all(self._prober, listed)), strict=True
        ):
            if isinstance(result, EnphaseError):
                _problem(f"{candidate.host}: {result}")
                self._failed = self._failed or candidate.found_by == "--host"
            else:
                found.setdefault(result.serial, result)  # one gateway seen under two names
        return self._choose(list(found.values()))

    def _choose(self, found: list[FoundGateway]) -> list[FoundGateway]:
        if not found:
            return []
        print(f"Found {_count(len(found))}:")
        rows = [(g.host, f"serial {g.serial}", f"firmware {g.firmware}", _needs(g)) for g in found]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for number, (*padded, needs) in enumerate(rows, start=1):
            cells = [text.ljust(width) for text, width in zip(padded, widths, strict=True)]
            print(f"  {number}. {'  '.join(cells)}  {needs}")
        if len(found) == 1 or all(g.found_by == "--host" for g in found):
            return found
        chosen = self._ask.selection("Set up which gateways?", len(found), flag="--yes or --host")
        return [found[index] for index in chosen]

    # -- one gateway ---------------------------------------------------------------------------

    def _set_up(self, gateway: FoundGateway) -> GatewayEntry | None:
        """Trust, token, one reading: the entry to write, or None (skipped or failed)."""
        print(f"\n{gateway.host}: serial {gateway.serial}, firmware {gateway.firmware}")
        if gateway.fingerprint is None:
            print("  plain HTTP (firmware before 7): no certificate to pin, no token needed")
        else:
            print(f"  certificate sha256 {gateway.fingerprint}")
            if not self._ask.confirm("  Trust this certificate and pin it in the configuration?"):
                print("  skipped")
                return None
        token, entry = None, GatewayEntry(gateway=gateway)
        try:
            if gateway.needs_token:
                token, entry = self._token(gateway)
            production = self._await(self._prober.reading(gateway, token))
        except EnphaseError as err:
            _problem(f"{gateway.host}: {err}")
            self._failed = True
            return None
        print(f"  reading works: producing {quantity(production.power_w, 'w')} now")
        return entry

    def _token(self, gateway: FoundGateway) -> tuple[Token, GatewayEntry]:
        """A checked token for ``gateway`` and the entry that says where it comes from."""
        given = self._file_tokens.get(gateway.serial)
        if given is not None:
            path, token = given
            self._checked(token, gateway)
            return token, GatewayEntry(gateway=gateway, token_file=path)
        if self._file_tokens and not self._login_chosen and not self._ask.interactive:
            raise TokenSerialMismatchError(
                f"no token file given is for gateway {gateway.serial} (they are for "
                f"{', '.join(sorted(self._file_tokens))})"
            )
        tries_left = _TRIES if self._ask.interactive else 1
        while True:
            tries_left -= 1
            try:
                token, entry = self._new_token(gateway)
                self._checked(token, gateway)
            except AuthenticationError as err:
                if not tries_left:
                    raise
                print(f"  {err}")
            else:
                return token, entry

    def _checked(self, token: Token, gateway: FoundGateway) -> None:
        notes = check_token(token, gateway.serial)
        print(f"  {token.role.value} token, expires {token.expires_at:%Y-%m-%d %H:%M} UTC")
        for note in notes:
            print(f"  note: {note}")

    def _new_token(self, gateway: FoundGateway) -> tuple[Token, GatewayEntry]:
        if self._login_chosen:
            method = 0
        elif not self._ask.interactive:
            raise UsageError(
                f"{gateway.host} needs a token: give --username with --password-stdin, "
                "or --token-file"
            )
        else:
            method = self._ask.choice("  How should the token come?", _METHODS, flag="--username")
        if method == 0:
            return self._login_token(gateway)
        if method == 1:
            return self._pasted_token(gateway)
        path = Path(self._ask.text("  Token file: ", flag="--token-file")).expanduser()
        return read_token_file(path), GatewayEntry(gateway=gateway, token_file=path)

    def _login_token(self, gateway: FoundGateway) -> tuple[Token, GatewayEntry]:
        password_file = password_file_for(self._out)
        if not self._args.force and password_file not in self._secrets:
            self._refuse_existing(password_file)
        cloud = self._cloud_client()
        try:
            token = self._await(cloud.fetch_token(gateway.serial))
        except CloudLoginError:
            self._await(self._forget_login())  # the next try asks again, or offers a paste
            raise
        assert self._password is not None
        self._fetched[gateway.serial] = token
        self._secrets[password_file] = self._password
        login = EnlightenLogin(
            username=cloud.username,
            password_file=password_file,
            enlighten_url=self._args.enlighten_url,
            entrez_url=self._args.entrez_url,
        )
        return token, GatewayEntry(gateway=gateway, login=login)

    def _cloud_client(self) -> EnphaseCloud:
        if self._cloud is None:
            if self._username is None:
                self._username = self._ask.text(
                    "  Enlighten username (e-mail): ", flag="--username"
                )
            self._password = self._read_password(self._username)
            self._cloud = EnphaseCloud(
                self._username,
                self._password,
                enlighten_url=self._args.enlighten_url,
                entrez_url=self._args.entrez_url,
            )
        return self._cloud

    def _read_password(self, username: str) -> str:
        if self._args.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise UsageError("--password-stdin: standard input held no password")
            return password
        return self._ask.secret(f"  Enlighten password for {username}: ", flag="--password-stdin")

    async def _forget_login(self) -> None:
        if self._cloud is not None:
            await self._cloud.close()
        self._cloud = None
        self._password = None
        self._login_chosen = False
        if self._args.username is None:  # typed at a prompt: it may be the typo
            self._username = None

    def _pasted_token(self, gateway: FoundGateway) -> tuple[Token, GatewayEntry]:
        path = token_file_for(self._out, gateway.serial)
        if not self._args.force and path not in self._secrets:
            self._refuse_existing(path)
        token = Token.parse(
            self._ask.secret("  Paste the token (it is not shown): ", flag="--token-file")
        )
        self._secrets[path] = token.secret()
        return token, GatewayEntry(gateway=gateway, token_file=path)

    # -- writing -------------------------------------------------------------------------------

    def _write(self, entries: list[GatewayEntry]) -> None:
        kept = {entry.gateway.serial for entry in entries}
        self._cache_tokens({s: t for s, t in self._fetched.items() if s in kept})
        used = {e.token_file for e in entries} | {e.login.password_file for e in entries if e.login}
        secrets = {path: secret for path, secret in self._secrets.items() if path in used}
        try:
            write_setup(self._out, config_text(entries, self._out), secrets, force=self._args.force)
        except FileExistsError as err:
            raise UsageError(f"{err.filename} already exists: give --force to replace it") from None
        also = "".join(f" and {path}" for path in secrets)
        print(f"\nWrote {self._out} ({_count(len(entries))}){also}, mode 0600.")
        config = shlex.quote(str(self._out))
        sqlite = self._out.parent / SQLITE_FILE
        print("Next:")
        print(f"  enphase-local watch --config {config}   # see the gateways live")
        print(f"  enphase-local poll --config {config}    # keep every reading in {sqlite}")

    def _cache_tokens(self, tokens: dict[str, Token]) -> None:
        """Keep the tokens Enlighten gave, so the first poll needs no login."""
        if not tokens:
            return
        cache = TokenCache(default_cache_path())
        try:
            for serial, token in tokens.items():
                cache.put(serial, token)
        except PrivateFileError as err:
            _problem(f"{err}; poll will log in to Enlighten instead")
            return
        print(f"\nTokens from Enlighten are cached in {cache.path}.")


def _needs(gateway: FoundGateway) -> str:
    return "needs a token" if gateway.needs_token else "no token (legacy firmware)"


def _count(gateways: int) -> str:
    return f"{gateways} gateway{'s' if gateways != 1 else ''}"


def _problem(message: str) -> None:
    print(f"enphase-local: {message}", file=sys.stderr, flush=True)
