"""Sample bodies written from the vendor brief's appendices and GATEWAY-FACTS.md.

The brief's samples carry comments and unquoted keys (artefacts of the document); these are
the same bodies as real JSON. Tests change copies of them with :func:`json_body`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

INFO_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<envoy_info>
<time>1658403712</time>
<device>
<sn>122125067699</sn>
<pn>800-00654-r06</pn>
<software>D7.4.22</software>
<euaid>4c8675</euaid>
<seqnum>0</seqnum>
<apiver>1</apiver>
<imeter>true</imeter>
</device>
<web-tokens>true</web-tokens>
<package name="rootfs">
<pn>500-00001-r01</pn>
<version>02.00.00</version>
<build>1210</build>
</package>
<package name="app">
<pn>500-00002-r01</pn>
<version>07.04.22</version>
<build>d153a8</build>
</package>
<build_info>
<build_id>
ec2-user-envoy_uber-pkg_master:pkg-Jul-18-22-08:54:12
</build_id>
<build_time_gmt>1658134579</build_time_gmt>
<release_ver>02.00.2923</release_ver>
<release_stage>100-DEV</release_stage>
</build_info>
</envoy_info>
"""

# A 3.x reply: single quotes, two-space indentation, no imeter, no web-tokens, no build_info.
INFO_XML_LEGACY = b"""<?xml version='1.0' encoding='UTF-8'?>
<envoy_info>
  <time>1691342592</time>
  <device>
    <sn>121430030548</sn>
    <pn>800-00069-r05</pn>
    <software>R3.9.36</software>
    <euaid>4c8675</euaid>
    <seqnum>0</seqnum>
    <apiver>1</apiver>
  </device>
  <package name='devimg'>
    <build>033b78</build>
    <version>01.02.245</version>
    <pn>500-00004-r01</pn>
  </package>
</envoy_info>
"""

DEVICE_LIST: dict[str, Any] = {
    "usb": {"ck2_bridge": "connected", "auto_scan": "false"},
    "devices": [
        {
            "serial_number": "492203008650",
            "device_type": 13,
            "com_interface": 2,
            "com_interface_str": "CAN",
            "status": "Connected",
            "dev_info": {"capacity": 4960, "DER_Index": 1},
        },
        {
            "serial_number": "122132000709",
            "device_type": 0,
            "com_interface": 2,
            "status": "Unknown",
        },
    ],
}

METERS: list[dict[str, Any]] = [
    {
        "eid": 704643328,
        "state": "enabled",
        "measurementType": "production",
        "phaseMode": "split",
        "phaseCount": 2,
        "meteringStatus": "normal",
        "statusFlags": [],
    },
    {
        "eid": 704643584,
        "state": "enabled",
        "measurementType": "net-consumption",
        "phaseMode": "split",
        "phaseCount": 2,
        "meteringStatus": "normal",
        "statusFlags": [],
    },
]


def _meter_values(eid: int, power: float, voltage: float) -> dict[str, Any]:
    return {
        "eid": eid,
        "timestamp": 1654218661,
        "actEnergyDlvd": 803639.138,
        "actEnergyRcvd": 2.650,
        "apparentEnergy": 823442.481,
        "reactEnergyLagg": 26264.291,
        "reactEnergyLead": 9545.452,
        "instantaneousDemand": power,
        "activePower": power,
        "apparentPower": 2663.476,
        "reactivePower": -2663.476,
        "pwrFactor": 0.025,
        "voltage": voltage,
        "current": 21.622,
        "freq": 59.188,
    }


# Appendix D: a split-phase production meter (channel 3 unused) and a storage meter at rest,
# whose powers are -0.0 as on real gateways.
METER_READINGS: list[dict[str, Any]] = [
    {
        **_meter_values(704643328, 132.118, 246.377),
        "channels": [
            _meter_values(1778385169, 66.037, 123.184),
            _meter_values(1778385170, 66.082, 123.193),
            _meter_values(1778385171, 0.0, 0.0),
        ],
    },
    {
        **_meter_values(704643840, -0.0, 246.338),
        "reactivePower": -0.0,
        "channels": [
            _meter_values(1778385425, -0.0, 123.152),
            _meter_values(1778385426, -0.0, 123.186),
            _meter_values(1778385427, 0.0, 0.0),
        ],
    },
]

PRODUCTION: dict[str, Any] = {
    "wattHoursToday": 21674,
    "wattHoursSevenDays": 719543,
    "wattHoursLifetime": 1608587,
    "wattsNow": 227,
}


def _counters(today: int, seven: int, lifetime: int, now: int) -> dict[str, int]:
    return {
        "wattHoursToday": today,
        "wattHoursSevenDays": seven,
        "wattHoursLifetime": lifetime,
        "wattsNow": now,
    }


# Appendix F, with consumption at the top level as real gateways send it.
ENERGY: dict[str, Any] = {
    "production": {
        "pcu": _counters(13251, 91306, 8250671, 596),
        "rgm": _counters(0, 0, 0, 0),
        "eim": _counters(13100, 90000, 8200000, 590),
    },
    "consumption": {"eim": _counters(20000, 150000, 9000000, 1200)},
}

INVERTERS: list[dict[str, Any]] = [
    {
        "serialNumber": "121935144671",
        "lastReportDate": 1654171836,
        "devType": 1,
        "lastReportWatts": 15,
        "maxReportWatts": 38,
    },
    {
        "serialNumber": "121935144672",
        "lastReportDate": 1654171866,
        "devType": 1,
        "lastReportWatts": 16,
        "maxReportWatts": 39,
    },
]


def _live_power(total_mw: int, total_mva: int) -> dict[str, int]:
    return {
        "agg_p_mw": total_mw,
        "agg_s_mva": total_mva,
        "agg_p_ph_a_mw": total_mw,
        "agg_p_ph_b_mw": 0,
        "agg_p_ph_c_mw": 0,
        "agg_s_ph_a_mva": total_mva,
        "agg_s_ph_b_mva": 0,
        "agg_s_ph_c_mva": 0,
    }


# Appendix H, with the pv keys spelled as in the brief (_kw/_kva, still milli-units).
LIVE_DATA: dict[str, Any] = {
    "connection": {
        "mqtt_state": "connected",
        "prov_state": "configured",
        "auth_state": "ok",
        "sc_stream": "enabled",
        "sc_debug": "enabled",
    },
    "meters": {
        "last_update": 1654221647,
        "soc": 100,
        "main_relay_state": 0,
        "gen_relay_state": 5,
        "backup_bat_mode": 1,
        "backup_soc": 10,
        "is_split_phase": 1,
        "phase_count": 0,
        "enc_agg_soc": 100,
        "enc_agg_energy": 24800,
        "acb_agg_soc": 0,
        "acb_agg_energy": 0,
        "pv": {
            "agg_p_kw": 329549,
            "agg_s_kva": 329549,
            "agg_p_ph_a_kw": 329549,
            "agg_p_ph_b_kw": 0,
            "agg_p_ph_c_kw": 0,
            "agg_s_ph_a_kva": 329549,
            "agg_s_ph_b_kva": 0,
            "agg_s_ph_c_kva": 0,
        },
        "storage": _live_power(-220800, -559446),
        "grid": _live_power(0, 0),
        "load": _live_power(108749, -229897),
        "generator": _live_power(0, 0),
    },
    "tasks": {"task_id": 27672012, "timestamp": 1654219883},
    "counters": {"main_CfgLoad": 1, "MqttClient_publish": 10260, "rest_Status": 579},
}


def _report_values(power: float, voltage: float) -> dict[str, float]:
    return {
        "currW": power,
        "actPower": power,
        "apprntPwr": 105.678,
        "reactPwr": -261.046,
        "whDlvdCum": 43110.122,
        "whRcvdCum": 0.000,
        "varhLagCum": -25071.856,
        "varhLeadCum": 35895.778,
        "vahCum": 192725.807,
        "rmsVoltage": voltage,
        "rmsCurrent": 0.875,
        "pwrFactor": 1.00,
        "freqHz": 60.00,
    }


CONSUMPTION_REPORT: dict[str, Any] = {
    "createdAt": 1654625079,
    "reportType": "net-consumption",
    "cumulative": _report_values(119.423, 241.427),
    "lines": [_report_values(56.672, 120.673), _report_values(62.751, 120.753)],
}

GRID_READINGS: list[dict[str, Any]] = [
    {
        "channels": [
            {
                "phase": "L1",
                "activePower": -658.588,
                "reactivePower": -60.154,
                "voltage": 229.632,
                "current": 2.885,
                "freq": 50.000,
            },
            {
                "phase": "L2",
                "activePower": -676.405,
                "reactivePower": -67.361,
                "voltage": 230.234,
                "current": 2.939,
                "freq": 50.000,
            },
            {
                "phase": "L3",
                "activePower": -687.344,
                "reactivePower": -62.442,
                "voltage": 230.654,
                "current": 2.996,
                "freq": 50.000,
            },
        ]
    }
]


def json_body(sample: Any) -> bytes:
    """The sample encoded as a body."""
    return json.dumps(sample).encode()


def mutable(sample: Any) -> Any:
    """A deep copy of a sample, to change in one test."""
    return copy.deepcopy(sample)
