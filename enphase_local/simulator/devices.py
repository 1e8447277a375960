"""Bodies that list the site's devices one by one: ``/ivp/pdm/device_data`` and
``/inventory.json``.

Each microinverter's detail agrees with ``/api/v1/production/inverters``: its power and time
are those of its last report, its peak the same maximum, its energy its share of what all the
inverters measured. Microinverters removed from the site stay listed: as gone (``modGone``)
in ``device_data``, and in ``/inventory.json?deleted=1``.
Part numbers are made up (``99`` in the middle), not those of real devices.
"""

from __future__ import annotations

import math

from enphase_local.simulator.bodies import inverter_reports, phase_measures
from enphase_local.simulator.ensemble import esub_serial
from enphase_local.simulator.physics import REPORT_INTERVAL_S
from enphase_local.simulator.profiles import CHANNEL_EID_OFFSET, METER_EIDS, MeterType
from enphase_local.simulator.snapshot import Snapshot
from enphase_local.simulator.wire import JsonValue, compact, dumps

#: ``/ivp/pdm/device_data`` lists at most this many devices (``deviceDataLimit``).
DEVICE_DATA_LIMIT = 50
#: Device ids per kind: a family, then one every 256 (``553648384`` is the first PCU).
_PCU_ID = 0x21000100
_ACB_ID = 0x2B000100
_ESUB_ID = 0x33000100
_ID_STEP = 0x100
#: A device's (first) channel eid is its id plus this (as a meter's channel 1).
_CHANNEL = CHANNEL_EID_OFFSET + 1
#: CT readings are kept per quarter hour.
_QUARTER_S = 900
#: The CTs ``device_data`` lists, as ``EIM1`` and ``EIM2``.
_EIMS = (MeterType.PRODUCTION, MeterType.NET_CONSUMPTION)
#: An AC Battery's sleep band until it is told another (as the captures show), percent.
_ACB_SLEEP_BAND = (25, 30)
_PCU_FIRMWARE = "521-99005-r01-v02.70.00", "549-99040-r01-v02.70.00"


def battery_state(storage_w: float) -> str:
    """``charging``, ``discharging`` or ``idle`` for a battery power (positive: discharging)."""
    if storage_w > 1.0:
        return "discharging"
    return "charging" if storage_w < -1.0 else "idle"


def _pcu_ids(snapshot: Snapshot) -> tuple[list[int], list[int]]:
    """Device ids of the removed microinverters (installed first), then of the present ones."""
    removed = len(snapshot.plant.removed_serials)
    ids = [_PCU_ID + k * _ID_STEP for k in range(removed + len(snapshot.plant.inverters))]
    return ids[:removed], ids[removed:]


# --- /ivp/pdm/device_data -----------------------------------------------------------------


def _empty_channel(eid: int) -> JsonValue:
    return {
        "chanEid": eid,
        "created": 0,
        "wattHours": {"today": 0, "yesterday": 0, "week": 0},
        "watts": {"now": 0, "nowUsed": 0, "max": 0},
        "lastReading": {},
        "lifetime": {},
    }


def _pcu_reading(snapshot: Snapshot, index: int, eid: int, report: tuple[int, int]) -> JsonValue:
    """What the ``index``-th microinverter measured over its last 5-minute report."""
    when, watts = report
    flows = snapshot.plant.flows_at(when)
    phase = flows.phases[index % len(flows.phases)]
    load = watts / snapshot.profile.inverter_rating_w
    dc_v = 30.0 + 8.0 * load
    return {
        "eid": eid,
        "interval_type": 0,
        "endDate": when,
        "duration": REPORT_INTERVAL_S,
        "flags": 0,
        "flags_hex": "0x0000000000000000",
        "joulesProduced": watts * REPORT_INTERVAL_S,
        "acVoltageINmV": round(1000 * phase.voltage_v),
        "acFrequencyINmHz": round(1000 * flows.frequency_hz),
        "dcVoltageINmV": round(1000 * dc_v),
        "dcCurrentINmA": round(1000 * watts / 0.965 / dc_v),
        "channelTemp": round(25 + 20 * load),
        "pwrConvErrSecs": 0,
        "pwrConvMaxErrCycles": 0,
        "joulesUsed": 0,
        "leadingVArs": round(0.02 * watts),
        "laggingVArs": round(0.01 * watts),
        "acCurrentInmA": round(1000 * watts / phase.voltage_v),
        "l1NAcVoltageInmV": 0,
        "l2NAcVoltageInmV": 0,
        "l3NAcVoltageInmV": 0,
        "rssi": 100 + index % 10,
        "issi": 70,
    }


def _pcu(
    snapshot: Snapshot, index: int, device_id: int, report: tuple[str, int, int, int]
) -> JsonValue:
    """The ``index``-th microinverter, from its row of :func:`inverter_reports`."""
    plant = snapshot.plant
    inverter = plant.inverters[index]
    serial, when, watts, peak = report
    today, week, lifetime = plant.served("inverters")
    channel: JsonValue = {
        "chanEid": device_id + _CHANNEL,
        "created": when,
        "wattHours": {
            "today": round(inverter.share * today),
            "yesterday": round(inverter.share * plant.yesterday().inverters_wh),
            "week": round(inverter.share * week),
        },
        "watts": {"now": watts, "nowUsed": 0, "max": peak},
        "lastReading": _pcu_reading(snapshot, index, device_id + _CHANNEL, (when, watts)),
        "lifetime": {
            "createdTime": plant.installed_at,
            "duration": snapshot.now - plant.installed_at,
            "joulesProduced": round(3600 * inverter.share * lifetime),
        },
    }
    return {"devName": "pcu", "sn": serial, "active": True, "modGone": False, "channels": [channel]}


def _gone(serial: str, device_id: int) -> JsonValue:
    channel = _empty_channel(device_id + _CHANNEL)
    return {"devName": "pcu", "sn": serial, "active": False, "modGone": True, "channels": [channel]}


def _eim_channel(
    snapshot: Snapshot, meter: MeterType, phase: int, share: tuple[float, float, float]
) -> JsonValue:
    """One CT phase over the last quarter hour; ``share`` is its (today, yesterday, week) Wh."""
    quarter = snapshot.now - snapshot.now % _QUARTER_S
    eid = METER_EIDS[meter] + _CHANNEL + phase
    counter = snapshot.plant.registers(meter)[phase]
    measure = phase_measures(snapshot.plant.flows_at(quarter), meter)[phase]
    registers = {
        "wh_dlvd_cum": round(counter.delivered_wh),
        "varh_lead_cum": round(counter.leading_varh),
        "varh_lag_cum": round(counter.lagging_varh),
        "vah_cum": round(counter.apparent_vah),
    }
    return {
        "chanEid": eid,
        "created": quarter,
        "wattHours": {
            "today": round(share[0]),
            "yesterday": round(share[1]),
            "week": round(share[2]),
        },
        "watts": {"now": round(measure.p), "nowUsed": 0, "max": round(snapshot.plant.peak_w / 2)},
        "lastReading": {
            "eid": eid,
            "interval_type": 0,
            "endDate": quarter,
            "duration": _QUARTER_S,
            "curr_w": round(measure.p),
            **registers,
            "rms_mvolt": round(1000 * measure.v),
            "rms_mamp": round(1000 * measure.i),
            "freq_mhz": round(1000 * measure.frequency_hz),
            "wh_pos": round(counter.delivered_wh),
            "wh_neg": round(counter.received_wh),
        },
        "lifetime": {
            "createdTime": snapshot.plant.installed_at,
            "duration": snapshot.now - snapshot.plant.installed_at,
            **registers,
        },
    }


def _eim(snapshot: Snapshot, meter: MeterType, number: int) -> JsonValue:
    """A CT as ``device_data`` lists it: a channel per phase in use, then empty ones.

    Real gateways list their CTs with ``modGone: true`` although they are present.
    """
    plant = snapshot.plant
    kind = "production" if meter is MeterType.PRODUCTION else "consumption"
    today, week, _ = plant.served(kind)
    yesterday = getattr(plant.yesterday(), f"{kind}_wh")
    phases = len(plant.counters[meter])
    share = today / phases, yesterday / phases, week / phases
    channels = [_eim_channel(snapshot, meter, k, share) for k in range(phases)]
    first = METER_EIDS[meter] + _CHANNEL
    channels += [_empty_channel(first + k) for k in range(phases, 4)]
    serial = f"{snapshot.serial}EIM{number}"
    return {"devName": "eim", "sn": serial, "active": True, "modGone": True, "channels": channels}


def device_data(snapshot: Snapshot) -> bytes:
    """``/ivp/pdm/device_data``: removed microinverters, present ones, then the CTs.

    At most :data:`DEVICE_DATA_LIMIT` devices are listed; ``deviceCount`` counts them all
    (an assumption: every capture holds fewer devices than the limit).
    """
    gone_ids, present_ids = _pcu_ids(snapshot)
    devices: list[tuple[int, JsonValue]] = [
        (device_id, _gone(serial, device_id))
        for device_id, serial in zip(gone_ids, snapshot.plant.removed_serials, strict=True)
    ]
    reports = inverter_reports(snapshot.plant, snapshot.now)
    devices += [
        (device_id, _pcu(snapshot, k, device_id, report))
        for k, (device_id, report) in enumerate(zip(present_ids, reports, strict=True))
    ]
    meters = [m for m in _EIMS if m in snapshot.profile.meters]
    devices += [(METER_EIDS[m], _eim(snapshot, m, n + 1)) for n, m in enumerate(meters)]
    body: dict[str, JsonValue] = {
        str(device_id): device for device_id, device in devices[:DEVICE_DATA_LIMIT]
    }
    body |= {"deviceCount": len(devices), "deviceDataLimit": DEVICE_DATA_LIMIT}
    return dumps(body)


# --- /inventory.json ----------------------------------------------------------------------


def _listed(
    snapshot: Snapshot, part: str, serial: str, state: int, kind: int
) -> dict[str, JsonValue]:
    installed = str(snapshot.plant.installed_at)
    return {
        "part_num": part,
        "installed": installed,
        "serial_num": serial,
        "device_status": ["envoy.global.ok"],
        "last_rpt_date": str(snapshot.now - snapshot.now % 60),
        "admin_state": state,
        "dev_type": kind,
        "created_date": installed,
        "img_load_date": installed,
        "img_pnum_running": _PCU_FIRMWARE[0],
        "ptpn": _PCU_FIRMWARE[1],
    }


def _microinverters(snapshot: Snapshot) -> list[JsonValue]:
    phases = "abc" if snapshot.profile.phase_count == 3 else "a"
    listed: list[JsonValue] = []
    reports = inverter_reports(snapshot.plant, snapshot.now)
    for k, ((serial, when, watts, _), device_id) in enumerate(
        zip(reports, _pcu_ids(snapshot)[1], strict=True)
    ):
        device = _listed(snapshot, "800-99391-r01", serial, 2, 1)
        device |= {
            "last_rpt_date": str(when),
            "chaneid": device_id + _CHANNEL,
            "device_control": [{"gficlearset": False}],
            "producing": watts > 0,
            "communicating": True,
            "provisioned": True,
            "operating": True,
            "phase": f"ph-{phases[k % len(phases)]}",
        }
        listed.append(device)
    return listed


def _removed(snapshot: Snapshot) -> list[JsonValue]:
    """Removed microinverters: failed, silent since a month after installation."""
    listed: list[JsonValue] = []
    last_report = str(snapshot.plant.installed_at + 30 * 86400)
    for serial, device_id in zip(
        snapshot.plant.removed_serials, _pcu_ids(snapshot)[0], strict=True
    ):
        device = _listed(snapshot, "800-99631-r01", serial, 3, 1)
        device |= {
            "device_status": [
                "envoy.cond_flags.pcu_ctrl.dc-pwr-low",
                "envoy.cond_flags.obs_strs.failure",
            ],
            "last_rpt_date": last_report,
            "chaneid": device_id + _CHANNEL,
            "device_control": [{"gficlearset": False}],
        }
        listed.append(device)
    return listed


def _ac_batteries(snapshot: Snapshot) -> list[JsonValue]:
    profile, plant = snapshot.profile, snapshot.plant
    state = battery_state(snapshot.flows.storage_w)
    listed: list[JsonValue] = []
    for k, serial in enumerate(plant.battery_serials[: profile.ac_batteries]):
        device = _listed(snapshot, "800-99930-r01", serial, 2, 11)
        # Told to sleep, it keeps its band; asleep (in the band) it carries no power.
        low, high = plant.acb_sleep.get(serial, _ACB_SLEEP_BAND)
        own = "idle" if plant.asleep(serial) else state
        device |= {
            "chaneid": _ACB_ID + k * _ID_STEP + _CHANNEL,
            "device_control": [{"gficlearset": False}],
            "producing": own == "discharging",
            "communicating": True,
            "provisioned": True,
            "operating": True,
            "sleep_enabled": serial in plant.acb_sleep,
            "percentFull": snapshot.soc,
            "maxCellTemp": 22 + math.floor(abs(snapshot.flows.storage_w) / 100),
            "sleep_min_soc": low,
            "sleep_max_soc": high,
            "charge_status": own,
        }
        listed.append(device)
    return listed


def _esubs(snapshot: Snapshot) -> list[JsonValue]:
    """The System Controller's communications board."""
    if not snapshot.profile.system_controller:
        return []
    device = _listed(snapshot, "800-99855-r01", esub_serial(snapshot), 1, 19)
    device |= {
        "chaneid": _ESUB_ID + _CHANNEL,
        "device_control": [{"gficlearset": False}],
        "producing": False,
        "communicating": True,
        "operating": True,
    }
    return [device]


def inventory_json(snapshot: Snapshot) -> bytes:
    """``/inventory.json``: microinverters, AC Batteries, Q-relays and ESUBs;
    ``?deleted=1`` adds the removed microinverters."""
    pcus = _microinverters(snapshot)
    if snapshot.query.get("deleted") == "1":
        pcus += _removed(snapshot)
    return compact(
        [
            {"type": "PCU", "devices": pcus},
            {"type": "ACB", "devices": _ac_batteries(snapshot)},
            {"type": "NSRB", "devices": []},
            {"type": "ESUB", "devices": _esubs(snapshot)},
        ]
    )
