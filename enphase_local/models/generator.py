"""Dry contacts and the generator: ``/ivp/ensemble/dry_contacts``, ``/ivp/ss/dry_contact_settings``,
``/ivp/ensemble/generator`` and ``/ivp/ss/gen_*``.
"""

from __future__ import annotations

from enum import StrEnum

from attrs import frozen

from enphase_local.models.ensemble import RelayState


class DryContactState(StrEnum):
    """Whether a dry contact is open or closed."""

    OPEN = "open"
    CLOSED = "closed"
    #: A state this library does not know.
    UNKNOWN = "unknown"


class DryContactType(StrEnum):
    """What a dry contact drives."""

    #: Not configured.
    NONE = "NONE"
    #: A load that can be shed.
    LOAD = "LOAD"
    #: Enphase PV.
    PV = "PV"
    #: Third-party PV.
    THIRD_PARTY_PV = "3RD-PV"
    #: A type this library does not know.
    UNKNOWN = "unknown"


class DryContactAction(StrEnum):
    """What a dry contact does in a situation (on grid, off grid, on generator)."""

    #: Keep the load connected.
    APPLY = "apply"
    #: Disconnect the load.
    SHED = "shed"
    #: Follow the schedule.
    SCHEDULE = "schedule"
    NONE = "none"
    #: An action this library does not know.
    UNKNOWN = "unknown"


class GeneratorCommand(StrEnum):
    """The generator command (``gen_cmd``)."""

    ON = "on"
    OFF = "off"
    AUTO = "auto"
    #: A command this library does not know.
    UNKNOWN = "unknown"


@frozen(kw_only=True, slots=True)
class DryContact:
    """The state of one dry contact."""

    #: Contact id, e.g. ``NC1`` (normally closed 1) or ``NO1`` (normally open 1).
    id: str
    #: Whether it is open or closed; after a settings change all may read open for 5-90 s.
    state: DryContactState = DryContactState.UNKNOWN


@frozen(kw_only=True, slots=True)
class DryContacts:
    """``/ivp/ensemble/dry_contacts``: each contact's state."""

    #: The contacts, in the gateway's order.
    contacts: tuple[DryContact, ...] = ()


@frozen(kw_only=True, slots=True)
class DryContactSetting:
    """The configuration of one dry contact."""

    #: Contact id, e.g. ``NC1``.
    id: str
    #: What the contact drives.
    type: DryContactType | None = None
    #: Name of the load, as entered by the installer.
    load_name: str | None = None
    #: Control mode, e.g. ``manual``.
    mode: str | None = None
    #: What it does on grid.
    grid_action: DryContactAction | None = None
    #: What it does off grid (on batteries).
    micro_grid_action: DryContactAction | None = None
    #: What it does while the generator runs.
    generator_action: DryContactAction | None = None
    #: What it does in the safe state.
    safe_state_action: DryContactAction | None = None
    #: Charge below which the load is shed, in percent (%).
    charge_low_percent: float | None = None
    #: Charge above which the load is restored, in percent (%).
    charge_high_percent: float | None = None
    #: Start of the essential period, seconds after local midnight.
    essential_start_s: float | None = None
    #: End of the essential period, seconds after local midnight.
    essential_end_s: float | None = None
    #: Priority among the contacts (1 first).
    priority: float | None = None
    #: Black start setting (``black_s_start``), as sent.
    black_start: float | None = None
    #: Black start retries.
    black_start_retries: float | None = None
    #: Action retries.
    action_retries: float | None = None
    #: Whether the contact is overridden (sent as the text ``"true"``/``"false"``).
    override: bool | None = None
    #: Whether it is overridden by hand (sent as text).
    manual_override: bool | None = None
    #: Serial numbers of the PV it switches.
    pv_serial_numbers: tuple[str, ...] = ()
    #: Phases of the PV it switches.
    pv_phases: tuple[str, ...] = ()


@frozen(kw_only=True, slots=True)
class DryContactSettings:
    """``/ivp/ss/dry_contact_settings``; a write must send the whole object back."""

    #: The contacts, in the gateway's order.
    contacts: tuple[DryContactSetting, ...] = ()


@frozen(kw_only=True, slots=True)
class Generator:
    """``/ivp/ensemble/generator``: the generator relay and its start and stop levels."""

    #: Whether a generator is configured (``present``).
    present: bool | None = None
    #: Generator relay as commanded (``unknown`` without a generator).
    admin_state: RelayState | None = None
    #: Generator relay as it actually is.
    state: RelayState | None = None
    #: Administrative mode number.
    admin_mode: int | None = None
    #: Schedule number (0: none).
    schedule: int | None = None
    #: Battery charge at which the generator starts, in percent (%).
    start_percent: float | None = None
    #: Battery charge at which the generator stops, in percent (%; -1: none).
    stop_percent: float | None = None
    #: Whether an exercise run is on (``exc_on``).
    exercising: bool | None = None
    #: Generator type number.
    type: int | None = None


@frozen(kw_only=True, slots=True)
class GeneratorConfig:
    """``/ivp/ss/gen_config``: nameplate and start settings (empty without a generator)."""

    #: Manufacturer.
    manufacturer: str | None = None
    #: Model.
    model: str | None = None
    #: Generator id.
    generator_id: str | None = None
    #: Kind, e.g. ``Standby``.
    generator_type: str | None = None
    #: Rated power in watts (W); sent in kW although the key says watts.
    rated_power_w: float | None = None
    #: Greatest continuous current in amperes (A).
    max_continuous_current_a: float | None = None
    #: Least load, in percent (%) of the rating.
    min_loading_percent: float | None = None
    #: Greatest efficiency in percent (%).
    max_efficiency_percent: float | None = None
    #: How it is started, e.g. ``auto``.
    start_method: str | None = None
    #: Warm-up time in minutes.
    warm_up_min: float | None = None
    #: Cool-down time in minutes.
    cool_down_min: float | None = None
    #: Whether the generator charges the batteries.
    charge_from_generator: bool | None = None
    #: Who changed the settings last, e.g. ``ITK`` (the installer toolkit).
    last_updated_by: str | None = None


@frozen(kw_only=True, slots=True)
class ExerciseRun:
    """When the generator runs to stay in shape."""

    #: Every how many weeks.
    every_weeks: int | None = None
    #: Day of the week, e.g. ``Sat``.
    day: str | None = None
    #: Start, minutes after local midnight.
    start_min: float | None = None
    #: Duration in minutes.
    duration_min: float | None = None


@frozen(kw_only=True, slots=True)
class GeneratorPeriod:
    """One period of a generator schedule day."""

    #: Period id, e.g. ``normal_1``.
    id: str | None = None
    #: Start, minutes after local midnight.
    start_min: float | None = None
    #: Duration in minutes.
    duration_min: float | None = None
    #: Battery charge at which the generator starts, in percent (%).
    start_percent: float | None = None
    #: Battery charge at which it stops, in percent (%; -1: none).
    stop_percent: float | None = None
    #: Setting code, e.g. ``AON``.
    setting: str | None = None


@frozen(kw_only=True, slots=True)
class GeneratorDay:
    """The periods of a set of weekdays."""

    #: Day set id, e.g. ``all_days``.
    id: str | None = None
    #: The weekdays, e.g. ``("Mon", "Tue")`` (sent as one comma-separated text).
    week_days: tuple[str, ...] = ()
    #: Its periods.
    periods: tuple[GeneratorPeriod, ...] = ()


@frozen(kw_only=True, slots=True)
class GeneratorSeason:
    """A date range of the generator schedule."""

    #: Season id, e.g. ``always_on``.
    id: str | None = None
    #: First day, ``month/day``.
    start: str | None = None
    #: Last day, ``month/day``.
    end: str | None = None
    #: Its days.
    days: tuple[GeneratorDay, ...] = ()


@frozen(kw_only=True, slots=True)
class GeneratorSchedule:
    """``/ivp/ss/gen_schedule``: exercise runs and start levels (empty without a generator)."""

    #: The exercise run.
    exercise: ExerciseRun | None = None
    #: Battery charge at which the generator starts by default, in percent (%).
    default_start_percent: float | None = None
    #: Battery charge at which it stops by default, in percent (%).
    default_stop_percent: float | None = None
    #: The schedule's seasons.
    seasons: tuple[GeneratorSeason, ...] = ()
    #: Who changed the schedule last.
    last_updated_by: str | None = None


@frozen(kw_only=True, slots=True)
class GeneratorMode:
    """``/ivp/ss/gen_mode``: the generator command."""

    #: The command in force.
    command: GeneratorCommand | None = None
    #: Who gave it.
    last_updated_by: str | None = None
