"""A device's history from InfluxDB for its page, as :class:`collector.web.charts.Chart` values.

Printers: supply levels, availability and the page count. Agent hosts (issue 13): CPU (mean and
max per bucket), memory (mean and max, and swap), disk use per mountpoint (the fullest
:data:`MAX_MOUNTS`; the rest named under the chart), the 1-minute load, and the agent reports
received per bucket (see :func:`host_charts` for why not an availability share).

Queries stay bounded: each asks for one device over a fixed range (:data:`WINDOWS`: 24 h, 7 d
or 30 d) in fixed buckets (15 min, 1 h, 6 h), so a series has at most 96, 168 or 120 points
whatever the poll or report rate. They are the queries of :func:`queries` and
:func:`host_queries` (a test runs them against a real influxd).

A host's 7 and 30 day charts (:data:`ROLLED`) read the hourly rollups the ingest writes
(``collector.ingest.rollup``: additive segments of sums, counts and maxes), not the raw points:
see :func:`host_rolled_rows` for which part of the range comes from where.
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


HOUR: Final = 3600
ROLLED: Final = frozenset({"7d", "30d"})  # host windows read from the hourly rollups


def host_span(now: float, w: Window) -> tuple[int, int]:
    """(start, tail) of a rolled host window, in epoch seconds: ``start`` is ``now - range``
    rounded *up* to the hour (every bucket holds whole hours), ``tail`` the start of the
    previous hour: from there on raw points are read (the rollups of the open hour, and of
    the hour just closed, may not be written yet)."""
    start = -(-int(now - w.seconds) // HOUR) * HOUR
    return start, int(now // HOUR) * HOUR - HOUR


def _span(device: str, start: int, end: int | None) -> str:
    upper = f" AND time < {end}s" if end is not None else ""
    return f'"device" = {literal(device)} AND time >= {start}s{upper}'


def host_part_queries(device: str, w: Window, start: int, end: int | None = None
                      ) -> dict[str, str]:
    """Raw points of [start, end) as the sums, counts and maxes the rollups hold, per bucket
    of ``w`` (so that they merge with rollup rows: :func:`merge_host_rows`)."""
    where, group = _span(device, start, end), f"GROUP BY time({w.bucket})"
    return {
        "cpu": f'SELECT sum("percent") AS "cpu_sum", count("percent") AS "cpu_n", '
               f'max("percent") AS "cpu_max", sum("load1") AS "load1_sum", '
               f'count("load1") AS "load1_n" FROM "host_cpu" WHERE {where} {group} fill(none)',
        "memory": f'SELECT sum("used_percent") AS "mem_sum", count("used_percent") AS "mem_n", '
                  f'max("used_percent") AS "mem_max", sum("swap_used_percent") AS "swap_sum", '
                  f'count("swap_used_percent") AS "swap_n" FROM "host_mem" WHERE {where} '
                  f'{group} fill(none)',
        "disks": f'SELECT max("used_percent") AS "used_max" FROM "host_disk" WHERE {where} '
                 f'{group}, "mountpoint" fill(none) SLIMIT {MOUNT_SERIES_LIMIT}',
        "reports": f'SELECT count("seq") AS "reports" FROM "host_system" WHERE {where} '
                   f'{group} fill(none)',
    }


def host_rollup_queries(device: str, w: Window, start: int, end: int) -> dict[str, str]:
    """The rollup segments of [start, end) added up per bucket of ``w``."""
    where, group = _span(device, start, end), f"GROUP BY time({w.bucket})"
    sums = ", ".join(f'sum("{f}") AS "{f}"' for f in (
        "reports", "cpu_n", "cpu_sum", "load1_n", "load1_sum", "mem_n", "mem_sum", "swap_n",
        "swap_sum"))
    return {
        "hourly": f'SELECT {sums}, max("cpu_max") AS "cpu_max", max("mem_max") AS "mem_max" '
                  f'FROM "host_1h" WHERE {where} {group} fill(none)',
        "disks": f'SELECT max("used_max") AS "used_max" FROM "host_disk_1h" WHERE {where} '
                 f'{group}, "mountpoint" fill(none) SLIMIT {MOUNT_SERIES_LIMIT}',
    }


def first_rollup_query(device: str, start: int, tail: int) -> str:
    """The device's earliest rollup segment from an hour before ``start`` on."""
    return (f'SELECT first("reports") AS "reports" FROM "host_1h" WHERE '
            f'{_span(device, start - HOUR, tail)}')


def merge_host_rows(parts: list[Mapping[str, list[dict[str, Any]]]], start: int, now: float,
                    w: Window) -> dict[str, list[dict[str, Any]]]:
    """Rows of :func:`host_part_queries` and :func:`host_rollup_queries` (any mix, over
    disjoint time ranges) → the rows :func:`host_charts` takes, as :func:`host_queries` gives
    them: per bucket mean = sum of sums / sum of counts, max = max of maxes, reports = sum
    (0 for a bucket without any, from ``start``'s bucket to ``now``'s: ``fill(0)``)."""
    acc: dict[int, dict[str, float]] = defaultdict(dict)
    disks: dict[tuple[str, int], float] = {}
    for part in parts:
        for name in ("cpu", "memory", "reports", "hourly"):
            for row in part.get(name, ()):
                b = acc[row["time"]]
                for k, v in row.items():
                    if k == "time" or not isinstance(v, int | float):
                        continue  # also "_measurement"
                    if k.endswith("_max"):
                        b[k] = max(b.get(k, v), v)
                    else:
                        b[k] = b.get(k, 0) + v
        for row in part.get("disks", ()):
            v = row.get("used_max")
            if v is not None:
                key = (row.get("mountpoint") or "?", row["time"])
                disks[key] = max(disks.get(key, v), v)

    def ratio(b: dict[str, float], name: str) -> float | None:
        n = b.get(f"{name}_n", 0)
        return b[f"{name}_sum"] / n if n else None

    cpu, memory = [], []
    for t in sorted(acc):
        b = acc[t]
        mean, load1 = ratio(b, "cpu"), ratio(b, "load1")
        if mean is not None or load1 is not None:
            cpu.append({"time": t, "mean": mean, "max": b.get("cpu_max"), "load1": load1})
        mem, swap = ratio(b, "mem"), ratio(b, "swap")
        if mem is not None or swap is not None:
            memory.append({"time": t, "mean": mem, "max": b.get("mem_max"), "swap": swap})
    step = w.bucket_s
    first, last = start // step * step, int(now) // step * step
    reports = [{"time": t * 10**9, "reports": int(acc.get(t * 10**9, {}).get("reports", 0))}
               for t in range(first, last + 1, step)]
    return {"cpu": cpu, "memory": memory, "reports": reports,
            "disks": [{"time": t, "mountpoint": m, "used": v}
                      for (m, t), v in sorted(disks.items())]}


async def host_rolled_rows(reader: InfluxQuery, db: str, device: str, w: Window, now: float
                           ) -> dict[str, list[dict[str, Any]]]:
    """A rolled window's rows, from three parts of [start, now] (:func:`host_span`):
    - [start, head_end): raw points, where the device has no rollups (data older than the
      rollup feature, an InfluxDB holding raw points only). ``head_end`` is the hour after
      the one holding the device's first rollup segment (that hour may be partial: the
      feature started in it), or ``start`` when rollups go back an hour before it; with no
      rollups at all the whole range is raw (slow, but the same charts).
    - [head_end, tail): the rollups.
    - [tail, now]: raw points (at most two hours).
    Two rounds of concurrent queries. Raises QueryError."""
    start, tail = host_span(now, w)
    raw_tail = host_part_queries(device, w, tail)
    found = await asyncio.gather(reader.query(first_rollup_query(device, start, tail), db=db),
                                 *(reader.query(q, db=db) for q in raw_tail.values()))
    first, tail_rows = found[0], dict(zip(raw_tail, found[1:], strict=True))
    head_end = tail
    if first and first[0].get("reports") is not None:
        head_end = min(tail, max(start, int(first[0]["time"] // 10**9) // HOUR * HOUR + HOUR))
    wanted: list[dict[str, str]] = []
    if head_end < tail:
        wanted.append(host_rollup_queries(device, w, head_end, tail))
    if start < head_end:
        wanted.append(host_part_queries(device, w, start, head_end))
    flat = [(i, name, q) for i, qs in enumerate(wanted) for name, q in qs.items()]
    rows = await asyncio.gather(*(reader.query(q, db=db) for _, _, q in flat))
    parts: list[dict[str, list[dict[str, Any]]]] = [{} for _ in wanted]
    for (i, name, _), got in zip(flat, rows, strict=True):
        parts[i][name] = got
    return merge_host_rows([*parts, tail_rows], start, now, w)


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
    now = time.time()
    if host and window.key in ROLLED:
        try:
            rolled = await host_rolled_rows(reader, storage.database, device, window, now)
        except QueryError as err:
            return [], f"history unavailable: {err}"
        return host_charts(rolled, now, window), None
    wanted = host_queries(device, window) if host else queries(device, window)
    try:
        found = await asyncio.gather(*(reader.query(q, db=storage.database)
                                       for q in wanted.values()))
    except QueryError as err:
        return [], f"history unavailable: {err}"
    rows = dict(zip(wanted, found, strict=True))
    build = host_charts if host else charts
    return build(rows, now, window), None
