"""``fleetwatch tickets list|show|ack|start|assign|comment|resolve|close|reopen|create``: work
the ticket queue of a running collector over its REST API.

The collector is found at ``--url`` (default ``$FLEETWATCH_URL`` or http://127.0.0.1:8730). Give
an API token (``fleetwatch users token add NAME --user USER``, or the collector's shared
``api_token``) as ``$FLEETWATCH_API_TOKEN`` or ``--token-file`` (never on the command line, where
``ps`` shows it). With a user's token the collector records that user; ``--by`` (default
``$USER``) is heard only from a service token or the shared one.
Exit codes: 0 done, 2 refused or unreachable (the message says why).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from collector.cli.remote import remote_options
from probes.errors import FleetwatchError
from probes.safetext import json_safe
from probes.safetext import terminal_safe as _s


class TicketsCliError(FleetwatchError):
    """The collector refused a request or could not be reached."""


def register(sub: Any) -> None:
    common = remote_options(by=True)

    p = sub.add_parser("tickets", help="list and work tickets of a running collector",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", required=True)

    a = actions.add_parser("list", parents=[common], help="list tickets (unresolved by default)")
    a.add_argument("--state", action="append", help="open, acknowledged, in_progress, resolved, "
                   "closed or unresolved; repeat or comma-separate")
    a.add_argument("--all", action="store_true", help="every state")
    a.add_argument("--kind", help="fault, reorder or manual")
    a.add_argument("--severity", help="info, warning or critical")
    a.add_argument("--device")
    a.add_argument("--site")
    a.add_argument("--assignee")
    a.add_argument("--search", "-q", help="text in title or description")
    a.add_argument("--limit", type=int, default=50)
    a.add_argument("--offset", type=int, default=0)
    a.add_argument("--oldest-first", action="store_true")

    a = actions.add_parser("show", parents=[common], help="one ticket and its timeline")
    a.add_argument("id", type=int)
    a.add_argument("--events", type=int, default=0, help="only the newest N events")

    for name, state, text in (("ack", "acknowledged", "acknowledge a ticket"),
                              ("start", "in_progress", "mark a ticket in progress"),
                              ("resolve", "resolved", "resolve a ticket"),
                              ("close", "closed", "close a ticket (final)"),
                              ("reopen", "open", "reopen a resolved ticket")):
        a = actions.add_parser(name, parents=[common], help=text)
        a.add_argument("id", type=int)
        a.add_argument("--comment", "-m", help="a comment to add with the change")
        a.set_defaults(state=state)

    a = actions.add_parser("assign", parents=[common], help="assign a ticket ('-' unassigns)")
    a.add_argument("id", type=int)
    a.add_argument("assignee")
    a.add_argument("--comment", "-m")

    a = actions.add_parser("comment", parents=[common], help="add a comment",
                           description="Add a comment: the text as an argument or, as with "
                           "ack and the other changes, after -m.")
    a.add_argument("id", type=int)
    a.add_argument("text", nargs="?")
    a.add_argument("--message", "-m", help="the comment (instead of TEXT)")

    a = actions.add_parser("create", parents=[common], help="open a manual ticket")
    a.add_argument("title")
    a.add_argument("--device")
    a.add_argument("--severity", default="warning", choices=["info", "warning", "critical"])
    a.add_argument("--description", default="")
    a.add_argument("--assignee")
    p.set_defaults(handler=run)


class Client:
    """A tiny synchronous client of /api/v1/tickets."""

    def __init__(self, url: str, token: str | None, timeout: float) -> None:
        if urllib.parse.urlsplit(url).scheme not in {"http", "https"} or "://" not in url:
            raise TicketsCliError(f"--url must start with http:// or https://, not {url!r} "
                                  "(e.g. http://127.0.0.1:8730)")
        self.base = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                query: list[tuple[str, str]] | None = None) -> dict[str, Any]:
        url = self.base + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                result: dict[str, Any] = json.load(resp)
                return result
        except urllib.error.HTTPError as err:
            try:
                message = json.loads(err.read()).get("error") or err.reason
            except (ValueError, AttributeError):
                message = err.reason
            raise TicketsCliError(f"HTTP {err.code}: {message}") from err
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise TicketsCliError(f"cannot reach the collector at {self.base}: {reason}") from err
        except http.client.HTTPException as err:  # not HTTP, or an answer cut short
            raise TicketsCliError(f"{self.base} did not answer like a Fleetwatch collector: "
                                  f"{type(err).__name__} {err}".rstrip()) from err
        except ValueError as err:
            raise TicketsCliError(f"{url} did not answer JSON: {err}") from err


def _token(args: argparse.Namespace) -> str | None:
    if args.token_file is not None:
        try:
            return str(args.token_file.read_text()).strip()
        except OSError as err:
            raise TicketsCliError(f"cannot read token file: {err}") from err
    return os.environ.get("FLEETWATCH_API_TOKEN") or None


def _when(t: float | None) -> str:
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")


def _print_list(data: dict[str, Any]) -> None:
    tickets = data["tickets"]
    if not tickets:
        print("no tickets")
        return
    rows = [("#", "SEVERITY", "STATE", "KIND", "DEVICE", "ASSIGNEE", "OPENED", "TITLE")]
    for t in tickets:
        state = t["state"] + ("" if t["fault_active"] or t["kind"] == "manual" else "*")
        rows.append((str(t["id"]), _s(t["severity"]), _s(state), _s(t["kind"]),
                     _s(t["device"] or "-"), _s(t["assignee"] or "-"), _when(t["created_at"]),
                     _s(t["title"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
    shown = data["offset"] + len(tickets)
    print(f"\n{len(tickets)} shown ({data['offset'] + 1}-{shown} of {data['total']})"
          + ("; * = fault cleared" if any(r[2].endswith("*") for r in rows[1:]) else ""))


def event_text(e: dict[str, Any]) -> str:
    """An event's timeline text; a state change or an unassignment has none of its own (the
    same wording as the ticket page, collector.tickets.pages.describe)."""
    text, data = str(e.get("text") or ""), e.get("data") or {}
    if e["kind"] == "state":
        change = f"{data.get('from', '?')} → {data.get('to', '?')}".replace("_", " ")
        return f"{change}: {text}" if text else change
    if e["kind"] == "assigned" and not text:
        return f"unassigned (was {data['from']})" if data.get("from") else "unassigned"
    if e["kind"] == "assigned" and data.get("from"):
        return f"{text} (was {data['from']})"
    return text


def _print_ticket(data: dict[str, Any]) -> None:
    t = data["ticket"]
    print(f"#{t['id']} {_s(t['title'])}")
    for key in ("state", "severity", "kind", "device", "site", "fault_key", "part_number",
                "assignee", "recurrences", "description"):
        if t.get(key) not in (None, "", 0):
            print(f"  {key.replace('_', ' ')}: {_s(t[key])}")
    if t["fault_key"]:
        print(f"  fault now: {'present' if t['fault_active'] else 'cleared'}")
    print(f"  opened: {_when(t['created_at'])}   updated: {_when(t['updated_at'])}")
    events = data.get("events", [])
    if events:
        total = data.get("events_total", len(events))
        extra = f" (newest {len(events)} of {total})" if total > len(events) else ""
        print(f"timeline{extra}:")
        for e in events:
            print(f"  {_when(e['at'])}  {_s(e['kind']):<9} {_s(e['by']):<12} {_s(event_text(e))}")


def run(args: argparse.Namespace) -> int:
    client = Client(args.url, _token(args), args.timeout)
    action = args.action
    if action == "list":
        query: list[tuple[str, str]] = [("limit", str(args.limit)), ("offset", str(args.offset))]
        if args.state:
            query += [("state", s) for s in args.state]
        elif not args.all:
            query.append(("state", "unresolved"))
        for name in ("kind", "severity", "device", "site", "assignee"):
            if getattr(args, name):
                query.append((name, getattr(args, name)))
        if args.search:
            query.append(("q", args.search))
        if args.oldest_first:
            query.append(("order", "oldest"))
        data = client.request("GET", "/api/v1/tickets", query=query)
        printer = _print_list
    elif action == "show":
        data = client.request("GET", f"/api/v1/tickets/{args.id}",
                              query=[("events", str(args.events))] if args.events else None)
        printer = _print_ticket
    elif action == "comment":
        if (args.text is None) == (args.message is None):
            raise TicketsCliError("give the comment once: as TEXT or after -m/--message")
        client.request("POST", f"/api/v1/tickets/{args.id}/comments",
                       {"text": args.text if args.message is None else args.message,
                        "by": args.by})
        data = client.request("GET", f"/api/v1/tickets/{args.id}")
        printer = _print_ticket
    elif action == "create":
        body = {"title": args.title, "severity": args.severity, "description": args.description,
                "by": args.by}
        if args.device:
            body["device"] = args.device
        if args.assignee:
            body["assignee"] = args.assignee
        data = client.request("POST", "/api/v1/tickets", body)
        printer = _print_ticket
    else:
        change: dict[str, Any] = {"by": args.by}
        if action == "assign":
            change["assignee"] = None if args.assignee == "-" else args.assignee
        else:
            change["state"] = args.state
        if args.comment:
            change["comment"] = args.comment
        data = client.request("PATCH", f"/api/v1/tickets/{args.id}", change)
        printer = _print_ticket
    if args.json:
        print(json_safe(json.dumps(data, ensure_ascii=False, indent=2)))
    else:
        printer(data)
    return 0
