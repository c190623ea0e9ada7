"""Jinja2 pages through aiohttp-jinja2: the one template environment, the security headers of
every HTML answer, and the static files. Templates live in ``collector/web/templates`` (one
base layout, ``base.html``), static files in ``collector/web/static``; both ship in the package.

Autoescaping is on for every template: device strings are untrusted (an SNMP sysDescr can hold
``<script>``), and nothing builds HTML in Python. The Content-Security-Policy allows scripts and
styles from this origin only, so no inline script or style attribute runs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Final

import aiohttp_jinja2
import jinja2
from aiohttp import web

from collector.auth.middleware import principal

STATIC_DIR: Final = Path(__file__).parent / "static"
CSP: Final = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def ago(t: float | None) -> str:
    if t is None:
        return "never"
    seconds = max(0, int(time.time() - t))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def clock(t: object, seconds: bool = False) -> str:
    if not isinstance(t, int | float):
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M", time.localtime(t))


LIVE_PAGES: Final = {"/": 15, "/tickets": 30}  # seconds between live updates (live.js)


def refresh_seconds(request: web.Request) -> int | None:
    """How often a live page updates itself: its default, or ``?refresh=N`` (2-300 s)."""
    default = LIVE_PAGES.get(request.path)
    if default is None:
        return None
    try:
        return min(max(int(request.query.get("refresh", default)), 2), 300)
    except ValueError:
        return default


async def _context(request: web.Request) -> dict[str, Any]:
    who = principal(request)
    return {"who": who, "csrf": who.csrf if who is not None else None,
            "path": request.path, "refresh": refresh_seconds(request)}


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if response.content_type == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")


def setup(app: web.Application) -> None:
    """The template environment, the headers hook and the ``/static`` route."""
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.PackageLoader("collector.web", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, context_processors=[_context])
    env.filters["ago"] = ago
    env.filters["clock"] = clock
    app.on_response_prepare.append(_security_headers)
    app.router.add_static("/static", STATIC_DIR, name="static")


def render(template: str, request: web.Request, context: dict[str, Any],
           status: int = 200) -> web.Response:
    return aiohttp_jinja2.render_template(template, request, context, status=status)
