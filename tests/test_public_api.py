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
    # Batteries, System Controller, generator, settings and detail (issue 14), and the quirks.
    "QUIRKS", "Quirk", "AcbConfig", "Battery", "BatteryCommLevel", "BatteryPower",
    "BatterySchedule", "BatterySummary", "ChannelLifetime", "ChannelReading", "Collar",
    "CombinerController", "CommLevel", "CommLevels", "DeviceChannel", "DeviceControl",
    "DeviceData", "DeviceDetail", "DeviceInventory", "DeviceKind", "DryContact",
    "DryContactAction", "DryContactSetting", "DryContactSettings", "DryContactState",
    "DryContactType", "DryContacts", "EnsembleDevice", "EnsembleInventory", "EnsemblePower",
    "EnsembleStatus", "ExerciseRun", "ExportLimit", "Generator", "GeneratorCommand",
    "GeneratorConfig", "GeneratorDay", "GeneratorMode", "GeneratorPeriod", "GeneratorSchedule",
    "GeneratorSeason", "GridMode", "GridRelay", "Home", "InventoryDevice", "NetworkInterface",
    "OffGridControl", "Phase", "ProductionSummary", "PvChannel", "PvLimit", "PvReading",
    "RelayState", "ScheduleSlot", "ScheduleWeek", "SingleRate", "SourceType", "StorageMode",
    "StorageSettings", "StorageState", "StorageSummary", "SummaryLine", "SummarySource",
    "SystemController", "Tariff", "TariffDay", "TariffPeriod", "TariffSeason", "TariffTier",
    "WirelessConnection",
    # The energy tracker and what it derives.
    "CounterDecision", "CounterEvent", "EnergyEvent", "EnergyTracker", "SinkEvent",
    # Control writes (issue 15).
    "ControlError", "ControlNotAllowedError", "ControlNotAppliedError", "ControlPolicy",
    "ControlRejectedError", "ControlResult", "ControlRevertedEvent", "ControlValidationError",
    "PreparedWrite",
}  # fmt: skip


def test_public_names_are_pinned() -> None:
    assert set(enphase_local.__all__) == PUBLIC
    for name in PUBLIC:
        assert hasattr(enphase_local, name), name


def test_session_methods_are_the_documented_ones() -> None:
    methods = {
        "info", "device_list", "meters", "meter_readings", "production", "energy",
        "inverters", "live_data", "enable_live_stream", "consumption_reports",
        "grid_readings", "inventory", "battery_power", "battery_summary", "ensemble_status",
        "grid_relay", "dry_contacts", "dry_contact_settings", "generator", "generator_config",
        "generator_schedule", "generator_mode", "tariff", "acb_config", "pv_limit",
        "export_limit", "device_data", "production_summary", "device_inventory", "home",
        "meter_reports", "pv_readings",
        # Control writes (issue 15).
        "set_grid_relay", "set_dry_contact", "update_dry_contact_settings",
        "set_generator_mode", "set_storage_mode", "set_reserve", "set_charge_from_grid",
        "set_acb_sleep", "wake_acb", "control", "prepare_control", "add_control_listener",
    }  # fmt: skip
    for name in methods:
        assert callable(getattr(enphase_local.GatewaySession, name))


def test_timeout_error_is_also_builtin() -> None:
    assert issubclass(enphase_local.GatewayTimeoutError, TimeoutError)
    assert issubclass(enphase_local.GatewayTimeoutError, enphase_local.GatewayConnectionError)


def test_control_errors_sit_in_the_tree() -> None:
    assert issubclass(enphase_local.ControlError, enphase_local.EnphaseError)
    assert issubclass(enphase_local.ControlValidationError, ValueError)
    assert issubclass(enphase_local.ControlRejectedError, enphase_local.HttpStatusError)
    for error in (
        enphase_local.ControlNotAllowedError,
        enphase_local.ControlNotAppliedError,
        enphase_local.ControlRejectedError,
        enphase_local.ControlValidationError,
    ):
        assert issubclass(error, enphase_local.ControlError)
