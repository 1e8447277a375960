"""``/ivp/meters/gridReading``: measurements at the point of grid connection."""

from __future__ import annotations

from attrs import frozen


@frozen(kw_only=True, slots=True)
class GridChannel:
    """The grid measurements of one phase."""

    #: Phase name, e.g. ``L1``.
    phase: str
    #: Active power in watts (W); negative while exporting (feed-in), positive while importing.
    active_power_w: float
    #: Reactive power in volt-amperes reactive (var).
    reactive_power_var: float
    #: RMS voltage in volts (V).
    voltage_v: float
    #: RMS current in amperes (A).
    current_a: float
    #: Grid frequency in hertz (Hz).
    frequency_hz: float


@frozen(kw_only=True, slots=True)
class GridReading:
    """One grid reading with its per-phase channels."""

    #: Per-phase measurements (L1, L2, L3), in the gateway's order.
    channels: tuple[GridChannel, ...] = ()
