"""Bodies of the web back end's summary pages: ``/production.json``, ``/production`` and
``/home``.

``/production.json`` agrees with the faster endpoints: its inverter section with
``/api/v1/production/inverters``, its CT sections with ``/ivp/meters/readings`` (per phase in
``lines``, with ``?details=1``) and their energy with ``/api/v1/production``; its storage
section shows AC Batteries. Firmware before 3.9 has only the HTML page ``/production``; 5.x
guards that page with digest auth; from 7 on ``/production`` is the JSON again.
"""

from __future__ import annotations

import datetime as dt
import html

from enphase_local.simulator.bodies import (
    BUILD_EPOCH,
    Measure,
    inverter_reports,
    phase_measures,
    summed,
    summed_counter,
)
from enphase_local.simulator.devices import battery_state
from enphase_local.simulator.physics import EnergyCounter
from enphase_local.simulator.profiles import MeterType
from enphase_local.simulator.snapshot import Snapshot
from enphase_local.simulator.wire import compact

#: ``/production.json`` sections per CT: (list, measurementType, energy ``served`` kind).
_SECTIONS = (
    ("production", MeterType.PRODUCTION, "production"),
    ("consumption", MeterType.TOTAL_CONSUMPTION, "consumption"),
    ("consumption", MeterType.NET_CONSUMPTION, "consumption"),
)


def _inverters(snapshot: Snapshot) -> dict[str, object]:
    reports = inverter_reports(snapshot.plant, snapshot.now)
    return {
        "type": "inverters",
        "activeCount": len(reports),
        "readingTime": max(when for _, when, _, _ in reports),
        "wNow": sum(watts for _, _, watts, _ in reports),
        "whLifetime": int(snapshot.plant.served("inverters")[2]),
    }


def _line(
    measure: Measure, counter: EnergyCounter, energy: tuple[float, float, float], *, net: bool
) -> dict[str, object]:
    """One phase (or, summed, the whole CT): ``energy`` is its (today, week, lifetime) Wh.

    Net consumption counts energy both ways and reports no daily figures; its apparent power,
    current and power factor carry the sign of its power.
    """
    today, week, lifetime = energy
    scale = today / lifetime if lifetime else 0.0
    sign = -1.0 if net and measure.p < 0 else 1.0
    factor = measure.pf if not net else sign * abs(measure.pf)
    daily: dict[str, object] = {
        "whToday": round(today, 3),
        "whLastSevenDays": round(week, 3),
        "vahToday": round(scale * counter.apparent_vah, 3),
        "varhLeadToday": round(scale * counter.leading_varh, 3),
        "varhLagToday": round(scale * counter.lagging_varh, 3),
    }
    if net:
        daily = dict.fromkeys(daily, 0)
    return {
        "wNow": round(measure.p, 3),
        "whLifetime": round(lifetime, 3),
        "varhLeadLifetime": round(counter.leading_varh, 3),
        "varhLagLifetime": round(counter.lagging_varh, 3),
        "vahLifetime": round(counter.apparent_vah, 3),
        "rmsCurrent": round(sign * measure.i, 3),
        "rmsVoltage": round(measure.v, 3),
        "reactPwr": round(measure.q, 3),
        "apprntPwr": round(sign * measure.s, 3),
        "pwrFactor": round(factor, 2),
        **daily,
    }


def _eim(snapshot: Snapshot, meter: MeterType, kind: str, details: bool) -> dict[str, object]:
    plant, flows = snapshot.plant, snapshot.flows
    net = meter is MeterType.NET_CONSUMPTION
    counters = plant.registers(meter)
    measures = phase_measures(flows, meter)
    today, week, lifetime = plant.served(kind)
    if net:  # energy both ways: what was drawn minus what was fed in
        lifetime = sum(c.delivered_wh - c.received_wh for c in counters)
    delivered = sum(c.delivered_wh for c in counters)
    # Registers just restarted (or read as zero) split evenly.
    shares = [c.delivered_wh / delivered if delivered else 1 / len(counters) for c in counters]
    section: dict[str, object] = {
        "type": "eim",
        "activeCount": 1,
        "measurementType": meter.value,
        "readingTime": snapshot.now,
    }
    section |= _line(summed(measures), summed_counter(counters), (today, week, lifetime), net=net)
    if details:
        section["lines"] = [
            _line(m, c, (today * w, week * w, lifetime * w), net=net)
            for m, c, w in zip(measures, counters, shares, strict=True)
        ]
    return section


def _storage(snapshot: Snapshot) -> dict[str, object]:
    """AC Batteries (an idle, empty entry on sites without them)."""
    count = snapshot.profile.ac_batteries
    if not count:
        return {
            "type": "acb",
            "activeCount": 0,
            "readingTime": 0,
            "wNow": 0,
            "whNow": 0,
            "state": "idle",
        }
    storage_w = snapshot.flows.storage_w
    return {
        "type": "acb",
        "activeCount": count,
        "readingTime": snapshot.now,
        "wNow": round(storage_w),
        "whNow": round(snapshot.plant.stored_wh),
        "state": battery_state(storage_w),
        "percentFull": snapshot.soc,
    }


def production_json(snapshot: Snapshot) -> bytes:
    """``/production.json`` (``lines`` per phase with ``?details=1``)."""
    details = snapshot.query.get("details") == "1"
    meters = snapshot.profile.meters
    body: dict[str, list[object]] = {"production": [_inverters(snapshot)]}
    for group, meter, kind in _SECTIONS:
        # Total consumption is computed from the production and net CTs.
        source = MeterType.NET_CONSUMPTION if meter is MeterType.TOTAL_CONSUMPTION else meter
        if source in meters:
            body.setdefault(group, []).append(_eim(snapshot, meter, kind, details))
    body["storage"] = [_storage(snapshot)]
    return compact(body)


# --- the HTML page of firmware before 7 ---------------------------------------------------


def _quantity(value: float, unit: str) -> str:
    """A value as the page prints it: ``    0 W``, `` 6.63 kW``, ``  133 MWh``."""
    prefix = ""
    for bigger in ("k", "M"):
        if round(value) < 1000:
            break
        value, prefix = value / 1000, bigger
    shown = f"{value:.3g}" if prefix else f"{value:.0f}"
    return f"{shown:>5} {prefix}{unit}"


def production_page(snapshot: Snapshot, *, whole: bool) -> bytes:
    """``/production`` of old firmware: a table of the inverters' power and energy.

    ``whole`` wraps it in a complete document (3.9 and 5.x); 3.7 sends the fragment alone.
    """
    plant = snapshot.plant
    watts = sum(w for _, _, w, _ in inverter_reports(plant, snapshot.now))
    today, week, lifetime = plant.served("inverters")
    since = dt.datetime.fromtimestamp(plant.installed_at, plant.tz).strftime(
        "%a %b %d, %Y %I:%M %p %Z"
    )
    rows = (
        ("Currently", _quantity(watts, "W")),
        ("Today", _quantity(today, "Wh")),
        ("Past Week", _quantity(week, "Wh")),
        ("Since Installation", _quantity(lifetime, "Wh")),
    )
    cells = "".join(f"<tr><td>{name}</td>    <td>{value}</td></tr>" for name, value in rows)
    fragment = (
        "      <h1>System Energy Production</h1>\n"
        '      <div style="margin-right: auto; margin-left: auto;"><table>\n'
        '      <tr><td colspan="3">System has been live since\n'
        f"                             <div class=good>{html.escape(since)}</div></td></tr>\n"
        f"      {cells}\n"
        "      </table><br></div>\n"
    )
    if whole:
        fragment = (
            '<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN">\n<html lang="en">\n'
            f"<head><title>production</title></head>\n<body>\n{fragment}</body>\n</html>\n"
        )
    return fragment.encode()


# --- /home --------------------------------------------------------------------------------


def _zone_name(snapshot: Snapshot) -> str:
    tz = snapshot.plant.tz
    return str(getattr(tz, "key", None) or snapshot.local.tzname() or "UTC")


def _mac(snapshot: Snapshot, board: int) -> str:
    """A MAC address in Enphase's range, derived from the serial."""
    n = int(snapshot.serial[-6:])
    return f"00:1D:C0:{n >> 16 & 255:02X}:{n >> 8 & 255:02X}:{(n + board) & 255:02X}"


def home(snapshot: Snapshot) -> bytes:
    """``/home``: clock and time zone, network interfaces, last cloud report, radio levels."""
    profile, local = snapshot.profile, snapshot.local
    ethernet = {
        "type": "ethernet",
        "interface": "eth0",
        "mac": _mac(snapshot, 1),
        "dhcp": True,
        "ip": f"192.168.1.{int(snapshot.serial[-2:]) + 10}",
        "signal_strength": 1,
        "signal_strength_max": 1,
        "carrier": True,
    }
    wifi = {
        "signal_strength": 0,
        "signal_strength_max": 0,
        "type": "wifi",
        "interface": "wlan0",
        "mac": _mac(snapshot, 2),
        "dhcp": True,
        "ip": None,
        "carrier": False,
        "supported": True,
        "present": True,
        "configured": False,
        "status": "connecting",
    }
    pcus = len(snapshot.plant.inverters)
    batteries = profile.iq_batteries
    levels = {
        "num": pcus + batteries,
        "level": 5,
        "pcu": {"num": pcus, "level": 5},
        "acb": {"num": profile.ac_batteries, "level": 5 if profile.ac_batteries else 0},
        "nsrb": {"num": 0, "level": 0},
        "esub": {
            "num": int(profile.system_controller),
            "level": 5 if profile.system_controller else 0,
        },
        "encharge": [
            {
                "num": batteries,
                "level": 4 if batteries else 0,
                "level_24g": 4 if batteries else 0,
                "level_subg": 4 if batteries else 0,
            }
        ],
    }
    radios = [
        {"signal_strength": 0, "signal_strength_max": 0, "type": kind, "connected": True}
        for kind in ("zigbee", "subghz")
    ]
    return compact(
        {
            "software_build_epoch": BUILD_EPOCH,
            "timezone": _zone_name(snapshot),
            "current_date": local.strftime("%m/%d/%Y"),
            "current_time": local.strftime("%H:%M"),
            "network": {
                "web_comm": True,
                "ever_reported_to_enlighten": True,
                "last_enlighten_report_time": snapshot.now - snapshot.now % 300,
                "primary_interface": "eth0",
                "interfaces": [ethernet, wifi],
            },
            "tariff": "single_rate",
            "comm": levels,
            "wireless_connection": radios,
        }
    )
