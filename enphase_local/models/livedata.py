"""``/ivp/livedata/status``: live power flows, valid while the live stream is on."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from attrs import field, frozen


class LiveStreamState(StrEnum):
    """Whether the gateway streams live data (``sc_stream``); it lapses after ~15 minutes."""

    ENABLED = "enabled"
    DISABLED = "disabled"
    #: A state this library does not know, or none was sent.
    UNKNOWN = "unknown"


@frozen(kw_only=True, slots=True)
class LiveConnection:
    """State of the gateway's live-data machinery (``connection``)."""

    #: State of the MQTT client, e.g. ``connected``; None when absent.
    mqtt_state: str | None = None
    #: Provisioning state, e.g. ``configured``; None when absent.
    provisioning_state: str | None = None
    #: Authentication state, e.g. ``ok``; None when absent.
    auth_state: str | None = None
    #: Whether live data is streamed (``sc_stream``); while disabled the values go stale.
    stream_state: LiveStreamState = LiveStreamState.UNKNOWN
    #: Whether the debug stream is on (``sc_debug``).
    debug_stream_state: LiveStreamState = LiveStreamState.UNKNOWN


@frozen(kw_only=True, slots=True)
class LivePower:
    """Power at one point of the installation (sent in milli-units, given here in W and VA).

    Older firmware sends only the aggregates; the per-phase values are then None.
    """

    #: Active power, all phases, in watts (W); storage is negative while charging and
    #: grid negative while exporting.
    active_power_w: float
    #: Apparent power, all phases, in volt-amperes (VA).
    apparent_power_va: float
    #: Active power of phase A in watts (W).
    active_power_a_w: float | None = None
    #: Active power of phase B in watts (W).
    active_power_b_w: float | None = None
    #: Active power of phase C in watts (W).
    active_power_c_w: float | None = None
    #: Apparent power of phase A in volt-amperes (VA).
    apparent_power_a_va: float | None = None
    #: Apparent power of phase B in volt-amperes (VA).
    apparent_power_b_va: float | None = None
    #: Apparent power of phase C in volt-amperes (VA).
    apparent_power_c_va: float | None = None


@frozen(kw_only=True, slots=True)
class LiveMeters:
    """Live meter values (``meters``)."""

    #: When the gateway last collected data from its meters, UTC.
    last_update_at: datetime
    #: State of charge of the storage, in percent (%).
    soc_pct: float | None = None
    #: State of the main relay, as numbered by the gateway.
    main_relay_state: int | None = None
    #: State of the generator relay, as numbered by the gateway.
    generator_relay_state: int | None = None
    #: Backup battery mode, as numbered by the gateway.
    backup_battery_mode: int | None = None
    #: State of charge kept in reserve for backup, in percent (%).
    backup_soc_pct: float | None = None
    #: Whether the grid is split-phase; None when not sent (older firmware).
    is_split_phase: bool | None = None
    #: Number of connected phases; None when not sent (older firmware).
    phase_count: int | None = None
    #: Aggregate state of charge of the IQ Batteries (Encharge), in percent (%).
    encharge_soc_pct: float | None = None
    #: Aggregate stored energy of the IQ Batteries (Encharge), in watt-hours (Wh).
    encharge_energy_wh: float | None = None
    #: Aggregate state of charge of the AC Batteries, in percent (%).
    acb_soc_pct: float | None = None
    #: Aggregate stored energy of the AC Batteries, in watt-hours (Wh).
    acb_energy_wh: float | None = None
    #: Photovoltaic production.
    pv: LivePower | None = None
    #: Battery storage (negative while charging).
    storage: LivePower | None = None
    #: Grid exchange (negative while exporting).
    grid: LivePower | None = None
    #: House load.
    load: LivePower | None = None
    #: Generator.
    generator: LivePower | None = None


@frozen(kw_only=True, slots=True)
class LiveTasks:
    """The most recent task the gateway processed (``tasks``)."""

    #: Id of the most recent task.
    task_id: int
    #: When the most recent task was processed, UTC.
    last_task_at: datetime


@frozen(kw_only=True, slots=True)
class LiveData:
    """A snapshot of the live-data status."""

    #: State of the live-data stream and its connections.
    connection: LiveConnection
    #: The live meter values; stale while ``connection.stream_state`` is not ENABLED.
    meters: LiveMeters
    #: The most recent task; None when absent.
    tasks: LiveTasks | None = None
    #: Diagnostic event counters by name (counts); not part of the hash.
    counters: Mapping[str, int] = field(factory=dict, hash=False)

    @property
    def stream_enabled(self) -> bool:
        """Whether the gateway says the live stream is on, i.e. the values are fresh."""
        return self.connection.stream_state is LiveStreamState.ENABLED
