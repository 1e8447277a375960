"""How bodies differ between firmware releases: one declared list, each with the captures.

A body generator asks ``has(profile, Change.X)`` instead of comparing versions itself, so
every firmware difference the simulator reproduces is written down once, next to the capture
sets (under ``$ENPHASE_FIXTURES``) that show it.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from enphase_local.simulator.profiles import Profile


@attrs.frozen
class Since:
    """Firmware from which (and, with ``until``, before which) a gateway does something."""

    #: First firmware that does it.
    first: tuple[int, ...]
    #: The captures that show it.
    shown_by: str
    #: First firmware that no longer does it (None: all later ones do).
    until: tuple[int, ...] | None = None


class Change(enum.Enum):
    """Differences between releases in the bodies the simulator serves."""

    #: ``/ivp/ensemble/*``, ``/ivp/ss/*``, ``/ivp/sc/pvlimit``, tariff schedules exist.
    ENSEMBLE = Since((7,), "5.0.62 answers 404; 7.3.466 serves them")
    #: ``/ivp/ss/*`` and ``/ivp/sc/*`` answer ``{"err": ...}`` rather than ``{"error": ...}``.
    SS_ERR_404 = Since((5,), "3.9.36_bad_auth uses error; 5.0.62 uses err")
    #: ``/admin/lib/tariff`` answers an owner (3.9 wants an installer, 3.7 is not known).
    TARIFF = Since((5,), "3.9.36_bad_auth answers the installer 401; 5.0.62 serves it")
    #: Tariff ``storage_settings`` and the battery schedule beside the tariff.
    TARIFF_STORAGE = Since((7,), "5.0.62 lacks them; 7.3.130 has them")
    #: Tariff ``peak_rule``, schedule ``filename`` and ``batt_mode``.
    TARIFF_PEAK_RULE = Since((8,), "7.6.175 lacks them; 8.2.127 has them")
    #: Tariff ``opt_schedules``.
    TARIFF_OPT_SCHEDULES = Since((8, 2, 4264), "8.2.127 lacks it; 8.2.4264 has it")
    #: Tariff without a Content-Type header.
    TARIFF_NO_CONTENT_TYPE = Since((8, 3), "8.2.127 logs application/json; 8.3.5169 none")
    #: secctrl ``VLS_Limit``, ``soc_rec*``, ``Commission_in_progress``, ``ESS_in_progress``.
    SECCTRL_SOC_RECOVERY = Since((8,), "7.6.175_with_cts lacks them; 8.2.127 has them")
    #: secctrl ``offgrid_secctrl``.
    SECCTRL_OFFGRID = Since((8, 3), "8.2.4382 lacks it; 8.3.5167 has it")
    #: secctrl ``ESS_R3_To_R4_in_progress`` and ``offgrid_secctrl.seq_reset_needed``.
    SECCTRL_R3_TO_R4 = Since((8, 3, 5433), "8.3.5169 lacks them; 8.3.5433 has them")
    #: ``/ivp/ensemble/status`` ``counters``, ``profile`` and ``fakeit``.
    STATUS_COUNTERS = Since((7,), "8.2.127 has them; 8.2.4264 drops them", until=(8, 2, 4264))
    #: ``com_interface_str`` and ``device_id`` of each ``serial_nums`` entry.
    STATUS_DEVICE_ID = Since((8, 3), "8.2.127 lacks them; 8.3.5169 has them")
    #: Relay ``srt12_state``, ``srt13_state`` and ``der3_state``.
    RELAY_SRT = Since((8, 2, 4264), "8.2.127 lacks them; 8.2.4264 has them")
    #: Dry contact ``essential_*``, ``priority``, ``black_s_start``, ``manual_override``
    #: without a System Controller (with one, every firmware from 7.3.517 has them).
    DRY_CONTACT_SCHEDULE = Since((8, 3), "8.2.4264 lacks them; 8.3.5433 (no controller) has them")
    #: Dry contact ``safe_state_action``, ``*_retries`` and ``pv_phase_select``.
    DRY_CONTACT_RETRIES = Since((8, 3, 5433), "8.3.5169 sends none; 8.3.5433 does")
    #: The whole export-limit object instead of ``{"PEL": false}``.
    PEL_FULL = Since((8, 3), "8.2.4264 sends PEL only; 8.3.5169 the whole object")
    #: ``/ivp/pdm/device_data`` and ``/ivp/meters/pvReading``.
    DEVICE_DATA = Since((8,), "every capture that holds them is 8.3; 7.x sets lack them")
    #: ``/production`` is the JSON of ``/production.json``, not an HTML page.
    PRODUCTION_JSON_PAGE = Since((7,), "5.0.62 guards the HTML page with digest; 7.3.130 JSON")
    #: ``/api/v1/production`` and ``/production.json`` exist.
    API_PRODUCTION = Since((3, 9), "3.7.0 has only /production; 3.9.36 serves api/v1")
    #: ``/production`` needs digest auth.
    PRODUCTION_PAGE_DIGEST = Since((5,), "3.9.36 serves it openly; 5.0.62 answers 401")
    #: ``<imeter>`` in ``/info``.
    INFO_IMETER = Since((4,), "3.9.36 lacks it; 4.2.27 has it")


def parse_version(software: str) -> tuple[int, ...]:
    """Version numbers of a ``<software>`` string without its letter prefix (``D8.2.4345``)."""
    return tuple(int(part) for part in software.lstrip("DRM").split("."))


def shows(version: tuple[int, ...], change: Change) -> bool:
    """Whether firmware ``version`` shows ``change``."""
    since: Since = change.value
    return version >= since.first and (since.until is None or version < since.until)


def has(profile: Profile, change: Change) -> bool:
    """Whether this profile's firmware shows ``change``."""
    return shows(profile.firmware_version, change)
