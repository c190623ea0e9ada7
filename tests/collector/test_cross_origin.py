"""A foreign web page open in a technician's browser cannot create, comment on or change tickets
(issue 14), checked in real headless Chromium against the whole collector with its default
config (no api_token: only the origin rules stand between the page and the store).

The foreign page is served from another loopback origin (another port). It tries what a browser
lets any page do: simple ``fetch`` POSTs in ``no-cors`` mode with ``text/plain`` bodies (no
preflight), PATCH and JSON fetches (preflighted), ``sendBeacon``, and HTML form posts
(urlencoded, multipart, text/plain). The store must be as it was, and the simple requests must
have reached the collector and been refused by it (so the browser's CORS is not what saved us).
A control from the collector's own origin shows the same browser can write.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page

from collector.app import build_app
from collector.auth import DB_NAME as ACCOUNTS_DB
from collector.auth.store import Accounts
from collector.config import CollectorSettings, Config, DeviceConfig
from collector.demo import free_port
from collector.keys import STORE
from collector.tickets.store import NewTicket, TicketQuery
from probes.secret import Secret
from tests.apps import serving
from tests.browser import screenshot


@dataclass
class Collector:
    app: web.Application
    url: str
    seen: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, status

    async def snapshot(self) -> tuple[int, str, list[str]]:
        """(tickets in the store, ticket 1's state and assignee, ticket 1's timeline)."""
        store = self.app[STORE]
        _, total = await store.find(TicketQuery())
        ticket = await store.get(1)
        events, _ = await store.events(1)
        return total, f"{ticket.state}/{ticket.assignee}", [e.kind + e.text for e in events]


PASSWORD = "correct horse battery"


async def log_in(page: Page, base: str) -> None:
    await page.goto(base + "/login")
    await page.fill("input[name=username]", "tech")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login")
    await page.wait_for_load_state()
    assert "/login" not in page.url


@pytest.fixture()
async def collector(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Collector]:
    """The whole collector; ``@pytest.mark.token("x")`` sets ``collector.api_token``."""
    mark = request.node.get_closest_marker("token")
    token = Secret(mark.args[0]) if mark else None
    config = Config(path=tmp_path / "fleetwatch.yaml",
                    collector=CollectorSettings(state_dir=tmp_path / "state", api_token=token),
                    devices=(DeviceConfig(name="p1", host="192.0.2.1", site="hq"),))
    accounts = Accounts.open(tmp_path / "state" / ACCOUNTS_DB)
    accounts.add_user("tech", "technician", PASSWORD)
    accounts.close()
    app = build_app(config)
    port = free_port()
    served = Collector(app, f"http://127.0.0.1:{port}")

    @web.middleware
    async def record(request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                     ) -> web.StreamResponse:
        response = await handler(request)
        served.seen.append((request.method, request.path, response.status))
        return response

    app.middlewares.insert(0, record)  # outermost: sees what the gate answered
    async with serving(app, port):
        await app[STORE].create(NewTicket(kind="manual", title="printer 3 streaks", device="p1"),
                                by="alice", at=1.0)
        yield served


_ATTACK = """<!doctype html><title>cute cats</title><h1>cute cats</h1>
<iframe name="sink" id="sink"></iframe>
<script>
const C = "{collector}";
const body = JSON.stringify({{title: "pwned from a foreign page", text: "pwned comment",
                              state: "closed", assignee: "mallory"}});
async function attempt(name, f) {{
  try {{ const r = await f(); return name + ":" + (r.type === "opaque" ? "opaque" : r.status); }}
  catch (e) {{ return name + ":blocked"; }}
}}
function form(action, enctype, fields) {{
  return new Promise(resolve => {{
    const sink = document.getElementById("sink");
    sink.onload = () => resolve("form " + enctype + " " + action + ":sent");
    const f = document.createElement("form");
    f.method = "POST"; f.action = C + action; f.enctype = enctype; f.target = "sink";
    for (const [k, v] of Object.entries(fields)) {{
      const i = document.createElement("input"); i.name = k; i.value = v; f.appendChild(i);
    }}
    document.body.appendChild(f); f.submit();
    setTimeout(() => resolve("form " + enctype + " " + action + ":timeout"), 3000);
  }});
}}
window.results = (async () => {{
  const out = [];
  const plain = {{"Content-Type": "text/plain"}};
  out.push(await attempt("no-cors text/plain POST ticket", () => fetch(C + "/api/v1/tickets",
    {{method: "POST", mode: "no-cors", headers: plain, body}})));
  out.push(await attempt("no-cors text/plain POST comment", () =>
    fetch(C + "/api/v1/tickets/1/comments", {{method: "POST", mode: "no-cors", headers: plain,
                                              body}})));
  out.push(await attempt("no-cors credentials POST ticket", () => fetch(C + "/api/v1/tickets",
    {{method: "POST", mode: "no-cors", credentials: "include", body}})));
  out.push(await attempt("cors JSON POST ticket", () => fetch(C + "/api/v1/tickets",
    {{method: "POST", headers: {{"Content-Type": "application/json"}}, body}})));
  out.push(await attempt("cors text/plain PATCH", () => fetch(C + "/api/v1/tickets/1",
    {{method: "PATCH", headers: plain, body}})));
  out.push(await attempt("cors JSON PATCH", () => fetch(C + "/api/v1/tickets/1",
    {{method: "PATCH", headers: {{"Content-Type": "application/json"}}, body}})));
  out.push("beacon:" + navigator.sendBeacon(C + "/api/v1/tickets/1/comments",
                                            new Blob([body], {{type: "text/plain"}})));
  for (const enctype of ["application/x-www-form-urlencoded", "multipart/form-data",
                         "text/plain"]) {{
    out.push(await form("/api/v1/tickets", enctype, {{title: "pwned by form"}}));
    out.push(await form("/api/v1/tickets/1/comments", enctype, {{text: "pwned by form"}}));
    // text/plain forms can smuggle a JSON-looking body: name={{"title":"x","a":" value="}}
    out.push(await form("/api/v1/tickets", enctype,
                        {{'{{"title": "pwned by smuggled JSON", "by": "': '"}}'}}));
  }}
  return out;
}})();
</script>"""


@pytest.fixture()
async def foreign(collector: Collector) -> AsyncIterator[str]:
    """The attacker's page, on another port of the same loopback address."""
    async def page(_: web.Request) -> web.Response:
        return web.Response(text=_ATTACK.format(collector=collector.url),
                            content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    async with serving(app) as url:
        yield url + "/"


async def test_a_foreign_page_cannot_write(collector: Collector, foreign: str,
                                           chromium_page: Page) -> None:
    before = await collector.snapshot()
    await chromium_page.goto(foreign)
    results = await chromium_page.evaluate("window.results")
    await asyncio.sleep(0.5)  # a beacon is sent after the page moves on
    await screenshot(chromium_page, "cross-origin-attack")
    print("\n" + "\n".join(results))
    print("\n".join(f"{m} {p} -> {s}" for m, p, s in collector.seen))

    assert await collector.snapshot() == before
    writes = [(m, p, s) for m, p, s in collector.seen if m in {"POST", "PATCH"}]
    assert writes, "no attempt reached the collector: the test would prove nothing"
    assert all(s in {403, 415} for _, _, s in writes), writes
    # the simple (unpreflighted) requests were sent by the browser and refused by the gate
    assert {("POST", "/api/v1/tickets"), ("POST", "/api/v1/tickets/1/comments")} <= {
        (m, p) for m, p, _ in writes}
    assert not any(m == "PATCH" for m, _, _ in writes)  # preflight refused: never sent


async def test_the_collectors_own_page_can_write(collector: Collector,
                                                 chromium_page: Page) -> None:
    """The control: the same browser, logged in as a technician on the collector's own origin,
    creates, comments and acknowledges with its session and CSRF token (docs/web.md)."""
    await log_in(chromium_page, collector.url)
    await chromium_page.goto(collector.url + "/tickets/1")
    statuses = await chromium_page.evaluate("""async () => {
      const csrf = document.querySelector('meta[name="csrf-token"]').content;
      const h = {"Content-Type": "application/json", "X-CSRF-Token": csrf};
      const a = await fetch("/api/v1/tickets", {method: "POST", headers: h,
                            body: JSON.stringify({title: "from our own page"})});
      const b = await fetch("/api/v1/tickets/1/comments", {method: "POST", headers: h,
                            body: JSON.stringify({text: "looking at it"})});
      const c = await fetch("/api/v1/tickets/1", {method: "PATCH", headers: h,
                            body: JSON.stringify({state: "acknowledged"})});
      return [a.status, b.status, c.status];
    }""")
    assert statuses == [201, 201, 200]
    total, state, timeline = await collector.snapshot()
    assert total == 2 and state.startswith("acknowledged")
    assert any("looking at it" in line for line in timeline)
    assert json.dumps(timeline)  # readable as the API shows it


async def test_without_a_login_the_page_sends_to_login_and_writes_are_refused(
        collector: Collector, browser: Browser) -> None:
    """No login: the page redirects to /login, and the same fetches from our own origin get
    401 (no session, no token): nothing changes."""
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.goto(collector.url + "/tickets/1")
        assert "/login" in page.url
        status = await page.evaluate("""async () => (await fetch("/api/v1/tickets/1", {
            method: "PATCH", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({state: "acknowledged"})})).status""")
        assert status == 401
        await screenshot(page, "no-login-refused")
    finally:
        await context.close()
    _, state, _ = await collector.snapshot()
    assert state.startswith("open")
