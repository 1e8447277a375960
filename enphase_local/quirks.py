"""Known firmware quirks of the gateway's bodies: one declared list, each with its evidence.

Each record names the endpoint (its session method), what the gateway does, what the library
makes of it, and the capture set under ``fixtures/gateways/`` that shows it (None where no
capture does: the quirk is reported by users and reproduced by the simulator). The test of
each quirk reads that capture (``tests/test_quirks.py``).
"""

from __future__ import annotations

from typing import Final

import attrs


@attrs.frozen(kw_only=True)
class Quirk:
    """One way a firmware's body differs from what a reader would expect."""

    #: Short stable name, e.g. ``ensemble-power-key``.
    id: str
    #: The session method of the endpoint, e.g. ``battery_power``.
    endpoint: str
    #: What the gateway does, and what the library makes of it.
    description: str
    #: The capture set that shows it; None when no capture does.
    capture: str | None


QUIRKS: Final[tuple[Quirk, ...]] = (
    Quirk(
        id="ensemble-power-key",
        endpoint="battery_power",
        description='The list key is literally "devices:" (with the colon); read as batteries.',
        capture="7.3.517",
    ),
    Quirk(
        id="ensemble-power-milliwatts",
        endpoint="battery_power",
        description="real_power_mw and apparent_power_mva are mW and mVA; given in W and VA.",
        capture="8.2.127_with_3cts_and_battery_split",
    ),
    Quirk(
        id="unknown-temperature",
        endpoint="inventory",
        description='After a reboot a battery\'s "temperature" is the text "unknown" until it '
        "reports; read as None.",
        capture=None,
    ),
    Quirk(
        id="controller-fahrenheit",
        endpoint="inventory",
        description="The System Controller (ENPOWER) sends its temperature in °F (batteries in "
        "°C); given in °C.",
        capture="8.2.127_with_3cts_and_battery_split",
    ),
    Quirk(
        id="total-consumption-is-net",
        endpoint="production_summary",
        description="total-consumption repeats net-consumption value for value (8.3.5433); "
        "both are kept as sent.",
        capture="8.3.5433_tot_is_net_cons",
    ),
    Quirk(
        id="production-json-missing-before-4",
        endpoint="production_summary",
        description='/production.json answers its HTML "Page Not Found" page with status 200 '
        "below firmware 4; production_summary reads the HTML page /production there.",
        capture="3.9.36",
    ),
    Quirk(
        id="production-page-rounded",
        endpoint="production_summary",
        description="The HTML page shows three significant figures in W, kW or MW (Wh, kWh, "
        "MWh); read as W and Wh, rounded as shown.",
        capture="3.7.0",
    ),
    Quirk(
        id="storage-entry-without-acb",
        endpoint="production_summary",
        description="Sites without AC Batteries still list an idle acb storage entry with "
        "zeros and readingTime 0; read_at is None.",
        capture="8.3.5169_with_generator",
    ),
    Quirk(
        id="device-data-cap",
        endpoint="device_data",
        description="At most deviceDataLimit (50) devices are listed while deviceCount counts "
        "them all; is_capped tells, and the inverters beyond are only in inverters().",
        capture=None,
    ),
    Quirk(
        id="removed-inverters",
        endpoint="device_data",
        description="Removed microinverters stay listed with modGone true, active false and "
        "empty lastReading and lifetime objects; removed is True, the readings None.",
        capture="8.3.5433_tot_is_net_cons",
    ),
    Quirk(
        id="ct-mod-gone",
        endpoint="device_data",
        description="The CT pairs (eim) report modGone true although present and reporting; "
        "DeviceData.inverters leaves them out by kind, not by that flag.",
        capture="8.3.5169_with_generator",
    ),
    Quirk(
        id="inventory-text-times",
        endpoint="device_inventory",
        description='Times are seconds as text ("1640461876"), "0" for never; read as UTC '
        "datetimes or None.",
        capture="8.3.5433_tot_is_net_cons",
    ),
    Quirk(
        id="generator-rating-kilowatts",
        endpoint="generator_config",
        description="name_plate_rating_wat holds kilowatts (10.0 for a 10 kW generator); "
        "rated_power_w is in watts.",
        capture="8.3.5169_with_generator",
    ),
    Quirk(
        id="dry-contact-text-booleans",
        endpoint="dry_contact_settings",
        description='override and manual_override are the texts "true" and "false"; read as '
        "booleans.",
        capture="7.3.517",
    ),
    Quirk(
        id="export-limit-pel-only",
        endpoint="export_limit",
        description='Before 8.3 the body is only {"PEL": false}; the other fields are None.',
        capture="8.2.4264_metered_noct",
    ),
    Quirk(
        id="status-counters-dropped",
        endpoint="ensemble_status",
        description="From 8.2.4264 the counters, profile and fakeit objects are gone; counters "
        "is empty.",
        capture="8.2.4264_metered_noct",
    ),
    Quirk(
        id="tariff-reserve-differs",
        endpoint="tariff",
        description="The schedule's reserved_soc can differ from storage_settings' (and both "
        "from secctrl's configured_backup_soc); both are kept as sent.",
        capture="8.3.5433_tot_is_net_cons",
    ),
)

#: The quirks by id.
BY_ID: Final = {quirk.id: quirk for quirk in QUIRKS}
