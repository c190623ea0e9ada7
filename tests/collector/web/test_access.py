"""Accounts and the role matrix through the real app over HTTP: login, cookies, CSRF, rate
limit, logout, per-role access to pages and API, tokens for the CLI (issue 13)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from collector.app import build_app
from collector.auth import DB_NAME, AuthSettings
from collector.auth.roles import ROUTES
from collector.auth.store import Accounts
from collector.config import CollectorSettings, Config, DeviceConfig
from collector.demo import free_port
from collector.keys import STORE
from collector.tickets.store import NewTicket
from probes.secret import Secret

PASSWORD = "a long enough password"
ROLES = ("viewer", "technician", "admin")
LEGACY = "legacy-shared-token"


@dataclass
class Site:
    app: web.Application
    url: str
    tokens: dict[str, str]  # role → a user's token secret
    service: str  # a service token (technician)


async def start(tmp_path: Path, auth: AuthSettings) -> tuple[web.AppRunner, Site]:
    state = tmp_path / "state"
    accounts = Accounts.open(state / DB_NAME)
    tokens = {}
    for role in ROLES:
        accounts.add_user(role, role, PASSWORD)
        tokens[role] = accounts.new_token(f"{role}-cli", user=role)[1]
    service = accounts.new_token("bridge", role="technician")[1]
    accounts.close()
    config = Config(path=tmp_path / "c.yaml",
                    collector=CollectorSettings(state_dir=state, api_token=Secret(LEGACY)),
                    devices=(DeviceConfig(name="p1", host="192.0.2.1", site="hq"),))
    app = build_app(config, auth)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await app[STORE].create(NewTicket(kind="manual", title="paper jam", device="p1"),
                            by="reception", at=1.0)
    return runner, Site(app, f"http://127.0.0.1:{port}", tokens, service)


@pytest.fixture()
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    runner, s = await start(tmp_path, AuthSettings(login_attempts=3, trusted_proxies=("127.0.0.1",)))
    try:
        yield s
    finally:
        await runner.cleanup()


def client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def login(http: aiohttp.ClientSession, url: str, user: str, password: str = PASSWORD,
                headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
    async with http.get(f"{url}/login") as r:
        form = await r.text()
    token = re.search(r'name="login_csrf" value="([^"]+)"', form)
    assert token
    async with http.post(f"{url}/login", data={"username": user, "password": password,
                                               "login_csrf": token.group(1), "next": "/tickets"},
                         allow_redirects=False, headers=headers) as r:
        await r.read()
        return r


async def csrf_of(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(f"{url}/tickets/1") as r:
        assert r.status == 200
        found = re.search(r'<meta name="csrf-token" content="([^"]+)">', await r.text())
    assert found
    return found.group(1)


def test_every_route_has_a_permission(tmp_path: Path) -> None:
    config = Config(path=tmp_path / "c.yaml", collector=CollectorSettings(state_dir=tmp_path))
    app = build_app(config)
    missing = {(r.method, r.resource.canonical) for r in app.router.routes()
               if r.resource is not None and r.method != "HEAD"} - set(ROUTES)
    assert missing == set()


async def test_anonymous_is_sent_to_login_or_refused(site: Site) -> None:
    async with client() as http:
        async with http.get(f"{site.url}/devices/p1", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/login?next=/devices/p1"
        for path in ("/api/v1/tickets", "/api/v1/devices", "/api/v1/health"):
            async with http.get(site.url + path) as r:
                assert r.status == 401 and "log in" in (await r.json())["error"]
        async with http.get(f"{site.url}/static/fleetwatch.css") as r:
            assert r.status == 200
        async with http.get(f"{site.url}/api/v1/tickets",
                            headers={"Authorization": "Bearer fwt_wrong"}) as r:
            assert r.status == 401 and "bearer token" in (await r.json())["error"]


async def test_login_cookie_session_csrf_and_logout(site: Site) -> None:
    async with client() as http:
        r = await login(http, site.url, "technician")
        assert r.status == 303 and r.headers["Location"] == "/tickets"
        cookie = r.cookies["fw_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
        assert float(cookie["max-age"]) == 12 * 3600
        async with http.get(f"{site.url}/tickets") as page:
            assert page.status == 200 and "paper jam" in await page.text()
            assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        csrf = await csrf_of(http, site.url)
        change = {"state": "acknowledged", "by": "mallory"}
        async with http.patch(f"{site.url}/api/v1/tickets/1", json=change) as p:
            assert p.status == 403 and "CSRF" in (await p.json())["error"]
        async with http.patch(f"{site.url}/api/v1/tickets/1", json=change,
                              headers={"X-CSRF-Token": csrf + "x"}) as p:
            assert p.status == 403
        async with http.patch(f"{site.url}/api/v1/tickets/1", json=change,
                              headers={"X-CSRF-Token": csrf}) as p:
            assert p.status == 200 and (await p.json())["ticket"]["state"] == "acknowledged"
        async with http.get(f"{site.url}/api/v1/tickets/1") as g:
            events = (await g.json())["events"]
        assert events[-1]["kind"] == "state" and events[-1]["by"] == "technician"
        async with http.post(f"{site.url}/logout", allow_redirects=False) as out:
            assert out.status == 403  # no CSRF token: a foreign page cannot log us out either
        async with http.post(f"{site.url}/logout", data={"csrf": csrf},
                             allow_redirects=False) as out:
            assert out.status == 303
    async with client() as http:  # the old cookie is dead on the server too
        http.cookie_jar.update_cookies({"fw_session": cookie.value})
        async with http.get(f"{site.url}/api/v1/tickets") as r:
            assert r.status == 401


async def test_secure_cookie_behind_https_proxy(site: Site) -> None:
    async with client() as http:
        r = await login(http, site.url, "viewer", headers={"X-Forwarded-Proto": "https"})
        assert r.status == 303 and r.cookies["fw_session"]["secure"]


async def test_login_form_needs_its_own_token(site: Site) -> None:
    async with client() as http, http.post(
            f"{site.url}/login", data={"username": "admin", "password": PASSWORD},
            allow_redirects=False) as r:
        assert r.status == 403 and "fw_session" not in r.cookies


async def test_failed_logins_are_rate_limited(site: Site) -> None:
    async with client() as http:
        for _ in range(3):
            assert (await login(http, site.url, "admin", "wrong password!")).status == 401
        r = await login(http, site.url, "admin")  # right password, but over the limit
        assert r.status == 429 and int(r.headers["Retry-After"]) > 0
        assert "fw_session" not in r.cookies
        # the same client address is limited for every user name
        assert (await login(http, site.url, "viewer")).status == 429


async def test_next_cannot_leave_the_site(site: Site) -> None:
    async with client() as http, http.get(f"{site.url}/login?next=//evil.example/") as r:
        assert 'name="next" value="/"' in await r.text()


# (method, path, body) → the roles that may; each role tries each, with its own token.
CASES: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    ("GET", "/", None, {"viewer", "technician", "admin"}),
    ("GET", "/tickets/1", None, {"viewer", "technician", "admin"}),
    ("GET", "/devices/p1", None, {"viewer", "technician", "admin"}),
    ("GET", "/api/v1/tickets", None, {"viewer", "technician", "admin"}),
    ("GET", "/api/v1/devices/p1", None, {"viewer", "technician", "admin"}),
    ("GET", "/api/v1/whoami", None, {"viewer", "technician", "admin"}),
    ("POST", "/api/v1/tickets", {"title": "toner streaks", "device": "p1"},
     {"technician", "admin"}),
    ("PATCH", "/api/v1/tickets/1", {"assignee": "bob"}, {"technician", "admin"}),
    ("POST", "/api/v1/tickets/1/comments", {"text": "on my way"}, {"technician", "admin"}),
    ("GET", "/api/v1/users", None, {"admin"}),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), CASES,
                         ids=[f"{m} {p}" for m, p, _, _ in CASES])
async def test_role_matrix_through_api_tokens(site: Site, method: str, path: str,
                                              body: dict[str, Any] | None,
                                              allowed: set[str]) -> None:
    async with client() as http:
        for role in ROLES:
            headers = {"Authorization": f"Bearer {site.tokens[role]}"}
            async with http.request(method, site.url + path, json=body, headers=headers,
                                    allow_redirects=False) as r:
                expected = {200, 201} if role in allowed else {403}
                assert r.status in expected, (role, r.status, await r.text())


async def test_role_matrix_through_pages(site: Site) -> None:
    for role in ROLES:
        async with client() as http:
            assert (await login(http, site.url, role)).status == 303
            async with http.get(f"{site.url}/tickets/1") as r:
                page = await r.text()
            assert ('data-action="comment"' in page) == (role != "viewer")
            csrf = await csrf_of(http, site.url)
            async with http.post(f"{site.url}/api/v1/tickets/1/comments", json={"text": "hi"},
                                 headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == (403 if role == "viewer" else 201)
            async with http.get(f"{site.url}/api/v1/users") as r:
                assert r.status == (200 if role == "admin" else 403)


async def test_ticket_actions_record_the_user_not_a_typed_name(site: Site) -> None:
    async with client() as http:
        user = {"Authorization": f"Bearer {site.tokens['technician']}"}
        async with http.post(f"{site.url}/api/v1/tickets/1/comments",
                             json={"text": "x", "by": "someone-else"}, headers=user) as r:
            assert (await r.json())["event"]["by"] == "technician"
        service = {"Authorization": f"Bearer {site.service}"}
        async with http.post(f"{site.url}/api/v1/tickets/1/comments",
                             json={"text": "y", "by": "dana"}, headers=service) as r:
            assert (await r.json())["event"]["by"] == "dana"  # an integration relays a name
        async with http.post(f"{site.url}/api/v1/tickets/1/comments", json={"text": "z"},
                             headers=service) as r:
            assert (await r.json())["event"]["by"] == "bridge"
        legacy = {"Authorization": f"Bearer {LEGACY}"}
        async with http.post(f"{site.url}/api/v1/tickets/1/comments", json={"text": "w"},
                             headers=legacy) as r:
            assert r.status == 201 and (await r.json())["event"]["by"] == "api"


async def test_manual_ticket_for_unknown_device_is_400(site: Site) -> None:
    async with client() as http, http.post(
            f"{site.url}/api/v1/tickets", json={"title": "x", "device": "nope"},
            headers={"Authorization": f"Bearer {site.tokens['admin']}"}) as r:
        assert r.status == 400 and "no device 'nope'" in (await r.json())["error"]


async def test_tickets_cli_works_with_a_user_token(site: Site, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(site.tokens["technician"] + "\n")
    env = {k: v for k, v in os.environ.items() if k != "FLEETWATCH_API_TOKEN"}
    env["PYTHONPATH"] = str(Path(__file__).parents[3])
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "collector.cli", "tickets", "ack", "1", "--url", site.url,
        "--token-file", str(token_file), "-m", "looking", "--json", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert json.loads(out)["ticket"]["state"] == "acknowledged"
    events, _ = await site.app[STORE].events(1)
    assert [e.by for e in events[-2:]] == ["technician", "technician"]


async def test_public_read_opens_reads_only(tmp_path: Path) -> None:
    runner, s = await start(tmp_path, AuthSettings(public_read=True))
    try:
        async with client() as http:
            for path in ("/", "/tickets/1", "/api/v1/tickets"):
                async with http.get(s.url + path, allow_redirects=False) as r:
                    assert r.status == 200
            async with http.get(f"{s.url}/api/v1/whoami") as r:
                assert r.status == 401
            async with http.post(f"{s.url}/api/v1/tickets", json={"title": "x"}) as r:
                assert r.status == 401
    finally:
        await runner.cleanup()
