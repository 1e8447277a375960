"""Gateway replies for control tests against aioresponses (shapes as in the captures)."""

from __future__ import annotations

import json
from typing import Any

from aioresponses import aioresponses
from yarl import URL

from tests.helpers import VALID_TOKEN_HTML, info_xml, make_jwt

BASE = "https://envoy.local"
SERIAL = "122125067699"
TOKEN = make_jwt(SERIAL)
COOKIE = "sessionId=Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z; Path=/; HttpOnly"
CONTROLLER = {"type": "ENPOWER", "devices": [{"serial_num": "482200000001"}]}
BATTERY = {"type": "ENCHARGE", "devices": [{"serial_num": "482200000002", "percentFull": 80}]}
SETTING = {
    "id": "NC1",
    "type": "LOAD",
    "grid_action": "apply",
    "micro_grid_action": "shed",
    "gen_action": "apply",
    "essential_start_time": 43200.0,
    "essential_end_time": 57600.0,
    "priority": 1.0,
    "black_s_start": 5.0,
    "override": "true",
    "manual_override": "true",
    "load_name": "Water heater",
    "mode": "manual",
    "soc_low": 30.0,
    "soc_high": 70.0,
    "pv_serial_nb": [],
}


def ready(m: aioresponses) -> None:
    """/info and check_jwt, as a firmware 8 gateway answers them."""
    m.get(f"{BASE}/info", body=info_xml(SERIAL, "D8.2.127"), headers={"Content-Type": "text/xml"})
    m.get(f"{BASE}/auth/check_jwt", body=VALID_TOKEN_HTML, headers={"Set-Cookie": COOKIE})


def answer(
    m: aioresponses, path: str, body: Any, *, method: str = "GET", status: int = 200
) -> None:
    """One answer to ``path`` (JSON unless bytes)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    m.add(f"{BASE}{path}", method=method, body=raw, status=status)


def inventory(m: aioresponses, *groups: dict[str, Any]) -> None:
    answer(m, "/ivp/ensemble/inventory", list(groups))


def relay(admin: str, oper: str) -> dict[str, Any]:
    return {
        "mains_admin_state": admin,
        "mains_oper_state": oper,
        "srt12_state": "open",
        "srt13_state": "open",
        "der1_state": 0,
        "der2_state": 0,
        "der3_state": 0,
        "Enchg_grid_mode": "multimode-ongrid",
        "Solar_grid_mode": "multimode-ongrid",
    }


def contacts(**states: str) -> dict[str, Any]:
    return {"dry_contacts": [{"id": i, "status": s} for i, s in states.items()]}


def tariff(
    mode: str = "self-consumption", reserve: float = 20.0, grid: bool = False
) -> dict[str, Any]:
    """A tariff document as ``GET /admin/lib/tariff`` sends it (tariff and schedule)."""
    return {
        "tariff": {
            "currency": {"code": "USD"},
            "logger": "mylogger",
            "date": "1750786523",
            "storage_settings": {
                "mode": mode,
                "operation_mode_sub_type": "",
                "reserved_soc": reserve,
                "very_low_soc": 5,
                "charge_from_grid": grid,
                "date": "1750786523",
                "opt_schedules": False,
            },
            "single_rate": {"rate": 0.14, "sell": 0.02},
            "seasons": [],
            "seasons_sell": [],
        },
        "schedule": {"filename": "Tariff", "source": "Tariff", "version": "00.00.02"},
    }


def requests(m: aioresponses, path: str, method: str = "GET") -> list[Any]:
    return list(m.requests.get((method, URL(f"{BASE}{path}")), []))


def writes(m: aioresponses) -> list[tuple[str, str, Any]]:
    """Every request other than a GET: (method, path, decoded body)."""
    found = []
    for (method, url), calls in m.requests.items():
        if method != "GET":
            for call in calls:
                data = call.kwargs.get("data")
                found.append((method, url.path, json.loads(data) if data else None))
    return found
