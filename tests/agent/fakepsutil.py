"""A psutil stand-in fed by the test (STYLE 9: values are injected, never read from the host)."""

from __future__ import annotations

import socket
from collections import namedtuple
from typing import Any

Part = namedtuple("Part", "device mountpoint fstype opts")
Usage = namedtuple("Usage", "total used free percent")
VMem = namedtuple("VMem", "total available percent used free")
Swap = namedtuple("Swap", "total used free percent sin sout")
DiskIO = namedtuple("DiskIO", "read_count write_count read_bytes write_bytes")
NetIO = namedtuple("NetIO", "bytes_sent bytes_recv packets_sent packets_recv errin errout "
                   "dropin dropout")
Addr = namedtuple("Addr", "family address netmask broadcast ptp")
User = namedtuple("User", "name terminal host started pid")
Temp = namedtuple("Temp", "label current high critical")
Bat = namedtuple("Bat", "percent secsleft power_plugged")
Mem = namedtuple("Mem", "rss vms")

AF_LINK = 17


CpuTimes = namedtuple("CpuTimes", "user system")


class FakeProc:
    """What ``process_iter(attrs)`` yields: ``pid`` and the ``info`` dict (None = unreadable)."""

    def __init__(self, pid: int, info: dict[str, Any]) -> None:
        self.pid, self.info = pid, info


class FakePsutil:
    AF_LINK = AF_LINK

    def __init__(self, *, disk_percent: float = 42.0, cpu: float = 12.5, mem: float = 30.0,
                 broken: frozenset[str] = frozenset()) -> None:
        self.disk_percent, self.cpu, self.mem, self.broken = disk_percent, cpu, mem, broken
        # pid → (name, CPU seconds used per scan, RSS); tests advance the clock 1 s per scan
        self.procs = {1: ("init", 0.001, 10_000), 42: ("busy", 0.95, 5_000),
                      43: ("fat", 0.01, 9_000_000_000), 44: ("hidden", 0.5, 1)}
        self.scans = 0

    def _check(self, name: str) -> None:
        if name in self.broken:
            raise PermissionError(f"{name}: access denied")

    def cpu_percent(self, interval: float | None = None, percpu: bool = False) -> Any:
        self._check("cpu_percent")
        return [self.cpu, self.cpu] if percpu else self.cpu

    def getloadavg(self) -> tuple[float, float, float]:
        self._check("getloadavg")
        return (0.5, 0.25, 0.125)

    def cpu_count(self, logical: bool = True) -> int:
        return 4 if logical else 2

    def virtual_memory(self) -> VMem:
        self._check("virtual_memory")
        return VMem(8_000_000_000, int(8e9 * (100 - self.mem) / 100), self.mem, 0, 0)

    def swap_memory(self) -> Swap:
        return Swap(2_000_000_000, 100_000_000, 1_900_000_000, 5.0, 0, 0)

    def disk_partitions(self, all: bool = False) -> list[Part]:
        self._check("disk_partitions")
        return [Part("/dev/sda1", "/", "ext4", "rw"), Part("/dev/sda2", "/home", "ext4", "rw"),
                Part("tmpfs", "/run", "tmpfs", "rw")]

    def disk_usage(self, path: str) -> Usage:
        self._check("disk_usage")
        if path == "/home":
            raise OSError("stale NFS handle")
        total = 100_000_000_000
        used = int(total * self.disk_percent / 100)
        return Usage(total, used, total - used, self.disk_percent)

    def disk_io_counters(self, perdisk: bool = False) -> dict[str, DiskIO]:
        return {"sda": DiskIO(10, 20, 4096, 8192)}

    def net_io_counters(self, pernic: bool = False) -> dict[str, NetIO]:
        return {"eth0": NetIO(1000, 2000, 10, 20, 0, 1, 0, 0)}

    def net_if_addrs(self) -> dict[str, list[Addr]]:
        return {"eth0": [Addr(socket.AF_INET, "192.0.2.10", None, None, None),
                         Addr(AF_LINK, "52:54:00:12:34:56", None, None, None)],
                "lo": [Addr(socket.AF_INET, "127.0.0.1", None, None, None)]}

    def boot_time(self) -> float:
        return 1_700_000_000.0

    def users(self) -> list[User]:
        return [User("alice", "tty1", "", 0.0, 1), User("alice", "pts/0", "", 0.0, 2)]

    def sensors_temperatures(self) -> dict[str, list[Temp]]:
        self._check("sensors_temperatures")
        return {"coretemp": [Temp("Package id 0", 48.0, 90.0, 100.0)]}

    def sensors_battery(self) -> Bat | None:
        return Bat(77.0, 3600, False)

    # pid → (name, CPU seconds used per scan, RSS); the clock advances 1 s per scan (see tests)

    def process_iter(self, attrs: list[str] | None = None) -> list[FakeProc]:
        self.scans += 1
        return [FakeProc(pid, {"name": name, "cpu_times": CpuTimes(rate * self.scans, 0.0),
                               "memory_info": Mem(rss, rss * 2)} if name != "hidden" else
                         {"name": None, "cpu_times": None, "memory_info": None})
                for pid, (name, rate, rss) in self.procs.items()]
