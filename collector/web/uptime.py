"""The uptime report (:mod:`collector.uptime`, rules in docs/uptime.md) on the web:

- ``GET /uptime?window=7d`` (also ``?range=``): the page; ``/uptime.csv?window=…&what=devices|
  incidents``: the spreadsheet;
- ``GET /api/v1/uptime?window=7d[&site=NAME][&format=csv]``: availability per device, per site
  and for the fleet (CSV: a row per device);
- ``GET /api/v1/uptime/incidents?window=30d[&device=NAME][&format=csv]``: the downtime incidents,
  newest first, with the ticket each one opened.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from collector.keys import CONFIG, STORE, UPTIME
from collector.uptime.report import (
    WINDOWS,
    WindowError,
    devices_csv,
    incidents_csv,
    report,
    report_json,
    window_seconds,
)
from collector.web.templating import render


class _Bad(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _report(request: web.Request, *, incidents: bool) -> dict[str, Any]:
    window = request.query.get("window") or request.query.get("range") or "7d"
    try:
        seconds = window_seconds(window)
    except WindowError as err:
        raise _Bad(400, str(err)) from err
    config = request.app[CONFIG]
    site = request.query.get("site")
    if site is not None and not any(d.site == site for d in config.devices):
        raise _Bad(404, f"no devices in site {site!r}")
    end = time.time()
    spans = await request.app[UPTIME].spans(end - seconds, end)
    r = await report(config, spans, window, end, request.app.get(STORE), site)
    return report_json(r, incidents=incidents)


def _csv_response(text: str, name: str) -> web.Response:
    return web.Response(text=text, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _format(request: web.Request) -> str:
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise _Bad(400, f"format {fmt[:20]!r}: json or csv")
    return fmt


async def uptime_api(request: web.Request) -> web.Response:
    try:
        fmt = _format(request)
        data = await _report(request, incidents=False)
    except _Bad as err:
        return web.json_response({"error": str(err)}, status=err.status)
    if fmt == "csv":
        return _csv_response(devices_csv(data), f"uptime-{data['window']}.csv")
    return web.json_response(data)


async def incidents_api(request: web.Request) -> web.Response:
    try:
        fmt = _format(request)
        data = await _report(request, incidents=True)
        device = request.query.get("device")
        if device is not None and request.app[CONFIG].device(device) is None:
            raise _Bad(404, f"no device {device!r}")
    except _Bad as err:
        return web.json_response({"error": str(err)}, status=err.status)
    incidents = [i for i in data["incidents"] if device is None or i["device"] == device]
    out = {"window": data["window"], "start": data["start"], "end": data["end"],
           "incidents": incidents}
    if fmt == "csv":
        return _csv_response(incidents_csv(out), f"incidents-{data['window']}.csv")
    return web.json_response(out)


async def uptime_page(request: web.Request) -> web.StreamResponse:
    window = request.query.get("window") or request.query.get("range") or "7d"
    context: dict[str, Any] = {"title": "Uptime", "window": window, "windows": list(WINDOWS),
                               "report": None, "why_not": None}
    try:
        context["report"] = await _report(request, incidents=True)
    except _Bad as err:
        context["why_not"] = str(err)
    return render("uptime.html", request, context)


async def uptime_csv(request: web.Request) -> web.StreamResponse:
    what = request.query.get("what", "devices")
    if what not in {"devices", "incidents"}:
        raise web.HTTPBadRequest(text="what must be devices or incidents")
    try:
        data = await _report(request, incidents=what == "incidents")
    except _Bad as err:
        raise web.HTTPBadRequest(text=str(err)) from err
    text = devices_csv(data) if what == "devices" else incidents_csv(data)
    return _csv_response(text, f"uptime-{what}-{data['window']}.csv")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/uptime", uptime_page)
    app.router.add_get("/uptime.csv", uptime_csv)
    app.router.add_get("/api/v1/uptime", uptime_api)
    app.router.add_get("/api/v1/uptime/incidents", incidents_api)
