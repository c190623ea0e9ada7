"""Hourly rollups of agent reports (issue 13: the 7 and 30 day host charts read these, not the
raw ``host_*`` points). Written by the collector itself as it ingests, so the same lines go
through the same writer to InfluxDB 1.x (v1) and 2.x/3.x (v2); no continuous query or task.

The rule (docs/influxdb-schema.md, "Hourly host rollups"):
- A report counts in the hour of its own ``time`` (``floor(time / 3600)``), never the hour it
  arrived in: a late report (an agent catching up after being offline) lands in its hour.
- Points are **additive segments**, never rewritten: an accumulator per (device, hour) sums
  what the charts need (count, sum and max), and each flush writes it as one point of that
  hour and starts it afresh. A reader adds the segments of a bucket up: mean = sum of sums /
  sum of counts (the mean of means weighted by count), max = max of maxes, reports = sum.
  So a late report, a restart in the middle of an hour, or several flushes of one hour each
  add a segment, and nothing is lost by "last write wins".
- A segment's timestamp is the earliest report time in it (so inside its hour, and distinct
  from the other segments of that hour: the reports in two segments are different reports).
  Within one process a repeated stamp is moved 1 ns later. Across a restart two segments of
  one device and hour could only share a stamp if two of its reports had the same time to the
  microsecond; then the later write replaces the earlier one (InfluxDB's rule for a point).
- Flushes: at every :attr:`HourlyRollup.tick` the segments of closed hours (the hour's end has
  passed on the wall clock) and the segments open for :attr:`flush_open_after` seconds; all of
  them at a clean stop. A SIGKILL loses at most the last ``flush_open_after`` seconds of
  rollup per device (the raw points have them: they went through the write-ahead spool).
- Fields that a report lacks (a Windows host has no load average) count nothing; a segment
  without any value of a field does not write that field.

Cost: :meth:`HourlyRollup.add` is a dict lookup and a few additions per report
(docs/benchmarks.md, "Host device page").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from agent.schema import Report
from collector.config import DeviceConfig
from collector.storage.lineproto import device_tags, escaped_tags, join_tags, time_ns

log = logging.getLogger(__name__)

HOUR: Final = 3600
INT, F = "integer", "float"
# measurement → (extra tags, {field: type}); docs/influxdb-schema.md lists them (a test checks).
ROLLUP_SCHEMA: Final[dict[str, tuple[tuple[str, ...], dict[str, str]]]] = {
    "host_1h": ((), {"reports": INT, "cpu_n": INT, "cpu_sum": F, "cpu_max": F,
                     "load1_n": INT, "load1_sum": F, "mem_n": INT, "mem_sum": F, "mem_max": F,
                     "swap_n": INT, "swap_sum": F}),
    "host_disk_1h": (("mountpoint",), {"used_max": F}),
}


class _Segment:
    """Sums of one device's reports in one hour since the last flush."""

    __slots__ = ("cpu_max", "cpu_n", "cpu_sum", "disks", "first", "load1_n", "load1_sum",
                 "mem_max", "mem_n", "mem_sum", "opened", "reports", "swap_n", "swap_sum")

    def __init__(self, first: float, opened: float) -> None:
        self.first = first
        self.opened = opened
        self.reports = self.cpu_n = self.load1_n = self.mem_n = self.swap_n = 0
        self.cpu_sum = self.load1_sum = self.mem_sum = self.swap_sum = 0.0
        self.cpu_max = self.mem_max = float("-inf")
        self.disks: dict[str, float] = {}

    def add(self, report: Report) -> None:
        s = report.snapshot
        self.reports += 1
        if report.time < self.first:
            self.first = report.time
        c = s.cpu.percent
        if c is not None:
            self.cpu_n += 1
            self.cpu_sum += c
            if c > self.cpu_max:
                self.cpu_max = c
        if s.cpu.load1 is not None:
            self.load1_n += 1
            self.load1_sum += s.cpu.load1
        m = s.memory
        if m.used_percent is not None:
            self.mem_n += 1
            self.mem_sum += m.used_percent
            if m.used_percent > self.mem_max:
                self.mem_max = m.used_percent
        if m.swap_used_percent is not None:
            self.swap_n += 1
            self.swap_sum += m.swap_used_percent
        disks = self.disks
        for d in s.disks:
            u = d.used_percent
            if u is not None and u > disks.get(d.mountpoint, float("-inf")):
                disks[d.mountpoint] = u

    def lines(self, base: list[tuple[str, str]], stamp: int) -> list[str]:
        f = [f"reports={self.reports}i"]
        if self.cpu_n:
            f.append(f"cpu_n={self.cpu_n}i,cpu_sum={self.cpu_sum!r},cpu_max={self.cpu_max!r}")
        if self.load1_n:
            f.append(f"load1_n={self.load1_n}i,load1_sum={self.load1_sum!r}")
        if self.mem_n:
            f.append(f"mem_n={self.mem_n}i,mem_sum={self.mem_sum!r},mem_max={self.mem_max!r}")
        if self.swap_n:
            f.append(f"swap_n={self.swap_n}i,swap_sum={self.swap_sum!r}")
        out = [f"host_1h{join_tags(base)} {','.join(f)} {stamp}"]
        # ``base`` never holds a config tag named "mountpoint": it is one of schema.HOST_TAGS,
        # which device_tags leaves out (and the loader refuses)
        for mount, used in self.disks.items():
            tag = escaped_tags((("mountpoint", mount),))
            if tag:  # a mountpoint that escapes to nothing is left out
                out.append(f"host_disk_1h{join_tags([*base, *tag])} used_max={used!r} {stamp}")
        return out


class HourlyRollup:
    """The open segments of every (device, hour) and their flushing (module docstring).

    ``write`` receives the lines of a flush (the ingest hands them to the InfluxDB writer);
    if it raises, the lines are logged as lost and the rollup goes on (the raw points are
    unaffected). ``now`` is the wall clock, injected by tests."""

    def __init__(self, write: Callable[[list[str]], Awaitable[None]], *, tick: float = 10.0,
                 flush_open_after: float = 600.0,
                 now: Callable[[], float] = time.time) -> None:
        self._write = write
        self.tick = tick
        self.flush_open_after = flush_open_after
        self._now = now
        self._open: dict[tuple[str, int], _Segment] = {}
        # device name → its escaped tags (a device config is frozen)
        self._heads: dict[str, list[tuple[str, str]]] = {}
        self._stamps: dict[tuple[str, int], int] = {}  # last stamp written per (device, hour)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.segments_written = 0
        self.lines_lost = 0

    def add(self, report: Report, device: DeviceConfig) -> None:
        """Count one accepted report (each report once: the ingest calls this only for new
        (agent, seq) keys)."""
        key = (device.name, int(report.time // HOUR))
        seg = self._open.get(key)
        if seg is None:
            if device.name not in self._heads:
                self._heads[device.name] = escaped_tags(device_tags(device))
            seg = self._open[key] = _Segment(report.time, self._now())
        seg.add(report)

    def open_segments(self) -> int:
        return len(self._open)

    def take(self, *, everything: bool = False) -> list[str]:
        """The lines of the segments due (closed hours, open too long; all if
        ``everything``), removed from the open set."""
        now = self._now()
        due = [key for key, seg in self._open.items()
               if everything or (key[1] + 1) * HOUR <= now
               or now - seg.opened >= self.flush_open_after]
        out: list[str] = []
        for key in due:
            seg = self._open.pop(key)
            stamp = time_ns(seg.first)
            last = self._stamps.get(key)
            if last is not None and stamp <= last:
                stamp = last + 1
            self._stamps[key] = stamp
            out += seg.lines(self._heads[key[0]], stamp)
        self.segments_written += len(due)
        if due and len(self._stamps) > 4 * len(self._heads) + 1024:
            # keep the stamps of the last two days only (an older hour that gets a late
            # segment again starts from its first report's time, which differs anyway)
            oldest = int(now // HOUR) - 48
            self._stamps = {k: v for k, v in self._stamps.items() if k[1] >= oldest}
        return out

    async def flush(self, *, everything: bool = False) -> int:
        """Write the due segments; the number of lines written (0 when nothing was due).
        One flush at a time (the stop's waits for a tick's in progress)."""
        async with self._lock:
            lines = self.take(everything=everything)
            if not lines:
                return 0
            try:
                await self._write(lines)
            except Exception:
                self.lines_lost += len(lines)
                log.exception("%d hourly rollup lines not written (raw points unaffected)",
                              len(lines))
                return 0
            return len(lines)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            # shielded: a stop during a write must not take back lines already taken
            await asyncio.shield(self.flush())

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the ticks and write every open segment (a clean stop loses nothing)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush(everything=True)
