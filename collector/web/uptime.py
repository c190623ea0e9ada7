"""``/api/v1/uptime`` (the report of :mod:`collector.uptime`) as JSON or CSV (``?format=csv``).

- ``GET /api/v1/uptime?window=7d[&site=NAME][&format=csv]``: availability per device, per site
  and for the fleet; CSV gives a row per device.
- ``GET /api/v1/uptime/incidents?window=30d[&device=NAME][&format=csv]``: the downtime
  incidents, newest first, with the ticket each one opened.
"""

from __future__ import annotations

import time

from aiohttp import web

from collector.keys import CONFIG, STORE, UPTIME
from collector.uptime.report import (
    WindowError,
    devices_csv,
    incidents_csv,
    report,
    report_json,
    window_seconds,
)


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _report(request: web.Request) -> dict[str, object] | web.Response:
    window = request.query.get("window", "7d")
    try:
        seconds = window_seconds(window)
    except WindowError as err:
        return _bad(str(err))
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        return _bad(f"format {fmt!r}: json or csv")
    config = request.app[CONFIG]
    site = request.query.get("site")
    if site is not None and not any(d.site == site for d in config.devices):
        return web.json_response({"error": f"no devices in site {site!r}"}, status=404)
    end = time.time()
    spans = await request.app[UPTIME].spans(end - seconds, end)
    r = await report(config, spans, window, end, request.app.get(STORE), site)
    return report_json(r, incidents=request.path.endswith("/incidents"))


def _csv_response(text: str, name: str) -> web.Response:
    return web.Response(text=text, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def uptime_api(request: web.Request) -> web.Response:
    data = await _report(request)
    if isinstance(data, web.Response):
        return data
    if request.query.get("format") == "csv":
        return _csv_response(devices_csv(data), f"uptime-{data['window']}.csv")
    return web.json_response(data)


async def incidents_api(request: web.Request) -> web.Response:
    data = await _report(request)
    if isinstance(data, web.Response):
        return data
    device = request.query.get("device")
    incidents = data["incidents"]
    assert isinstance(incidents, list)
    if device is not None:
        if request.app[CONFIG].device(device) is None:
            return web.json_response({"error": f"no device {device!r}"}, status=404)
        incidents = [i for i in incidents if i["device"] == device]
    out = {"window": data["window"], "start": data["start"], "end": data["end"],
           "incidents": incidents}
    if request.query.get("format") == "csv":
        return _csv_response(incidents_csv(out), f"incidents-{data['window']}.csv")
    return web.json_response(out)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/uptime", uptime_api)
    app.router.add_get("/api/v1/uptime/incidents", incidents_api)
