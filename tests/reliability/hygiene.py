"""Tools of the secret-hygiene tests: a log handler that keeps everything, and a secret finder."""

from __future__ import annotations

import logging
import secrets as stdlib_secrets
import traceback
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from enphase_local.auth.legacy import installer_password
from enphase_local.simulator import Simulation
from enphase_local.simulator import cloud as fake_cloud_module

#: Shorter values would match by chance (and no real secret is that short).
MIN_SECRET_CHARS = 8
#: Long secrets (token parts) are also found in pieces: any run of ``2 * WINDOW - 1``
#: characters of one in a text is reported, so a truncated or split token is caught too.
WINDOW = 16


class KeepEverything(logging.Handler):
    """Keeps every record, rendered as any handler might: message with its arguments formatted,
    the arguments' reprs, the traceback of ``exc_info`` and the stack of ``stack_info``."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        #: ``(logger name, rendered text)`` per record and rendering.
        self.texts: list[tuple[str, str]] = []
        #: Loggers seen, so a test can check the capture was not vacuous.
        self.loggers: set[str] = set()
        self._formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        self.loggers.add(record.name)
        self.texts.append((record.name, self._formatter.format(record)))
        self.texts.append((record.name, repr(record.msg) + repr(record.args)))


class Secrets:
    """The secret values of a test run, each with a label saying what it is."""

    def __init__(self) -> None:
        self._labels: dict[str, str] = {}
        # Every WINDOW-long piece of every long secret, to its label.
        self._pieces: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._labels)

    def add(self, label: str, value: str | None, *, pieces: bool = True) -> None:
        """Remember ``value`` (ignored when empty or too short to be told apart).

        With ``pieces``, long values are also found in parts (see :data:`WINDOW`).
        """
        if not value or len(value) < MIN_SECRET_CHARS:
            return
        self._labels.setdefault(value, label)
        if pieces and len(value) >= 2 * WINDOW - 1:
            for start in range(len(value) - WINDOW + 1):
                self._pieces.setdefault(value[start : start + WINDOW], f"{label} (a piece)")

    def add_token(self, label: str, text: str) -> None:
        """A JWT: the whole text, and its claims and signature parts on their own.

        The header part is no secret (every token of an issuer has the same one), so the
        whole text is matched only as a whole.
        """
        self.add(label, text, pieces=False)
        parts = text.split(".")
        if len(parts) == 3:
            self.add(f"{label} (claims part)", parts[1])
            self.add(f"{label} (signature part)", parts[2])

    def labels(self) -> set[str]:
        """What kinds of secret were collected."""
        return set(self._labels.values())

    def found_in(self, text: str) -> list[str]:
        """Labels of the secrets that occur in ``text`` (never the secrets themselves).

        A run of ``2 * WINDOW - 1`` characters of a long secret always covers one of the
        text's WINDOW-long pieces that start at a multiple of WINDOW, so those are enough.
        """
        found = [label for value, label in self._labels.items() if value in text]
        for start in range(0, len(text) - WINDOW + 1, WINDOW):
            label = self._pieces.get(text[start : start + WINDOW])
            if label is not None:
                found.append(label)
        return found


def exception_texts(error: BaseException) -> Iterator[str]:
    """Everything an exception shows: message, repr, args, notes and the formatted traceback,
    for it and for every exception it is chained to."""
    yield "".join(traceback.format_exception(error))
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield str(current)
        yield repr(current.args)
        yield from getattr(current, "__notes__", ())
        pending += [current.__cause__, current.__context__]


def exception_reprs(error: BaseException) -> Iterator[str]:
    """``repr`` of the exception and of every exception it is chained to."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield repr(current)
        pending += [current.__cause__, current.__context__]


WATCHED_LOGGERS = ("", "enphase_local", "aiohttp", "asyncio")


@pytest.fixture
def all_logs() -> Iterator[KeepEverything]:
    """Every logger at DEBUG into one handler on the root logger."""
    handler = KeepEverything()
    loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def record_simulation_secrets(
    sim: Simulation, found: Secrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Record every secret a simulation holds or makes: tokens as they are minted (and the
    gateways' owner tokens already minted), Enlighten session ids and manager tokens, gateway
    session cookies, installer digest passwords and account passwords."""
    issuer_mint = sim.issuer.mint

    def mint(*args: Any, **kwargs: Any) -> str:
        token = issuer_mint(*args, **kwargs)
        found.add_token("a minted token", token)
        return token

    monkeypatch.setattr(sim.issuer, "mint", mint)

    def recording(label: str, make: Callable[..., str]) -> Callable[..., str]:
        def record(*args: Any, **kwargs: Any) -> str:
            value = make(*args, **kwargs)
            found.add(label, value)
            return value

        return record

    # The fake cloud makes its session ids and manager tokens with the secrets module.
    monkeypatch.setattr(
        fake_cloud_module,
        "secrets",
        SimpleNamespace(
            token_hex=recording("an Enlighten session_id", stdlib_secrets.token_hex),
            token_urlsafe=recording("an Enlighten manager_token", stdlib_secrets.token_urlsafe),
            compare_digest=stdlib_secrets.compare_digest,
        ),
    )
    for gateway in sim.gateways:
        monkeypatch.setattr(
            gateway.auth,
            "open_session",
            recording("a gateway sessionId cookie", gateway.auth.open_session),
        )
        if gateway.token is not None:
            found.add_token("a gateway's owner token", gateway.token)
        found.add("an installer digest password", installer_password(gateway.serial))
    for account in (sim.owner, sim.installer, sim.mfa):
        found.add(f"the password of {account.username}", account.password)
