"""Counter faults: replies whose energy counters go wrong, as real gateways' counters do.

A *drop* makes every counter of a reply read zero (the next reply is right again); a *spike*
makes its lifetime counters jump (a Home Assistant user recorded 6.78 MWh from one). Each
spoils the next ``count`` replies (``None``: every one until cleared) of one path, or of any
path that carries counters (:data:`COUNTER_PATHS`). A reset that stays and a firmware update
that restarts the counters change the plant itself: see
:meth:`~enphase_local.simulator.gateway.SimulatedGateway.reset_counters` and
:meth:`~enphase_local.simulator.gateway.SimulatedGateway.update_firmware`.
"""

from __future__ import annotations

from typing import Final

import attrs

from enphase_local.simulator.physics import CounterGlitch, GlitchKind

#: The paths whose replies carry cumulative energy counters.
COUNTER_PATHS: Final = frozenset(
    {
        "/ivp/meters/readings",
        "/ivp/meters/reports",
        "/ivp/meters/reports/consumption",
        "/api/v1/production",
        "/ivp/pdm/energy",
        "/ivp/pdm/device_data",
        "/production.json",
        "/production",
    }
)


@attrs.define
class _Pending:
    glitch: CounterGlitch
    remaining: int | None
    path: str | None


class CounterFaults:
    """The counter glitches waiting for the replies they spoil, one per kind."""

    def __init__(self) -> None:
        self._pending: dict[GlitchKind, _Pending] = {}

    def __repr__(self) -> str:
        return f"CounterFaults(active={[kind.value for kind in self._pending]})"

    def glitch(
        self,
        kind: GlitchKind,
        *,
        count: int | None = 1,
        path: str | None = None,
        wh: float | None = None,
    ) -> None:
        """Spoil the next ``count`` replies of ``path`` (or of any counter path); ``wh`` is
        how far a spike jumps."""
        if count is not None and count < 1:
            raise ValueError("count must be at least 1 (or None for 'until cleared')")
        if path is not None and path not in COUNTER_PATHS:
            raise ValueError(f"{path} carries no counters (those that do: {sorted(COUNTER_PATHS)})")
        glitch = CounterGlitch(kind=kind) if wh is None else CounterGlitch(kind=kind, wh=wh)
        self._pending[kind] = _Pending(glitch, count, path)

    def take(self, path: str) -> CounterGlitch | None:
        """The glitch of a reply to ``path`` now (used up as it is taken), if any."""
        if path not in COUNTER_PATHS:
            return None
        for kind, pending in self._pending.items():
            if pending.path is None or pending.path == path:
                if pending.remaining is not None:
                    pending.remaining -= 1
                    if pending.remaining <= 0:
                        del self._pending[kind]
                return pending.glitch
        return None

    def clear(self) -> None:
        """Switch every counter glitch off."""
        self._pending.clear()

    def active(self) -> dict[str, object]:
        """A JSON-friendly description of the glitches waiting."""
        return {
            kind.value: {"remaining": p.remaining, "path": p.path, "wh": p.glitch.wh}
            for kind, p in self._pending.items()
        }
