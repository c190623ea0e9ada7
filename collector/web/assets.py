"""The asset list page (``/assets``), its CSV (``/assets.csv``) and JSON (``/api/v1/assets``).

Rows: every device of the state cache and every agent host with a stored inventory
(:func:`collector.assets.inventory.assets`). When the agents database cannot be read the list
still answers, with the hosts' inventory columns empty, and says so in the log.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import asdict

from aiohttp import web

from collector.assets.inventory import COLUMNS, Asset, assets, to_csv
from collector.ingest.service import HostInventory
from collector.ingest.store import AgentStoreError
from collector.keys import INGEST, STATE
from collector.web.templating import render

log = logging.getLogger(__name__)


async def _hosts(app: web.Application) -> dict[str, HostInventory]:
    ingest = app.get(INGEST)
    if ingest is None:
        return {}
    try:
        return await ingest.host_inventories()
    except (sqlite3.Error, AgentStoreError) as err:
        log.warning("asset list without host inventories: agents database: %s", err)
        return {}


async def _rows(request: web.Request) -> list[Asset]:
    return assets(request.app[STATE].all(), await _hosts(request.app))


async def assets_page(request: web.Request) -> web.StreamResponse:
    return render("assets.html", request, {"title": "Assets", "columns": COLUMNS,
                                           "rows": await _rows(request)})


async def assets_csv(request: web.Request) -> web.StreamResponse:
    return web.Response(text=to_csv(await _rows(request)), content_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="assets.csv"'})


async def assets_api(request: web.Request) -> web.StreamResponse:
    rows = [asdict(a) for a in await _rows(request)]
    return web.json_response({"assets": rows, "count": len(rows)})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/assets", assets_page)
    app.router.add_get("/assets.csv", assets_csv)
    app.router.add_get("/api/v1/assets", assets_api)
