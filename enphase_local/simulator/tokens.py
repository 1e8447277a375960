"""Ready-made tokens for tests: valid owner and installer tokens, and each kind of bad one."""

from __future__ import annotations

import time

from enphase_local.simulator.auth.jwt import OWNER_LIFETIME_S, Role, TokenIssuer


class TokenMinter:
    """Mints tokens with the simulation's cloud key (and, for bad signatures, another key)."""

    def __init__(self, issuer: TokenIssuer, *, owner_lifetime_s: float = OWNER_LIFETIME_S) -> None:
        self._issuer = issuer
        self._owner_lifetime_s = owner_lifetime_s
        self._stranger: TokenIssuer | None = None

    def __repr__(self) -> str:
        return f"TokenMinter({self._issuer!r})"

    def owner(
        self, serial: str, *, lifetime_s: float | None = None, username: str = "owner@example.com"
    ) -> str:
        """A valid owner token for ``serial``."""
        return self._issuer.mint(
            serial,
            role=Role.OWNER,
            username=username,
            lifetime_s=self._owner_lifetime_s if lifetime_s is None else lifetime_s,
        )

    def installer(self, serial: str, *, username: str = "installer@example.com") -> str:
        """A valid 12-hour installer token for ``serial``."""
        return self._issuer.mint(serial, role=Role.INSTALLER, username=username)

    def expired(self, serial: str, *, role: Role | str = Role.OWNER) -> str:
        """A correctly signed token for ``serial`` that expired an hour ago."""
        return self._issuer.mint(serial, role=role, lifetime_s=3600, issued_at=time.time() - 7200)

    def wrong_audience(self, serial: str) -> str:
        """A valid owner token for another gateway than ``serial``."""
        other = "000000000000" if serial != "000000000000" else "999999999999"
        return self._issuer.mint(other, role=Role.OWNER)

    def bad_signature(self, serial: str) -> str:
        """A token for ``serial`` signed with a key the gateways do not trust."""
        if self._stranger is None:
            self._stranger = TokenIssuer()
        return self._stranger.mint(serial, role=Role.OWNER)

    def uncommissioned(self) -> str:
        """A token for an uncommissioned gateway (``aud`` = ``un-commissioned``)."""
        return self._issuer.mint("un-commissioned", role=Role.INSTALLER)
