"""The bodies the fuzz tests start from: every real capture and every simulator reply.

Each :class:`Sample` pairs a body with the parser of its endpoint (a :class:`Target`). Capture
files are read from ``$ENPHASE_FIXTURES`` (none when it is not set); simulator bodies are
rendered by the simulated device of every profile, at noon and at night, with the live stream
off and on, exactly as its server would send them (minus transport).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from enphase_local import endpoints as ep
from enphase_local import parsing
from enphase_local.models import (
    ConsumptionReport,
    DeviceList,
    Energy,
    GridReading,
    Info,
    Inverter,
    LiveData,
    LiveStreamState,
    Meter,
    MeterReading,
    Production,
)
from enphase_local.simulator import PROFILES, SimClock
from enphase_local.simulator.device import SimulatedDevice
from tests.conftest import capture_sets

#: The budget knob: hypothesis examples per fuzzed body (the release run sets it high).
EXAMPLES_ENV = "ENPHASE_FUZZ_EXAMPLES"
DEFAULT_EXAMPLES = 6


def examples(scale: float = 1.0) -> int:
    """Hypothesis examples per body: ``$ENPHASE_FUZZ_EXAMPLES`` or the default, times ``scale``."""
    value = os.environ.get(EXAMPLES_ENV, "")
    base = int(value) if value.strip() else DEFAULT_EXAMPLES
    return max(1, round(base * scale))


def long_run() -> bool:
    """Whether more than the default budget was asked for: exhaustive sweeps then run too."""
    return examples() > DEFAULT_EXAMPLES


@attrs.frozen
class Target:
    """An endpoint as the parsers see it: its parser and what a successful parse returns."""

    #: Short name, for test ids.
    name: str
    #: The URL path the parser names in its errors.
    path: str
    #: ``parse(body, strict=...)``.
    parse: Callable[..., Any] = attrs.field(repr=False)
    #: The model class, or the item class when the endpoint returns a tuple of models.
    model: type
    #: Whether the endpoint returns a tuple of ``model``.
    many: bool = False
    #: Whether the body is XML rather than JSON.
    xml: bool = False

    def returned_model(self, result: object) -> bool:
        """Whether ``result`` is what this parser promises to return."""
        if not self.many:
            return isinstance(result, self.model)
        return isinstance(result, tuple) and all(isinstance(item, self.model) for item in result)


INFO = Target("info", ep.INFO.path, ep.INFO.parse, Info, xml=True)
DEVICE_LIST = Target("device_list", ep.DEVICE_LIST.path, ep.DEVICE_LIST.parse, DeviceList)
METERS = Target("meters", ep.METERS.path, ep.METERS.parse, Meter, many=True)
READINGS = Target("readings", ep.METER_READINGS.path, ep.METER_READINGS.parse, MeterReading,
                  many=True)  # fmt: skip
PRODUCTION = Target("production", ep.PRODUCTION.path, ep.PRODUCTION.parse, Production)
ENERGY = Target("energy", ep.ENERGY.path, ep.ENERGY.parse, Energy)
INVERTERS = Target("inverters", ep.INVERTERS.path, ep.INVERTERS.parse, Inverter, many=True)
LIVE_DATA = Target("live_data", ep.LIVE_DATA.path, ep.LIVE_DATA.parse, LiveData)
STREAM = Target("stream", ep.LIVE_STREAM_PATH, parsing.parse_stream_status, LiveStreamState)
REPORTS = Target("reports", ep.CONSUMPTION_REPORTS.path, ep.CONSUMPTION_REPORTS.parse,
                 ConsumptionReport, many=True)  # fmt: skip
GRID = Target("grid", ep.GRID_READINGS.path, ep.GRID_READINGS.parse, GridReading, many=True)

#: Every target, by name.
TARGETS = {t.name: t for t in (INFO, DEVICE_LIST, METERS, READINGS, PRODUCTION, ENERGY,
                               INVERTERS, LIVE_DATA, STREAM, REPORTS, GRID)}  # fmt: skip

#: Capture file name -> target (``ivp_meters_reports`` holds consumption-report items).
CAPTURE_FILES = {
    "info": INFO,
    "ivp_meters": METERS,
    "ivp_meters_readings": READINGS,
    "api_v1_production": PRODUCTION,
    "api_v1_production_inverters": INVERTERS,
    "ivp_pdm_energy": ENERGY,
    "ivp_meters_gridReading": GRID,
    "ivp_meters_reports": REPORTS,
}

#: Simulator request -> target (``/ivp/meters/reports`` is answered like the consumption one).
SIMULATOR_REQUESTS: dict[tuple[str, str], Target] = {
    ("GET", "/info"): INFO,
    ("GET", "/ivp/ensemble/device_list"): DEVICE_LIST,
    ("GET", "/ivp/meters"): METERS,
    ("GET", "/ivp/meters/readings"): READINGS,
    ("GET", "/api/v1/production"): PRODUCTION,
    ("GET", "/ivp/pdm/energy"): ENERGY,
    ("GET", "/api/v1/production/inverters"): INVERTERS,
    ("GET", "/ivp/livedata/status"): LIVE_DATA,
    ("POST", "/ivp/livedata/stream"): STREAM,
    ("GET", "/ivp/meters/reports/consumption"): REPORTS,
    ("GET", "/ivp/meters/reports"): REPORTS,
    ("GET", "/ivp/meters/gridReading"): GRID,
}

#: Simulated moments: a summer noon (everything flowing) and a winter night (no sun).
SIM_TIMES = {
    "noon": dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC),
    "night": dt.datetime(2025, 12, 21, 3, tzinfo=dt.UTC),
}


@attrs.frozen
class Sample:
    """One body to fuzz, with where it came from."""

    #: ``capture/<set>/<file>`` or ``sim/<profile>/<time>/<path>``.
    source: str
    #: Which parser it belongs to.
    target: Target
    #: The body bytes as the gateway sent them.
    body: bytes = attrs.field(repr=False)
    #: The HTTP status it was served with (captures record non-200 bodies too).
    status: int = 200


@functools.cache
def capture_samples() -> tuple[Sample, ...]:
    """Every capture file of a modelled endpoint, in every set (empty without captures)."""
    samples = []
    for folder in capture_sets():
        for name, target in CAPTURE_FILES.items():
            path = folder / name
            if path.is_file():
                source = f"capture/{folder.name}/{name}"
                status = _recorded_status(folder / f"{name}_log.json")
                samples.append(Sample(source, target, path.read_bytes(), status))
    return tuple(samples)


def _recorded_status(log: Path) -> int:
    """The status recorded next to a capture (200 when there is no log)."""
    if not log.is_file():
        return 200
    code = json.loads(log.read_bytes()).get("code", 200)
    return int(code)


def _device(profile: str, moment: dt.datetime) -> SimulatedDevice:
    clock = SimClock(moment.timestamp(), speed=0)
    return SimulatedDevice(PROFILES[profile], "122199900001", clock=clock, tz=dt.UTC)


@functools.cache
def simulator_samples() -> tuple[Sample, ...]:
    """Every body the simulated device answers, per profile and moment, stream off then on."""
    samples: dict[tuple[str, bytes], Sample] = {}
    for profile in PROFILES:
        for moment_name, moment in SIM_TIMES.items():
            device = _device(profile, moment)
            for streaming in (False, True):
                if streaming:
                    device.handle("POST", "/ivp/livedata/stream", "", b'{"enable": 1}')
                for (method, path), target in SIMULATOR_REQUESTS.items():
                    if streaming and target not in (LIVE_DATA, STREAM):
                        continue
                    body = b'{"enable": 1}' if method == "POST" else b""
                    reply = device.handle(method, path, "", body)
                    stream = "/streaming" if streaming else ""
                    source = f"sim/{profile}/{moment_name}{stream}{path}"
                    # Identical bodies (404s, the stream switch) are fuzzed once.
                    samples.setdefault(
                        (target.name, reply.body), Sample(source, target, reply.body, reply.status)
                    )
    return tuple(samples.values())


def all_samples() -> tuple[Sample, ...]:
    """Captures first, then simulator bodies."""
    return capture_samples() + simulator_samples()


def sample_id(sample: Sample) -> str:
    """A readable pytest id."""
    return sample.source
