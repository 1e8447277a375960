"""The path every control write takes: allowed?, checked, paced, sent once, read back.

1. Without ``allow_control`` nothing happens: :class:`ControlNotAllowedError`.
2. The input is checked and the gateway read (its hardware, the current state, the whole
   body to send back); a bad input or missing hardware raises before anything is written.
3. One write at a time per gateway, and at least ``min_interval_s`` between two.
4. The write goes through the session like any request (its one-request-in-flight lock, its
   token), but is never retried by the transport. An error status (400, 500...) raises
   :class:`ControlRejectedError` at once, never sending the body again.
5. The state is read back every ``poll_interval_s`` until it shows what was asked, or the
   wait ends (:class:`ControlNotAppliedError`, carrying the result); within
   ``settle_s`` of a dry contact settings change of ours, every contact reading open (as
   all do while it settles) is not taken to show a contact opened. Only when the write's
   answer was lost (a broken connection, a 502/503/504) and reading back still shows the
   old value on keys that change at once, twice (the second reading ``min_interval_s`` or
   more after the write), is the write sent once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

from enphase_local.control.result import ControlPolicy, ControlResult, PreparedWrite, matches, same
from enphase_local.control.specs import CONTROLS, ControlSpec, StateReader
from enphase_local.errors import (
    AuthenticationError,
    CertificateMismatchError,
    ControlNotAllowedError,
    ControlNotAppliedError,
    ControlRejectedError,
    ControlValidationError,
    EnphaseError,
    GatewayConnectionError,
    NotSupportedError,
    PayloadError,
)
from enphase_local.exchange import RETRY_STATUSES
from enphase_local.replies import Reply, raise_if_soft_error

_LOGGER = logging.getLogger("enphase_local.control")

#: Most characters of a gateway's refusal quoted in an error.
_REASON_CHARS: Final = 200
#: What a refusal that echoes the request could hold of ours: a JWT (or part of one), the
#: session cookie. Masked before it is quoted.
_SECRETS: Final = re.compile(
    r"eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}|(?<=sessionId=)[^;,\s]+"
)


class ControlPort(StateReader, Protocol):
    """What the controller needs of a session."""

    def url(self, path: str) -> str:
        """The whole URL of ``path``."""
        ...

    def masked_headers(self) -> Mapping[str, str]:
        """The headers a write carries, token and cookie masked."""
        ...

    async def send_write(self, method: str, path: str, body: bytes) -> Reply:
        """Send a JSON body once (no retry), under the session's request lock."""
        ...


class ControlListener(Protocol):
    """Told about the writes of a session (the poller watches what they changed)."""

    def control_started(self, control: str) -> None:
        """A write is about to be sent."""
        ...

    def control_finished(
        self, control: str, result: ControlResult | None, model: object | None
    ) -> None:
        """The write is over: its result (None when it failed before one) and the last model
        read back (None when none was)."""
        ...


def spec_of(control: str) -> ControlSpec:
    """The declaration of a control write; :class:`ControlValidationError` if unknown."""
    spec = CONTROLS.get(control)
    if spec is None:
        raise ControlValidationError(f"unknown control {control!r} (known: {', '.join(CONTROLS)})")
    return spec


def describe(values: Mapping[str, Any]) -> str:
    """``mode=savings, reserve_percent=30`` (the contact id or serial first)."""
    if not values:
        return "nothing"
    return ", ".join(f"{key}={_show(value)}" for key, value in values.items())


def _show(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{value:.0f}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Controller:
    """Control writes of one session (see the module's docstring)."""

    def __init__(
        self,
        port: ControlPort,
        policy: ControlPolicy,
        *,
        allowed: bool,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._port = port
        self.policy = policy
        self.allowed = allowed
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._last_write: float | None = None
        #: Endpoint -> until when (clock) a write of ours may disturb its readings.
        self._disturbed: dict[str, float] = {}
        self._listeners: list[ControlListener] = []

    def add_listener(self, listener: ControlListener) -> Callable[[], None]:
        """Tell ``listener`` about every write from now on; returns how to stop."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    async def prepare(self, control: str, arguments: Mapping[str, Any]) -> PreparedWrite:
        """Check the input, read the gateway and build the exact request; nothing is written."""
        spec = spec_of(control)
        try:
            bound = inspect.signature(spec.prepare).bind(self._port, **arguments)
        except TypeError as err:
            raise ControlValidationError(f"{control}: {err}") from err
        draft = await spec.prepare(*bound.args, **bound.kwargs)
        return PreparedWrite(
            control=control,
            method=spec.method,
            path=spec.path,
            url=self._port.url(spec.path),
            headers=self._port.masked_headers(),
            body=draft.body,
            requested=draft.requested,
            before=draft.before,
        )

    async def run(
        self, control: str, arguments: Mapping[str, Any], *, wait_s: float | None = None
    ) -> ControlResult:
        """Make the write and read it back; the result when applied, else
        :class:`ControlNotAppliedError`."""
        if not self.allowed:
            raise ControlNotAllowedError(
                f"{control}: control writes are off for gateway {self._port.host}; make the "
                "session with allow_control=True to send them (nothing was sent)"
            )
        spec = spec_of(control)
        if wait_s is None:
            wait_s = self.policy.slow_wait_s if spec.slow else self.policy.wait_s
        elif not wait_s >= 0:
            raise ControlValidationError(f"wait_s must be 0 or more, not {wait_s}")
        async with self._lock:
            prepared = await self.prepare(control, arguments)
            return await self._write(spec, prepared, wait_s)

    # -- one write ---------------------------------------------------------------------------

    async def _write(
        self, spec: ControlSpec, prepared: PreparedWrite, wait_s: float
    ) -> ControlResult:
        await self._pace()
        for listener in self._listeners:
            listener.control_started(spec.name)
        result: ControlResult | None = None
        model: object | None = None
        try:
            result, model = await self._send_and_confirm(spec, prepared, wait_s)
        except ControlNotAppliedError as err:
            result = err.result
            raise
        finally:
            for listener in self._listeners:
                listener.control_finished(spec.name, result, model)
        return result

    async def _send_and_confirm(
        self, spec: ControlSpec, prepared: PreparedWrite, wait_s: float
    ) -> tuple[ControlResult, object | None]:
        requested = prepared.requested
        sent_at = self._clock()
        lost = await self._send(spec, prepared)
        writes = 1
        deadline = sent_at + wait_s
        observed: dict[str, Any] = {}
        model: object | None = None
        error: EnphaseError | None = None
        suspected = settling = False
        while True:
            try:
                model = await self._port.fetch(spec.read)
            except (NotSupportedError, AuthenticationError):
                raise
            except EnphaseError as err:
                error = err
                _LOGGER.debug("%s: reading back failed: %s", spec.name, err)
            else:
                error = None
                observed = spec.observe(model, requested)
                settling = matches(observed, requested) and self._settling(spec, model)
                if matches(observed, requested) and not settling:
                    applied = self._clock() - sent_at
                    return self._result(spec, requested, observed, applied, writes), model
                if lost and writes == 1 and self._never_arrived(spec, prepared, observed):
                    if suspected:
                        _LOGGER.info("%s: the write never arrived; sending it again", spec.name)
                        sent_at = self._clock()
                        deadline = max(deadline, sent_at + wait_s)
                        lost = await self._send(spec, prepared)
                        writes = 2
                    else:
                        # Make sure: the same reading again, a write interval on.
                        suspected = True
                        await self._pace()
                    continue
            now = self._clock()
            if now >= deadline:
                break
            await self._sleep(min(self.policy.poll_interval_s, deadline - now))
        result = self._result(spec, requested, observed, None, writes)
        raise self._not_applied(spec, prepared, result, wait_s, error, settling=settling)

    def _settling(self, spec: ControlSpec, model: object) -> bool:
        """Whether ``model`` reads as a disturbance of ours looks while it may last (every
        dry contact open after a settings change), so that it proves nothing."""
        until = self._disturbed.get(spec.read.name)
        return (
            spec.unsettled is not None
            and until is not None
            and self._clock() < until
            and spec.unsettled(model)
        )

    def _result(
        self,
        spec: ControlSpec,
        requested: Mapping[str, Any],
        observed: Mapping[str, Any],
        seconds: float | None,
        writes: int,
    ) -> ControlResult:
        return ControlResult(
            control=spec.name,
            requested=dict(requested),
            observed=dict(observed),
            applied=seconds is not None,
            seconds_to_apply=None if seconds is None else max(0.0, seconds),
            writes=writes,
        )

    def _not_applied(
        self,
        spec: ControlSpec,
        prepared: PreparedWrite,
        result: ControlResult,
        wait_s: float,
        error: EnphaseError | None,
        *,
        settling: bool,
    ) -> ControlNotAppliedError:
        where = f"{spec.name} on gateway {self._port.host}"
        if settling:
            return ControlNotAppliedError(
                f"{where}: {spec.read.path} still reads as it does while a settings change "
                f"settles ({describe(result.observed)}, every contact open) after {wait_s:g} "
                f"s, which does not tell whether the write applied; read it again within "
                f"{self.policy.settle_s:g} s of the settings change",
                result=result,
            )
        if not result.observed and error is not None:
            failure = ControlNotAppliedError(
                f"{where}: the write was sent, but its effect could not be read back within "
                f"{wait_s:g} s ({error})",
                result=result,
            )
            failure.__cause__ = error
            return failure
        return ControlNotAppliedError(
            f"{where}: the gateway took the write but still shows {describe(result.observed)} "
            f"after {wait_s:g} s (asked for {describe(prepared.requested)}, it was "
            f"{describe(prepared.before)})",
            result=result,
        )

    def _never_arrived(
        self, spec: ControlSpec, prepared: PreparedWrite, observed: Mapping[str, Any]
    ) -> bool:
        """Whether ``observed`` proves the write did not arrive: every key that changes at
        once (and was to change) still reads as before."""
        before, requested = prepared.before, prepared.requested
        keys = [
            key
            for key in spec.immediate_keys(requested)
            if key in before and not same(before[key], requested[key])
        ]
        return bool(keys) and all(same(observed.get(key), before[key]) for key in keys)

    async def _pace(self) -> None:
        """Wait until ``min_interval_s`` has passed since the last write was sent."""
        if self._last_write is None:
            return
        delay = self._last_write + self.policy.min_interval_s - self._clock()
        if delay > 0:
            await self._sleep(delay)

    async def _send(self, spec: ControlSpec, prepared: PreparedWrite) -> bool:
        """Send the write once; True when its answer was lost (it may or may not have
        arrived), False when the gateway took it."""
        self._last_write = self._clock()
        try:
            reply = await self._port.send_write(spec.method, spec.path, prepared.body_bytes)
        except CertificateMismatchError:
            raise  # refused in the handshake: nothing was sent
        except GatewayConnectionError as err:
            _LOGGER.warning("%s: the write's answer was lost (%s); reading back", spec.name, err)
            self._disturb(spec)
            return True
        status = reply.status
        if 200 <= status < 300:
            # Only a "not found" answer counts; any other odd body says nothing: reading
            # back decides.
            with contextlib.suppress(PayloadError):
                raise_if_soft_error(spec.path, reply.body)
            self._disturb(spec)
            return False
        if status in RETRY_STATUSES:
            _LOGGER.warning("%s: the gateway answered %d; reading back", spec.name, status)
            self._disturb(spec)
            return True
        if status == 404:
            raise NotSupportedError(
                f"{spec.method} {spec.path}: gateway {self._port.host} does not take this "
                "write (404)",
                endpoint=spec.path,
            )
        if status == 401:
            raise AuthenticationError(
                f"{spec.method} {spec.path}: gateway {self._port.host} refused the write (401)"
            )
        raise ControlRejectedError(
            f"{spec.method} {spec.path}: gateway {self._port.host} refused the write with "
            f"HTTP {status}{_reason(reply.body)}; it was not sent again",
            status=status,
            endpoint=spec.path,
        )

    def _disturb(self, spec: ControlSpec) -> None:
        """Note that a write which may have arrived disturbs an endpoint for a while."""
        if spec.disturbs is None or self._last_write is None:
            return
        name = spec.disturbs[0]
        until = self._last_write + self.policy.settle_s
        self._disturbed[name] = max(self._disturbed.get(name, until), until)


def _reason(body: bytes) -> str:
    """The gateway's words, on one line, at most a couple of hundred characters, without
    anything of ours it may have echoed."""
    text = " ".join(body.decode("utf-8", "replace").split())
    text = _SECRETS.sub("<masked>", "".join(c if c.isprintable() else "?" for c in text))
    if not text:
        return ""
    if len(text) > _REASON_CHARS:
        text = text[:_REASON_CHARS] + "..."
    return f" ({text})"
