"""The fleet and device pages and the device API: what a technician looks at first.

HTML pages in the shared shell (:mod:`collector.web.shell`), plus JSON under /api/v1.
"""

from __future__ import annotations

import html
import time
from typing import Any

from aiohttp import web

from collector.keys import STATE, STATS
from collector.state import DeviceState
from collector.web.shell import ago, badge, page
from probes.model import Reading

_COLOURS = {"black": "#222", "cyan": "#00a3d9", "magenta": "#d6007a", "yellow": "#e6c200"}


def _supplies_cell(reading: Reading | None) -> str:
    if reading is None:
        return ""
    parts = []
    for s in reading.supplies:
        if s.type not in {"toner", "toner_cartridge", "ink", "ink_cartridge", "waste_toner",
                          "waste_ink"}:
            continue
        colour = _COLOURS.get(s.colour or "", "#607d8b")
        pct = s.percent if s.percent is not None else 0
        label = f"{s.percent:.0f}%" if s.percent is not None else s.state.replace("_", " ")
        if s.supply_class == "filled" and s.percent is not None:
            label += " space left"  # a receptacle's level is its free space (RFC 3805)
        parts.append(f"<span class='sup' title='{html.escape(s.description)}'><span class='bar'>"
                     f"<i style='width:{pct:.0f}%;background:{colour}'></i></span>"
                     f"{html.escape(s.colour or s.type)} {html.escape(label)}</span>")
    return "".join(parts)


def _latest(state: DeviceState) -> Reading | None:
    if not state.readings:
        return None
    return state.readings.get("snmp_printer") or next(iter(state.readings.values()))


async def fleet_page(request: web.Request) -> web.Response:
    # Worst first: what needs a technician is at the top.
    order = {"critical": 0, "unreachable": 1, "unknown": 2, "warning": 3, "pending": 4, "ok": 5}
    states = sorted(request.app[STATE].all(),
                    key=lambda s: (order.get(s.status, 9), s.device.site or "", s.device.name))
    counts: dict[str, int] = {}
    rows = []
    for st in states:
        counts[st.status] = counts.get(st.status, 0) + 1
        r = _latest(st)
        why = ""
        if r is not None:
            why = "; ".join(r.problems[:3]) or (r.error or "")
            if r.stale:
                kept = "last values kept" if r.reachable else "no answer yet"
                why = f"<span class='stale'>asleep? {kept}</span> {html.escape(why)}"
            else:
                why = html.escape(why)
        name = html.escape(st.device.name)
        model = html.escape((r.identity.model or "") if r else "")
        rows.append(
            f"<tr><td><a href='/devices/{name}'>{name}</a><div class='muted'>{model}</div></td>"
            f"<td>{html.escape(st.device.site or '')}</td><td>{html.escape(st.device.kind)}</td>"
            f"<td>{badge(st.status)}</td><td>{_supplies_cell(r)}</td><td>{why}</td>"
            f"<td class='muted'>{ago(r.time if r else None)}</td></tr>")
    summary = "".join(f"<span>{badge(k)} {v}</span>" for k, v in sorted(counts.items()))
    body = (f"<h2>Fleet health</h2><p class='summary'>{summary}</p><table><tr><th>Device</th>"
            f"<th>Site</th><th>Kind</th><th>Status</th><th>Supplies</th><th>Why</th>"
            f"<th>Polled</th></tr>{''.join(rows)}</table>")
    return page("Fleet", body)


async def device_page(request: web.Request) -> web.Response:
    st = request.app[STATE].get(request.match_info["name"])
    if st is None:
        raise web.HTTPNotFound(text="no such device")
    d = st.device
    parts = [f"<h2>{html.escape(d.name)} {badge(st.status)}</h2><p class='muted'>"
             f"{html.escape(d.host)} · {html.escape(d.kind)} · {html.escape(d.site or '')} "
             f"{html.escape(d.location or '')}</p>"]
    for probe, r in sorted(st.readings.items()):
        ident = r.identity
        parts.append(f"<h3>{html.escape(probe)} {badge(r.status)} "
                     f"<span class='muted'>{ago(r.time)}</span></h3>")
        if r.error:
            parts.append(f"<p>error: {html.escape(r.error)}</p>")
        facts = [("Model", ident.model), ("Serial", ident.serial), ("sysDescr", ident.sys_descr),
                 ("Uptime", f"{r.uptime_seconds / 86400:.1f} days" if r.uptime_seconds else None),
                 ("Pages", f"{r.page_count:,}" if r.page_count is not None else None),
                 ("Faults", ", ".join(sorted(r.faults)) if r.faults else None),
                 ("Poll cost", f"{r.cost.duration_s * 1000:.0f} ms, {r.cost.pdus} PDUs, "
                  f"{r.cost.retries} retries")]
        facts += [(k, f"{v:g}") for k, v in r.metrics]
        parts.append("<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}"
                                          f"</td></tr>" for k, v in facts if v) + "</table>")
        if r.supplies:
            parts.append("<h4>Supplies</h4><table><tr><th>#</th><th>Description</th><th>Type</th>"
                         "<th>Level</th><th>State</th><th>Part</th></tr>")
            for s in r.supplies:
                lvl = f"{s.percent:g}%" if s.percent is not None else f"{s.level} / {s.capacity}"
                parts.append(f"<tr><td>{s.index}</td><td>{html.escape(s.description)}</td>"
                             f"<td>{s.type}</td><td>{lvl}</td><td>{s.state}</td>"
                             f"<td>{html.escape(s.part_number or '')}</td></tr>")
            parts.append("</table>")
        if r.trays:
            parts.append("<h4>Trays</h4><table><tr><th>#</th><th>Tray</th><th>Media</th>"
                         "<th>Level</th><th>State</th></tr>")
            for t in r.trays:
                lvl = f"{t.percent:g}%" if t.percent is not None else f"{t.level} / {t.capacity}"
                parts.append(f"<tr><td>{t.index}</td><td>{html.escape(t.description)}</td>"
                             f"<td>{html.escape(t.media or '')}</td><td>{lvl}</td>"
                             f"<td>{t.state}</td></tr>")
            parts.append("</table>")
        if r.alerts:
            parts.append("<h4>Alerts</h4><table>" + "".join(
                f"<tr><td>{a.severity}</td><td>{a.group}</td><td>{a.code}</td>"
                f"<td>{html.escape(a.description)}</td></tr>" for a in r.alerts) + "</table>")
    return page(d.name, "".join(parts))


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
    app.router.add_get("/", fleet_page)
    app.router.add_get("/devices/{name}", device_page)
    app.router.add_get("/api/v1/devices", devices_api)
    app.router.add_get("/api/v1/devices/{name}", device_api)
    app.router.add_get("/api/v1/health", health_api)
