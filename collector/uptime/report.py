"""The uptime report: availability per device, per site and for the fleet over 24 h, 7 d, 30 d
or 90 d, the downtime incidents with their tickets, and the CSV forms of both (the API route
and ``fleetwatch uptime`` share them)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from collector.config import Config, DeviceConfig, Schedule
from collector.faults.windows import effective_schedule
from collector.tickets.store import TicketQuery, TicketStore
from collector.uptime.accounting import Availability, Incident, Intervals, Span, account, excluded
from probes.errors import FleetwatchError

WINDOWS = {"24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0, "90d": 90 * 86400.0}
_WINDOW = re.compile(r"(\d{1,4})([hd])")


class WindowError(FleetwatchError):
    """A window that is not N h or N d (1 h to 400 d)."""


def window_seconds(text: str) -> float:
    """"24h", "7d", "90d", "365d" → seconds."""
    m = _WINDOW.fullmatch(text.strip().lower())
    seconds = int(m.group(1)) * (3600 if m.group(2) == "h" else 86400) if m else 0
    if not 3600 <= seconds <= 400 * 86400:
        raise WindowError(f"window {text!r}: give hours or days, e.g. 24h, 7d, 30d, 90d "
                          "(1h to 400d)")
    return float(seconds)


@dataclass(slots=True)
class DeviceRow:
    device: DeviceConfig
    availability: Availability


@dataclass(slots=True)
class Report:
    window: str
    start: float
    end: float
    devices: list[DeviceRow]
    sites: dict[str, Availability]
    fleet: Availability

    @property
    def incidents(self) -> list[Incident]:
        return sorted((i for row in self.devices for i in row.availability.incidents),
                      key=lambda i: i.start, reverse=True)


async def _tickets(store: TicketStore | None, device: str) -> list[tuple[int, float]]:
    if store is None:
        return []
    found, _ = await store.find(TicketQuery(device=device, fault_key="unreachable", limit=500))
    out = [(t.id, t.created_at) for t in found]
    out += [(t.id, t.last_recurred_at) for t in found if t.last_recurred_at is not None]
    return out


def build(config: Config, spans: Mapping[str, Sequence[Span]], window: str, start: float,
          end: float, tickets: Mapping[str, Sequence[tuple[int, float]]] | None = None,
          site: str | None = None) -> Report:
    rows = []
    sites: dict[str, Availability] = {}
    fleet = Availability("fleet", start, end)
    excluded_by_schedule: dict[Schedule, tuple[Intervals, Intervals]] = {}
    for device in config.devices:
        if site is not None and device.site != site:
            continue
        schedule = effective_schedule(device, config.sites)
        # devices of a site share a schedule: its excluded time is worked out once
        ex = excluded_by_schedule.get(schedule)
        if ex is None:
            ex = excluded_by_schedule[schedule] = excluded(schedule, start, end)
        a = account(device.name, spans.get(device.name, ()), start, end, schedule,
                    (tickets or {}).get(device.name, ()), excluded_time=ex)
        rows.append(DeviceRow(device, a))
        key = device.site or "-"
        sites.setdefault(key, Availability(key, start, end)).add(a)
        fleet.add(a)
    return Report(window, start, end, rows, sites, fleet)


async def report(config: Config, spans: Mapping[str, Sequence[Span]], window: str, end: float,
                 ticket_store: TicketStore | None = None, site: str | None = None) -> Report:
    """The report over ``window`` ending at ``end``; incidents name their tickets."""
    start = end - window_seconds(window)
    tickets = {name: await _tickets(ticket_store, name) for name, ss in spans.items()
               if any(not s.up for s in ss)}
    return build(config, spans, window, start, end, tickets, site)


# --- JSON and CSV ------------------------------------------------------------------------------
def _iso(t: float | None) -> str | None:
    return None if t is None else dt.datetime.fromtimestamp(t, dt.UTC).isoformat(
        timespec="seconds")


def _pct(a: Availability) -> float | None:
    v = a.availability
    return None if v is None else round(100 * v, 3)


def availability_json(a: Availability) -> dict[str, Any]:
    return {"availability_percent": _pct(a), "up_s": round(a.up_s, 1),
            "down_s": round(a.down_s, 1), "maintenance_s": round(a.maintenance_s, 1),
            "out_of_hours_s": round(a.out_of_hours_s, 1), "no_data_s": round(a.no_data_s, 1),
            "incidents": len(a.incidents)}


def incident_json(i: Incident) -> dict[str, Any]:
    return {"device": i.device, "start": _iso(i.start), "end": _iso(i.end),
            "duration_s": round(i.duration_s, 1), "counted_s": round(i.counted_s, 1),
            "ticket": i.ticket}


def report_json(r: Report, *, incidents: bool = False) -> dict[str, Any]:
    """The JSON document; the incidents themselves only with ``incidents`` (their count is
    always there): a year of a large fleet has thousands."""
    out = {
        "window": r.window, "start": _iso(r.start), "end": _iso(r.end),
        "fleet": availability_json(r.fleet),
        "sites": {name: availability_json(a) for name, a in sorted(r.sites.items())},
        "devices": [{"device": row.device.name, "site": row.device.site,
                     "kind": row.device.kind, **availability_json(row.availability)}
                    for row in r.devices],
    }
    if incidents:
        out["incidents"] = [incident_json(i) for i in r.incidents]
    return out


DEVICE_COLUMNS = ("device", "site", "kind", "availability_percent", "up_s", "down_s",
                  "maintenance_s", "out_of_hours_s", "no_data_s", "incidents")
INCIDENT_COLUMNS = ("device", "start", "end", "duration_s", "counted_s", "ticket")


def _csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        # A cell a spreadsheet would run as a formula ("=HYPERLINK(...)" as a device name) is
        # prefixed with a quote (OWASP's CSV injection advice).
        writer.writerow({k: ("'" + v if isinstance(v, str) and v[:1] in "=+-@\t\r" else
                             "" if v is None else v) for k, v in row.items()})
    return out.getvalue()


def devices_csv(data: Mapping[str, Any]) -> str:
    """The per-device CSV of a :func:`report_json` document."""
    return _csv(DEVICE_COLUMNS, data["devices"])


def incidents_csv(data: Mapping[str, Any]) -> str:
    return _csv(INCIDENT_COLUMNS, data["incidents"])
