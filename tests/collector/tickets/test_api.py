"""The REST API on a real aiohttp server on loopback, and the CLI against it in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from collector.app import build_app
from collector.auth import AuthSettings
from collector.config import CollectorSettings, Config, DeviceConfig
from collector.demo import free_port
from collector.faults.engine import FaultEngine
from collector.keys import CONFIG, ENGINE, SINKS, STATE, STORE
from collector.tickets.store import NewTicket
from probes.secret import Secret
from tests.apps import Client as Server
from tests.apps import serving

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "s3cret-token"

# reads without a login, as before accounts came (issue 13); changes still need a token
PUBLIC_READ = AuthSettings(public_read=True)


@pytest.fixture()
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    config = Config(path=tmp_path / "fleetwatch.yaml",
                    collector=CollectorSettings(state_dir=tmp_path / "state",
                                                api_token=Secret(TOKEN)),
                    devices=(DeviceConfig(name="p1", host="192.0.2.1", site="hq"),))
    app = build_app(config, PUBLIC_READ)  # the whole collector: no devices, no storage
    async with serving(app) as url, aiohttp.ClientSession() as http:
        yield Server(app, url, http, token=TOKEN)


async def test_setup_wires_store_engine_and_sink(server: Server) -> None:
    engine = server.app[ENGINE]
    sinks = server.app[SINKS]
    assert isinstance(engine, FaultEngine) and engine in sinks
    assert sinks.index(server.app[STATE]) < sinks.index(engine)  # the cache first, then faults
    assert (Path(server.app[CONFIG].collector.state_dir) / "tickets.sqlite3").exists()


async def test_manual_ticket_lifecycle(server: Server) -> None:
    status, body = await server.call("POST", "/api/v1/tickets", {
        "title": "Toner smudges on every page", "device": "p1", "severity": "warning",
        "description": "reported by reception", "by": "alice"})
    assert status == 201, body
    ticket = body["ticket"]
    assert ticket["kind"] == "manual" and ticket["state"] == "open" and ticket["site"] == "hq"
    tid = ticket["id"]

    status, body = await server.call("PATCH", f"/api/v1/tickets/{tid}",
                                     {"assignee": "bob", "state": "acknowledged", "by": "bob"})
    assert status == 200 and body["ticket"]["assignee"] == "bob"
    assert body["ticket"]["state"] == "acknowledged"
    status, body = await server.call("POST", f"/api/v1/tickets/{tid}/comments",
                                     {"text": "drum replaced", "by": "bob"})
    assert status == 201 and body["event"]["kind"] == "comment" and body["event"]["by"] == "bob"
    status, body = await server.call("PATCH", f"/api/v1/tickets/{tid}", {"state": "resolved"})
    assert status == 200 and body["ticket"]["state"] == "resolved"

    status, body = await server.call("GET", f"/api/v1/tickets/{tid}")
    assert status == 200
    assert [(e["kind"], e["by"]) for e in body["events"]] == [
        ("opened", "alice"), ("assigned", "bob"), ("state", "bob"), ("comment", "bob"),
        ("state", "api")]
    assert body["events_total"] == 5
    status, body = await server.call("GET", f"/api/v1/tickets/{tid}?events=2")
    assert len(body["events"]) == 2 and body["events_total"] == 5


async def test_listing_filters_and_paging(server: Server) -> None:
    store = server.app[STORE]
    for i in range(7):
        await store.create(NewTicket(kind="fault" if i < 4 else "manual", title=f"t{i}",
                                     device="p1" if i % 2 else "p2",
                                     fault_key=f"k{i}" if i < 4 else None), by="x", at=float(i))
    await store.change(1, by="x", at=9.0, state="resolved")
    status, body = await server.call("GET", "/api/v1/tickets?limit=3&offset=0")
    assert status == 200 and body["total"] == 7 and [t["title"] for t in body["tickets"]] == [
        "t6", "t5", "t4"]
    status, body = await server.call("GET", "/api/v1/tickets?limit=3&offset=6")
    assert [t["title"] for t in body["tickets"]] == ["t0"]
    status, body = await server.call("GET", "/api/v1/tickets?state=unresolved&kind=fault"
                                     "&device=p1&order=oldest")
    assert [t["title"] for t in body["tickets"]] == ["t1", "t3"]
    status, body = await server.call("GET", "/api/v1/tickets?state=resolved,closed")
    assert [t["title"] for t in body["tickets"]] == ["t0"]


@pytest.mark.parametrize(("method", "path", "body", "raw", "token", "status", "message"), [
    ("POST", "/api/v1/tickets", {"title": "x"}, None, None, 401, "credentials"),
    ("POST", "/api/v1/tickets", {"title": "x"}, None, "wrong", 401, "credentials"),
    ("POST", "/api/v1/tickets", None, b"{not json", TOKEN, 400, "not valid JSON"),
    ("POST", "/api/v1/tickets", None, b"[1, 2]", TOKEN, 400, "JSON object"),
    ("POST", "/api/v1/tickets", {"title": "x", "colour": "red"}, None, TOKEN, 400,
     "unknown field(s) colour"),
    ("POST", "/api/v1/tickets", {"description": "no title"}, None, TOKEN, 400, "'title'"),
    ("POST", "/api/v1/tickets", {"title": 5}, None, TOKEN, 400, "must be a string"),
    ("POST", "/api/v1/tickets", {"title": "x", "severity": "dire"}, None, TOKEN, 400,
     "unknown severity"),
    ("PATCH", "/api/v1/tickets/1", {"state": "done"}, None, TOKEN, 400, "unknown state"),
    ("PATCH", "/api/v1/tickets/1", {"by": "x"}, None, TOKEN, 400, "nothing to change"),
    ("PATCH", "/api/v1/tickets/1", {"state": "closed"}, None, None, 401, "credentials"),
    ("PATCH", "/api/v1/tickets/99", {"state": "closed"}, None, TOKEN, 404, "no ticket #99"),
    ("PATCH", "/api/v1/tickets/abc", {"state": "closed"}, None, TOKEN, 400, "positive integer"),
    ("GET", "/api/v1/tickets/99", None, None, TOKEN, 404, "no ticket #99"),
    ("GET", "/api/v1/tickets/0", None, None, TOKEN, 400, "positive integer"),
    ("GET", "/api/v1/tickets?limit=0", None, None, TOKEN, 400, "limit must be between"),
    ("GET", "/api/v1/tickets?limit=abc", None, None, TOKEN, 400, "limit must be an integer"),
    ("GET", "/api/v1/tickets?limit=501", None, None, TOKEN, 400, "limit must be between"),
    ("GET", "/api/v1/tickets?offset=-1", None, None, TOKEN, 400, "offset must be between"),
    ("GET", "/api/v1/tickets?state=bogus", None, None, TOKEN, 400, "unknown state"),
    ("GET", "/api/v1/tickets?colour=red", None, None, TOKEN, 400, "unknown query parameter"),
    ("GET", "/api/v1/tickets?order=random", None, None, TOKEN, 400, "order must be"),
    ("POST", "/api/v1/tickets/1/comments", {"text": ""}, None, TOKEN, 400, "must not be empty"),
    ("POST", "/api/v1/tickets/42/comments", {"text": "hi"}, None, TOKEN, 404, "no ticket #42"),
    ("DELETE", "/api/v1/tickets/1", None, None, TOKEN, 405, "not allowed"),
    ("GET", "/api/v1/tickets/99999999999999999999999", None, None, TOKEN, 400, "positive integer"),
    ("PATCH", "/api/v1/tickets/99999999999999999999999", {"state": "closed"}, None, TOKEN, 400,
     "positive integer"),
    ("GET", "/api/v1/tickets/%C2%B2", None, None, TOKEN, 400, "positive integer"),
    ("POST", "/api/v1/tickets", None, b'{"title": "\\ud800"}', TOKEN, 400, "not valid Unicode"),
    ("POST", "/api/v1/tickets/1/comments", None, b'{"text": "a\\udfffb"}', TOKEN, 400,
     "not valid Unicode"),
    ("POST", "/api/v1/tickets", None, b'{"title": "' + b"x" * (3 << 20) + b'"}', TOKEN, 413,
     "body size"),
    ("GET", "/api/v1/tickets/1/foo", None, None, TOKEN, 404, "Not Found"),
    ("GET", "/api/v1/nothing-here", None, None, TOKEN, 404, "Not Found"),
])
async def test_bad_requests_get_json_errors(
    server: Server, method: str, path: str, body: Any, raw: bytes | None, token: str | None,
    status: int, message: str,
) -> None:
    await server.app[STORE].create(NewTicket(kind="manual", title="one"), by="x", at=1.0)
    got_status, got = await server.call(method, path, body, raw=raw, token=token)
    assert got_status == status, got
    assert isinstance(got, dict) and message in got["error"]


async def test_illegal_transition_and_second_open_ticket_are_conflicts(server: Server) -> None:
    store = server.app[STORE]
    fault = NewTicket(kind="fault", title="p1: Paper jam", device="p1", fault_key="jammed")
    first = await store.create(fault, by="fleetwatch", at=1.0)
    status, body = await server.call("PATCH", f"/api/v1/tickets/{first.id}", {"state": "closed"})
    assert status == 200
    status, body = await server.call("PATCH", f"/api/v1/tickets/{first.id}", {"state": "open"})
    assert status == 409 and "closed is final" in body["error"]

    second = await store.create(fault, by="fleetwatch", at=2.0)
    await store.change(second.id, by="x", at=3.0, state="resolved")
    await store.create(fault, by="fleetwatch", at=4.0)
    status, body = await server.call("PATCH", f"/api/v1/tickets/{second.id}", {"state": "open"})
    assert status == 409 and "already open" in body["error"]


async def test_pages_and_catalogue(server: Server) -> None:
    await server.app[STORE].create(NewTicket(kind="manual", title="<b>odd</b> title"),
                                   by="x", at=1.0)
    # a browser's login prompt: any user name, the api_token as password
    auth = {"Authorization": aiohttp.encode_basic_auth("anyone", TOKEN)}
    async with server.http.get(server.url + "/tickets", headers=auth) as r:
        page = await r.text()
        assert r.status == 200 and "&lt;b&gt;odd&lt;/b&gt;" in page
    async with server.http.get(server.url + "/tickets/1", headers=auth) as r:
        assert r.status == 200 and "Timeline" in await r.text()
    async with server.http.get(server.url + "/tickets/77", headers=auth) as r:
        assert r.status == 404
    status, body = await server.call("GET", "/api/v1/faults")
    codes = {f["code"] for f in body["faults"]}
    assert status == 200 and {"jammed", "unreachable", "reorder", "alert_cover"} <= codes


async def test_ticket_page_shows_why_it_was_held_and_who_is_behind(server: Server) -> None:
    details = {"code": "unreachable", "held": {"reason": "maintenance window (printer swap)",
                                               "since": 1_800_000_000.0,
                                               "until": 1_800_003_600.0},
               "dependents": ["p2", "p3"]}
    await server.app[STORE].create(NewTicket(kind="fault", title="sw: Device unreachable",
                                             device="sw", fault_key="unreachable",
                                             details=details), by="fleetwatch", at=1.0)
    async with server.http.get(server.url + "/tickets/1",
                               headers={"Authorization": f"Bearer {TOKEN}"}) as r:
        page = await r.text()
    assert r.status == 200
    assert "Held back" in page and "maintenance window (printer swap)" in page
    assert "Also down behind it" in page and "p2, p3" in page


# --- the CLI against the real server ---------------------------------------------------------
async def cli(server: Server, *args: str, token: str | None = TOKEN) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FLEETWATCH_API_TOKEN"}
    env["FLEETWATCH_URL"] = server.url
    env["USER"] = "carol"
    if token:
        env["FLEETWATCH_API_TOKEN"] = token
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "collector.cli", "tickets", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_works_the_queue(server: Server, tmp_path: Path) -> None:
    store = server.app[STORE]
    jam = await store.create(NewTicket(kind="fault", title="p1: Paper jam", severity="critical",
                                       device="p1", fault_key="jammed", fault_active=True),
                             by="fleetwatch", at=1.0)
    code, out, err = await cli(server, "list")
    assert code == 0, err
    assert "p1: Paper jam" in out and "critical" in out and "1 shown (1-1 of 1)" in out

    code, out, err = await cli(server, "ack", str(jam.id), "-m", "looking")
    assert code == 0 and "state: acknowledged" in out
    code, out, err = await cli(server, "assign", str(jam.id), "dave")
    assert code == 0 and "assignee: dave" in out
    code, out, err = await cli(server, "comment", str(jam.id), "paper path cleared")
    assert code == 0 and "paper path cleared" in out
    code, out, err = await cli(server, "resolve", str(jam.id))
    assert code == 0 and "state: resolved" in out
    code, out, err = await cli(server, "close", str(jam.id), "--json")
    assert code == 0 and json.loads(out)["ticket"]["state"] == "closed"

    code, out, err = await cli(server, "show", str(jam.id))
    assert code == 0
    timeline = out.split("timeline:")[1]
    for needle in ("opened", "looking", "dave", "paper path cleared", "carol"):
        assert needle in timeline
    events = (await store.events(jam.id))[0]
    assert {e.by for e in events[1:]} == {"carol"}  # --by defaults to $USER

    code, out, err = await cli(server, "list")
    assert code == 0 and "no tickets" in out
    code, out, err = await cli(server, "list", "--all", "--json")
    assert code == 0 and json.loads(out)["total"] == 1


async def test_cli_reports_refusals(server: Server, tmp_path: Path) -> None:
    jam = await server.app[STORE].create(NewTicket(kind="manual", title="x"), by="x", at=1.0)
    code, _, err = await cli(server, "reopen", str(jam.id))
    assert code == 2 and "HTTP 409" in err and "cannot go from open to open" in err
    code, _, err = await cli(server, "ack", str(jam.id), token=None)
    assert code == 2 and "HTTP 401" in err
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    code, _, err = await cli(server, "ack", str(jam.id), "--token-file", str(token_file),
                               token=None)
    assert code == 0, err
    code, _, err = await cli(server, "show", "999")
    assert code == 2 and "HTTP 404: no ticket #999" in err
    code, _, err = await cli(server, "list", "--url", f"http://127.0.0.1:{free_port()}")
    assert code == 2 and "cannot reach the collector" in err
    code, _, err = await cli(server, "list", "--url", "127.0.0.1:8730")
    assert code == 2 and "must start with http://" in err and "Traceback" not in err


@pytest.mark.parametrize("answer", [b"SSH-2.0-OpenSSH_9.2\r\n",
                                    b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"tick"])
async def test_cli_against_a_wrong_server_is_one_line(server: Server, answer: bytes) -> None:
    """Something else on the port (another service, or an answer cut short): one line, no
    traceback."""
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(answer)
        await writer.drain()
        writer.close()

    other = await asyncio.start_server(reply, "127.0.0.1", 0)
    port = other.sockets[0].getsockname()[1]
    try:
        code, _, err = await cli(server, "list", "--url", f"http://127.0.0.1:{port}")
    finally:
        other.close()
        await other.wait_closed()
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "did not answer like a Fleetwatch collector" in err


async def test_database_trouble_is_a_json_503(server: Server) -> None:
    await server.app[STORE].close()
    status, body = await server.call("GET", "/api/v1/tickets")
    assert status == 503 and "ticket database unavailable" in body["error"]
