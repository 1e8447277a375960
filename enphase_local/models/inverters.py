"""``/api/v1/production/inverters``: the last report of each microinverter."""

from __future__ import annotations

from datetime import datetime

from attrs import frozen


@frozen(kw_only=True, slots=True)
class Inverter:
    """The last report of one microinverter (each reports about every 5 minutes)."""

    #: Microinverter serial number.
    serial_number: str
    #: When the microinverter last reported, UTC.
    last_report_at: datetime
    #: Active power of the last report in watts (W).
    last_report_w: float
    #: Highest power this microinverter ever reported, in watts (W).
    max_report_w: float
    #: Device type number (``devType``); None when the firmware omits it (e.g. 3.9).
    device_type: int | None = None
