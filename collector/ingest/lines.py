"""Agent reports → InfluxDB line protocol (pure). The host measurements, their tags and typed
fields are :data:`HOST_SCHEMA`, documented in ``docs/influxdb-schema.md`` ("Agent hosts"; a test
keeps the two in step). A field keeps one type forever: integers carry ``i``, the rest are floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from agent.schema import Report
from collector.config import DeviceConfig
from collector.storage.lineproto import (
    device_tags,
    escaped_tags,
    join_tags,
    quote_string,
    time_ns,
)

INT, F, S = "integer", "float", "string"

# measurement → (extra tags, {field: type})
HOST_SCHEMA: Final[dict[str, tuple[tuple[str, ...], dict[str, str]]]] = {
    "host_cpu": ((), {"percent": F, "load1": F, "load5": F, "load15": F, "cores": INT}),
    "host_cpu_core": (("core",), {"percent": F}),
    "host_mem": ((), {"total_bytes": INT, "available_bytes": INT, "used_percent": F,
                      "swap_total_bytes": INT, "swap_used_bytes": INT, "swap_used_percent": F}),
    "host_disk": (("mountpoint", "fstype"), {"total_bytes": INT, "used_bytes": INT,
                                             "free_bytes": INT, "used_percent": F}),
    "host_diskio": (("disk",), {"read_bytes": INT, "write_bytes": INT, "read_count": INT,
                                "write_count": INT}),
    "host_net": (("interface",), {"bytes_sent": INT, "bytes_recv": INT, "errin": INT, "errout": INT,
                                  "dropin": INT, "dropout": INT}),
    "host_system": ((), {"uptime_seconds": F, "boot_time": F, "users": INT, "seq": INT,
                         "battery_percent": F, "battery_plugged": INT}),
    "host_temp": (("sensor", "label"), {"celsius": F}),
    "host_proc": (("rank_by", "rank"), {"pid": INT, "name": S, "cpu_percent": F,
                                        "memory_bytes": INT}),
}


_INF = (float("inf"), float("-inf"))


def _int(parts: list[str], key: str, value: float | None) -> None:
    if value is not None:
        parts.append(f"{key}={int(value)}i")


def _float(parts: list[str], key: str, value: float | None) -> None:
    if value is not None:
        v = float(value)
        if v == v and v not in _INF:
            parts.append(f"{key}={v!r}")


@dataclass(frozen=True, slots=True)
class HostTags:
    """A device's identity tags, escaped (``base``, for lines with tags of their own) and
    joined (``head``): worked out once per device, not once per report (:func:`host_tags`)."""

    base: tuple[tuple[str, str], ...]
    head: str


def host_tags(device: DeviceConfig) -> HostTags:
    base = escaped_tags(device_tags(device))
    return HostTags(tuple(base), join_tags(base))


def report_lines(report: Report, device: DeviceConfig, tags: HostTags | None = None
                 ) -> list[str]:
    """The host_* lines of one report, stamped with the report's own time, so that a report
    written twice (it never is: see ``AgentStore.accept``) would overwrite itself. ``tags``:
    :func:`host_tags` of ``device``, when the caller keeps it (else worked out here).

    Each field is formatted by its :data:`HOST_SCHEMA` type, inline (a generic formatter
    driven by the schema took 53 µs per report, this 3-4× less); ``tests/collector/ingest/
    test_lines.py`` holds every line to that generic form."""
    stamp = " " + str(time_ns(report.time))
    t = tags or host_tags(device)
    base, head = t.base, t.head
    out: list[str] = []

    def line(measurement: str, parts: list[str], extra: str | None = None) -> None:
        if parts:
            out.append(measurement + (head if extra is None else extra) + " " + ",".join(parts)
                       + stamp)

    def tagged(pairs: tuple[tuple[str, str | None], ...]) -> str:
        return join_tags([*base, *escaped_tags(pairs)])

    s = report.snapshot
    c = s.cpu
    p: list[str] = []
    _float(p, "percent", c.percent)
    _float(p, "load1", c.load1)
    _float(p, "load5", c.load5)
    _float(p, "load15", c.load15)
    _int(p, "cores", c.count)
    line("host_cpu", p)
    for i, pct in enumerate(c.per_core or ()):
        p = []
        _float(p, "percent", pct)
        line("host_cpu_core", p, tagged((("core", str(i)),)))
    m = s.memory
    p = []
    _int(p, "total_bytes", m.total_bytes)
    _int(p, "available_bytes", m.available_bytes)
    _float(p, "used_percent", m.used_percent)
    _int(p, "swap_total_bytes", m.swap_total_bytes)
    _int(p, "swap_used_bytes", m.swap_used_bytes)
    _float(p, "swap_used_percent", m.swap_used_percent)
    line("host_mem", p)
    for d in s.disks:
        p = []
        _int(p, "total_bytes", d.total_bytes)
        _int(p, "used_bytes", d.used_bytes)
        _int(p, "free_bytes", d.free_bytes)
        _float(p, "used_percent", d.used_percent)
        line("host_disk", p, tagged((("mountpoint", d.mountpoint), ("fstype", d.fstype))))
    for io in s.disk_io:
        p = []
        _int(p, "read_bytes", io.read_bytes)
        _int(p, "write_bytes", io.write_bytes)
        _int(p, "read_count", io.read_count)
        _int(p, "write_count", io.write_count)
        line("host_diskio", p, tagged((("disk", io.name),)))
    for n in s.net_io:
        p = []
        _int(p, "bytes_sent", n.bytes_sent)
        _int(p, "bytes_recv", n.bytes_recv)
        _int(p, "errin", n.errin)
        _int(p, "errout", n.errout)
        _int(p, "dropin", n.dropin)
        _int(p, "dropout", n.dropout)
        line("host_net", p, tagged((("interface", n.name),)))
    b = s.battery
    p = []
    _float(p, "uptime_seconds", s.uptime_seconds)
    _float(p, "boot_time", s.boot_time)
    _int(p, "users", len(s.users))
    _int(p, "seq", report.seq)
    if b is not None:
        _float(p, "battery_percent", b.percent)
        if b.plugged is not None:
            _int(p, "battery_plugged", int(b.plugged))
    line("host_system", p)
    for temp in s.temperatures:
        p = []
        _float(p, "celsius", temp.celsius)
        line("host_temp", p, tagged((("sensor", temp.sensor), ("label", temp.label))))
    for rank_by, procs in (("cpu", s.top_cpu), ("memory", s.top_memory)):
        for rank, proc in enumerate(procs, 1):
            p = []
            _int(p, "pid", proc.pid)
            p.append(f"name={quote_string(str(proc.name))}")
            _float(p, "cpu_percent", proc.cpu_percent)
            _int(p, "memory_bytes", proc.memory_bytes)
            line("host_proc", p, tagged((("rank_by", rank_by), ("rank", str(rank)))))
    return out
