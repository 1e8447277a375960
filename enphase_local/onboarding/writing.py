"""The files a setup writes: the poll configuration and the secrets it points at.

The configuration never holds a secret: an Enlighten password goes to a file of its own and
a pasted token to a token file, both mode 0600 beside the configuration, which is 0600 too
(it names where the secrets are). :func:`~enphase_local.config.load_config` reads it back.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import attrs

from enphase_local.auth.cloud import DEFAULT_ENLIGHTEN_URL, DEFAULT_ENTREZ_URL
from enphase_local.onboarding.finding import FoundGateway
from enphase_local.private_files import write_private

#: Where the configuration goes unless told otherwise.
DEFAULT_CONFIG: Final = Path("poll.toml")
#: The Enlighten password file, beside the configuration.
PASSWORD_FILE: Final = "enlighten-password"  # noqa: S105 - a file name, not a password
#: The SQLite file the configuration's default sink writes, beside it.
SQLITE_FILE: Final = "enphase-local.sqlite"


@attrs.frozen(kw_only=True)
class EnlightenLogin:
    """An Enlighten account whose password lives in a file."""

    #: The account's e-mail address.
    username: str
    #: The file holding the password.
    password_file: Path
    #: Login service base URL.
    enlighten_url: str = DEFAULT_ENLIGHTEN_URL
    #: Token service base URL.
    entrez_url: str = DEFAULT_ENTREZ_URL


@attrs.frozen(kw_only=True)
class GatewayEntry:
    """One gateway of the configuration and where its token comes from."""

    #: The gateway as probed.
    gateway: FoundGateway
    #: A token file (for a pasted token or one the user named).
    token_file: Path | None = None
    #: An Enlighten login (tokens renewed through the cloud, kept in the token cache).
    login: EnlightenLogin | None = None


def token_file_for(config: Path, serial: str) -> Path:
    """Where a pasted token for ``serial`` is kept: beside the configuration."""
    return config.parent / f"{serial}.token"


def password_file_for(config: Path) -> Path:
    """Where the Enlighten password is kept: beside the configuration."""
    return config.parent / PASSWORD_FILE


def config_text(entries: Sequence[GatewayEntry], config: Path) -> str:
    """The TOML text of the configuration at ``config``."""
    name = config.name
    lines = [
        "# Written by `enphase-local init`. Relative paths are relative to this file's folder.",
        f"#   enphase-local watch --config {name}   shows the gateways live",
        f"#   enphase-local poll --config {name}    keeps every reading in the sinks below",
        "",
        "[sinks]",
        f"sqlite = {_string(SQLITE_FILE)}",
        '# mqtt = "mqtt://user:password@broker.lan:1883/enphase_local"',
        "# prometheus = 9531",
    ]
    for entry in entries:
        lines += ["", *_gateway_lines(entry, config.parent)]
    return "\n".join(lines) + "\n"


def _gateway_lines(entry: GatewayEntry, folder: Path) -> list[str]:
    gateway = entry.gateway
    about = f"# serial {gateway.serial}, firmware {gateway.firmware}"
    if not gateway.needs_token:
        about += ": legacy firmware, no token"
    lines = [about, "[[gateway]]", f"host = {_string(gateway.host)}"]
    if gateway.fingerprint is not None:
        lines.append(f"fingerprint = {_string(gateway.fingerprint)}")
    if entry.token_file is not None:
        lines.append(f"token_file = {_string(_relative(entry.token_file, folder))}")
    login = entry.login
    if login is not None:
        lines += [
            f"username = {_string(login.username)}",
            f"password_file = {_string(_relative(login.password_file, folder))}",
        ]
        if login.enlighten_url != DEFAULT_ENLIGHTEN_URL:
            lines.append(f"enlighten_url = {_string(login.enlighten_url)}")
        if login.entrez_url != DEFAULT_ENTREZ_URL:
            lines.append(f"entrez_url = {_string(login.entrez_url)}")
    return lines


def _string(value: str) -> str:
    # A JSON string is a valid TOML basic string: the same escapes, \uXXXX included.
    return json.dumps(value)


def _relative(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` when inside it (the pair can move together)."""
    absolute, base = Path(os.path.abspath(path)), Path(os.path.abspath(folder))
    if absolute.is_relative_to(base):
        return absolute.relative_to(base).as_posix()
    return str(absolute)


def refuse_existing(paths: Sequence[Path]) -> None:
    """Raise :class:`FileExistsError` for the first of ``paths`` that exists."""
    for path in paths:
        if path.exists():
            raise FileExistsError(errno.EEXIST, "already exists", str(path))


def write_setup(
    config: Path, text: str, secrets: Mapping[Path, str], *, force: bool = False
) -> None:
    """Write the secrets, then the configuration that names them, each 0600 and atomically.

    Without ``force`` nothing is written when any of the files exists.
    """
    if not force:
        refuse_existing([*secrets, config])
    for path, secret in secrets.items():
        write_private(path, (secret + "\n").encode())
    write_private(config, text.encode())
