"""Reads the collector's YAML file into the frozen types of :mod:`collector.config`.

Contract:
- :func:`load_config` reads one file, never touches the network (host names are checked for
  syntax only, no DNS) and either returns a complete :class:`~collector.config.Config` or raises
  :class:`ConfigErrors` listing *every* problem found, each a ``ConfigError`` whose ``str`` is
  ``FILE:LINE: KEY.PATH: message``.
- Key paths: mapping keys joined by ``.``, list items as ``[i]`` counted from 0, e.g.
  ``devices[3].probes[0].interval`` or ``snmp_profiles.office.auth_key``.
- Secrets (``community``, ``auth_key``, ``priv_key``, ``password``, ``token``, ``api_token``) become
  :class:`~probes.secret.Secret` and are never quoted in an error.
- Relative paths (``state_dir``, ``spool_dir``, ``{file: ...}`` secrets) are relative to the
  directory of the config file.

The file format is documented key by key in ``docs/configuration.md``; ``config/example.yaml``
is a complete, annotated example.
"""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import math
import os
import re
import zoneinfo
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from collector.config.model import (
    DEFAULT_SNMP_PROFILE,
    DEVICE_KINDS,
    PROBE_KINDS,
    CollectorSettings,
    Config,
    DeviceConfig,
    EmailConfig,
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
from collector.schema import RESERVED_TAGS
from probes.errors import ConfigError
from probes.registry import probe_settings
from probes.secret import Secret
from probes.snmp import AUTH_PROTOCOLS, PRIV_PROTOCOLS

__all__ = ["DEFAULT_PROBES", "ConfigErrors", "load_config"]

# Probes a device gets when neither it nor ``defaults.<kind>`` lists any.
DEFAULT_PROBES: Mapping[str, tuple[ProbeConfig, ...]] = MappingProxyType({
    "printer": (probe_settings("snmp_printer"),),
    "copier": (probe_settings("snmp_printer"),),
    "workstation": (probe_settings("ping"),),
    "server": (probe_settings("ping"),),
    "network": (probe_settings("ping"),),
})
STORAGE_BACKENDS = ("influxdb_v1", "influxdb_v2", "none")

_Y = "tag:yaml.org,2002:"
_NULL, _STR, _INT, _FLOAT, _BOOL, _TIMESTAMP, _MERGE = (
    _Y + t for t in ("null", "str", "int", "float", "bool", "timestamp", "merge"))
_SCALAR_TAGS = frozenset({_NULL, _STR, _INT, _FLOAT, _BOOL, _TIMESTAMP})
_CONSTRUCT = SafeConstructor()  # YAML 1.1 int/float/bool rules (0x10, 1_000, yes/no), no objects

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_T = TypeVar("_T")
_TAG_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OWN_TAGS = ", ".join(sorted(RESERVED_TAGS - {"time"}))
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"(\d+)\s*([kmgt]i?b|b)?", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_TOP_KEYS = ("collector", "storage", "snmp_profiles", "defaults", "sites", "devices", "tickets",
             "notifications")
_COLLECTOR_KEYS = ("listen", "state_dir", "max_concurrency", "jitter", "sleep_grace", "api_token",
                   "allowed_hosts")
_STORAGE_COMMON = ("backend", "url", "token", "batch_size", "flush_interval", "timeout",
                   "spool_dir", "spool_max_bytes")
_STORAGE_ONLY = {"database": "influxdb_v1", "retention_policy": "influxdb_v1",
                 "username": "influxdb_v1", "password": "influxdb_v1",
                 "create_database": "influxdb_v1",
                 "org": "influxdb_v2", "bucket": "influxdb_v2"}
_PROFILE_KEYS = ("version", "community", "user", "auth_protocol", "auth_key", "priv_protocol",
                 "priv_key", "context", "timeout", "retries", "max_repetitions")
_V3_ONLY = ("user", "auth_protocol", "auth_key", "priv_protocol", "priv_key", "context")
_SITE_KEYS = ("timezone", "business_hours", "maintenance")
_DEVICE_FIELD_KEYS = ("port", "site", "location", "tags", "snmp", "community", "probes",
                      "thresholds", "timezone", "maintenance", "business_hours")
_DEVICE_KEYS = ("name", "host", "kind", "parent", *_DEVICE_FIELD_KEYS)
_PROBE_KEYS = ("kind", "interval", "timeout", "port", "url", "expect_status", "full_every")
_PROBE_ONLY = {"port": "tcp", "url": "http", "expect_status": "http", "full_every": "snmp_printer"}
_THRESHOLD_KEYS = ("metric", "warning", "critical", "direction", "hysteresis")
_TICKET_KEYS = ("debounce_polls", "debounce_seconds", "flap_window", "auto_resolve", "clear_polls")
_WEBHOOK_KEYS = ("url", "headers", "timeout", "retries")
_EMAIL_KEYS = ("host", "port", "from", "to", "username", "password", "starttls", "timeout")


class ConfigErrors(ConfigError):
    """Every problem of one config file, sorted by line; ``errors`` holds each.

    ``str()`` of a single problem is its one line ``FILE:LINE: KEY.PATH: message``; of several,
    a first line ``N errors in FILE`` followed by one such line per problem.
    """

    def __init__(self, file: str, errors: Sequence[ConfigError]) -> None:
        self.errors: tuple[ConfigError, ...] = tuple(errors)
        if len(self.errors) == 1:
            only = self.errors[0]
            super().__init__(only.message, where=only.where, key=only.key)
        else:
            lines = "\n".join(str(e) for e in self.errors)
            super().__init__(f"{len(self.errors)} errors in {file}\n{lines}")


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate ``path``. ``env`` (default ``os.environ``) resolves ``{env: NAME}``
    secrets. Raises :class:`ConfigErrors` (a ``ConfigError``) listing every problem."""
    loader = _Loader(str(path), Path(path).absolute().parent, os.environ if env is None else env)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigErrors(str(path), [ConfigError("file not found", where=str(path))]) from None
    except UnicodeDecodeError as err:
        raise ConfigErrors(str(path), [ConfigError(
            f"not UTF-8 text (byte {err.start})", where=str(path))]) from None
    except OSError as err:
        raise ConfigErrors(str(path), [ConfigError(
            f"cannot read: {err.strerror}", where=str(path))]) from None
    root = loader.compose(text)
    config = loader.config(root, Path(path).absolute()) if root is not None else None
    loader.raise_errors()
    assert config is not None  # raise_errors raised for a file without a document
    return config


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1 if node.start_mark is not None else 1


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return {_NULL: "nothing", _BOOL: "true/false", _INT: "a number", _FLOAT: "a number",
            _TIMESTAMP: "a date"}.get(node.tag, "text")


def _show(node: Node) -> str:
    text = str(node.value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _suggest(word: str, choices: Collection[str], *, listing: bool = True) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; expected one of: {', '.join(choices)}" if listing else ""


def _host_problem(text: str) -> str | None:
    """Why ``text`` is not an IP address or a DNS host name (syntax only), or None."""
    try:
        ipaddress.ip_address(text)
        return None
    except ValueError:
        pass
    if ":" in text:
        return "is not a valid address (put the port under port:, IPv6 without brackets)"
    labels = text[:-1].split(".") if text.endswith(".") else text.split(".")
    if len(text) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return "is not a valid host name or IP address"
    if all(label.isdigit() for label in labels):
        return "is not a valid IP address"
    return None


def _tzinfo(name: str) -> dt.tzinfo:
    return dt.UTC if name == "UTC" else zoneinfo.ZoneInfo(name)


@dataclass(slots=True)
class _Map:
    """A YAML mapping after merge keys, duplicate and unknown keys were handled."""

    node: Node
    values: dict[str, Node]
    keys: dict[str, Node]

    def get(self, key: str) -> Node | None:
        return self.values.get(key)


@dataclass(slots=True)
class _Fields:
    """Device keys read from a device or from ``defaults.<kind>``; None = not given."""

    port: int | None = None
    site: str | None = None
    location: str | None = None
    tags: dict[str, str] | None = None
    snmp: SnmpProfile | None = None
    community: Secret | None = None
    probes: tuple[ProbeConfig, ...] | None = None
    thresholds: tuple[Threshold, ...] | None = None
    timezone: str | None = None
    maintenance: tuple[MaintenanceWindow, ...] | None = None
    business_hours: tuple[WeeklyWindow, ...] | None = None

    def under(self, own: _Fields) -> _Fields:
        """``own`` (a device's keys) laid over these defaults."""
        thresholds = self.thresholds
        if own.thresholds is not None:
            merged = {t.metric: t for t in self.thresholds or ()}
            merged.update((t.metric, t) for t in own.thresholds)
            thresholds = tuple(merged.values())
        return _Fields(
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


@dataclass(slots=True)
class _Device:
    node: Node
    path: str
    name: str | None
    host: str | None
    kind: str
    parent: str | None
    parent_node: Node | None
    fields: _Fields


Reader = Callable[[Node, str], Any]


class _Loader:
    """One pass over one file. Readers report problems with :meth:`error` and return None for
    an invalid value, so that the pass continues and every problem is found."""

    def __init__(self, file: str, base: Path, env: Mapping[str, str]) -> None:
        self.file = file
        self.base = base
        self.env = env
        self.errors: list[tuple[int, ConfigError]] = []
        # id(value node) -> its key node: a problem with a whole block (a missing key, say) is
        # reported on the "key:" line rather than on the block's first inner line.
        self.key_nodes: dict[int, Node] = {}
        self.profiles: dict[str, SnmpProfile] = {}
        self.sites: dict[str, Schedule] = {}

    # -- errors ---------------------------------------------------------------------------------

    def error(self, node: Node | None, path: str, message: str) -> None:
        if isinstance(node, MappingNode | SequenceNode):
            node = self.key_nodes.get(id(node), node)
        line = _line(node) if node is not None else 1
        self.errors.append((line, ConfigError(message, where=f"{self.file}:{line}", key=path)))

    def raise_errors(self) -> None:
        seen: set[str] = set()
        unique: list[ConfigError] = []
        # The same aliased (YAML anchor) node can be read at several places: report it once.
        for _, err in sorted(self.errors, key=lambda item: item[0]):
            if str(err) not in seen:
                seen.add(str(err))
                unique.append(err)
        if unique:
            raise ConfigErrors(self.file, unique)

    # -- YAML -----------------------------------------------------------------------------------

    def compose(self, text: str) -> Node | None:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as err:
            # Our own message from the parts: the library's snippet of the line could quote a
            # secret.
            mark = err.problem_mark or err.context_mark
            line = mark.line + 1 if mark is not None else 1
            parts = [p for p in (err.context, err.problem) if p]
            message = "YAML syntax error: " + ", ".join(parts)
            if err.context_mark is not None and err.problem_mark is not None \
                    and err.context_mark.line != err.problem_mark.line:
                message += f" (started at line {err.context_mark.line + 1})"
            self.errors.append((line, ConfigError(message, where=f"{self.file}:{line}")))
            return None
        except yaml.YAMLError as err:  # ReaderError: a character YAML does not allow
            position = getattr(err, "position", 0)
            line = text.count("\n", 0, position) + 1
            reason = getattr(err, "reason", "unreadable")
            self.errors.append((line, ConfigError(
                f"YAML error: {reason}", where=f"{self.file}:{line}")))
            return None
        if root is None:
            self.errors.append((1, ConfigError(
                "the file is empty (see config/example.yaml)", where=f"{self.file}:1")))
        return root

    def mapping(self, node: Node, path: str, allowed: Collection[str] | None) -> _Map | None:
        """The mapping at ``node`` (null = empty). Keys outside ``allowed`` are reported and
        dropped; ``allowed=None`` takes any key (names of profiles, sites, tags)."""
        if _is_null(node):
            return _Map(node, {}, {})
        if not isinstance(node, MappingNode):
            self.error(node, path, f"expected a mapping (key: value lines), got {_describe(node)}")
            return None
        values: dict[str, Node] = {}
        keys: dict[str, Node] = {}
        for name, knode, vnode in self._pairs(node, path, 0):
            if allowed is not None and name not in allowed:
                self.error(knode, _join(path, name), "unknown key" + _suggest(name, allowed))
                continue
            values[name] = vnode
            keys[name] = knode
        return _Map(node, values, keys)

    def _pairs(self, node: MappingNode, path: str, depth: int) -> list[tuple[str, Node, Node]]:
        explicit: dict[str, tuple[Node, Node]] = {}
        merged: list[tuple[str, Node, Node]] = []
        for knode, vnode in node.value:
            if knode.tag == _MERGE:  # "<<: *anchor" (YAML merge key)
                sources = vnode.value if isinstance(vnode, SequenceNode) else [vnode]
                for source in sources:
                    if isinstance(source, MappingNode) and depth < 32:
                        merged.extend(self._pairs(source, path, depth + 1))
                    else:
                        self.error(vnode, path, "<< must merge a mapping or a list of mappings")
                continue
            if not isinstance(knode, ScalarNode) or knode.tag == _NULL:
                self.error(knode, path, "a key must be plain text")
                continue
            name = str(knode.value)
            if name in explicit:
                first = _line(explicit[name][0])
                self.error(knode, _join(path, name), f"duplicate key (first at line {first})")
                continue
            explicit[name] = (knode, vnode)
            self.key_nodes[id(vnode)] = knode
        for name, knode, vnode in merged:
            explicit.setdefault(name, (knode, vnode))  # explicit keys win, then earlier merges
        return [(name, k, v) for name, (k, v) in explicit.items()]

    def sequence(self, node: Node, path: str, what: str) -> list[Node] | None:
        if _is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            self.error(node, path, f"expected {what} (lines starting with '- '), "
                       f"got {_describe(node)}")
            return None
        return list(node.value)

    def fields(self, m: _Map, path: str, readers: Mapping[str, Reader],
               rename: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Run ``readers[key]`` on each given key; valid values by (renamed) field name."""
        out: dict[str, Any] = {}
        for key, reader in readers.items():
            node = m.get(key)
            if node is None:
                continue
            value = reader(node, _join(path, key))
            if value is not None:
                out[(rename or {}).get(key, key)] = value
        return out

    def required(self, m: _Map, path: str, key: str, hint: str = "") -> Node | None:
        node = m.get(key)
        if node is None:
            self.error(m.node, _join(path, key), "is required" + hint)
        return node

    # -- scalars --------------------------------------------------------------------------------

    def scalar(self, node: Node, path: str, what: str) -> ScalarNode | None:
        if not isinstance(node, ScalarNode):
            self.error(node, path, f"expected {what}, got {_describe(node)}")
            return None
        if node.tag == _NULL:
            self.error(node, path, f"has no value; expected {what}")
            return None
        if node.tag not in _SCALAR_TAGS:
            self.error(node, path, f"unsupported YAML tag {node.tag}")
            return None
        return node

    def text(self, node: Node, path: str, *, empty: bool = False) -> str | None:
        """Text as written (so ``yes``, ``010`` and ``8:00`` stay what the user typed)."""
        s = self.scalar(node, path, "text")
        if s is None:
            return None
        if not empty and not str(s.value).strip():
            self.error(s, path, "must not be empty")
            return None
        return str(s.value)

    def name(self, node: Node, path: str, what: str) -> str | None:
        value = self.text(node, path)
        if value is not None and not _NAME.fullmatch(value):
            self.error(node, path, f"{what} {_show(node)} may only use letters, digits, '.', "
                       "'_' and '-' (start with a letter or digit; at most 128)")
            return None
        return value

    def choice(self, node: Node, path: str, choices: Collection[str], noun: str,
               *, fold: bool = False) -> str | None:
        value = self.text(node, path)
        if value is None:
            return None
        if fold:
            value = value.lower()
        if value not in choices:
            self.error(node, path, f"unknown {noun} {value!r}" + _suggest(value, choices))
            return None
        return value

    def _bounded(self, node: Node, path: str, value: float, lo: float | None, hi: float | None,
                 above: float | None = None) -> bool:
        shown = f"{value:g}"
        if above is not None and value <= above:
            self.error(node, path, f"must be greater than {above:g}, not {shown}")
        elif lo is not None and hi is not None and not lo <= value <= hi:
            self.error(node, path, f"must be between {lo:g} and {hi:g}, not {shown}")
        elif lo is not None and value < lo:
            self.error(node, path, f"must be at least {lo:g}, not {shown}")
        elif hi is not None and value > hi:
            self.error(node, path, f"must be at most {hi:g}, not {shown}")
        else:
            return True
        return False

    def integer(self, node: Node, path: str, lo: int | None = None,
                hi: int | None = None) -> int | None:
        s = self.scalar(node, path, "a whole number")
        if s is None:
            return None
        if s.tag != _INT:
            self.error(s, path, f"expected a whole number, got {_show(s)}")
            return None
        value = _CONSTRUCT.construct_yaml_int(s)
        return value if self._bounded(s, path, value, lo, hi) else None

    def port(self, node: Node, path: str) -> int | None:
        return self.integer(node, path, 1, 65535)

    def number(self, node: Node, path: str, lo: float | None = None, hi: float | None = None,
               above: float | None = None) -> float | None:
        s = self.scalar(node, path, "a number")
        if s is None:
            return None
        if s.tag == _INT:
            value = float(_CONSTRUCT.construct_yaml_int(s))
        elif s.tag == _FLOAT:
            value = _CONSTRUCT.construct_yaml_float(s)
        else:
            self.error(s, path, f"expected a number, got {_show(s)}")
            return None
        if not math.isfinite(value):
            self.error(s, path, "must be a finite number")
            return None
        return value if self._bounded(s, path, value, lo, hi, above) else None

    def duration(self, node: Node, path: str, *, zero: bool = False) -> float | None:
        """Seconds: a number, or text like ``30s``, ``5m``, ``1h30m``, ``250ms``, ``1d``.
        Must be > 0 (>= 0 with ``zero``)."""
        s = self.scalar(node, path, "a duration")
        if s is None:
            return None
        if s.tag in (_INT, _FLOAT):
            return self.number(s, path, lo=0.0 if zero else None, above=None if zero else 0.0)
        text = str(s.value).replace(" ", "").lower()
        value: float | None = None
        if re.fullmatch(r"\d+(\.\d+)?", text):
            value = float(text)
        elif text and re.fullmatch(f"(?:{_DURATION_PART.pattern})+", text):
            value = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(text))
        if value is None:
            self.error(s, path, f"expected seconds or a duration like 30s, 5m, 1h, got {_show(s)}")
            return None
        return value if self._bounded(s, path, value, 0.0 if zero else None, None,
                                      None if zero else 0.0) else None

    def size(self, node: Node, path: str) -> int | None:
        """Bytes: a whole number, or text like ``512MiB``, ``2GB``."""
        s = self.scalar(node, path, "a size")
        if s is None:
            return None
        if s.tag == _INT:
            return self.integer(s, path, lo=1)
        match = _SIZE.fullmatch(str(s.value).strip())
        if match is None:
            self.error(s, path, f"expected bytes or a size like 256MiB, 1GB, got {_show(s)}")
            return None
        value = int(match[1]) * _SIZE_UNITS[(match[2] or "b").lower()]
        return value if self._bounded(s, path, value, 1, None) else None

    def boolean(self, node: Node, path: str) -> bool | None:
        s = self.scalar(node, path, "true or false")
        if s is None:
            return None
        if s.tag != _BOOL:
            self.error(s, path, f"expected true or false, got {_show(s)}")
            return None
        return _CONSTRUCT.construct_yaml_bool(s)

    def path(self, node: Node, path: str) -> Path | None:
        value = self.text(node, path)
        return None if value is None else self.base / Path(value).expanduser()

    def host(self, node: Node, path: str) -> str | None:
        value = self.text(node, path)
        if value is None:
            return None
        problem = _host_problem(value)
        if problem:
            self.error(node, path, f"{_show(node)} {problem}")
            return None
        return value

    def url(self, node: Node, path: str) -> str | None:
        value = self.text(node, path)
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 -- raises ValueError when out of range
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            self.error(node, path, f"expected an http:// or https:// URL with a host, "
                       f"got {_show(node)}")
            return None
        return value

    def secret(self, node: Node, path: str) -> Secret | None:
        """Plain text, ``{env: NAME}`` or ``{file: PATH}``. Never quotes the value."""
        if isinstance(node, MappingNode):
            m = self.mapping(node, path, ("env", "file"))
            if m is None:
                return None
            if len(m.values) > 1:
                self.error(node, path, "a secret takes either env: or file:, not both")
            elif not node.value:
                self.error(node, path, "expected a secret: text, {env: NAME} or {file: PATH}")
            if len(m.values) != 1:  # (unknown keys were reported by mapping())
                return None
            if (env_node := m.get("env")) is not None:
                name = self.text(env_node, _join(path, "env"))
                if name is None:
                    return None
                value = self.env.get(name)
                if value is None:
                    self.error(env_node, path, f"environment variable {name} is not set")
                    return None
                if not value:
                    self.error(env_node, path, f"environment variable {name} is empty")
                    return None
                return Secret(value)
            file_node = m.values["file"]
            file = self.path(file_node, _join(path, "file"))
            if file is None:
                return None
            try:
                value = file.read_text(encoding="utf-8").rstrip("\r\n")
            except FileNotFoundError:
                self.error(file_node, path, f"secret file {file} not found")
                return None
            except UnicodeDecodeError:
                self.error(file_node, path, f"secret file {file} is not UTF-8 text")
                return None
            except OSError as err:
                self.error(file_node, path, f"cannot read secret file {file}: {err.strerror}")
                return None
            if not value:
                self.error(file_node, path, f"secret file {file} is empty")
                return None
            return Secret(value)
        if not isinstance(node, ScalarNode) or node.tag not in _SCALAR_TAGS or node.tag == _NULL:
            self.error(node, path, "expected a secret: text, {env: NAME} or {file: PATH}")
            return None
        if not str(node.value):
            self.error(node, path, "must not be empty")
            return None
        return Secret(str(node.value))

    def timezone(self, node: Node, path: str) -> str | None:
        value = self.text(node, path)
        if value is None:
            return None
        try:
            _tzinfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            close = difflib.get_close_matches(value, zoneinfo.available_timezones(), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.error(node, path, f"unknown time zone {value!r} (IANA names like "
                       f"Europe/Berlin){hint}")
            return None
        return value

    def time_of_day(self, node: Node, path: str, *, end: bool) -> dt.time | None:
        value = self.text(node, path)
        if value is None:
            return None
        match = _TIME.fullmatch(value.strip())
        hour, minute, second = (int(g or 0) for g in match.groups()) if match else (99, 0, 0)
        if end and (hour, minute, second) == (24, 0, 0):
            return dt.time.max  # "until midnight"
        if hour > 23 or minute > 59 or second > 59:
            self.error(node, path, f"expected a time like 08:00 or 17:30, got {value!r}")
            return None
        return dt.time(hour, minute, second)

    def timestamp(self, node: Node, path: str) -> dt.datetime | None:
        value = self.text(node, path)
        if value is None:
            return None
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            self.error(node, path, "expected a date and time like 2024-06-01 08:00 or "
                       f"2024-06-01T08:00:00+02:00, got {value!r}")
            return None

    def days(self, node: Node, path: str) -> frozenset[int] | None:
        """``mon-fri``, ``mon,wed,fri``, ``sat-sun`` or a list of such; 0 = Monday."""
        if isinstance(node, SequenceNode):
            items = [(n, self.text(n, f"{path}[{i}]")) for i, n in enumerate(node.value)]
        else:
            items = [(node, self.text(node, path))]
        out: set[int] = set()
        ok = bool(items)
        for item_node, text in items:
            if text is None:
                ok = False
                continue
            for token in text.split(","):
                first, _, last = token.strip().lower().partition("-")
                a, b = _day(first), (_day(last) if last else _day(first))
                if a is None or b is None:
                    self.error(item_node, path, f"unknown day {token.strip()!r}; use mon, tue, "
                               "wed, thu, fri, sat, sun or a range like mon-fri")
                    ok = False
                    continue
                out.update((a + i) % 7 for i in range((b - a) % 7 + 1))  # fri-mon wraps
        if not items:
            self.error(node, path, "needs at least one day")
        return frozenset(out) if ok else None

    # -- sections -------------------------------------------------------------------------------

    def config(self, root: Node, path: Path) -> Config | None:
        if _is_null(root):
            self.error(root, "", "the file has no settings (see config/example.yaml)")
            return None
        top = self.mapping(root, "", _TOP_KEYS)
        if top is None:
            return None
        kw: dict[str, Any] = {}
        if (n := top.get("snmp_profiles")) is not None:
            self.read_profiles(n, "snmp_profiles")
        if (n := top.get("sites")) is not None:
            self.read_sites(n, "sites")
        defaults = self.read_defaults(top.get("defaults"), "defaults")
        readers: dict[str, Reader] = {
            "collector": self.read_collector, "storage": self.read_storage,
            "tickets": self.read_tickets, "notifications": self.read_notifications,
        }
        kw.update(self.fields(top, "", readers))
        devices_node = top.get("devices")
        kw["devices"] = self.read_devices(devices_node, "devices", defaults) \
            if devices_node is not None else ()
        return Config(path=path, snmp_profiles=MappingProxyType(dict(self.profiles)),
                      sites=MappingProxyType(dict(self.sites)), **kw)

    def read_collector(self, node: Node, path: str) -> CollectorSettings | None:
        m = self.mapping(node, path, _COLLECTOR_KEYS)
        if m is None:
            return None
        kw = self.fields(m, path, {
            "state_dir": self.path,
            "max_concurrency": lambda n, p: self.integer(n, p, lo=1),
            "jitter": lambda n, p: self.number(n, p, lo=0.0, hi=1.0),
            "sleep_grace": lambda n, p: self.duration(n, p, zero=True),
            "api_token": self.secret,
            "allowed_hosts": self.host_names,
        })
        if (n := m.get("listen")) is not None:
            listen = self.listen(n, _join(path, "listen"))
            if listen is not None:
                kw["listen_host"], kw["listen_port"] = listen
        return CollectorSettings(**kw)

    def host_names(self, node: Node, path: str) -> tuple[str, ...] | None:
        """``collector.allowed_hosts``: host names or IP addresses, no ports."""
        items = self.sequence(node, path, "a list of host names")
        if items is None:
            return None
        out: list[str] = []
        for i, item in enumerate(items):
            value = self.text(item, f"{path}[{i}]")
            if value is not None and (problem := _host_problem(value.strip())):
                self.error(item, f"{path}[{i}]", f"{value!r} {problem}")
            elif value is not None:
                out.append(value.strip().lower())
        return tuple(out)

    def listen(self, node: Node, path: str) -> tuple[str, int] | None:
        value = self.text(node, path)
        if value is None:
            return None
        match = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]+):(\d+)", value.strip())
        host = (match[1] or match[3]) if match else ""
        port = int(match[2] or match[4]) if match else 0
        if not match or _host_problem(host) or not 0 < port < 65536:
            self.error(node, path, f"expected HOST:PORT like 127.0.0.1:8730 or [::]:8730 "
                       f"(port 1-65535), got {value!r}")
            return None
        return host, port

    def read_storage(self, node: Node, path: str) -> StorageConfig | None:
        m = self.mapping(node, path, (*_STORAGE_COMMON, *_STORAGE_ONLY))
        if m is None:
            return None
        backend = "none"
        if (n := m.get("backend")) is not None:
            backend = self.choice(n, _join(path, "backend"), STORAGE_BACKENDS,
                                  "storage backend") or ""
        kw = self.fields(m, path, {
            "backend": lambda n, p: backend or None,
            "url": self.url,
            "database": self.text,
            "retention_policy": self.text,
            "username": self.text,
            "password": self.secret,
            "org": self.text,
            "bucket": self.text,
            "token": self.secret,
            "batch_size": lambda n, p: self.integer(n, p, lo=1),
            "flush_interval": self.duration,
            "timeout": self.duration,
            "spool_dir": self.path,
            "spool_max_bytes": self.size,
            "create_database": self.boolean,
        })
        if backend == "none":
            for key in m.values:
                if key != "backend":
                    self.error(m.keys[key], _join(path, key),
                               "storage is off (backend: none): set backend: influxdb_v1 or "
                               "influxdb_v2, or remove this key")
        elif backend:
            for key, only in _STORAGE_ONLY.items():
                if key in m.values and only != backend:
                    self.error(m.keys[key], _join(path, key),
                               f"applies to backend {only} only (backend is {backend})")
            if backend == "influxdb_v2":
                for key in ("org", "bucket", "token"):
                    self.required(m, path, key, " for backend influxdb_v2")
            if backend == "influxdb_v1" and ("username" in m.values) != ("password" in m.values):
                missing = "password" if "username" in m.values else "username"
                self.error(m.node, _join(path, missing),
                           "username and password go together: give both or neither")
            if backend == "influxdb_v1" and "token" in m.values and (
                    "username" in m.values or "password" in m.values):
                self.error(m.keys["token"], _join(path, "token"),
                           "give either token or username and password, not both")
        return StorageConfig(**kw)

    def read_profiles(self, node: Node, path: str) -> None:
        m = self.mapping(node, path, None)
        for name, body in (m.values if m else {}).items():
            sub = _join(path, name)
            if m is None or self.name(m.keys[name], sub, "profile name") is None:
                continue
            self.profiles[name] = self.read_profile(name, body, sub) or SnmpProfile(name=name)

    def read_profile(self, name: str, node: Node, path: str) -> SnmpProfile | None:
        before = len(self.errors)
        m = self.mapping(node, path, _PROFILE_KEYS)
        if m is None:
            return None
        version = "2c"
        if (n := m.get("version")) is not None:
            version = self.choice(n, _join(path, "version"), ("1", "2c", "3"),
                                  "SNMP version") or ""
        kw = self.fields(m, path, {
            "version": lambda n, p: version or None,
            "community": self.secret,
            "user": self.text,
            "auth_protocol": lambda n, p: self.choice(n, p, AUTH_PROTOCOLS, "auth protocol",
                                                      fold=True),
            "auth_key": self.secret,
            "priv_protocol": lambda n, p: self.choice(n, p, PRIV_PROTOCOLS, "privacy protocol",
                                                      fold=True),
            "priv_key": self.secret,
            "context": lambda n, p: self.text(n, p, empty=True),
            "timeout": self.duration,
            "retries": lambda n, p: self.integer(n, p, lo=0),
            "max_repetitions": lambda n, p: self.integer(n, p, lo=1),
        })
        for key in m.values:
            if version == "3" and key == "community":
                self.error(m.keys[key], _join(path, key),
                           "applies to SNMP versions 1 and 2c only (version is 3)")
            elif version in ("1", "2c") and key in _V3_ONLY:
                self.error(m.keys[key], _join(path, key),
                           f"applies to SNMPv3 only (version is {version}); set version: 3")
        for key, proto in (("auth_key", "auth_protocol"), ("priv_key", "priv_protocol")):
            if version == "3" and key in m.values and proto not in m.values:
                self.error(m.keys[key], _join(path, key), f"needs {proto} as well")
        profile = SnmpProfile(name=name, **kw)
        if len(self.errors) == before:
            try:
                profile.credentials()  # the same v3 rules as `fleetwatch check`
            except ValueError as err:
                self.error(node, path, str(err))
        return profile

    def read_sites(self, node: Node, path: str) -> None:
        m = self.mapping(node, path, None)
        for name, body in (m.values if m else {}).items():
            sub = _join(path, name)
            if m is None or self.name(m.keys[name], sub, "site name") is None:
                continue
            self.sites[name] = self.read_site(body, sub) or Schedule()

    def read_site(self, node: Node, path: str) -> Schedule | None:
        m = self.mapping(node, path, _SITE_KEYS)
        if m is None:
            return None
        tz = "UTC"
        if (n := m.get("timezone")) is not None:
            tz = self.timezone(n, _join(path, "timezone")) or "UTC"
        hours = self.fields(m, path, {"business_hours": self.business_hours}).get("business_hours")
        windows = self.fields(m, path, {"maintenance": self.maintenance}).get("maintenance")
        return Schedule(business_hours=hours or (), maintenance=_localize(windows or (), tz),
                        timezone=tz)

    def business_hours(self, node: Node, path: str) -> tuple[WeeklyWindow, ...] | None:
        items = self.sequence(node, path, "a list of {days, start, end}")
        if items is None:
            return None
        out: list[WeeklyWindow] = []
        for i, item in enumerate(items):
            sub = f"{path}[{i}]"
            m = self.mapping(item, sub, ("days", "start", "end"))
            if m is None:
                continue
            nodes = [self.required(m, sub, k) for k in ("days", "start", "end")]
            if None in nodes:
                continue
            days_node, start_node, end_node = nodes
            assert days_node is not None and start_node is not None and end_node is not None
            days = self.days(days_node, _join(sub, "days"))
            start = self.time_of_day(start_node, _join(sub, "start"), end=False)
            end = self.time_of_day(end_node, _join(sub, "end"), end=True)
            if days is None or start is None or end is None:
                continue
            if end <= start:
                self.error(end_node, _join(sub, "end"), "must be after start (a window over "
                           "midnight is two windows: 22:00-24:00 and 00:00-06:00)")
                continue
            out.append(WeeklyWindow(days=days, start=start, end=end))
        return tuple(out)

    def maintenance(self, node: Node, path: str) -> tuple[MaintenanceWindow, ...] | None:
        """Windows as written: a time without UTC offset stays naive until the device's site
        time zone is known (:func:`_localize`)."""
        items = self.sequence(node, path, "a list of {start, end, reason}")
        if items is None:
            return None
        out: list[MaintenanceWindow] = []
        for i, item in enumerate(items):
            sub = f"{path}[{i}]"
            m = self.mapping(item, sub, ("start", "end", "reason"))
            if m is None:
                continue
            start_node, end_node = self.required(m, sub, "start"), self.required(m, sub, "end")
            start = self.timestamp(start_node, _join(sub, "start")) if start_node else None
            end = self.timestamp(end_node, _join(sub, "end")) if end_node else None
            reason = self.fields(m, sub, {"reason": self.text}).get("reason", "")
            if start is None or end is None or end_node is None:
                continue
            if (start.tzinfo is None) != (end.tzinfo is None):
                self.error(end_node, _join(sub, "end"), "give a UTC offset on both start and end, "
                           "or on neither (then the site's time zone applies)")
                continue
            if end <= start:
                self.error(end_node, _join(sub, "end"), "must be after start")
                continue
            out.append(MaintenanceWindow(start=start, end=end, reason=reason))
        return tuple(out)

    def read_defaults(self, node: Node | None, path: str) -> dict[str, _Fields]:
        if node is None:
            return {}
        m = self.mapping(node, path, DEVICE_KINDS)
        out: dict[str, _Fields] = {}
        for kind, body in (m.values if m else {}).items():
            sub = _join(path, kind)
            fm = self.mapping(body, sub, _DEVICE_KEYS)
            for key in ("name", "host", "kind", "parent"):
                if fm is not None and key in fm.keys:
                    self.error(fm.keys[key], _join(sub, key),
                               "belongs to each device, not to defaults")
            if fm is not None:
                out[kind] = self.device_fields(fm, sub)
        return out

    def device_fields(self, m: _Map, path: str) -> _Fields:
        kw = self.fields(m, path, {
            "port": self.port,
            "site": self.site_ref,
            "location": self.text,
            "tags": self.tags,
            "snmp": self.profile_ref,
            "community": self.secret,
            "probes": self.probes,
            "thresholds": self.thresholds,
            "timezone": self.timezone,
            "maintenance": self.maintenance,
            "business_hours": self.business_hours,
        })
        return _Fields(**kw)

    def site_ref(self, node: Node, path: str) -> str | None:
        value = self.text(node, path)
        if value is not None and value not in self.sites:
            hint = _suggest(value, self.sites) if self.sites else "; no sites are defined"
            self.error(node, path, f"unknown site {value!r}" + hint)
            return None
        return value

    def profile_ref(self, node: Node, path: str) -> SnmpProfile | None:
        value = self.text(node, path)
        if value is None:
            return None
        if value in self.profiles:
            return self.profiles[value]
        if value == "default":
            return DEFAULT_SNMP_PROFILE
        hint = _suggest(value, self.profiles) if self.profiles else \
            "; no snmp_profiles are defined"
        self.error(node, path, f"unknown snmp profile {value!r}" + hint)
        return None

    def tags(self, node: Node, path: str) -> dict[str, str] | None:
        m = self.mapping(node, path, None)
        if m is None:
            return None
        out: dict[str, str] = {}
        for key, value_node in m.values.items():
            sub = _join(path, key)
            if not _TAG_KEY.fullmatch(key):
                self.error(m.keys[key], sub, "a tag name may only use letters, digits and '_' "
                           "(not starting with a digit)")
                continue
            if key in RESERVED_TAGS:
                self.error(m.keys[key], sub, f"{key!r} is a reserved tag name (Fleetwatch writes "
                           f"{_OWN_TAGS} itself, and InfluxDB refuses a tag named time); "
                           "pick another name")
                continue
            value = self.text(value_node, sub)
            if value is not None:
                out[key] = value
        return out

    def unique_items(self, node: Node, path: str, what: str,
                     read: Callable[[Node, str], _T | None], key_of: Callable[[_T], str],
                     key_name: str, clash: Callable[[str, int], str]) -> tuple[_T, ...] | None:
        """A list whose items must differ in one key (``key_of``); a repeat is an error at the
        repeat's ``key_name``, worded by ``clash(key, line of the first)``."""
        items = self.sequence(node, path, what)
        if items is None:
            return None
        out: list[_T] = []
        seen: dict[str, Node] = {}
        for i, item in enumerate(items):
            sub = f"{path}[{i}]"
            value = read(item, sub)
            if value is None:
                continue
            key = key_of(value)
            if key in seen:
                self.error(item, _join(sub, key_name), clash(key, _line(seen[key])))
                continue
            seen[key] = item
            out.append(value)
        return tuple(out)

    def probes(self, node: Node, path: str) -> tuple[ProbeConfig, ...] | None:
        return self.unique_items(
            node, path, "a list of probes", self.probe, lambda p: p.kind, "kind",
            lambda kind, line: f"one probe per kind per device: {kind} is already at line {line}")

    def probe(self, node: Node, path: str) -> ProbeConfig | None:
        m = self.mapping(node, path, _PROBE_KEYS)
        if m is None:
            return None
        kind_node = self.required(m, path, "kind", f" (one of {', '.join(PROBE_KINDS)})")
        kind = self.choice(kind_node, _join(path, "kind"), PROBE_KINDS, "probe kind") \
            if kind_node is not None else None
        kw = self.fields(m, path, {
            "interval": self.duration,
            "timeout": self.duration,
            "port": self.port,
            "url": self.url,
            "expect_status": lambda n, p: self.integer(n, p, 100, 599),
            "full_every": lambda n, p: self.integer(n, p, lo=1),
        })
        if kind is None:
            return None
        for key, only in _PROBE_ONLY.items():
            if key in m.values and only != kind:
                self.error(m.keys[key], _join(path, key), f"applies to {only} probes only")
                kw.pop(key, None)
        if kind == "tcp":
            self.required(m, path, "port", " for a tcp probe")
        probe = probe_settings(kind, **kw)
        if probe.timeout >= probe.interval:
            key = "timeout" if "timeout" in kw else "interval"
            self.error(m.get(key) or node, _join(path, key), f"timeout ({probe.timeout:g} s) "
                       f"must be shorter than interval ({probe.interval:g} s)")
        return probe

    def thresholds(self, node: Node, path: str) -> tuple[Threshold, ...] | None:
        return self.unique_items(
            node, path, "a list of thresholds", self.threshold, lambda t: t.metric, "metric",
            lambda metric, line: f"{metric} already has a threshold at line {line}")

    def threshold(self, node: Node, path: str) -> Threshold | None:
        m = self.mapping(node, path, _THRESHOLD_KEYS)
        if m is None:
            return None
        metric_node = self.required(m, path, "metric")
        kw = self.fields(m, path, {
            "metric": self.text,
            "warning": self.number,
            "critical": self.number,
            "direction": lambda n, p: self.choice(n, p, ("above", "below"), "direction"),
            "hysteresis": lambda n, p: self.number(n, p, lo=0.0),
        })
        if "warning" not in m.values and "critical" not in m.values:
            self.error(m.node, path, "needs warning, critical or both")
            return None
        if metric_node is None or "metric" not in kw:
            return None
        if any(c.isspace() for c in kw["metric"]):
            self.error(metric_node, _join(path, "metric"), "a metric name has no spaces")
            return None
        threshold = Threshold(**kw)
        w, c = threshold.warning, threshold.critical
        if w is not None and c is not None:
            bad = w > c if threshold.direction == "above" else w < c
            if bad:
                word = "above" if threshold.direction == "above" else "below"
                self.error(m.get("warning") or node, _join(path, "warning"),
                           f"with direction {threshold.direction}, warning ({w:g}) must not be "
                           f"{word} critical ({c:g})")
                return None
        return threshold

    def read_devices(self, node: Node, path: str,
                     defaults: Mapping[str, _Fields]) -> tuple[DeviceConfig, ...]:
        items = self.sequence(node, path, "a list of devices")
        drafts = [d for i, item in enumerate(items or ())
                  if (d := self.read_device(item, f"{path}[{i}]")) is not None]
        first: dict[str, _Device] = {}
        for d in drafts:
            if d.name is None:
                continue
            if d.name in first:
                self.error(d.node, _join(d.path, "name"), f"duplicate device name {d.name!r} "
                           f"(first at line {_line(first[d.name].node)})")
            else:
                first[d.name] = d
        self.check_parents(drafts, first)
        default_profile = self.profiles.get("default", DEFAULT_SNMP_PROFILE)
        out: list[DeviceConfig] = []
        for d in drafts:
            if d.name is None or d.host is None:
                continue
            f = defaults.get(d.kind, _Fields()).under(d.fields)
            site = self.sites.get(f.site) if f.site else None
            tz = f.timezone or (site.timezone if site else "UTC")  # device > site > UTC
            schedule = Schedule(
                business_hours=f.business_hours if f.business_hours is not None
                else (site.business_hours if site else ()),
                maintenance=(site.maintenance if site else ()) + _localize(f.maintenance or (), tz),
                timezone=tz,
            )
            profile = f.snmp or default_profile
            if f.community is not None:
                if profile.version == "3":
                    self.error(d.node, _join(d.path, "community"),
                               f"profile {profile.name!r} is SNMPv3, which has no community")
                else:  # many offices give each printer its own community
                    profile = replace(profile, community=f.community)
            out.append(DeviceConfig(
                name=d.name, host=d.host, kind=d.kind, port=f.port or 161, site=f.site,
                location=f.location, tags=MappingProxyType(f.tags or {}), parent=d.parent,
                snmp=profile, timezone=f.timezone,
                probes=f.probes if f.probes is not None else DEFAULT_PROBES[d.kind],
                thresholds=f.thresholds or (), schedule=schedule,
            ))
        return tuple(out)

    def read_device(self, node: Node, path: str) -> _Device | None:
        m = self.mapping(node, path, _DEVICE_KEYS)
        if m is None:
            return None
        name_node = self.required(m, path, "name")
        host_node = self.required(m, path, "host", " (IP address or DNS name)")
        kind = "printer"
        if (n := m.get("kind")) is not None:
            kind = self.choice(n, _join(path, "kind"), DEVICE_KINDS, "device kind") or "printer"
        parent_node = m.get("parent")
        return _Device(
            node=node, path=path,
            name=self.name(name_node, _join(path, "name"), "device name") if name_node else None,
            host=self.host(host_node, _join(path, "host")) if host_node else None,
            kind=kind,
            parent=self.text(parent_node, _join(path, "parent")) if parent_node else None,
            parent_node=parent_node,
            fields=self.device_fields(m, path),
        )

    def check_parents(self, drafts: Sequence[_Device], by_name: Mapping[str, _Device]) -> None:
        """Each parent exists; no device is its own ancestor (each cycle reported once)."""
        reported: set[str] = set()
        rooted: set[str] = set()  # devices whose parent chain is known to end (linear time)
        for d in drafts:
            if d.parent is None or d.parent_node is None or d.name is None:
                continue
            where = _join(d.path, "parent")
            if d.parent not in by_name:
                self.error(d.parent_node, where, f"unknown parent device {d.parent!r}"
                           + _suggest(d.parent, by_name, listing=False))
                continue
            chain = [d.name]
            current: str | None = d.parent
            while current is not None and current in by_name and current not in rooted \
                    and current not in chain:
                chain.append(current)
                current = by_name[current].parent
            if current == d.name:
                if d.name not in reported:
                    reported.update(chain)
                    self.error(d.parent_node, where,
                               "parent cycle: " + " -> ".join([*chain, d.name]))
            elif current not in chain:  # reached a root, a known-good chain or an unknown name
                rooted.update(chain)

    def read_tickets(self, node: Node, path: str) -> TicketSettings | None:
        m = self.mapping(node, path, _TICKET_KEYS)
        if m is None:
            return None
        return TicketSettings(**self.fields(m, path, {
            "debounce_polls": lambda n, p: self.integer(n, p, lo=1),
            "debounce_seconds": lambda n, p: self.duration(n, p, zero=True),
            "flap_window": lambda n, p: self.duration(n, p, zero=True),
            "auto_resolve": self.boolean,
            "clear_polls": lambda n, p: self.integer(n, p, lo=1),
        }))

    def read_notifications(self, node: Node, path: str) -> NotificationConfig | None:
        m = self.mapping(node, path, ("webhook", "email"))
        if m is None:
            return None
        return NotificationConfig(**self.fields(m, path, {
            "webhook": self.read_webhook, "email": self.read_email}))

    def read_webhook(self, node: Node, path: str) -> WebhookConfig | None:
        m = self.mapping(node, path, _WEBHOOK_KEYS)
        if m is None:
            return None
        url_node = self.required(m, path, "url")
        kw = self.fields(m, path, {
            "url": self.url,
            "headers": self.headers,
            "timeout": self.duration,
            "retries": lambda n, p: self.integer(n, p, lo=0),
        })
        return WebhookConfig(**kw) if url_node is not None and "url" in kw else None

    def headers(self, node: Node, path: str) -> Mapping[str, str] | None:
        m = self.mapping(node, path, None)
        if m is None:
            return None
        out: dict[str, str] = {}
        for key, value_node in m.values.items():
            sub = _join(path, key)
            value = self.text(value_node, sub)
            if not _HEADER_NAME.fullmatch(key):
                self.error(m.keys[key], sub, "not a valid HTTP header name")
            elif value is not None and ("\n" in value or "\r" in value):
                self.error(value_node, sub, "a header value is one line")
            elif value is not None:
                out[key] = value
        return MappingProxyType(out)

    def read_email(self, node: Node, path: str) -> EmailConfig | None:
        m = self.mapping(node, path, _EMAIL_KEYS)
        if m is None:
            return None
        host_node = self.required(m, path, "host")
        self.required(m, path, "to", " (a list of addresses)")
        kw = self.fields(m, path, {
            "host": self.host,
            "port": self.port,
            "from": self.address,
            "to": self.addresses,
            "username": self.text,
            "password": self.secret,
            "starttls": self.boolean,
            "timeout": self.duration,
        }, rename={"from": "sender"})
        if ("username" in m.values) != ("password" in m.values):
            missing = "password" if "username" in m.values else "username"
            self.error(m.node, _join(path, missing),
                       "username and password go together: give both or neither")
        return EmailConfig(**kw) if host_node is not None and "host" in kw else None

    def address(self, node: Node, path: str) -> str | None:
        value = self.text(node, path)
        if value is not None and not _EMAIL.fullmatch(value.strip()):
            self.error(node, path, f"expected an e-mail address like it@example.org, "
                       f"got {value!r}")
            return None
        return value.strip() if value is not None else None

    def addresses(self, node: Node, path: str) -> tuple[str, ...] | None:
        items = self.sequence(node, path, "a list of addresses")
        if items is None:
            return None
        if not items:
            self.error(node, path, "needs at least one address")
            return None
        out = [self.address(item, f"{path}[{i}]") for i, item in enumerate(items)]
        return tuple(a for a in out if a is not None)


def _day(token: str) -> int | None:
    if token in _FULL_DAY_NAMES:
        return _FULL_DAY_NAMES.index(token)
    return _DAY_NAMES.index(token) if token in _DAY_NAMES else None


def _localize(windows: Sequence[MaintenanceWindow], tz: str) -> tuple[MaintenanceWindow, ...]:
    """Give naive (no UTC offset) windows the time zone ``tz``."""
    info = _tzinfo(tz)
    return tuple(
        w if w.start.tzinfo is not None
        else replace(w, start=w.start.replace(tzinfo=info), end=w.end.replace(tzinfo=info))
        for w in windows
    )
