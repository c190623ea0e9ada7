"""Uptime accounting (the rules are written out in docs/uptime.md): availability per device and
per site over 24 h, 7 d, 30 d or 90 d, the downtime incidents, with maintenance and
out-of-hours time counted apart; and CSV.

The data is the ``availability`` measurement, read in :data:`BUCKETS` fixed buckets per range
(one InfluxQL query, ``sum(up)`` and ``count(up)`` per bucket and device), so the work is the
same for a day of data or a year of it: 1,440 buckets per device whatever the poll rate.
:func:`account` is pure (tests feed it buckets); :func:`bucket_query` is what is asked.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from collector.config import DeviceConfig, Schedule
from collector.faults.windows import effective_schedule, suppression

RANGES: Final = {"24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "90d": 90 * 86400}
BUCKETS: Final = 1440  # per range: 1 min for 24 h, 7 min for 7 d, 30 min for 30 d, 90 min for 90 d


@dataclass(frozen=True, slots=True)
class Bucket:
    start: float
    up: int  # polls answered (a sleeping printer's stale poll counts as answered)
    polls: int  # polls that count (not the "no answer yet" of a printer never heard)


@dataclass(frozen=True, slots=True)
class Incident:
    device: str
    site: str
    start: float
    end: float
    ticket: int | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(slots=True)
class Tally:
    """Seconds of each kind; availability counts up and down only."""

    up: float = 0.0
    down: float = 0.0
    maintenance: float = 0.0
    out_of_hours: float = 0.0
    no_data: float = 0.0

    @property
    def availability(self) -> float | None:
        """Percent of the counted time the device answered; None with no counted time."""
        counted = self.up + self.down
        return None if counted <= 0 else 100.0 * self.up / counted

    def add(self, other: Tally) -> None:
        self.up += other.up
        self.down += other.down
        self.maintenance += other.maintenance
        self.out_of_hours += other.out_of_hours
        self.no_data += other.no_data


@dataclass(slots=True)
class DeviceUptime:
    device: str
    site: str
    tally: Tally = field(default_factory=Tally)
    incidents: list[Incident] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Report:
    range: str
    start: float
    end: float
    devices: list[DeviceUptime]
    sites: dict[str, Tally]

    @property
    def incidents(self) -> list[Incident]:
        return sorted((i for d in self.devices for i in d.incidents), key=lambda i: i.start)


def bucket_seconds(range_name: str) -> int:
    return RANGES[range_name] // BUCKETS


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def bucket_query(range_name: str, end: float) -> str:
    """The one InfluxQL query of a report ending at ``end`` (unix seconds)."""
    size = bucket_seconds(range_name)
    start = int(end) - RANGES[range_name]
    return ('SELECT sum("up") AS "up", count("up") AS "polls" FROM "availability" '
            f'WHERE time >= {start}s AND time < {int(end)}s AND ("up" = 1 OR "stale" = 0) '
            f'GROUP BY time({size}s), "device" fill(none)')


def account(range_name: str, end: float, devices: Sequence[DeviceConfig],
            sites: Mapping[str, Schedule], buckets: Mapping[str, Sequence[Bucket]],
            tickets: Mapping[str, Sequence[tuple[int, float]]] | None = None) -> Report:
    """The report from each device's buckets (missing buckets: no data). ``tickets``: per
    device, (id, created_at) of its unreachable tickets, to link incidents."""
    size = float(bucket_seconds(range_name))
    start = end - RANGES[range_name]
    out: list[DeviceUptime] = []
    site_tallies: dict[str, Tally] = {}
    for device in devices:
        schedule = effective_schedule(device, sites)
        have = {int((b.start - start) // size): b for b in buckets.get(device.name, ())
                if start <= b.start < end}
        row = DeviceUptime(device.name, device.site or "")
        open_at: float | None = None
        last_down_end = 0.0
        for i in range(BUCKETS):
            t0 = start + i * size
            why = suppression(schedule, t0 + size / 2) if schedule.maintenance or \
                schedule.business_hours else None
            b = have.get(i)
            down_share = 0.0
            if why is not None and why.startswith("maintenance"):
                row.tally.maintenance += size
            elif why is not None:
                row.tally.out_of_hours += size
            elif b is None or b.polls <= 0:
                row.tally.no_data += size
            else:
                down_share = (b.polls - b.up) / b.polls
                row.tally.up += size * (1 - down_share)
                row.tally.down += size * down_share
            if down_share > 0:
                if open_at is None:
                    open_at = t0
                last_down_end = t0 + size
            elif open_at is not None and (b is not None or why is not None):
                row.incidents.append(Incident(device.name, row.site, open_at, last_down_end))
                open_at = None
        if open_at is not None:
            row.incidents.append(Incident(device.name, row.site, open_at, last_down_end))
        if tickets:
            row.incidents = [_link(i, tickets.get(device.name, ()), size)
                             for i in row.incidents]
        site_tallies.setdefault(row.site, Tally()).add(row.tally)
        out.append(row)
    return Report(range_name, start, end, out, site_tallies)


def _link(incident: Incident, tickets: Iterable[tuple[int, float]], size: float) -> Incident:
    for ticket_id, created in tickets:
        if incident.start - size <= created <= incident.end + size:
            return Incident(incident.device, incident.site, incident.start, incident.end,
                            ticket_id)
    return incident


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"


def devices_csv(report: Report) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["device", "site", "range", "from", "to", "availability_pct", "up_s", "down_s",
                "maintenance_s", "out_of_hours_s", "no_data_s", "incidents"])
    for d in report.devices:
        t = d.tally
        w.writerow([d.device, d.site, report.range, _iso(report.start), _iso(report.end),
                    _pct(t.availability), f"{t.up:.0f}", f"{t.down:.0f}", f"{t.maintenance:.0f}",
                    f"{t.out_of_hours:.0f}", f"{t.no_data:.0f}", len(d.incidents)])
    return out.getvalue()


def incidents_csv(report: Report) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["device", "site", "start", "end", "duration_s", "ticket"])
    for i in report.incidents:
        w.writerow([i.device, i.site, _iso(i.start), _iso(i.end), f"{i.duration:.0f}",
                    i.ticket if i.ticket is not None else ""])
    return out.getvalue()
