"""The bodies a gateway sends, in the exact wire shapes of the brief and the captures.

JSON key names, nesting and types follow the real device: energy registers and measurements
are floats printed with three decimals, ``/api/v1/*`` and ``/ivp/pdm/energy`` counters are
integers, live data is in integer milli-units (mW, mVA). Split-phase meters still list a
third, all-zero channel (with the frequency filled in), as real ones do.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from enphase_local.simulator.firmware import Change, has
from enphase_local.simulator.physics import EnergyCounter, Flows, PhaseFlow, Plant
from enphase_local.simulator.profiles import (
    CHANNEL_EID_OFFSET,
    METER_EIDS,
    MeterType,
    Profile,
)
from enphase_local.simulator.wire import Fixed, JsonValue, dumps

#: The front server's name, in ``Server`` headers and error pages.
SERVER = "openresty/1.17.8.1"

CHECK_JWT_OK = b"<!DOCTYPE html><h2>Valid token.</h2>"

#: ``/ivp/*`` 404 of firmware 5 and later (no Content-Type).
NOT_FOUND_ERR = b' { "err": "404 - Not Found" }\n'
#: 404 of firmware 3.x and some 5.x paths (``application/json; charset=ISO-8859-4``).
NOT_FOUND_ERROR = b'{ "error" : "404 - Not Found" }\n'
NOT_FOUND_ERROR_TYPE = "application/json; charset=ISO-8859-4"

#: Body of a digest 401 on legacy firmware (``application/json``).
LEGACY_DIGEST_401 = dumps(
    {"status": 401, "error": "", "info": "Authentication required", "moreInfo": ""}, indent=2
)
#: Body of an installer-only page on legacy firmware (``text/plain``).
LEGACY_INSTALLER_401 = b"Error: 401"
#: Body of a digest 401 on a legacy web page such as ``/production`` (``text/html``).
LEGACY_PAGE_401 = b"<html><body><h2>401 Unauthorized</h2></body></html>\n"
#: When the simulated firmware was built, Unix seconds (``/info`` and ``/home``).
BUILD_EPOCH = 1700000000

#: The old firmware's HTML error page, which it serves with status 200.
PAGE_NOT_FOUND_HTML = b"""    <!DOCTYPE html PUBLIC "-//IETF//DTD HTML 2.0//EN">
    <html>
    <head>
      <link rel="StyleSheet" type="text/css" href="/include/style.css" />
    </head>
    <body>
    <center>
    <h2>Page Not Found</h2>
    <p>The page you tried to view does not exist
     Try the <a href="/">home</a> page</p>
    </center>
    </body>
    </html>
"""


#: The local web UI's page, which the front end may serve instead of an API answer.
WEB_UI_HTML = b"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Envoy</title>
<link rel="stylesheet" href="/css/app.css">
</head>
<body>
<div id="app">Loading...</div>
<script src="/js/app.js"></script>
</body>
</html>
"""


def openresty_page(status: int, reason: str) -> bytes:
    """The front server's own error page, e.g. for 404 or ``504 Gateway Time-out``."""
    return (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>{SERVER}</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


def unauthorized_page(redirect: str) -> bytes:
    """The HTML 401 page whose script sends a browser to ``redirect``."""
    return f"""<html>
<head><title>401 Authorization Required</title></head>
<body>
<center><h1>401 Authorization Required</h1></center>
<hr><center>Redirecting to <a id='link' href=''></a></center>
<script>
const redirect_url = window.location.protocol + '//' + window.location.host + '{redirect}';
function redirect() {{ window.location.href = redirect_url; }}
window.onload = function() {{
    const link = document.getElementById('link');
    link.href = redirect_url;
    link.text = redirect_url;
    setTimeout(redirect, 500);
}}
</script>
</body>
</html>
""".encode()


# --- /info ------------------------------------------------------------------------------

_PACKAGES = (
    ("rootfs", "500-00001-r01", "02.00.00", "1211"),
    ("kernel", "500-00011-r02", "04.04.225", "08bedf"),
    ("boot", "590-00019-r01", "02.00.01", "2569cb"),
    ("app", "500-00002-r01", None, "d123b2"),
    ("devimg", "500-00004-r01", "01.02.550", "66b5c8"),
    ("geo", "500-00008-r01", "02.01.24", "a74d96"),
    ("backbone", "500-00010-r01", "07.00.20", "176d57"),
    ("meter", "500-00013-r01", "03.02.08", "91ea9b"),
    ("agf", "500-00012-r01", "02.02.00", "31d2e7"),
    ("security", "500-00016-r01", "02.00.00", "54a6dc"),
)


def _app_version(software: str) -> str:
    parts = software.lstrip("DRM").split(".")
    return ".".join(f"{int(p):02d}" for p in parts)


def info_xml(profile: Profile, serial: str, now: int) -> bytes:
    """``/info``: the 8.x layout (double quotes, tabs) or the older one (single quotes)."""
    modern = profile.firmware_major >= 8
    quote, pad = ('"', "\t") if modern else ("'", "  ")
    lines = [
        f"<?xml version={quote}1.0{quote} encoding={quote}UTF-8{quote}?>",
        "<envoy_info>",
        f"{pad}<time>{now}</time>",
        f"{pad}<device>",
        f"{pad * 2}<sn>{serial}</sn>",
        f"{pad * 2}<pn>{profile.part_number}</pn>",
        f"{pad * 2}<software>{profile.software}</software>",
        f"{pad * 2}<euaid>4c8675</euaid>",
        f"{pad * 2}<seqnum>0</seqnum>",
        f"{pad * 2}<apiver>1</apiver>",
    ]
    if has(profile, Change.INFO_IMETER):
        lines.append(f"{pad * 2}<imeter>{'true' if profile.imeter else 'false'}</imeter>")
    lines.append(f"{pad}</device>")
    if profile.web_tokens:
        lines.append(f"{pad}<web-tokens>true</web-tokens>")
    for name, part, version, build in _PACKAGES:
        lines += [
            f"{pad}<package name={quote}{name}{quote}>",
            f"{pad * 2}<pn>{part}</pn>",
            f"{pad * 2}<version>{version or _app_version(profile.software)}</version>",
            f"{pad * 2}<build>{build}</build>",
            f"{pad}</package>",
        ]
    lines += [
        f"{pad}<build_info>",
        f"{pad * 2}<build_id>simulated-envoy_uber-pkg:{profile.software}</build_id>",
        f"{pad * 2}<build_time_gmt>{BUILD_EPOCH}</build_time_gmt>",
        f"{pad}</build_info>",
        "</envoy_info>",
    ]
    return ("\n".join(lines) + "\n").encode()


# --- meters and readings ------------------------------------------------------------------


def meters(profile: Profile) -> bytes:
    """``/ivp/meters``: one entry per installed CT (``[]`` without CTs)."""
    return dumps(
        [
            {
                "eid": METER_EIDS[meter],
                "state": "enabled",
                "measurementType": meter.value,
                "phaseMode": profile.phase_mode,
                "phaseCount": profile.phase_count,
                "meteringStatus": "normal",
                "statusFlags": [],
            }
            for meter in profile.meters
        ]
    )


class Measure:
    """One CT channel's instantaneous values, computed once and rendered in several shapes.

    ``p`` W, ``q`` VAr, ``s`` VA, ``v`` V, ``i`` A.
    """

    def __init__(self, phase: PhaseFlow | None, meter: MeterType, frequency_hz: float) -> None:
        self.frequency_hz = frequency_hz
        if phase is None:  # an unused phase: all zero
            self.p = self.q = self.s = self.v = self.i = 0.0
            return
        self.p, self.q = phase.power(meter)
        if meter in (MeterType.PRODUCTION, MeterType.STORAGE) and self.p == 0:
            self.p = self.q = -0.0  # an idle CT reads negative zero on the real device
        self.s = math.hypot(self.p, self.q)
        self.v = phase.voltage_v
        self.i = self.s / self.v

    @property
    def pf(self) -> float:
        return self.p / self.s if self.s else 0.0


def _channel_dict(eid: int, now: int, counter: EnergyCounter | None, m: Measure) -> JsonValue:
    c = counter or EnergyCounter()
    return {
        "eid": eid,
        "timestamp": now,
        "actEnergyDlvd": c.delivered_wh,
        "actEnergyRcvd": c.received_wh,
        "apparentEnergy": c.apparent_vah,
        "reactEnergyLagg": c.lagging_varh,
        "reactEnergyLead": c.leading_varh,
        "instantaneousDemand": m.p,
        "activePower": m.p,
        "apparentPower": m.s,
        "reactivePower": m.q,
        "pwrFactor": m.pf,
        "voltage": m.v,
        "current": m.i,
        "freq": m.frequency_hz,
    }


def phase_measures(flows: Flows, meter: MeterType) -> list[Measure]:
    """What the CT of type ``meter`` measures on each phase in use."""
    return [Measure(p, meter, flows.frequency_hz) for p in flows.phases]


def _measures(flows: Flows, meter: MeterType) -> list[Measure]:
    """Three channels: the phases in use, then zero channels."""
    used = phase_measures(flows, meter)
    return used + [Measure(None, meter, flows.frequency_hz)] * (3 - len(used))


def _total(values: list[float]) -> float:
    return math.fsum(values)


def summed(measures: list[Measure]) -> Measure:
    """A CT as a whole: powers and currents add up, and so do the phase voltages (the device
    adds them)."""
    total = Measure(None, MeterType.PRODUCTION, measures[0].frequency_hz)
    total.p = _total([m.p for m in measures])
    total.q = _total([m.q for m in measures])
    total.s = _total([m.s for m in measures])
    total.v = _total([m.v for m in measures])
    total.i = _total([m.i for m in measures])
    return total


def summed_counter(counters: list[EnergyCounter]) -> EnergyCounter:
    """The registers of a CT as a whole."""
    return EnergyCounter(
        delivered_wh=_total([c.delivered_wh for c in counters]),
        received_wh=_total([c.received_wh for c in counters]),
        apparent_vah=_total([c.apparent_vah for c in counters]),
        lagging_varh=_total([c.lagging_varh for c in counters]),
        leading_varh=_total([c.leading_varh for c in counters]),
    )


def meter_readings(plant: Plant, flows: Flows, now: int) -> bytes:
    """``/ivp/meters/readings``: per CT an aggregate and three channels."""
    items = []
    order = plant.profile.meters
    for meter in reversed(order) if plant.profile.reorders_readings else order:
        eid = METER_EIDS[meter]
        counters = plant.registers(meter)
        measures = _measures(flows, meter)
        channels = [
            _channel_dict(
                eid + CHANNEL_EID_OFFSET + k + 1,
                now,
                counters[k] if k < len(counters) else None,
                m,
            )
            for k, m in enumerate(measures)
        ]
        item = _channel_dict(eid, now, summed_counter(counters), summed(measures))
        assert isinstance(item, dict)
        item["channels"] = channels
        items.append(item)
    return dumps(items)


def grid_readings(plant: Plant, flows: Flows) -> bytes:
    """``/ivp/meters/gridReading``: per phase V, A, Hz, W, VAr at the grid connection."""
    if MeterType.NET_CONSUMPTION not in plant.profile.meters:
        return dumps([])
    measures = _measures(flows, MeterType.NET_CONSUMPTION)
    return dumps(
        [
            {
                "channels": [
                    {
                        "phase": f"L{k + 1}",
                        "activePower": m.p,
                        "reactivePower": m.q,
                        "voltage": m.v,
                        "current": m.i,
                        "freq": m.frequency_hz,
                    }
                    for k, m in enumerate(measures)
                ]
            }
        ]
    )


def pv_readings(plant: Plant, flows: Flows) -> bytes:
    """``/ivp/meters/pvReading``: per phase W, V, A, Hz of the production CT."""
    if MeterType.PRODUCTION not in plant.profile.meters:
        return dumps([])
    channels: list[JsonValue] = [
        {
            "phase": f"L{k + 1}",
            "activePower": m.p,
            "voltage": m.v,
            "current": m.i,
            "freq": m.frequency_hz,
        }
        for k, m in enumerate(_measures(flows, MeterType.PRODUCTION))
    ]
    return dumps([{"channels": channels}])


def _report_line(counter: EnergyCounter, m: Measure, signed: bool) -> dict[str, JsonValue]:
    sign = -1.0 if signed and m.p < 0 else 1.0
    return {
        "currW": m.p,
        "actPower": m.p,
        "apprntPwr": sign * m.s,
        "reactPwr": m.q,
        "whDlvdCum": counter.delivered_wh,
        "whRcvdCum": counter.received_wh,
        "varhLagCum": counter.lagging_varh,
        "varhLeadCum": counter.leading_varh,
        "vahCum": counter.apparent_vah,
        "rmsVoltage": m.v,
        "rmsCurrent": sign * m.i,
        "pwrFactor": Fixed(sign * abs(m.pf), 2),
        "freqHz": Fixed(m.frequency_hz, 2),
    }


def _report(plant: Plant, flows: Flows, now: int, meter: MeterType) -> JsonValue:
    counters = plant.registers(meter)
    measures = [Measure(p, meter, flows.frequency_hz) for p in flows.phases]
    signed = meter is MeterType.NET_CONSUMPTION  # net reports sign S and I with the power
    lines = [_report_line(c, m, signed) for c, m in zip(counters, measures, strict=True)]
    cumulative: dict[str, JsonValue] = {}
    for key in lines[0]:
        values = [line[key] for line in lines]
        if key in ("pwrFactor", "freqHz"):
            cumulative[key] = values[0] if key == "freqHz" else _power_factor(lines)
        else:
            cumulative[key] = _total([v for v in values if isinstance(v, float)])
    return {"createdAt": now, "reportType": meter.value, "cumulative": cumulative, "lines": lines}


def _power_factor(lines: list[dict[str, JsonValue]]) -> Fixed:
    power = _total([line["actPower"] for line in lines if isinstance(line["actPower"], float)])
    apparent = _total([abs(s) for line in lines if isinstance(s := line["apprntPwr"], float)])
    return Fixed(power / apparent if apparent else 0.0, 2)


def consumption_reports(plant: Plant, flows: Flows, now: int) -> bytes:
    """``/ivp/meters/reports/consumption``: total- and net-consumption reports."""
    if MeterType.NET_CONSUMPTION not in plant.profile.meters:
        return dumps([])
    return dumps(
        [
            _report(plant, flows, now, MeterType.TOTAL_CONSUMPTION),
            _report(plant, flows, now, MeterType.NET_CONSUMPTION),
        ]
    )


def all_reports(plant: Plant, flows: Flows, now: int) -> bytes:
    """``/ivp/meters/reports``: the production report, then the consumption reports."""
    if MeterType.PRODUCTION not in plant.profile.meters:
        return dumps([])
    kinds = [MeterType.PRODUCTION]
    if MeterType.NET_CONSUMPTION in plant.profile.meters:
        kinds += [MeterType.TOTAL_CONSUMPTION, MeterType.NET_CONSUMPTION]
    return dumps([_report(plant, flows, now, kind) for kind in kinds])


# --- production, energy, inverters --------------------------------------------------------


def inverter_reports(plant: Plant, now: int) -> list[tuple[str, int, int, int]]:
    """(serial, last report time, last report W, max report W) of every microinverter."""
    rows = []
    for inverter in plant.inverters:
        when, watts = plant.inverter_report(inverter, now)
        rows.append((inverter.serial, when, watts, max(inverter.max_report_w, watts)))
    return rows


def inverters(plant: Plant, now: int) -> bytes:
    """``/api/v1/production/inverters``."""
    return dumps(
        [
            {
                "serialNumber": serial,
                "lastReportDate": when,
                "devType": 1,
                "lastReportWatts": watts,
                "maxReportWatts": peak,
            }
            for serial, when, watts, peak in inverter_reports(plant, now)
        ],
        indent=2,
    )


def _counters(today: float, week: float, lifetime: float, now_w: float) -> dict[str, JsonValue]:
    return {
        "wattHoursToday": int(today),
        "wattHoursSevenDays": int(week),
        "wattHoursLifetime": int(lifetime),
        "wattsNow": round(now_w),
    }


_ZERO = _counters(0, 0, 0, 0)


def _pcu(plant: Plant, now: int) -> dict[str, JsonValue]:
    watts = sum(w for _, _, w, _ in inverter_reports(plant, now))
    return _counters(*plant.served("inverters"), watts)


def _eim_production(plant: Plant, flows: Flows) -> dict[str, JsonValue]:
    if MeterType.PRODUCTION not in plant.profile.meters:
        return _ZERO
    # What the production CT reads: batteries on its circuit count too.
    watts = sum(m.p for m in phase_measures(flows, MeterType.PRODUCTION))
    return _counters(*plant.served("production"), watts)


def production(plant: Plant, flows: Flows, now: int) -> bytes:
    """``/api/v1/production``: from the production CT when there is one, else the inverters."""
    if MeterType.PRODUCTION in plant.profile.meters:
        body = _eim_production(plant, flows)
    else:
        body = _pcu(plant, now)
    return dumps(body, indent=2)


def energy(plant: Plant, flows: Flows, now: int) -> bytes:
    """``/ivp/pdm/energy``: inverter (pcu), revenue meter (rgm) and CT (eim) counters."""
    consumption = (
        _counters(*plant.served("consumption"), flows.load_w)
        if MeterType.NET_CONSUMPTION in plant.profile.meters
        else _ZERO
    )
    return dumps(
        {
            "production": {
                "pcu": _pcu(plant, now),
                "rgm": _ZERO,
                "eim": _eim_production(plant, flows),
            },
            "consumption": {"eim": consumption},
        }
    )


# --- live data and devices ----------------------------------------------------------------


def milli(values: Iterable[float]) -> int:
    """The sum of W (or VA) values in the live data's whole milli-units."""
    return round(1000 * sum(values))


def _live_meter(values: list[tuple[float, float]]) -> dict[str, JsonValue]:
    """Aggregate and per-phase (a, b, c) power in mW and mVA from (W, VA) pairs."""
    padded = values + [(0.0, 0.0)] * (3 - len(values))
    body: dict[str, JsonValue] = {
        "agg_p_mw": milli(p for p, _ in values),
        "agg_s_mva": milli(s for _, s in values),
    }
    for letter, (p, _) in zip("abc", padded, strict=True):
        body[f"agg_p_ph_{letter}_mw"] = round(1000 * p)
    for letter, (_, s) in zip("abc", padded, strict=True):
        body[f"agg_s_ph_{letter}_mva"] = round(1000 * s)
    return body


def live_values(plant: Plant, flows: Flows, meter: MeterType) -> list[tuple[float, float]]:
    """Per phase (W, VA) of ``meter`` as the live data report them (none without CTs)."""
    if not plant.profile.meters:
        return []
    return [(m.p, m.s) for m in phase_measures(flows, meter)]


def _live_generator(plant: Plant, flows: Flows) -> list[tuple[float, float]]:
    if not (plant.profile.meters and plant.profile.generator_w):
        return []
    return [(p.generator_w, p.generator_w) for p in flows.phases]


def live_data(plant: Plant, flows: Flows, *, streaming: bool, counters: dict[str, int]) -> bytes:
    """``/ivp/livedata/status`` for the given snapshot (stale while not streaming)."""
    profile = plant.profile
    soc = round(plant.soc_pct)
    battery = profile.battery_count > 0
    stored = round(plant.stored_wh)
    return dumps(
        {
            "connection": {
                "mqtt_state": "connected",
                "prov_state": "configured",
                "auth_state": "ok",
                "sc_stream": "enabled" if streaming else "disabled",
                "sc_debug": "disabled",
            },
            "meters": {
                "last_update": int(flows.time),
                "soc": soc,
                "main_relay_state": 1 if plant.relay.connected(flows.time) else 0,
                "gen_relay_state": 5,
                "backup_bat_mode": 1,
                "backup_soc": round(plant.reserve_pct) if battery else 0,
                "is_split_phase": 1 if profile.phase_mode == "split" else 0,
                "phase_count": profile.phase_count,
                "enc_agg_soc": soc if profile.iq_batteries else 0,
                "enc_agg_energy": stored if profile.iq_batteries else 0,
                "acb_agg_soc": soc if profile.ac_batteries else 0,
                "acb_agg_energy": stored if profile.ac_batteries else 0,
                "pv": _live_meter(live_values(plant, flows, MeterType.PRODUCTION)),
                "storage": _live_meter(live_values(plant, flows, MeterType.STORAGE)),
                "grid": _live_meter(live_values(plant, flows, MeterType.NET_CONSUMPTION)),
                "load": _live_meter(live_values(plant, flows, MeterType.TOTAL_CONSUMPTION)),
                "generator": _live_meter(_live_generator(plant, flows)),
            },
            "tasks": {"task_id": counters["task_id"], "timestamp": int(flows.time)},
            "counters": {
                "main_CfgLoad": 1,
                "main_CfgChanged": 1,
                "main_taskUpdate": counters["task_id"] % 1000,
                "MqttClient_publish": counters["publish"],
                "sc_hdlDataPub": counters["publish"],
                "sc_SendStreamCtrl": counters["stream_ctrl"],
                "rest_Status": counters["rest_status"],
            },
        }
    )


def device_list(plant: Plant) -> bytes | None:
    """``/ivp/ensemble/device_list``, or None when there are no CAN devices (a 404)."""
    if not plant.profile.iq_batteries:
        return None
    devices: list[JsonValue] = [
        {
            "serial_number": serial,
            "device_type": 13,
            "com_interface": 2,
            "com_interface_str": "CAN",
            "status": "Connected",
            "dev_info": {
                "capacity": round(plant.profile.battery_capacity_wh),
                "DER_Index": k % plant.profile.phase_count + 1,
            },
        }
        for k, serial in enumerate(plant.battery_serials)
    ]
    return dumps({"usb": {"ck2_bridge": "connected", "auto_scan": "false"}, "devices": devices})
