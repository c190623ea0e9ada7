"""The uptime report: ``/uptime?range=24h|7d|30d|90d`` (page), ``/uptime.csv?range=…&what=
devices|incidents`` and ``/api/v1/uptime?range=…`` (accounting: :mod:`collector.uptime.report`,
rules: docs/uptime.md)."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from aiohttp import web

from collector.keys import CONFIG, HTTP, STORE
from collector.storage import QueryError
from collector.storage.query import InfluxQuery, auth_headers
from collector.tickets.store import TicketQuery
from collector.uptime.report import (
    RANGES,
    Bucket,
    Report,
    account,
    bucket_query,
    devices_csv,
    incidents_csv,
)
from collector.web.templating import render


class ReportUnavailable(Exception):
    """No storage, or InfluxDB did not answer."""


def _range(request: web.Request) -> str:
    name = request.query.get("range", "7d")
    if name not in RANGES:
        raise web.HTTPBadRequest(text=f"range must be one of {', '.join(RANGES)}, not {name[:20]!r}")
    return name


async def build_report(request: web.Request, range_name: str) -> Report:
    config = request.app[CONFIG]
    storage = config.storage
    if storage.backend == "none":
        raise ReportUnavailable("no uptime data: storage is off (storage.backend: none)")
    reader = InfluxQuery(storage.url, request.app[HTTP], owns_session=False,
                         headers=auth_headers(storage), timeout=storage.timeout)
    end = time.time()
    try:
        rows = await reader.query(bucket_query(range_name, end), db=storage.database)
    except QueryError as err:
        raise ReportUnavailable(f"uptime data unavailable: {err}") from err
    buckets: dict[str, list[Bucket]] = defaultdict(list)
    for row in rows:
        if row.get("polls"):
            buckets[str(row.get("device"))].append(
                Bucket(row["time"] / 1e9, int(row.get("up") or 0), int(row["polls"])))
    found, _ = await request.app[STORE].find(TicketQuery(fault_key="unreachable", limit=500))
    tickets: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for t in found:
        if t.device:
            tickets[t.device].append((t.id, t.created_at))
    return account(range_name, end, config.devices, config.sites, buckets, tickets)


async def uptime_page(request: web.Request) -> web.StreamResponse:
    range_name = _range(request)
    context: dict[str, Any] = {"title": "Uptime", "range": range_name, "ranges": list(RANGES),
                               "report": None, "why_not": None}
    try:
        context["report"] = await build_report(request, range_name)
    except ReportUnavailable as err:
        context["why_not"] = str(err)
    return render("uptime.html", request, context)


async def uptime_csv(request: web.Request) -> web.StreamResponse:
    range_name = _range(request)
    what = request.query.get("what", "devices")
    if what not in {"devices", "incidents"}:
        raise web.HTTPBadRequest(text="what must be devices or incidents")
    try:
        report = await build_report(request, range_name)
    except ReportUnavailable as err:
        raise web.HTTPServiceUnavailable(text=str(err)) from err
    text = devices_csv(report) if what == "devices" else incidents_csv(report)
    name = f"uptime-{what}-{range_name}.csv"
    return web.Response(text=text, content_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def uptime_api(request: web.Request) -> web.StreamResponse:
    name = request.query.get("range", "7d")
    if name not in RANGES:
        return web.json_response({"error": f"range must be one of {', '.join(RANGES)}"},
                                 status=400)
    try:
        report = await build_report(request, name)
    except ReportUnavailable as err:
        return web.json_response({"error": str(err)}, status=503)

    def tally(t: Any) -> dict[str, Any]:
        return {"availability_pct": t.availability, "up_s": t.up, "down_s": t.down,
                "maintenance_s": t.maintenance, "out_of_hours_s": t.out_of_hours,
                "no_data_s": t.no_data}

    return web.json_response({
        "range": name, "from": report.start, "to": report.end,
        "devices": [{"device": d.device, "site": d.site, **tally(d.tally)}
                    for d in report.devices],
        "sites": {site: tally(t) for site, t in report.sites.items()},
        "incidents": [{"device": i.device, "site": i.site, "start": i.start, "end": i.end,
                       "duration_s": i.duration, "ticket": i.ticket} for i in report.incidents]})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/uptime", uptime_page)
    app.router.add_get("/uptime.csv", uptime_csv)
    app.router.add_get("/api/v1/uptime", uptime_api)
