"""Sample bodies of the endpoints beyond the vendor brief, with made-up values.

Key names and shapes follow GATEWAY-FACTS.md and what the captures show; every value (serials,
part numbers, readings, dates) is invented here. Tests change copies of them.
"""

from __future__ import annotations

from typing import Any

_OK = ["envoy.global.ok", "prop.done"]


def _ensemble_device(serial: str, part: str, state: int, label: str) -> dict[str, Any]:
    return {
        "part_num": part,
        "serial_num": serial,
        "installed": 1700000000,
        "device_status": _OK,
        "last_rpt_date": 1700086400,
        "admin_state": state,
        "admin_state_str": label,
        "created_date": 1700000000,
        "img_load_date": 0,
        "img_pnum_running": "9.9.1000_rel/99.10",
        "communicating": True,
        "comm_level_sub_ghz": 4,
        "comm_level_2_4_ghz": 3,
    }


def _battery(serial: str, temperature: object) -> dict[str, Any]:
    return _ensemble_device(serial, "836-00000-r01", 6, "ENCHG_STATE_READY") | {
        "bmu_fw_version": "9.9.9",
        "sleep_enabled": False,
        "percentFull": 57,
        "temperature": temperature,
        "maxCellTemp": 24,
        "reported_enc_grid_state": "grid-tied",
        "led_status": 12,
        "dc_switch_off": False,
        "encharge_rev": 3,
        "encharge_capacity": 3500,
        "phase": "ph-b",
        "der_index": 1,
    }


ENSEMBLE_INVENTORY: list[Any] = [
    {
        "type": "ENCHARGE",
        "devices": [_battery("900000000001", 23), _battery("900000000002", "unknown")],
    },
    {
        "type": "ENPOWER",
        "devices": [
            _ensemble_device("900000000010", "860-00000-r01", 24, "ENPWR_STATE_OPER_CLOSED")
            | {
                "temperature": 95,  # °F
                "mains_admin_state": "closed",
                "mains_oper_state": "open synchronizing",
                "Enpwr_grid_mode": "multimode-ongrid",
                "Enchg_grid_mode": "multimode-ongrid",
                "Enpwr_relay_state_bm": 4000,
                "Enpwr_curr_state_id": 16,
            }
        ],
    },
]

ENSEMBLE_POWER: dict[str, Any] = {
    "devices:": [
        {
            "serial_num": "900000000001",
            "real_power_mw": -1250500,
            "apparent_power_mva": 1300000,
            "soc": 57,
        }
    ]
}

_SECCTRL_BIAS = {
    f"{name}{phase}": value
    for phase in ("", "_phaseb", "_phasec")
    for name, value in (
        ("freq_bias_hz", 0.25),
        ("voltage_bias_v", -1.5),
        ("freq_bias_hz_q8", 64),
        ("voltage_bias_v_q5", -48),
    )
}
SECCTRL: dict[str, Any] = {
    "shutdown": False,
    **_SECCTRL_BIAS,
    "offgrid_secctrl": {
        "F": 0.0,
        "V": 0.0,
        "Vd_neg": 0.0,
        "Vq_neg": 0.0,
        "Vd_zero": 0.0,
        "Vq_zero": 0.0,
        "is_active": False,
        "is_system_balanced": True,
    },
    "configured_backup_soc": 25,
    "adjusted_backup_soc": 26,
    "agg_soc": 57,
    "Max_energy": 7000,
    "ENC_agg_soc": 57,
    "ENC_agg_soh": 99,
    "ENC_agg_backup_energy": 1750,
    "ENC_agg_avail_energy": 3990,
    "Enc_commissioned_capacity": 7000,
    "Enc_max_available_capacity": 7000,
    "ACB_agg_soc": 0,
    "ACB_agg_energy": 0,
    "VLS_Limit": 5,
}

RELAY: dict[str, Any] = {
    "mains_admin_state": "closed",
    "mains_oper_state": "closed",
    "der1_state": 1,
    "der2_state": 0,
    "Enchg_grid_mode": "multimode-ongrid",
    "Solar_grid_mode": "unknown",
}

ENSEMBLE_STATUS: dict[str, Any] = {
    "inventory": {
        "serial_nums": {
            "900000000001": {"device_type": 13, "part_number": "830-00000-r01", "phase": 1}
        }
    },
    "counters": {"api_ecagtInit": 1, "rest_StatusGet": 12},
    "secctrl": SECCTRL,
    "relay": RELAY,
    "profile": {"message": "Obsolete API"},
    "fakeit": {"fake_inventory_mode": False},
}

DRY_CONTACTS: dict[str, Any] = {
    "dry_contacts": [{"id": "NC1", "status": "closed"}, {"id": "NO1", "status": "open"}]
}

DRY_CONTACT_SETTINGS: dict[str, Any] = {
    "dry_contacts": [
        {
            "id": "NC1",
            "type": "LOAD",
            "grid_action": "apply",
            "micro_grid_action": "shed",
            "gen_action": "shed",
            "essential_start_time": 3600.0,
            "essential_end_time": 7200.0,
            "priority": 2.0,
            "black_s_start": 5.0,
            "override": "true",
            "manual_override": "false",
            "load_name": "Pool pump",
            "mode": "manual",
            "soc_low": 20.0,
            "soc_high": 80.0,
            "pv_serial_nb": [],
        }
    ]
}

GENERATOR: dict[str, Any] = {
    "admin_state": "closed",
    "oper_state": "closed",
    "admin_mode": 2,
    "schedule": 1,
    "start_soc": 20,
    "stop_soc": 90,
    "exc_on": 0,
    "present": 1,
    "type": 1,
}

GENERATOR_CONFIG: dict[str, Any] = {
    "max_cont_gen_amps": 40.0,
    "min_gen_loading_perc": 10,
    "max_gen_efficiency_perc": 95,
    "name_plate_rating_wat": 12.5,
    "start_method": "auto",
    "warm_up_mins": 3,
    "cool_down_mins": 4,
    "gen_type": "Portable",
    "model": "Example 12.5 kW",
    "manufacturer": "Example",
    "last_updated_by": "ITK",
    "generator_id": "9999999999",
    "charge_from_generator": False,
}

GENERATOR_SCHEDULE: dict[str, Any] = {
    "exercise_config": {"freq_in_weeks": 2, "start": 600, "duration": 15, "day": "Sun"},
    "default_soc": {"start_soc": 20, "stop_soc": 90},
    "schedule": {
        "default": [
            {
                "id": "always_on",
                "start": "1/1",
                "end": "12/31",
                "days": [
                    {
                        "id": "weekdays",
                        "week_days": "Mon,Tue,Wed,Thu,Fri",
                        "periods": [
                            {
                                "id": "normal_1",
                                "start": 60.0,
                                "duration": 120.0,
                                "start_soc": 20.0,
                                "stop_soc": 90.0,
                                "setting": "AON",
                            }
                        ],
                    }
                ],
            }
        ]
    },
    "last_updated_by": "ITK",
}

GENERATOR_MODE: dict[str, Any] = {"gen_cmd": "auto", "last_updated_by": "ITK"}


def _week(setting: str) -> dict[str, Any]:
    return {
        day: [{"start": 0, "duration": 1440, "setting": setting}]
        for day in ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
    }


TARIFF: dict[str, Any] = {
    "tariff": {
        "currency": {"code": "EUR"},
        "logger": "mylogger",
        "date": "1700000000",
        "storage_settings": {
            "mode": "economy",
            "operation_mode_sub_type": "",
            "reserved_soc": 15.0,
            "very_low_soc": 5,
            "charge_from_grid": True,
            "date": "1700000100",
        },
        "single_rate": {"rate": 0.25, "sell": 0.05},
        "seasons": [
            {
                "id": "winter",
                "start": "11/1",
                "days": [
                    {
                        "id": "all_days",
                        "days": "Mon,Tue,Wed,Thu,Fri,Sat,Sun",
                        "must_charge_start": 120,
                        "must_charge_duration": 60,
                        "must_charge_mode": "CG",
                        "enable_discharge_to_grid": False,
                        "periods": [{"id": "period_1", "start": 0, "rate": 0.2}],
                    }
                ],
                "tiers": [{"id": "tier_1", "limit": 500, "rate": 0.3}],
            }
        ],
        "seasons_sell": [],
    },
    "schedule": {
        "source": "Tariff",
        "date": "2023-11-14 22:13:20 UTC",
        "version": "00.00.02",
        "reserved_soc": 15.0,
        "very_low_soc": 5,
        "charge_from_grid": True,
        "battery_mode": "economy",
        "operation_mode_sub_type": "",
        "override": False,
        "override_backup_soc": 30.0,
        "override_chg_dischg_rate": 0.0,
        "override_tou_mode": "StorageTouMode_DEFAULT_TOU_MODE",
        "schedule": {
            "Disable": [{"Mon": [{"start": 0, "duration": 1440, "setting": "ID"}]}],
            "tariff": [{"start": "11/1", "end": "4/1", **_week("CG")}],
        },
    },
}

ACB_CONFIG: dict[str, Any] = {"acb_sleep": [{"serial_num": "900000000020", "sleep_min_soc": 25}]}

PV_LIMIT: dict[str, Any] = {"enable": True, "pv_limit_pct": 60}

EXPORT_LIMIT: dict[str, Any] = {
    "PEL": True,
    "Hard_PEL": False,
    "Soft_PEL": True,
    "Export_Limit_Type": "Aggregate",
    "percent": False,
    "apparent": False,
    "PEL_Limit": 3000.0,
    "Comm_Time_Loss": 30.0,
    "Resp_Time_SoftPEL": 10.0,
    "Resp_Time_HardPEL": 2.0,
    "msReset_HardPEL": 1500.0,
    "PEL_db": 50.0,
}


def _pcu(serial: str, *, gone: bool) -> dict[str, Any]:
    reading: dict[str, Any] = {
        "eid": 1000001,
        "interval_type": 0,
        "endDate": 1700086400,
        "duration": 900,
        "flags": 0,
        "flags_hex": "0x0000000000000000",
        "joulesProduced": 180000,
        "acVoltageINmV": 240125,
        "acFrequencyINmHz": 60010,
        "dcVoltageINmV": 35500,
        "dcCurrentINmA": 5750,
        "channelTemp": 41,
        "pwrConvErrSecs": 0,
        "pwrConvMaxErrCycles": 0,
        "joulesUsed": 0,
        "leadingVArs": 10,
        "laggingVArs": 5,
        "acCurrentInmA": 833,
        "l1NAcVoltageInmV": 0,
        "l2NAcVoltageInmV": 0,
        "l3NAcVoltageInmV": 0,
        "rssi": 90,
        "issi": 60,
    }
    return {
        "devName": "pcu",
        "sn": serial,
        "active": not gone,
        "modGone": gone,
        "channels": [
            {
                "chanEid": 1000001,
                "created": 0 if gone else 1700086400,
                "wattHours": {"today": 900, "yesterday": 1500, "week": 9000},
                "watts": {"now": 200, "nowUsed": 0, "max": 290},
                "lastReading": {} if gone else reading,
                "lifetime": {}
                if gone
                else {"createdTime": 1600000000, "duration": 100000000, "joulesProduced": 3600000},
            }
        ],
    }


DEVICE_DATA: dict[str, Any] = {
    "550000000": _pcu("900000000101", gone=False),
    "550000256": _pcu("900000000102", gone=True),
    "deviceCount": 2,
    "deviceDataLimit": 50,
}


def _summary_line(power: float) -> dict[str, Any]:
    return {
        "wNow": power,
        "whLifetime": 1000000.5,
        "varhLeadLifetime": 10.0,
        "varhLagLifetime": 2000.0,
        "vahLifetime": 1200000.0,
        "rmsCurrent": 8.25,
        "rmsVoltage": 241.5,
        "reactPwr": 50.0,
        "apprntPwr": 2000.0,
        "pwrFactor": 0.98,
        "whToday": 5000.0,
        "whLastSevenDays": 40000.0,
        "vahToday": 5500.0,
        "varhLeadToday": 1.0,
        "varhLagToday": 20.0,
    }


PRODUCTION_SUMMARY: dict[str, Any] = {
    "production": [
        {
            "type": "inverters",
            "activeCount": 12,
            "readingTime": 1700086400,
            "wNow": 1990,
            "whLifetime": 1000100,
        },
        {
            "type": "eim",
            "activeCount": 1,
            "measurementType": "production",
            "readingTime": 1700086410,
            **_summary_line(1985.0),
            "lines": [_summary_line(992.5), _summary_line(992.5)],
        },
    ],
    "consumption": [
        {
            "type": "eim",
            "activeCount": 1,
            "measurementType": "net-consumption",
            "readingTime": 1700086410,
            **_summary_line(-500.0),
        }
    ],
    "storage": [
        {
            "type": "acb",
            "activeCount": 1,
            "readingTime": 1700086400,
            "wNow": -150,
            "whNow": 600,
            "state": "charging",
            "percentFull": 50,
        }
    ],
}

PRODUCTION_PAGE = b"""<html><body><h1>System Energy Production</h1>
<table>
<tr><td colspan="3">System has been live since <div class=good>Mon Jan 02, 2012</div></td></tr>
<tr><td>Currently</td>    <td> 1.25 kW</td></tr><tr><td>Today</td>     <td> 8.10 kWh</td></tr>
<tr><td>Past Week</td>    <td>  61.0 kWh</td></tr>
<tr><td>Since Installation</td> <td> 42.5 MWh</td></tr>
</table></body></html>
"""

DEVICE_INVENTORY: list[Any] = [
    {
        "type": "PCU",
        "devices": [
            {
                "part_num": "800-00000-r01",
                "installed": "1700000000",
                "serial_num": "900000000101",
                "device_status": ["envoy.global.ok"],
                "last_rpt_date": "1700086400",
                "admin_state": 2,
                "dev_type": 1,
                "created_date": "1700000000",
                "img_load_date": "0",
                "img_pnum_running": "520-00000-r01-v09.99.99",
                "ptpn": "540-00000-r01-v09.99.99",
                "chaneid": 1000001,
                "device_control": [{"gficlearset": False}],
                "producing": True,
                "communicating": True,
                "provisioned": True,
                "operating": True,
                "phase": "ph-a",
            }
        ],
    },
    {
        "type": "ACB",
        "devices": [
            {
                "part_num": "800-00000-r02",
                "serial_num": "900000000020",
                "dev_type": 11,
                "percentFull": 50,
                "maxCellTemp": 20,
                "sleep_enabled": False,
                "sleep_min_soc": 25,
                "sleep_max_soc": 30,
                "charge_status": "charging",
            }
        ],
    },
    {"type": "NSRB", "devices": []},
    {"type": "ESUB", "devices": []},
]

HOME: dict[str, Any] = {
    "software_build_epoch": 1700000000,
    "timezone": "Europe/Paris",
    "current_date": "11/15/2023",
    "current_time": "23:10",
    "network": {
        "web_comm": True,
        "ever_reported_to_enlighten": True,
        "last_enlighten_report_time": 1700086000,
        "primary_interface": "eth0",
        "interfaces": [
            {
                "type": "ethernet",
                "interface": "eth0",
                "mac": "00:00:5E:00:53:01",
                "dhcp": True,
                "ip": "192.0.2.10",
                "signal_strength": 1,
                "signal_strength_max": 1,
                "carrier": True,
            }
        ],
    },
    "tariff": "single_rate",
    "comm": {
        "num": 12,
        "level": 4,
        "pcu": {"num": 12, "level": 4},
        "acb": {"num": 0, "level": 0},
        "nsrb": {"num": 0, "level": 0},
        "esub": {"num": 0, "level": 0},
        "encharge": [{"num": 0, "level": 0, "level_24g": 0, "level_subg": 0}],
    },
    "wireless_connection": [
        {"signal_strength": 0, "signal_strength_max": 0, "type": "zigbee", "connected": True}
    ],
}

PV_READINGS: list[Any] = [
    {
        "channels": [
            {"phase": "L1", "activePower": 990.5, "voltage": 240.5, "current": 4.2, "freq": 60.0},
            {"phase": "L2", "activePower": 995.0, "voltage": 241.0, "current": 4.3, "freq": 60.0},
        ]
    }
]
