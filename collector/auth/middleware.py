"""The one place where the role matrix is enforced, for pages and API alike.

For every request the middleware finds the route's permission in
:data:`collector.auth.roles.ROUTES`, works out who is asking (a session cookie, or
``Authorization: Bearer`` with a user's or a service's token, or the legacy shared
``collector.api_token``), and then:

- refuses a route missing from the table (500, logged: a programming error, never served);
- lets ``public`` routes through, and ``read`` routes when ``AuthSettings.public_read``;
- otherwise answers 401 to nobody (a page GET is sent to ``/login?next=...`` instead) and 403
  to a role without the permission;
- refuses (403) a state-changing request authenticated by the session cookie unless it carries
  the session's CSRF token (header ``X-CSRF-Token`` or form field ``csrf``). Requests with a
  bearer token need none: a foreign page cannot make a browser send that header.

Handlers find the caller with :func:`principal`.
"""

from __future__ import annotations

import base64
import hmac
import logging
from typing import Any, Final

from aiohttp import web

from collector.auth.roles import Permission, allowed, permission_for
from collector.auth.store import Principal
from collector.keys import ACCOUNTS, AUTH, LEGACY_TOKEN

log = logging.getLogger(__name__)

SESSION_COOKIE: Final = "fw_session"
CSRF_HEADER: Final = "X-CSRF-Token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_PRINCIPAL: Final = web.RequestKey("principal", Principal)

def principal(request: web.Request) -> Principal | None:
    """Who the request acts as (None: nobody logged in), as the middleware found it."""
    return request.get(_PRINCIPAL)


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def _refuse(request: web.Request, status: int, message: str) -> web.StreamResponse:
    if is_api(request) or request.method not in SAFE_METHODS:
        headers = {"WWW-Authenticate": 'Bearer realm="fleetwatch"'} if status == 401 else None
        return web.json_response({"error": message}, status=status, headers=headers)
    if status == 401:
        raise web.HTTPSeeOther(request.app.router["login"].url_for().with_query(
            next=request.path_qs))
    return web.Response(status=status, text=message)


async def _identify(request: web.Request, public: bool = False) -> Principal | None:
    """Raises HTTPUnauthorized (JSON) for a bearer token that is not valid, unless the route
    is ``public``: there it is None (nobody), without building the exception, since a public
    route's own credentials (an agent's token on the report route) are not a user's."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, given = header.partition(" ")
        given = given.strip()
        legacy = request.app.get(LEGACY_TOKEN)
        if scheme.lower() == "basic" and given and legacy:
            # a browser's login prompt: any user name, the shared api_token as the password
            try:
                _, _, password = base64.b64decode(given, validate=True).decode(
                    "utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                password = ""
            if hmac.compare_digest(password.encode("utf-8", "surrogatepass"), legacy.encode()):
                return Principal("api", "technician", "legacy", "token")
        if scheme.lower() == "bearer" and given:
            if legacy and hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                                              legacy.encode()):
                return Principal("api", "technician", "legacy", "token")
            found = await request.app[ACCOUNTS].check_token(given)
            if found is not None:
                return found
        if public:
            return None
        raise web.HTTPUnauthorized(
            text='{"error": "wrong credentials: this bearer token is not valid '
                 '(Authorization: Bearer <token>)"}',
            content_type="application/json",
            headers={"WWW-Authenticate": 'Bearer realm="fleetwatch", error="invalid_token"'})
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        return await request.app[ACCOUNTS].session(sid)
    return None


async def _csrf_ok(request: web.Request, who: Principal) -> bool:
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.content_type in {"application/x-www-form-urlencoded",
                                                  "multipart/form-data"}:
        field = (await request.post()).get("csrf")
        given = field if isinstance(field, str) else None
    return (given is not None and who.csrf is not None
            and hmac.compare_digest(given.encode("utf-8", "surrogatepass"), who.csrf.encode()))


@web.middleware
async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    route = request.match_info.route
    if route.resource is None:  # aiohttp's own 404/405: nothing to protect
        result: web.StreamResponse = await handler(request)
        return result
    needed: Permission | None = permission_for(route.method, route.resource.canonical)
    if needed is None:
        log.error("route %s %s has no permission in collector.auth.roles.ROUTES: refused",
                  route.method, route.resource.canonical)
        return web.json_response({"error": "route without a permission (logged)"}, status=500)
    who = await _identify(request, needed == "public")
    if who is not None:
        request[_PRINCIPAL] = who
    if (who is not None and who.via == "session" and request.method not in SAFE_METHODS
            and not await _csrf_ok(request, who)):
        return web.json_response({"error": "missing or wrong CSRF token: reload the page "
                                      "and try again"}, status=403)
    settings = request.app[AUTH]
    if needed == "public" or (needed == "read" and settings.public_read):
        result = await handler(request)
        return result
    if who is None:
        return _refuse(request, 401, "missing credentials: log in at /login or give a bearer "
                       "token (Authorization: Bearer <token>)")
    if not allowed(who.role, needed):
        return _refuse(request, 403, f"{who.role} {who.name!r} may not do this "
                       f"(needs {needed})")
    result = await handler(request)
    return result
