"""The fleet page's rows, rendered once per change (collector.web.fleet.FleetRows), read exactly
as the page's original row loop rendered them, through the real app over HTTP."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import aiohttp_jinja2
import pytest
from aiohttp import web

from collector.app import build_app
from collector.auth import AuthSettings
from collector.config import CollectorSettings, Config, DeviceConfig
from collector.demo import free_port
from collector.keys import STATE
from collector.web.fleet import FLEET_ROWS, fleet_rows
from probes.model import Identity, Supply, Tray
from tests.collector.conftest import down, ping, printer

# The fleet table's row loop as fleet.html had it before rows were kept (commit a337462):
# the reference the kept rows must equal, byte for byte.
REFERENCE = """{% for r in rows %}
<tr class="device" data-device="{{ r.name }}" data-status="{{ r.status }}">
  <td><a href="/devices/{{ r.name | urlencode }}">{{ r.name }}</a><div class="muted">{{ r.model }}</div></td>
  <td>{{ r.site }}<div class="muted">{{ r.location }}</div></td>
  <td>{{ r.kind }}</td>
  <td><span class="badge {{ r.status }}">{{ r.status }}</span></td>
  <td>{% for s in r.supplies %}<span class="sup{% if s.low %} low{% endif %}" title="{{ s.description }}"><meter class="{{ s.colour }}" min="0" max="100" low="15" optimum="100" value="{{ s.percent if s.percent is not none else 0 }}"></meter>{{ s.name }} {{ s.label }}</span> {% endfor %}</td>
  <td>{% for t in r.trays %}<span class="sup tray{% if t.alarm %} low{% endif %}">{{ t.name }}: {{ t.label }}</span> {% endfor %}</td>
  <td>{% if r.stale %}<span class="stale">{{ r.stale }}</span> {% endif %}<ul class="reasons">{% for why in r.reasons %}<li>{{ why }}</li>{% endfor %}</ul></td>
  <td class="muted">{{ r.time | ago }}</td>
</tr>
{% endfor %}"""  # noqa: E501

HOSTILE = '<script>alert("x")</script>'
TONER = Supply(index="1.1", description="Black Toner CF410A", type="toner",
               supply_class="consumed", colour="black", unit="percent", level=8, capacity=100,
               percent=8.0, state="low", part_number="CF410A")
WASTE = Supply(index="1.2", description="Waste <box>", type="waste_toner", supply_class="filled",
               colour=None, unit="percent", level=None, capacity=100, percent=None,
               state="some_remaining", part_number=None)
TRAY = Tray(index="1.2", description="Tray 2", media="A4", level=0, capacity=500, percent=0.0,
            state="empty", manual=False)
DEVICES = (
    DeviceConfig(name="hq-copier", host="10.0.0.5", site="HQ", kind="copier", location="Lobby"),
    DeviceConfig(name="annex-1", host="10.0.1.7", site="Annex"),
    DeviceConfig(name="annex-2", host="10.0.1.8", site="Annex", location=HOSTILE),
    DeviceConfig(name="odd & <name>", host="10.0.1.9", site="Annex"),
    DeviceConfig(name="never-polled", host="10.0.1.10", site="HQ"),
)


def readings() -> dict[str, object]:
    old = time.time() - 277.5 * 3600  # "277h ago" for the next half hour
    return {
        "hq-copier": replace(printer("hq-copier"), time=old, status="critical",
                             problems=("jammed", "Black Toner low (8%)", "Tray 2 empty"),
                             supplies=(TONER, WASTE), trays=(TRAY,),
                             identity=Identity(model=HOSTILE, serial="E1234")),
        "annex-1": replace(down("annex-1"), time=old),
        "annex-2": replace(printer("annex-2"), time=old, stale=True),
        "odd & <name>": replace(printer("odd & <name>"), time=old, error="x < y"),
    }


@pytest.fixture()
async def app_url(tmp_path: Path) -> AsyncIterator[tuple[web.Application, str]]:
    config = Config(path=tmp_path / "c.yaml",
                    collector=CollectorSettings(state_dir=tmp_path / "state"), devices=DEVICES)
    app = build_app(config, AuthSettings(public_read=True))
    for d in DEVICES:
        r = readings().get(d.name)
        if r is not None:
            await app[STATE].handle(r, d)  # type: ignore[arg-type]
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield app, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def table(page: str) -> str:
    match = re.search(r"<th>Polled</th></tr>\n(.*)\n</table>", page, re.S)
    assert match is not None, page
    return match.group(1)


async def same_as_reference(app: web.Application, http: aiohttp.ClientSession, base: str,
                            **filters: str) -> str:
    """GET the page with ``filters``; its rows must equal the reference loop's rendering of
    :func:`fleet_rows` with the same filters (rendered before and after the GET, so a clock
    tick between them cannot fail the comparison)."""
    ref = aiohttp_jinja2.get_env(app).from_string(REFERENCE)

    def expected() -> str:
        rows, _ = fleet_rows(app[STATE].all(), site=filters.get("site", ""),
                             kind=filters.get("kind", ""), status=filters.get("status", ""),
                             q=filters.get("q", ""))
        return ref.render(rows=rows)

    before = expected()
    params = {**filters, "limit": "all"}
    async with http.get(f"{base}/", params=params) as resp:
        assert resp.status == 200
        page = await resp.text()
    assert table(page) in (before, expected())
    return page


async def test_rows_equal_the_original_loop_for_every_filter(
        app_url: tuple[web.Application, str]) -> None:
    app, base = app_url
    async with aiohttp.ClientSession() as http:
        page = await same_as_reference(app, http, base)
        for filters in ({"site": "Annex"}, {"status": "ok"}, {"kind": "copier"}, {"q": "e1234"},
                        {"q": "nothing"}, {"site": "HQ", "status": "pending"}):
            await same_as_reference(app, http, base, **filters)
    # worst first, and device strings are inert text
    assert re.findall(r'data-device="([^"]*)"', page) == [
        "hq-copier", "annex-1", "never-polled", "annex-2", "odd &amp; &lt;name&gt;"]
    assert HOSTILE not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


async def test_a_row_is_rendered_again_only_when_it_changes(
        app_url: tuple[web.Application, str]) -> None:
    app, base = app_url
    rows, state = app[FLEET_ROWS], app[STATE]
    async with aiohttp.ClientSession() as http:
        await same_as_reference(app, http, base)
        assert rows.rendered == len(DEVICES)
        await same_as_reference(app, http, base)
        assert rows.rendered == len(DEVICES)  # nothing changed: nothing rendered
        # a new poll that reads the same except its time: the row is kept, the time is new
        last = state.get("annex-2").readings["snmp_printer"]  # type: ignore[union-attr]
        await state.handle(replace(last, time=last.time + 7200), DEVICES[2])
        page = await same_as_reference(app, http, base)
        assert rows.rendered == len(DEVICES) and "275h ago" in page
        # a supply level changes: that row alone is rendered again
        copier = state.get("hq-copier").readings["snmp_printer"]  # type: ignore[union-attr]
        await state.handle(replace(copier, supplies=(replace(TONER, percent=3.0, level=3),)),
                           DEVICES[0])
        page = await same_as_reference(app, http, base)
        assert rows.rendered == len(DEVICES) + 1 and "black 3%" in page
        # another probe makes the device unreachable: same printer reading, new status
        await state.handle(replace(ping("annex-2", ok=False), time=last.time), DEVICES[2])
        page = await same_as_reference(app, http, base)
        assert rows.rendered == len(DEVICES) + 2
        assert 'data-device="annex-2" data-status="unreachable"' in page
        # a filtered page reuses the same rows
        await same_as_reference(app, http, base, site="Annex")
        assert rows.rendered == len(DEVICES) + 2
