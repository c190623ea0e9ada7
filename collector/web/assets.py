"""The asset list page (``/assets``), its CSV (``/assets.csv``) and JSON (``/api/v1/assets``)."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from collector.assets.inventory import COLUMNS, assets, to_csv
from collector.keys import STATE
from collector.web.templating import render


async def assets_page(request: web.Request) -> web.StreamResponse:
    return render("assets.html", request, {"title": "Assets", "columns": COLUMNS,
                                           "rows": assets(request.app[STATE].all())})


async def assets_csv(request: web.Request) -> web.StreamResponse:
    return web.Response(text=to_csv(assets(request.app[STATE].all())), content_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="assets.csv"'})


async def assets_api(request: web.Request) -> web.StreamResponse:
    rows = [asdict(a) for a in assets(request.app[STATE].all())]
    return web.json_response({"assets": rows, "count": len(rows)})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/assets", assets_page)
    app.router.add_get("/assets.csv", assets_csv)
    app.router.add_get("/api/v1/assets", assets_api)
