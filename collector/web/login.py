"""The login and logout pages, and the account API (``/api/v1/whoami``, ``/api/v1/users``).

A login form carries a double-submit token (cookie ``fw_login`` = form field ``login_csrf``), so
that a foreign page cannot log a browser into an account of its choosing. Failed logins are
counted per user name and per client address (:class:`collector.auth.ratelimit.LoginLimiter`);
over the limit the answer is 429 with ``Retry-After``, and the password is not even checked.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import secrets
from typing import Final

from aiohttp import web

from collector.auth.middleware import SESSION_COOKIE, principal
from collector.auth.ratelimit import LoginLimiter
from collector.keys import ACCOUNTS, AUTH
from collector.web.templating import render

log = logging.getLogger(__name__)

LOGIN_COOKIE: Final = "fw_login"
LIMITER = web.AppKey("login_limiter", LoginLimiter)


def _https(request: web.Request) -> bool:
    settings = request.app[AUTH]
    if settings.secure_cookie != "auto":
        return settings.secure_cookie == "always"
    if request.secure:
        return True
    return (_from_proxy(request)
            and request.headers.get("X-Forwarded-Proto", "").lower() == "https")


def _from_proxy(request: web.Request) -> bool:
    return request.remote is not None and request.remote in request.app[AUTH].trusted_proxies


def client_address(request: web.Request) -> str:
    """The client's address: the last hop of X-Forwarded-For when a trusted proxy sent it."""
    if _from_proxy(request):
        hop = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(hop))
        except ValueError:
            pass
    return request.remote or "?"


def _safe_next(target: str) -> str:
    """Only a path of this site (no ``//host`` or ``/\\host``, which browsers read as hosts)."""
    if target.startswith("/") and not target.startswith(("//", "/\\")) and "\n" not in target:
        return target
    return "/"


def _form(request: web.Request, *, error: str = "", username: str = "", next_: str = "/",
          status: int = 200) -> web.Response:
    token = secrets.token_urlsafe(24)
    response = render("login.html", request, {"title": "Log in", "error": error,
                                             "username": username, "next": next_,
                                             "login_csrf": token}, status=status)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", path="/login",
                        secure=_https(request), max_age=3600)
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    return _form(request, next_=_safe_next(request.query.get("next", "/")))


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", ""))[:200].strip()
    password = str(form.get("password", ""))
    next_ = _safe_next(str(form.get("next", "/")))
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    given = str(form.get("login_csrf", ""))
    if not cookie or not hmac.compare_digest(cookie.encode(), given.encode("utf-8", "replace")):
        return _form(request, error="The login form expired: please try again.",
                     username=username, next_=next_, status=403)
    limiter = request.app[LIMITER]
    keys = (f"user:{username.lower()}", f"addr:{client_address(request)}")
    wait = limiter.retry_after(*keys)
    if wait > 0:
        response = _form(request, error=f"Too many failed logins: wait {math.ceil(wait)} s.",
                         username=username, next_=next_, status=429)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    user = await request.app[ACCOUNTS].verify_password(username, password)
    if user is None:
        limiter.failed(*keys)
        log.info("failed login for %r from %s", username, client_address(request))
        return _form(request, error="Wrong user name or password.", username=username,
                     next_=next_, status=401)
    limiter.succeeded(keys[0])
    hours = request.app[AUTH].session_hours
    sid, _, _ = await request.app[ACCOUNTS].new_session(user.name, hours)
    log.info("%s logged in from %s", user.name, client_address(request))
    response = web.Response(status=303, headers={"Location": next_})
    response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="Lax", path="/",
                        secure=_https(request), max_age=int(hours * 3600))
    response.del_cookie(LOGIN_COOKIE, path="/login")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    """Ends the caller's session (the middleware has checked its CSRF token)."""
    who = principal(request)
    if who is not None and who.session is not None:
        await request.app[ACCOUNTS].end_session(who.session)
    response = web.Response(status=303, headers={"Location": "/login"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def whoami(request: web.Request) -> web.StreamResponse:
    who = principal(request)
    assert who is not None  # "self" needs a login (collector.auth.roles)
    return web.json_response({"name": who.name, "role": who.role, "kind": who.kind,
                              "via": who.via})


async def users_api(request: web.Request) -> web.StreamResponse:
    users = await request.app[ACCOUNTS].users()
    return web.json_response({"users": [{"name": u.name, "role": u.role,
                                         "created_at": u.created_at} for u in users]})


def add_routes(app: web.Application) -> None:
    settings = app[AUTH]
    app[LIMITER] = LoginLimiter(settings.login_attempts, settings.login_window)
    app.router.add_get("/login", login_page, name="login")
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
    app.router.add_get("/api/v1/whoami", whoami)
    app.router.add_get("/api/v1/users", users_api)
