"""A device's history from InfluxDB for its page, as :class:`collector.web.charts.Chart` values.

Printers: supply levels, availability and the page count. Agent hosts (issue 13): CPU (mean and
max per bucket), memory (mean and max, and swap), disk use per mountpoint (the fullest
:data:`MAX_MOUNTS`; the rest named under the chart), the 1-minute load, and the agent reports
received per bucket (see :func:`host_charts` for why not an availability share).

Queries stay bounded: each asks for one device over a fixed range (:data:`WINDOWS`: 24 h, 7 d
or 30 d) in fixed buckets (15 min, 1 h, 6 h), so a series has at most 96, 168 or 120 points
whatever the poll or report rate. They are the queries of :func:`queries` and
:func:`host_queries` (a test runs them against a real influxd).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from collector.config import StorageConfig
from collector.storage import QueryError
from collector.storage.query import InfluxQuery
from collector.web.charts import Chart, Series, line_chart


@dataclass(frozen=True, slots=True)
class Window:
    """A range the device page offers (``?range=<key>``) and its bucket."""

    key: str
    seconds: int
    bucket: str  # an InfluxQL duration
    bucket_s: int
    label: str


# 30 days of 6 h buckets hides a 10-minute CPU spike in a mean (the max keeps it, not its
# shape), so the page also offers 7 days in 1 h and 24 hours in 15 min buckets.
WINDOWS: Final = {w.key: w for w in (Window("24h", 86400, "15m", 900, "24 hours"),
                                     Window("7d", 7 * 86400, "1h", 3600, "7 days"),
                                     Window("30d", 30 * 86400, "6h", 6 * 3600, "30 days"))}
DEFAULT: Final = WINDOWS["30d"]
RANGE: Final = DEFAULT.seconds
BUCKET: Final = DEFAULT.bucket
BUCKET_S: Final = DEFAULT.bucket_s
MAX_MOUNTS: Final = 4  # disk series drawn; the others are named under the chart
MOUNT_SERIES_LIMIT: Final = 64  # SLIMIT of the disk query: a bound, not a display choice
_MARKING_CSS: Final = {"black", "cyan", "magenta", "yellow"}
_PALETTE: Final = ("s1", "s2", "s3", "s4", "s5")  # fleetwatch.css series colours


def literal(value: str) -> str:
    """An InfluxQL string literal (single quotes; backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _where(device: str, w: Window) -> str:
    return f'"device" = {literal(device)} AND time > now() - {w.seconds}s'


def queries(device: str, w: Window = DEFAULT) -> dict[str, str]:
    """A printer's (or any polled device's) queries."""
    where, group = _where(device, w), f"GROUP BY time({w.bucket})"
    return {
        "supplies": f'SELECT last("percent") AS "percent" FROM "supply" WHERE {where} '
                    f'{group}, "supply", "type", "colour" fill(none)',
        "availability": f'SELECT mean("up") * 100 AS "up" FROM "availability" WHERE {where} '
                        f'{group} fill(none)',
        "pages": f'SELECT max("page_count") AS "pages" FROM "printer" WHERE {where} '
                 f'{group} fill(none)',
    }


def host_queries(device: str, w: Window = DEFAULT) -> dict[str, str]:
    """An agent host's queries (measurements of ``collector.ingest.lines.HOST_SCHEMA``)."""
    where, group = _where(device, w), f"GROUP BY time({w.bucket})"
    return {
        "cpu": f'SELECT mean("percent") AS "mean", max("percent") AS "max", '
               f'mean("load1") AS "load1" FROM "host_cpu" WHERE {where} {group} fill(none)',
        "memory": f'SELECT mean("used_percent") AS "mean", max("used_percent") AS "max", '
                  f'mean("swap_used_percent") AS "swap" FROM "host_mem" WHERE {where} '
                  f'{group} fill(none)',
        "disks": f'SELECT max("used_percent") AS "used" FROM "host_disk" WHERE {where} '
                 f'{group}, "mountpoint" fill(none) SLIMIT {MOUNT_SERIES_LIMIT}',
        # fill(0): a bucket without a report is a zero, which is the point of the chart
        "reports": f'SELECT count("seq") AS "reports" FROM "host_system" WHERE {where} '
                   f'{group} fill(0)',
    }


def _points(rows: list[dict[str, Any]], field: str) -> list[tuple[float, float]]:
    return [(row["time"] / 1e9, float(row[field])) for row in rows if row.get(field) is not None]


def charts(rows: Mapping[str, list[dict[str, Any]]], now: float,
           w: Window = DEFAULT) -> list[Chart]:
    """A printer page's charts from the rows of :func:`queries` (pure: tests feed it)."""
    start = now - w.seconds
    by_supply: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows.get("supplies", []):
        key = (row.get("supply") or "?", row.get("type") or "", row.get("colour") or "")
        by_supply[key].append(row)
    supplies = [Series(f"{colour or kind} ({index})", colour if colour in _MARKING_CSS else "other",
                       _points(found, "percent"))
                for (index, kind, colour), found in sorted(by_supply.items())]
    gap = 2.5 * w.bucket_s  # a missing bucket or more breaks the line
    per = _bucket_words(w)
    return [
        line_chart(f"Supply levels, {w.label}", supplies, start=start, end=now, unit="%",
                   y_min=0, y_max=100, gap=gap),
        line_chart(f"Availability, {w.label} (share of polls answered per {per})",
                   [Series("up", "ok", _points(rows.get("availability", []), "up"))],
                   start=start, end=now, unit="%", y_min=0, y_max=100, gap=gap),
        line_chart(f"Page count, {w.label}",
                   [Series("pages", "other", _points(rows.get("pages", []), "pages"))],
                   start=start, end=now, gap=gap),
    ]


def _bucket_words(w: Window) -> str:
    s = w.bucket_s
    return f"{s // 3600} h" if s % 3600 == 0 else f"{s // 60} min"


def host_charts(rows: Mapping[str, list[dict[str, Any]]], now: float,
                w: Window = DEFAULT) -> list[Chart]:
    """An agent host's charts from the rows of :func:`host_queries` (pure: tests feed it).

    Availability of a host is drawn as *reports received per bucket*, not as the share of
    ``availability`` points with ``up=1``: those points are one per report when the agent
    talks and one per silence check (``agents.silence_check_every``) when it does not, so
    their mean depends on two unrelated rates. A zero is a bucket with no report (the PC off,
    or the agent unable to reach the collector and not yet caught up). Buckets before the
    first report are left out, not drawn as zeros.
    """
    start = now - w.seconds
    gap = 2.5 * w.bucket_s
    per = _bucket_words(w)
    cpu, memory = rows.get("cpu", []), rows.get("memory", [])

    by_mount: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows.get("disks", []):
        by_mount[row.get("mountpoint") or "?"].append(row)
    mounts = sorted(((m, _points(found, "used")) for m, found in by_mount.items()),
                    key=lambda mp: (-(mp[1][-1][1] if mp[1] else -1.0), mp[0]))
    shown, rest = mounts[:MAX_MOUNTS], mounts[MAX_MOUNTS:]
    note = ""
    if rest:
        note = "not drawn: " + ", ".join(
            f"{m} {p[-1][1]:.0f}%" if p else m for m, p in rest)
        if len(mounts) >= MOUNT_SERIES_LIMIT:
            note += f" (first {MOUNT_SERIES_LIMIT} mountpoints read)"

    reports = _points(rows.get("reports", []), "reports")
    first = next((i for i, (_, v) in enumerate(reports) if v > 0), len(reports))
    return [
        line_chart(f"CPU, {w.label} (mean and max per {per})",
                   [Series("mean", "s1", _points(cpu, "mean")),
                    Series("max", "s2", _points(cpu, "max"))],
                   start=start, end=now, unit="%", y_min=0, y_max=100, gap=gap),
        line_chart(f"Memory used, {w.label} (mean and max per {per})",
                   [Series("mean", "s1", _points(memory, "mean")),
                    Series("max", "s2", _points(memory, "max")),
                    Series("swap", "s3", _points(memory, "swap"))],
                   start=start, end=now, unit="%", y_min=0, y_max=100, gap=gap),
        line_chart(f"Disk used, {w.label} (fullest per {per})",
                   [Series(m, _PALETTE[i % len(_PALETTE)], p) for i, (m, p) in enumerate(shown)],
                   start=start, end=now, unit="%", y_min=0, y_max=100, gap=gap, note=note),
        line_chart(f"Load (1 min), {w.label} (mean per {per})",
                   [Series("load1", "s4", _points(cpu, "load1"))],
                   start=start, end=now, y_min=0, gap=gap),
        line_chart(f"Agent reports received per {per}, {w.label}",
                   [Series("reports", "ok", reports[first:])],
                   start=start, end=now, y_min=0, gap=gap),
    ]


async def device_history(reader: InfluxQuery, storage: StorageConfig, device: str, *,
                         host: bool = False, window: Window = DEFAULT
                         ) -> tuple[list[Chart], str | None]:
    """The charts (a host's when ``host``), or an empty list and why (InfluxDB away or
    refusing). The queries run concurrently."""
    wanted = host_queries(device, window) if host else queries(device, window)
    try:
        found = await asyncio.gather(*(reader.query(q, db=storage.database)
                                       for q in wanted.values()))
    except QueryError as err:
        return [], f"history unavailable: {err}"
    rows = dict(zip(wanted, found, strict=True))
    build = host_charts if host else charts
    return build(rows, time.time(), window), None
