"""The pages in real headless Chromium (Debian's chromium through Playwright, tests/browser.py),
against the real app polling simulated printers over SNMP (snmpsim) and writing to a real
influxd: log in, see a fault appear (live update, no reload), open the device and its history
charts, acknowledge and comment on its ticket, Cancel in the prompts, export the uptime CSV,
the fleet page filtered on a 420 px phone, log out; and device strings holding HTML and script
render as inert text. A screenshot of each step goes under tests/output/."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Dialog, Page, Route, expect

from collector.app import build_app
from collector.auth import DB_NAME, AuthSettings
from collector.auth.store import Accounts
from collector.config import (
    CollectorSettings,
    Config,
    StorageConfig,
    TicketSettings,
)
from collector.demo import Influxd, free_port
from collector.demo.simfleet import SimFleet
from tests.apps import printer_devices, serving, simulated_async
from tests.browser import browser, chromium_page, screenshot  # noqa: F401  (pytest fixtures)

PASSWORD = "browser test password"
HOSTILE = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'


@dataclass
class Lab:
    url: str
    fleet: SimFleet


@pytest.fixture()
async def lab(tmp_path: Path, influxd: Influxd) -> AsyncIterator[Lab]:
    fleet = SimFleet(tmp_path / "fleet", count=3, prefix="br")
    fleet.get("br-03").model = HOSTILE
    state = tmp_path / "state"
    accounts = Accounts.open(state / DB_NAME)
    accounts.add_user("tech", "technician", PASSWORD)
    accounts.close()
    async with simulated_async(fleet) as sim:
        devices = printer_devices(fleet, sim, location="Room 1", interval=0.5, timeout=0.4)
        port = free_port()
        config = Config(path=tmp_path / "c.yaml",
                        collector=CollectorSettings(listen_port=port, state_dir=state,
                                                    jitter=0.1),
                        storage=StorageConfig(backend="influxdb_v1", url=influxd.url,
                                              database=f"browser_{uuid.uuid4().hex[:8]}"),
                        tickets=TicketSettings(debounce_polls=2), devices=devices)
        async with serving(build_app(config, AuthSettings()), port) as url:
            yield Lab(url, fleet)


async def reload_until(page: Page, selector: str, timeout: float = 30.0) -> None:
    """Reload ``page`` until ``selector`` matches (the fleet page refreshes itself every 15 s;
    a test should not wait that long)."""
    deadline = time.monotonic() + timeout
    while await page.locator(selector).count() == 0:
        assert time.monotonic() < deadline, f"{selector} did not appear on {page.url}"
        await asyncio.sleep(0.5)
        await page.reload()


def watch_console(page: Page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


async def log_in(page: Page, url: str) -> None:
    await page.goto(f"{url}/")
    assert "/login" in page.url
    await page.fill("input[name=username]", "tech")
    await page.fill("input[name=password]", PASSWORD)
    await screenshot(page, "01-login")
    await page.click("#login")
    await page.wait_for_url(f"{url}/")


async def test_technician_works_a_fault_in_the_browser(lab: Lab, chromium_page: Page) -> None:  # noqa: F811
    page = chromium_page
    problems = watch_console(page)
    await log_in(page, lab.url)
    await reload_until(page, "tr.device[data-device=br-01][data-status=ok]")
    await screenshot(page, "02-fleet")

    # the fault appears by the page's live update, no reload: what is typed stays
    await page.goto(f"{lab.url}/?refresh=2")
    await page.fill("input[name=q]", "half-typed sear")
    lab.fleet.get("br-02").forced_faults = {"jammed"}
    lab.fleet.write()
    await page.wait_for_selector("tr.device[data-device=br-02][data-status=critical]",
                                 timeout=30_000)
    assert await page.input_value("input[name=q]") == "half-typed sear"
    assert await page.evaluate("document.body.dataset.updated") is not None
    row = page.locator("tr.device[data-device=br-02]")
    assert "jam" in (await row.inner_text()).lower()
    await screenshot(page, "03-fleet-fault")

    await row.locator("a").first.click()
    await page.wait_for_url(f"{lab.url}/devices/br-02")
    await reload_until(page, "#device-tickets a")  # the ticket opens after the debounce
    assert "Supplies" in await page.inner_text("main")
    # its history, drawn from what the collector has written to the real influxd meanwhile
    await reload_until(page, "#charts svg.chart .series.black")  # a dot, then a line
    assert await page.locator("#charts svg.chart").count() == 3
    await screenshot(page, "04-device")

    await page.click("#device-tickets a")
    await page.wait_for_selector("#actions")
    ticket_url = page.url
    await page.click("#actions button[data-state=acknowledged]")
    await expect(page.locator(".facts")).to_contain_text("acknowledged")
    timeline = await page.inner_text("#timeline")
    assert "open → acknowledged" in timeline and "tech" in timeline

    answers = iter(["toner box moved, jam cleared by hand"])

    async def on_dialog(dialog: Dialog) -> None:
        text = next(answers, None)
        await (dialog.accept(text) if text is not None else dialog.dismiss())

    page.on("dialog", lambda d: asyncio.ensure_future(on_dialog(d)))
    await page.click("#actions button[data-action=comment]")
    await expect(page.locator("#timeline")).to_contain_text("jam cleared by hand")
    rows_before = await page.locator("#timeline tr").count()
    # Cancel in both prompts: nothing changes, no error (answers is exhausted: dismiss)
    await page.click("#actions button[data-action=assign]")
    await page.click("#actions button[data-action=comment]")
    await asyncio.sleep(1.0)
    assert page.url == ticket_url
    assert await page.locator("#action-error").is_hidden()
    await page.reload()
    assert await page.locator("#timeline tr").count() == rows_before
    assert "unassigned" not in await page.inner_text("#timeline")
    await screenshot(page, "05-ticket")

    await page.goto(f"{lab.url}/uptime?range=24h")
    await expect(page.locator("#uptime-devices")).to_contain_text("br-02")
    async with page.expect_download() as info:
        await page.click("#uptime-csv")
    download = await info.value
    exported = await asyncio.to_thread(Path(await download.path()).read_text)
    assert exported.startswith("device,site,kind,availability_percent,")
    assert "\nbr-02,HQ,printer,100.0," in exported.replace("\r\n", "\n")
    await screenshot(page, "05b-uptime")

    await page.set_viewport_size({"width": 420, "height": 800})  # a phone
    await page.goto(f"{lab.url}/?status=critical")
    assert await page.locator("tr.device").count() == 1
    assert await page.evaluate("document.documentElement.scrollWidth") <= 420
    await screenshot(page, "05c-fleet-phone")

    await page.click("#logout")
    await page.wait_for_url(f"{lab.url}/login")
    await screenshot(page, "06-logged-out")
    await page.goto(f"{lab.url}/tickets")
    assert "/login" in page.url
    assert problems == []  # no script error, no Content-Security-Policy refusal


async def test_device_strings_with_html_render_inert(lab: Lab, chromium_page: Page) -> None:  # noqa: F811
    page = chromium_page
    problems = watch_console(page)
    await log_in(page, lab.url)
    await reload_until(page, "tr.device[data-device=br-03]:not([data-status=pending])")
    for path in ("/", "/devices/br-03"):
        await page.goto(lab.url + path)
        assert HOSTILE in await page.inner_text("main")  # shown as text ...
        assert await page.evaluate("window.pwned") is None  # ... never run
        assert await page.locator("main script, main img").count() == 0
    await screenshot(page, "07-hostile-device")
    assert problems == []


EVIL = """<!doctype html><html><body>
<form id="f" method="post" action="{base}/api/v1/tickets/{id}/comments">
<input name="text" value="pwned by a form"></form>
<script>
fetch("{base}/api/v1/tickets/{id}", {{method: "PATCH", credentials: "include", mode: "no-cors",
  headers: {{"Content-Type": "text/plain"}}, body: JSON.stringify({{state: "resolved"}})}})
  .finally(() => document.getElementById("f").submit());
</script></body></html>"""


async def test_a_cross_site_page_cannot_change_anything(lab: Lab, chromium_page: Page,  # noqa: F811
                                                        tmp_path: Path) -> None:
    """A foreign page open in the logged-in technician's browser sends a no-cors PATCH and
    submits a form to the API; the session cookie goes along (another port of 127.0.0.1 is the
    same site, so SameSite=Lax does not stop it), the CSRF token does not: nothing changes."""
    page = chromium_page
    await log_in(page, lab.url)
    await reload_until(page, "tr.device[data-device=br-01]:not([data-status=pending])")
    api = page.context.request
    csrf = await page.get_attribute('meta[name="csrf-token"]', "content")
    made = await api.post(f"{lab.url}/api/v1/tickets", data={"title": "target", "device": "br-01"},
                          headers={"X-CSRF-Token": csrf or ""})
    assert made.status == 201
    ticket = (await made.json())["ticket"]["id"]
    evil = web.Application()

    async def attack(_: web.Request) -> web.Response:
        return web.Response(text=EVIL.format(base=lab.url, id=ticket), content_type="text/html")

    evil.router.add_get("/", attack)
    async with serving(evil) as evil_url:
        async with page.expect_navigation():
            await page.goto(f"{evil_url}/")
        # the form's answer: 403, from the request gate (a cross-site Sec-Fetch-Site) before
        # the accounts middleware would have refused the missing CSRF token
        answer = await page.inner_text("body")
        assert "cross-site request refused" in answer or "CSRF" in answer, answer
        await screenshot(page, "08-cross-site-refused")
    after = await api.get(f"{lab.url}/api/v1/tickets/{ticket}")
    body = await after.json()
    assert body["ticket"]["state"] == "open"
    assert [e["kind"] for e in body["events"]] == ["opened"]


async def test_pages_follow_the_event_stream_and_keep_what_is_typed(
        lab: Lab, chromium_page: Page) -> None:  # noqa: F811
    """With ?refresh=300 no timed refresh runs during the test (and the slow one while the
    stream is up is 4 x that): the fleet page and the tickets page, open side by side, show a
    new jam and its ticket by the server-sent events alone, and the half-typed search stays."""
    fleet_page = chromium_page
    problems = watch_console(fleet_page)
    await log_in(fleet_page, lab.url)
    await reload_until(fleet_page, "tr.device[data-device=br-01][data-status=ok]")
    tickets_page = await fleet_page.context.new_page()
    problems += watch_console(tickets_page)
    await tickets_page.goto(f"{lab.url}/tickets?refresh=300")
    await fleet_page.goto(f"{lab.url}/?refresh=300")
    for page in (fleet_page, tickets_page):
        await page.wait_for_function("document.body.dataset.live === 'events'")
    await fleet_page.fill("input[name=q]", "typed, never sent")
    started = time.monotonic()
    lab.fleet.get("br-01").forced_faults = {"jammed"}
    lab.fleet.write()
    await fleet_page.wait_for_selector("tr.device[data-device=br-01][data-status=critical]",
                                       timeout=20_000)
    assert time.monotonic() - started < 20
    assert await fleet_page.input_value("input[name=q]") == "typed, never sent"
    await screenshot(fleet_page, "09-fleet-by-events")
    # the ticket opens after the debounce (2 polls): another event, another swap
    await tickets_page.locator("#ticket-lists tr.ticket", has_text="br-01").first.wait_for(
        timeout=20_000)
    await screenshot(tickets_page, "10-tickets-by-events")
    assert await tickets_page.evaluate("document.body.dataset.live") == "events"
    await tickets_page.close()
    assert problems == []


async def test_without_the_stream_pages_refresh_on_their_timer(
        lab: Lab, chromium_page: Page) -> None:  # noqa: F811
    """EventSource refused (here by the browser's network layer answering 503): the fleet page
    falls back to its timed refresh and still shows the fault, typed text kept."""
    page = chromium_page
    await log_in(page, lab.url)
    refused: list[str] = []

    async def refuse(route: Route) -> None:
        refused.append(route.request.url)
        await route.fulfill(status=503, content_type="application/json",
                            body='{"error": "refused by the test"}')

    await page.route("**/api/v1/events*", refuse)
    await reload_until(page, "tr.device[data-device=br-02][data-status=ok]")
    await page.goto(f"{lab.url}/?refresh=2")
    await page.wait_for_function("document.body.dataset.live === 'timed'")
    await page.fill("input[name=q]", "still here")
    lab.fleet.get("br-02").forced_faults = {"jammed"}
    lab.fleet.write()
    await page.wait_for_selector("tr.device[data-device=br-02][data-status=critical]",
                                 timeout=30_000)
    assert await page.input_value("input[name=q]") == "still here"
    assert refused
