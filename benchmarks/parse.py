"""Bytes to models, per payload: enphase_local's parsers against pyenphase's own models.

Every 200 body of the ten endpoints in every capture set is parsed (``ivp_meters_reports``,
the same item shape as the consumption reports, stands in for that endpoint); endpoints no
capture has (device list, live data, consumption reports) are parsed from the simulator's
``battery`` profile and labelled ``sim:battery``. Where pyenphase models the same endpoint it
is timed on the same bytes, through its public model constructors:

- ``/api/v1/production``: ``json_loads`` + ``EnvoySystemProduction.from_v1_api``;
- ``/api/v1/production/inverters``: ``json_loads`` + ``EnvoyInverter.from_v1_api`` per item;
- ``/ivp/meters/readings``: ``json_loads`` + ``EnvoyMeterData.from_api`` per meter and
  ``from_phase`` per channel, joined to the set's ``/ivp/meters`` decoded beforehand;
- ``/ivp/meters``: ``json_loads`` only (pyenphase keeps the decoded dicts as its model).

Each sample runs one parser on one payload ``--loops`` times (calibrated to about 2 ms when
not given); the two libraries alternate, ``--repeat`` samples each, medians of CPU time.

Run: ``python -m benchmarks.parse [--repeat N] [--loops N] [--sets SET ...]``.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from benchmarks.harness import (
    NO_PYENPHASE,
    alternated,
    base_parser,
    captures_root,
    have_pyenphase,
    median,
    print_table,
    pyenphase,
    ratio,
    write_json,
)
from enphase_local import endpoints as ep
from enphase_local.endpoints import Endpoint
from enphase_local.errors import PayloadError

Parse = Callable[[bytes], object]

#: Endpoints pyenphase keeps as decoded JSON (a TypedDict): its "parse" is the decode alone.
DECODE_ONLY = frozenset({ep.METERS.path})
#: Capture file name -> the endpoint whose parser reads it.
CAPTURE_FILES: dict[str, Endpoint[Any]] = {
    "info": ep.INFO,
    "ivp_ensemble_device_list": ep.DEVICE_LIST,
    "ivp_meters": ep.METERS,
    "ivp_meters_readings": ep.METER_READINGS,
    "api_v1_production": ep.PRODUCTION,
    "ivp_pdm_energy": ep.ENERGY,
    "api_v1_production_inverters": ep.INVERTERS,
    "ivp_livedata_status": ep.LIVE_DATA,
    "ivp_meters_reports_consumption": ep.CONSUMPTION_REPORTS,
    "ivp_meters_reports": ep.CONSUMPTION_REPORTS,
    "ivp_meters_gridReading": ep.GRID_READINGS,
}
_SIM_PROFILE = "battery"


@attrs.frozen
class Payload:
    """One body to parse."""

    #: Capture set name, or ``sim:<profile>``.
    source: str
    #: The capture file name (the URL path with ``/`` as ``_``).
    name: str
    #: Our endpoint for it.
    endpoint: Endpoint[Any]
    #: The body bytes.
    body: bytes
    #: The set's ``/ivp/meters`` body, which pyenphase joins readings to.
    meters_body: bytes | None = None


def _is_200_body(path: Path) -> bool:
    log = path.with_name(f"{path.name}_log.json")
    return not log.is_file() or json.loads(log.read_bytes()).get("code") == 200


def capture_payloads(sets: Sequence[str] | None) -> list[Payload]:
    """Every parseable 200 body of the ten endpoints in the chosen (default: all) sets."""
    root = captures_root()
    folders = [root / s for s in sets] if sets else sorted(p for p in root.iterdir() if p.is_dir())
    payloads = []
    for folder in folders:
        meters = folder / "ivp_meters"
        for name, endpoint in CAPTURE_FILES.items():
            path = folder / name
            if not path.is_file() or not _is_200_body(path):
                continue
            body = path.read_bytes()
            try:
                endpoint.parse(body)
            except PayloadError:
                continue  # a soft 404 or an error page recorded with status 200
            meters_body = meters.read_bytes() if meters.is_file() else None
            payloads.append(Payload(folder.name, name, endpoint, body, meters_body))
    return payloads


def simulated_payloads(covered: set[str]) -> list[Payload]:
    """Simulator bodies for the endpoints no chosen capture covers."""
    from enphase_local.simulator.clock import SimClock  # noqa: PLC0415 - only needed here
    from enphase_local.simulator.device import SimulatedDevice  # noqa: PLC0415
    from enphase_local.simulator.profiles import get_profile  # noqa: PLC0415

    noon = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC).timestamp()
    device = SimulatedDevice(
        get_profile(_SIM_PROFILE), "122199900001", clock=SimClock(noon, speed=0), tz=dt.UTC
    )
    payloads = []
    for name, endpoint in CAPTURE_FILES.items():
        if endpoint.path in covered:
            continue
        reply = device.handle("GET", endpoint.path, "", b"")
        if reply.status == 200:
            payloads.append(Payload(f"sim:{_SIM_PROFILE}", name, endpoint, reply.body))
    return payloads


def pyenphase_parser(payload: Payload) -> Parse | None:
    """pyenphase's own parsing of this payload, or None where it has no model of it."""
    if not have_pyenphase():
        return None
    json_loads = pyenphase("json", "json_loads")
    inverter = pyenphase("models.inverter", "EnvoyInverter")
    production = pyenphase("models.system_production", "EnvoySystemProduction")

    path = payload.endpoint.path
    simple: dict[str, Parse] = {
        ep.PRODUCTION.path: lambda body: production.from_v1_api(json_loads(path, body)),
        ep.INVERTERS.path: lambda body: {
            item["serialNumber"]: inverter.from_v1_api(item) for item in json_loads(path, body)
        },
        ep.METERS.path: lambda body: json_loads(path, body),
    }
    if payload.name == "ivp_meters_readings":
        return _pyenphase_readings(payload.meters_body)
    return simple.get(path)


def _pyenphase_readings(meters_body: bytes | None) -> Parse | None:
    """pyenphase's CT meter models of ``/ivp/meters/readings``, joined to ``/ivp/meters``."""
    json_loads = pyenphase("json", "json_loads")
    meter_data = pyenphase("models.meters", "EnvoyMeterData")

    if meters_body is None:
        return None
    status = {meter["eid"]: meter for meter in json_loads(ep.METERS.path, meters_body)}

    def readings(body: bytes) -> object:
        models: list[object] = []
        for meter in json_loads(ep.METER_READINGS.path, body):
            ct = status.get(meter["eid"])
            if ct is None:
                continue
            models.append(meter_data.from_api(meter, ct))
            models += [
                meter_data.from_phase(meter, ct, phase)
                for phase in range(len(meter.get("channels", ())))
            ]
        return models

    return readings


def _cpu_us(parse: Parse, body: bytes, loops: int) -> float:
    gc.collect()
    started = time.process_time()
    for _ in range(loops):
        parse(body)
    return (time.process_time() - started) * 1e6 / loops


def _calibrated_loops(parse: Parse, body: bytes) -> int:
    per_call = max(_cpu_us(parse, body, 20), 0.5)
    return max(20, math.ceil(2000 / per_call))


def measure(payload: Payload, *, repeat: int, loops: int | None) -> dict[str, Any]:
    """Median CPU microseconds per parse, ours and (where it applies) pyenphase's."""
    parsers: dict[str, Parse] = {"ours": payload.endpoint.parse}
    theirs = pyenphase_parser(payload)
    if theirs is not None:
        parsers["pyenphase"] = theirs
    for parse in parsers.values():
        parse(payload.body)  # warm: lazily generated hooks, caches
    counts = {name: loops or _calibrated_loops(p, payload.body) for name, p in parsers.items()}
    samples: dict[str, list[float]] = {name: [] for name in parsers}
    for round_index in range(repeat):
        for name in alternated(list(parsers), round_index):
            samples[name].append(_cpu_us(parsers[name], payload.body, counts[name]))
    ours = median(samples["ours"])
    pyenphase = median(samples["pyenphase"]) if theirs is not None else float("nan")
    return {
        "source": payload.source,
        "endpoint": payload.endpoint.path
        if payload.name != "ivp_meters_reports"
        else "/ivp/meters/reports",
        "bytes": len(payload.body),
        "ours_us": ours,
        "pyenphase_us": pyenphase,
        "x_pyenphase": ratio(ours, pyenphase),
    }


def _geometric_mean(values: Sequence[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Ratios over the payloads both libraries parse, and our time per endpoint."""
    compared = [
        r["x_pyenphase"]
        for r in rows
        if not math.isnan(r["x_pyenphase"]) and r["endpoint"] not in DECODE_ONLY
    ]
    decode_only = [
        r["x_pyenphase"]
        for r in rows
        if not math.isnan(r["x_pyenphase"]) and r["endpoint"] in DECODE_ONLY
    ]
    per_endpoint: dict[str, list[float]] = {}
    for row in rows:
        per_endpoint.setdefault(row["endpoint"], []).append(row["ours_us"])
    return {
        "payloads": len(rows),
        "compared": len(compared),
        "x_pyenphase_geomean": _geometric_mean(compared),
        "x_pyenphase_worst": max(compared, default=float("nan")),
        "x_pyenphase_decode_only_geomean": _geometric_mean(decode_only),
        "ours_us_median_by_endpoint": {k: median(v) for k, v in sorted(per_endpoint.items())},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table and summary; write JSON when asked."""
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "parse")
    parser.add_argument("--repeat", type=int, default=5, help="samples per parser (default 5)")
    parser.add_argument("--loops", type=int, help="parses per sample (default: about 2 ms)")
    parser.add_argument("--sets", nargs="+", metavar="SET", help="capture sets (default: all)")
    args = parser.parse_args(argv)
    payloads = capture_payloads(args.sets)
    payloads += simulated_payloads({p.endpoint.path for p in payloads})
    rows = [measure(p, repeat=args.repeat, loops=args.loops) for p in payloads]
    print_table(
        ("source", "endpoint", "bytes", "ours us", "pyenphase us", "x pyenphase"),
        [
            (
                r["source"],
                r["endpoint"],
                r["bytes"],
                r["ours_us"],
                r["pyenphase_us"],
                r["x_pyenphase"],
            )
            for r in rows
        ],
    )
    summary = summarise(rows)
    if not have_pyenphase():
        print(f"\n{NO_PYENPHASE}")
    print(
        f"\nparse: {summary['payloads']} payloads; enphase_local vs pyenphase on the "
        f"{summary['compared']} both model = {summary['x_pyenphase_geomean']:.2f}x geometric "
        f"mean, {summary['x_pyenphase_worst']:.2f}x worst (target <= 1.00x); "
        f"vs its bare decode of {', '.join(sorted(DECODE_ONLY))} = "
        f"{summary['x_pyenphase_decode_only_geomean']:.2f}x"
    )
    write_json(args.json, {"benchmark": "parse", "payloads": rows, "summary": summary})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
