"""Typed, frozen configuration of the collector.

This module holds the types only; ``collector.config_loader`` reads YAML into them (strict: unknown
keys, wrong types and bad values are ConfigError naming file, line and key path).
Defaults live here, in one place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from probes.base import ProbeSettings
from probes.registry import KINDS
from probes.secret import Secret
from probes.snmp import SnmpCredentials, SnmpTarget

DEVICE_KINDS = ("printer", "copier", "workstation", "server", "network")
PROBE_KINDS = KINDS  # every probe kind, from the registry


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class SnmpProfile:
    """Named SNMP credentials, referenced by devices as ``snmp: NAME``."""

    name: str
    version: str = "2c"
    community: Secret = field(default_factory=lambda: Secret("public"))
    user: str | None = None
    auth_protocol: str | None = None
    auth_key: Secret | None = None
    priv_protocol: str | None = None
    priv_key: Secret | None = None
    context: str = ""
    timeout: float = 2.0
    retries: int = 1
    max_repetitions: int = 10

    def credentials(self) -> SnmpCredentials:
        return SnmpCredentials(
            version=self.version, community=self.community, user=self.user,
            auth_protocol=self.auth_protocol, auth_key=self.auth_key,
            priv_protocol=self.priv_protocol, priv_key=self.priv_key, context=self.context,
        )


DEFAULT_SNMP_PROFILE = SnmpProfile(name="default")


# One probe of one device: the settings model of its kind (``probes.registry``), e.g.
# ``PrinterSettings(interval=60, full_every=10)``; build one with ``probe_settings(kind, ...)``.
ProbeConfig = ProbeSettings


@dataclass(frozen=True, slots=True)
class Threshold:
    """A numeric metric threshold that opens a fault (e.g. ``disk_used_percent`` > 90).

    ``direction``: "above" (bad when value >= level) or "below" (bad when value <= level).
    ``hysteresis``: the value must come back past level ∓ hysteresis before the fault clears.
    """

    metric: str
    warning: float | None = None
    critical: float | None = None
    direction: str = "above"
    hysteresis: float = 0.0


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """A recurring window, e.g. business hours Mon-Fri 08:00-18:00. ``days``: 0=Monday."""

    days: frozenset[int]
    start: dt.time
    end: dt.time


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A one-off window (timezone-aware) during which new tickets are suppressed."""

    start: dt.datetime
    end: dt.datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Schedule:
    """When tickets may open for a device or site. Empty ``business_hours`` = always."""

    business_hours: tuple[WeeklyWindow, ...] = ()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    name: str
    host: str
    kind: str = "printer"
    port: int = 161
    site: str | None = None
    location: str | None = None
    tags: Mapping[str, str] = field(default_factory=_empty)
    parent: str | None = None
    snmp: SnmpProfile = DEFAULT_SNMP_PROFILE
    probes: tuple[ProbeConfig, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    # The device's own time zone (its ``timezone`` key, or its ``defaults.<kind>``'s), None when
    # it has none. ``schedule.timezone`` is the zone in effect: this one, else the site's, else
    # UTC (:func:`collector.faults.effective_schedule`).
    timezone: str | None = None
    schedule: Schedule = field(default_factory=Schedule)

    def snmp_target(self) -> SnmpTarget:
        p = self.snmp
        return SnmpTarget(self.host, self.port, p.credentials(), timeout=p.timeout,
                          retries=p.retries, max_repetitions=p.max_repetitions)


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """Where metrics go. ``backend``: influxdb_v1 | influxdb_v2 | none."""

    backend: str = "none"
    url: str = "http://127.0.0.1:8086"
    database: str = "fleetwatch"
    retention_policy: str | None = None
    username: str | None = None
    password: Secret | None = None
    org: str | None = None
    bucket: str | None = None
    token: Secret | None = None
    batch_size: int = 5000
    flush_interval: float = 1.0
    timeout: float = 10.0
    spool_dir: Path | None = None  # default: <state_dir>/spool
    spool_max_bytes: int = 256 * 1024 * 1024
    create_database: bool = True


@dataclass(frozen=True, slots=True)
class CollectorSettings:
    listen_host: str = "127.0.0.1"
    listen_port: int = 8730
    state_dir: Path = Path("/var/lib/fleetwatch")
    max_concurrency: int = 200
    jitter: float = 1.0  # fraction of an interval over which first polls are spread
    sleep_grace: float = 300.0  # seconds a silent, previously-good printer is "asleep?"
    api_token: Secret | None = None  # when set, POST/PATCH need "Authorization: Bearer ..."
    # names (besides the listen address) a state-changing request's Host/Origin may carry
    allowed_hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TicketSettings:
    debounce_polls: int = 2  # a fault must be seen this many polls in a row ...
    debounce_seconds: float = 0.0  # ... and have lasted this long, before a ticket opens
    flap_window: float = 3600.0  # a fault back within this many seconds reopens its ticket
    auto_resolve: bool = True  # resolve when cleared (else wait for a technician)
    clear_polls: int = 1  # polls without the fault before it counts as cleared


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: str
    headers: Mapping[str, str] = field(default_factory=_empty)
    timeout: float = 5.0
    retries: int = 3


@dataclass(frozen=True, slots=True)
class EmailConfig:
    host: str
    port: int = 25
    sender: str = "fleetwatch@localhost"
    to: tuple[str, ...] = ()
    username: str | None = None
    password: Secret | None = None
    starttls: bool = False
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class NotificationConfig:
    webhook: WebhookConfig | None = None
    email: EmailConfig | None = None


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    collector: CollectorSettings = field(default_factory=CollectorSettings)
    storage: StorageConfig = field(default_factory=StorageConfig)
    snmp_profiles: Mapping[str, SnmpProfile] = field(default_factory=lambda: MappingProxyType({}))
    sites: Mapping[str, Schedule] = field(default_factory=lambda: MappingProxyType({}))
    devices: tuple[DeviceConfig, ...] = ()
    tickets: TicketSettings = field(default_factory=TicketSettings)
    notifications: NotificationConfig = field(default_factory=NotificationConfig)

    def device(self, name: str) -> DeviceConfig | None:
        return next((d for d in self.devices if d.name == name), None)
