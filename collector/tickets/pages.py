"""The ticket pages: the queue and one ticket's facts, actions and timeline (templates
``tickets.html`` and ``ticket.html``; the buttons' script is ``static/ticket.js``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from collector.auth.middleware import principal
from collector.auth.roles import allowed
from collector.keys import AUTH, STORE
from collector.tickets.store import Event, Ticket, TicketError, TicketQuery
from collector.web.templating import clock, render

_NEXT_STATES: Final = {"open": ("acknowledged", "in_progress", "resolved"),
                       "acknowledged": ("in_progress", "resolved"), "in_progress": ("resolved",),
                       "resolved": ("closed", "open"), "closed": ()}
TIMELINE_LIMIT: Final = 500  # a flapping fault can have thousands of events
LIST_LIMIT: Final = 500
_SEVERITY_RANK: Final = {"critical": 0, "warning": 1, "info": 2}
SHOWS: Final = {"unresolved": ("open", "acknowledged", "in_progress"),
                "resolved": ("resolved",), "closed": ("closed",), "all": ()}


def describe(kind: str, text: str, data: Mapping[str, Any]) -> str:
    """The timeline line of an event: its text, or what its data says when it has none (a
    state change or an unassignment carries no text)."""
    if kind == "state":
        change = f"{data.get('from', '?')} → {data.get('to', '?')}".replace("_", " ")
        return f"{change}: {text}" if text else change
    if kind == "assigned" and not text:
        was = data.get("from")
        return f"unassigned (was {was})" if was else "unassigned"
    if kind == "assigned" and data.get("from"):
        return f"{text} (was {data['from']})"
    return text


def _event_row(e: Event) -> dict[str, Any]:
    return {"at": e.at, "kind": e.kind, "by": e.by, "text": describe(e.kind, e.text, e.data)}


def needs_work(t: Ticket) -> bool:
    """False for a fault ticket whose fault has cleared (it waits only to be closed)."""
    return not t.fault_key or t.fault_active


def triage(tickets: list[Ticket]) -> tuple[list[Ticket], list[Ticket]]:
    """(needing work, fault already cleared), each by severity (worst first) then age (oldest
    first: the longest wait at the top)."""
    ranked = sorted(tickets, key=lambda t: (_SEVERITY_RANK.get(t.severity, 9), t.created_at, t.id))
    return [t for t in ranked if needs_work(t)], [t for t in ranked if not needs_work(t)]


async def tickets_page(request: web.Request) -> web.StreamResponse:
    show = "all" if request.query.get("all") == "1" else request.query.get("show", "unresolved")
    if show not in SHOWS:
        show = "unresolved"
    tickets, total = await request.app[STORE].find(TicketQuery(states=SHOWS[show],
                                                               limit=LIST_LIMIT))
    if show == "unresolved":
        active, cleared = triage(tickets)
    else:
        active, cleared = tickets, []
    return render("tickets.html", request, {
        "title": "Tickets", "show": show, "shows": list(SHOWS), "total": total,
        "active": active, "cleared": cleared, "limit": LIST_LIMIT})


async def ticket_page(request: web.Request) -> web.StreamResponse:
    try:
        ticket_id = int(request.match_info["id"])
        store = request.app[STORE]
        t = await store.get(ticket_id)
        events, total = await store.events(ticket_id, limit=TIMELINE_LIMIT)
    except (ValueError, TicketError) as err:
        raise web.HTTPNotFound(text="no such ticket") from err
    facts: list[tuple[str, str | None]] = [
        ("State", t.state), ("Severity", t.severity), ("Kind", t.kind), ("Site", t.site),
        ("Assignee", t.assignee), ("Part number", t.part_number), ("Fault", t.fault_key),
        ("Fault now", None if not t.fault_key else "present" if t.fault_active else "cleared"),
        ("Recurrences", str(t.recurrences) if t.recurrences else None)]
    facts += [(k.replace("_", " ").capitalize(), str(v)) for k, v in t.details.items()
              if k in {"parent", "suppressed", "window", "metric", "value"}]
    held = t.details.get("held")
    if isinstance(held, dict):  # a maintenance window or business hours held it back
        facts.append(("Held back", f"{held.get('reason', '?')} (from {clock(held.get('since'))}"
                                   f" to {clock(held.get('until'))})"))
    dependents = t.details.get("dependents")
    if isinstance(dependents, list) and dependents:
        facts.append(("Also down behind it", ", ".join(str(d) for d in dependents)))
    who = principal(request)
    can_act = who is not None and allowed(who.role, "tickets.write")
    return render("ticket.html", request, {
        "title": f"Ticket {t.id}", "t": t, "facts": [(k, v) for k, v in facts if v],
        "next_states": _NEXT_STATES.get(t.state, ()), "events": [_event_row(e) for e in events],
        "events_total": total, "can_act": can_act,
        "public_read": request.app[AUTH].public_read})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/tickets", tickets_page)
    app.router.add_get("/tickets/{id}", ticket_page)
