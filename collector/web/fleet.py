"""The fleet and device pages and the device API: what a technician looks at first.

Pages are the templates ``fleet.html`` and ``device.html``; JSON under /api/v1. The fleet page
filters by site, kind and status (query ``site``, ``kind``, ``status``) and searches names,
addresses, locations, models and serials (``q``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup

from collector.config import DeviceConfig
from collector.keys import CONFIG, HTTP, STATE, STATS, STORE
from collector.state import DeviceState
from collector.storage.query import InfluxQuery, auth_headers
from collector.tickets.store import TicketQuery
from collector.web.charts import Chart
from collector.web.history import DEFAULT, WINDOWS, device_history
from collector.web.hostinfo import app_host_facts, since_boot
from collector.web.templating import render
from probes.model import Reading

_MARKING: Final = frozenset({"toner", "toner_cartridge", "ink", "ink_cartridge", "waste_toner",
                             "waste_ink"})
# Worst first: what needs a technician is at the top.
_ORDER: Final = {"critical": 0, "unreachable": 1, "unknown": 2, "warning": 3, "pending": 4, "ok": 5}
STATUSES: Final = tuple(_ORDER)
PAGE_ROWS: Final = 250  # rows of the fleet page unless ?limit=all (a 1,000-row table is 1 MB)


def _latest(state: DeviceState) -> Reading | None:
    if not state.readings:
        return None
    return state.readings.get("snmp_printer") or next(iter(state.readings.values()))


def _supplies(reading: Reading | None) -> list[dict[str, Any]]:
    out = []
    for s in reading.supplies if reading is not None else ():
        if s.type not in _MARKING:
            continue
        label = f"{s.percent:.0f}%" if s.percent is not None else s.state.replace("_", " ")
        if s.supply_class == "filled" and s.percent is not None:
            label += " space left"  # a receptacle's level is its free space (RFC 3805)
        out.append({"name": s.colour or s.type, "percent": s.percent, "label": label,
                    "description": s.description, "colour": s.colour or "other",
                    "low": s.state in {"low", "empty", "near_full", "full"}})
    return out


def _trays(reading: Reading | None) -> list[dict[str, Any]]:
    return [{"name": t.description or f"tray {t.index}", "state": t.state, "percent": t.percent,
             "alarm": t.state == "empty" and not t.manual,  # an empty manual feed is normal
             "label": f"{t.percent:.0f}%" if t.percent is not None else t.state.replace("_", " ")}
            for t in (reading.trays if reading is not None else ())]


def _reasons(reading: Reading | None) -> tuple[list[str], str | None]:
    """Every problem of the reading (or its error), and the staleness note, if any."""
    if reading is None:
        return [], None
    reasons = list(reading.problems) or ([reading.error] if reading.error else [])
    stale = None
    if reading.stale:
        stale = "asleep? " + ("last values kept" if reading.reachable else "no answer yet")
    return reasons, stale


def _matches(st: DeviceState, reading: Reading | None, q: str) -> bool:
    d = st.device
    ident = reading.identity if reading is not None else None
    hay = [d.name, d.host, d.site or "", d.location or "", d.kind,
           (ident.model or "") if ident else "", (ident.serial or "") if ident else ""]
    return any(q in h.casefold() for h in hay)


def with_status(states: list[DeviceState]) -> list[tuple[DeviceState, str]]:
    """Each state with its status, computed once per request (a max over its readings)."""
    return [(st, st.status) for st in states]


def _select(states: list[tuple[DeviceState, str]], site: str, kind: str, status: str,
            q: str) -> list[tuple[DeviceState, str]]:
    """The states (with their status) after the filters, worst first."""
    needle = q.strip().casefold()
    matching = []
    for st, current in states:
        if ((site and (st.device.site or "") != site) or (kind and st.device.kind != kind)
                or (status and current != status)
                or (needle and not _matches(st, _latest(st), needle))):
            continue
        matching.append((st, current))
    matching.sort(key=lambda m: (_ORDER.get(m[1], 9), m[0].device.site or "", m[0].device.name))
    return matching


def _row(st: DeviceState, r: Reading | None, status: str) -> dict[str, Any]:
    """What a row of the table shows, except its poll time (which :class:`FleetRows` renders
    apart: "5s ago" changes with every request, the rest only with a reading)."""
    reasons, stale = _reasons(r)
    return {"name": st.device.name, "site": st.device.site or "",
            "location": st.device.location or "", "kind": st.device.kind,
            "status": status, "model": (r.identity.model or "") if r else "",
            "supplies": _supplies(r), "trays": _trays(r), "reasons": reasons, "stale": stale}


def fleet_rows(states: list[DeviceState], *, site: str = "", kind: str = "", status: str = "",
               q: str = "", limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """The fleet table's rows after the filters, worst first: the first ``limit`` of them (all
    with None) and how many matched. Only the rows shown are built."""
    matching = _select(with_status(states), site, kind, status, q)
    rows = []
    for st, current in matching if limit is None else matching[:limit]:
        r = _latest(st)
        rows.append({**_row(st, r, current), "time": r.time if r else None})
    return rows, len(matching)


class Shown(NamedTuple):
    """A row of the page: its cells as HTML (the ``fleet_row`` macro's output) and its poll time."""

    cells: Markup
    time: float | None


@dataclass(slots=True)
class _Cached:
    reading: Reading | None  # held, so its identity cannot be reused while cached
    device: DeviceConfig
    row: dict[str, Any]
    cells: Markup


class FleetRows:
    """The fleet table's rows, each rendered once per change instead of once per request.

    A row is rendered by the ``fleet_row`` macro of ``macros.html`` (autoescaped like any
    template) and kept under the device's name with what it was rendered from. It is reused
    while the device's latest reading is the same object and its config and status are the
    same; when a new reading arrives, its row data is built again and compared with the kept
    one, and only a row that reads differently is rendered again (a poll that changes nothing
    but the time costs the data, not the rendering). The poll time ("5s ago") is never kept: the
    page renders it per request. Only rows shown are looked up; rows of devices no longer in
    the state cache are dropped when the cache outgrows it.
    """

    def __init__(self) -> None:
        self._rows: dict[str, _Cached] = {}
        self.rendered = 0  # rows rendered since start (tests, bench)

    def shown(self, states: list[tuple[DeviceState, str]],
              render: Callable[[dict[str, Any]], Markup], *, site: str = "", kind: str = "",
              status: str = "", q: str = "", limit: int | None = None,
              ) -> tuple[list[Shown], int]:
        """As :func:`fleet_rows`, but from the states with their status (:func:`with_status`)
        and each row as :class:`Shown`; ``render`` turns row data into its cells (the macro)."""
        matching = _select(states, site, kind, status, q)
        out = []
        for st, current in matching if limit is None else matching[:limit]:
            r = _latest(st)
            kept = self._rows.get(st.device.name)
            if (kept is None or kept.reading is not r or kept.device is not st.device
                    or kept.row["status"] != current):
                row = _row(st, r, current)
                if kept is None or kept.row != row:
                    kept = self._rows[st.device.name] = _Cached(r, st.device, row, render(row))
                    self.rendered += 1
                else:
                    kept.reading, kept.device = r, st.device
            out.append(Shown(kept.cells, r.time if r else None))
        if len(self._rows) > len(states):
            names = {st.device.name for st, _ in states}
            self._rows = {n: c for n, c in self._rows.items() if n in names}
        return out, len(matching)


# the fleet page's kept rows; set by add_routes (fleet_page is their one user)
FLEET_ROWS: Final = web.AppKey("fleet_rows", FleetRows)


async def fleet_page(request: web.Request) -> web.StreamResponse:
    states = with_status(request.app[STATE].all())
    filters = {key: request.query.get(key, "")[:200] for key in ("site", "kind", "status", "q")}
    # (``refresh`` is read by the page's live updates, collector.web.templating)
    # worst first, so the first PAGE_ROWS are what needs a technician; ?limit=all for the rest
    limit = None if request.query.get("limit") == "all" else PAGE_ROWS
    macros = aiohttp_jinja2.get_env(request.app).get_template("macros.html").module
    row_macro: Callable[[dict[str, Any]], Markup] = macros.fleet_row  # type: ignore[attr-defined]
    shown, matching = request.app[FLEET_ROWS].shown(states, row_macro, **filters, limit=limit)
    counts = Counter(status for _, status in states)
    return render("fleet.html", request, {
        "title": "Fleet", "rows": shown, "matching": matching, "filters": filters,
        "total": len(states), "all_url": request.rel_url.update_query(limit="all"),
        "counts": sorted(counts.items(), key=lambda kv: _ORDER.get(kv[0], 9)),
        "sites": sorted({st.device.site for st, _ in states if st.device.site}),
        "kinds": sorted({st.device.kind for st, _ in states}), "statuses": STATUSES})


async def device_page(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE].get(request.match_info["name"])
    if st is None:
        raise web.HTTPNotFound(text="no such device")
    probes = []
    for probe, r in sorted(st.readings.items()):
        ident = r.identity
        facts = [("Model", ident.model), ("Serial", ident.serial), ("Firmware", ident.firmware),
                 ("MAC", ident.mac), ("sysDescr", ident.sys_descr),
                 ("Up since boot", since_boot(r.uptime_seconds) if r.uptime_seconds else None),
                 ("Pages", f"{r.page_count:,}" if r.page_count is not None else None),
                 ("Faults", ", ".join(sorted(r.faults)) if r.faults else None),
                 # an agent's report is no poll: it has no cost to show (all zero)
                 ("Poll cost", f"{r.cost.duration_s * 1000:.0f} ms, {r.cost.pdus} PDUs, "
                  f"{r.cost.retries} retries"
                  if r.cost.duration_s or r.cost.pdus or r.cost.retries else None)]
        facts += [(k, f"{v:g}") for k, v in r.metrics]
        reasons, stale = _reasons(r)
        probes.append({"name": probe, "reading": r, "facts": [(k, v) for k, v in facts if v],
                       "reasons": reasons, "stale": stale})
    tickets, _ = await request.app[STORE].find(TicketQuery(device=st.device.name, limit=20))
    wanted = request.query.get("range", DEFAULT.key)
    window = WINDOWS.get(wanted)
    if window is None:
        raise web.HTTPBadRequest(text=f"range: {wanted[:40]!r} is not one of "
                                      f"{', '.join(WINDOWS)}")
    # an agent host (collector.web.hostinfo): its inventory, and host charts instead of a
    # printer's
    host = await app_host_facts(request.app, st)
    storage = request.app[CONFIG].storage
    charts: list[Chart] = []
    why_not: str | None = "no history: storage is off (storage.backend: none)"
    if storage.backend != "none":
        reader = InfluxQuery(storage.url, request.app[HTTP], owns_session=False,
                             headers=auth_headers(storage), timeout=storage.timeout)
        charts, why_not = await device_history(reader, storage, st.device.name,
                                               host=host is not None, window=window)
    return render("device.html", request, {"title": st.device.name, "st": st, "d": st.device,
                                           "probes": probes, "tickets": tickets,
                                           "charts": charts, "no_charts": why_not,
                                           "host": host, "window": window,
                                           "windows": list(WINDOWS.values())})


def device_json(st: DeviceState) -> dict[str, Any]:
    d = st.device
    return {
        "name": d.name, "host": d.host, "kind": d.kind, "site": d.site, "location": d.location,
        "parent": d.parent, "tags": dict(d.tags), "status": st.status, "reachable": st.reachable,
        "readings": {probe: r.to_json() for probe, r in sorted(st.readings.items())},
    }


async def devices_api(request: web.Request) -> web.Response:
    status = request.query.get("status")
    items = [device_json(st) for st in request.app[STATE].all()
             if status is None or st.status == status]
    return web.json_response({"devices": items, "count": len(items)})


async def device_api(request: web.Request) -> web.Response:
    st = request.app[STATE].get(request.match_info["name"])
    if st is None:
        return web.json_response({"error": "no such device"}, status=404)
    return web.json_response(device_json(st))


_RANK = {"ok": 0, "degraded": 1, "failing": 2}


async def health_api(request: web.Request) -> web.Response:
    """Counters of each component, and the truth: a component with a ``health()`` method says
    ``ok``, ``degraded`` or ``failing`` with a reason; the top ``status`` is the worst of them
    and ``reasons`` names each component that is not ok. Always HTTP 200 (it answered)."""
    out: dict[str, Any] = {"status": "ok", "time": time.time(), "reasons": {}}
    for name, obj in request.app[STATS].items():
        stats = getattr(obj, "stats", obj)
        out[name] = dict(stats) if isinstance(stats, dict) else {
            k: getattr(stats, k) for k in getattr(stats, "__slots__", ())}
        check = getattr(obj, "health", None)
        if callable(check):
            verdict = check()
            out[name]["health"] = verdict
            if verdict["status"] != "ok":
                out["reasons"][name] = verdict["reason"]
            if _RANK.get(verdict["status"], 2) > _RANK[out["status"]]:
                out["status"] = verdict["status"]
    return web.json_response(out)


def add_routes(app: web.Application) -> None:
    app[FLEET_ROWS] = FleetRows()
    app.router.add_get("/", fleet_page)
    app.router.add_get("/devices/{name}", device_page)
    app.router.add_get("/api/v1/devices", devices_api)
    app.router.add_get("/api/v1/devices/{name}", device_api)
    app.router.add_get("/api/v1/health", health_api)
