"""The ticket pages: the queue and one ticket's facts, actions and timeline."""

from __future__ import annotations

import html
import time

from aiohttp import web

from collector.keys import STORE
from collector.tickets.store import TicketError, TicketQuery
from collector.web.shell import ago, page

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
            f"<td class='muted'>{ago(t.created_at)}"
            f"{f' · {t.recurrences}× again' if t.recurrences else ''}</td></tr>")
    body = (f"<h2>Tickets</h2><p>{links} — {total} ticket(s)</p><table><tr><th>#</th>"
            f"<th>Severity</th><th>Kind</th><th>Device</th><th>What</th><th>State</th>"
            f"<th>Assignee</th><th>Opened</th></tr>{''.join(rows)}</table>")
    return page("Tickets", body)


def _clock(t: object) -> str:
    if not isinstance(t, int | float):
        return "?"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


async def ticket_page(request: web.Request) -> web.Response:
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
    return page(f"Ticket {t.id}", body)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/tickets", tickets_page)
    app.router.add_get("/tickets/{id}", ticket_page)
