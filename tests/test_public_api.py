"""The public names are a contract: changing them is a deliberate, visible act."""

from __future__ import annotations

import enphase_local

PUBLIC = {
    "ENDPOINTS", "AuthenticationError", "BuildInfo", "Cadence", "CachedTokenSource",
    "CallbackTokenSource", "CertificateMismatchError", "CloudError", "CloudLoginError",
    "CloudSerialError", "CloudTokenSource", "CloudUnavailableError", "ConsumptionReport",
    "DeviceList", "DeviceType", "Endpoint", "EndpointForbiddenError", "Energy", "EnphaseCloud",
    "EnphaseError",
    "GatewayConnectionError", "GatewaySession", "GatewayTimeoutError", "GridChannel",
    "GridReading", "HttpStatusError", "Info", "InvalidTokenError", "Inverter",
    "LiveConnection", "LiveData", "LiveMeters", "LivePower", "LiveStreamState", "LiveTasks",
    "MeasurementType", "Meter", "MeterChannelReading", "MeterReading", "MeterState",
    "MeteringStatus", "MfaRequiredError", "NotSupportedError", "Package", "PayloadError",
    "PhaseMode", "PrivateFileError", "Production", "ProvisionedDevice", "RefreshMargin",
    "ReportType", "ReportValues", "ResponseTooLargeError", "SessionClosedError",
    "StaticTokenSource", "Token", "TokenCache",
    "TokenExpiredError", "TokenFileSource", "TokenManager", "TokenRejectedError", "TokenRole",
    "TokenSerialMismatchError", "TokenSource", "TrustStore", "UsbStatus", "__version__",
    # The scheduler and its events.
    "BackoffPolicy", "DataEvent", "DiscoveredGateway", "ErrorEvent", "Event", "GatewaySpec",
    "GatewayState", "GatewayStats", "PollPlan", "Poller", "PollerStats", "StateEvent",
    "UnsupportedEvent", "discover_gateways",
    # The energy tracker and what it derives.
    "CounterDecision", "CounterEvent", "EnergyEvent", "EnergyTracker", "SinkEvent",
}  # fmt: skip


def test_public_names_are_pinned() -> None:
    assert set(enphase_local.__all__) == PUBLIC
    for name in PUBLIC:
        assert hasattr(enphase_local, name), name


def test_session_methods_are_the_documented_ones() -> None:
    methods = {
        "info", "device_list", "meters", "meter_readings", "production", "energy",
        "inverters", "live_data", "enable_live_stream", "consumption_reports",
        "grid_readings",
    }  # fmt: skip
    for name in methods:
        assert callable(getattr(enphase_local.GatewaySession, name))


def test_timeout_error_is_also_builtin() -> None:
    assert issubclass(enphase_local.GatewayTimeoutError, TimeoutError)
    assert issubclass(enphase_local.GatewayTimeoutError, enphase_local.GatewayConnectionError)
