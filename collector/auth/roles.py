"""The one role matrix, and the table that gives every route the permission it needs.

:mod:`collector.auth.middleware` is the only place that reads these, for pages and API alike.
A route that is missing from :data:`ROUTES` is refused (500, logged) rather than served: a new
page or API route must be given its permission here (a test walks the app's router for that).
"""

from __future__ import annotations

from typing import Final, Literal

Role = Literal["viewer", "technician", "admin"]
ROLES: Final[tuple[Role, ...]] = ("viewer", "technician", "admin")

# public: anyone, logged in or not (the login page, static files).
# read: pages and read API; anyone when AuthSettings.public_read, else any role.
# self: the caller's own account (whoami); needs a login even with public_read.
# tickets.write: open, change and comment tickets.
# stock.write: the stock on the shelf (supplies).
# agents.manage: revoke a workstation agent, or allow a revoked host to enroll again.
# users.manage: accounts and tokens of others.
Permission = Literal["public", "read", "self", "tickets.write", "stock.write", "agents.manage",
                     "users.manage"]

MATRIX: Final[dict[Role, frozenset[Permission]]] = {
    "viewer": frozenset({"read", "self"}),
    "technician": frozenset({"read", "self", "tickets.write", "stock.write", "agents.manage"}),
    "admin": frozenset({"read", "self", "tickets.write", "stock.write", "agents.manage",
                        "users.manage"}),
}

# (method, canonical route path) → permission. "*" is aiohttp's any-method route (the ticket
# API's JSON 405 answers), which changes nothing.
ROUTES: Final[dict[tuple[str, str], Permission]] = {
    ("GET", "/login"): "public",
    ("POST", "/login"): "public",
    ("POST", "/logout"): "public",  # ends the caller's own session, if any (CSRF-checked)
    ("GET", "/static"): "public",
    ("GET", "/"): "read",
    ("GET", "/devices/{name}"): "read",
    ("GET", "/tickets"): "read",
    ("GET", "/tickets/{id}"): "read",
    ("GET", "/api/v1/devices"): "read",
    ("GET", "/api/v1/devices/{name}"): "read",
    ("GET", "/api/v1/health"): "read",
    ("GET", "/api/v1/faults"): "read",
    ("GET", "/api/v1/tickets"): "read",
    ("GET", "/api/v1/tickets/{id}"): "read",
    ("*", "/api/v1/tickets"): "read",
    ("*", "/api/v1/tickets/{id}"): "read",
    ("*", "/api/v1/tickets/{id}/comments"): "read",
    ("POST", "/api/v1/tickets"): "tickets.write",
    ("PATCH", "/api/v1/tickets/{id}"): "tickets.write",
    ("POST", "/api/v1/tickets/{id}/comments"): "tickets.write",
    ("GET", "/assets"): "read",
    ("GET", "/assets.csv"): "read",
    ("GET", "/api/v1/assets"): "read",
    ("GET", "/uptime"): "read",
    ("GET", "/uptime.csv"): "read",
    ("GET", "/api/v1/uptime"): "read",
    ("GET", "/api/v1/uptime/incidents"): "read",
    ("GET", "/supplies"): "read",
    ("GET", "/supplies.csv"): "read",
    ("GET", "/supplies/pages.csv"): "read",
    ("GET", "/api/v1/supplies"): "read",
    ("GET", "/api/v1/supplies/stock"): "read",
    ("POST", "/api/v1/supplies/stock"): "stock.write",
    ("GET", "/api/v1/supplies/replacements"): "read",
    ("GET", "/api/v1/supplies/pages"): "read",
    # agents authenticate themselves: the enrollment secret, then their own token (ingest)
    ("POST", "/api/v1/agents/enroll"): "public",
    ("POST", "/api/v1/agents/reports"): "public",
    ("GET", "/api/v1/agents"): "read",
    ("GET", "/api/v1/agents/{agent}"): "read",
    ("POST", "/api/v1/agents/{agent}/revoke"): "agents.manage",
    ("GET", "/api/v1/events"): "read",  # live updates (collector/web/events.py)
    ("POST", "/api/v1/agents/allow"): "agents.manage",  # a revoked host may enroll again
    ("GET", "/api/v1/whoami"): "self",
    ("GET", "/api/v1/users"): "users.manage",
}


def allowed(role: Role, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission`` (``public`` is everyone's)."""
    return permission == "public" or permission in MATRIX[role]


def permission_for(method: str, path: str) -> Permission | None:
    """The permission of a route; HEAD is GET's. None when the route is not in the table."""
    if method == "HEAD":
        method = "GET"
    return ROUTES.get((method, path))
