"""GatewaySession: one gateway, its address, TLS trust, auth state and polite request handling.

The facade users await. The work is done by three parts it wires together:
:mod:`enphase_local.exchange` (the HTTP exchange through aiohttp, retries, error mapping),
:mod:`enphase_local.auth.gateway` (the token flow) and :mod:`enphase_local.replies` (the
checks on what came back).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp

from enphase_local import endpoints as ep
from enphase_local.auth.gateway import PLAIN_HEADERS, GatewayAuth
from enphase_local.auth.manager import TokenManager
from enphase_local.auth.sources import TokenSource, as_token_source
from enphase_local.auth.token import DEFAULT_REFRESH_MARGIN, RefreshMargin, Token
from enphase_local.control import (
    Controller,
    ControlListener,
    ControlPolicy,
    ControlResult,
    PreparedWrite,
)
from enphase_local.endpoints import Endpoint
from enphase_local.errors import (
    AuthenticationError,
    CertificateMismatchError,
    EndpointForbiddenError,
    EnphaseError,
    GatewayConnectionError,
    GatewayTimeoutError,
    PayloadError,
    SessionClosedError,
    TokenSerialMismatchError,
)
from enphase_local.exchange import Exchange
from enphase_local.models import (
    AcbConfig,
    BatterySummary,
    ConsumptionReport,
    DeviceData,
    DeviceInventory,
    DeviceList,
    DryContacts,
    DryContactSettings,
    Energy,
    EnsembleInventory,
    EnsemblePower,
    EnsembleStatus,
    ExportLimit,
    Generator,
    GeneratorConfig,
    GeneratorMode,
    GeneratorSchedule,
    GridReading,
    GridRelay,
    Home,
    Info,
    Inverter,
    LiveData,
    LiveStreamState,
    Meter,
    MeterReading,
    Production,
    ProductionSummary,
    PvLimit,
    PvReading,
    Tariff,
)
from enphase_local.parsing import parse_stream_status
from enphase_local.replies import Reply, checked_body, describe
from enphase_local.transport import (
    DEFAULT_MAX_BODY_BYTES,
    normalize_fingerprint,
    parse_address,
    peer_certificate_sha256,
)
from enphase_local.trust import TrustStore

__all__ = ["GatewaySession"]

T = TypeVar("T")

#: Seconds one call may take in all by default: connecting, checking the token, the request,
#: its retries and their pauses.
DEFAULT_TIMEOUT_S = 60.0


class GatewaySession:
    """An async session with one IQ Gateway.

    Use it as ``async with GatewaySession("envoy.local", token="eyJ...") as gateway:`` and
    await its endpoint methods. The session fetches ``/info`` once on first use to learn the
    firmware (legacy gateways below 7.0 speak plain HTTP and need no token), keeps at most
    one request in flight, retries idempotent reads a bounded number of times, and maps
    every failure to an :class:`~enphase_local.errors.EnphaseError`. Made with
    ``allow_control=True`` it also makes control writes (``set_grid_relay``,
    ``set_reserve``...), each checked, paced, sent once and confirmed by reading back.
    """

    def __init__(
        self,
        host: str,
        *,
        token: str | Token | TokenSource | TokenManager | None = None,
        session: aiohttp.ClientSession | None = None,
        refresh_margin: RefreshMargin | timedelta = DEFAULT_REFRESH_MARGIN,
        fingerprint: str | bytes | None = None,
        trust: TrustStore | None = None,
        allow_http: bool = False,
        timeout: float = DEFAULT_TIMEOUT_S,
        connect_timeout: float = 10.0,
        retries: int = 2,
        retry_backoff: float = 0.5,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        keep_alive: bool = True,
        strict: bool = False,
        allow_control: bool = False,
        control_policy: ControlPolicy | None = None,
    ) -> None:
        """Describe a gateway; nothing is sent until the first request.

        Args:
            host: ``envoy.local``, an address (``192.168.1.20``, ``[fe80::1]``), or a URL
                with scheme and port (``https://127.0.0.1:8443``).
            token: the access token for firmware 7 and newer: the JWT text, a parsed
                :class:`~enphase_local.auth.token.Token`, or a token source (a file, the
                cloud, a callback) that the session asks again before the token expires,
                or a ready :class:`~enphase_local.auth.manager.TokenManager` (for its
                clock, skew and retry settings).
            session: an ``aiohttp.ClientSession`` the caller owns (and closes). Requests then
                go through it (its connector, proxies and trace hooks apply); without it the
                session makes its own, with one kept-alive connection to the gateway.
            refresh_margin: how long before expiry a new token is fetched (the default
                suits both 12-hour installer and year-long owner tokens).
            fingerprint: SHA-256 fingerprint of the gateway certificate to pin (hex).
            trust: a trust-on-first-use store: the certificate seen on first contact (before
                any token is sent) is recorded and pinned from then on; a different one is
                refused until accepted in the store. Ignored when ``fingerprint`` is given.
            allow_http: allow plain HTTP for firmware that needs a token (explicit opt-in).
            timeout: seconds one call may take in all: connecting, checking the token, the
                request, its retries and the pauses between them. A call that runs out
                raises :class:`~enphase_local.errors.GatewayTimeoutError`.
            connect_timeout: seconds to wait for one new connection to open (the TCP connect
                and the TLS handshake), within ``timeout``.
            retries: extra attempts for idempotent reads after a transient failure.
            retry_backoff: base delay in seconds of the jittered exponential backoff.
            max_body_bytes: a longer body is cut off with ``ResponseTooLargeError``.
            keep_alive: reuse connections; turn off for gateways with broken keep-alive.
            strict: make unknown keys in bodies errors (for tests over real captures).
            allow_control: allow the ``set_*`` control writes (grid relay, dry contacts,
                generator, storage settings, AC Battery sleep); without it each raises
                :class:`~enphase_local.errors.ControlNotAllowedError` and sends nothing.
            control_policy: how writes are paced and read back (default: one write every
                5 s at most; read back every 2 s for up to 30 s, 120 s for the grid relay
                and dry contacts); see :class:`~enphase_local.control.ControlPolicy`.

        Raises:
            ValueError: an address or fingerprint that cannot be read, or a fingerprint or
                trust store with an ``http://`` address (a pinned gateway is only ever spoken
                to over HTTPS).
        """
        address = parse_address(host)
        pin = normalize_fingerprint(fingerprint) if fingerprint else None
        trust = trust if pin is None else None
        if address.scheme == "http" and (pin is not None or trust is not None):
            raise ValueError(
                f"gateway {address.host}: a certificate fingerprint or trust store needs "
                "https://, not http://"
            )
        if isinstance(token, str) and not token.strip():
            token = None
        if not (isinstance(token, TokenManager) or token is None):
            token = TokenManager(as_token_source(token), refresh_margin=refresh_margin)
        self._exchange = Exchange(
            address,
            session=session,
            pin=pin,
            connect_timeout=connect_timeout,
            retries=retries,
            retry_backoff=retry_backoff,
            max_body_bytes=max_body_bytes,
            keep_alive=keep_alive,
        )
        self._auth = GatewayAuth(token, self._exchange)
        self._trust = trust
        #: True until the pin of a trust-store gateway is known (read, or learned first).
        self._trust_pending = trust is not None
        #: True while nothing pins the certificate, so that plain HTTP may be tried.
        self._may_fall_back = pin is None and trust is None
        self._allow_http = allow_http
        self._timeout = timeout
        self._strict = strict
        self._lock = asyncio.Lock()
        self._info: Info | None = None
        self._legacy = False
        self._closed = False
        self._controller = Controller(
            _ControlPort(self), control_policy or ControlPolicy(), allowed=allow_control
        )

    def __repr__(self) -> str:
        return (
            f"GatewaySession(url={self.base_url!r}, serial={self.serial!r}, token={self.token!r})"
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this object created it; a caller's session stays open."""
        self._closed = True
        await self._auth.close()
        await self._exchange.close()

    # -- what the session knows ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The URL prefix requests go to (the scheme may change to HTTP for legacy firmware)."""
        return self._exchange.address.base_url

    @property
    def host(self) -> str:
        """The gateway's host name or address."""
        return self._exchange.address.host

    @property
    def serial(self) -> str | None:
        """The gateway serial number, once ``/info`` has been read."""
        return self._info.serial_number if self._info else None

    @property
    def firmware(self) -> str | None:
        """The firmware version (``8.3.5169``), once ``/info`` has been read."""
        return self._info.firmware if self._info else None

    @property
    def token(self) -> Token | None:
        """The token in use (its claims; the text itself only via ``Token.secret()``)."""
        tokens = self._auth.tokens
        return tokens.token if tokens else None

    @property
    def is_legacy(self) -> bool:
        """True for firmware below 7 (plain HTTP, no token, digest auth on inverters)."""
        return self._legacy

    @property
    def allow_control(self) -> bool:
        """Whether control writes may be sent (``allow_control=True``)."""
        return self._controller.allowed

    @property
    def control_policy(self) -> ControlPolicy:
        """How control writes are paced and read back."""
        return self._controller.policy

    @property
    def retried(self) -> int:
        """How many times a GET was sent again after a transient failure (a dropped, refused or
        timed-out connection, or a 502/503/504), since the session was created."""
        return self._exchange.retried

    # -- endpoints ------------------------------------------------------------------------

    async def info(self) -> Info:
        """``/info``: serial, part number, firmware and packages (XML, no auth needed)."""
        return await self._call(ep.INFO.path, self._load_info)

    async def device_list(self) -> DeviceList:
        """``/ivp/ensemble/device_list``: provisioned devices (batteries, inverters)."""
        return await self.fetch(ep.DEVICE_LIST)

    async def meters(self) -> tuple[Meter, ...]:
        """``/ivp/meters``: the current transformers (CT meters) and their configuration."""
        return await self.fetch(ep.METERS)

    async def meter_readings(self) -> tuple[MeterReading, ...]:
        """``/ivp/meters/readings``: live readings of every CT meter, with per-phase channels."""
        return await self.fetch(ep.METER_READINGS)

    async def production(self) -> Production:
        """``/api/v1/production``: production power and energy today, 7 days, lifetime."""
        return await self.fetch(ep.PRODUCTION)

    async def energy(self) -> Energy:
        """``/ivp/pdm/energy``: production and consumption counters per metering source."""
        return await self.fetch(ep.ENERGY)

    async def inverters(self) -> tuple[Inverter, ...]:
        """``/api/v1/production/inverters``: last and maximum report of every microinverter."""
        return await self.fetch(ep.INVERTERS)

    async def live_data(self) -> LiveData:
        """``/ivp/livedata/status``: live power of PV, storage, grid, load and generator."""
        return await self.fetch(ep.LIVE_DATA)

    async def consumption_reports(self) -> tuple[ConsumptionReport, ...]:
        """``/ivp/meters/reports/consumption``: net and total consumption reports."""
        return await self.fetch(ep.CONSUMPTION_REPORTS)

    async def grid_readings(self) -> tuple[GridReading, ...]:
        """``/ivp/meters/gridReading``: per-phase readings at the grid connection point."""
        return await self.fetch(ep.GRID_READINGS)

    # Beyond the vendor brief: batteries, System Controller, generator, settings, detail.
    # Sites without the hardware answer 404 (NotSupportedError) or empty bodies.

    async def inventory(self) -> EnsembleInventory:
        """``/ivp/ensemble/inventory``: IQ Batteries, System Controller, Collar, C6 combiner."""
        return await self.fetch(ep.ENSEMBLE_INVENTORY)

    async def battery_power(self) -> EnsemblePower:
        """``/ivp/ensemble/power``: power and charge of each IQ Battery."""
        return await self.fetch(ep.BATTERY_POWER)

    async def battery_summary(self) -> BatterySummary:
        """``/ivp/ensemble/secctrl``: aggregate charge and energy, backup reserve."""
        return await self.fetch(ep.BATTERY_SUMMARY)

    async def ensemble_status(self) -> EnsembleStatus:
        """``/ivp/ensemble/status``: device records, summary, relay and counters together."""
        return await self.fetch(ep.ENSEMBLE_STATUS)

    async def grid_relay(self) -> GridRelay:
        """``/ivp/ensemble/relay``: the grid relay, commanded and actual."""
        return await self.fetch(ep.GRID_RELAY)

    async def dry_contacts(self) -> DryContacts:
        """``/ivp/ensemble/dry_contacts``: each dry contact's state."""
        return await self.fetch(ep.DRY_CONTACTS)

    async def dry_contact_settings(self) -> DryContactSettings:
        """``/ivp/ss/dry_contact_settings``: each dry contact's configuration."""
        return await self.fetch(ep.DRY_CONTACT_SETTINGS)

    async def generator(self) -> Generator:
        """``/ivp/ensemble/generator``: the generator relay and its start and stop levels."""
        return await self.fetch(ep.GENERATOR)

    async def generator_config(self) -> GeneratorConfig:
        """``/ivp/ss/gen_config``: the generator's nameplate and start settings."""
        return await self.fetch(ep.GENERATOR_CONFIG)

    async def generator_schedule(self) -> GeneratorSchedule:
        """``/ivp/ss/gen_schedule``: the generator's exercise runs and schedule."""
        return await self.fetch(ep.GENERATOR_SCHEDULE)

    async def generator_mode(self) -> GeneratorMode:
        """``/ivp/ss/gen_mode``: the generator command (on, off, auto)."""
        return await self.fetch(ep.GENERATOR_MODE)

    async def tariff(self) -> Tariff:
        """``/admin/lib/tariff``: storage mode and reserve, prices, seasons and schedule."""
        return await self.fetch(ep.TARIFF)

    async def acb_config(self) -> AcbConfig:
        """``/admin/lib/acb_config``: AC Battery sleep settings."""
        return await self.fetch(ep.ACB_CONFIG)

    async def pv_limit(self) -> PvLimit:
        """``/ivp/sc/pvlimit``: the PV production limit."""
        return await self.fetch(ep.PV_LIMIT)

    async def export_limit(self) -> ExportLimit:
        """``/ivp/ss/pel_settings``: the power export limit."""
        return await self.fetch(ep.EXPORT_LIMIT)

    async def device_data(self) -> DeviceData:
        """``/ivp/pdm/device_data``: per inverter and CT detail, at most 50 devices."""
        return await self.fetch(ep.DEVICE_DATA)

    async def production_summary(self) -> ProductionSummary:
        """``/production.json?details=1`` (slow): production, consumption per phase, AC
        Batteries; firmware before 4 answers with the HTML page ``/production`` instead."""
        return await self.fetch(ep.PRODUCTION_SUMMARY)

    async def device_inventory(self) -> DeviceInventory:
        """``/inventory.json?deleted=1`` (slow): microinverters, AC Batteries, Q-relays, ESUBs."""
        return await self.fetch(ep.DEVICE_INVENTORY)

    async def home(self) -> Home:
        """``/home`` (very slow): time zone, clock, network, last cloud report, radio levels."""
        return await self.fetch(ep.HOME)

    async def meter_reports(self) -> tuple[ConsumptionReport, ...]:
        """``/ivp/meters/reports``: every meter report, production included."""
        return await self.fetch(ep.METER_REPORTS)

    async def pv_readings(self) -> tuple[PvReading, ...]:
        """``/ivp/meters/pvReading``: per-phase readings on the PV side."""
        return await self.fetch(ep.PV_READINGS)

    async def enable_live_stream(self) -> LiveStreamState:
        """Switch live data streaming on (``POST /ivp/livedata/stream``); it lapses in ~15 min."""

        async def switch_on() -> LiveStreamState:
            await self._ready()
            reply = await self._request("POST", ep.LIVE_STREAM_PATH, payload={"enable": 1})
            body = checked_body(ep.LIVE_STREAM_PATH, reply, xml=False)
            return parse_stream_status(body, strict=self._strict)

        return await self._call(ep.LIVE_STREAM_PATH, switch_on)

    # -- control writes (allow_control=True) -------------------------------------------------
    #
    # Each checks its input and the hardware, sends the whole body the gateway expects, and
    # reads back until the new state shows or ``wait_s`` (default: the control policy's)
    # ends. It returns a ControlResult; ControlNotAppliedError (carrying it) when the gateway
    # took the write but does not show it; ControlNotAllowedError without allow_control.

    async def set_grid_relay(
        self, *, connected: bool, wait_s: float | None = None
    ) -> ControlResult:
        """Close (``connected=True``, on grid) or open (off grid) the grid relay:
        ``POST /ivp/ensemble/relay``; applied once the actual relay state follows."""
        return await self._control("set_grid_relay", wait_s, connected=connected)

    async def set_dry_contact(
        self, contact_id: str, *, closed: bool, wait_s: float | None = None
    ) -> ControlResult:
        """Close or open a dry contact (``NC1``, ``NO1``...):
        ``POST /ivp/ensemble/dry_contacts``."""
        return await self._control("set_dry_contact", wait_s, contact_id=contact_id, closed=closed)

    async def update_dry_contact_settings(
        self, contact_id: str, *, wait_s: float | None = None, **fields: Any
    ) -> ControlResult:
        """Change settings of one dry contact, named as in
        :class:`~enphase_local.models.DryContactSetting` (``charge_low_percent=20``, also
        ``soc_low_percent``; ``grid_action="shed"``...): the whole entry read, changed in
        place and sent back (``POST /ivp/ss/dry_contact_settings``). Afterwards real gateways
        read every contact open for 5-90 s."""
        return await self._control(
            "update_dry_contact_settings", wait_s, contact_id=contact_id, **fields
        )

    async def set_generator_mode(self, mode: str, *, wait_s: float | None = None) -> ControlResult:
        """Command the generator ``on``, ``off`` or ``auto``: ``POST /ivp/ss/gen_mode``."""
        return await self._control("set_generator_mode", wait_s, mode=mode)

    async def set_storage_mode(self, mode: str, *, wait_s: float | None = None) -> ControlResult:
        """Use the batteries for ``backup``, ``self-consumption`` or ``savings``: the whole
        tariff read, changed and sent back (``PUT /admin/lib/tariff``)."""
        return await self._control("set_storage_mode", wait_s, mode=mode)

    async def set_reserve(self, *, percent: float, wait_s: float | None = None) -> ControlResult:
        """Keep ``percent`` (0-100) of the batteries' charge for outages (the tariff, as
        :meth:`set_storage_mode`)."""
        return await self._control("set_reserve", wait_s, percent=percent)

    async def set_charge_from_grid(
        self, enabled: bool, *, wait_s: float | None = None
    ) -> ControlResult:
        """Let the batteries charge from the grid, or not (the tariff, as
        :meth:`set_storage_mode`)."""
        return await self._control("set_charge_from_grid", wait_s, enabled=enabled)

    async def set_acb_sleep(
        self,
        serial: str,
        *,
        min_percent: float,
        max_percent: float,
        wait_s: float | None = None,
    ) -> ControlResult:
        """Let an AC Battery sleep between ``min_percent`` and ``max_percent`` of charge:
        ``PUT /admin/lib/acb_config`` (a body shape inferred, as no capture holds one)."""
        return await self._control(
            "set_acb_sleep", wait_s, serial=serial, min_percent=min_percent, max_percent=max_percent
        )

    async def wake_acb(self, serial: str, *, wait_s: float | None = None) -> ControlResult:
        """Wake an AC Battery: ``DELETE /admin/lib/acb_config`` naming it (as pyenphase)."""
        return await self._control("wake_acb", wait_s, serial=serial)

    async def control(
        self, control: str, /, *, wait_s: float | None = None, **arguments: Any
    ) -> ControlResult:
        """Any control write by its method name: ``control("set_reserve", percent=30)``."""
        return await self._control(control, wait_s, **arguments)

    async def prepare_control(self, control: str, /, **arguments: Any) -> PreparedWrite:
        """The exact request a control write would send now (method, URL, headers with the
        token masked, body), after checking its input and reading the gateway; nothing is
        written, and ``allow_control`` is not needed."""
        return await self._controller.prepare(control, arguments)

    def add_control_listener(self, listener: ControlListener) -> Callable[[], None]:
        """Tell ``listener`` when a write starts and ends (the poller watches what writes
        changed); returns the function that stops it."""
        return self._controller.add_listener(listener)

    async def _control(self, control: str, wait_s: float | None, **arguments: Any) -> ControlResult:
        return await self._controller.run(control, arguments, wait_s=wait_s)

    async def fetch(self, endpoint: Endpoint[T]) -> T:
        """Read any declared endpoint and parse it into its model."""
        if endpoint is ep.INFO:
            return await self.info()  # type: ignore[return-value]  # INFO is Endpoint[Info]

        async def read() -> T:
            if self._info is None:
                await self._ready()
            assert self._info is not None
            row = endpoint.for_firmware(self._info.firmware_version)
            reply = await self._get(row.path)
            if self._legacy and reply.status == 401:
                # Installer pages of old firmware: digest credentials not sent for them.
                raise EndpointForbiddenError(
                    f"{row.path}: firmware {self._info.firmware} refuses it without "
                    "installer credentials"
                )
            body = checked_body(row.path, reply, xml=row.xml)
            result: T = row.parse(body, strict=self._strict)
            return result

        return await self._call(endpoint.path, read, endpoint.timeout_s)

    async def raw_get(self, path: str) -> Reply:
        """GET ``path`` (a query string may follow) and return the reply as it came, whatever
        its status, without checking or parsing it: for tools that record what a gateway
        sends (``enphase-local capture``).

        It goes the way the endpoint methods go: the lock, the deadline, the certificate,
        ``/info`` first, the token flow (none for ``/info``; digest credentials for the
        inverters on legacy firmware). A 401 that survives a fresh token check still raises
        :class:`~enphase_local.errors.EndpointForbiddenError`.
        """

        async def read() -> Reply:
            await self._ready()
            return await self._get(path)

        return await self._call(path, read)

    # -- one call: the lock, the deadline ---------------------------------------------------

    async def _call(
        self, path: str, work: Callable[[], Awaitable[T]], limit_s: float | None = None
    ) -> T:
        """Run one public call with the request lock held, within the session's timeout (or
        ``limit_s``, a slow endpoint's own, when that is longer)."""
        if self._closed:
            raise self._closed_error()
        limit = max(self._timeout, limit_s or 0.0)
        try:
            async with asyncio.timeout(limit) as deadline, self._lock:
                return await work()
        except TimeoutError as err:
            if isinstance(err, GatewayTimeoutError) and not deadline.expired():
                raise  # a connect timeout: it says more than the call's deadline
            raise self._timed_out(path, limit) from err
        except EnphaseError as err:
            if deadline.expired():  # the deadline's cancellation, surfaced as another error
                raise self._timed_out(path, limit) from err
            raise

    def _timed_out(self, path: str, limit: float) -> GatewayTimeoutError:
        return GatewayTimeoutError(f"{path}: gateway {self.host} did not answer within {limit:g} s")

    def _closed_error(self) -> SessionClosedError:
        return SessionClosedError(f"the session with gateway {self.host} is closed")

    def _get(self, path: str) -> Awaitable[Reply]:
        if self._legacy and path == ep.INVERTERS.path:
            return self._auth.digest_get(path)
        if path == ep.INFO.path:  # never needs a token, so none is sent
            return self._exchange.get(path, PLAIN_HEADERS)
        return self._request("GET", path)

    def _request(
        self,
        method: str,
        path: str,
        *,
        payload: dict[str, int] | None = None,
        data: bytes | None = None,
    ) -> Awaitable[Reply]:
        if self._legacy:
            if method == "GET":
                return self._exchange.get(path, PLAIN_HEADERS)
            return self._exchange.send(method, path, PLAIN_HEADERS, payload=payload, data=data)
        return self._auth.request(method, path, payload=payload, data=data)

    # -- readiness: certificate, /info, scheme and auth mode --------------------------------

    async def _ready(self) -> None:
        if self._closed:
            raise self._closed_error()
        if self._info is None:
            await self._load_info()

    async def _load_info(self) -> Info:
        if self._trust_pending:
            await self._trust_certificate()
        try:
            reply = await self._exchange.get(ep.INFO.path, PLAIN_HEADERS)
        except GatewayConnectionError as err:
            if not self._may_try_http(err):
                raise
            reply = await self._info_over_http(err)
        body = checked_body(ep.INFO.path, reply, xml=True)
        info = ep.INFO.parse(body, strict=self._strict)
        self._adopt_info(info)
        return info

    def _may_try_http(self, err: GatewayConnectionError) -> bool:
        """Whether /info may be asked again over plain HTTP after an HTTPS failure.

        Only for an address given without a scheme and a certificate nothing pins: a pinned
        gateway is never spoken to in the clear (blocking 443 must not downgrade it).
        """
        address = self._exchange.address
        return (
            self._may_fall_back
            and not address.explicit_scheme
            and address.scheme == "https"
            and not isinstance(err, GatewayTimeoutError | CertificateMismatchError)
        )

    async def _info_over_http(self, https_error: GatewayConnectionError) -> Reply:
        # Legacy firmware may not listen on 443 at all: ask over HTTP, which is only kept
        # if /info then says the firmware needs no token.
        exchange = self._exchange
        exchange.address = exchange.address.with_scheme("http")
        try:
            return await exchange.get(ep.INFO.path, PLAIN_HEADERS)
        except GatewayConnectionError:
            exchange.address = exchange.address.with_scheme("https")
            raise https_error  # noqa: B904 - the HTTPS failure, with its own cause, is the one to report

    def _adopt_info(self, info: Info) -> None:
        legacy = not info.requires_token
        address = self._exchange.address
        if not legacy and address.scheme == "http":
            if not address.explicit_scheme:
                self._exchange.address = address.with_scheme("https")
                raise GatewayConnectionError(
                    f"gateway {self.host} runs firmware {info.firmware}, which needs HTTPS, "
                    "but it did not answer over HTTPS"
                )
            if not self._allow_http:
                raise AuthenticationError(
                    f"firmware {info.firmware} needs a token, which is not sent over plain "
                    "HTTP: use https:// or opt in with allow_http=True"
                )
        if self._info is not None and self._info.serial_number != info.serial_number:
            raise TokenSerialMismatchError(
                f"gateway {self.host} now reports serial {info.serial_number}, "
                f"not {self._info.serial_number}: refusing to send it this gateway's token"
            )
        self._auth.adopt_serial(info.serial_number, for_tokens=not legacy)
        self._info = info
        self._legacy = legacy

    async def _trust_certificate(self) -> None:
        """Trust on first use: pin what the store recorded, or record what the gateway shows.

        A first contact is a bare TLS handshake, once in the life of a store entry, so that
        even the first request (which carries no token) goes to a pinned certificate.
        """
        trust = self._trust
        assert trust is not None
        key = self._exchange.address.authority
        pin = await trust.pinned(key)
        if pin is None:
            seen = await self._peer_certificate()
            pin = await trust.record(key, seen)
            if pin != seen:
                raise CertificateMismatchError(
                    f"gateway {self.host}: its TLS certificate (sha256 {seen.hex()}) is not "
                    f"the one trusted on first use (sha256 {pin.hex()}); accept the new one "
                    f"in {trust.path} if the change is expected"
                )
        self._exchange.set_pin(pin)
        self._trust_pending = False

    async def _peer_certificate(self) -> bytes:
        try:
            seen = await peer_certificate_sha256(self._exchange.address)
        except (OSError, ssl.SSLError) as err:
            raise GatewayConnectionError(
                f"cannot reach gateway {self.host} to read its certificate: {describe(err)}"
            ) from err
        if seen is None:
            raise CertificateMismatchError(f"gateway {self.host} presented no certificate")
        return seen


class _ControlPort:
    """The session as the control writes see it: reads, and one way to send a write."""

    __slots__ = ("_session",)

    def __init__(self, session: GatewaySession) -> None:
        self._session = session

    @property
    def host(self) -> str:
        return self._session.host

    async def fetch(self, endpoint: Endpoint[T]) -> T:
        return await self._session.fetch(endpoint)

    async def read_document(self, endpoint: Endpoint[T]) -> tuple[T, Any]:
        """One GET: the model and the decoded JSON the body of a read-modify-write comes from."""
        session = self._session

        async def read() -> tuple[T, Any]:
            await session._ready()
            reply = await session._get(endpoint.path)
            body = checked_body(endpoint.path, reply, xml=False)
            model: T = endpoint.parse(body, strict=session._strict)
            try:
                document = json.loads(body)
            except ValueError as err:
                raise PayloadError(f"not JSON: {err}", endpoint=endpoint.path) from err
            return model, document

        return await session._call(endpoint.path, read, endpoint.timeout_s)

    def url(self, path: str) -> str:
        return self._session.base_url + path

    def masked_headers(self) -> Mapping[str, str]:
        session = self._session
        headers = dict(PLAIN_HEADERS) if session.is_legacy else session._auth.masked_headers()
        return {**headers, "Content-Type": "application/json"}

    async def send_write(self, method: str, path: str, body: bytes) -> Reply:
        session = self._session

        async def send() -> Reply:
            await session._ready()
            return await session._request(method, path, data=body)

        return await session._call(path, send)
