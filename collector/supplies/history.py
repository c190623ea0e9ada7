"""Seed the supplies engine from InfluxDB at start-up, so a restart keeps every forecast.

Reads the ``supply`` percent and the ``pages`` counters of the last ``days`` (hourly medians, and
the hour's last counter summed over markers; a scaled "hour" on a demo time scale) through the
InfluxQL reader. Hours without a real level (sentinels are not written as ``percent``) are simply
absent. A failing query is logged and leaves the engine empty: polling goes on either way.
"""

from __future__ import annotations

import logging

from collector.storage import QueryError
from collector.storage.query import InfluxQuery
from collector.supplies.engine import SupplyEngine
from collector.supplies.forecast import Sample

log = logging.getLogger(__name__)


def _quote(name: str) -> str:
    return name.replace("\\", "\\\\").replace("'", "\\'")


async def seed_engine(engine: SupplyEngine, query: InfluxQuery, db: str, *, days: float = 90.0,
                      devices: list[str] | None = None) -> int:
    """Load each supply's history into ``engine``; the number of supplies seeded."""
    bucket = max(1, int(engine.settings.day_seconds / 24))
    since = max(bucket, int(days * engine.settings.day_seconds))
    where = f"time > now() - {since}s"
    if devices:
        where += " AND (" + " OR ".join(f"\"device\" = '{_quote(d)}'" for d in devices) + ")"
    try:
        levels = await query.query(
            f'SELECT median("percent") AS "percent" FROM "supply" WHERE {where} '
            f'GROUP BY time({bucket}s), "device", "supply" fill(none)', db=db)
        pages = await query.query(
            f'SELECT last("count") AS "count" FROM "pages" WHERE {where} '
            f'GROUP BY time({bucket}s), "device", "marker" fill(none)', db=db)
    except QueryError as err:
        log.warning("supplies: no history from InfluxDB: %s", err)
        return 0
    counters: dict[str, dict[int, int]] = {}
    for r in pages:
        if r.get("count") is not None:
            per = counters.setdefault(str(r["device"]), {})
            per[int(r["time"])] = per.get(int(r["time"]), 0) + int(r["count"])
    series: dict[tuple[str, str], list[Sample]] = {}
    for r in levels:
        if r.get("percent") is None or r.get("device") is None or r.get("supply") is None:
            continue
        device, t_ns = str(r["device"]), int(r["time"])
        series.setdefault((device, str(r["supply"])), []).append(
            Sample(t_ns / 1e9, float(r["percent"]), counters.get(device, {}).get(t_ns)))
    for (device, supply), samples in series.items():
        engine.load_history(device, supply, samples)
    if series:
        log.info("supplies: history of %d supplies loaded from InfluxDB", len(series))
    return len(series)
