"""``/ivp/meters/gridReading`` and ``/ivp/meters/pvReading``: per-phase measurements at the grid
connection point and on the PV side."""

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


@frozen(kw_only=True, slots=True)
class PvChannel:
    """The PV-side measurements of one phase."""

    #: Phase name, e.g. ``L1``.
    phase: str
    #: Active power in watts (W).
    active_power_w: float
    #: RMS voltage in volts (V).
    voltage_v: float
    #: RMS current in amperes (A).
    current_a: float
    #: Frequency in hertz (Hz).
    frequency_hz: float


@frozen(kw_only=True, slots=True)
class PvReading:
    """One PV reading (``/ivp/meters/pvReading``) with its per-phase channels."""

    #: Per-phase measurements (L1, L2, L3), in the gateway's order.
    channels: tuple[PvChannel, ...] = ()
