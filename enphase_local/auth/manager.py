"""The token of one gateway over time: refreshed ahead of expiry, single-flight, outage-proof.

A :class:`TokenManager` holds the token in use for one gateway and asks its
:class:`~enphase_local.auth.sources.TokenSource` for a new one when the current one comes within
the refresh margin of its expiry. The rules it keeps:

- **Single flight.** However many callers want a new token at once, the source is asked once
  and every caller gets that one result (or error).
- **The old token stays until the new one is proven.** :meth:`TokenManager.refresh` takes an
  optional ``validate`` coroutine (the session passes its ``check_jwt`` call); the candidate is
  committed only after it passes. Callers that need the steps apart use
  :meth:`~TokenManager.fetch_candidate`, :meth:`~TokenManager.commit` and
  :meth:`~TokenManager.reject`.
- **A refused token is never used again.** :meth:`TokenManager.replace` (the answer to a 401
  that survived a re-check) rejects it and fetches another once, however many requests saw
  the 401.
- **Outages are survivable.** When the source fails while the current token is still valid, the
  token stays in use and ``refresh`` raises the source's error for the caller to log. Once the
  current token has expired, the failure is a :class:`TokenExpiredError` chained to the
  source's error.
- **No hammering.** After a failed attempt (or when the source had nothing newer), the source
  is not asked again before a jittered, doubling retry interval has passed; meanwhile
  ``needs_refresh`` is False and ``current``/``refresh`` fail fast if there is no valid token.

The manager is plain asyncio and knows nothing of HTTP: the session wires it in.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, Generic, NoReturn, TypeVar

from enphase_local.auth.sources import TokenSource, invalidate
from enphase_local.auth.token import DEFAULT_REFRESH_MARGIN, RefreshMargin, Token, utc_now
from enphase_local.errors import (
    AuthenticationError,
    TokenExpiredError,
    TokenRejectedError,
    TokenSerialMismatchError,
)

_LOGGER = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Checks a candidate token against the gateway; raises (an AuthenticationError if refused).
Validator = Callable[[Token], Awaitable[object]]

#: How many refused tokens the manager remembers, so a source cannot hand them back.
_REJECTED_MEMORY = 8


class _SingleFlight(Generic[_T]):
    """Runs one coroutine at a time on behalf of any number of waiters."""

    def __init__(self) -> None:
        self._task: asyncio.Task[_T] | None = None

    async def run(self, factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
        task = self._task
        if task is None:
            task = asyncio.create_task(factory())
            self._task = task
            task.add_done_callback(self._done)
        # Shielded: a waiter that is cancelled must not cancel the work the others wait for.
        return await asyncio.shield(task)

    def _done(self, task: asyncio.Task[_T]) -> None:
        if self._task is task:
            self._task = None
        if not task.cancelled():
            task.exception()  # retrieved here, in case every waiter was cancelled

    async def cancel(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class TokenManager:
    """Holds the token of one gateway and replaces it before it expires.

    ``source`` supplies tokens; ``serial`` is the gateway's (settable later, once ``/info`` has
    been read). ``refresh_margin`` decides how long before expiry to replace a token (a
    :class:`RefreshMargin`, or a fixed ``timedelta``); the default suits both 12-hour installer
    and year-long owner tokens. A token counts as expired ``expiry_skew`` before its ``exp``
    (clock drift between us and the gateway). After a failure, the source rests for
    ``retry_interval``, doubling per consecutive failure up to ``max_retry_interval`` (each
    jittered down by up to half). ``clock`` returns the aware UTC now (tests drive it by hand).
    """

    def __init__(
        self,
        source: TokenSource,
        serial: str | None = None,
        *,
        refresh_margin: RefreshMargin | timedelta = DEFAULT_REFRESH_MARGIN,
        expiry_skew: timedelta = timedelta(minutes=1),
        retry_interval: timedelta = timedelta(minutes=1),
        max_retry_interval: timedelta = timedelta(minutes=30),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._source = source
        self._serial = serial
        if isinstance(refresh_margin, timedelta):
            refresh_margin = RefreshMargin(fraction=0.0, minimum=refresh_margin)
        self._margin = refresh_margin
        self._skew = expiry_skew
        self._retry_interval = retry_interval
        self._max_retry_interval = max_retry_interval
        self._clock = clock
        self._token: Token | None = None
        #: Until when the held token needs no attention (valid, and not due for replacement).
        self._steady_until: datetime | None = None
        self._rejected: deque[str] = deque(maxlen=_REJECTED_MEMORY)
        self._failures = 0
        self._retry_at: datetime | None = None
        self._last_error: Exception | None = None
        self._fetch_flight: _SingleFlight[Token] = _SingleFlight()
        self._refresh_flight: _SingleFlight[Token] = _SingleFlight()
        self._background: asyncio.Task[Token] | None = None

    def __repr__(self) -> str:
        return f"TokenManager(serial={self._serial!r}, token={self._token!r})"

    @property
    def serial(self) -> str | None:
        """The gateway serial tokens are fetched for."""
        return self._serial

    @serial.setter
    def serial(self, serial: str) -> None:
        if self._serial is not None and serial != self._serial:
            raise TokenSerialMismatchError(
                f"this token manager is for gateway {self._serial}, not {serial}"
            )
        self._serial = serial

    @property
    def token(self) -> Token | None:
        """The token in use (possibly expired), or None before the first fetch."""
        return self._token

    @property
    def refresh_margin(self) -> RefreshMargin:
        """When, ahead of expiry, a token is replaced."""
        return self._margin

    @property
    def last_error(self) -> Exception | None:
        """Why the latest attempt to get a new token failed; None after a success."""
        return self._last_error

    @property
    def retry_at(self) -> datetime | None:
        """Before this moment the source is not asked again (None: ask whenever needed)."""
        return self._retry_at

    def steady_token(self, now: datetime | None = None) -> Token | None:
        """The held token while nothing needs doing: it is valid and not yet due for replacement.

        None otherwise (no token, expired, or within the refresh margin): then use
        :meth:`current` and :meth:`needs_refresh`. One clock read and one comparison, so it
        can be asked before every request.
        """
        until = self._steady_until
        if until is None or (now or self._clock()) >= until:
            return None
        return self._token

    def needs_refresh(self, now: datetime | None = None) -> bool:
        """Whether it is time to fetch a new token (none yet, or the current one is due).

        False while resting after a failure, so callers can check it before every request.
        """
        now = now or self._clock()
        if self._retry_at is not None and now < self._retry_at:
            return False
        return self._token is None or self._margin.is_due(self._token, now)

    async def current(self) -> Token:
        """The token to send now: the held one while it is valid, else a newly fetched one.

        Never waits for a refresh the held token does not need (refreshing ahead is the job
        of :meth:`refresh` / :meth:`refresh_in_background`). A new token fetched here is
        committed without validation: the caller's first request validates it.
        """
        token = self._token
        if token is not None and not token.is_expired(self._clock(), self._skew):
            return token
        return await self.refresh()

    async def refresh(self, validate: Validator | None = None) -> Token:
        """Fetch a new token, validate it if asked, commit it, and return the token in use.

        Single flight: concurrent callers share one attempt (the first caller's ``validate``
        is the one used). If the source has nothing newer, the current token is returned.
        Raises the source's (or validator's) error while the current token is still valid,
        which stays in use; :class:`TokenExpiredError` chained to it once the current token
        has expired; and fails fast while resting after a failure.
        """
        return await self._refresh_flight.run(lambda: self._refresh_once(validate))

    async def fetch_candidate(self) -> Token:
        """Ask the source for a token without putting it in use (single flight).

        The result may be the current token when the source has nothing newer; compare it
        with :attr:`token`. Follow with :meth:`commit` once the candidate passed, or
        :meth:`reject` if the gateway refused it. Errors are as for :meth:`refresh`.
        """
        return await self._fetch_flight.run(self._fetch_once)

    def commit(self, token: Token) -> None:
        """Put ``token`` in use and clear the failure state."""
        self._token = token
        self._steady_until = min(self._margin.refresh_at(token), token.expires_at - self._skew)
        self._failures = 0
        self._retry_at = None
        self._last_error = None

    async def reject(self, token: Token) -> None:
        """Record that the gateway refused ``token``: never use it again.

        The source is told (when it supports ``invalidate``). If it was the current token, it
        is dropped and a new one may be fetched at once; a refused candidate counts as a failed
        attempt. Rejecting a token again (many requests saw the same 401) changes nothing.
        """
        known = token.fingerprint in self._rejected
        if not known:
            self._rejected.append(token.fingerprint)
            if self._serial is not None:
                await invalidate(self._source, self._serial, token)
        if token == self._token:
            self._token = None
            self._steady_until = None
            self._retry_at = None
        elif not known:
            self._record_failure(TokenRejectedError(f"the gateway refused the new {token}"))

    async def replace(self, refused: Token, validate: Validator | None = None) -> Token:
        """The gateway refused ``refused`` even after a re-check: get a token that is not it.

        Rejects ``refused`` and refreshes (single flight), unless another caller has already
        put a different valid token in use, which is then returned without asking the source.
        This is the session's answer to a 401; errors are as for :meth:`refresh`.
        """
        await self.reject(refused)
        token = self._token
        if token is not None and not token.is_expired(self._clock(), self._skew):
            return token
        return await self.refresh(validate)

    def refresh_in_background(
        self, validate: Validator | None = None
    ) -> asyncio.Task[Token] | None:
        """Start a refresh if one is due and none is running; failures are logged.

        Returns the running refresh task, or None when no refresh is due. The session calls
        this before each request, which then goes ahead with the current token.
        """
        if self._background is not None and not self._background.done():
            return self._background
        if not self.needs_refresh():
            return None
        task = asyncio.create_task(self.refresh(validate))
        task.add_done_callback(self._log_background)
        self._background = task
        return task

    async def close(self) -> None:
        """Stop any refresh in progress."""
        background, self._background = self._background, None
        if background is not None and not background.done():
            background.cancel()
            await asyncio.gather(background, return_exceptions=True)
        await self._refresh_flight.cancel()
        await self._fetch_flight.cancel()

    async def _refresh_once(self, validate: Validator | None) -> Token:
        candidate = await self.fetch_candidate()
        if candidate == self._token:
            return candidate
        if validate is not None:
            try:
                await validate(candidate)
            except AuthenticationError as err:
                self._rejected.append(candidate.fingerprint)
                await invalidate(self._source, self._require_serial(), candidate)
                self._fail(err)
            except Exception as err:
                # The gateway unreachable, rebooting or answering garbage says nothing of the
                # token: no rest period and no rejection; the next attempt asks again.
                self._last_error = err
                raise
        self.commit(candidate)
        return candidate

    async def _fetch_once(self) -> Token:
        serial = self._require_serial()
        now = self._clock()
        if self._retry_at is not None and now < self._retry_at:
            self._fail_fast(now)
        try:
            candidate = await self._source.get(serial)
        except Exception as err:  # noqa: BLE001 - any failure must still start the rest period
            self._fail(err)
        now = self._clock()
        if candidate.fingerprint in self._rejected:
            self._fail(
                TokenRejectedError(
                    f"the token source for {serial} returned a token the gateway refused "
                    f"({candidate}); a new token is needed"
                )
            )
        if candidate.is_expired(now, self._skew):
            self._fail(
                TokenExpiredError(f"the token source for {serial} returned an expired {candidate}")
            )
        if candidate == self._token and self._margin.is_due(candidate, now):
            # Nothing newer to be had (a static token, or a cache during an outage): rest.
            self._record_failure(None)
        return candidate

    def _require_serial(self) -> str:
        if self._serial is None:
            raise AuthenticationError(
                "the gateway serial must be set before a token can be fetched"
            )
        return self._serial

    def _record_failure(self, err: Exception | None) -> None:
        self._failures += 1
        rest = min(
            self._retry_interval * 2 ** (self._failures - 1),
            self._max_retry_interval,
        )
        jitter = 0.5 + random.random() / 2  # noqa: S311 - jitter, not crypto
        self._retry_at = self._clock() + rest * jitter
        if err is not None:
            self._last_error = err

    def _fail(self, err: Exception) -> NoReturn:
        """Record a failed attempt and raise: ``err`` itself while the token in use is valid."""
        self._record_failure(err)
        token = self._token
        if token is None or not token.is_expired(self._clock(), self._skew):
            raise err
        raise TokenExpiredError(
            f"the token for {self._serial} expired at {token.expires_at.isoformat()} "
            f"and no new one could be had: {err}"
        ) from err

    def _fail_fast(self, now: datetime) -> NoReturn:
        """Refuse to ask the source while resting after a failure."""
        assert self._retry_at is not None
        reason = f"{self._last_error}" if self._last_error else "the source had no newer token"
        token = self._token
        if token is not None and token.is_expired(now, self._skew):
            raise TokenExpiredError(
                f"the token for {self._serial} expired at {token.expires_at.isoformat()}; "
                f"next attempt at {self._retry_at.isoformat()} ({reason})"
            ) from self._last_error
        raise AuthenticationError(
            f"no new token for {self._serial} before {self._retry_at.isoformat()} ({reason})"
        ) from self._last_error

    def _log_background(self, task: asyncio.Task[Token]) -> None:
        if task.cancelled():
            return
        err = task.exception()
        if err is None:
            return
        token = self._token
        if token is not None and not token.is_expired(self._clock(), self._skew):
            _LOGGER.warning(
                "token refresh for %s failed, still using %s: %s", self._serial, token, err
            )
        else:
            _LOGGER.error("token refresh for %s failed: %s", self._serial, err)
