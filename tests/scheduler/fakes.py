"""A fake gateway session on a manual clock, for deterministic scheduler tests.

It answers every endpoint the worker uses with real models, takes ``latency`` seconds of the
manual clock per request, counts requests in flight (per gateway and, through a shared
:class:`InFlight`, over all gateways), and fails on demand.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from enphase_local import endpoints as ep
from enphase_local.endpoints import Endpoint
from enphase_local.errors import EnphaseError
from enphase_local.models import (
    Info,
    Inverter,
    LiveData,
    LiveStreamState,
    MeasurementType,
    Meter,
    MeteringStatus,
    MeterState,
    PhaseMode,
    Production,
)
from enphase_local.scheduler import ManualClock
from tests.parsing import samples

T = TypeVar("T")

#: The live stream lapses this long after being switched on (as on the device).
STREAM_S = 900.0
#: Inverters report every this many seconds.
CYCLE_S = 300.0


class InFlight:
    """Requests in flight over several fake gateways."""

    def __init__(self) -> None:
        self.now = 0
        self.max = 0

    def enter(self) -> None:
        self.now += 1
        self.max = max(self.max, self.now)

    def leave(self) -> None:
        self.now -= 1


def meter(state: MeterState = MeterState.ENABLED) -> Meter:
    """A production CT."""
    return Meter(
        eid=704643328,
        state=state,
        measurement_type=MeasurementType.PRODUCTION,
        phase_mode=PhaseMode.SPLIT,
        phase_count=2,
        metering_status=MeteringStatus.NORMAL,
    )


def live_data(stream: LiveStreamState) -> LiveData:
    """The appendix's live data with the given stream state."""
    body = samples.mutable(samples.LIVE_DATA)
    body["connection"]["sc_stream"] = stream.value
    return ep.LIVE_DATA.parse(samples.json_body(body))


class FakeGateway:
    """A :class:`~enphase_local.scheduler.PolledSession` living on a :class:`ManualClock`."""

    def __init__(
        self,
        clock: ManualClock,
        host: str = "envoy.local",
        *,
        serial: str = "122125067699",
        firmware: str = "8.2.4345",
        latency: float = 0.0,
        report_offsets: tuple[float, ...] = (10.0, 20.0, 30.0, 40.0),
        cycle_s: float = CYCLE_S,
        shared: InFlight | None = None,
    ) -> None:
        self.clock = clock
        self.host = host
        self._serial = serial
        self._known_serial: str | None = None
        self.firmware_version = firmware
        #: Seconds each request takes, by endpoint name (``*``: every other).
        self.latency: dict[str, float] = {"*": latency}
        #: Errors to raise, by endpoint name (``*``: every endpoint but /info).
        self.errors: dict[str, EnphaseError] = {}
        #: Where each inverter's 5-minute cycle starts, seconds after the clock's epoch.
        self.report_offsets = report_offsets
        #: How often each inverter reports, seconds.
        self.cycle_s = cycle_s
        self.meters: tuple[Meter, ...] = (meter(),)
        self.production_w = 1000.0
        self.calls: list[tuple[str, float]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.closed = False
        #: What the session reports as GETs it sent again (a real one counts its retries).
        self.retried = 0
        self._shared = shared
        self._stream_until = -1.0
        self._answers: dict[str, Callable[[], Any]] = {
            "info": self._info,
            "meters": lambda: self.meters,
            "inverters": self._inverters,
            "production": self._production,
            "live_data": self._live_data,
            "live_stream": self._switch_stream,
        }
        self._counter = 0
        self._frozen: tuple[Inverter, ...] | None = None

    def __repr__(self) -> str:
        return f"FakeGateway({self.host})"

    # -- the PolledSession protocol ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"https://{self.host}"

    @property
    def serial(self) -> str | None:
        return self._known_serial

    @property
    def firmware(self) -> str | None:
        return self.firmware_version if self._known_serial else None

    async def info(self) -> Info:
        info: Info = await self._serve("info")
        self._known_serial = info.serial_number
        return info

    async def fetch(self, endpoint: Endpoint[T]) -> T:
        result: T = await self._serve(endpoint.name)
        return result

    async def enable_live_stream(self) -> LiveStreamState:
        state: LiveStreamState = await self._serve("live_stream")
        return state

    async def close(self) -> None:
        self.closed = True

    # -- what the tests look at -------------------------------------------------------------

    def times(self, name: str) -> list[float]:
        """When requests to ``name`` started."""
        return [at for called, at in self.calls if called == name]

    def count(self, name: str) -> int:
        """How many requests went to ``name``."""
        return len(self.times(name))

    # -- answers ----------------------------------------------------------------------------

    async def _serve(self, name: str) -> Any:
        self.calls.append((name, self.clock.monotonic()))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self._shared is not None:
            self._shared.enter()
        try:
            latency = self.latency.get(name, self.latency["*"])
            if latency:
                await self.clock.sleep(latency)
            error = self.errors.get(name) or (self.errors.get("*") if name != "info" else None)
            if error is not None:
                raise error
            answer = self._answers.get(name)
            if answer is not None:
                return answer()
            self._counter += 1
            return f"{name} #{self._counter}"
        finally:
            self.in_flight -= 1
            if self._shared is not None:
                self._shared.leave()

    def _info(self) -> Info:
        return Info(
            serial_number=self._serial,
            part_number="800-00654-r08",
            software=f"D{self.firmware_version}",
            firmware=self.firmware_version,
            web_tokens=True,
            imeter=True,
            reported_at=datetime.fromtimestamp(self.clock.time(), UTC),
        )

    def last_report(self, offset: float) -> float:
        """Wall time of the last report of the inverter whose cycle starts at ``offset``."""
        epoch = self.clock.time() - self.clock.monotonic()
        since = self.clock.monotonic() - offset
        return epoch + offset + (since // self.cycle_s) * self.cycle_s

    def stop_reporting(self) -> None:
        """Night: the inverters' last reports stay as they are now."""
        self._frozen = self._inverters_now()

    def _inverters(self) -> tuple[Inverter, ...]:
        return self._frozen if self._frozen is not None else self._inverters_now()

    def _inverters_now(self) -> tuple[Inverter, ...]:
        return tuple(
            Inverter(
                serial_number=f"48221{k:07d}",
                last_report_at=datetime.fromtimestamp(self.last_report(offset), UTC),
                last_report_w=200.0,
                max_report_w=295.0,
            )
            for k, offset in enumerate(self.report_offsets)
        )

    def _production(self) -> Production:
        return Production(
            power_w=self.production_w,
            energy_today_wh=0.0,
            energy_seven_days_wh=0.0,
            energy_lifetime_wh=1.0e6,
        )

    def _live_data(self) -> LiveData:
        streaming = self.clock.monotonic() < self._stream_until
        return live_data(LiveStreamState.ENABLED if streaming else LiveStreamState.DISABLED)

    def _switch_stream(self) -> LiveStreamState:
        self._stream_until = self.clock.monotonic() + STREAM_S
        return LiveStreamState.ENABLED
