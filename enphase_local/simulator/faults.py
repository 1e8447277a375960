"""Faults a test (or the control API) switches on and off while a gateway runs.

Each fault mirrors something real gateways do (GATEWAY-FACTS.md): added latency, bursts of
``504 Gateway Time-out`` from openresty while the back end is stuck, requests that are
accepted and never answered, bodies cut off mid-way, an HTML page where JSON was expected,
and the nightly window shortly after 23:00 local time when the device stops answering for a
few minutes. Reboots and token revocation live on the gateway itself.

Counted faults (``count`` requests, or every request until cleared when ``count`` is None)
can be limited to one path.

The older web back end is slow even on a healthy gateway: ``/production.json``,
``/inventory.json`` and ``/home`` take seconds (:data:`SLOW_PATHS`). The delay scales with
:attr:`Faults.slow_s`, small by default so that tests stay fast; 5 s is realistic, and up to
about 30 s gives the 60-second answers some gateways give.
"""

from __future__ import annotations

import datetime as dt
import enum

import attrs


class FaultKind(enum.StrEnum):
    """The counted faults."""

    #: Answer with an error page (``504 Gateway Time-out`` by default).
    ERROR = "error"
    #: Accept the request and never answer it.
    HANG = "hang"
    #: Send part of the body, then drop the connection (or end a short body cleanly).
    TRUNCATE = "truncate"
    #: Answer with an HTML page, status 200, where JSON was expected.
    HTML = "html"


#: Paths the web back end answers slowly, with their delay relative to ``/production.json``
#: (a capture of 8.3.5169 took 5.0 s, 6.2 s and 9.3 s for these three, 11.1 s for the page).
SLOW_PATHS = {"/production.json": 1.0, "/inventory.json": 1.25, "/home": 1.85, "/production": 2.2}
#: Default delay of ``/production.json``, real seconds.
SLOW_S = 0.05


@attrs.define
class _Burst:
    remaining: int | None
    path: str | None
    status: int = 504
    close_connection: bool = True
    not_found: bool = False


@attrs.frozen(kw_only=True)
class NightlyWindow:
    """The daily unresponsive window: requests wait ``hang_s`` real seconds, then get a 504."""

    #: Local (simulated) time the window opens.
    start: dt.time = dt.time(23, 0)
    #: How long it stays open, simulated seconds.
    duration_s: float = 300.0
    #: How long each request hangs before openresty gives up, real seconds.
    hang_s: float = 60.0
    #: Paths still answered while the window is open, as by a gateway that keeps serving
    #: ``/info`` while its data back end is stuck; none by default.
    spared_paths: frozenset[str] = frozenset()

    def contains(self, local: dt.datetime) -> bool:
        """Whether the window is open at this local time."""
        opened = dt.datetime.combine(local.date(), self.start, local.tzinfo)
        if opened > local:
            opened -= dt.timedelta(days=1)
        return (local - opened).total_seconds() < self.duration_s


@attrs.define(kw_only=True)
class FaultPlan:
    """What one request should suffer, decided when it arrives."""

    #: Extra delay before answering, real seconds.
    latency_s: float = 0.0
    #: Never answer.
    hang: bool = False
    #: Answer with this error status instead.
    error_status: int | None = None
    #: Cut the body; drop the connection (True) or end the body early (False); None: no cut.
    truncate: bool | None = None
    #: Replace the answer with HTML: the web UI page, or (``"not-found"``) old firmware's 404.
    html: str | None = None


class Faults:
    """The fault switches of one gateway."""

    def __init__(self) -> None:
        self._bursts: dict[FaultKind, _Burst] = {}
        #: Delay added to every answer, real seconds.
        self.latency_s = 0.0
        #: Delay of ``/production.json``, real seconds (the other slow paths scale with it).
        self.slow_s = SLOW_S
        #: The nightly unresponsive window, or None when switched off.
        self.nightly: NightlyWindow | None = None

    def __repr__(self) -> str:
        active = [k.value for k in self._bursts]
        return (
            f"Faults(latency_s={self.latency_s}, slow_s={self.slow_s}, active={active}, "
            f"nightly={self.nightly})"
        )

    def set_latency(self, seconds: float) -> None:
        """Delay every answer by ``seconds`` (0 turns it off)."""
        if seconds < 0:
            raise ValueError("latency must not be negative")
        self.latency_s = seconds

    def set_slow(self, seconds: float) -> None:
        """Make ``/production.json`` take ``seconds`` (and the other slow paths in proportion)."""
        if seconds < 0:
            raise ValueError("the delay must not be negative")
        self.slow_s = seconds

    def fail(self, count: int | None = 1, *, status: int = 504, path: str | None = None) -> None:
        """Answer the next ``count`` requests with an error page (openresty 504 by default)."""
        self._bursts[FaultKind.ERROR] = _Burst(_check(count), path, status=status)

    def hang(self, count: int | None = 1, *, path: str | None = None) -> None:
        """Accept the next ``count`` requests and never answer them."""
        self._bursts[FaultKind.HANG] = _Burst(_check(count), path)

    def truncate(
        self, count: int | None = 1, *, path: str | None = None, close_connection: bool = True
    ) -> None:
        """Cut the next ``count`` bodies in half.

        With ``close_connection`` the headers promise the full length and the connection
        drops mid-body; without it the message is well-formed but the JSON is cut short.
        """
        self._bursts[FaultKind.TRUNCATE] = _Burst(
            _check(count), path, close_connection=close_connection
        )

    def serve_html(
        self, count: int | None = 1, *, path: str | None = None, not_found: bool = False
    ) -> None:
        """Answer the next ``count`` successful requests with an HTML page, status 200.

        By default the page is the web UI's (``text/html``), as when the front end falls back
        to it; with ``not_found`` it is old firmware's "Page Not Found" page under an
        ``application/json`` Content-Type, its soft 404.
        """
        self._bursts[FaultKind.HTML] = _Burst(_check(count), path, not_found=not_found)

    def set_nightly(self, window: NightlyWindow | None) -> None:
        """Switch the nightly unresponsive window on (with its timing) or off (None)."""
        self.nightly = window

    def clear(self) -> None:
        """Switch every fault off."""
        self._bursts.clear()
        self.latency_s = 0.0
        self.slow_s = SLOW_S
        self.nightly = None

    def active(self) -> dict[str, object]:
        """A JSON-friendly description of the switches that are on."""
        state: dict[str, object] = {
            kind.value: {"remaining": burst.remaining, "path": burst.path}
            for kind, burst in self._bursts.items()
        }
        if self.latency_s:
            state["latency_s"] = self.latency_s
        if self.slow_s != SLOW_S:
            state["slow_s"] = self.slow_s
        if self.nightly is not None:
            state["nightly"] = {
                "start": self.nightly.start.isoformat(timespec="minutes"),
                "duration_s": self.nightly.duration_s,
                "hang_s": self.nightly.hang_s,
            }
        return state

    def plan(self, path: str) -> FaultPlan:
        """Decide (and use up) the faults for one request to ``path``."""
        plan = FaultPlan(latency_s=self.latency_s + SLOW_PATHS.get(path, 0.0) * self.slow_s)
        if self._take(FaultKind.HANG, path):
            plan.hang = True
            return plan
        error = self._take(FaultKind.ERROR, path)
        if error is not None:
            plan.error_status = error.status
            return plan
        html = self._take(FaultKind.HTML, path)
        if html is not None:
            plan.html = "not-found" if html.not_found else "page"
        cut = self._take(FaultKind.TRUNCATE, path)
        if cut is not None:
            plan.truncate = cut.close_connection
        return plan

    def _take(self, kind: FaultKind, path: str) -> _Burst | None:
        burst = self._bursts.get(kind)
        if burst is None or (burst.path is not None and burst.path != path):
            return None
        if burst.remaining is not None:
            burst.remaining -= 1
            if burst.remaining <= 0:
                del self._bursts[kind]
        return burst


def _check(count: int | None) -> int | None:
    if count is not None and count < 1:
        raise ValueError("count must be at least 1 (or None for 'until cleared')")
    return count
