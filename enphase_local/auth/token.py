"""The gateway token: a JWT issued by Enphase, decoded here without checking its signature.

Clients never hold Enphase's signing key, so the token is only *read*: which gateway it is for
(``aud``), which role it carries (``enphaseUser``) and when it expires (``exp``). The gateway is
the one that verifies it. The raw text is a secret: it is reachable only through
:meth:`Token.secret`, and neither ``repr``, ``str`` nor any error message shows it.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from enphase_local.errors import InvalidTokenError

#: What Entrez has been seen to answer, with status 200, instead of a token.
_CLOUD_ERROR_TEXT = "Error in generating Token"

#: Real tokens are about 400 characters; anything far larger is not a token.
_MAX_TOKEN_CHARS = 16 * 1024

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class TokenRole(enum.Enum):
    """The ``enphaseUser`` claim: what the gateway lets the token's holder read."""

    OWNER = "owner"
    INSTALLER = "installer"
    UNKNOWN = "unknown"

    @classmethod
    def from_claim(cls, value: object) -> TokenRole:
        """Map the claim's value to a member; anything unexpected becomes ``UNKNOWN``."""
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                return cls.UNKNOWN
        return cls.UNKNOWN


@attrs.frozen(kw_only=True, repr=False)
class RefreshMargin:
    """How long before a token's expiry a fresh one should be fetched.

    The margin is ``max(minimum, fraction * lifetime)``, never more than half the lifetime (so a
    token fresh from the source never counts as due at once). With the defaults, a 12-hour
    installer token is refreshed 1 h 12 min before it expires and a 365-day owner token about
    36 days before: each leaves room to ride out a cloud outage that is long for its kind. A token
    without ``iat`` (lifetime unknown) gets the minimum. A fixed margin is
    ``RefreshMargin(fraction=0, minimum=timedelta(hours=2))``.
    """

    #: Share of the token's lifetime (``exp - iat``) to keep in reserve, 0 to 0.5.
    fraction: float = attrs.field(
        default=0.1, validator=[attrs.validators.ge(0.0), attrs.validators.le(0.5)]
    )
    #: Smallest margin, whatever the lifetime (capped at half the lifetime).
    minimum: timedelta = attrs.field(
        default=timedelta(hours=1), validator=attrs.validators.ge(timedelta(0))
    )

    def for_token(self, token: Token) -> timedelta:
        """The margin that applies to this token."""
        lifetime = token.lifetime
        if lifetime is None:
            return self.minimum
        margin = max(self.minimum, lifetime * self.fraction)
        return min(margin, lifetime / 2)

    def refresh_at(self, token: Token) -> datetime:
        """The moment from which this token should be replaced."""
        return token.expires_at - self.for_token(token)

    def is_due(self, token: Token, now: datetime) -> bool:
        """Whether ``now`` is past the moment this token should be replaced."""
        return now >= self.refresh_at(token)

    def __repr__(self) -> str:
        return f"RefreshMargin(fraction={self.fraction}, minimum={self.minimum})"


#: The margin used when none is given: see :class:`RefreshMargin`.
DEFAULT_REFRESH_MARGIN = RefreshMargin()


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (the clock every token check uses)."""
    return datetime.now(UTC)


@attrs.frozen(kw_only=True, repr=False)
class Token:
    """A gateway JWT with its claims decoded (never verified). Build it with :meth:`parse`."""

    #: Serial number of the gateway the token is for (the ``aud`` claim), or ``un-commissioned``.
    serial: str
    #: The holder's role (``enphaseUser`` claim).
    role: TokenRole
    #: When the token stops being accepted (``exp`` claim), UTC.
    expires_at: datetime
    #: When Entrez issued the token (``iat`` claim), UTC; None when the claim is absent.
    issued_at: datetime | None = None
    #: The Enlighten account the token was issued to (``username`` claim), if present.
    username: str | None = None
    #: Who issued the token (``iss`` claim, ``Entrez`` for real tokens), if present.
    issuer: str | None = None
    #: The token's unique id (``jti`` claim), if present.
    jti: str | None = None
    #: The encoded token as sent in the ``Authorization`` header; read it via :meth:`secret`.
    _raw: str = attrs.field(alias="raw")

    @classmethod
    def parse(cls, text: str) -> Token:
        """Decode a JWT's claims without checking its signature.

        Surrounding whitespace and quotes are ignored. Raises :class:`InvalidTokenError`
        (whose message never contains the text) when it is not a three-part JWT with base64url
        JSON header and claims and a numeric ``exp`` and a string ``aud``.
        """
        raw = text.strip().strip("\"'").strip()
        if not raw:
            raise InvalidTokenError("the token is empty")
        if _CLOUD_ERROR_TEXT.lower() in raw.lower():
            raise InvalidTokenError(f"the cloud answered {_CLOUD_ERROR_TEXT!r} instead of a token")
        if len(raw) > _MAX_TOKEN_CHARS:
            raise InvalidTokenError(f"the token is {len(raw)} characters long; not a JWT")
        parts = raw.split(".")
        if len(parts) != 3:
            raise InvalidTokenError(f"a JWT has three dot-separated parts, this has {len(parts)}")
        _decode_json_part(parts[0], "header")
        claims = _decode_json_part(parts[1], "claims")
        _decode_part(parts[2], "signature")
        return cls(
            serial=_audience(claims),
            role=TokenRole.from_claim(claims.get("enphaseUser")),
            expires_at=_timestamp(claims, "exp"),
            issued_at=None if claims.get("iat") is None else _timestamp(claims, "iat"),
            username=_optional_str(claims, "username"),
            issuer=_optional_str(claims, "iss"),
            jti=_optional_str(claims, "jti"),
            raw=raw,
        )

    def secret(self) -> str:
        """The encoded token, for the ``Authorization: Bearer`` header or a 0600 cache file."""
        return self._raw

    @property
    def fingerprint(self) -> str:
        """First 8 hex digits of the token's SHA-256: tells tokens apart without revealing them."""
        return hashlib.sha256(self._raw.encode()).hexdigest()[:8]

    @property
    def lifetime(self) -> timedelta | None:
        """``exp - iat``: how long the token was issued for; None without ``iat``."""
        if self.issued_at is None:
            return None
        return self.expires_at - self.issued_at

    def expires_in(self, now: datetime | None = None) -> timedelta:
        """Time left until expiry (negative once expired)."""
        return self.expires_at - (now or utc_now())

    def is_expired(self, now: datetime | None = None, skew: timedelta = timedelta(0)) -> bool:
        """Whether the token is expired at ``now``, or will be within ``skew`` (clock drift)."""
        return (now or utc_now()) + skew >= self.expires_at

    def __repr__(self) -> str:
        return (
            f"Token(serial={self.serial!r}, role={self.role.value}, "
            f"expires_at={self.expires_at.isoformat()}, fingerprint={self.fingerprint})"
        )

    def __str__(self) -> str:
        return (
            f"{self.role.value} token for {self.serial}, expires "
            f"{self.expires_at.isoformat()} (sha256 {self.fingerprint})"
        )


def _decode_part(part: str, name: str) -> bytes:
    if not part:
        raise InvalidTokenError(f"the token's {name} part is empty")
    # Checked up front, so decoding cannot fail (and no decoder error can carry the text).
    if not _BASE64URL.fullmatch(part) or len(part) % 4 == 1:
        raise InvalidTokenError(f"the token's {name} part is not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _decode_json_part(part: str, name: str) -> dict[str, Any]:
    data = _decode_part(part, name)
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        # The decode errors keep the decoded text in an attribute: do not chain them.
        raise InvalidTokenError(f"the token's {name} part is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidTokenError(f"the token's {name} part is not a JSON object")
    return value


def _audience(claims: dict[str, Any]) -> str:
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) == 1:
        aud = aud[0]
    if not isinstance(aud, str) or not aud.strip():
        raise InvalidTokenError("the token has no 'aud' claim (the gateway serial)")
    return aud.strip()


def _timestamp(claims: dict[str, Any], key: str) -> datetime:
    value = claims.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidTokenError(f"the token's {key!r} claim is missing or not a number")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidTokenError(f"the token's {key!r} claim is out of range") from None


def _optional_str(claims: dict[str, Any], key: str) -> str | None:
    value = claims.get(key)
    return value if isinstance(value, str) else None
