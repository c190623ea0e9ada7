"""The collector's configuration as pydantic v2 models: every key's type, default, bounds and
description in one place, and the rules that tie keys together as validators.

Two shapes:
- the file: :class:`ConfigFile` is the YAML document as written (``defaults``, device entries
  naming a profile and a site); it is what ``fleetwatch config schema`` prints;
- the resolved config: :class:`Config` with :class:`DeviceConfig` (defaults merged, profile and
  schedule resolved) is what the collector uses. :mod:`collector.config.loader` turns one into
  the other.

Every model is a frozen pydantic dataclass with ``extra="forbid"``: code and tests build them
like dataclasses (``Threshold("black", warning=20)``, ``dataclasses.replace``) and pydantic checks
those values too. Values read from YAML arrive as :class:`~collector.config.types.Scalar` and are
converted by the types of :mod:`collector.config.types`; rules that depend on which keys were
*written* (``applies to backend influxdb_v1 only``) run only for the loader (its validation
context), since a dataclass does not know which fields were given.

Adding a top-level section (say ``supplies``) is one field on :class:`ConfigFile` and the same on
:class:`Config`: ``supplies: SuppliesSettings = Field(default_factory=SuppliesSettings)``; the
loader copies every section of the file that :class:`Config` also has (docs/configuration.md,
"Adding a config key").
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, NamedTuple

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import ArgsKwargs, InitErrorDetails, PydanticCustomError, ValidationError

from collector.auth.settings import AuthSettings
from collector.config.types import (
    DURATION_PATTERN,
    NAME_SCHEMA,
    SECRET_SCHEMA,
    Address,
    AnyText,
    Bool,
    Days,
    Duration,
    EndTime,
    FilePath,
    Host,
    Int,
    Number,
    SecretValue,
    Size,
    StartTime,
    Text,
    Timestamp,
    TimeZone,
    bound_message,
    choice_of,
    context,
    describe,
    detail,
    enum_schema,
    from_yaml,
    host_problem,
    name_of,
    problem,
    problems,
    suggest,
    to_addresses,
    to_bool,
    to_duration,
    to_int,
    to_number,
    to_path,
    to_secret,
    to_text,
    to_timezone,
    to_url,
    tzinfo,
)
from collector.ingest.settings import IngestSettings
from collector.schema import RESERVED_TAGS
from collector.supplies.settings import SuppliesSettings
from probes.base import ProbeSettings
from probes.registry import KINDS, PROBES, probe_settings
from probes.secret import Secret
from probes.snmp import AUTH_PROTOCOLS, PRIV_PROTOCOLS, SnmpCredentials, SnmpTarget

PROBE_KINDS = KINDS  # every probe kind, from the registry
SNMP_VERSIONS = ("1", "2c", "3")
STORAGE_BACKENDS = ("influxdb_v1", "influxdb_v2", "none")

# Frozen, unknown keys refused, inputs never quoted in pydantic's own messages (secrets).
_CONFIG = ConfigDict(extra="forbid", populate_by_name=True, hide_input_in_errors=True)


def _before(fn: Callable[[Any, ValidationInfo], Any]) -> BeforeValidator:
    return BeforeValidator(fn)


_EMPTY_MAP = BeforeValidator(lambda v: {} if v is None else v)  # YAML "key:" = empty mapping
_EMPTY_LIST = BeforeValidator(lambda v: [] if v is None else v)  # YAML "key:" = empty list
# An optional section written "key:" (no value) is an empty one; None from code = not given.
_NONE_MAP = BeforeValidator(lambda v, i: {} if v is None and from_yaml(i) else v)
# An optional list written "key:" (no value) is an empty list; None from code stays "not given".
_NONE_LIST = BeforeValidator(lambda v, i: [] if v is None and from_yaml(i) else v)
_READ_ONLY = AfterValidator(lambda v: MappingProxyType(dict(v)))

OptText = Annotated[str | None, _before(to_text)]
OptInt = Annotated[int | None, _before(to_int)]
OptNumber = Annotated[float | None, _before(to_number)]
OptTimeZone = Annotated[str | None, _before(to_timezone)]
OptSecret = Annotated[Secret | None, PlainValidator(
    lambda v, i: None if v is None and not from_yaml(i) else to_secret(v, i)),
    PlainSerializer(lambda v: None if v is None else str(v)),
    WithJsonSchema(SECRET_SCHEMA)]


def _written(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else {}


def _fields_of(cls: Any) -> set[str]:
    return {f.alias or name for name, f in cls.__pydantic_fields__.items()}


def _both_or_neither(keys: Iterable[str], first: str = "username", second: str = "password"
                     ) -> list[InitErrorDetails]:
    """An error on the missing key when only one of ``first`` and ``second`` is written."""
    written = set(keys)
    if (first in written) == (second in written):
        return []
    missing = second if first in written else first
    return [detail((missing,), f"{first} and {second} go together: give both or neither")]


def _checked(title: str, data: Any, handler: ValidatorFunctionWrapHandler,
             found: list[InitErrorDetails]) -> Any:
    """Run ``handler`` and raise its errors together with ``found`` (all at once)."""
    try:
        value = handler(data)
    except ValidationError as err:
        raise problems(title, found, err) from None
    if found:
        raise problems(title, found)
    return value


# -- SNMP -----------------------------------------------------------------------------------------

_V3_ONLY = ("user", "auth_protocol", "auth_key", "priv_protocol", "priv_key", "context")


@dataclass(frozen=True, config=_CONFIG)
class SnmpProfile:
    """Named SNMP credentials, referenced by devices as ``snmp: NAME``."""

    name: SkipJsonSchema[str] = Field(
        default="default", description="the profile's name: its key under snmp_profiles")
    version: Annotated[str, _before(choice_of("SNMP version", SNMP_VERSIONS)),
                       WithJsonSchema({"enum": [*SNMP_VERSIONS, 1, 3]})] = Field(
        default="2c", description="SNMP version: 1, 2c or 3 (quote it: \"2c\", \"3\")")
    community: SecretValue = Field(
        default=Secret("public"), description="community (versions 1 and 2c)")
    user: OptText = Field(default=None, description="SNMPv3 user name")
    auth_protocol: Annotated[str | None, _before(choice_of(
        "auth protocol", AUTH_PROTOCOLS, fold=True)), enum_schema(AUTH_PROTOCOLS)] = Field(
        default=None, description="SNMPv3 authentication: " + ", ".join(AUTH_PROTOCOLS))
    auth_key: OptSecret = Field(default=None, description="SNMPv3 authentication key (>= 8 characters)")
    priv_protocol: Annotated[str | None, _before(choice_of(
        "privacy protocol", PRIV_PROTOCOLS, fold=True)), enum_schema(PRIV_PROTOCOLS)] = Field(
        default=None, description="SNMPv3 privacy: " + ", ".join(PRIV_PROTOCOLS))
    priv_key: OptSecret = Field(default=None, description="SNMPv3 privacy key (>= 8 characters)")
    context: AnyText = Field(default="", description="SNMPv3 context name")
    timeout: Duration = Field(default=2.0, gt=0, description="seconds to wait for one answer")
    retries: Int = Field(default=1, ge=0, description="resends after a timeout")
    max_repetitions: Int = Field(default=10, ge=1, description="rows per GETBULK request")

    @model_validator(mode="wrap")
    @classmethod
    def _keys_of_the_version(cls, data: Any, handler: ValidatorFunctionWrapHandler,
                             info: ValidationInfo) -> Any:
        if not from_yaml(info):
            return handler(data)
        keys = _written(data)
        raw = keys.get("version", "2c")
        version = str(raw) if str(raw) in SNMP_VERSIONS else ""
        found: list[InitErrorDetails] = []
        for key in keys:
            if version == "3" and key == "community":
                found.append(detail((key,), "applies to SNMP versions 1 and 2c only "
                                    "(version is 3)"))
            elif version in ("1", "2c") and key in _V3_ONLY:
                found.append(detail((key,), f"applies to SNMPv3 only (version is {version}); "
                                    "set version: 3"))
        for key, proto in (("auth_key", "auth_protocol"), ("priv_key", "priv_protocol")):
            if version == "3" and key in keys and proto not in keys:
                found.append(detail((key,), f"needs {proto} as well"))
        profile: SnmpProfile = _checked("SnmpProfile", data, handler, found)
        try:
            profile.credentials()  # the same v3 rules as `fleetwatch check`
        except ValueError as err:
            raise problem(str(err)) from None
        return profile

    def credentials(self) -> SnmpCredentials:
        return SnmpCredentials(
            version=self.version, community=self.community, user=self.user,
            auth_protocol=self.auth_protocol, auth_key=self.auth_key,
            priv_protocol=self.priv_protocol, priv_key=self.priv_key, context=self.context,
        )


DEFAULT_SNMP_PROFILE = SnmpProfile(name="default")


# -- probes ---------------------------------------------------------------------------------------

# One probe of one device: the settings model of its kind (``probes.registry``), e.g.
# ``PrinterSettings(interval=60, full_every=10)``; build one with ``probe_settings(kind, ...)``.
ProbeConfig = ProbeSettings

# How a probe key's YAML value is read, by the type of its settings field; ``url`` keys are
# checked as URLs. A float of a probe's settings is a number of seconds.
_PROBE_READERS: Mapping[Any, Callable[[Any, ValidationInfo], Any]] = {
    float: to_duration, int: to_int, int | None: to_int, bool: to_bool, str: to_text,
    str | None: to_text}
_PROBE_KEY_READERS = {"url": to_url}
# Keys a kind's settings allow to be left out but the config requires (the tcp probe has no
# sensible default port: a device's port is its SNMP port).
_PROBE_REQUIRED = {"tcp": ("port",)}


def _probe_keys() -> dict[str, list[str]]:
    owners: dict[str, list[str]] = {}
    for kind, cls in PROBES.items():
        for key in cls.settings.model_fields:
            if key != "kind":
                owners.setdefault(key, []).append(kind)
    return owners


_PROBE_OWNERS = _probe_keys()


def _probe(value: Any, info: ValidationInfo) -> ProbeSettings:
    """A probe entry: ``kind`` picks the settings model from the registry."""
    if isinstance(value, ProbeSettings):
        return value
    if not isinstance(value, dict):
        raise problem(f"expected a mapping (key: value lines), got {describe(value)}")
    found: list[InitErrorDetails] = []
    kind: str | None = None
    if "kind" not in value:
        found.append(detail(("kind",), f"is required (one of {', '.join(KINDS)})"))
    else:
        try:
            kind = choice_of("probe kind", KINDS)(value["kind"], info)
        except PydanticCustomError as err:
            found.append(InitErrorDetails(type=err, loc=("kind",), input=None))
    values: dict[str, Any] = {}
    for key, raw in value.items():
        owners = _PROBE_OWNERS.get(key)
        if key == "kind":
            continue
        if owners is None:
            found.append(detail((key,), "unknown key" + suggest(key, ["kind", *_PROBE_OWNERS])))
            continue
        if kind is not None and kind not in owners:
            found.append(detail((key,), f"applies to {' or '.join(owners)} probes only"))
            continue
        field = PROBES[kind or owners[0]].settings.model_fields[key]
        read = _PROBE_KEY_READERS.get(key) or _PROBE_READERS.get(field.annotation, to_text)
        try:
            values[key] = read(raw, info)
        except PydanticCustomError as err:
            found.append(InitErrorDetails(type=err, loc=(key,), input=None))
    for key in _PROBE_REQUIRED.get(kind or "", ()):
        if key not in value:
            found.append(detail((key,), f"is required for a {kind} probe"))
    if kind is None:
        raise problems("probe", found)
    cls = PROBES[kind].settings
    # Compared whenever both are valid (written or default), even if another key is not.
    timeout = values.get("timeout", cls.model_fields["timeout"].default)
    interval = values.get("interval", cls.model_fields["interval"].default)
    if (("timeout" in values) == ("timeout" in value)
            and ("interval" in values) == ("interval" in value)
            and isinstance(timeout, float) and isinstance(interval, float)
            and 0 < interval <= timeout):
        key = "timeout" if "timeout" in value else "interval"
        found.append(detail((key,), f"timeout ({timeout:g} s) must be shorter than interval "
                            f"({interval:g} s)"))
    try:
        settings = probe_settings(kind, **values)
    except ValidationError as err:
        found += [detail(e["loc"], bound_message(e, cls.model_fields[str(e["loc"][0])].metadata)
                         or e["msg"]) for e in err.errors()]
    if found:
        raise problems("probe", found)
    return settings


def _probe_schema() -> dict[str, Any]:
    kinds = []
    for kind, cls in PROBES.items():
        schema = cls.settings.model_json_schema()
        props = schema.get("properties", {})
        props["kind"] = {"const": kind, "description": "the probe's kind"}
        for key, field in cls.settings.model_fields.items():
            if field.annotation is float and key in props:  # seconds: 30, "30s", "5m"
                number = dict(props[key])
                props[key] = {k: number.pop(k) for k in ("description", "default", "title")
                              if k in number}
                props[key]["anyOf"] = [number, {"type": "string", "pattern": DURATION_PATTERN}]
        schema["required"] = ["kind", *_PROBE_REQUIRED.get(kind, ())]
        schema.pop("title", None)
        kinds.append(schema)
    return {"type": "object", "oneOf": kinds,
            "description": "a probe: kind (" + ", ".join(KINDS) + ") and its settings"}


ProbeEntry = Annotated[ProbeSettings, PlainValidator(_probe), WithJsonSchema(_probe_schema())]


def _unique(what: str, key: str, clash: str) -> Callable[..., Any]:
    """A list validator: items must differ in ``key``; a repeat is an error at the repeat's
    ``key`` worded by ``clash`` (``{value}``, ``{line}`` = the first's line)."""
    def check(data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        if data is None and from_yaml(info):
            data = []
        if not from_yaml(info) or not isinstance(data, list):
            return handler(data)
        found: list[InitErrorDetails] = []
        first: dict[str, int] = {}
        for i, item in enumerate(data):
            name = item.get(key) if isinstance(item, dict) else None
            if not isinstance(name, str):
                continue
            if name in first:
                found.append(detail((i, key), clash.format(value=name, line="{line}"),
                                    ref=(first[name],), up=2))
            else:
                first[name] = i
        return _checked(what, data, handler, found)
    return check


# -- thresholds and schedules ---------------------------------------------------------------------


@dataclass(frozen=True, config=_CONFIG)
class Threshold:
    """A numeric metric threshold that opens a fault (e.g. ``disk_used_percent`` > 90).

    ``direction``: "above" (bad when value >= level) or "below" (bad when value <= level).
    ``hysteresis``: the value must come back past level ∓ hysteresis before the fault clears.
    """

    metric: Text = Field(description="the metric's name, e.g. disk_used_percent")
    warning: OptNumber = Field(default=None, description="level of a warning")
    critical: OptNumber = Field(default=None, description="level of a critical fault")
    direction: Annotated[str, _before(choice_of("direction", ("above", "below"))),
                         enum_schema(("above", "below"))] = Field(
        default="above", description="above: bad when value >= level; below: bad when value <= level")
    hysteresis: Number = Field(default=0.0, ge=0, description="how far back past the level the value "
                               "must come before the fault clears")

    @field_validator("metric")
    @classmethod
    def _one_word(cls, metric: str) -> str:
        if any(c.isspace() for c in metric):
            raise problem("a metric name has no spaces")
        return metric

    @model_validator(mode="after")
    def _levels(self) -> Threshold:
        w, c = self.warning, self.critical
        if w is None and c is None:
            raise problem("needs warning, critical or both")
        if w is not None and c is not None and (w > c if self.direction == "above" else w < c):
            word = "above" if self.direction == "above" else "below"
            raise problems("Threshold", [detail(("warning",), (
                f"with direction {self.direction}, warning ({w:g}) must not be {word} "
                f"critical ({c:g})"))])
        return self


@dataclass(frozen=True, config=_CONFIG)
class WeeklyWindow:
    """A recurring window, e.g. business hours Mon-Fri 08:00-18:00. ``days``: 0=Monday."""

    days: Days = Field(description="mon-fri, mon,wed,fri, sat-sun or a list of such")
    start: StartTime = Field(description="HH:MM")
    end: EndTime = Field(description="HH:MM, after start; 24:00 = until midnight")

    @model_validator(mode="after")
    def _order(self) -> WeeklyWindow:
        if self.end <= self.start:
            raise problems("WeeklyWindow", [detail(("end",), (
                "must be after start (a window over midnight is two windows: 22:00-24:00 "
                "and 00:00-06:00)"))])
        return self


@dataclass(frozen=True, config=_CONFIG)
class MaintenanceWindow:
    """A one-off window during which new tickets are suppressed. A time written without UTC
    offset takes the time zone of its device or site."""

    start: Timestamp = Field(description="2024-06-01 08:00 or 2024-06-01T08:00:00+02:00")
    end: Timestamp = Field(description="after start; a UTC offset on both or on neither")
    reason: Text = Field(default="", description="shown on suppressed tickets")

    @model_validator(mode="after")
    def _order(self) -> MaintenanceWindow:
        if (self.start.tzinfo is None) != (self.end.tzinfo is None):
            raise problems("MaintenanceWindow", [detail(("end",), (
                "give a UTC offset on both start and end, or on neither (then the site's time "
                "zone applies)"))])
        if self.end <= self.start:
            raise problems("MaintenanceWindow", [detail(("end",), "must be after start")])
        return self

    def localized(self, tz: str) -> MaintenanceWindow:
        """This window with ``tz`` given to naive times."""
        if self.start.tzinfo is not None:
            return self
        info = tzinfo(tz)
        return dataclasses.replace(self, start=self.start.replace(tzinfo=info),
                                   end=self.end.replace(tzinfo=info))


BusinessHours = Annotated[tuple[WeeklyWindow, ...], _EMPTY_LIST]
Maintenance = Annotated[tuple[MaintenanceWindow, ...], _EMPTY_LIST]


@dataclass(frozen=True, config=_CONFIG)
class Schedule:
    """When tickets may open for a device or site (a site under ``sites:`` is one). Empty
    ``business_hours`` = always."""

    timezone: TimeZone = Field(default="UTC", description="IANA time zone, e.g. Europe/Berlin")
    business_hours: BusinessHours = Field(default=(), description="windows in which tickets open")
    maintenance: Maintenance = Field(default=(), description="one-off windows without new tickets")

    @model_validator(mode="after")
    def _localize(self, info: ValidationInfo) -> Schedule:
        if not from_yaml(info):
            return self
        windows = tuple(w.localized(self.timezone) for w in self.maintenance)
        return dataclasses.replace(self, maintenance=windows)


# -- devices --------------------------------------------------------------------------------------


def _site_ref(value: Any, info: ValidationInfo) -> Any:
    text = to_text(value, info)
    sites = context(info).get("sites")
    if isinstance(text, str) and sites is not None and text not in sites:
        hint = suggest(text, sites) if sites else "; no sites are defined"
        raise problem(f"unknown site {text!r}" + hint)
    return text


def _profile_ref(value: Any, info: ValidationInfo) -> Any:
    text = to_text(value, info)
    profiles = context(info).get("profiles")
    if isinstance(text, str) and profiles is not None and text not in profiles \
            and text != "default":
        hint = suggest(text, profiles) if profiles else "; no snmp_profiles are defined"
        raise problem(f"unknown snmp profile {text!r}" + hint)
    return text


_TAG_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OWN_TAGS = ", ".join(sorted(RESERVED_TAGS - {"time"}))


def _tags(value: Any, info: ValidationInfo) -> Any:
    if not isinstance(value, dict) or not from_yaml(info):
        return value
    found: list[InitErrorDetails] = []
    out: dict[str, str] = {}
    for key, raw in value.items():
        if not _TAG_KEY.fullmatch(key):
            found.append(detail((key,), "a tag name may only use letters, digits and '_' "
                                "(not starting with a digit)"))
        elif key in RESERVED_TAGS:
            found.append(detail((key,), (
                f"{key!r} is a reserved tag name (Fleetwatch writes {_OWN_TAGS} itself, and "
                "InfluxDB refuses a tag named time); pick another name")))
        else:
            try:
                out[key] = to_text(raw, info)
            except PydanticCustomError as err:
                found.append(InitErrorDetails(type=err, loc=(key,), input=None))
    if found:
        raise problems("tags", found)
    return out


Tags = Annotated[Mapping[str, str], _before(_tags), _READ_ONLY]
DeviceName = Annotated[str, _before(name_of("device name")), NAME_SCHEMA]
Probes = Annotated[tuple[ProbeEntry, ...] | None, _NONE_LIST]
Thresholds = Annotated[tuple[Threshold, ...] | None, _NONE_LIST]
OptBusinessHours = Annotated[tuple[WeeklyWindow, ...] | None, _NONE_LIST]
OptMaintenance = Annotated[tuple[MaintenanceWindow, ...] | None, _NONE_LIST]
_PER_DEVICE = ("name", "host", "kind", "parent")


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class DeviceDefaults:
    """The keys a device and ``defaults.<kind>`` share; None = not written. A device's own
    keys win over its kind's defaults (tags, thresholds per metric and maintenance add up)."""

    port: OptInt = Field(default=None, ge=1, le=65535, description="SNMP port (default 161)")
    site: Annotated[str | None, _before(_site_ref)] = Field(
        default=None, description="a name under sites: (time zone, business hours, maintenance)")
    location: OptText = Field(default=None, description="free text, shown on pages and tickets")
    tags: Tags | None = Field(default=None, description="extra InfluxDB tags: name: value")
    snmp: Annotated[str | None, _before(_profile_ref)] = Field(
        default=None, description="a name under snmp_profiles (default: the profile named default)")
    community: OptSecret = Field(default=None, description="this device's community, over its "
                                 "profile's (SNMP versions 1 and 2c)")
    probes: Annotated[Probes, WrapValidator(_unique(
        "probes", "kind", "one probe per kind per device: {value} is already at line {line}"))] \
        = Field(default=None, description="what to poll (default: by kind, see DEFAULT_PROBES)")
    thresholds: Annotated[Thresholds, WrapValidator(_unique(
        "thresholds", "metric", "{value} already has a threshold at line {line}"))] = Field(
        default=None, description="metric thresholds that open faults")
    timezone: OptTimeZone = Field(default=None, description="the device's time zone (over its site's)")
    maintenance: OptMaintenance = Field(default=None, description="one-off windows without new tickets")
    business_hours: OptBusinessHours = Field(default=None, description="windows in which tickets open "
                                             "(over the site's)")

    @model_validator(mode="wrap")
    @classmethod
    def _not_per_device(cls, data: Any, handler: ValidatorFunctionWrapHandler,
                        info: ValidationInfo) -> Any:
        if cls is not DeviceDefaults or not from_yaml(info):
            return handler(data)
        found = [detail((k,), "belongs to each device, not to defaults")
                 for k in _PER_DEVICE if k in _written(data)]
        rest = {k: v for k, v in _written(data).items() if k not in _PER_DEVICE} \
            if isinstance(data, dict) else data
        return _checked("DeviceDefaults", rest, handler, found)

    def under(self, own: DeviceDefaults) -> DeviceDefaults:
        """``own`` (a device's keys) laid over these defaults."""
        thresholds = self.thresholds
        if own.thresholds is not None:
            merged = {t.metric: t for t in self.thresholds or ()}
            merged.update((t.metric, t) for t in own.thresholds)
            thresholds = tuple(merged.values())
        return DeviceDefaults(
            port=own.port if own.port is not None else self.port,
            site=own.site if own.site is not None else self.site,
            location=own.location if own.location is not None else self.location,
            tags={**(self.tags or {}), **(own.tags or {})},
            snmp=own.snmp or self.snmp,
            community=own.community or self.community,
            probes=own.probes if own.probes is not None else self.probes,
            thresholds=thresholds,
            timezone=own.timezone or self.timezone,
            maintenance=(self.maintenance or ()) + (own.maintenance or ()),
            business_hours=own.business_hours if own.business_hours is not None
            else self.business_hours,
        )


@dataclass(frozen=True, config=_CONFIG)
class DefaultsByKind:
    """``defaults:``: keys for every device of one kind."""

    printer: DeviceDefaults | None = None
    copier: DeviceDefaults | None = None
    workstation: DeviceDefaults | None = None
    server: DeviceDefaults | None = None
    network: DeviceDefaults | None = None

    def of(self, kind: str) -> DeviceDefaults:
        found: DeviceDefaults | None = getattr(self, kind, None)
        return found if found is not None else DeviceDefaults()


DEVICE_KINDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(DefaultsByKind))
DeviceKind = Annotated[str, _before(choice_of("device kind", DEVICE_KINDS)),
                      enum_schema(DEVICE_KINDS)]


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class DeviceEntry(DeviceDefaults):
    """One item of ``devices:`` as written."""

    REQUIRED_HINTS: ClassVar[Mapping[str, str]] = {"host": " (IP address or DNS name)"}

    name: DeviceName = Field(description="unique name: letters, digits, '.', '_', '-'")
    host: Host = Field(description="IP address or DNS name (no port: see port)")
    kind: DeviceKind = Field(default="printer", description="printer, copier, workstation, server or "
                             "network: picks defaults.<kind> and the default probes")
    parent: OptText = Field(default=None, description="the device this one is reached through (a "
                            "switch): its outage suppresses this one's tickets")


# Probes a device gets when neither it nor ``defaults.<kind>`` lists any.
DEFAULT_PROBES: Mapping[str, tuple[ProbeConfig, ...]] = MappingProxyType({
    "printer": (probe_settings("snmp_printer"),),
    "copier": (probe_settings("snmp_printer"),),
    "workstation": (probe_settings("ping"),),
    "server": (probe_settings("ping"),),
    "network": (probe_settings("ping"),),
})


@dataclass(frozen=True, config=_CONFIG)
class DeviceConfig:
    """One device as the collector uses it: its kind's defaults merged, its SNMP profile and
    schedule resolved (:class:`DeviceEntry` is the file's form)."""

    name: str
    host: str
    kind: str = "printer"
    port: int = Field(default=161, ge=1, le=65535)
    site: str | None = None
    location: str | None = None
    tags: Annotated[Mapping[str, str], _READ_ONLY] = Field(default_factory=dict)
    parent: str | None = None
    snmp: SnmpProfile = DEFAULT_SNMP_PROFILE
    probes: tuple[ProbeConfig, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    # The device's own time zone (its ``timezone`` key, or its ``defaults.<kind>``'s), None when
    # it has none. ``schedule.timezone`` is the zone in effect: this one, else the site's, else
    # UTC (:func:`collector.faults.effective_schedule`).
    timezone: str | None = None
    schedule: Schedule = Field(default_factory=Schedule)

    def snmp_target(self) -> SnmpTarget:
        p = self.snmp
        return SnmpTarget(self.host, self.port, p.credentials(), timeout=p.timeout,
                          retries=p.retries, max_repetitions=p.max_repetitions)


# -- the service ----------------------------------------------------------------------------------


class Listen(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _listen(value: Any, info: ValidationInfo) -> Any:
    text = to_text(value, info)
    if not isinstance(text, str):
        return text
    match = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]+):(\d+)", text.strip())
    host = (match[1] or match[3]) if match else ""
    port = int(match[2] or match[4]) if match else 0
    if not match or host_problem(host) or not 0 < port < 65536:
        raise problem(f"expected HOST:PORT like 127.0.0.1:8730 or [::]:8730 (port 1-65535), "
                      f"got {text!r}")
    return Listen(host, port)


@dataclass(frozen=True, config=_CONFIG)
class CollectorSettings:
    listen: Annotated[Listen, _before(_listen), PlainSerializer(str), WithJsonSchema(
        {"type": "string", "pattern": r"^(\[[^\]]+\]|[^:\[\]]+):\d+$"})] = Field(
        default=Listen("127.0.0.1", 8730), description="HOST:PORT of the web UI and API")
    state_dir: FilePath = Field(default=Path("/var/lib/fleetwatch"), description="ticket queue, spool "
                                "(relative to the config file)")
    max_concurrency: Int = Field(default=200, ge=1, description="most polls in flight; the scheduler "
                                 "adapts the number in flight below it")
    jitter: Number = Field(default=1.0, ge=0, le=1, description="fraction of an interval over which "
                           "first polls are spread")
    sleep_grace: Duration = Field(
        default=300.0, ge=0, description="seconds a silent, previously-good printer is 'asleep?'")
    api_token: OptSecret = Field(default=None, description="when set, every request needs "
                                 "'Authorization: Bearer ...' (docs/api.md)")
    allowed_hosts: Annotated[tuple[Host, ...], _EMPTY_LIST, AfterValidator(
        lambda names: tuple(n.strip().lower() for n in names))] = Field(
        default=(), description="names besides the listen address that a state-changing "
        "request's Host/Origin may carry (docs/api.md)")
    max_event_streams: Int = Field(
        default=50, ge=1, le=10_000, description="most live-update streams (GET /api/v1/events) "
        "open at once; beyond it pages fall back to timed refreshes (docs/web.md)")

    @model_validator(mode="before")
    @classmethod
    def _listen_parts(cls, data: Any) -> Any:
        """Code may give ``listen_host=``/``listen_port=`` (the file has ``listen: HOST:PORT``)."""
        if isinstance(data, ArgsKwargs) and data.kwargs and (
                "listen_host" in data.kwargs or "listen_port" in data.kwargs):
            kw = dict(data.kwargs)
            host = kw.pop("listen_host", "127.0.0.1")
            kw["listen"] = Listen(host, kw.pop("listen_port", 8730))
            return ArgsKwargs(data.args, kw)
        return data

    @property
    def listen_host(self) -> str:
        return self.listen.host

    @property
    def listen_port(self) -> int:
        return self.listen.port


_STORAGE_ONLY = {"database": "influxdb_v1", "retention_policy": "influxdb_v1",
                 "username": "influxdb_v1", "password": "influxdb_v1",
                 "create_database": "influxdb_v1", "org": "influxdb_v2", "bucket": "influxdb_v2"}


@dataclass(frozen=True, config=_CONFIG)
class StorageConfig:
    """Where metrics go. ``backend``: influxdb_v1 | influxdb_v2 | none."""

    backend: Annotated[str, _before(choice_of("storage backend", STORAGE_BACKENDS)),
                       enum_schema(STORAGE_BACKENDS)] = Field(
        default="none", description="influxdb_v1 (/write), influxdb_v2 (/api/v2/write) or none")
    url: Annotated[str, _before(to_url)] = Field(default="http://127.0.0.1:8086",
                                                 description="InfluxDB base URL")
    database: Text = Field(default="fleetwatch", description="v1: database")
    retention_policy: OptText = Field(default=None, description="v1: retention policy")
    username: OptText = Field(default=None, description="v1: user (with password)")
    password: OptSecret = Field(default=None, description="v1: password (with username)")
    org: OptText = Field(default=None, description="v2: organisation")
    bucket: OptText = Field(default=None, description="v2: bucket")
    token: OptSecret = Field(default=None, description="v2 token, or a v1 token of InfluxDB 2.x/3.x")
    batch_size: Int = Field(default=5000, ge=1, description="points per write")
    flush_interval: Duration = Field(default=1.0, gt=0, description="seconds between writes")
    timeout: Duration = Field(default=10.0, gt=0, description="seconds per write request")
    spool_dir: Annotated[Path | None, _before(to_path)] = Field(
        default=None, description="disk spool while InfluxDB is away (default: <state_dir>/spool)")
    spool_max_bytes: Size = Field(default=256 * 1024 * 1024, ge=1, description="spool size limit: "
                                  "bytes or 256MiB, 1GB")
    create_database: Bool = Field(default=True, description="v1: CREATE DATABASE at start")

    @model_validator(mode="wrap")
    @classmethod
    def _keys_of_the_backend(cls, data: Any, handler: ValidatorFunctionWrapHandler,
                             info: ValidationInfo) -> Any:
        if not from_yaml(info):
            return handler(data)
        keys = [k for k in _written(data) if k in _fields_of(cls)]  # unknown: pydantic's
        raw = str(_written(data).get("backend", "none"))
        backend = raw if raw in STORAGE_BACKENDS else ""
        found: list[InitErrorDetails] = []
        if backend == "none":
            found += [detail((k,), "storage is off (backend: none): set backend: influxdb_v1 "
                             "or influxdb_v2, or remove this key") for k in keys if k != "backend"]
        elif backend:
            found += [detail((k,), f"applies to backend {only} only (backend is {backend})")
                      for k, only in _STORAGE_ONLY.items() if k in keys and only != backend]
            if backend == "influxdb_v2":
                found += [detail((k,), "is required for backend influxdb_v2")
                          for k in ("org", "bucket", "token") if k not in keys]
            if backend == "influxdb_v1":
                found += _both_or_neither(keys)
            if backend == "influxdb_v1" and "token" in keys and (
                    "username" in keys or "password" in keys):
                found.append(detail(("token",), "give either token or username and password, "
                                    "not both"))
        return _checked("StorageConfig", data, handler, found)


@dataclass(frozen=True, config=_CONFIG)
class TicketSettings:
    debounce_polls: Int = Field(default=2, ge=1, description="a fault must be seen this many polls in "
                                "a row ...")
    debounce_seconds: Duration = Field(
        default=0.0, ge=0, description="... and have lasted this long, before a ticket opens")
    flap_window: Duration = Field(
        default=3600.0, ge=0, description="a fault back within this many seconds reopens its ticket")
    auto_resolve: Bool = Field(default=True, description="resolve when cleared (else wait for a "
                               "technician)")
    clear_polls: Int = Field(default=1, ge=1, description="polls without the fault before it counts "
                             "as cleared")


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _headers(value: Any, info: ValidationInfo) -> Any:
    if not isinstance(value, dict) or not from_yaml(info):
        return value
    found: list[InitErrorDetails] = []
    out: dict[str, str] = {}
    for key, raw in value.items():
        try:
            text = to_text(raw, info)
        except PydanticCustomError as err:
            found.append(InitErrorDetails(type=err, loc=(key,), input=None))
            continue
        if not _HEADER_NAME.fullmatch(key):
            found.append(detail((key,), "not a valid HTTP header name"))
        elif "\n" in text or "\r" in text:
            found.append(detail((key,), "a header value is one line"))
        else:
            out[key] = text
    if found:
        raise problems("headers", found)
    return out


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class WebhookConfig:
    url: Annotated[str, _before(to_url)] = Field(description="where tickets are POSTed")
    headers: Annotated[Mapping[str, str], _EMPTY_MAP, _before(_headers), _READ_ONLY] = Field(
        default_factory=dict, description="extra HTTP headers: name: value")
    timeout: Duration = Field(default=5.0, gt=0, description="seconds per request")
    retries: Int = Field(default=3, ge=0, description="resends after a failure")


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class EmailConfig:
    REQUIRED_HINTS: ClassVar[Mapping[str, str]] = {"to": " (a list of addresses)"}

    host: Host = Field(description="SMTP server")
    port: Int = Field(default=25, ge=1, le=65535, description="SMTP port")
    sender: Address = Field(default="fleetwatch@localhost", alias="from", description="From: address")
    to: Annotated[tuple[Address, ...], _before(to_addresses)] = Field(
        description="recipients (at least one)")
    username: OptText = Field(default=None, description="SMTP user (with password)")
    password: OptSecret = Field(default=None, description="SMTP password (with username)")
    starttls: Bool = Field(default=False, description="STARTTLS before logging in")
    timeout: Duration = Field(default=10.0, gt=0, description="seconds per connection")

    @model_validator(mode="wrap")
    @classmethod
    def _login(cls, data: Any, handler: ValidatorFunctionWrapHandler,
               info: ValidationInfo) -> Any:
        if not from_yaml(info):
            return handler(data)
        found = _both_or_neither(_written(data))
        return _checked("EmailConfig", data, handler, found)


@dataclass(frozen=True, config=_CONFIG)
class NotificationConfig:
    webhook: Annotated[WebhookConfig | None, _NONE_MAP] = Field(
        default=None, description="POST each ticket change as JSON")
    email: Annotated[EmailConfig | None, _NONE_MAP] = Field(
        default=None, description="mail each new ticket")


# -- the whole file -------------------------------------------------------------------------------


def _profiles(value: Any, info: ValidationInfo) -> Any:
    """Each profile gets its key as ``name`` (a ``name:`` written inside is unknown)."""
    if not isinstance(value, dict) or not from_yaml(info):
        return value
    found = [detail((k, "name"), "unknown key" + suggest("name", _PROFILE_KEYS))
             for k, v in value.items() if isinstance(v, dict) and "name" in v]
    if found:
        raise problems("snmp_profiles", found)
    return {k: {**(v if isinstance(v, dict) else {}), "name": k} if isinstance(v, dict | None)
            else v for k, v in value.items()}


_PROFILE_KEYS = tuple(f.name for f in dataclasses.fields(SnmpProfile) if f.name != "name")


def _devices(data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    """Device names are unique; each parent exists; no device is its own ancestor (each cycle
    reported once)."""
    if data is None and from_yaml(info):
        data = []
    if not from_yaml(info) or not isinstance(data, list):
        return handler(data)
    found: list[InitErrorDetails] = []
    first: dict[str, int] = {}
    parent_of: dict[str, str] = {}  # of each name's first device
    named: list[tuple[int, str, str | None]] = []
    for i, item in enumerate(data):
        name = item.get("name") if isinstance(item, dict) else None
        try:
            name = name_of("device name")(name, info) if isinstance(name, str) else None
        except PydanticCustomError:
            name = None  # reported where the device is validated
        if name is None:
            continue
        parent = item.get("parent")
        parent = str(parent) if isinstance(parent, str) and parent.strip() else None
        named.append((i, name, parent))
        if name in first:
            found.append(detail((i, "name"), f"duplicate device name {name!r} (first at line "
                                "{line})", ref=(first[name],), up=2))
            continue
        first[name] = i
        if parent is not None:
            parent_of[name] = parent
    reported: set[str] = set()
    rooted: set[str] = set()  # devices whose parent chain is known to end (linear time)
    for i, name, parent in named:
        if parent is None:
            continue
        if parent not in first:
            found.append(detail((i, "parent"), f"unknown parent device {parent!r}"
                                + suggest(parent, first, listing=False)))
            continue
        chain = [name]
        current: str | None = parent
        while current is not None and current in first and current not in rooted \
                and current not in chain:
            chain.append(current)
            current = parent_of.get(current)
        if current == name:
            if name not in reported:
                reported.update(chain)
                found.append(detail((i, "parent"), "parent cycle: " + " -> ".join(
                    [*chain, name])))
        elif current not in chain:
            rooted.update(chain)
    return _checked("devices", data, handler, found)


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class Sections:
    """The top-level sections that the file and the resolved config share. A new section (for
    example ``supplies``) is one field here with a default; the loader copies it across."""

    collector: Annotated[CollectorSettings, _EMPTY_MAP] = Field(
        default_factory=CollectorSettings, description="the service: listen, state_dir, polling")
    storage: Annotated[StorageConfig, _EMPTY_MAP] = Field(
        default_factory=StorageConfig, description="where metrics go (InfluxDB)")
    tickets: Annotated[TicketSettings, _EMPTY_MAP] = Field(
        default_factory=TicketSettings, description="when faults open and resolve tickets")
    notifications: Annotated[NotificationConfig, _EMPTY_MAP] = Field(
        default_factory=NotificationConfig, description="webhook and e-mail")
    auth: Annotated[AuthSettings, _EMPTY_MAP] = Field(
        default_factory=AuthSettings, description="accounts, sessions, who may read "
        "(docs/web.md)")
    agents: Annotated[IngestSettings, _EMPTY_MAP] = Field(
        default_factory=IngestSettings, description="workstation agents: enrollment, reports, "
        "silence (docs/agent.md)")
    supplies: Annotated[SuppliesSettings, _EMPTY_MAP] = Field(
        default_factory=SuppliesSettings, description="toner forecasts, reorder points, stock "
        "(docs/supplies.md)")


ProfileName = Annotated[str, _before(name_of("profile name"))]
SiteName = Annotated[str, _before(name_of("site name"))]
_NULL_SITES = BeforeValidator(lambda v: {k: {} if b is None else b for k, b in v.items()}
                              if isinstance(v, dict) else v)


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class ConfigFile(Sections):
    """The collector's YAML file (``fleetwatch config schema`` prints its JSON Schema)."""

    snmp_profiles: Annotated[dict[ProfileName, SnmpProfile], _EMPTY_MAP, _before(_profiles)] \
        = Field(default_factory=dict, description="named SNMP credentials; the one named "
                "default serves devices that name none")
    defaults: Annotated[DefaultsByKind, _EMPTY_MAP] = Field(
        default_factory=DefaultsByKind, description="keys for every device of a kind")
    sites: Annotated[dict[SiteName, Schedule], _EMPTY_MAP, _NULL_SITES] = Field(
        default_factory=dict, description="time zone, business hours and maintenance by site")
    devices: Annotated[tuple[DeviceEntry, ...], WrapValidator(_devices)] = Field(
        default=(), description="the devices to poll")


@dataclass(frozen=True, config=_CONFIG, kw_only=True)
class Config(Sections):
    """The resolved configuration the collector runs with (:class:`ConfigFile` is the file)."""

    path: Path
    snmp_profiles: Annotated[Mapping[str, SnmpProfile], _READ_ONLY] = Field(default_factory=dict)
    sites: Annotated[Mapping[str, Schedule], _READ_ONLY] = Field(default_factory=dict)
    devices: tuple[DeviceConfig, ...] = ()

    def device(self, name: str) -> DeviceConfig | None:
        return next((d for d in self.devices if d.name == name), None)
