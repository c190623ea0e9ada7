"""The supplies page and API (issue 12): every supply sorted by days left with its reorder state
and the stock of its part, CSV exports, the stock on the shelf, and the page-count report.

Routes: ``/supplies`` (HTML), ``/supplies.csv``, ``/supplies/pages.csv``; JSON under
``/api/v1/supplies``: the table, ``/stock`` (GET; POST ``{"part", "add"|"remove"|"set", "by"}``),
``/replacements``, ``/pages``. Who may change stock is the role matrix's (collector/auth/roles.py);
bad input is a 400 with a message.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from collector.keys import CONFIG, HTTP, STOCK, SUPPLIES
from collector.storage import QueryError
from collector.storage.query import InfluxQuery
from collector.supplies.report import (
    FORECAST_COLUMNS,
    PAGE_COLUMNS,
    forecast_rows,
    page_query,
    page_rows,
    to_csv,
)
from collector.supplies.stock import StockError
from collector.web.middleware import BadJson, read_json_object
from collector.web.templating import render


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _rows(request: web.Request) -> list[dict[str, Any]]:
    engine = request.app.get(SUPPLIES)
    if engine is None:
        return []
    stock = request.app.get(STOCK)
    shelf = {i.part: i.quantity for i in await stock.items()} if stock is not None else {}
    return forecast_rows(engine.tracks(), shelf)


async def supplies_page(request: web.Request) -> web.StreamResponse:
    rows = []
    for r in await _rows(request):
        level = f"{r['level']:.0f}%" if isinstance(r["level"], float | int) else r["state"]
        days = f"{r['days_left']:.1f}" if r["days_left"] is not None else r["status"].replace(
            "_", " ")
        when = (r["runs_out_at"] or "")[:10]
        out = {"empty": "", "full": " (full)", "end_of_life": " (end of life)"}.get(
            r["runs_out"], "")
        rows.append({**r, "level_text": level, "days_text": days,
                     "runs_out_text": when + out if when else ""})
    return render("supplies.html", request, {"title": "Supplies", "rows": rows})


async def supplies_csv(request: web.Request) -> web.Response:
    return web.Response(text=to_csv(await _rows(request), FORECAST_COLUMNS), content_type="text/csv",
                        headers={"Content-Disposition": "attachment; filename=supplies.csv"})


async def supplies_api(request: web.Request) -> web.Response:
    return web.json_response({"supplies": await _rows(request)})


async def stock_list(request: web.Request) -> web.Response:
    stock = request.app.get(STOCK)
    if stock is None:
        return _json_error(503, "the supplies engine is not running")
    engine = request.app.get(SUPPLIES)
    need = engine.need_by_part() if engine is not None else {}
    items = {i.part: i.to_json() for i in await stock.items()}
    for part, want in need.items():
        items.setdefault(part, {"part": part, "quantity": 0, "updated_at": None})
        items[part]["need"] = round(want, 2)
    return web.json_response({"stock": sorted(items.values(), key=lambda i: i["part"])})


async def stock_change(request: web.Request) -> web.Response:
    stock = request.app.get(STOCK)
    if stock is None:
        return _json_error(503, "the supplies engine is not running")
    try:
        data = await read_json_object(request)  # UTF-8, bounded depth (docs/api.md)
    except BadJson as err:
        return _json_error(400, str(err))
    unknown = sorted(set(data) - {"part", "add", "remove", "set", "by", "reason"})
    if unknown:
        return _json_error(400, f"unknown field(s) {', '.join(unknown)}")
    ops = [k for k in ("add", "remove", "set") if k in data]
    if len(ops) != 1:
        return _json_error(400, "give exactly one of add, remove, set")
    n = data[ops[0]]
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        return _json_error(400, f"{ops[0]} must be a whole number >= 0")
    part, by = data.get("part"), data.get("by", "api")
    if not isinstance(part, str) or not isinstance(by, str):
        return _json_error(400, "part (and by) must be strings")
    try:
        after = await stock.change(
            part, delta=n if ops[0] == "add" else -n if ops[0] == "remove" else None,
            set_to=n if ops[0] == "set" else None, by=by, reason=str(data.get("reason", "")))
    except StockError as err:
        return _json_error(400, str(err))
    engine = request.app.get(SUPPLIES)
    if engine is not None:
        await engine.check_stock()
    return web.json_response({"part": part.strip(), "quantity": after})


async def replacements(request: web.Request) -> web.Response:
    stock = request.app.get(STOCK)
    if stock is None:
        return _json_error(503, "the supplies engine is not running")
    device = request.query.get("device")
    return web.json_response({"replacements": [s.to_json() for s in await stock.swaps(device)]})


async def _page_report(request: web.Request) -> list[dict[str, Any]]:
    try:
        months = int(request.query.get("months", "12"))
    except ValueError as err:
        raise web.HTTPBadRequest(text="months must be a whole number") from err
    if not 1 <= months <= 120:
        raise web.HTTPBadRequest(text="months must be 1..120")
    cfg = request.app[CONFIG].storage
    if cfg.backend == "none":
        raise web.HTTPServiceUnavailable(text="storage backend is 'none': no page history")
    query = await InfluxQuery.create(cfg, request.app.get(HTTP))
    try:
        return page_rows(await query.query(page_query(months), db=cfg.database))
    except QueryError as err:
        raise web.HTTPBadGateway(text=f"InfluxDB: {err}") from err
    finally:
        await query.close()


async def pages_api(request: web.Request) -> web.Response:
    return web.json_response({"pages": await _page_report(request)})


async def pages_csv(request: web.Request) -> web.Response:
    try:
        rows = await _page_report(request)
    except web.HTTPException as err:
        return web.Response(status=err.status, text=f"{err.text}\n")
    return web.Response(text=to_csv(rows, PAGE_COLUMNS), content_type="text/csv",
                        headers={"Content-Disposition": "attachment; filename=pages.csv"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/supplies", supplies_page)
    app.router.add_get("/supplies.csv", supplies_csv)
    app.router.add_get("/supplies/pages.csv", pages_csv)
    app.router.add_get("/api/v1/supplies", supplies_api)
    app.router.add_get("/api/v1/supplies/stock", stock_list)
    app.router.add_post("/api/v1/supplies/stock", stock_change)
    app.router.add_get("/api/v1/supplies/replacements", replacements)
    app.router.add_get("/api/v1/supplies/pages", pages_api)
