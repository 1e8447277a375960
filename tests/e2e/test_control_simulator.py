"""Control writes through the library against the simulator over real HTTPS: every write,
the hardware checks, and each failure users meet (an ignored tariff write, the cloud undoing
a write, dry contacts reading open after a settings change, a 500 on a partial body).

The simulated clock runs 20 times as fast as real time, so that the relay's 3 s and 30 s and
the faults' delays pass while the library reads back (it waits in real seconds).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from enphase_local import (
    ControlNotAllowedError,
    ControlNotAppliedError,
    ControlPolicy,
    ControlRejectedError,
    ControlResult,
    ControlRevertedEvent,
    ControlValidationError,
    DataEvent,
    EndpointForbiddenError,
    Event,
    GatewaySession,
    NotSupportedError,
    Poller,
    PollPlan,
)
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.pytest_plugin import SimulationFactory

NIGHT = dt.datetime(2025, 6, 21, 22, tzinfo=dt.UTC)
SPEED = 20.0
#: Quick read-backs; waits long enough for the simulated delays at SPEED.
POLICY = ControlPolicy(
    min_interval_s=0.2, poll_interval_s=0.05, wait_s=10.0, slow_wait_s=20.0, settle_s=3.0
)
TARIFF = "/admin/lib/tariff"
RELAY = "/ivp/ensemble/relay"
CONTACTS = "/ivp/ensemble/dry_contacts"
SETTINGS = "/ivp/ss/dry_contact_settings"


async def simulated(factory: SimulationFactory, profile: str) -> SimulatedGateway:
    simulation = await factory(profile=profile, speed=SPEED, start_time=NIGHT, cloud=False)
    gateway = simulation.gateways[0]
    gateway.faults.set_slow(0.0)
    return gateway


def session_for(gateway: SimulatedGateway, **options: Any) -> GatewaySession:
    return GatewaySession(
        gateway.url,
        token=gateway.token,
        fingerprint=gateway.fingerprint,
        allow_control=options.pop("allow_control", True),
        control_policy=options.pop("control_policy", POLICY),
        **options,
    )


def writes_seen(gateway: SimulatedGateway) -> list[tuple[str, str]]:
    """Every request other than a GET the gateway received: (method, path)."""
    return [(r.method, r.path) for r in gateway.stats.log if r.method != "GET"]


class OnSend:
    """A control listener that does something just before the write goes out."""

    def __init__(self, action: Any) -> None:
        self.action = action

    def control_started(self, control: str) -> None:
        self.action()

    def control_finished(self, control: str, result: Any, model: Any) -> None:
        pass


@pytest.fixture
async def battery(enphase_simulation_factory: SimulationFactory) -> SimulatedGateway:
    return await simulated(enphase_simulation_factory, "battery")


@pytest.fixture
async def client(battery: SimulatedGateway) -> AsyncIterator[GatewaySession]:
    async with session_for(battery) as session:
        yield session


# --- nothing without allow_control ------------------------------------------------------------


async def test_without_allow_control_no_write_reaches_the_gateway(
    battery: SimulatedGateway,
) -> None:
    async with session_for(battery, allow_control=False) as session:
        await session.info()
        for control, arguments in (
            ("set_grid_relay", {"connected": False}),
            ("set_dry_contact", {"contact_id": "NC1", "closed": False}),
            ("set_reserve", {"percent": 90}),
            ("set_storage_mode", {"mode": "backup"}),
        ):
            with pytest.raises(ControlNotAllowedError):
                await session.control(control, **arguments)
    assert writes_seen(battery) == []
    assert sum(battery.stats.writes.values()) == 0


# --- each write ------------------------------------------------------------------------------


async def test_off_grid_and_back_waits_for_the_relay(
    battery: SimulatedGateway, client: GatewaySession
) -> None:
    off = await client.set_grid_relay(connected=False)
    assert off.applied
    assert off.observed == {"mains_admin_state": "open", "mains_oper_state": "open"}
    relay = await client.grid_relay()
    assert relay.mains_oper_state is not None
    assert relay.mains_oper_state.value == "open"

    on = await client.set_grid_relay(connected=True)  # 30 simulated seconds of synchronising
    assert on.applied
    assert on.seconds_to_apply is not None
    assert on.seconds_to_apply > 0.5
    assert battery.stats.writes[RELAY] == 2
    assert battery.stats.bad_writes[RELAY] == 0


async def test_storage_mode_reserve_and_charge_from_grid_show_in_every_read(
    battery: SimulatedGateway, client: GatewaySession
) -> None:
    mode = await client.set_storage_mode("savings")
    reserve = await client.set_reserve(percent=35)
    charge = await client.set_charge_from_grid(True)
    assert [r.observed for r in (mode, reserve, charge)] == [
        {"mode": "savings"},
        {"reserve_percent": 35.0},
        {"charge_from_grid": True},
    ]
    tariff = await client.tariff()
    assert tariff.storage is not None
    assert tariff.storage.reserve_percent == 35
    summary = await client.battery_summary()
    assert summary.configured_backup_percent == 35
    assert battery.stats.writes[TARIFF] == 3
    assert battery.stats.bad_writes[TARIFF] == 0


async def test_a_dry_contact_and_its_settings(
    battery: SimulatedGateway, client: GatewaySession
) -> None:
    opened = await client.set_dry_contact("NC1", closed=False)
    assert opened.observed == {"NC1": "open"}
    changed = await client.update_dry_contact_settings(
        "nc1", soc_low_percent=20, load_name="Pool pump", grid_action="shed"
    )
    assert changed.applied
    assert battery.device.contacts.entries["NC1"]["soc_low"] == 20  # type: ignore[attr-defined]
    settings = await client.dry_contact_settings()
    nc1 = next(s for s in settings.contacts if s.id == "NC1")
    assert (nc1.charge_low_percent, nc1.load_name) == (20, "Pool pump")
    with pytest.raises(ControlValidationError, match=r"it has NC1, NC2, NO1, NO2"):
        await client.set_dry_contact("NC7", closed=True)
    assert battery.stats.bad_writes[SETTINGS] == 0
    assert battery.stats.writes == {CONTACTS: 1, SETTINGS: 1}


async def test_the_generator_mode(enphase_simulation_factory: SimulationFactory) -> None:
    gateway = await simulated(enphase_simulation_factory, "generator")
    async with session_for(gateway) as session:
        result = await session.set_generator_mode("on")
        assert result.observed == {"command": "on"}
        assert (await session.set_generator_mode("auto")).applied


async def test_ac_battery_sleep_and_wake(enphase_simulation_factory: SimulationFactory) -> None:
    gateway = await simulated(enphase_simulation_factory, "acb")
    async with session_for(gateway) as session:
        inventory = await session.device_inventory()
        serial = inventory.ac_batteries[0].serial_number
        asleep = await session.set_acb_sleep(serial, min_percent=25, max_percent=30)
        assert asleep.applied
        listed = await session.device_inventory()
        acb = next(a for a in listed.ac_batteries if a.serial_number == serial)
        assert (acb.sleep_enabled, acb.sleep_min_percent, acb.sleep_max_percent) == (True, 25, 30)
        awake = await session.wake_acb(serial)
        assert awake.observed == {"serial_number": serial, "sleep": False}
        assert (await session.acb_config()).sleep == ()
    assert writes_seen(gateway) == [
        ("PUT", "/admin/lib/acb_config"),
        ("DELETE", "/admin/lib/acb_config"),
    ]


@pytest.mark.parametrize(
    ("profile", "control", "arguments", "message"),
    [
        ("metered", "set_grid_relay", {"connected": False}, "no IQ System Controller or"),
        ("collar", "set_dry_contact", {"contact_id": "NC1", "closed": True}, "System Controller"),
        ("battery", "set_generator_mode", {"mode": "on"}, "no generator"),
        ("metered", "set_reserve", {"percent": 50}, "no IQ Battery"),
        ("battery", "wake_acb", {"serial": "121900000001"}, "no AC Battery"),
    ],
)
async def test_missing_hardware_is_refused_before_anything_is_written(
    enphase_simulation_factory: SimulationFactory,
    profile: str,
    control: str,
    arguments: dict[str, Any],
    message: str,
) -> None:
    gateway = await simulated(enphase_simulation_factory, profile)
    async with session_for(gateway) as session:
        with pytest.raises(NotSupportedError, match=message):
            await session.control(control, **arguments)
    assert writes_seen(gateway) == []


# --- the failures users meet -------------------------------------------------------------------


async def test_an_ignored_tariff_write_is_not_applied(
    battery: SimulatedGateway, client: GatewaySession
) -> None:
    battery.control_faults.ignore_writes()
    with pytest.raises(ControlNotAppliedError, match="still shows mode=self-consumption") as err:
        await client.set_storage_mode("backup", wait_s=1.0)
    result = err.value.result
    assert (result.applied, result.writes) == (False, 1)
    assert result.observed == {"mode": "self-consumption"}
    assert battery.control_faults.served["ignore_writes"] == 1
    assert writes_seen(battery) == [("PUT", TARIFF)]  # answered 200: never sent again


async def test_dry_contacts_reading_open_after_a_settings_change_are_waited_out(
    battery: SimulatedGateway, client: GatewaySession
) -> None:
    battery.control_faults.set_dry_contact_settle(40)  # two real seconds
    await client.update_dry_contact_settings("NC2", priority=5)
    result = await client.set_dry_contact("NC1", closed=True)
    assert result.applied
    assert result.seconds_to_apply is not None
    assert result.seconds_to_apply > 0.5  # it read open meanwhile
    assert battery.control_faults.served["dry_contact_settle"] == 1


async def test_dry_contacts_that_never_settle_within_the_wait_are_not_applied(
    battery: SimulatedGateway, client: GatewaySession
) -> None:
    battery.control_faults.set_dry_contact_settle(36000)
    await client.update_dry_contact_settings("NC2", priority=5)
    with pytest.raises(ControlNotAppliedError) as err:
        await client.set_dry_contact("NC1", closed=True, wait_s=1.0)
    assert err.value.result.observed == {"NC1": "open"}
    assert writes_seen(battery).count(("POST", CONTACTS)) == 1


async def test_a_500_on_a_partial_body_is_a_clear_error_and_not_sent_again(
    battery: SimulatedGateway, client: GatewaySession
) -> None:
    # The firmware starts expecting a key the body (read a moment before) does not have:
    # the body is partial, as real gateways that crashed on one saw it.
    entries = battery.device.contacts.entries  # type: ignore[attr-defined]

    client.add_control_listener(OnSend(lambda: entries["NC1"].update(new_firmware_key=1)))
    with pytest.raises(ControlRejectedError, match=r"HTTP 500 \(.*new_firmware_key") as err:
        await client.update_dry_contact_settings("NC1", priority=3)
    assert err.value.status == 500
    assert battery.stats.bad_writes[SETTINGS] == 1
    assert writes_seen(battery) == [("POST", SETTINGS)]


async def test_a_write_lost_before_it_arrived_is_sent_once_more(
    battery: SimulatedGateway, client: GatewaySession
) -> None:
    # openresty answers 504 without the back end seeing the write.
    client.add_control_listener(OnSend(lambda: battery.faults.fail(1, status=504, path=TARIFF)))
    result = await client.set_reserve(percent=45)
    assert (result.applied, result.writes) == (True, 2)
    assert battery.stats.faults_served["error"] == 1
    assert battery.stats.writes[TARIFF] == 1


async def test_a_write_whose_answer_was_cut_off_is_not_sent_again(
    battery: SimulatedGateway, client: GatewaySession
) -> None:
    # The gateway applies the write, then the connection drops in the middle of its answer.
    client.add_control_listener(OnSend(lambda: battery.faults.truncate(1, path=TARIFF)))
    result = await client.set_reserve(percent=55)
    assert (result.applied, result.writes) == (True, 1)
    assert battery.stats.faults_served["cut"] == 1
    assert writes_seen(battery) == [("PUT", TARIFF)]


async def test_a_write_only_an_installer_may_make_is_refused_clearly(
    battery: SimulatedGateway, client: GatewaySession
) -> None:
    # Reads pass; the write path turns installer-only just before the write goes out.
    client.add_control_listener(OnSend(lambda: battery.installer_only.add(TARIFF)))
    with pytest.raises(EndpointForbiddenError, match="refuses this endpoint"):
        await client.set_storage_mode("backup")
    assert battery.stats.writes[TARIFF] == 0
    battery.installer_only.clear()
    assert (await client.tariff()).storage.mode.value == "self-consumption"  # type: ignore[union-attr]


async def test_a_cloud_overwrite_is_a_revert_event_from_the_poller(
    battery: SimulatedGateway,
) -> None:
    battery.control_faults.set_cloud_overwrite(60)  # three real seconds after the write
    plan = PollPlan(
        live={"meter_readings": 5.0},
        periodic=(),
        config=(),
        fallback={},
        control_watch_s=30.0,
        control_watch_interval_s=1.0,
    )
    session = session_for(battery)
    events: list[Event] = []
    reverted = asyncio.Event()

    def collect(event: Event) -> None:
        events.append(event)
        if isinstance(event, ControlRevertedEvent):
            reverted.set()

    async with session, Poller([session], plan=plan, buffer_size=0) as poller:
        poller.subscribe(collect, name="list")
        host = battery.url.split("//")[1]
        result: ControlResult = await poller.control(host, "set_reserve", percent=60)
        assert result.applied
        async with asyncio.timeout(15):
            await reverted.wait()
    (revert,) = [e for e in events if isinstance(e, ControlRevertedEvent)]
    assert (revert.control, revert.endpoint) == ("set_reserve", "tariff")
    assert revert.expected == {"reserve_percent": 60.0}
    assert revert.observed == {"reserve_percent": 10.0}
    assert revert.serial == battery.serial
    assert battery.control_faults.served["cloud_overwrite"] == 1
    tariffs = [e for e in events if isinstance(e, DataEvent) and e.endpoint == "tariff"]
    assert tariffs[0].model.storage.reserve_percent == 60  # what the write read back


async def test_an_ignored_contact_command_is_not_taken_for_the_settling_open(
    battery: SimulatedGateway, client: GatewaySession
) -> None:
    # Every contact reads open while a settings change settles: asking NC1 (closed) to open
    # must not read as applied when the gateway ignored the command.
    battery.control_faults.set_dry_contact_settle(40)  # two real seconds
    battery.control_faults.ignore_writes(CONTACTS)
    await client.update_dry_contact_settings("NC2", priority=5)
    with pytest.raises(ControlNotAppliedError) as err:
        await client.set_dry_contact("NC1", closed=False, wait_s=6.0)
    assert err.value.result.observed == {"NC1": "closed"}
    assert battery.control_faults.served["ignore_writes"] == 1


async def test_a_contact_opened_while_a_settings_change_settles_shows_once_it_settled(
    battery: SimulatedGateway, client: GatewaySession
) -> None:
    battery.control_faults.set_dry_contact_settle(40)  # two real seconds
    await client.update_dry_contact_settings("NC2", priority=5)
    result = await client.set_dry_contact("NC1", closed=False)
    assert result.applied
    assert result.observed == {"NC1": "open"}
    # Every contact read open from the start: only the end of the settling time told.
    assert result.seconds_to_apply is not None
    assert result.seconds_to_apply > 1.0
    assert writes_seen(battery).count(("POST", CONTACTS)) == 1
