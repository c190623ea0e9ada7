"""Reads the collector's YAML file into :class:`~collector.config.Config`.

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

How: YAML's composer gives a node tree with line marks; :func:`_Reader.data` turns it into plain
data (every scalar a :class:`~collector.config.types.Scalar`, merge keys applied, duplicate keys
and foreign tags reported) and a map from key path to line; pydantic validates that data as
:class:`~collector.config.model.ConfigFile`; each pydantic error's ``loc`` becomes a key path and
a line. A valid file is then resolved (defaults per kind, profiles, sites) into ``Config``.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError
from pydantic.json_schema import SkipJsonSchema
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from collector.config.model import (
    DEFAULT_PROBES,
    DEFAULT_SNMP_PROFILE,
    Config,
    ConfigFile,
    DeviceConfig,
    DeviceEntry,
    MaintenanceWindow,
    Schedule,
    Sections,
    Threshold,
    WeeklyWindow,
)
from collector.config.types import ERROR, REPORTED, Scalar, bound_message, describe, suggest
from probes.base import ProbeSettings
from probes.errors import ConfigError

__all__ = ["DEFAULT_PROBES", "ConfigErrors", "load_config"]

Loc = tuple[str | int, ...]

_Y = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_Y + t: t for t in ("str", "int", "float", "bool", "timestamp")}
_NULL, _MERGE = _Y + "null", _Y + "merge"
_FILE = TypeAdapter(ConfigFile)
_LIST_OF: Mapping[Any, str] = {
    DeviceEntry: "a list of devices", ProbeSettings: "a list of probes",
    Threshold: "a list of thresholds", WeeklyWindow: "a list of {days, start, end}",
    MaintenanceWindow: "a list of {start, end, reason}", str: "a list of addresses"}
_SKIP: type = typing.cast(type, SkipJsonSchema)  # a field the loader sets (not a YAML key)


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
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigErrors(file, [ConfigError("file not found", where=file)]) from None
    except UnicodeDecodeError as err:
        raise ConfigErrors(file, [ConfigError(
            f"not UTF-8 text (byte {err.start})", where=file)]) from None
    except OSError as err:
        raise ConfigErrors(file, [ConfigError(
            f"cannot read: {err.strerror}", where=file)]) from None
    reader = _Reader(file)
    root = reader.compose(text)
    if root is None:
        reader.raise_errors()
    assert root is not None
    data = reader.data(root, ())
    if data is None:
        reader.report(1, "", "the file has no settings (see config/example.yaml)")
        reader.raise_errors()
    base = Path(path).absolute().parent
    context = {"base": base, "env": os.environ if env is None else env,
               "sites": _names(data, "sites"), "profiles": _names(data, "snmp_profiles")}
    try:
        parsed = _FILE.validate_python(data, context=context)
    except ValidationError as err:
        for e in err.errors():
            reader.translate(e)
        reader.raise_errors()
    config = reader.resolve(parsed, Path(path).absolute())
    reader.raise_errors()
    return config


def _names(data: Any, section: str) -> list[str]:
    """The keys of a top-level mapping as written (references are checked against them)."""
    value = data.get(section) if isinstance(data, dict) else None
    return [str(k) for k in value] if isinstance(value, dict) else []


def _path(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _unwrap(t: Any) -> Any:
    while True:
        origin = typing.get_origin(t)
        if origin is typing.Annotated:
            t = typing.get_args(t)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(t) if a is not type(None)]
            if len(args) != 1:
                return t
            t = args[0]
        else:
            return t


def _fields(t: Any) -> dict[str, Any]:
    return dict(getattr(t, "__pydantic_fields__", None) or {})


def _walk(loc: Loc) -> tuple[Any, Any]:
    """The type at ``loc`` in :class:`ConfigFile` and the pydantic field that holds it (None
    when ``loc`` ends in a list item or a mapping value, or leaves the models)."""
    t: Any = ConfigFile
    field = None
    for part in loc:
        t = _unwrap(t)
        fields = _fields(t)
        origin = typing.get_origin(t)
        if fields and isinstance(part, str):
            field = fields.get(part) or next(
                (f for f in fields.values() if f.alias == part), None)
            if field is None:
                return None, None
            t = field.annotation
        elif origin in (tuple, list):
            t, field = typing.get_args(t)[0], None
        elif origin in (dict, Mapping):
            t, field = typing.get_args(t)[1], None
        else:
            return None, None
    return _unwrap(t), field


def _keys(t: Any) -> list[str]:
    """The YAML keys of a model: its fields (aliases where set) but those the loader sets."""
    return [f.alias or name for name, f in _fields(t).items()
            if not any(isinstance(m, _SKIP) for m in f.metadata)]


class _Reader:
    """One pass over one file; problems are collected with their line and reported together."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[tuple[int, ConfigError]] = []
        self.lines: dict[Loc, int] = {}  # where a value's problems are reported
        self.key_lines: dict[Loc, int] = {}  # where a mapping key is written
        self._open: set[int] = set()  # nodes being read (a recursive alias is an error)

    # -- errors ---------------------------------------------------------------------------------

    def report(self, line: int, key: str, message: str) -> None:
        self.errors.append((line, ConfigError(message, where=f"{self.file}:{line}", key=key)))

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

    def line_of(self, loc: Loc, *, key: bool = False) -> int:
        if key and loc in self.key_lines:
            return self.key_lines[loc]
        while loc not in self.lines and loc:
            loc = loc[:-1]
        return self.lines.get(loc, 1)

    def translate(self, e: Mapping[str, Any]) -> None:
        """One pydantic error as ``FILE:LINE: key.path: message``."""
        kind = e["type"]
        bad = e.get("input")
        if kind == REPORTED or (isinstance(bad, Scalar) and bad.tag == "bad"):
            return  # reported when the YAML was read
        raw: Loc = tuple(e["loc"])
        is_key = "[key]" in raw
        loc: Loc = tuple(p for p in raw if p != "[key]")
        ctx = e.get("ctx") or {}
        line = self.line_of(loc, key=is_key)
        if kind == ERROR:
            message = str(ctx.get("message", ""))
            if "ref" in ctx:
                ref = loc[:len(loc) - int(ctx.get("up", 0))] + tuple(ctx["ref"])
                message = message.replace("{line}", str(self.line_of(ref)))
        elif kind == "missing":
            parent, _ = _walk(loc[:-1])
            hints: Mapping[str, str] = getattr(parent, "REQUIRED_HINTS", {})
            message = "is required" + hints.get(str(loc[-1]), "")
        elif kind in ("unexpected_keyword_argument", "extra_forbidden"):
            parent, _ = _walk(loc[:-1])
            message = "unknown key" + suggest(str(loc[-1]), _keys(parent))
            line = self.line_of(loc, key=True)
        elif kind in ("dataclass_type", "dataclass_args_type", "model_type", "dict_type",
                      "mapping_type", "model_attributes_type"):
            message = f"expected a mapping (key: value lines), got {describe(e.get('input'))}"
        elif kind in ("tuple_type", "list_type", "iterable_type", "frozen_set_type"):
            listed, _ = _walk(loc)
            items = typing.get_args(listed)
            noun = _LIST_OF.get(_unwrap(items[0]) if items else None, "a list")
            message = f"expected {noun} (lines starting with '- '), got {describe(e.get('input'))}"
        else:
            _, field = _walk(loc)
            message = bound_message(e, list(field.metadata) if field else []) or str(e["msg"])
        self.report(line, _path(loc), message)

    # -- YAML -----------------------------------------------------------------------------------

    def compose(self, text: str) -> Node | None:
        try:  # libyaml when there is one: the same nodes and marks, faster
            return self._compose(text, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError:
            pass  # PyYAML's own composer words the error (or accepts what libyaml did not)
        try:
            return self._compose(text, yaml.SafeLoader)
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
            self.report(line, "", message)
            return None
        except yaml.YAMLError as err:  # ReaderError: a character YAML does not allow
            position = getattr(err, "position", 0)
            self.report(text.count("\n", 0, position) + 1, "",
                        f"YAML error: {getattr(err, 'reason', 'unreadable')}")
            return None

    def _compose(self, text: str, loader: Any) -> Node | None:
        root: Node | None = yaml.compose(text, Loader=loader)
        if root is None:
            self.report(1, "", "the file is empty (see config/example.yaml)")
        return root

    def data(self, node: Node, loc: Loc, key_line: int | None = None) -> Any:
        """Plain data for ``node`` at ``loc``; records where each value is written."""
        own = _line(node)
        self.lines.setdefault(loc, own if isinstance(node, ScalarNode) or key_line is None
                              else key_line)
        if isinstance(node, ScalarNode):
            if node.tag == _NULL:
                return None
            tag = _SCALAR_TAGS.get(node.tag)
            if tag is None:
                self.report(own, _path(loc), f"unsupported YAML tag {node.tag}")
                return Scalar(str(node.value), "bad")
            return Scalar(str(node.value), tag)
        if id(node) in self._open:
            self.report(own, _path(loc), "a YAML alias may not contain itself")
            return Scalar("", "bad")
        self._open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.data(item, (*loc, i)) for i, item in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            out: dict[str, Any] = {}
            for name, knode, vnode in self._pairs(node, loc, 0):
                self.key_lines.setdefault((*loc, name), _line(knode))
                out[name] = self.data(vnode, (*loc, name), _line(knode))
            return out
        finally:
            self._open.discard(id(node))

    def _pairs(self, node: MappingNode, loc: Loc, depth: int) -> list[tuple[str, Node, Node]]:
        explicit: dict[str, tuple[Node, Node]] = {}
        merged: list[tuple[str, Node, Node]] = []
        for knode, vnode in node.value:
            if knode.tag == _MERGE:  # "<<: *anchor" (YAML merge key)
                sources = vnode.value if isinstance(vnode, SequenceNode) else [vnode]
                for source in sources:
                    if isinstance(source, MappingNode) and depth < 32:
                        merged.extend(self._pairs(source, loc, depth + 1))
                    else:
                        self.report(_line(vnode), _path(loc),
                                    "<< must merge a mapping or a list of mappings")
                continue
            if not isinstance(knode, ScalarNode) or knode.tag == _NULL:
                self.report(_line(knode), _path(loc), "a key must be plain text")
                continue
            name = str(knode.value)
            if name in explicit:
                first = _line(explicit[name][0])
                self.report(_line(knode), _path((*loc, name)),
                            f"duplicate key (first at line {first})")
                continue
            explicit[name] = (knode, vnode)
        for name, knode, vnode in merged:
            explicit.setdefault(name, (knode, vnode))  # explicit keys win, then earlier merges
        return [(name, k, v) for name, (k, v) in explicit.items()]

    # -- resolving ------------------------------------------------------------------------------

    def resolve(self, parsed: ConfigFile, path: Path) -> Config:
        """Each device with its kind's defaults, SNMP profile and schedule."""
        profiles = dict(parsed.snmp_profiles)
        default_profile = profiles.get("default", DEFAULT_SNMP_PROFILE)
        devices: list[DeviceConfig] = []
        for i, d in enumerate(parsed.devices):
            f = parsed.defaults.of(d.kind).under(d)
            site = parsed.sites.get(f.site) if f.site else None
            tz = f.timezone or (site.timezone if site else "UTC")  # device > site > UTC
            schedule = Schedule(
                business_hours=f.business_hours if f.business_hours is not None
                else (site.business_hours if site else ()),
                maintenance=(site.maintenance if site else ())
                + tuple(w.localized(tz) for w in f.maintenance or ()),
                timezone=tz,
            )
            profile = profiles.get(f.snmp, DEFAULT_SNMP_PROFILE) if f.snmp else default_profile
            if f.community is not None:
                if profile.version == "3":
                    self.report(self.line_of(("devices", i)), f"devices[{i}].community",
                                f"profile {profile.name!r} is SNMPv3, which has no community")
                else:  # many offices give each printer its own community
                    profile = dataclasses.replace(profile, community=f.community)
            devices.append(DeviceConfig(
                name=d.name, host=d.host, kind=d.kind, port=f.port or 161, site=f.site,
                location=f.location, tags=f.tags or {}, parent=d.parent, snmp=profile,
                timezone=f.timezone, schedule=schedule,
                probes=f.probes if f.probes is not None else DEFAULT_PROBES[d.kind],
                thresholds=f.thresholds or (),
            ))
        sections = {f.name: getattr(parsed, f.name) for f in dataclasses.fields(Sections)}
        return Config(**sections, path=path, snmp_profiles=profiles, sites=parsed.sites,
                      devices=tuple(devices))


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1 if node.start_mark is not None else 1
