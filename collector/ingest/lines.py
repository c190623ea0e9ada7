"""Agent reports → InfluxDB line protocol (pure). The host measurements, their tags and typed
fields are :data:`HOST_SCHEMA`, documented in ``docs/influxdb-schema.md`` ("Agent hosts"; a test
keeps the two in step). A field keeps one type forever: integers carry ``i``, the rest are floats.
"""

from __future__ import annotations

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


def _fields(measurement: str, values: dict[str, object]) -> str:
    types = HOST_SCHEMA[measurement][1]
    parts = []
    for key, value in values.items():
        if value is None:
            continue
        kind = types[key]
        if kind == INT:
            parts.append(f"{key}={int(value)}i")  # type: ignore[call-overload]
        elif kind == S:
            parts.append(f"{key}={quote_string(str(value))}")
        else:
            v = float(value)  # type: ignore[arg-type]
            if v == v and v not in (float("inf"), float("-inf")):
                parts.append(f"{key}={v!r}")
    return ",".join(parts)


def report_lines(report: Report, device: DeviceConfig) -> list[str]:
    """The host_* lines of one report, stamped with the report's own time, so that a report
    written twice (it never is: see ``AgentStore.accept``) would overwrite itself."""
    stamp = str(time_ns(report.time))
    base = escaped_tags(device_tags(device))
    head = join_tags(base)
    out: list[str] = []

    def add(measurement: str, values: dict[str, object],
            tags: tuple[tuple[str, str | None], ...] = ()) -> None:
        fields = _fields(measurement, values)
        if fields:
            t = join_tags([*base, *escaped_tags(tags)]) if tags else head
            out.append(f"{measurement}{t} {fields} {stamp}")

    s = report.snapshot
    add("host_cpu", {"percent": s.cpu.percent, "load1": s.cpu.load1, "load5": s.cpu.load5,
                     "load15": s.cpu.load15, "cores": s.cpu.count})
    for i, pct in enumerate(s.cpu.per_core or ()):
        add("host_cpu_core", {"percent": pct}, (("core", str(i)),))
    m = s.memory
    add("host_mem", {"total_bytes": m.total_bytes, "available_bytes": m.available_bytes,
                     "used_percent": m.used_percent, "swap_total_bytes": m.swap_total_bytes,
                     "swap_used_bytes": m.swap_used_bytes,
                     "swap_used_percent": m.swap_used_percent})
    for d in s.disks:
        add("host_disk", {"total_bytes": d.total_bytes, "used_bytes": d.used_bytes,
                          "free_bytes": d.free_bytes, "used_percent": d.used_percent},
            (("mountpoint", d.mountpoint), ("fstype", d.fstype)))
    for io in s.disk_io:
        add("host_diskio", {"read_bytes": io.read_bytes, "write_bytes": io.write_bytes,
                            "read_count": io.read_count, "write_count": io.write_count},
            (("disk", io.name),))
    for n in s.net_io:
        add("host_net", {"bytes_sent": n.bytes_sent, "bytes_recv": n.bytes_recv,
                         "errin": n.errin, "errout": n.errout, "dropin": n.dropin,
                         "dropout": n.dropout}, (("interface", n.name),))
    b = s.battery
    add("host_system", {"uptime_seconds": s.uptime_seconds, "boot_time": s.boot_time,
                        "users": len(s.users), "seq": report.seq,
                        "battery_percent": b.percent if b else None,
                        "battery_plugged": int(b.plugged) if b and b.plugged is not None
                        else None})
    for t in s.temperatures:
        add("host_temp", {"celsius": t.celsius}, (("sensor", t.sensor), ("label", t.label)))
    for rank_by, procs in (("cpu", s.top_cpu), ("memory", s.top_memory)):
        for rank, p in enumerate(procs, 1):
            add("host_proc", {"pid": p.pid, "name": p.name, "cpu_percent": p.cpu_percent,
                              "memory_bytes": p.memory_bytes},
                (("rank_by", rank_by), ("rank", str(rank))))
    return out
