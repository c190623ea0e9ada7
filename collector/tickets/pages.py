"""The ticket pages: the queue and one ticket's facts, actions and timeline (templates
``tickets.html`` and ``ticket.html``; the buttons' script is ``static/ticket.js``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup

from collector.auth.middleware import principal
from collector.auth.roles import allowed
from collector.keys import AUTH, STORE
from collector.tickets.store import Event, Ticket, TicketError, TicketQuery
from collector.web.templating import ago, clock, render

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
    active: list[Ticket] = []
    cleared: list[Ticket] = []
    for t in ranked:
        (active if needs_work(t) else cleared).append(t)
    return active, cleared


_ROW: Final = ("id", "severity", "kind", "device", "title", "description", "state", "fault_key",
                "fault_active", "assignee", "opened", "recurrences")


def _row_key(t: Ticket) -> tuple[Any, ...]:
    """The values of :func:`ticket_row`, in ``_ROW`` order (a tuple: half a dict's cost)."""
    return (t.id, t.severity, t.kind, t.device, t.title, t.description, t.state, t.fault_key,
            t.fault_active, t.assignee, ago(t.created_at), t.recurrences)


def ticket_row(t: Ticket) -> dict[str, Any]:
    """What a row of the ticket list shows (the ``ticket_row`` macro's data), its "Opened" text
    as of now included."""
    return dict(zip(_ROW, _row_key(t), strict=True))


@dataclass(slots=True)
class _Kept:
    key: tuple[Any, ...]
    html: Markup


class TicketRows:
    """The ticket list's rows, each rendered once per change instead of once per request.

    A row is rendered by the ``ticket_row`` macro of ``macros.html`` (autoescaped like any
    template) and kept under the ticket's id with the row data it was rendered from. Every
    request builds each shown ticket's row data again (about 1 µs: the tickets are read from
    the store per request) and renders only a row that reads differently from the kept one.
    The key is what the row shows, not ``updated_at``: the store moves ``updated_at`` only with
    an event, and some changes have none (a closed ticket's fault clearing), nor can two
    changes at the same ``at`` be told apart by it. The "Opened" text ages, so it is part of
    the data (a row is rendered again when it goes from "59m ago" to "1h ago"). At most
    ``KEPT`` rows are kept; beyond that only the rows of the current request stay.
    """

    KEPT: Final = 4 * LIST_LIMIT

    def __init__(self) -> None:
        self._rows: dict[int, _Kept] = {}
        self.rendered = 0  # rows rendered since start (tests, bench)

    def shown(self, tickets: list[Ticket],
              render: Callable[[dict[str, Any]], Markup]) -> list[Markup]:
        """Each ticket's row as HTML, in the order given; ``render`` is the macro. Pass every
        ticket of the page in one call: past ``KEPT`` rows, only this call's stay."""
        out = []
        rows = self._rows
        for t in tickets:
            key = _row_key(t)
            kept = rows.get(t.id)
            if kept is None or kept.key != key:
                kept = rows[t.id] = _Kept(key, render(dict(zip(_ROW, key, strict=True))))
                self.rendered += 1
            out.append(kept.html)
        if len(rows) > self.KEPT:
            ids = {t.id for t in tickets}
            self._rows = {i: k for i, k in rows.items() if i in ids}
        return out


# the ticket list's kept rows; set by add_routes (tickets_page is their one user)
TICKET_ROWS: Final = web.AppKey("ticket_rows", TicketRows)


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
    macros = aiohttp_jinja2.get_env(request.app).get_template("macros.html").module
    row_macro: Callable[[dict[str, Any]], Markup] = macros.ticket_row  # type: ignore[attr-defined]
    shown = request.app[TICKET_ROWS].shown(active + cleared, row_macro)  # one call: see shown
    return render("tickets.html", request, {
        "title": "Tickets", "show": show, "shows": list(SHOWS), "total": total,
        "active": shown[:len(active)], "cleared": shown[len(active):], "limit": LIST_LIMIT})


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
    app[TICKET_ROWS] = TicketRows()
    app.router.add_get("/tickets", tickets_page)
    app.router.add_get("/tickets/{id}", ticket_page)
