"""Control writes: the grid relay, dry contacts, the generator, storage settings and AC
Battery sleep, each confirmed by reading back.

The session's ``set_*`` methods are the way in (made with ``allow_control=True``);
:mod:`~enphase_local.control.specs` declares each write, and
:mod:`~enphase_local.control.controller` runs them all the same way.
"""

from __future__ import annotations

from enphase_local.control.controller import Controller, ControlListener, describe
from enphase_local.control.result import (
    DEFAULT_MIN_INTERVAL_S,
    ControlPolicy,
    ControlResult,
    PreparedWrite,
    matches,
)
from enphase_local.control.specs import (
    CONTROLS,
    DRY_CONTACT_ALIASES,
    DRY_CONTACT_FIELDS,
    GENERATOR_MODES,
    STORAGE_MODES,
    ControlSpec,
)

__all__ = [
    "CONTROLS",
    "DEFAULT_MIN_INTERVAL_S",
    "DRY_CONTACT_ALIASES",
    "DRY_CONTACT_FIELDS",
    "GENERATOR_MODES",
    "STORAGE_MODES",
    "ControlListener",
    "ControlPolicy",
    "ControlResult",
    "ControlSpec",
    "Controller",
    "PreparedWrite",
    "describe",
    "matches",
]
