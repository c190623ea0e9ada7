"""The one gate every request passes before a handler: header sanity, where a write comes from
and what it is written in (docs/api.md). Who is asking, and what their role may do, is decided
next, by :mod:`collector.auth.middleware`.

In order, :func:`request_guard` answers with a JSON 4xx instead of calling the handler when:

1. a header it reads (``Authorization``, ``Host``, ``Origin``, ``Sec-Fetch-Site``,
   ``Content-Type``) holds a non-ASCII or control character, or a route variable named ``id``
   or ``*_id`` is not a positive 64-bit integer in ASCII digits: 400;
2. a state-changing request (POST, PUT, PATCH, DELETE) names a host that is not ours in ``Host``
   (DNS rebinding), or comes from another origin (``Origin`` not this ``scheme://host:port``, or
   ``Sec-Fetch-Site`` other than ``same-origin``/``none``): 403. A request without ``Origin`` (the
   CLI, curl, scripts) passes when its ``Host`` is ours;
3. a POST, PUT or PATCH under ``/api/`` (or a DELETE with a body) is not ``application/json``: 415.
   A browser cannot send that type across origins without a CORS preflight, which we never grant;
:func:`read_json_object` is how a handler reads a JSON body: strict UTF-8, bounded nesting.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from collector.keys import CONFIG

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Who is asking (a name for the timeline), or None when the request carries none of its kind of
# credentials or wrong ones; the gate asks the next one and answers 401 when none knows.

WRITE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_TYPES: Final = frozenset({"application/json"})
MAX_JSON_DEPTH: Final = 32
# aiohttp's default client_max_size (1 MiB) stays: no route takes more, and 413 is JSON.
_CHECKED_HEADERS: Final = ("Authorization", "Host", "Origin", "Sec-Fetch-Site", "Content-Type")
_SAFE_HEADER = re.compile(r"[\x20-\x7e\t]*")
_SAME_SITE_OK: Final = frozenset({"same-origin", "none"})  # "none": typed, bookmarked
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.", "127.0.0.1", "::1"})
_WILDCARDS: Final = frozenset({"0.0.0.0", "::", ""})
_ID = re.compile(r"[0-9]{1,19}")  # ASCII digits only ("²".isdigit() is true)
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class BadJson(ValueError):
    """A request body that is not a JSON object we accept (the message says why)."""


def refuse(status: int, message: str, **extra: Any) -> web.Response:
    """The one shape of every refusal: ``{"error": message, ...}``."""
    return web.json_response({"error": message, **extra}, status=status)


def _split_host(value: str) -> tuple[str, int | None]:
    """``host[:port]`` (IPv6 in brackets) as (lower-case host, port or None)."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    return host, int(port) if port.isdigit() and len(port) <= 5 else None


def _our_names(request: web.Request) -> frozenset[str]:
    """Host names this collector answers to: ``collector.listen``'s host (unless a wildcard),
    ``collector.allowed_hosts``, the address the client connected to (a bare IP cannot be
    rebound), this machine's host name, and the loopback names when that address is loopback.

    Computed once per (settings, local address) by :func:`_names_for`: a request only looks
    them up (the host name, the set and the address parse cost more than the rest of the
    gate)."""
    settings = request.app[CONFIG].collector
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport else None
    local = str(sockname[0]).lower() if isinstance(sockname, tuple) and sockname else None
    return _names_for(settings.listen_host, settings.allowed_hosts, local)


@functools.lru_cache(maxsize=64)  # one entry per listening address (and config) in practice
def _names_for(listen_host: str, allowed_hosts: tuple[str, ...], local: str | None
               ) -> frozenset[str]:
    """:func:`_our_names` for one listening setup; ``socket.gethostname()`` is read when an
    entry is made, so a host renamed while the collector runs keeps its old name here until
    restart (or until the entry is evicted)."""
    names = set(_allowed(allowed_hosts))
    if listen_host not in _WILDCARDS:
        names.add(listen_host.lower())
    names.add(socket.gethostname().lower())
    if local is not None:
        names.add(local)
        try:
            if ipaddress.ip_address(local.split("%")[0]).is_loopback:
                names |= _LOOPBACK_NAMES
        except ValueError:
            pass
    return frozenset(names)


def settings_hosts(request: web.Request) -> frozenset[str]:
    """``collector.allowed_hosts``, lower case, without a trailing dot."""
    return _allowed(request.app[CONFIG].collector.allowed_hosts)


@functools.lru_cache(maxsize=16)
def _allowed(allowed_hosts: tuple[str, ...]) -> frozenset[str]:
    return frozenset(h.lower().rstrip(".") for h in allowed_hosts)


def _where_from(request: web.Request) -> str | None:
    """Why this state-changing request is refused as coming from elsewhere, or None."""
    host_header = request.headers.get("Host", "")
    host, port = _split_host(host_header)
    if not host or host.rstrip(".") not in _our_names(request):
        return (f"Host {host_header[:100]!r} is not this collector (add the name to "
                "collector.allowed_hosts if it is)")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site.lower() not in _SAME_SITE_OK:
        return f"cross-site request refused (Sec-Fetch-Site: {fetch_site[:40]})"
    origin = request.headers.get("Origin")
    if origin is not None:
        scheme, sep, rest = origin.strip().lower().partition("://")
        o_host, o_port = _split_host(rest) if sep and "/" not in rest else ("", None)
        ports = {"http": 80, "https": 443}
        ours = (request.scheme, host, port or ports.get(request.scheme))
        same = (scheme, o_host, o_port or ports.get(scheme)) == ours
        # behind a reverse proxy (TLS, another port) a name the operator listed is enough
        proxied = o_host == host and host.rstrip(".") in settings_hosts(request)
        if not (same or proxied) or scheme not in ports:
            return f"cross-origin request refused (Origin {origin[:100]!r})"
    return None


def _is_json(request: web.Request) -> bool:
    return request.content_type in JSON_TYPES and request.charset in (None, "utf-8")


@web.middleware
async def request_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Steps 1-3 of the module docstring; the handler runs only when all pass."""
    for name in _CHECKED_HEADERS:
        for value in request.headers.getall(name, ()):
            if not _SAFE_HEADER.fullmatch(value):
                return refuse(400, f"header {name} holds a non-ASCII or control character")
    for name, value in request.match_info.items():
        if (name == "id" or name.endswith("_id")) and not (
                _ID.fullmatch(value) and 0 < int(value) < 2**63):
            return refuse(400, f"{name} must be a positive integer below 2^63, not {value[:40]!r}")
    writing = request.method in WRITE_METHODS
    if writing and (why := _where_from(request)) is not None:
        return refuse(403, why)
    if (request.path.startswith("/api/") and writing and
            (request.method != "DELETE" or request.body_exists) and not _is_json(request)):
        got = request.headers.get("Content-Type", "none")
        return refuse(415, f"send the body as Content-Type: application/json (got {got[:80]})")
    return await handler(request)


def _depth(raw: str) -> int:
    """The deepest nesting of arrays/objects in JSON text (strings skipped)."""
    depth = deepest = 0
    for match in _STRING_OR_BRACKET.finditer(raw):
        bracket = match[0]
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif bracket in "]}":
            depth -= 1
    return deepest


async def read_json_object(request: web.Request, *, max_depth: int = MAX_JSON_DEPTH
                           ) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}``).

    Raises :class:`BadJson` for a body that is not UTF-8, not JSON, nested deeper than
    ``max_depth`` or not an object; aiohttp's 413 (``web.HTTPRequestEntityTooLarge``) for one
    over ``client_max_size``."""
    body = await request.read()
    try:
        raw = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadJson(f"request body is not valid UTF-8 (byte {err.start})") from None
    if not raw.strip():
        return {}
    if _depth(raw) > max_depth:
        raise BadJson(f"request body is not valid JSON: nested deeper than {max_depth} levels")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise BadJson(f"request body is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise BadJson("request body must be a JSON object")
    return data
