"""The collector's own pages and device API: what a technician looks at first.

Server-rendered HTML (no JavaScript build), refreshed every 15 s, plus JSON under /api/v1.
"""

from __future__ import annotations

import html
import logging
import time
from typing import Any

from aiohttp import web

from collector.state import DeviceState, StateCache
from probes.model import Reading

log = logging.getLogger(__name__)

STATE = web.AppKey("state", StateCache)
STATS = web.AppKey("stats", dict[str, Any])  # name → object with a stats dataclass/dict

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#222}
header{background:#243447;color:#fff;padding:10px 20px}header a{color:#fff;margin-right:16px}
main{padding:16px 20px}table{border-collapse:collapse;width:100%;background:#fff}
th,td{padding:6px 8px;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}.badge{padding:2px 8px;border-radius:10px;color:#fff;
font-size:12px;text-transform:uppercase}.ok{background:#2e7d32}.warning{background:#ef8f00}
.critical{background:#c62828}.unreachable,.unknown{background:#616161}.pending{background:#90a4ae}
.bar{display:inline-block;width:60px;height:8px;background:#e0e0e0;margin-right:4px}
.bar i{display:block;height:8px}.sup{white-space:nowrap;font-size:12px;margin-right:8px}
.muted{color:#777}.stale{color:#a15c00}.summary span{margin-right:18px;font-size:15px}
"""
_COLOURS = {"black": "#222", "cyan": "#00a3d9", "magenta": "#d6007a", "yellow": "#e6c200"}


def _page(title: str, body: str) -> web.Response:
    doc = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)} · "
           f"Fleetwatch</title><meta http-equiv='refresh' content='15'><style>{_CSS}</style>"
           f"</head><body><header><b>Fleetwatch</b> &nbsp; <a href='/'>Fleet</a>"
           f"<a href='/tickets'>Tickets</a><a href='/api/v1/devices'>API</a></header>"
           f"<main>{body}</main></body></html>")
    return web.Response(text=doc, content_type="text/html")


def _badge(status: str) -> str:
    return f"<span class='badge {html.escape(status)}'>{html.escape(status)}</span>"


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


def _ago(t: float | None) -> str:
    if t is None:
        return "never"
    seconds = max(0, int(time.time() - t))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


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
            f"<td>{_badge(st.status)}</td><td>{_supplies_cell(r)}</td><td>{why}</td>"
            f"<td class='muted'>{_ago(r.time if r else None)}</td></tr>")
    summary = "".join(f"<span>{_badge(k)} {v}</span>" for k, v in sorted(counts.items()))
    body = (f"<h2>Fleet health</h2><p class='summary'>{summary}</p><table><tr><th>Device</th>"
            f"<th>Site</th><th>Kind</th><th>Status</th><th>Supplies</th><th>Why</th>"
            f"<th>Polled</th></tr>{''.join(rows)}</table>")
    return _page("Fleet", body)


async def device_page(request: web.Request) -> web.Response:
    st = request.app[STATE].get(request.match_info["name"])
    if st is None:
        raise web.HTTPNotFound(text="no such device")
    d = st.device
    parts = [f"<h2>{html.escape(d.name)} {_badge(st.status)}</h2><p class='muted'>"
             f"{html.escape(d.host)} · {html.escape(d.kind)} · {html.escape(d.site or '')} "
             f"{html.escape(d.location or '')}</p>"]
    for probe, r in sorted(st.readings.items()):
        ident = r.identity
        parts.append(f"<h3>{html.escape(probe)} {_badge(r.status)} "
                     f"<span class='muted'>{_ago(r.time)}</span></h3>")
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
    return _page(d.name, "".join(parts))


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


async def health_api(request: web.Request) -> web.Response:
    out: dict[str, Any] = {"status": "ok", "time": time.time()}
    for name, obj in request.app[STATS].items():
        stats = getattr(obj, "stats", obj)
        out[name] = dict(stats) if isinstance(stats, dict) else {
            k: getattr(stats, k) for k in getattr(stats, "__slots__", ())}
    return web.json_response(out)


@web.middleware
async def api_json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Under ``/api/``, every error is JSON ``{"error": ...}``: aiohttp's own answers (404 for
    an unknown path, 405, 413 for a body over the size limit) and a bug's 500 as well."""
    if not request.path.startswith("/api/"):
        result: web.StreamResponse = await handler(request)
        return result
    try:
        result = await handler(request)
        return result
    except web.HTTPException as err:
        if err.status < 400:
            raise
        text = err.text or ""
        # aiohttp's default text is "404: Not Found"; a specific one (413's sizes) is kept
        message = err.reason if not text or text.startswith(f"{err.status}:") else text
        return web.json_response({"error": message}, status=err.status)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return web.json_response({"error": "internal error (logged by the collector)"},
                                 status=500)


def setup(app: web.Application) -> None:
    app.router.add_get("/", fleet_page)
    app.router.add_get("/devices/{name}", device_page)
    app.router.add_get("/api/v1/devices", devices_api)
    app.router.add_get("/api/v1/devices/{name}", device_api)
    app.router.add_get("/api/v1/health", health_api)


# --- tickets -----------------------------------------------------------------------------------
_TICKET_SCRIPT = """
<script>
async function act(id, body) {
  const headers = {'Content-Type': 'application/json'};
  const token = localStorage.getItem('fleetwatch-token');
  if (token) headers['Authorization'] = 'Bearer ' + token;
  body.by = localStorage.getItem('fleetwatch-name') || 'web';
  const resp = await fetch('/api/v1/tickets/' + id, {method: 'PATCH', headers, body: JSON.stringify(body)});
  if (!resp.ok) { alert((await resp.json()).error || resp.statusText); return; }
  location.reload();
}
function who() {
  const name = prompt('Your name (shown on the timeline)', localStorage.getItem('fleetwatch-name') || '');
  if (name !== null) localStorage.setItem('fleetwatch-name', name);
  const token = prompt('API token (empty if none)', localStorage.getItem('fleetwatch-token') || '');
  if (token !== null) localStorage.setItem('fleetwatch-token', token);
}
</script>"""
_NEXT_STATES = {"open": ("acknowledged", "in_progress", "resolved"),
                "acknowledged": ("in_progress", "resolved"), "in_progress": ("resolved",),
                "resolved": ("closed", "open"), "closed": ()}
TIMELINE_LIMIT = 500  # a flapping fault can have thousands of events
_SEVERITY_CLASS = {"critical": "critical", "warning": "warning", "info": "ok"}


async def tickets_page(request: web.Request) -> web.Response:
    from collector.tickets.api import STORE
    from collector.tickets.store import TicketQuery

    show = "all" if request.query.get("all") == "1" else request.query.get("show", "unresolved")
    states = {"unresolved": ("open", "acknowledged", "in_progress"),
              "resolved": ("resolved",), "closed": ("closed",), "all": ()}.get(show, ())
    tickets, total = await request.app[STORE].find(TicketQuery(states=states, limit=200))
    links = " · ".join(f"<a href='/tickets?show={s}'>{s}</a>" if s != show else f"<b>{s}</b>"
                       for s in ("unresolved", "resolved", "closed", "all"))
    rows = []
    for t in tickets:
        active = "" if not t.fault_key else (" · fault active" if t.fault_active else " · cleared")
        rows.append(
            f"<tr><td><a href='/tickets/{t.id}'>#{t.id}</a></td>"
            f"<td><span class='badge {_SEVERITY_CLASS.get(t.severity, 'unknown')}'>"
            f"{html.escape(t.severity)}</span></td><td>{html.escape(t.kind)}</td>"
            f"<td>{html.escape(t.device or '')}</td><td>{html.escape(t.title)}"
            f"<div class='muted'>{html.escape(t.description)}</div></td>"
            f"<td>{html.escape(t.state)}{active}</td><td>{html.escape(t.assignee or '')}</td>"
            f"<td class='muted'>{_ago(t.created_at)}"
            f"{f' · {t.recurrences}× again' if t.recurrences else ''}</td></tr>")
    body = (f"<h2>Tickets</h2><p>{links} — {total} ticket(s)</p><table><tr><th>#</th>"
            f"<th>Severity</th><th>Kind</th><th>Device</th><th>What</th><th>State</th>"
            f"<th>Assignee</th><th>Opened</th></tr>{''.join(rows)}</table>")
    return _page("Tickets", body)


def _clock(t: object) -> str:
    if not isinstance(t, int | float):
        return "?"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


async def ticket_page(request: web.Request) -> web.Response:
    from collector.tickets.api import STORE
    from collector.tickets.store import TicketError

    try:
        ticket_id = int(request.match_info["id"])
        store = request.app[STORE]
        t = await store.get(ticket_id)
        events, total = await store.events(ticket_id, limit=TIMELINE_LIMIT)
    except (ValueError, TicketError) as err:
        raise web.HTTPNotFound(text="no such ticket") from err
    facts = [("State", t.state), ("Severity", t.severity), ("Kind", t.kind),
             ("Device", t.device), ("Site", t.site), ("Assignee", t.assignee),
             ("Part number", t.part_number), ("Fault", t.fault_key),
             ("Recurrences", str(t.recurrences) if t.recurrences else None)]
    facts += [(k.replace("_", " ").capitalize(), str(v)) for k, v in t.details.items()
              if k in {"parent", "suppressed", "window", "metric", "value"}]
    held = t.details.get("held")
    if isinstance(held, dict):  # a maintenance window or business hours held it back
        facts.append(("Held back", f"{held.get('reason', '?')} (from {_clock(held.get('since'))}"
                                   f" to {_clock(held.get('until'))})"))
    dependents = t.details.get("dependents")
    if isinstance(dependents, list) and dependents:
        facts.append(("Also down behind it", ", ".join(str(d) for d in dependents)))
    buttons = "".join(f"<button onclick=\"act({t.id}, {{state: '{s}'}})\">{s.replace('_', ' ')}"
                      f"</button> " for s in _NEXT_STATES.get(t.state, ()))
    timeline = "".join(
        f"<tr><td class='muted'>{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(e.at))}</td>"
        f"<td>{html.escape(e.kind)}</td><td>{html.escape(e.by)}</td>"
        f"<td>{html.escape(e.text)}</td></tr>" for e in events)
    body = (
        f"<h2>#{t.id} {html.escape(t.title)}</h2><p>{html.escape(t.description)}</p><table>"
        + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                  for k, v in facts if v)
        + f"</table><p>{buttons}<button onclick=\"act({t.id}, {{assignee: prompt('Assign to')}})\">"
        f"assign</button> <button onclick=\"act({t.id}, {{comment: prompt('Comment')}})\">"
        f"comment</button> <a href='#' onclick='who()'>(who am I?)</a></p>"
        f"<h3>Timeline</h3>"
        + (f"<p class='muted'>the newest {len(events)} of {total} events</p>"
           if total > len(events) else "")
        + "<table><tr><th>When</th><th>What</th><th>Who</th><th></th></tr>"
        f"{timeline}</table>{_TICKET_SCRIPT}")
    return _page(f"Ticket {t.id}", body)


def setup_ticket_pages(app: web.Application) -> None:
    app.router.add_get("/tickets", tickets_page)
    app.router.add_get("/tickets/{id}", ticket_page)
