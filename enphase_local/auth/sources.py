"""Where tokens come from: one small protocol and the sources the library ships.

A token source answers ``await source.get(serial)`` with a :class:`Token` for that gateway, or
raises an :class:`~enphase_local.errors.AuthenticationError` (a cloud error, an invalid token,
an unreadable file). A source may also implement ``await source.invalidate(serial, token)``
(:class:`InvalidatingTokenSource`): the gateway refused that token, so it must not be handed
out again; the :class:`~enphase_local.auth.manager.TokenManager` calls it when present. Sources
that cannot make a new token (a static string, a file until it changes, a callback) simply do
not implement it; the manager remembers refused tokens itself.

Sources are cheap to call but not free (a file read, a cloud round trip): the manager calls
them only when it needs a new token.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from enphase_local.auth.cache import TokenCache
from enphase_local.auth.cloud import EnphaseCloud
from enphase_local.auth.token import DEFAULT_REFRESH_MARGIN, RefreshMargin, Token, utc_now
from enphase_local.errors import (
    AuthenticationError,
    EnphaseError,
    InvalidTokenError,
    PrivateFileError,
)

_LOGGER = logging.getLogger(__name__)


@runtime_checkable
class TokenSource(Protocol):
    """Anything that can produce a token for a gateway serial."""

    async def get(self, serial: str) -> Token:
        """A token for the gateway ``serial``; raises an ``AuthenticationError`` subclass."""
        ...


@runtime_checkable
class InvalidatingTokenSource(TokenSource, Protocol):
    """A token source that can be told a token was refused, so it never returns it again."""

    async def invalidate(self, serial: str, token: Token) -> None:
        """Forget ``token`` for ``serial`` (the gateway refused it)."""
        ...


async def invalidate(source: TokenSource, serial: str, token: Token) -> None:
    """Tell ``source`` that ``token`` was refused, if the source can act on it."""
    if isinstance(source, InvalidatingTokenSource):
        await source.invalidate(serial, token)


def as_token_source(token: str | Token | TokenSource) -> TokenSource:
    """A source for what a user passed as ``token=``: a string or Token becomes static."""
    if isinstance(token, str | Token):
        return StaticTokenSource(token)
    return token


class StaticTokenSource:
    """One fixed token, whatever the serial (a token pasted by the user).

    The text is checked at once: a malformed token raises :class:`InvalidTokenError` here.
    """

    def __init__(self, token: str | Token) -> None:
        self._token = token if isinstance(token, Token) else Token.parse(token)

    def __repr__(self) -> str:
        return f"StaticTokenSource({self._token!r})"

    async def get(self, serial: str) -> Token:
        """The token, for any serial."""
        return self._token


#: When a file was last changed, as far as re-reading it is concerned: mtime, size, inode.
_FileStamp = tuple[int, int, int]


def _read_if_changed(path: Path, known: _FileStamp | None) -> tuple[_FileStamp, bytes | None]:
    """The file's stamp, and its content unless the stamp is ``known`` (runs in a thread)."""
    info = path.stat()
    stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
    return stamp, None if stamp == known else path.read_bytes()


class TokenFileSource:
    """A file holding one token (whitespace and quotes around it are ignored).

    The file is read again whenever its modification time, size or inode changes, so another
    program (or the user) can replace the token while a poller runs. ``serial`` is not used:
    the file holds the token of one gateway.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._stamp: _FileStamp | None = None
        self._token: Token | None = None

    def __repr__(self) -> str:
        return f"TokenFileSource({str(self._path)!r})"

    @property
    def path(self) -> Path:
        """The token file."""
        return self._path

    async def get(self, serial: str) -> Token:
        """The file's token; re-read when the file changed since the last call."""
        held = self._token
        known = self._stamp if held is not None else None
        try:
            stamp, data = await asyncio.to_thread(_read_if_changed, self._path, known)
        except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
            reason = err.strerror if isinstance(err, OSError) else err
            raise AuthenticationError(f"cannot read token file {self._path}: {reason}") from err
        if data is None:
            assert held is not None  # only a known stamp spares the read
            return held
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # The decode error holds the file's bytes: do not chain it.
            raise InvalidTokenError(f"token file {self._path} is not UTF-8 text") from None
        try:
            token = Token.parse(text)
        except InvalidTokenError as err:
            raise InvalidTokenError(f"token file {self._path}: {err}") from err
        self._token, self._stamp = token, stamp
        return token


#: What a :class:`CallbackTokenSource` calls: ``(serial) -> token``, sync or async.
TokenCallback = Callable[[str], "str | Token | Awaitable[str | Token]"]


class CallbackTokenSource:
    """Asks a user function for the token: ``callback(serial)`` returning the token text.

    The callback may be a plain function or a coroutine function and may return a string or a
    :class:`Token`. A plain function runs on the event loop, so it must not block; do I/O in a
    coroutine function. Library errors it raises pass through; any other exception becomes an
    :class:`AuthenticationError` naming only the exception's type (its text might hold a secret).
    """

    def __init__(self, callback: TokenCallback) -> None:
        self._callback = callback

    def __repr__(self) -> str:
        return f"CallbackTokenSource({getattr(self._callback, '__qualname__', 'callback')})"

    async def get(self, serial: str) -> Token:
        """Call the callback and parse what it returns."""
        try:
            result = self._callback(serial)
            if inspect.isawaitable(result):
                result = await result
        except EnphaseError:
            raise
        except Exception as err:
            raise AuthenticationError(
                f"the token callback failed for {serial} ({type(err).__name__})"
            ) from err
        if isinstance(result, Token):
            return result
        if not isinstance(result, str):
            raise InvalidTokenError(
                f"the token callback returned {type(result).__name__}, not a token string"
            )
        return Token.parse(result)


class CloudTokenSource:
    """Fetches a fresh token from the Enphase cloud for each request, one per gateway serial.

    Concurrent requests for the same serial share one cloud call; different serials share the
    client's login. Errors are those of :meth:`EnphaseCloud.fetch_token`. The source owns the
    client: :meth:`close` (or ``async with``) closes it.
    """

    def __init__(self, cloud: EnphaseCloud) -> None:
        self._cloud = cloud
        self._inflight: dict[str, asyncio.Task[Token]] = {}

    def __repr__(self) -> str:
        return f"CloudTokenSource({self._cloud!r})"

    @property
    def cloud(self) -> EnphaseCloud:
        """The cloud client."""
        return self._cloud

    async def get(self, serial: str) -> Token:
        """A newly issued token for ``serial``."""
        task = self._inflight.get(serial)
        if task is None:
            task = asyncio.create_task(self._cloud.fetch_token(serial))
            self._inflight[serial] = task
            task.add_done_callback(lambda done: self._finished(serial, done))
        # Shielded: one caller giving up must not cancel the fetch the others wait for.
        return await asyncio.shield(task)

    def _finished(self, serial: str, task: asyncio.Task[Token]) -> None:
        if self._inflight.get(serial) is task:
            del self._inflight[serial]
        if not task.cancelled():
            task.exception()  # retrieved here too, in case every waiter was cancelled

    async def close(self) -> None:
        """Close the cloud client."""
        await self._cloud.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class CachedTokenSource:
    """Wraps another source with a cache file keyed by serial (see :class:`TokenCache`).

    ``get`` returns the cached token while ``refresh_margin`` says it is not yet due for
    replacement (use the same margin as the manager; the default matches); otherwise it asks
    the inner source and caches the answer. If the inner source fails while the cached token
    has not expired and this source has not handed that token out yet, the cached token is
    returned and the failure logged: a restart during a cloud outage still finds a working
    token. A caller that already holds it gets the error instead, so the manager can report
    the outage. Expired tokens are never cached (and malformed ones never reach it).
    ``invalidate`` drops the refused token from the file and passes the news on to the inner
    source.
    """

    def __init__(
        self,
        inner: TokenSource,
        path: str | os.PathLike[str],
        *,
        refresh_margin: RefreshMargin = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._inner = inner
        self._cache = TokenCache(path)
        self._margin = refresh_margin
        self._clock = clock
        self._handed_out: dict[str, Token] = {}

    def __repr__(self) -> str:
        return f"CachedTokenSource({self._inner!r}, {str(self._cache.path)!r})"

    @property
    def cache(self) -> TokenCache:
        """The cache file."""
        return self._cache

    async def get(self, serial: str) -> Token:
        """The cached token while it is fresh enough, else one from the inner source."""
        try:
            cached = await asyncio.to_thread(self._cache.get, serial)
        except PrivateFileError as err:
            _LOGGER.warning("%s; asking the token source", err)
            cached = None
        now = self._clock()
        if cached is not None and not self._margin.is_due(cached, now):
            return self._hand_out(serial, cached)
        try:
            token = await self._inner.get(serial)
        except EnphaseError as err:
            if cached is None or cached.is_expired(now) or self._handed_out.get(serial) == cached:
                raise
            _LOGGER.warning(
                "no new token for %s (%s); using the cached one, valid until %s",
                serial,
                err,
                cached.expires_at.isoformat(),
            )
            return self._hand_out(serial, cached)
        if token != cached and not token.is_expired(now):
            try:
                await asyncio.to_thread(self._cache.put, serial, token)
            except PrivateFileError as err:
                _LOGGER.warning("cannot save the token for %s: %s", serial, err)
        return self._hand_out(serial, token)

    def _hand_out(self, serial: str, token: Token) -> Token:
        self._handed_out[serial] = token
        return token

    async def invalidate(self, serial: str, token: Token) -> None:
        """Drop ``token`` from the cache if it is there, and tell the inner source."""
        try:
            await asyncio.to_thread(self._cache.remove, serial, token)
        except PrivateFileError as err:
            _LOGGER.warning("cannot update the token cache: %s", err)
        await invalidate(self._inner, serial, token)
