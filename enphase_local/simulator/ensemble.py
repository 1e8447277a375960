"""Bodies of the battery and System Controller endpoints (``/ivp/ensemble/*``).

Every value comes from the plant at the request's instant: the batteries share the storage
power that the live data report (in whole mW, so their parts add up to it exactly), each
reports the site's charge, the relay and the System Controller report what the grid relay
does, and the dry contacts follow the relay and the charge. A site without the hardware
answers as such gateways do: ``[]``, ``{"devices:": []}``, zeros, ``present: 0``.
Part numbers are made up (``99`` in the middle), not those of real devices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from enphase_local.simulator import settings
from enphase_local.simulator.bodies import live_values, milli
from enphase_local.simulator.firmware import Change, has
from enphase_local.simulator.grid import GENERATOR_START_SOC, GENERATOR_STOP_SOC
from enphase_local.simulator.profiles import MeterType
from enphase_local.simulator.snapshot import Snapshot
from enphase_local.simulator.wire import JsonValue, dumps

#: Paths whose requests the 7.x back end counts (``rest_*`` of ``/ivp/ensemble/status``).
INVENTORY = "/ivp/ensemble/inventory"
POWER = "/ivp/ensemble/power"
SECCTRL = "/ivp/ensemble/secctrl"
STATUS = "/ivp/ensemble/status"
#: ``device_status`` of a device that is well.
_OK = ["envoy.global.ok", "prop.done"]
_BATTERY_FIRMWARE = "3.0.8400_rel/31.40"
_CONTROLLER_FIRMWARE = "2.0.6900_rel/31.40"


def controller_serial(snapshot: Snapshot) -> str:
    """Serial of the System Controller (or of the Meter Collar's IQ Combiner controller)."""
    return f"1225{snapshot.serial[-6:]}01"


def esub_serial(snapshot: Snapshot) -> str:
    """Serial of the System Controller's communications board (an ESUB in the inventory)."""
    return f"1225{snapshot.serial[-6:]}02"


def iq_serials(snapshot: Snapshot) -> tuple[str, ...]:
    """Serials of the IQ Batteries."""
    return snapshot.plant.battery_serials[: snapshot.profile.iq_batteries]


def _grid_mode(snapshot: Snapshot) -> str:
    return "multimode-ongrid" if snapshot.connected else "multimode-offgrid"


# --- per battery ------------------------------------------------------------------------


def _split(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` shared in proportion to ``weights``, in whole units that add up to it."""
    raw = [total * w / sum(weights) for w in weights]
    parts = [math.floor(r) for r in raw]
    by_remainder = sorted(range(len(raw)), key=lambda k: parts[k] - raw[k])
    for k in by_remainder[: total - sum(parts)]:
        parts[k] += 1
    return parts


def _weights(count: int) -> list[float]:
    """How the batteries share the power: nearly equally, as balanced units do."""
    return [1.0 + 0.03 * math.sin(k + 1) for k in range(count)]


def battery_power(snapshot: Snapshot) -> list[tuple[int, int]]:
    """(mW, mVA) of each IQ Battery (positive while discharging), adding up to the live data."""
    count = snapshot.profile.iq_batteries
    values = live_values(snapshot.plant, snapshot.flows, MeterType.STORAGE)
    weights = _weights(count)
    real = _split(milli(p for p, _ in values), weights)
    apparent = _split(milli(s for _, s in values), weights)
    return list(zip(real, apparent, strict=True))


def _room_c(snapshot: Snapshot) -> float:
    """The temperature where the equipment hangs: warmest in the afternoon."""
    return 22.0 + 4.0 * math.sin(2 * math.pi * (snapshot.local.hour - 9) / 24)


def _temperature_c(snapshot: Snapshot, index: int, power_mw: int) -> int:
    """A battery's temperature: the room's, warmed by the power it carries."""
    load = abs(power_mw) / 1000 / snapshot.profile.battery_power_w
    return round(_room_c(snapshot) + 8.0 * load + index % 2)


# --- /ivp/ensemble/inventory --------------------------------------------------------------


def _common(
    snapshot: Snapshot, part: str, serial: str, state: int, label: str
) -> dict[str, JsonValue]:
    """The keys every ensemble device starts with."""
    installed = snapshot.plant.installed_at
    return {
        "part_num": part,
        "serial_num": serial,
        "installed": installed,
        "device_status": _OK,
        "last_rpt_date": snapshot.now - snapshot.now % 60,
        "admin_state": state,
        "admin_state_str": label,
        "created_date": installed,
        "img_load_date": installed,
    }


def _encharge(snapshot: Snapshot) -> list[JsonValue]:
    profile = snapshot.profile
    devices: list[JsonValue] = []
    powers = battery_power(snapshot)
    for k, (serial, (power, _)) in enumerate(zip(iq_serials(snapshot), powers, strict=True)):
        device = _common(snapshot, "836-99501-r01", serial, 6, "ENCHG_STATE_READY")
        temperature = _temperature_c(snapshot, k, power)
        device.update(
            {
                "img_pnum_running": _BATTERY_FIRMWARE,
                "bmu_fw_version": "3.8.70",
                "communicating": True,
                "sleep_enabled": False,
                "percentFull": snapshot.soc,
                # The gateway knows no temperature until a battery reports after a reboot.
                "temperature": "unknown" if snapshot.fresh_boot else temperature,
                "maxCellTemp": temperature + 1,
                "reported_enc_grid_state": "grid-tied" if snapshot.connected else "grid-forming",
                "comm_level_sub_ghz": 4,
                "comm_level_2_4_ghz": 4,
                "led_status": 14 if snapshot.soc >= 99 else 12,
                "dc_switch_off": False,
                "encharge_rev": 3,
                "encharge_capacity": round(profile.battery_capacity_wh),
                "phase": "ph-all",
                "der_index": 1,
            }
        )
        devices.append(device)
    return devices


def _relay_bitmap(snapshot: Snapshot) -> int:
    return 5071 if snapshot.connected else 4943


def _enpower(snapshot: Snapshot) -> JsonValue:
    relay = snapshot.plant.relay
    closed = snapshot.connected
    device = _common(
        snapshot,
        "860-99801-r01",
        controller_serial(snapshot),
        24 if closed else 25,
        "ENPWR_STATE_OPER_CLOSED" if closed else "ENPWR_STATE_OPER_OPEN",
    )
    device.update(
        {
            "img_pnum_running": _CONTROLLER_FIRMWARE,
            "communicating": True,
            "temperature": round(_room_c(snapshot) * 9 / 5 + 40),  # in °F, warm inside
            "comm_level_sub_ghz": 5,
            "comm_level_2_4_ghz": 5,
            "mains_admin_state": "closed" if relay.commanded_closed else "open",
            "mains_oper_state": relay.state(snapshot.now).value,
            "Enpwr_grid_mode": _grid_mode(snapshot),
            "Enchg_grid_mode": _grid_mode(snapshot),
            "Enpwr_relay_state_bm": _relay_bitmap(snapshot),
            "Enpwr_curr_state_id": 16 if closed else 17,
        }
    )
    return device


def _collar(snapshot: Snapshot) -> JsonValue:
    """The IQ Meter Collar: no capture holds one, so its keys follow pyenphase's model."""
    closed = snapshot.connected
    device = _common(snapshot, "865-99400-r01", f"1227{snapshot.serial[-6:]}01", 2, "ON_GRID")
    device.update(
        {
            "img_pnum_running": _CONTROLLER_FIRMWARE,
            "communicating": True,
            "temperature": 30,
            "mid_state": "close" if closed else "open",
            "grid_state": "on_grid" if closed else "off_grid",
            "control_error": 0,
            "collar_state": "Installed",
        }
    )
    return device


def _combiner(snapshot: Snapshot) -> JsonValue:
    """The IQ Combiner 6C controller beside a collar (keys from pyenphase's model)."""
    device = _common(snapshot, "800-99403-r01", controller_serial(snapshot), 1, "ACTIVE")
    device.update(
        {"fw_version": "0.2.4200_rel/31.40", "dmir_version": "1.0", "communicating": True}
    )
    return device


def inventory(snapshot: Snapshot) -> bytes:
    """``/ivp/ensemble/inventory``: batteries and what switches the site off grid."""
    profile = snapshot.profile
    groups: list[JsonValue] = []
    if profile.iq_batteries or profile.system_controller:
        groups.append({"type": "ENCHARGE", "devices": _encharge(snapshot)})
    if profile.system_controller:
        groups.append({"type": "ENPOWER", "devices": [_enpower(snapshot)]})
    if profile.collar:
        groups.append({"type": "COLLAR", "devices": [_collar(snapshot)]})
        groups.append({"type": "C6 COMBINER CONTROLLER", "devices": [_combiner(snapshot)]})
    return dumps(groups)


# --- /ivp/ensemble/power, secctrl, relay --------------------------------------------------


def power(snapshot: Snapshot) -> bytes:
    """``/ivp/ensemble/power``: per IQ Battery power in mW and mVA (the key ends in ``:``)."""
    devices: list[JsonValue] = [
        {
            "serial_num": serial,
            "real_power_mw": real,
            "apparent_power_mva": apparent,
            "soc": snapshot.soc,
        }
        for serial, (real, apparent) in zip(
            iq_serials(snapshot), battery_power(snapshot), strict=True
        )
    ]
    return dumps({"devices:": devices})


def _bias() -> dict[str, JsonValue]:
    body: dict[str, JsonValue] = {}
    for suffix in ("", "_phaseb", "_phasec"):
        body |= {
            f"freq_bias_hz{suffix}": 0.0,
            f"voltage_bias_v{suffix}": 0.0,
            f"freq_bias_hz_q8{suffix}": 0,
            f"voltage_bias_v_q5{suffix}": 0,
        }
    return body


def _offgrid(snapshot: Snapshot) -> JsonValue:
    """What the batteries regulate while they form the grid (zeros on grid)."""
    active = not snapshot.connected
    phase = snapshot.flows.phases[0]
    body: dict[str, JsonValue] = {
        "F": snapshot.flows.frequency_hz if active else 0.0,
        "V": phase.voltage_v if active else 0.0,
        "Vd_neg": 0.0,
        "Vq_neg": 0.0,
        "Vd_zero": 0.0,
        "Vq_zero": 0.0,
        "is_active": active,
        "is_system_balanced": True,
    }
    if has(snapshot.profile, Change.SECCTRL_R3_TO_R4):
        body["seq_reset_needed"] = False
    return body


def _charge(snapshot: Snapshot) -> dict[str, JsonValue]:
    profile, plant = snapshot.profile, snapshot.plant
    capacity = round(plant.battery_capacity_wh)
    stored = round(plant.stored_wh)
    iq = bool(profile.iq_batteries)
    acb = bool(profile.ac_batteries)
    reserve = round(plant.reserve_pct) if iq else 0
    return {
        "configured_backup_soc": reserve,
        "adjusted_backup_soc": reserve,
        "agg_soc": snapshot.soc if profile.battery_count else 0,
        "Max_energy": capacity,
        "ENC_agg_soc": snapshot.soc if iq else 0,
        "ENC_agg_soh": 100 if iq else 0,
        "ENC_agg_backup_energy": capacity * reserve // 100 if iq else 0,
        "ENC_agg_avail_energy": stored if iq else 0,
        "Enc_commissioned_capacity": capacity if iq else 0,
        "Enc_max_available_capacity": capacity if iq else 0,
        "ACB_agg_soc": snapshot.soc if acb else 0,
        "ACB_agg_energy": stored if acb else 0,
    }


def secctrl_body(snapshot: Snapshot) -> dict[str, JsonValue]:
    """The secondary-control object of ``secctrl`` and ``status``."""
    profile = snapshot.profile
    body: dict[str, JsonValue] = {"shutdown": snapshot.flows.shutdown, **_bias()}
    if has(profile, Change.SECCTRL_OFFGRID):
        body["offgrid_secctrl"] = _offgrid(snapshot)
    body |= _charge(snapshot)
    if has(profile, Change.SECCTRL_SOC_RECOVERY):
        body |= {
            "VLS_Limit": settings.very_low_soc(profile),
            "soc_rec_enabled": bool(profile.iq_batteries),
            "soc_recovery_entry": 0,
            "soc_recovery_exit": 10,
            "Commission_in_progress": False,
            "ESS_in_progress": False,
        }
    if has(profile, Change.SECCTRL_R3_TO_R4):
        body["ESS_R3_To_R4_in_progress"] = False
    return body


def secctrl(snapshot: Snapshot) -> bytes:
    """``/ivp/ensemble/secctrl``: aggregate charge, energy and backup reserve."""
    return dumps(secctrl_body(snapshot))


def relay_body(snapshot: Snapshot) -> dict[str, JsonValue]:
    """The relay object of ``relay`` and ``status``: commanded and actual state."""
    profile = snapshot.profile
    relay = snapshot.plant.relay
    srt = has(profile, Change.RELAY_SRT)
    body: dict[str, JsonValue] = {
        "mains_admin_state": "closed" if relay.commanded_closed else "open",
        "mains_oper_state": relay.state(snapshot.now).value,
    }
    if srt:
        body |= {"srt12_state": "open", "srt13_state": "open"}
    body |= {"der1_state": 1 if profile.grid_relay else 0, "der2_state": 0}
    if srt:
        body["der3_state"] = 0
    body["Enchg_grid_mode"] = _grid_mode(snapshot) if profile.iq_batteries else "unknown"
    body["Solar_grid_mode"] = _grid_mode(snapshot) if profile.grid_relay else "unknown"
    return body


def relay(snapshot: Snapshot) -> bytes:
    """``/ivp/ensemble/relay``."""
    return dumps(relay_body(snapshot))


# --- /ivp/ensemble/status -----------------------------------------------------------------


def _submodules(snapshot: Snapshot, serial: str, kind: int) -> dict[str, JsonValue]:
    """A battery's management unit and inverter, or the controller's relay and comms boards."""
    if kind == 13:
        boards = [
            (f"{serial[:-2]}91", "620-99291-r01", 16),
            (f"{serial[:-2]}92", "800-99335-r01", 14),
        ]
    else:
        boards = [
            (f"{serial[:-2]}91", "800-99346-r01", 18),
            (esub_serial(snapshot), "800-99855-r01", 20),
        ]
    return {
        board: {
            "device_type": board_kind,
            "admin_state": 1,
            "part_number": part,
            "assembly_number": part,
            "dmir": {"part_number": "546-99003-01", "assembly_number": "01"},
            "procload": {"part_number": "522-99003-01", "assembly_number": _CONTROLLER_FIRMWARE},
        }
        for board, part, board_kind in boards
    }


def _status_device(
    snapshot: Snapshot, serial: str, kind: int, state: tuple[int, str], extra: dict[str, JsonValue]
) -> dict[str, JsonValue]:
    entry: dict[str, JsonValue] = {"device_type": kind}
    if has(snapshot.profile, Change.STATUS_DEVICE_ID):
        entry |= {"com_interface_str": "CAN" if kind == 13 else "ZigBee", "device_id": serial}
    entry |= {"admin_state": state[0], "admin_state_str": state[1], **extra}
    firmware = _BATTERY_FIRMWARE if kind == 13 else _CONTROLLER_FIRMWARE
    entry |= {
        "msg_retry_count": 0,
        "part_number": "830-99760-r01" if kind == 13 else "861-99381-r01",
        "assembly_number": "890-99023-r01" if kind == 13 else "883-99381-r01",
        "app_fw_version": firmware,
        "zb_fw_version": "1010",
        "zb_bootloader_vers": "1.C.1",
        "ibl_fw_version": "1.3.500",
        "swift_asic_fw_version": "001.002.1.9.0" if kind == 13 else "",
        "bmu_fw_version": "3.8.70" if kind == 13 else "",
    }
    modules = _submodules(snapshot, serial, kind)
    entry |= {"submodule_count": len(modules), "submodules": modules}
    return entry


def _status_inventory(snapshot: Snapshot) -> dict[str, JsonValue]:
    profile = snapshot.profile
    serials: dict[str, JsonValue] = {}
    for serial in iq_serials(snapshot):
        serials[serial] = _status_device(
            snapshot,
            serial,
            13,
            (6, "ENCHG_STATE_READY"),
            {
                "reported_grid_mode": "grid-tied" if snapshot.connected else "grid-forming",
                "phase": 1,
                "encharge_revision": 3,
                "encharge_capacity": round(profile.battery_capacity_wh),
                "encharge_rated_power": round(profile.battery_power_w),
            },
        )
    if profile.system_controller:
        state = (
            (24, "ENPWR_STATE_OPER_CLOSED") if snapshot.connected else (25, "ENPWR_STATE_OPER_OPEN")
        )
        serials[controller_serial(snapshot)] = _status_device(
            snapshot, controller_serial(snapshot), 17, state, {}
        )
    return {"serial_nums": serials}


#: The back end's counters that 7.x lists: requests of a path, or one tick per poll cycle.
_COUNTED_REQUESTS = {
    "rest_StatusGet": STATUS,
    "rest_InventoryGet": INVENTORY,
    "rest_SecCtrlGet": SECCTRL,
    "rest_Power": POWER,
}
_ONCE = ("api_ecagtInit", "api_ecagtSetDataModelCache", "zmq_ecaHello", "zmq_meterlog_ok")
_COUNTERS = (
    "api_ecagtInit",
    "api_ecagtTick",
    "api_ecagtGetDeviceCount",
    "api_ecagtGetDeviceInfo",
    "api_ecagtSetSecCtrlBias",
    "api_ecagtGetSecCtrlBias",
    "api_ecagtGetSecCtrlBiasQ",
    "api_ecagtGetRelayState",
    "api_ecagtSetDataModelCache",
    "api_AggNameplate",
    "api_ecagtGetGridFreq",
    "api_ecagtGetGridVolt",
    "api_ecagtGetGridFreq_err_notfound",
    "rest_StatusGet",
    "rest_InventoryGet",
    "rest_SubmodGet",
    "rest_SecCtrlGet",
    "rest_Power",
    "ext_zb_send_msg",
    "txmsg_OBJ_MDL_SECONDARY_CTRL_REQ",
    "zmq_ecaHello",
    "zmq_streamdata",
    "zmq_ecaSecCtrlMsg",
    "zmq_meterlog_ok",
    "dmdl_FILES_INDEXED",
    "backupSocLimitSet",
    "backupSocLimitChanged",
    "api_ecagtGetGenRelayState",
)
#: The back end polls its devices every this many simulated seconds.
_CYCLE_S = 5


def _counters(snapshot: Snapshot) -> dict[str, JsonValue]:
    cycles = int(snapshot.uptime_s // _CYCLE_S)
    counters: dict[str, JsonValue] = {}
    for name in _COUNTERS:
        path = _COUNTED_REQUESTS.get(name)
        if path is not None:
            counters[name] = snapshot.requests.get(path, 0)
        else:
            counters[name] = 1 if name in _ONCE else cycles
    return counters


def status(snapshot: Snapshot) -> bytes:
    """``/ivp/ensemble/status``: devices, secondary control and relay (7.x adds counters)."""
    old = has(snapshot.profile, Change.STATUS_COUNTERS)
    body: dict[str, JsonValue] = {"inventory": _status_inventory(snapshot)}
    if old:
        body["counters"] = _counters(snapshot)
    body |= {"secctrl": secctrl_body(snapshot), "relay": relay_body(snapshot)}
    if old:
        body |= {
            "profile": {"message": "Obsolete API, please use ivp/arf/profile"},
            "fakeit": {"fake_inventory_mode": False},
        }
    return dumps(body)


# --- dry contacts and generator -----------------------------------------------------------


def dry_contacts(snapshot: Snapshot) -> bytes:
    """``/ivp/ensemble/dry_contacts``: each contact's state (see
    :class:`~enphase_local.simulator.contacts.DryContactBank`)."""
    bank = snapshot.contacts
    contacts: list[JsonValue] = [
        {
            "id": contact_id,
            "status": bank.status(
                contact_id,
                now=snapshot.now,
                connected=snapshot.connected,
                soc_pct=snapshot.plant.soc_pct,
            ),
        }
        for contact_id in bank.entries
    ]
    return dumps({"dry_contacts": contacts})


def generator(snapshot: Snapshot) -> bytes:
    """``/ivp/ensemble/generator``: the generator's relay and start levels (or none)."""
    body: dict[str, JsonValue]
    if snapshot.profile.generator_w:
        relay = "closed" if snapshot.plant.generator.running else "open"
        body = {
            "admin_state": relay,
            "oper_state": relay,
            "admin_mode": 2,
            "schedule": 1,
            "start_soc": GENERATOR_START_SOC,
            "stop_soc": GENERATOR_STOP_SOC,
        }
    else:
        body = {
            "admin_state": "unknown",
            "oper_state": "open",
            "admin_mode": 0,
            "schedule": 0,
            "start_soc": 100,
            "stop_soc": -1,
        }
    present = 1 if snapshot.profile.generator_w else 0
    return dumps({**body, "exc_on": 0, "present": present, "type": 1})
