"""/ivp/livedata/status and the live-stream switch's reply."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enphase_local import endpoints as ep
from enphase_local.errors import PayloadError
from enphase_local.models import LiveConnection, LivePower, LiveStreamState, LiveTasks
from enphase_local.parsing import parse_stream_status

from .samples import LIVE_DATA, json_body, mutable

pytestmark = pytest.mark.usefixtures("json_backend")


def test_brief_sample() -> None:
    live = ep.LIVE_DATA.parse(json_body(LIVE_DATA), strict=True)
    assert live.connection == LiveConnection(
        mqtt_state="connected",
        provisioning_state="configured",
        auth_state="ok",
        stream_state=LiveStreamState.ENABLED,
        debug_stream_state=LiveStreamState.ENABLED,
    )
    assert live.stream_enabled is True
    meters = live.meters
    assert meters.last_update_at == datetime(2022, 6, 3, 2, 0, 47, tzinfo=UTC)
    assert meters.soc_pct == 100.0
    assert meters.main_relay_state == 0
    assert meters.generator_relay_state == 5
    assert meters.backup_battery_mode == 1
    assert meters.backup_soc_pct == 10.0
    assert meters.is_split_phase is True
    assert meters.phase_count == 0
    assert meters.encharge_soc_pct == 100.0
    assert meters.encharge_energy_wh == 24800.0
    assert meters.acb_soc_pct == 0.0
    assert meters.acb_energy_wh == 0.0
    assert live.tasks == LiveTasks(
        task_id=27672012, last_task_at=datetime(2022, 6, 3, 1, 31, 23, tzinfo=UTC)
    )
    assert live.counters == {"main_CfgLoad": 1, "MqttClient_publish": 10260, "rest_Status": 579}


def test_milli_units_become_watts_and_volt_amperes() -> None:
    meters = ep.LIVE_DATA.parse(json_body(LIVE_DATA)).meters
    # The brief spells the pv keys _kw/_kva, but the values are milliwatts all the same.
    assert meters.pv == LivePower(
        active_power_w=329.549,
        apparent_power_va=329.549,
        active_power_a_w=329.549,
        active_power_b_w=0.0,
        active_power_c_w=0.0,
        apparent_power_a_va=329.549,
        apparent_power_b_va=0.0,
        apparent_power_c_va=0.0,
    )
    assert meters.storage is not None
    assert meters.storage.active_power_w == pytest.approx(-220.8)
    assert meters.storage.apparent_power_va == pytest.approx(-559.446)
    assert meters.load is not None
    assert meters.load.active_power_w == pytest.approx(108.749)
    assert meters.grid is not None
    assert meters.grid.active_power_w == 0.0
    assert meters.generator is not None


def test_older_firmware_sends_only_aggregates() -> None:
    body = mutable(LIVE_DATA)
    meters = body["meters"]
    for key in ("is_split_phase", "phase_count", "enc_agg_soc", "enc_agg_energy"):
        del meters[key]
    meters["pv"] = {"agg_p_mw": 1500000, "agg_s_mva": 1600000}
    meters["grid"] = {"agg_p_mw": -500000, "agg_s_mva": 520000}
    del meters["generator"]
    parsed = ep.LIVE_DATA.parse(json_body(body), strict=True).meters
    assert parsed.pv == LivePower(active_power_w=1500.0, apparent_power_va=1600.0)
    assert parsed.grid is not None
    assert parsed.grid.active_power_w == -500.0
    assert parsed.grid.active_power_a_w is None
    assert parsed.is_split_phase is None
    assert parsed.phase_count is None
    assert parsed.encharge_soc_pct is None
    assert parsed.generator is None


def test_null_phase_values_are_none() -> None:
    body = mutable(LIVE_DATA)
    body["meters"]["grid"]["agg_p_ph_c_mw"] = None
    grid = ep.LIVE_DATA.parse(json_body(body), strict=True).meters.grid
    assert grid is not None
    assert grid.active_power_c_w is None
    body["meters"]["grid"]["agg_p_mw"] = None
    with pytest.raises(PayloadError) as caught:
        ep.LIVE_DATA.parse(json_body(body))
    assert caught.value.path == "$.meters.grid.agg_p_mw"


def test_stream_disabled_and_unknown() -> None:
    body = mutable(LIVE_DATA)
    body["connection"]["sc_stream"] = "disabled"
    body["connection"]["sc_debug"] = "paused"
    live = ep.LIVE_DATA.parse(json_body(body))
    assert live.connection.stream_state is LiveStreamState.DISABLED
    assert live.connection.debug_stream_state is LiveStreamState.UNKNOWN
    assert live.stream_enabled is False


def test_minimal_body() -> None:
    live = ep.LIVE_DATA.parse(b'{"connection": {}, "meters": {"last_update": 0}}', strict=True)
    assert live.connection.stream_state is LiveStreamState.UNKNOWN
    assert live.meters.pv is None
    assert live.tasks is None
    assert live.counters == {}


def test_dry_contacts_are_accepted() -> None:
    body = mutable(LIVE_DATA)
    body["meters"]["dry_contacts"] = {"": {"dry_contact_id": "", "dry_contact_status": 0}}
    assert ep.LIVE_DATA.parse(json_body(body), strict=True).meters.soc_pct == 100.0


def test_is_split_phase_must_be_a_flag() -> None:
    body = mutable(LIVE_DATA)
    body["meters"]["is_split_phase"] = 2
    with pytest.raises(PayloadError) as caught:
        ep.LIVE_DATA.parse(json_body(body))
    assert caught.value.path == "$.meters.is_split_phase"


@pytest.mark.parametrize(
    ("section", "key", "value", "path"),
    [
        ("pv", "agg_p_ph_b_kw", "0", "$.meters.pv.agg_p_ph_b_mw"),
        ("storage", "agg_s_mva", None, "$.meters.storage.agg_s_mva"),
        ("load", "agg_p_mw", True, "$.meters.load.agg_p_mw"),
    ],
)
def test_wrong_power_types(section: str, key: str, value: object, path: str) -> None:
    body = mutable(LIVE_DATA)
    body["meters"][section][key] = value
    with pytest.raises(PayloadError) as caught:
        ep.LIVE_DATA.parse(json_body(body))
    assert caught.value.path == path


def test_bad_counter_names_its_key() -> None:
    body = mutable(LIVE_DATA)
    body["counters"]["rest_Meters"] = 7.5
    with pytest.raises(PayloadError, match="integer") as caught:
        ep.LIVE_DATA.parse(json_body(body))
    assert caught.value.path == "$.counters.rest_Meters"


def test_counters_must_be_an_object() -> None:
    body = mutable(LIVE_DATA)
    body["counters"] = [1, 2]
    with pytest.raises(PayloadError) as caught:
        ep.LIVE_DATA.parse(json_body(body))
    assert caught.value.path == "$.counters"


def test_missing_meters() -> None:
    with pytest.raises(PayloadError, match="missing") as caught:
        ep.LIVE_DATA.parse(b'{"connection": {"sc_stream": "disabled"}}')
    assert caught.value.path == "$.meters"


def test_extra_keys_lenient_and_strict() -> None:
    body = mutable(LIVE_DATA)
    body["meters"]["grid"]["agg_q_mvar"] = 1
    ep.LIVE_DATA.parse(json_body(body))
    with pytest.raises(PayloadError, match="unexpected key") as caught:
        ep.LIVE_DATA.parse(json_body(body), strict=True)
    assert caught.value.path == "$.meters.grid.agg_q_mvar"


def test_model_is_hashable_despite_counters() -> None:
    live = ep.LIVE_DATA.parse(json_body(LIVE_DATA))
    assert hash(live) == hash(ep.LIVE_DATA.parse(json_body(LIVE_DATA)))


@pytest.mark.parametrize(
    ("body", "state"),
    [
        (b'{"sc_stream": "enabled"}', LiveStreamState.ENABLED),
        (b'{"sc_stream": "disabled"}', LiveStreamState.DISABLED),
        (b'{"sc_stream": "resting"}', LiveStreamState.UNKNOWN),
    ],
)
def test_stream_status(body: bytes, state: LiveStreamState) -> None:
    assert parse_stream_status(body, strict=True) is state


def test_stream_status_errors() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_stream_status(b'{"sc_stream": 1}')
    assert caught.value.endpoint == "/ivp/livedata/stream"
    assert caught.value.path == "$.sc_stream"
    with pytest.raises(PayloadError):
        parse_stream_status(b"Live stream not enabled")
