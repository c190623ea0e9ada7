"""``/api/v1/tickets``: the queue over HTTP (its pages are :mod:`collector.tickets.pages`).

Every error is JSON ``{"error": "..."}`` with a 4xx status: 400 bad input (JSON, unknown field,
unknown state/kind/severity, bad paging), 404 unknown ticket, 409 an illegal transition or a
second unresolved ticket for the same key. Content type and where a write comes from (400, 403,
415) are checked first by :mod:`collector.web.middleware`; who may call what by
:mod:`collector.auth.middleware` (401/403 before a handler runs). A change records the logged-in
user, and ``by`` in a body is only heard from a service token (:func:`_by`). The routes are
documented in docs/tickets.md, the error rules in docs/api.md.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiohttp import web

from collector.auth.middleware import principal
from collector.faults.catalogue import catalogue_rows
from collector.keys import CONFIG, NOTIFY, STORE
from collector.tickets.store import (
    KINDS,
    SEVERITIES,
    STATES,
    UNRESOLVED,
    NewTicket,
    StoreError,
    Ticket,
    TicketError,
    TicketQuery,
)
from collector.web.middleware import BadJson, read_json_object

log = logging.getLogger(__name__)

MAX_LIMIT: Final = 500
DEFAULT_LIMIT: Final = 50
_LIST_PARAMS: Final = frozenset({"state", "kind", "severity", "device", "site", "assignee",
                                 "fault_key", "q", "limit", "offset", "order"})
_MAX_TEXT: Final = 10_000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(TicketError):
    status = 400


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def json_errors(handler: Handler) -> Handler:
    """Turn the ticket error tree into JSON 4xx answers."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except TicketError as err:
            return _error(err.status, str(err))
        except StoreError as err:
            log.error("ticket database: %s", err)
            return _error(503, f"ticket database unavailable: {err}")

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


async def _body(request: web.Request, allowed: frozenset[str]) -> dict[str, Any]:
    try:
        data = await read_json_object(request)
    except BadJson as err:
        raise BadRequest(str(err)) from None
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(unknown)} (allowed: "
                         f"{', '.join(sorted(allowed))})")
    return data


def _text(data: Mapping[str, Any], key: str, *, required: bool = False,
          nullable: bool = False) -> str | None:
    if key not in data or (data[key] is None and nullable):
        if required:
            raise BadRequest(f"field {key!r} is required")
        return None
    value = data[key]
    if not isinstance(value, str):
        raise BadRequest(f"field {key!r} must be a string")
    if required and not value.strip():
        raise BadRequest(f"field {key!r} must not be empty")
    if len(value) > _MAX_TEXT:
        raise BadRequest(f"field {key!r} is longer than {_MAX_TEXT} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") is valid JSON, not valid text
        raise BadRequest(f"field {key!r} is not valid Unicode text") from None
    return value


def _by(request: web.Request, data: Mapping[str, Any]) -> str:
    """Who acts: the logged-in user (or the owner of a user's token), whatever ``by`` says. A
    service token (and the legacy shared ``api_token``) may relay a name in ``by`` (an
    integration acting for someone); without one its own name is recorded."""
    who = principal(request)
    given = _text(data, "by")
    if who is not None and who.kind == "user":
        return who.name
    by = (given or (who.name if who is not None else "api")).strip()
    if not by or len(by) > 100:
        raise BadRequest("field 'by' must be 1-100 characters")
    return by


def _choice(value: str | None, allowed: tuple[str, ...], what: str) -> str | None:
    if value is not None and value not in allowed:
        raise BadRequest(f"unknown {what} {value!r} (one of: {', '.join(allowed)})")
    return value


_ID = re.compile(r"[0-9]{1,18}")  # ASCII digits only, and within SQLite's 64-bit integers


def _ticket_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not _ID.fullmatch(raw) or int(raw) < 1:
        raise BadRequest(f"ticket id must be a positive integer, not {raw[:40]!r}")
    return int(raw)


def _int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, not {raw!r}") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}, not {value}")
    return value


def _list_param(request: web.Request, name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    values: list[str] = []
    for raw in request.query.getall(name, []):
        for value in filter(None, (v.strip() for v in raw.split(","))):
            if name == "state" and value == "unresolved":
                values += [s for s in STATES if s in UNRESOLVED]
                continue
            if value not in allowed:
                extra = ", unresolved" if name == "state" else ""
                raise BadRequest(f"unknown {name} {value!r} (one of: {', '.join(allowed)}{extra})")
            values.append(value)
    return tuple(dict.fromkeys(values))


def parse_query(request: web.Request) -> TicketQuery:
    unknown = sorted(set(request.query) - _LIST_PARAMS)
    if unknown:
        raise BadRequest(f"unknown query parameter(s) {', '.join(unknown)} (allowed: "
                         f"{', '.join(sorted(_LIST_PARAMS))})")
    order = request.query.get("order", "newest")
    if order not in {"newest", "oldest"}:
        raise BadRequest(f"order must be newest or oldest, not {order!r}")
    q = request.query
    return TicketQuery(
        states=_list_param(request, "state", STATES),
        kinds=_list_param(request, "kind", KINDS),
        severities=_list_param(request, "severity", SEVERITIES),
        device=q.get("device"), site=q.get("site"), assignee=q.get("assignee"),
        fault_key=q.get("fault_key"), text=q.get("q") or None,
        limit=_int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_int_param(request, "offset", 0, 0, 2**62),
        newest_first=order == "newest",
    )


def _notify(request: web.Request, event: str, ticket: Ticket) -> None:
    notify = request.app.get(NOTIFY)
    if notify is not None:
        notify(event, ticket)


# --- handlers ----------------------------------------------------------------------------------
@json_errors
async def list_tickets(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/tickets: one page, newest first, with the total number of matches."""
    query = parse_query(request)
    tickets, total = await request.app[STORE].find(query)
    return web.json_response({"tickets": [t.to_json() for t in tickets], "total": total,
                              "limit": query.limit, "offset": query.offset})


@json_errors
async def show_ticket(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/tickets/{id}: the ticket and its timeline (``?events=N``: the newest N)."""
    ticket_id = _ticket_id(request)
    limit = _int_param(request, "events", 0, 0, 1_000_000) or None
    unknown = sorted(set(request.query) - {"events"})
    if unknown:
        raise BadRequest(f"unknown query parameter(s) {', '.join(unknown)} (allowed: events)")
    store = request.app[STORE]
    ticket = await store.get(ticket_id)
    events, total = await store.events(ticket_id, limit=limit)
    return web.json_response({"ticket": ticket.to_json(),
                              "events": [e.to_json() for e in events], "events_total": total})


@json_errors
async def create_ticket(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/tickets: open a manual ticket."""
    data = await _body(request, frozenset({"title", "description", "severity", "device", "site",
                                           "assignee", "by"}))
    title = _text(data, "title", required=True) or ""
    severity = _choice(_text(data, "severity"), SEVERITIES, "severity") or "warning"
    device = _text(data, "device", nullable=True)
    site = _text(data, "site", nullable=True)
    if device is not None:
        known = request.app[CONFIG].device(device)
        if known is None:
            raise BadRequest(f"no device {device[:100]!r} in the configuration (a manual "
                             "ticket names a configured device, or none)")
        site = known.site if site is None else site
    new = NewTicket(kind="manual", title=title.strip(), severity=severity, device=device,
                    site=site, description=_text(data, "description", nullable=True) or "",
                    assignee=_text(data, "assignee", nullable=True))
    ticket = await request.app[STORE].create(new, by=_by(request, data), at=time.time())
    _notify(request, "opened", ticket)
    return web.json_response({"ticket": ticket.to_json()}, status=201,
                             headers={"Location": f"/api/v1/tickets/{ticket.id}"})


@json_errors
async def change_ticket(request: web.Request) -> web.StreamResponse:
    """PATCH /api/v1/tickets/{id}: ``state``, ``assignee`` (null unassigns), ``comment``."""
    ticket_id = _ticket_id(request)
    data = await _body(request, frozenset({"state", "assignee", "comment", "by"}))
    if not {"state", "assignee", "comment"} & set(data):
        raise BadRequest("nothing to change: give state, assignee and/or comment")
    state = _choice(_text(data, "state"), STATES, "state")
    assignee = _text(data, "assignee", nullable=True)
    comment = _text(data, "comment")
    store = request.app[STORE]
    before = await store.get(ticket_id)
    after = await store.change(ticket_id, by=_by(request, data), at=time.time(), state=state,
                               assignee=assignee.strip() if assignee is not None else None,
                               unassign="assignee" in data and data["assignee"] is None,
                               comment=comment)
    if before.state != after.state:
        if after.state == "resolved":
            _notify(request, "resolved", after)
        elif before.state == "resolved" and after.state in UNRESOLVED:
            _notify(request, "reopened", after)
    return web.json_response({"ticket": after.to_json()})


@json_errors
async def add_comment(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/tickets/{id}/comments: ``{"text": ..., "by": ...}``."""
    ticket_id = _ticket_id(request)
    data = await _body(request, frozenset({"text", "by"}))
    text = _text(data, "text", required=True) or ""
    event = await request.app[STORE].comment(ticket_id, text, by=_by(request, data),
                                             at=time.time())
    return web.json_response({"event": event.to_json()}, status=201)


async def catalogue(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/faults: the fault catalogue (code, severity, title, source, kind)."""
    return web.json_response({"faults": [
        {"code": s.code, "severity": s.severity, "title": s.title, "source": s.source,
         "kind": s.kind} for s in catalogue_rows()]})


async def fallback(request: web.Request) -> web.StreamResponse:
    """Unknown method on a ticket route: JSON instead of aiohttp's plain text."""
    return _error(405, f"{request.method} is not allowed here")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/tickets", list_tickets)
    r.add_post("/api/v1/tickets", create_ticket)
    r.add_route("*", "/api/v1/tickets", fallback)
    r.add_get("/api/v1/tickets/{id}", show_ticket)
    r.add_patch("/api/v1/tickets/{id}", change_ticket)
    r.add_route("*", "/api/v1/tickets/{id}", fallback)
    r.add_post("/api/v1/tickets/{id}/comments", add_comment)
    r.add_route("*", "/api/v1/tickets/{id}/comments", fallback)
    r.add_get("/api/v1/faults", catalogue)

