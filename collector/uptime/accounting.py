"""Availability accounting: what counts as up, down, maintenance, out of hours and no data.

Pure functions over *spans*: stretches of time in which a device's primary probe (its first
probe, the one whose failure opens the ``unreachable`` ticket) kept answering or kept failing
(:mod:`collector.uptime.store` records them from the readings). The rules, also in
docs/uptime.md:

- **Up**: the primary probe reached the device, after its own retries. A sleeping printer
  within ``sleep_grace`` reads as up: the scheduler re-sends its last good reading as stale,
  and a sleeping printer is not an outage.
- **Down**: the primary probe failed after its retries (and after the sleep grace for a
  printer). Each failed poll counts; there is no debounce. A down stretch is an *incident*.
- **No data**: the collector was not running, or the device had not been polled yet, or a
  gap between two polls was longer than ``max_gap``. It is neither up nor down and it is not
  in the percentage.
- **Maintenance** (the device's or its site's maintenance windows) and **out of hours** (outside
  its business hours, when it has any) are counted apart. They are not in the percentage
  either, so a PC switched off at night does not lower it. Maintenance wins where the two
  overlap.
- **Availability** = up / (up + down) over the counted time; None when nothing was counted.

A state holds from one poll until the next one (within ``max_gap``).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from collector.config import Schedule
from collector.faults.windows import zone_of


@dataclass(frozen=True, slots=True)
class Span:
    """``up`` (or down) from ``start`` to ``end`` (epoch seconds); ``open`` while it goes on."""

    device: str
    start: float
    end: float
    up: bool
    open: bool = False


@dataclass(frozen=True, slots=True)
class Incident:
    device: str
    start: float
    end: float | None  # None: still down
    duration_s: float  # the whole stretch, also outside the window
    counted_s: float  # of it, inside the window and counted (not maintenance, not out of hours)
    ticket: int | None = None


@dataclass(slots=True)
class Availability:
    """One device (or site, or the fleet) over one window."""

    name: str
    start: float
    end: float
    up_s: float = 0.0
    down_s: float = 0.0
    maintenance_s: float = 0.0
    out_of_hours_s: float = 0.0
    no_data_s: float = 0.0
    incidents: list[Incident] = field(default_factory=list)

    @property
    def availability(self) -> float | None:
        counted = self.up_s + self.down_s
        return self.up_s / counted if counted > 0 else None

    def add(self, other: Availability) -> None:
        self.up_s += other.up_s
        self.down_s += other.down_s
        self.maintenance_s += other.maintenance_s
        self.out_of_hours_s += other.out_of_hours_s
        self.no_data_s += other.no_data_s
        self.incidents.extend(other.incidents)


class Intervals:
    """Disjoint, sorted intervals with O(log n) "how much of [a, b] do they cover"."""

    def __init__(self, intervals: Iterable[tuple[float, float]]) -> None:
        merged: list[list[float]] = []
        for a, b in sorted(i for i in intervals if i[1] > i[0]):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        self.starts = [a for a, _ in merged]
        self.ends = [b for _, b in merged]
        self._cum = [0.0]
        for a, b in merged:
            self._cum.append(self._cum[-1] + b - a)

    def _covered_until(self, x: float) -> float:
        i = bisect.bisect_right(self.starts, x) - 1
        if i < 0:
            return 0.0
        return self._cum[i] + min(x, self.ends[i]) - self.starts[i]

    def overlap(self, a: float, b: float) -> float:
        return self._covered_until(b) - self._covered_until(a) if b > a else 0.0

    def minus(self, other: Intervals) -> Intervals:
        out: list[tuple[float, float]] = []
        for a, b in zip(self.starts, self.ends, strict=True):
            cur = a
            j = max(0, bisect.bisect_right(other.ends, a))
            while j < len(other.starts) and other.starts[j] < b:
                if other.starts[j] > cur:
                    out.append((cur, other.starts[j]))
                cur = max(cur, other.ends[j])
                j += 1
            if cur < b:
                out.append((cur, b))
        return Intervals(out)


def excluded(schedule: Schedule, start: float, end: float) -> tuple[Intervals, Intervals]:
    """(maintenance, out of hours minus maintenance) within [start, end]."""
    zone = zone_of(schedule.timezone)
    maint: list[tuple[float, float]] = []
    for m in schedule.maintenance:
        a = m.start if m.start.tzinfo else m.start.replace(tzinfo=zone)
        b = m.end if m.end.tzinfo else m.end.replace(tzinfo=zone)
        maint.append((max(start, a.timestamp()), min(end, b.timestamp())))
    maintenance = Intervals(maint)
    if not schedule.business_hours:
        return maintenance, Intervals(())
    business: list[tuple[float, float]] = []
    day = dt.datetime.fromtimestamp(start, zone).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(end, zone).date() + dt.timedelta(days=1)
    while day <= last:
        for w in schedule.business_hours:
            if day.weekday() in w.days:
                ta = dt.datetime.combine(day, w.start, tzinfo=zone).timestamp()
                tb = (dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
                     if w.end == dt.time.max else
                     dt.datetime.combine(day, w.end, tzinfo=zone)).timestamp()
                business.append((max(ta, start), min(tb, end)))
        day += dt.timedelta(days=1)
    hours = Intervals(business)
    out_of_hours = Intervals([(start, end)]).minus(hours).minus(maintenance)
    return maintenance, out_of_hours


def account(name: str, spans: Sequence[Span], start: float, end: float, schedule: Schedule,
            tickets: Sequence[tuple[int, float]] = (),
            excluded_time: tuple[Intervals, Intervals] | None = None) -> Availability:
    """Availability of one device over [start, end] from its spans (any order, may reach outside
    the window). ``tickets``: (id, opened or reopened at) of its ``unreachable`` tickets; an
    incident names the first one opened during it. ``excluded_time``: :func:`excluded` of the
    schedule and window, when the caller has it already."""
    result = Availability(name, start, end)
    maintenance, out_of_hours = excluded_time or excluded(schedule, start, end)
    known = 0.0
    opened = sorted(tickets, key=lambda t: t[1])
    for span in sorted(spans, key=lambda s: s.start):
        a, b = max(span.start, start), min(span.end, end)
        if b < a or (b == a and span.up):  # (a down stretch that has just begun is an incident)
            continue
        m = maintenance.overlap(a, b)
        o = out_of_hours.overlap(a, b)
        counted = max(0.0, (b - a) - m - o)
        known += b - a
        result.maintenance_s += m
        result.out_of_hours_s += o
        if span.up:
            result.up_s += counted
        else:
            result.down_s += counted
            ticket = next((tid for tid, at in opened
                           if span.start <= at <= (span.end if not span.open else float("inf"))),
                          None)
            result.incidents.append(Incident(
                name, span.start, None if span.open else span.end, span.end - span.start,
                counted, ticket))
    result.no_data_s = max(0.0, (end - start) - known)
    return result
