"""HTTP Digest authentication (RFC 7616, MD5, ``qop=auth``) as legacy gateways check it.

Written by hand from the RFC so that the simulator does not share code with any client it
tests. Nonces are random, remembered (a bounded number), and each accepts strictly
increasing nonce counts, so a replayed ``Authorization`` header fails.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import re
import secrets

_MAX_NONCES = 1024
_PARAM = re.compile(r'\s*([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - the protocol's hash


def parse_digest_header(value: str) -> dict[str, str] | None:
    """The parameters of a ``Digest ...`` credentials header, or None if it is not one."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if match is None or match.end() == position:
            return None
        quoted, bare = match.group(2), match.group(3)
        params[match.group(1).lower()] = (
            re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        )
        position = match.end()
    return params


class DigestAuthenticator:
    """Checks ``Authorization: Digest`` headers against a table of users and passwords."""

    def __init__(self, *, realm: str, credentials: dict[str, str]) -> None:
        self.realm = realm
        self._credentials = dict(credentials)
        self._nonces: collections.OrderedDict[str, int] = collections.OrderedDict()

    def __repr__(self) -> str:
        return f"DigestAuthenticator(realm={self.realm!r}, users={sorted(self._credentials)})"

    def challenge(self) -> str:
        """A fresh ``WWW-Authenticate`` value, shaped like the device's."""
        nonce = base64.b64encode(secrets.token_bytes(20)).decode("ascii")
        self._nonces[nonce] = 0
        while len(self._nonces) > _MAX_NONCES:
            self._nonces.popitem(last=False)
        return f'Digest qop="auth", realm="{self.realm}", nonce="{nonce}"'

    def verify(self, *, method: str, uri: str, header: str | None) -> str | None:
        """The authenticated user name, or None when the header does not check out."""
        params = parse_digest_header(header or "")
        if params is None:
            return None
        username = params.get("username", "")
        password = self._credentials.get(username)
        nonce = params.get("nonce", "")
        if (
            password is None
            or params.get("realm") != self.realm
            or nonce not in self._nonces
            or params.get("uri") != uri
            or params.get("qop") != "auth"
            or params.get("algorithm", "MD5").upper() != "MD5"
        ):
            return None
        try:
            count = int(params.get("nc", ""), 16)
        except ValueError:
            return None
        if count <= self._nonces[nonce]:
            return None
        cnonce = params.get("cnonce", "")
        ha1 = _md5(f"{username}:{self.realm}:{password}")
        ha2 = _md5(f"{method}:{uri}")
        expected = _md5(f"{ha1}:{nonce}:{params['nc']}:{cnonce}:auth:{ha2}")
        if not hmac.compare_digest(expected, params.get("response", "")):
            return None
        self._nonces[nonce] = count
        return username
