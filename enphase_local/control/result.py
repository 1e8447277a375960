"""What a control write is made of and what comes back: the policy, the prepared request,
the result."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

import attrs

#: Seconds between two writes to one gateway, at least (see :class:`ControlPolicy`).
DEFAULT_MIN_INTERVAL_S: Final = 5.0
#: How long (seconds) real gateways read every dry contact open after a settings change.
DRY_CONTACT_SETTLE_S: Final = 90.0


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    del instance
    if not value >= 0:  # also refuses NaN
        raise ValueError(f"{attribute.name} must be 0 or more, not {value}")


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    del instance
    if not value > 0:
        raise ValueError(f"{attribute.name} must be positive, not {value}")


@attrs.frozen(kw_only=True)
class ControlPolicy:
    """How politely and how patiently a session writes.

    The defaults: one write every 5 s at most per gateway; the state read back every 2 s;
    30 s for most writes to show, 120 s for the grid relay (its actual state follows the
    command once the System Controller has switched, or synchronised to the grid) and the
    dry contacts (after a settings change real gateways read every contact open for 5-90 s).
    Within 90 s of a settings change made by this session, every contact reading open does
    not confirm a contact opened: reading back goes on until one reads closed or the 90 s
    are over.
    """

    #: Seconds between two writes to the gateway, at least (a fragile device; the wait
    #: starts when the previous write was sent).
    min_interval_s: float = attrs.field(default=DEFAULT_MIN_INTERVAL_S, validator=_non_negative)
    #: Seconds between two reads of the state after a write.
    poll_interval_s: float = attrs.field(default=2.0, validator=_positive)
    #: Seconds a write may take to show in what the gateway reads back.
    wait_s: float = attrs.field(default=30.0, validator=_non_negative)
    #: The same, for the grid relay and the dry contacts.
    slow_wait_s: float = attrs.field(default=120.0, validator=_non_negative)
    #: Seconds after a dry contact settings change during which every contact reading open
    #: proves nothing (real gateways: 5-90 s).
    settle_s: float = attrs.field(default=DRY_CONTACT_SETTLE_S, validator=_non_negative)


@attrs.frozen(kw_only=True)
class PreparedWrite:
    """The exact request a control write sends, built from what the gateway reads now.

    ``headers`` are those the library sets, with the token and session cookie masked.
    """

    #: The session method, e.g. ``set_reserve``.
    control: str
    #: ``POST``, ``PUT`` or ``DELETE``.
    method: str
    #: The path, e.g. ``/admin/lib/tariff``.
    path: str
    #: The whole URL.
    url: str
    #: The request headers, secrets masked.
    headers: Mapping[str, str] = attrs.field(hash=False)
    #: The JSON body.
    body: Mapping[str, Any] = attrs.field(hash=False)
    #: What the write should show when read back (names as in the models).
    requested: Mapping[str, Any] = attrs.field(hash=False)
    #: The same values as read before the write.
    before: Mapping[str, Any] = attrs.field(hash=False)

    @property
    def body_bytes(self) -> bytes:
        """The body exactly as sent."""
        return json.dumps(self.body).encode()


@attrs.frozen(kw_only=True)
class ControlResult:
    """What a control write asked for and what the gateway showed afterwards."""

    #: The session method, e.g. ``set_reserve``.
    control: str
    #: What the write should show when read back, e.g. ``{"reserve_percent": 30.0}``.
    requested: Mapping[str, Any] = attrs.field(hash=False)
    #: What the last read back showed (the same keys; empty when nothing could be read).
    observed: Mapping[str, Any] = attrs.field(hash=False)
    #: Whether ``observed`` matches ``requested``.
    applied: bool
    #: Seconds from sending the write to reading the new state; None when not applied.
    seconds_to_apply: float | None = None
    #: Times the write was sent: 1, or 2 when reading back proved the first never arrived.
    writes: int = 1


def matches(observed: Mapping[str, Any], requested: Mapping[str, Any]) -> bool:
    """Whether every requested value shows in ``observed`` (numbers to 0.01)."""
    return all(same(observed.get(key), value) for key, value in requested.items())


def same(a: object, b: object) -> bool:
    """Equal, numbers to 0.01 (gateways send 30 back as 30.0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, abs_tol=0.01)
    return a == b
