"""The gateway's token and session bookkeeping, without HTTP."""

from __future__ import annotations

import time
import types

import pytest

from enphase_local.simulator.auth import sessions
from enphase_local.simulator.auth.jwt import TokenError, TokenIssuer
from enphase_local.simulator.auth.sessions import SESSION_IDLE_S, TokenAuth

SERIAL = "122199900001"


class FakeNow:
    def __init__(self) -> None:
        self.value = 1_000_000.0

    def __call__(self) -> float:
        return self.value


def test_a_remembered_token_still_expires_and_can_be_revoked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issuer = TokenIssuer()
    auth = TokenAuth(serial=SERIAL, issuer=issuer, now=FakeNow())
    token = issuer.mint(SERIAL, lifetime_s=100)
    claims = auth.verify(token)
    assert auth.verify(token) == claims  # second time from memory
    later = time.time() + 200
    monkeypatch.setattr(sessions, "time", types.SimpleNamespace(time=lambda: later))
    with pytest.raises(TokenError, match="expired"):
        auth.verify(token)
    monkeypatch.undo()
    other = issuer.mint(SERIAL)
    auth.verify(other)
    auth.revoke_all()
    with pytest.raises(TokenError, match="revoked"):
        auth.verify(other)


def test_sessions_idle_out_on_the_given_clock() -> None:
    issuer = TokenIssuer()
    now = FakeNow()
    auth = TokenAuth(serial=SERIAL, issuer=issuer, now=now)
    session = auth.open_session(auth.verify(issuer.mint(SERIAL)))
    assert len(session) == 32
    assert session.isalnum()
    now.value += SESSION_IDLE_S - 1
    assert auth.session(session) is not None
    now.value += SESSION_IDLE_S
    assert auth.session(session) is None
    assert auth.session(session) is None  # forgotten
    assert auth.session("unknown") is None


def test_many_tokens_are_remembered_within_bounds() -> None:
    issuer = TokenIssuer()
    auth = TokenAuth(serial=SERIAL, issuer=issuer, now=FakeNow())
    tokens = [issuer.mint(SERIAL) for _ in range(300)]
    for token in tokens:
        auth.verify(token)
    assert all(auth.verify(token).audience == SERIAL for token in tokens)
    assert SERIAL in repr(auth)
