"""Readings → InfluxDB line protocol, formatted directly (pure functions, no I/O).

FIELD-NOTES: ``influxdb_client.Point.to_line_protocol()`` is about 22x slower than formatting the
line ourselves, so we do. The schema (every measurement, tag and field with its type) is
:data:`collector.schema.SCHEMA` and is documented in ``docs/influxdb-schema.md``; a test keeps the
two in step.

Contracts:
- Every field has one type forever (InfluxDB 1.x rejects a change): integers always carry the
  ``i`` suffix, floats are always written as floats, strings always quoted. The formatter of each
  field is fixed by its name in :data:`SCHEMA`, never by the Python type of the value at hand.
- Tags are low-cardinality identities (device, site, kind, probe, supply/tray/marker index, supply
  type, colour, and the device's own ``tags`` from the config); values are fields.
- A value that is unknown (``None``), or a float that is not finite, is left out of the line; a
  line without any field is not written.
- Timestamps are integer nanoseconds from ``reading.time``, rounded to the microsecond, so that the
  same reading always gives the same line (a retried write overwrites itself in InfluxDB instead
  of adding a point).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Final

from collector.config import DeviceConfig
from collector.schema import (
    RESERVED_TAGS,
)
from probes.model import STATUS_ORDER, Reading
from probes.printer_mib import ERROR_BITS

# Strings longer than this (error texts, odd descriptions) are cut: a field is not a log.
MAX_STRING = 1024

_MEASUREMENT_ESCAPES: Final = str.maketrans({",": "\\,", " ": "\\ ", "\n": "\\ ", "\r": "\\ "})
_KEY_ESCAPES: Final = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\ ", "\r": "\\ "})
_STRING_ESCAPES: Final = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": " ", "\r": " "})
# Characters that need any escaping: most values have none, and this test is ~5x cheaper than
# translate() (formatting cost is dominated by escaping).
_KEY_SPECIALS: Final = frozenset(',= \n\r\\')
_STRING_SPECIALS: Final = frozenset('"\n\r\\')


def escape_measurement(name: str) -> str:
    """Measurement names: escape comma and space. A trailing backslash would escape the
    separator after it and cannot be written at all (InfluxDB 1.6: "invalid tag format"),
    so it is dropped."""
    if _KEY_SPECIALS.isdisjoint(name):
        return name
    return name.translate(_MEASUREMENT_ESCAPES).rstrip("\\")


def escape_key(text: str) -> str:
    """Tag keys, tag values and field keys: escape comma, equals sign and space; newlines become
    spaces; a trailing backslash is dropped (see :func:`escape_measurement`). Other backslashes
    are kept literally, as InfluxDB stores them."""
    if _KEY_SPECIALS.isdisjoint(text):
        return text
    return text.translate(_KEY_ESCAPES).rstrip("\\")


def quote_string(value: str) -> str:
    """A string field value: quoted, with backslash and double quote escaped, newlines as spaces,
    cut to :data:`MAX_STRING` characters."""
    value = value[:MAX_STRING]
    if _STRING_SPECIALS.isdisjoint(value):
        return f'"{value}"'
    return '"' + value.translate(_STRING_ESCAPES) + '"'


def time_ns(seconds: float) -> int:
    """Epoch seconds → integer nanoseconds, rounded to the microsecond (stable across calls)."""
    return round(seconds * 1_000_000) * 1000


def escaped_tags(tags: Iterable[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """``(key, ",k=v")`` with key and value escaped; empty or ``None`` values left out."""
    out = []
    for key, value in tags:
        if value is None:
            continue
        k, v = escape_key(key), escape_key(value)
        if k and v:
            out.append((key, f",{k}={v}"))
    return out


def join_tags(pairs: list[tuple[str, str]]) -> str:
    """The tag part of a line from :func:`escaped_tags` pairs, sorted by key (InfluxDB's
    advice: it saves the server a sort)."""
    return "".join(kv for _, kv in sorted(pairs))


def format_tags(tags: Iterable[tuple[str, str | None]]) -> str:
    """``,k=v,k=v`` sorted by key, empty or ``None`` values left out."""
    return join_tags(escaped_tags(tags))


def format_line(measurement: str, tags: Mapping[str, str | None],
                fields: Mapping[str, int | float | str | bool | None], time: int | None) -> str | None:
    """One line for callers outside the reading schema (e.g. the collector's own metrics).

    The line protocol type follows the Python type: ``bool`` → boolean, ``int`` → integer,
    ``float`` → float, ``str`` → string. The caller keeps each field's type fixed. ``None`` and
    non-finite floats are left out; returns ``None`` when no field remains.
    """
    parts = []
    for key, value in fields.items():
        k = escape_key(key)
        if value is None or not k:
            continue
        if isinstance(value, bool):
            parts.append(f"{k}={'true' if value else 'false'}")
        elif isinstance(value, int):
            parts.append(f"{k}={value}i")
        elif isinstance(value, float):
            if math.isfinite(value):
                parts.append(f"{k}={value!r}")
        else:
            parts.append(f"{k}={quote_string(value)}")
    if not parts:
        return None
    stamp = "" if time is None else f" {time}"
    return f"{escape_measurement(measurement)}{format_tags(tags.items())} {','.join(parts)}{stamp}"


class _Fields:
    """Collects ``key=value`` parts; the method called fixes the type (see :data:`SCHEMA`)."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[str] = []

    def integer(self, key: str, value: int | bool | None) -> None:
        if value is not None:
            self.parts.append(f"{key}={int(value)}i")

    def number(self, key: str, value: float | None) -> None:
        if value is not None:
            v = float(value)
            if math.isfinite(v):
                self.parts.append(f"{key}={v!r}")

    def text(self, key: str, value: str | None) -> None:
        if value is not None:
            self.parts.append(f"{key}={quote_string(value)}")

    def line(self, head: str, stamp: str) -> str | None:
        return f"{head} {','.join(self.parts)} {stamp}" if self.parts else None


def device_tags(device: DeviceConfig) -> list[tuple[str, str | None]]:
    """The identity tags of every line of ``device``: its config ``tags`` first, then
    device, kind and site. A config tag with a :data:`RESERVED_TAGS` name (the loader refuses
    them; a hand-built config may have one) is left out, so no line has a tag twice."""
    ours = {"device": device.name, "kind": device.kind, "site": device.site}
    return [*((k, v) for k, v in device.tags.items() if k not in RESERVED_TAGS), *ours.items()]


def reading_lines(reading: Reading, device: DeviceConfig) -> list[str]:
    """All lines of one reading (schema: :data:`SCHEMA`, ``docs/influxdb-schema.md``).

    An unreachable reading, and a stale one (values copied from an earlier poll while a printer
    sleeps), writes ``availability`` only: copies are not measurements.
    """
    stamp = str(time_ns(reading.time))
    base = escaped_tags(device_tags(device))  # escaped once per reading, not once per line
    head = join_tags(base)
    lines: list[str] = []

    def add(measurement: str, fields: _Fields, tags: str = head) -> None:
        line = fields.line(measurement + tags, stamp)
        if line is not None:
            lines.append(line)

    with_probe = join_tags([*base, *escaped_tags([("probe", reading.probe)])])
    f = _Fields()
    f.integer("up", reading.reachable)
    f.text("status", reading.status)
    f.integer("status_level", STATUS_ORDER.get(reading.status, 3))
    f.integer("stale", reading.stale)
    f.number("duration_s", reading.cost.duration_s)
    f.integer("pdus", reading.cost.pdus)
    f.integer("retries", reading.cost.retries)
    f.text("result", reading.result)
    f.text("error", reading.error)
    add("availability", f, with_probe)
    if not reading.reachable or reading.stale:
        return lines

    f = _Fields()
    f.number("seconds", reading.uptime_seconds)
    add("uptime", f)

    for s in reading.supplies:
        f = _Fields()
        f.integer("level", s.level)
        f.integer("capacity", s.capacity)
        f.number("percent", s.percent)
        f.text("state", s.state)
        f.text("description", s.description)
        f.text("part_number", s.part_number)
        f.text("unit", s.unit)
        f.text("class", s.supply_class)
        add("supply", f, join_tags([*base, *escaped_tags(
            [("supply", s.index), ("type", s.type), ("colour", s.colour)])]))

    for t in reading.trays:
        f = _Fields()
        f.integer("level", t.level)
        f.integer("capacity", t.capacity)
        f.number("percent", t.percent)
        f.text("state", t.state)
        f.text("description", t.description)
        f.text("media", t.media)
        f.integer("manual", t.manual)
        add("tray", f, join_tags([*base, *escaped_tags([("tray", t.index)])]))

    for c in reading.page_counters:
        f = _Fields()
        f.integer("count", c.value)
        add("pages", f, join_tags([*base, *escaped_tags([("marker", c.index)])]))

    if (reading.device_status is not None or reading.printer_status is not None
            or reading.faults is not None or reading.alerts or reading.page_counters):
        f = _Fields()
        f.text("device_status", reading.device_status)
        f.text("printer_status", reading.printer_status)
        f.text("error_state", reading.error_state_hex)
        if reading.faults is not None:  # None: the device does not report the error state
            f.integer("fault_count", len(reading.faults))
            for name in ERROR_BITS:
                f.integer(name, name in reading.faults)
        f.integer("alert_count", len(reading.alerts))
        f.integer("alerts_critical", sum(a.severity == "critical" for a in reading.alerts))
        f.integer("page_count", reading.page_count)
        add("printer", f)

    if reading.metrics:
        f = _Fields()
        for name, value in reading.metrics:
            key = escape_key(name)
            # "time" is not a valid field key in InfluxDB 1.x: the whole point would be refused.
            if key and key != "time":
                f.number(key, value)
        add("metrics", f, with_probe)
    return lines
