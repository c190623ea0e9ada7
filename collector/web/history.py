"""A device's history from InfluxDB for its page: supply levels and availability over 30 days
and the page count, as :class:`collector.web.charts.Chart` values.

Queries stay bounded: each asks for one device over a fixed range in fixed buckets
(:data:`BUCKET`), so a chart has at most 30 d / 6 h = 120 points per series whatever the poll
rate. They are the queries of :func:`queries` (a test runs them against a real influxd).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any, Final

from collector.config import StorageConfig
from collector.storage import QueryError
from collector.storage.query import InfluxQuery
from collector.web.charts import Chart, Series, line_chart

RANGE: Final = 30 * 86400
BUCKET: Final = "6h"
BUCKET_S: Final = 6 * 3600
_MARKING_CSS: Final = {"black", "cyan", "magenta", "yellow"}


def literal(value: str) -> str:
    """An InfluxQL string literal (single quotes; backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def queries(device: str) -> dict[str, str]:
    where = f'"device" = {literal(device)} AND time > now() - {RANGE // 86400}d'
    return {
        "supplies": f'SELECT last("percent") AS "percent" FROM "supply" WHERE {where} '
                    f'GROUP BY time({BUCKET}), "supply", "type", "colour" fill(none)',
        "availability": f'SELECT mean("up") * 100 AS "up" FROM "availability" WHERE {where} '
                        f'GROUP BY time({BUCKET}) fill(none)',
        "pages": f'SELECT max("page_count") AS "pages" FROM "printer" WHERE {where} '
                 f'GROUP BY time({BUCKET}) fill(none)',
    }


def _points(rows: list[dict[str, Any]], field: str) -> list[tuple[float, float]]:
    return [(row["time"] / 1e9, float(row[field])) for row in rows if row.get(field) is not None]


def charts(rows: dict[str, list[dict[str, Any]]], now: float) -> list[Chart]:
    """The device page's charts from the rows of :func:`queries` (pure: tests feed it)."""
    start = now - RANGE
    by_supply: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows.get("supplies", []):
        key = (row.get("supply") or "?", row.get("type") or "", row.get("colour") or "")
        by_supply[key].append(row)
    supplies = [Series(f"{colour or kind} ({index})", colour if colour in _MARKING_CSS else "other",
                       _points(found, "percent"))
                for (index, kind, colour), found in sorted(by_supply.items())]
    gap = 2.5 * BUCKET_S  # a missing bucket or more breaks the line
    return [
        line_chart("Supply levels, 30 days", supplies, start=start, end=now, unit="%",
                   y_min=0, y_max=100, gap=gap),
        line_chart("Availability, 30 days (share of polls answered per 6 h)",
                   [Series("up", "ok", _points(rows.get("availability", []), "up"))],
                   start=start, end=now, unit="%", y_min=0, y_max=100, gap=gap),
        line_chart("Page count, 30 days",
                   [Series("pages", "other", _points(rows.get("pages", []), "pages"))],
                   start=start, end=now, gap=gap),
    ]


async def device_history(reader: InfluxQuery, storage: StorageConfig, device: str
                         ) -> tuple[list[Chart], str | None]:
    """The charts, or an empty list and why (InfluxDB away or refusing)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    try:
        for name, q in queries(device).items():
            rows[name] = await reader.query(q, db=storage.database)
    except QueryError as err:
        return [], f"history unavailable: {err}"
    return charts(rows, time.time()), None
