"""One psutil snapshot of this host (:class:`Snapshotter`), every field guarded.

psutil is injected (the module, or any object with the same functions) so that tests feed
values instead of reading the test host. A call that raises, or a function this psutil or OS
lacks (``sensors_temperatures`` off Linux, ``getloadavg`` on old Windows), leaves its field
missing and names it in ``failed``; it never ends the snapshot.

The snapshot is a plain JSON-ready dict shaped as :class:`agent.schema.Snapshot` (a test
validates real snapshots against it). The agent does not import pydantic at run time: it would
cost about 17 MB of its 30 MB budget (docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import logging
import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
Json = dict[str, Any]


def _clean(d: Json) -> Json:
    """The dict without its None values (absent, as the schema wants unknowns)."""
    return {k: v for k, v in d.items() if v is not None}

# File systems that are not storage a user fills (psutil's all=False already drops most).
PSEUDO_FS = frozenset({"squashfs", "tmpfs", "devtmpfs", "overlay", "proc", "sysfs", "cgroup",
                       "cgroup2", "autofs", "devpts", "mqueue", "debugfs", "tracefs", "nsfs",
                       "fuse.snapfuse", "ramfs"})
TOP_N = 5


def _pct(value: Any) -> float:
    v = float(value)
    return min(max(v, 0.0), 100.0)


class Snapshotter:
    """Takes snapshots. Keep one per process: CPU percentages are "since the previous call",
    so the first snapshot's CPU is measured from the moment this object was made."""

    def __init__(self, ps: Any, *, clock: Callable[[], float] = time.time,
                 mono: Callable[[], float] = time.monotonic, processes_every: int = 1) -> None:
        self._ps = ps
        self._processes_every = max(1, processes_every)
        self._taken = 0
        self._clock = clock
        self._mono = mono
        self._failed: list[str] = []
        self._cpu_seen: dict[int, float] = {}  # pid → its CPU seconds at the last scan
        self._scan_at: float | None = None
        # prime the "since the last call" counters; a failure here shows in the first snapshot
        self._guard("cpu.percent", lambda: ps.cpu_percent(interval=None))
        self._guard("cpu.per_core", lambda: ps.cpu_percent(interval=None, percpu=True))

    def _guard(self, name: str, read: Callable[[], T]) -> T | None:
        try:
            return read()
        except Exception as err:  # any psutil/OS failure is a missing field (module contract)
            log.debug("snapshot field %s failed: %s", name, err)
            self._failed.append(name)
            return None

    def take(self) -> Json:
        """One snapshot (shape: :class:`agent.schema.Snapshot`)."""
        self._failed = []
        g, ps = self._guard, self._ps
        snap = _clean({
            "cpu": self._cpu(), "memory": self._memory(), "disks": self._disks(),
            "disk_io": g("disk_io", self._disk_io) or [],
            "net_io": g("net_io", self._net_io) or [],
            "addresses": g("addresses", self._addresses) or [],
            "boot_time": g("boot_time", lambda: float(ps.boot_time())),
            "uptime_seconds": g("uptime_seconds",
                                lambda: max(0.0, self._clock() - ps.boot_time())),
            "battery": g("battery", self._battery),
            "temperatures": g("temperatures", self._temperatures) or [],
            "users": (g("users", lambda: sorted({u.name for u in ps.users()})) or [])[:256],
            # the process table is most of a snapshot's CPU: every ``processes_every``-th one
            **(self._top() if self._taken % self._processes_every == 0 else {}),
        })
        self._taken += 1
        snap["failed"] = list(dict.fromkeys(self._failed))
        return snap

    def _cpu(self) -> Json:
        g, ps = self._guard, self._ps
        load = g("cpu.load", ps.getloadavg)
        return _clean({
            "percent": g("cpu.percent", lambda: _pct(ps.cpu_percent(interval=None))),
            "per_core": g("cpu.per_core", lambda: [
                _pct(v) for v in ps.cpu_percent(interval=None, percpu=True)][:1024]),
            "load1": max(0.0, load[0]) if load else None,
            "load5": max(0.0, load[1]) if load else None,
            "load15": max(0.0, load[2]) if load else None,
            "count": g("cpu.count", lambda: ps.cpu_count()),
        })

    def _memory(self) -> Json:
        g, ps = self._guard, self._ps
        vm = g("memory", ps.virtual_memory)
        sw = g("swap", ps.swap_memory)
        return _clean({
            "total_bytes": int(vm.total) if vm else None,
            "available_bytes": int(vm.available) if vm else None,
            "used_percent": _pct(vm.percent) if vm else None,
            "swap_total_bytes": int(sw.total) if sw else None,
            "swap_used_bytes": int(sw.used) if sw else None,
            "swap_used_percent": _pct(sw.percent) if sw else None,
        })

    def _disks(self) -> list[Json]:
        parts = self._guard("disks", lambda: self._ps.disk_partitions(all=False)) or []
        out: list[Json] = []
        seen: set[str] = set()
        for p in parts:
            if p.fstype in PSEUDO_FS or p.mountpoint in seen or len(out) >= 256:
                continue
            seen.add(p.mountpoint)
            u = self._guard(f"disks.{p.mountpoint}",
                            functools.partial(self._ps.disk_usage, p.mountpoint))
            out.append(_clean({
                "mountpoint": p.mountpoint[:256], "device": p.device[:256] or None,
                "fstype": p.fstype[:256] or None,
                "total_bytes": int(u.total) if u else None,
                "used_bytes": int(u.used) if u else None,
                "free_bytes": int(u.free) if u else None,
                "used_percent": _pct(u.percent) if u else None}))
        return out

    def _disk_io(self) -> list[Json]:
        per = self._ps.disk_io_counters(perdisk=True) or {}
        return [{"name": name[:256], "read_bytes": c.read_bytes, "write_bytes": c.write_bytes,
                 "read_count": c.read_count, "write_count": c.write_count}
                for name, c in sorted(per.items())[:256]]

    def _net_io(self) -> list[Json]:
        per = self._ps.net_io_counters(pernic=True) or {}
        return [{"name": name[:256], "bytes_sent": c.bytes_sent, "bytes_recv": c.bytes_recv,
                 "errin": c.errin, "errout": c.errout, "dropin": c.dropin,
                 "dropout": c.dropout}
                for name, c in sorted(per.items())[:256]]

    def _addresses(self) -> list[Json]:
        out: list[Json] = []
        link = getattr(self._ps, "AF_LINK", -1)
        for nic, addrs in sorted(self._ps.net_if_addrs().items()):
            for a in addrs:
                family = ("ipv4" if a.family == socket.AF_INET else
                          "ipv6" if a.family == socket.AF_INET6 else
                          "mac" if a.family == link else None)
                if family and a.address:
                    out.append({"interface": nic[:256], "family": family,
                                "address": str(a.address)[:256]})
        return out[:512]

    def _battery(self) -> Json | None:
        if not hasattr(self._ps, "sensors_battery"):
            return None
        b = self._ps.sensors_battery()
        if b is None:
            return None
        secs = b.secsleft if isinstance(b.secsleft, int | float) and b.secsleft >= 0 else None
        return _clean({"percent": _pct(b.percent), "plugged": b.power_plugged,
                       "seconds_left": secs})

    def _temperatures(self) -> list[Json]:
        if not hasattr(self._ps, "sensors_temperatures"):
            return []  # not offered on this OS: absent, not failed
        out = []
        for sensor, entries in sorted(self._ps.sensors_temperatures().items()):
            for e in entries:
                if -273.15 <= e.current <= 1000:
                    out.append(_clean({"sensor": sensor[:256], "label": e.label[:256] or None,
                                       "celsius": float(e.current)}))
        return out[:256]

    def _top(self) -> dict[str, list[Json]]:
        """Top processes by CPU (since the previous scan) and by resident memory. Process
        objects are kept between snapshots, as psutil needs for CPU percentages."""
        rows = self._guard("processes", self._scan) or []
        if not rows:
            return {}
        by_cpu = sorted((r for r in rows if "cpu_percent" in r),
                        key=lambda r: r["cpu_percent"], reverse=True)[:TOP_N]
        by_mem = sorted(rows, key=lambda r: r["memory_bytes"], reverse=True)[:TOP_N]
        return {"top_cpu": by_cpu, "top_memory": by_mem}

    def _scan(self) -> list[Json]:
        """Every readable process: name, RSS and CPU percent of one core since the previous
        snapshot (from its cpu_times; absent at a process's first sight). One
        ``process_iter`` with the attributes asked up front (psutil reads each /proc file once)
        costs about two thirds of per-process calls."""
        now = self._mono()
        span = now - self._scan_at if self._scan_at is not None else None
        cpu_before, cpu_now = self._cpu_seen, {}
        rows: list[Json] = []
        for proc in self._ps.process_iter(["name", "cpu_times", "memory_info"]):
            info = proc.info
            times, mem = info.get("cpu_times"), info.get("memory_info")
            if times is None or mem is None:
                continue  # gone, or not ours to read: skip that process only
            total = float(times[0]) + float(times[1])
            cpu_now[proc.pid] = total
            before = cpu_before.get(proc.pid)
            row: Json = {"pid": proc.pid, "name": (info.get("name") or "?")[:256],
                         "memory_bytes": int(mem[0])}
            if before is not None and span:
                row["cpu_percent"] = max(0.0, 100 * (total - before) / span)
            rows.append(row)
        self._cpu_seen, self._scan_at = cpu_now, now
        return rows


def hostname() -> str:
    return socket.gethostname() or "localhost"
