"""``/api/v1/production``: production power and energy counters."""

from __future__ import annotations

from attrs import frozen


@frozen(kw_only=True, slots=True)
class Production:
    """Present power and energy totals of one source (also used for ``/ivp/pdm/energy``)."""

    #: Present active power in watts (W).
    power_w: float
    #: Energy since local midnight in watt-hours (Wh); may reset late or to a non-zero value.
    energy_today_wh: float
    #: Energy over the last seven days in watt-hours (Wh).
    energy_seven_days_wh: float
    #: Energy since installation in watt-hours (Wh); some gateways let it wrap.
    energy_lifetime_wh: float
