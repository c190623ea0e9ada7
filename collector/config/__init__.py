"""The collector's configuration: typed, frozen pydantic models (``model``; how YAML values are
read: ``types``), the strict YAML loader (``loader``: unknown keys, wrong types and bad values
are ConfigError naming file, line and key path) and the file's JSON Schema (``file_schema``).
Import the types and :func:`load_config` from here."""

from collector.config.loader import load_config
from collector.config.model import (
    DEFAULT_PROBES,
    DEFAULT_SNMP_PROFILE,
    DEVICE_KINDS,
    PROBE_KINDS,
    CollectorSettings,
    Config,
    ConfigFile,
    DeviceConfig,
    EmailConfig,
    Listen,
    MaintenanceWindow,
    NotificationConfig,
    ProbeConfig,
    Schedule,
    SnmpProfile,
    StorageConfig,
    Threshold,
    TicketSettings,
    WebhookConfig,
    WeeklyWindow,
)

__all__ = [
    "DEFAULT_PROBES",
    "DEFAULT_SNMP_PROFILE",
    "DEVICE_KINDS",
    "PROBE_KINDS",
    "CollectorSettings",
    "Config",
    "ConfigFile",
    "DeviceConfig",
    "EmailConfig",
    "Listen",
    "MaintenanceWindow",
    "NotificationConfig",
    "ProbeConfig",
    "Schedule",
    "SnmpProfile",
    "StorageConfig",
    "Threshold",
    "TicketSettings",
    "WebhookConfig",
    "WeeklyWindow",
    "load_config",
]
