"""The gateway's side of token auth: Bearer JWTs, ``sessionId`` cookies, roles, revocation.

Sessions made by ``/auth/check_jwt`` stay valid while used at least every 10 minutes of
*simulated* time (:data:`SESSION_IDLE_S`), so a test can idle one out by advancing the clock.
Revoking a token (by ``jti``, or every token minted so far) also ends its sessions.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable

import attrs

from enphase_local.simulator.auth.jwt import (
    TokenClaims,
    TokenError,
    TokenIssuer,
    verify_token,
)

#: A session ends after this many simulated seconds without use.
SESSION_IDLE_S = 600.0
#: Name of the session cookie.
SESSION_COOKIE = "sessionId"
#: How many verified tokens to remember (their signature need not be checked again).
_VERIFIED_CACHE = 256
_SESSION_ALPHABET = string.ascii_letters + string.digits


@attrs.define
class _Session:
    claims: TokenClaims
    last_used: float


class TokenAuth:
    """Verifies tokens for one gateway and keeps its sessions."""

    def __init__(self, *, serial: str, issuer: TokenIssuer, now: Callable[[], float]) -> None:
        self._serial = serial
        self._issuer = issuer
        self._now = now
        self._sessions: dict[str, _Session] = {}
        self._revoked: set[str] = set()
        self._revoked_through = 0
        self._verified: dict[str, TokenClaims] = {}

    def __repr__(self) -> str:
        return f"TokenAuth(serial={self._serial}, sessions={len(self._sessions)})"

    def verify(self, token: str) -> TokenClaims:
        """Verify a Bearer token for this gateway; raises :class:`TokenError`."""
        now = time.time()
        claims = self._verified.get(token)
        if claims is None:
            claims = verify_token(token, self._issuer.public_key, audience=self._serial, now=now)
            if len(self._verified) >= _VERIFIED_CACHE:
                self._verified.pop(next(iter(self._verified)))
            self._verified[token] = claims
        elif claims.expires_at <= now:
            raise TokenError("expired")
        if self._is_revoked(claims.token_id):
            raise TokenError("revoked")
        return claims

    def _is_revoked(self, token_id: str) -> bool:
        if token_id in self._revoked:
            return True
        sequence = self._issuer.sequence_of(token_id)
        return sequence is None or sequence <= self._revoked_through

    def open_session(self, claims: TokenClaims) -> str:
        """Start a session for verified claims; returns its cookie value."""
        now = self._now()
        # Forget sessions that idled out, as the device does, so a long run stays small.
        for stale in [k for k, v in self._sessions.items() if now - v.last_used >= SESSION_IDLE_S]:
            del self._sessions[stale]
        session_id = "".join(secrets.choice(_SESSION_ALPHABET) for _ in range(32))
        self._sessions[session_id] = _Session(claims, now)
        return session_id

    def session(self, session_id: str) -> TokenClaims | None:
        """The claims of a live session (and mark it used), or None if unknown or idled out."""
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._now()
        if now - session.last_used >= SESSION_IDLE_S or self._is_revoked(session.claims.token_id):
            del self._sessions[session_id]
            return None
        session.last_used = now
        return session.claims

    def revoke(self, token_id: str) -> None:
        """Refuse the token with this ``jti`` from now on, and end its sessions."""
        self._revoked.add(token_id)
        self._drop_revoked_sessions()

    def revoke_all(self) -> None:
        """Refuse every token minted so far (new ones still work), and end all sessions."""
        self._revoked_through = self._issuer.last_sequence
        self._drop_revoked_sessions()

    def clear_sessions(self) -> None:
        """Forget every session (a reboot does this)."""
        self._sessions.clear()

    def _drop_revoked_sessions(self) -> None:
        for session_id, session in list(self._sessions.items()):
            if self._is_revoked(session.claims.token_id):
                del self._sessions[session_id]
