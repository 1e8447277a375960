"""Checking a token before it goes into a configuration: its gateway, role and expiry."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from enphase_local.auth.token import Token, TokenRole, utc_now
from enphase_local.errors import InvalidTokenError, TokenExpiredError, TokenSerialMismatchError

#: A token with less time left than this is worth a warning.
SHORT_LIFE: Final = timedelta(days=30)


def check_token(token: Token, serial: str, *, now: datetime | None = None) -> list[str]:
    """Raise unless ``token`` is for the gateway ``serial`` and still valid; return notes
    worth telling the user (an installer token, one about to expire)."""
    if token.serial != serial:
        raise TokenSerialMismatchError(
            f"the token is for gateway {token.serial}, not for this one ({serial})"
        )
    left = token.expires_in(now or utc_now())
    if left <= timedelta(0):
        raise TokenExpiredError(f"the token expired on {token.expires_at:%Y-%m-%d %H:%M} UTC")
    notes = []
    if token.role is TokenRole.INSTALLER:
        notes.append("an installer token: it lasts hours, not months")
    elif token.role is TokenRole.UNKNOWN:
        notes.append("a token of unknown role: the gateway may refuse some endpoints")
    if left < SHORT_LIFE:
        notes.append(f"it expires in {_days(left)}")
    return notes


def _days(left: timedelta) -> str:
    if left >= timedelta(days=2):
        return f"{left.days} days"
    hours = int(left.total_seconds() // 3600)
    return f"{hours} hours" if hours >= 2 else "less than two hours"


def read_token_file(path: Path) -> Token:
    """The token a file holds; :class:`InvalidTokenError` naming the file (never its text)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidTokenError(f"cannot read token file {path}: {err.strerror}") from err
    except UnicodeDecodeError:
        raise InvalidTokenError(f"token file {path} is not UTF-8 text") from None
    try:
        return Token.parse(text)
    except InvalidTokenError as err:
        raise InvalidTokenError(f"token file {path}: {err}") from err
