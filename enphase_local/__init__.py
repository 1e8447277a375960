"""Async, typed client for Enphase IQ Gateways (Envoys) over their local API.

Start with :class:`GatewaySession`::

    async with GatewaySession("envoy.local", token="eyJ...") as gateway:
        readings = await gateway.meter_readings()
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from enphase_local.auth.cache import TokenCache
from enphase_local.auth.cloud import EnphaseCloud
from enphase_local.auth.manager import TokenManager
from enphase_local.auth.sources import (
    CachedTokenSource,
    CallbackTokenSource,
    CloudTokenSource,
    StaticTokenSource,
    TokenFileSource,
    TokenSource,
)
from enphase_local.auth.token import RefreshMargin, Token, TokenRole
from enphase_local.endpoints import ENDPOINTS, Cadence, Endpoint
from enphase_local.errors import (
    AuthenticationError,
    CertificateMismatchError,
    CloudError,
    CloudLoginError,
    CloudSerialError,
    CloudUnavailableError,
    EndpointForbiddenError,
    EnphaseError,
    GatewayConnectionError,
    GatewayTimeoutError,
    HttpStatusError,
    InvalidTokenError,
    MfaRequiredError,
    NotSupportedError,
    PayloadError,
    ResponseTooLargeError,
    TokenExpiredError,
    TokenRejectedError,
    TokenSerialMismatchError,
)
from enphase_local.events import (
    DataEvent,
    ErrorEvent,
    Event,
    GatewayState,
    StateEvent,
    UnsupportedEvent,
)
from enphase_local.models import (
    BuildInfo,
    ConsumptionReport,
    DeviceList,
    DeviceType,
    Energy,
    GridChannel,
    GridReading,
    Info,
    Inverter,
    LiveConnection,
    LiveData,
    LiveMeters,
    LivePower,
    LiveStreamState,
    LiveTasks,
    MeasurementType,
    Meter,
    MeterChannelReading,
    MeteringStatus,
    MeterReading,
    MeterState,
    Package,
    PhaseMode,
    Production,
    ProvisionedDevice,
    ReportType,
    ReportValues,
    UsbStatus,
)
from enphase_local.scheduler import (
    BackoffPolicy,
    DiscoveredGateway,
    GatewaySpec,
    GatewayStats,
    Poller,
    PollerStats,
    PollPlan,
    discover_gateways,
)
from enphase_local.session import GatewaySession

try:
    __version__ = version("enphase-local")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
    __version__ = "0+unknown"

__all__ = [
    "ENDPOINTS",
    "AuthenticationError",
    "BackoffPolicy",
    "BuildInfo",
    "CachedTokenSource",
    "Cadence",
    "CallbackTokenSource",
    "CertificateMismatchError",
    "CloudError",
    "CloudLoginError",
    "CloudSerialError",
    "CloudTokenSource",
    "CloudUnavailableError",
    "ConsumptionReport",
    "DataEvent",
    "DeviceList",
    "DeviceType",
    "DiscoveredGateway",
    "Endpoint",
    "EndpointForbiddenError",
    "Energy",
    "EnphaseCloud",
    "EnphaseError",
    "ErrorEvent",
    "Event",
    "GatewayConnectionError",
    "GatewaySession",
    "GatewaySpec",
    "GatewayState",
    "GatewayStats",
    "GatewayTimeoutError",
    "GridChannel",
    "GridReading",
    "HttpStatusError",
    "Info",
    "InvalidTokenError",
    "Inverter",
    "LiveConnection",
    "LiveData",
    "LiveMeters",
    "LivePower",
    "LiveStreamState",
    "LiveTasks",
    "MeasurementType",
    "Meter",
    "MeterChannelReading",
    "MeterReading",
    "MeterState",
    "MeteringStatus",
    "MfaRequiredError",
    "NotSupportedError",
    "Package",
    "PayloadError",
    "PhaseMode",
    "PollPlan",
    "Poller",
    "PollerStats",
    "Production",
    "ProvisionedDevice",
    "RefreshMargin",
    "ReportType",
    "ReportValues",
    "ResponseTooLargeError",
    "StateEvent",
    "StaticTokenSource",
    "Token",
    "TokenCache",
    "TokenExpiredError",
    "TokenFileSource",
    "TokenManager",
    "TokenRejectedError",
    "TokenRole",
    "TokenSerialMismatchError",
    "TokenSource",
    "UnsupportedEvent",
    "UsbStatus",
    "__version__",
    "discover_gateways",
]
