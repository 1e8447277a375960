"""A scriptable token source and a hand-driven clock for the source and manager tests."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from enphase_local.auth.token import Token
from tests.tokens.jwt import T0


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class ScriptedSource:
    """Answers ``get`` with the scripted tokens or errors, in order; the last one repeats.

    While ``gate`` is set to an unset event, every call waits for it, so tests can pile up
    concurrent callers. Records each call's serial and each ``invalidate``.
    """

    def __init__(self, *answers: Token | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []
        self.invalidated: list[tuple[str, Token]] = []
        self.gate: asyncio.Event | None = None

    async def get(self, serial: str) -> Token:
        self.calls.append(serial)
        if self.gate is not None:
            await self.gate.wait()
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def invalidate(self, serial: str, token: Token) -> None:
        self.invalidated.append((serial, token))
