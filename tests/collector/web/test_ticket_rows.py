"""The ticket list's rows, rendered once per change (collector.tickets.pages.TicketRows), and the
ticket page's timeline read by subscript: both read exactly as the templates rendered them before
(commit 6a7274c), through the real app over HTTP with a real ticket store."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp_jinja2
import pytest
from aiohttp import web

from collector.app import build_app
from collector.auth import AuthSettings
from collector.config import CollectorSettings, Config
from collector.demo import free_port
from collector.keys import STORE
from collector.tickets import pages
from collector.tickets.pages import SHOWS, TICKET_ROWS, triage
from collector.tickets.store import NewTicket, TicketQuery
from collector.web import templating

# The ticket list as tickets.html (and the severity macro of macros.html) had it before rows
# were kept: the macros, then the body block's text. The reference the page must equal (since
# then an empty list reads "none" instead of a bare table head, in both).
LIST_REFERENCE = """{% macro severity(level) -%}
<span class="badge {{ {'critical': 'critical', 'warning': 'warning', 'info': 'ok'}.get(level, 'unknown') }}">{{ level }}</span>
{%- endmacro %}{% macro rows(tickets) %}
{% if not tickets %}<p class="muted none">none</p>{% else %}
<table class="tickets">
<tr><th>#</th><th>Severity</th><th>Kind</th><th>Device</th><th>What</th><th>State</th><th>Assignee</th><th>Opened</th></tr>
{% for t in tickets %}
<tr class="ticket" data-id="{{ t.id }}">
  <td><a href="/tickets/{{ t.id }}">#{{ t.id }}</a></td>
  <td>{{ severity(t.severity) }}</td><td>{{ t.kind }}</td>
  <td>{% if t.device %}<a href="/devices/{{ t.device | urlencode }}">{{ t.device }}</a>{% endif %}</td>
  <td>{{ t.title }}<div class="muted">{{ t.description }}</div></td>
  <td>{{ t.state | replace("_", " ") }}{% if t.fault_key %} · {{ "fault active" if t.fault_active else "cleared" }}{% endif %}</td>
  <td>{{ t.assignee or "" }}</td>
  <td class="muted">{{ t.created_at | ago }}{% if t.recurrences %} · {{ t.recurrences }}× again{% endif %}</td>
</tr>
{% endfor %}
</table>
{% endif %}
{% endmacro %}
<h2>Tickets</h2>
<div id="ticket-lists" data-live>
<p>{% for s in shows %}{% if s == show %}<b>{{ s }}</b>{% else %}<a href="/tickets?show={{ s }}">{{ s }}</a>{% endif %}{% if not loop.last %} · {% endif %}{% endfor %}
 — {{ total }} ticket(s){% if total > limit %}, the newest {{ limit }} shown{% endif %}</p>
{% if show == "unresolved" %}
<h3 id="needs-work">Needs work ({{ active | length }})</h3>
<p class="muted">Worst first, then the longest waiting.</p>
{{ rows(active) }}
<h3 id="cleared" class="apart">Fault already cleared ({{ cleared | length }})</h3>
<p class="muted">The device is fine again; these wait for someone to resolve or close them.</p>
<div class="cleared">{{ rows(cleared) }}</div>
{% else %}
{{ rows(active) }}
{% endif %}
</div>
{# the body block ends here (Jinja drops a template's last newline) #}"""  # noqa: E501

# ticket.html's body block before the timeline was read by subscript
TICKET_REFERENCE = """
<h2>#{{ t.id }} {{ t.title }}</h2>
<p>{{ t.description }}</p>
<table class="facts">
{% if t.device %}<tr><th>Device</th><td><a href="/devices/{{ t.device | urlencode }}" id="device-link">{{ t.device }}</a></td></tr>{% endif %}
{% for k, v in facts %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}
</table>
{% if can_act %}
<p class="actions" id="actions" data-ticket="{{ t.id }}">
{% for s in next_states %}<button type="button" data-state="{{ s }}">{{ STATE_VERBS[s] }}</button> {% endfor %}
<button type="button" data-action="assign" data-current="{{ t.assignee or '' }}">assign</button>
<button type="button" data-action="comment">comment</button>
</p>
<p class="error" id="action-error" hidden></p>
{% elif not who %}
<p class="muted"><a href="/login?next={{ path | urlencode }}">Log in</a> to work this ticket.</p>
{% endif %}
<h3>Timeline</h3>
{% if events_total > events | length %}<p class="muted">the newest {{ events | length }} of {{ events_total }} events</p>{% endif %}
<table class="timeline" id="timeline">
<tr><th>When</th><th>What</th><th>Who</th><th></th></tr>
{% for e in events %}
<tr><td class="muted">{{ e.at | clock(True) }}</td><td>{{ e.kind }}</td><td>{{ e.by }}</td><td>{{ e.text }}</td></tr>
{% endfor %}
</table>
{# the body block ends here #}"""  # noqa: E501

HOSTILE = '<script>alert("x")</script>'
HOUR = 3600.0


@pytest.fixture()
async def app_url(tmp_path: Path) -> AsyncIterator[tuple[web.Application, str]]:
    config = Config(path=tmp_path / "c.yaml",
                    collector=CollectorSettings(state_dir=tmp_path / "state"))
    app = build_app(config, AuthSettings(public_read=True))
    runner = web.AppRunner(app)
    await runner.setup()  # opens the ticket store (cleanup_ctx)
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    store = app[STORE]
    # every age half an hour past a whole hour: "3h ago" reads the same for the next half hour,
    # so a row is rendered again only when the test changes its ticket
    now = time.time()
    specs: list[tuple[NewTicket, float]] = [
        (NewTicket(kind="fault", title="hq: jammed", severity="critical", device="hq-copier",
                   site="HQ", fault_key="hq:jammed", fault_active=True), now - 3.5 * HOUR),
        (NewTicket(kind="fault", title=HOSTILE, severity="warning", device="odd & <name>",
                   fault_key="odd:door", description=HOSTILE, fault_active=True), now - 5.5 * HOUR),
        (NewTicket(kind="fault", title="annex: no paper", severity="critical", device="annex-1",
                   fault_key="annex:no_paper", fault_active=False), now - 40.5 * HOUR),
        (NewTicket(kind="manual", title="move the copier", severity="info",
                   assignee="bob"), now - 50.5 * HOUR),
        (NewTicket(kind="reorder", title="order CF410A", severity="warning",
                   device="hq-copier", part_number="CF410A"), now - 2.5 * HOUR),
        (NewTicket(kind="fault", title="annex: low toner", severity="info", device="annex-2",
                   fault_key="annex:low_toner", fault_active=False), now - 26.5 * HOUR),
    ]
    ids = [(await store.create(new, by="fault engine", at=at)).id for new, at in specs]
    await store.change(ids[0], by="ann", at=now - 3000, state="in_progress", assignee=HOSTILE)
    await store.recur(ids[0], at=now - 2000, text="jammed again")
    await store.recur(ids[0], at=now - 1000, text="jammed again")
    await store.change(ids[5], by="ann", at=now - 100, state="resolved", comment="done <ok>")
    await store.change(ids[3], by="ann", at=now - 50, state="acknowledged")
    try:
        yield app, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def main(page: str) -> str:
    """What base.html's body block holds."""
    match = re.search(r"<main>\n(.*)\n</main>", page, re.S)
    assert match is not None, page
    return match.group(1)


async def list_same_as_reference(app: web.Application, http: aiohttp.ClientSession, base: str,
                                 **params: str) -> str:
    """GET the ticket list with ``params``; its body must equal the reference's rendering of
    the same store read the old way (rendered before and after the GET, so a clock tick
    between them cannot fail the comparison)."""
    ref = aiohttp_jinja2.get_env(app).from_string(LIST_REFERENCE)
    show = "all" if params.get("all") == "1" else params.get("show", "unresolved")
    show = show if show in SHOWS else "unresolved"

    async def expected() -> str:
        tickets, total = await app[STORE].find(TicketQuery(states=SHOWS[show],
                                                           limit=pages.LIST_LIMIT))
        active, cleared = triage(tickets) if show == "unresolved" else (tickets, [])
        return ref.render(show=show, shows=list(SHOWS), total=total, active=active,
                          cleared=cleared, limit=pages.LIST_LIMIT)

    before = await expected()
    async with http.get(f"{base}/tickets", params=params) as resp:
        assert resp.status == 200
        page = await resp.text()
    assert main(page) in (before, await expected())
    return page


async def test_list_equals_the_original_for_every_view(
        app_url: tuple[web.Application, str]) -> None:
    app, base = app_url
    async with aiohttp.ClientSession() as http:
        page = await list_same_as_reference(app, http, base)
        for params in ({"show": "resolved"}, {"show": "closed"}, {"show": "all"}, {"all": "1"},
                       {"show": "nonsense"}, {"show": "unresolved"}):
            await list_same_as_reference(app, http, base, **params)
    # needing work by severity then age, cleared faults apart; strings are inert text
    needs, cleared = main(page).split('id="cleared"')
    assert re.findall(r'data-id="(\d+)"', needs) == ["1", "2", "5", "4"]
    assert re.findall(r'data-id="(\d+)"', cleared) == ["3"]
    assert HOSTILE not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "2× again" in needs and "in progress · fault active" in needs


async def test_the_newest_limit_shown_as_before(app_url: tuple[web.Application, str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    app, base = app_url
    monkeypatch.setattr(pages, "LIST_LIMIT", 3)
    async with aiohttp.ClientSession() as http:
        page = await list_same_as_reference(app, http, base, show="all")
    assert "6 ticket(s), the newest 3 shown" in page
    assert re.findall(r'data-id="(\d+)"', page) == ["6", "5", "4"]


async def test_a_row_is_rendered_again_only_when_it_changes(
        app_url: tuple[web.Application, str]) -> None:
    app, base = app_url
    rows, store = app[TICKET_ROWS], app[STORE]
    async with aiohttp.ClientSession() as http:
        await list_same_as_reference(app, http, base)
        first = rows.rendered
        assert first == 5  # the unresolved ones
        await list_same_as_reference(app, http, base)
        assert rows.rendered == first  # nothing changed: nothing rendered
        # another view reuses the rows it shares and renders the one it adds
        await list_same_as_reference(app, http, base, show="all")
        assert rows.rendered == first + 1
        await store.change(4, by="ann", at=time.time(), assignee="carol")
        page = await list_same_as_reference(app, http, base)
        assert rows.rendered == first + 2 and "<td>carol</td>" in page
        await store.recur(1, at=time.time(), text="jammed again")
        page = await list_same_as_reference(app, http, base)
        assert rows.rendered == first + 3 and "3× again" in page
        await store.clear(2, at=time.time(), resolve=False)  # moves to "Fault already cleared"
        page = await list_same_as_reference(app, http, base)
        assert rows.rendered == first + 4
        assert 'data-id="2"' in main(page).split('id="cleared"')[1]
        # a closed ticket whose fault clears changes without an event, so without a new
        # updated_at: the row must still read the change (the key is the row's content)
        await store.change(1, by="ann", at=time.time(), state="resolved")
        await store.change(1, by="ann", at=time.time(), state="closed")
        page = await list_same_as_reference(app, http, base, show="closed")
        assert "closed · fault active" in page
        was = await store.get(1)
        await store.clear(1, at=time.time(), resolve=True)
        assert (await store.get(1)).updated_at == was.updated_at
        page = await list_same_as_reference(app, http, base, show="closed")
        assert "closed · cleared" in page and "closed · fault active" not in page


async def test_a_row_is_rendered_again_when_its_age_reads_differently(
        app_url: tuple[web.Application, str]) -> None:
    app, _ = app_url
    macro = aiohttp_jinja2.get_env(app).get_template("macros.html").module.ticket_row  # type: ignore[attr-defined]
    tickets = [await app[STORE].get(1)]  # opened 3.5 hours ago
    rows = pages.TicketRows()
    [first] = rows.shown(tickets, macro)
    assert rows.shown(tickets, macro) == [first] and rows.rendered == 1
    older = replace(tickets[0], created_at=tickets[0].created_at - HOUR)
    [again] = rows.shown([older], macro)
    assert rows.rendered == 2 and "3h ago" in first and "4h ago" in again
    assert again.replace("4h ago", "3h ago") == first


async def test_kept_rows_are_bounded(app_url: tuple[web.Application, str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    app, base = app_url
    rows = app[TICKET_ROWS]
    monkeypatch.setattr(rows, "KEPT", 2)
    async with aiohttp.ClientSession() as http:
        # over the bound, the rows of the page just shown stay: both of its lists
        await list_same_as_reference(app, http, base)  # 4 needing work, 1 cleared
        rendered = rows.rendered
        await list_same_as_reference(app, http, base)
        assert rows.rendered == rendered == 5
        await list_same_as_reference(app, http, base, show="all")  # adds the resolved one
        await list_same_as_reference(app, http, base, show="resolved")  # keeps only its 1
        await list_same_as_reference(app, http, base, show="resolved")
        assert rows.rendered == rendered + 1
        await list_same_as_reference(app, http, base, show="all")
        assert rows.rendered == rendered + 6  # all but the resolved one rendered again


async def test_ticket_page_equals_the_original(app_url: tuple[web.Application, str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    app, base = app_url
    seen: list[dict[str, Any]] = []

    def recording(template: str, request: web.Request, context: dict[str, Any],
                  status: int = 200) -> web.Response:
        seen.append(context)  # what the handler hands its template: the reference gets the same
        return templating.render(template, request, context, status)

    monkeypatch.setattr(pages, "render", recording)
    ref = aiohttp_jinja2.get_env(app).from_string(TICKET_REFERENCE)
    async with aiohttp.ClientSession() as http:
        for ticket_id in (1, 2, 4, 6):
            async with http.get(f"{base}/tickets/{ticket_id}") as resp:
                assert resp.status == 200
                page = await resp.text()
            expected = ref.render(**seen[-1], who=None, path=f"/tickets/{ticket_id}")
            assert main(page) == expected
            assert HOSTILE not in page
    assert "done &lt;ok&gt;" in page and "open → resolved" in page
