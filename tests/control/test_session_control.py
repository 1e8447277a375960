"""Control writes through GatewaySession against mocked replies (aioresponses): what goes on
the wire, what never does, and how each answer is taken."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from enphase_local.control import ControlPolicy, ControlResult
from enphase_local.errors import (
    ControlNotAllowedError,
    ControlNotAppliedError,
    ControlRejectedError,
    ControlValidationError,
    EnphaseError,
    NotSupportedError,
)
from enphase_local.session import GatewaySession
from tests.control.mocks import (
    BASE,
    BATTERY,
    CONTROLLER,
    SETTING,
    TOKEN,
    answer,
    contacts,
    inventory,
    ready,
    relay,
    requests,
    tariff,
    writes,
)

#: No pause between writes, quick read-backs, short waits: tests never wait for real.
FAST = ControlPolicy(min_interval_s=0.0, poll_interval_s=0.01, wait_s=0.3, slow_wait_s=0.3)


@pytest.fixture
async def gateway() -> AsyncIterator[GatewaySession]:
    async with GatewaySession(
        "envoy.local", token=TOKEN, allow_control=True, control_policy=FAST, retry_backoff=0.001
    ) as session:
        yield session


#: Every control write, called with valid arguments.
CALLS: dict[str, Callable[[GatewaySession], Awaitable[ControlResult]]] = {
    "set_grid_relay": lambda g: g.set_grid_relay(connected=False),
    "set_dry_contact": lambda g: g.set_dry_contact("NC1", closed=True),
    "update_dry_contact_settings": lambda g: g.update_dry_contact_settings(
        "NC1", soc_low_percent=20
    ),
    "set_generator_mode": lambda g: g.set_generator_mode("auto"),
    "set_storage_mode": lambda g: g.set_storage_mode("savings"),
    "set_reserve": lambda g: g.set_reserve(percent=30),
    "set_charge_from_grid": lambda g: g.set_charge_from_grid(True),
    "set_acb_sleep": lambda g: g.set_acb_sleep("121900000001", min_percent=25, max_percent=30),
    "wake_acb": lambda g: g.wake_acb("121900000001"),
}


@pytest.mark.parametrize("control", list(CALLS))
async def test_without_allow_control_nothing_reaches_the_wire(
    mocked: aioresponses, control: str
) -> None:
    async with GatewaySession("envoy.local", token=TOKEN) as gateway:
        assert not gateway.allow_control
        with pytest.raises(ControlNotAllowedError, match="allow_control=True"):
            await CALLS[control](gateway)
        with pytest.raises(ControlNotAllowedError):
            await gateway.control(control)
    assert mocked.requests == {}


async def test_relay_off_grid_waits_for_the_actual_state(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    inventory(mocked, CONTROLLER, BATTERY)
    answer(mocked, "/ivp/ensemble/relay", relay("closed", "closed"))
    answer(mocked, "/ivp/ensemble/relay", {"mains_admin_state": "open"}, method="POST")
    answer(mocked, "/ivp/ensemble/relay", relay("open", "closed"))
    answer(mocked, "/ivp/ensemble/relay", relay("open", "open"))

    result = await gateway.set_grid_relay(connected=False)

    assert result.applied
    assert result.writes == 1
    assert result.requested == {"mains_admin_state": "open", "mains_oper_state": "open"}
    assert result.observed == result.requested
    assert result.seconds_to_apply is not None
    assert result.seconds_to_apply >= 0
    assert writes(mocked) == [("POST", "/ivp/ensemble/relay", {"mains_admin_state": "open"})]
    (call,) = requests(mocked, "/ivp/ensemble/relay", "POST")
    headers = call.kwargs["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.kwargs["json"] is None
    assert call.kwargs["allow_redirects"] is False
    assert len(requests(mocked, "/ivp/ensemble/relay")) == 3


async def test_relay_without_a_system_controller_sends_nothing(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    inventory(mocked, BATTERY)
    with pytest.raises(NotSupportedError, match="no IQ System Controller or Meter Collar") as err:
        await gateway.set_grid_relay(connected=True)
    assert "nothing was sent" in str(err.value)
    assert writes(mocked) == []


async def test_no_ensemble_inventory_at_all_is_no_hardware(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    answer(mocked, "/ivp/ensemble/inventory", {"error": "404 - Not Found"}, status=404)
    with pytest.raises(NotSupportedError, match="no IQ System Controller"):
        await gateway.set_dry_contact("NC1", closed=True)
    assert writes(mocked) == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda g: g.set_reserve(percent=101), "0 to 100"),
        (lambda g: g.set_reserve(percent=-1), "0 to 100"),
        (lambda g: g.set_reserve(percent=float("nan")), "a number"),
        (lambda g: g.set_reserve(percent=True), "a number"),
        (lambda g: g.set_storage_mode("economy"), "backup, self-consumption, savings"),
        (lambda g: g.set_generator_mode("start"), "on, off, auto"),
        (lambda g: g.set_grid_relay(connected="no"), "True or False"),
        (lambda g: g.set_charge_from_grid(1), "True or False"),
        (lambda g: g.set_dry_contact("", closed=True), "non-empty"),
        (lambda g: g.set_acb_sleep("1219", min_percent=40, max_percent=30), "must not exceed"),
        (lambda g: g.set_acb_sleep("1219", min_percent=0, max_percent=200), "0 to 100"),
        (lambda g: g.update_dry_contact_settings("NC1"), "at least one"),
        (lambda g: g.update_dry_contact_settings("NC1", colour="red"), "unknown dry contact"),
        (lambda g: g.update_dry_contact_settings("NC1", soc_low_percent=120), "0 to 100"),
        (lambda g: g.update_dry_contact_settings("NC1", grid_action="explode"), "apply, shed"),
        (lambda g: g.update_dry_contact_settings("NC1", load_name=3), "a text"),
        (lambda g: g.control("set_reserve", pct=30), "argument"),
        (lambda g: g.control("self_destruct"), "unknown control"),
        (lambda g: g.set_reserve(percent=30, wait_s=-1), "wait_s"),
    ],
)
async def test_bad_input_is_refused_before_any_request(
    mocked: aioresponses,
    gateway: GatewaySession,
    call: Callable[[GatewaySession], Awaitable[ControlResult]],
    message: str,
) -> None:
    with pytest.raises(ControlValidationError, match=message) as err:
        await call(gateway)
    assert isinstance(err.value, ValueError)
    assert mocked.requests == {}


async def test_unknown_dry_contact_names_those_the_gateway_has(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    inventory(mocked, CONTROLLER)
    answer(mocked, "/ivp/ensemble/dry_contacts", contacts(NC1="open", NO1="closed"))
    with pytest.raises(ControlValidationError, match=r"no dry contact 'NC9' \(it has NC1, NO1\)"):
        await gateway.set_dry_contact("NC9", closed=True)
    assert writes(mocked) == []


async def test_dry_contact_ids_match_without_regard_to_case(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    inventory(mocked, CONTROLLER)
    answer(mocked, "/ivp/ensemble/dry_contacts", contacts(NC1="open", NO1="closed"))
    answer(mocked, "/ivp/ensemble/dry_contacts", {"dry_contacts": {}}, method="POST")
    answer(mocked, "/ivp/ensemble/dry_contacts", contacts(NC1="open", NO1="closed"))
    answer(mocked, "/ivp/ensemble/dry_contacts", contacts(NC1="closed", NO1="closed"))

    result = await gateway.set_dry_contact("nc1", closed=True)

    assert (result.applied, result.observed) == (True, {"NC1": "closed"})
    assert writes(mocked) == [
        ("POST", "/ivp/ensemble/dry_contacts", {"dry_contacts": {"id": "NC1", "status": "closed"}})
    ]


async def test_dry_contact_settings_send_the_whole_entry_changed_in_place(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    inventory(mocked, CONTROLLER)
    other = {**SETTING, "id": "NO1", "type": "NONE"}
    answer(mocked, "/ivp/ss/dry_contact_settings", {"dry_contacts": [SETTING, other]})
    answer(mocked, "/ivp/ss/dry_contact_settings", {"dry_contacts": {}}, method="POST")
    changed = {**SETTING, "soc_low": 20.0, "grid_action": "shed", "override": "false"}
    answer(mocked, "/ivp/ss/dry_contact_settings", {"dry_contacts": [changed, other]})

    result = await gateway.update_dry_contact_settings(
        "NC1", soc_low_percent=20, grid_action="shed", override=False
    )

    assert result.applied
    assert result.requested == {
        "id": "NC1",
        "charge_low_percent": 20.0,
        "grid_action": "shed",
        "override": False,
    }
    assert writes(mocked) == [("POST", "/ivp/ss/dry_contact_settings", {"dry_contacts": changed})]


async def test_a_low_charge_above_the_high_one_is_refused(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    inventory(mocked, CONTROLLER)
    answer(mocked, "/ivp/ss/dry_contact_settings", {"dry_contacts": [SETTING]})
    with pytest.raises(ControlValidationError, match=r"low charge \(80 %\) must not exceed"):
        await gateway.update_dry_contact_settings("NC1", charge_low_percent=80)
    assert writes(mocked) == []


async def test_a_500_on_a_write_is_a_clear_error_and_never_sent_again(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    inventory(mocked, CONTROLLER)
    answer(mocked, "/ivp/ss/dry_contact_settings", {"dry_contacts": [SETTING]})
    answer(
        mocked,
        "/ivp/ss/dry_contact_settings",
        b"dry contact NC1: missing ['soc_low']\n",
        method="POST",
        status=500,
    )
    with pytest.raises(ControlRejectedError) as err:
        await gateway.update_dry_contact_settings("NC1", priority=2)
    assert err.value.status == 500
    assert "HTTP 500 (dry contact NC1: missing ['soc_low'])" in str(err.value)
    assert "not sent again" in str(err.value)
    assert len(writes(mocked)) == 1


async def test_tariff_writes_send_the_whole_tariff(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    inventory(mocked, CONTROLLER, BATTERY)
    answer(mocked, "/admin/lib/tariff", tariff())
    answer(mocked, "/admin/lib/tariff", {"tariff": {}}, method="PUT")
    answer(mocked, "/admin/lib/tariff", tariff(mode="economy"))

    result = await gateway.set_storage_mode("savings")

    assert (result.applied, result.observed) == (True, {"mode": "savings"})
    expected = tariff()["tariff"]
    expected["storage_settings"]["mode"] = "economy"
    assert writes(mocked) == [("PUT", "/admin/lib/tariff", {"tariff": expected})]


async def test_a_whole_reserve_goes_as_the_gateway_sent_the_old_one(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    inventory(mocked, BATTERY)
    document = tariff()
    document["tariff"]["storage_settings"]["reserved_soc"] = 20  # an integer this time
    answer(mocked, "/admin/lib/tariff", document)
    answer(mocked, "/admin/lib/tariff", {}, method="PUT")
    answer(mocked, "/admin/lib/tariff", tariff(reserve=30.0))

    result = await gateway.set_reserve(percent=30)

    assert result.applied
    ((_, _, body),) = writes(mocked)
    assert body["tariff"]["storage_settings"]["reserved_soc"] == 30
    assert isinstance(body["tariff"]["storage_settings"]["reserved_soc"], int)


async def test_an_ignored_tariff_write_is_not_applied_and_not_sent_again(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    inventory(mocked, BATTERY)
    mocked.get(f"{BASE}/admin/lib/tariff", body=json.dumps(tariff()), repeat=True)
    answer(mocked, "/admin/lib/tariff", {"tariff": {}}, method="PUT")

    with pytest.raises(ControlNotAppliedError, match="still shows reserve_percent=20") as err:
        await gateway.set_reserve(percent=30)

    result = err.value.result
    assert (result.applied, result.seconds_to_apply, result.writes) == (False, None, 1)
    assert result.requested == {"reserve_percent": 30.0}
    assert result.observed == {"reserve_percent": 20.0}
    assert len(writes(mocked)) == 1
    assert len(requests(mocked, "/admin/lib/tariff")) > 2  # read back until the wait ended


async def test_tariff_writes_need_iq_batteries(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    inventory(mocked, CONTROLLER)
    with pytest.raises(NotSupportedError, match="no IQ Battery"):
        await gateway.set_charge_from_grid(True)
    assert writes(mocked) == []


async def test_a_lost_answer_is_sent_again_only_when_reading_back_proves_it_never_arrived(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    inventory(mocked, BATTERY)
    answer(mocked, "/admin/lib/tariff", tariff())
    mocked.put(f"{BASE}/admin/lib/tariff", exception=aiohttp.ServerDisconnectedError())
    answer(mocked, "/admin/lib/tariff", tariff())  # still the old mode
    answer(mocked, "/admin/lib/tariff", tariff())  # and again, a write interval later
    answer(mocked, "/admin/lib/tariff", {}, method="PUT")
    answer(mocked, "/admin/lib/tariff", tariff(grid=True))

    result = await gateway.set_charge_from_grid(True)

    assert (result.applied, result.writes) == (True, 2)
    assert [w[0] for w in writes(mocked)] == ["PUT", "PUT"]


async def test_a_lost_answer_is_not_sent_again_when_the_write_shows(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    inventory(mocked, BATTERY)
    answer(mocked, "/admin/lib/tariff", tariff())
    answer(
        mocked, "/admin/lib/tariff", b"<html>504 Gateway Time-out</html>", method="PUT", status=504
    )
    answer(mocked, "/admin/lib/tariff", tariff(grid=True))

    result = await gateway.set_charge_from_grid(True)

    assert (result.applied, result.writes) == (True, 1)
    assert len(writes(mocked)) == 1


async def test_a_write_refused_as_not_found_is_not_supported(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    inventory(mocked, CONTROLLER)
    answer(mocked, "/ivp/ensemble/relay", relay("closed", "closed"))
    answer(mocked, "/ivp/ensemble/relay", {"error": "404 - Not Found"}, method="POST", status=404)
    with pytest.raises(NotSupportedError, match="does not take this write"):
        await gateway.set_grid_relay(connected=False)
    assert len(writes(mocked)) == 1


async def test_reading_back_through_errors_until_the_state_shows(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    inventory(mocked, CONTROLLER)
    answer(mocked, "/ivp/ss/gen_config", {"manufacturer": "Generac", "gen_type": "Standby"})
    answer(mocked, "/ivp/ss/gen_mode", {"gen_cmd": "off", "last_updated_by": "ITK"})
    answer(mocked, "/ivp/ss/gen_mode", {"gen_cmd": "auto"}, method="POST")
    answer(mocked, "/ivp/ss/gen_mode", b"{truncated", status=200)
    answer(mocked, "/ivp/ss/gen_mode", {"gen_cmd": "auto", "last_updated_by": "local"})

    result = await gateway.set_generator_mode("auto")

    assert (result.applied, result.observed) == (True, {"command": "auto"})


async def test_no_generator_sends_nothing(mocked: aioresponses, gateway: GatewaySession) -> None:
    ready(mocked)
    answer(mocked, "/ivp/ss/gen_config", {})
    answer(mocked, "/ivp/ss/gen_mode", {})
    with pytest.raises(NotSupportedError, match="no generator"):
        await gateway.set_generator_mode("on")
    assert writes(mocked) == []


async def test_nothing_read_back_is_not_applied_with_the_read_error(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    inventory(mocked, CONTROLLER)
    answer(mocked, "/ivp/ensemble/relay", relay("closed", "closed"))
    answer(mocked, "/ivp/ensemble/relay", {}, method="POST")
    mocked.get(f"{BASE}/ivp/ensemble/relay", body=b"<html>oops</html>", repeat=True)
    with pytest.raises(ControlNotAppliedError, match="could not be read back") as err:
        await gateway.set_grid_relay(connected=False)
    assert err.value.result.observed == {}
    assert isinstance(err.value.__cause__, EnphaseError)


async def test_acb_sleep_puts_one_to_sleep_and_wake_deletes_it(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    acbs = [
        {"type": "PCU", "devices": []},
        {
            "type": "ACB",
            "devices": [{"serial_num": "121900000001"}, {"serial_num": "121900000002"}],
        },
    ]
    other = {"serial_num": "121900000002", "sleep_min_soc": 10, "sleep_max_soc": 20}
    mine = {"serial_num": "121900000001", "sleep_min_soc": 25, "sleep_max_soc": 30}
    answer(mocked, "/inventory.json?deleted=1", acbs)
    answer(mocked, "/admin/lib/acb_config", {"acb_sleep": [other]})
    answer(mocked, "/admin/lib/acb_config", {"acb_sleep": [mine]}, method="PUT")
    answer(mocked, "/admin/lib/acb_config", {"acb_sleep": [other, mine]})

    asleep = await gateway.set_acb_sleep("121900000001", min_percent=25, max_percent=30)

    answer(mocked, "/inventory.json?deleted=1", acbs)
    answer(mocked, "/admin/lib/acb_config", {"acb_sleep": [other, mine]})
    answer(mocked, "/admin/lib/acb_config", {}, method="DELETE")
    answer(mocked, "/admin/lib/acb_config", {"acb_sleep": [other]})

    awake = await gateway.wake_acb("121900000001")

    assert asleep.applied
    assert awake.applied
    assert asleep.observed == {
        "serial_number": "121900000001",
        "sleep": True,
        "sleep_min_percent": 25,
        "sleep_max_percent": 30,
    }
    assert awake.observed == {"serial_number": "121900000001", "sleep": False}
    assert writes(mocked) == [
        ("PUT", "/admin/lib/acb_config", {"acb_sleep": [mine]}),
        ("DELETE", "/admin/lib/acb_config", {"acb_sleep": [{"serial_num": "121900000001"}]}),
    ]


async def test_acb_sleep_needs_that_ac_battery(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    answer(mocked, "/inventory.json?deleted=1", [{"type": "ACB", "devices": []}])
    with pytest.raises(NotSupportedError, match="no AC Battery"):
        await gateway.wake_acb("121900000001")
    answer(
        mocked,
        "/inventory.json?deleted=1",
        [{"type": "ACB", "devices": [{"serial_num": "121900000002"}]}],
    )
    with pytest.raises(ControlValidationError, match="it has 121900000002"):
        await gateway.wake_acb("121900000001")
    assert writes(mocked) == []


async def test_prepare_shows_the_exact_request_with_the_token_masked_and_writes_nothing(
    mocked: aioresponses,
) -> None:
    ready(mocked)
    inventory(mocked, BATTERY)
    answer(mocked, "/admin/lib/tariff", tariff())
    async with GatewaySession("envoy.local", token=TOKEN) as gateway:  # no allow_control
        prepared = await gateway.prepare_control("set_reserve", percent=35)
    assert (prepared.method, prepared.url) == ("PUT", f"{BASE}/admin/lib/tariff")
    assert prepared.requested == {"reserve_percent": 35.0}
    assert prepared.before == {"reserve_percent": 20.0}
    assert prepared.body["tariff"]["storage_settings"]["reserved_soc"] == 35.0
    assert prepared.body_bytes == json.dumps(prepared.body).encode()
    headers: dict[str, Any] = dict(prepared.headers)
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"].startswith("Bearer <owner token for 122125067699")
    assert headers["Cookie"] == "sessionId=<masked>"
    shown = json.dumps(headers)
    assert TOKEN not in shown
    assert TOKEN.split(".")[1] not in shown
    assert "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z" not in shown
    assert writes(mocked) == []


async def test_a_refusal_that_echoes_our_secrets_is_quoted_without_them(
    mocked: aioresponses, gateway: GatewaySession
) -> None:
    ready(mocked)
    inventory(mocked, CONTROLLER)
    answer(mocked, "/ivp/ensemble/relay", relay("closed", "closed"))
    echo = f"bad request: Authorization: Bearer {TOKEN}\r\nCookie: sessionId=Ab3dEf6hIj9kLm2n\x00"
    answer(mocked, "/ivp/ensemble/relay", echo.encode(), method="POST", status=400)
    with pytest.raises(ControlRejectedError) as err:
        await gateway.set_grid_relay(connected=False)
    message = str(err.value)
    assert "HTTP 400 (bad request: Authorization: Bearer <masked> Cookie: sessionId=<masked>" in (
        message
    )
    for part in TOKEN.split("."):
        assert part not in message
    assert "Ab3dEf6h" not in message
