"""The collector's configuration: typed, frozen models (``model``) and the strict YAML loader
(``loader``: unknown keys, wrong types and bad values are ConfigError naming file, line and key
path). Import the types and :func:`load_config` from here."""

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
