"""Live updates by server-sent events (GET /api/v1/events, collector/web/events.py) through the
real app over HTTP: a fault polled from snmpsim reaches the stream, only changes are sent and
coalesced, Last-Event-ID replays or resyncs, the stream limit, a slow client is dropped, ticket
API writes are events, who may listen (401, viewer, token, logout and expiry end the stream),
and the app stops promptly with streams open."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from collector.app import build_app
from collector.auth import DB_NAME, AuthSettings
from collector.auth.store import Accounts
from collector.config import (
    CollectorSettings,
    Config,
    DeviceConfig,
    SnmpProfile,
    TicketSettings,
)
from collector.demo import Snmpsim, free_port
from collector.demo.simfleet import SimFleet
from collector.keys import CONFIG, SINKS
from collector.web.events import HUB, EventHub
from probes.model import Reading
from probes.registry import probe_settings
from probes.secret import Secret

PASSWORD = "an events test password"


@dataclass
class Sse:
    """One event of the stream: ``kind`` "comment" for a comment line (the heartbeat)."""

    kind: str
    id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Reader:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, timeout: float = 10.0) -> Sse | None:
        """The next event or comment; None at the end of the stream."""
        kind, event_id, data, comment = "message", None, "", None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    return None
                line = raw.decode().rstrip("\n")
                if line == "":
                    if comment is not None:
                        return Sse("comment", data={"text": comment})
                    if data:
                        return Sse(kind, event_id, json.loads(data))
                    continue  # a block with only retry:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    comment = value
                elif name == "event":
                    kind = value
                elif name == "id":
                    event_id = value
                elif name == "data":
                    data += value

    async def until(self, match: Callable[[Sse], bool], timeout: float = 20.0) -> list[Sse]:
        """Events read until one matches (the last of the list)."""
        seen: list[Sse] = []
        deadline = time.monotonic() + timeout
        while True:
            event = await self.next(max(0.1, deadline - time.monotonic()))
            assert event is not None, f"the stream ended; seen: {seen}"
            seen.append(event)
            if match(event):
                return seen


@dataclass
class Lab:
    app: web.Application
    runner: web.AppRunner
    url: str
    sessions: dict[str, tuple[str, str]]  # user → (session id, csrf)
    tokens: dict[str, str]
    state: Path

    @property
    def hub(self) -> EventHub:
        return self.app[HUB]

    def cookie(self, user: str) -> dict[str, str]:
        return {"Cookie": f"fw_session={self.sessions[user][0]}"}

    async def feed(self, reading: Reading) -> None:
        """As the scheduler does: the reading through every sink, in order."""
        device = next(d for d in self.app[CONFIG].devices if d.name == reading.device)
        for sink in list(self.app[SINKS]):
            await sink.handle(reading, device)

    def stream(self, http: aiohttp.ClientSession, user: str | None = "tech",
               headers: dict[str, str] | None = None, query: str = ""
               ) -> Awaitable[aiohttp.ClientResponse]:
        h = {"Accept": "text/event-stream", **(self.cookie(user) if user else {}),
             **(headers or {})}
        return http.get(f"{self.url}/api/v1/events{query}", headers=h,
                        timeout=aiohttp.ClientTimeout(total=None, sock_read=None))


def reading(device: str = "p1", status: str = "ok", faults: tuple[str, ...] = (),
            problems: tuple[str, ...] = ()) -> Reading:
    return Reading(device=device, host="192.0.2.1", probe="snmp_printer", status=status,  # type: ignore[arg-type]
                   faults=frozenset(faults), problems=problems)


Starter = Callable[..., Awaitable[Lab]]


@pytest.fixture()
async def start(tmp_path: Path) -> AsyncIterator[Starter]:
    runners: list[web.AppRunner] = []

    async def go(*, devices: tuple[DeviceConfig, ...] | None = None,
                 auth: AuthSettings | None = None, session_hours: float = 1.0,
                 tickets: TicketSettings | None = None, **collector: Any) -> Lab:
        state = tmp_path / "state"
        accounts = Accounts.open(state / DB_NAME)
        sessions, tokens = {}, {}
        for name, role in (("tech", "technician"), ("vera", "viewer")):
            if accounts.user(name) is None:
                accounts.add_user(name, role, PASSWORD)
            sid, csrf, _ = accounts.new_session(name, session_hours)
            sessions[name] = (sid, csrf)
            tokens[name] = accounts.new_token(f"{name}-cli", user=name)[1]
        accounts.close()
        port = free_port()
        config = Config(path=tmp_path / "c.yaml",
                        collector=CollectorSettings(listen_port=port, state_dir=state, jitter=0.1,
                                                    **collector),
                        tickets=tickets or TicketSettings(),
                        devices=devices if devices is not None else (
                            DeviceConfig(name="p1", host="192.0.2.1", site="hq"),
                            DeviceConfig(name="p2", host="192.0.2.2", site="hq")))
        app = build_app(config, auth or AuthSettings())
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return Lab(app, runner, f"http://127.0.0.1:{port}", sessions, tokens, state)

    try:
        yield go
    finally:
        for runner in runners:
            await runner.cleanup()


async def test_a_fault_polled_from_snmpsim_reaches_the_stream(tmp_path: Path, start: Starter
                                                             ) -> None:
    """The real path: the scheduler polls a simulated printer; a jam forced on it arrives as a
    ``device`` event (critical), then, after the debounce, a ``tickets`` event; polls that change
    nothing send nothing."""
    fleet = SimFleet(tmp_path / "fleet", count=1, prefix="ev")
    fleet.write()
    sim = await asyncio.to_thread(Snmpsim([], live_dir=fleet.data_dir).start)
    try:
        devices = tuple(
            DeviceConfig(name=p.name, host=sim.host, port=sim.port, site="HQ",
                         snmp=SnmpProfile(name="p", community=Secret(p.name), timeout=0.5,
                                          retries=0),
                         probes=(probe_settings("snmp_printer", interval=0.5, timeout=0.4),))
            for p in fleet.printers)
        lab = await start(devices=devices, tickets=TicketSettings(debounce_polls=2))
        async with aiohttp.ClientSession() as http, lab.stream(http) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/event-stream")
            events = Reader(r)
            assert (await events.next()).kind == "hello"  # type: ignore[union-attr]
            await events.until(lambda e: e.kind == "device" and e.data["status"] == "ok")
            fleet.get("ev-01").forced_faults = {"jammed"}
            fleet.write()
            seen = await events.until(lambda e: e.kind == "device"
                                      and e.data == {"device": "ev-01", "status": "critical"})
            assert all(e.id and e.id.startswith(lab.hub.run_id + "-") for e in seen)
            await events.until(lambda e: e.kind == "tickets" and e.data == {"device": "ev-01"})
            # about six polls that change nothing: no event
            quiet = await _drain(events, 3.0)
            assert [e for e in quiet if e.kind == "device"] == [], quiet
    finally:
        await asyncio.to_thread(sim.stop)


async def _drain(events: Reader, seconds: float) -> list[Sse]:
    """Whatever the stream sends within ``seconds``."""
    out: list[Sse] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = await events.next(left)
        except TimeoutError:
            break
        if event is None:
            break
        out.append(event)
    return out


async def test_only_changes_are_sent_and_coalesced(start: Starter) -> None:
    lab = await start()
    async with aiohttp.ClientSession() as http, lab.stream(http) as r:
        events = Reader(r)
        assert (await events.next()).kind == "hello"  # type: ignore[union-attr]
        await lab.feed(reading("p1", problems=("Black Toner low (8%)",), status="warning"))
        first = await events.until(lambda e: e.kind == "device")
        assert first[-1].data == {"device": "p1", "status": "warning"}
        # the same state again, and a level that drifts inside it: nothing
        for percent in (8, 7, 6):
            await lab.feed(reading("p1", problems=(f"Black Toner low ({percent}%)",),
                                   status="warning"))
        assert [e for e in await _drain(events, 1.6) if e.kind == "device"] == []
        # a device flapping ten times within about half a second: one event per second at
        # most (one, unless the machine is slow), the last one with its last state
        t0 = time.monotonic()
        for n in range(10):
            await lab.feed(reading("p2", status="critical" if n % 2 else "ok",
                                   faults=("jammed",) if n % 2 else ()))
            await asyncio.sleep(0.05)
        took = time.monotonic() - t0
        burst = [e for e in await _drain(events, 2.5) if e.kind == "device"]
        assert 1 <= len(burst) <= int(took / lab.hub.coalesce) + 1, (took, burst)
        assert burst[-1].data == {"device": "p2", "status": "critical"}, burst


async def test_last_event_id_replays_what_was_missed_or_asks_for_a_resync(start: Starter
                                                                          ) -> None:
    lab = await start()
    async with aiohttp.ClientSession() as http:
        async with lab.stream(http) as r:
            hello = await Reader(r).next()
            assert hello is not None and hello.kind == "hello" and hello.id == lab.hub.last_id()
        await lab.feed(reading("p1", status="critical", faults=("jammed",)))
        await lab.feed(reading("p2", status="warning", faults=("low_paper",)))
        await asyncio.sleep(lab.hub.coalesce + 0.5)
        assert hello.id is not None
        async with lab.stream(http, headers={"Last-Event-ID": hello.id}) as r:
            events = Reader(r)
            got = [await events.next(), await events.next()]
        assert [(e.kind, e.data["device"]) for e in got if e is not None] == [
            ("device", "p1"), ("device", "p2")]
        newest = got[-1].id if got[-1] is not None else None
        assert newest == lab.hub.last_id()
        # the page's ?since= does the same; up to date: hello
        async with lab.stream(http, query=f"?since={newest}") as r:
            again = await Reader(r).next()
            assert again is not None and again.kind == "hello"
        # an id of another run, a garbled one, and one older than the history: resync
        for stale in ("0badc0de-3", "nonsense", f"{lab.hub.run_id}-999999999"):
            async with lab.stream(http, headers={"Last-Event-ID": stale}) as r:
                answer = await Reader(r).next()
                assert answer is not None and answer.kind == "resync", stale
        for n in range(1100):  # more than the hub remembers (1,024)
            lab.hub.note("device", f"x{n}", {"device": f"x{n}", "status": "ok"})
        lab.hub.flush()
        async with lab.stream(http, headers={"Last-Event-ID": newest}) as r:
            answer = await Reader(r).next()
            assert answer is not None and answer.kind == "resync"
            assert answer.data == {"id": lab.hub.last_id()}
    assert lab.hub.stats.resyncs == 4


async def test_ticket_api_writes_are_events(start: Starter) -> None:
    lab = await start()
    api = {"Authorization": f"Bearer {lab.tokens['tech']}"}
    async with aiohttp.ClientSession() as http, lab.stream(http, user="vera") as r:
        events = Reader(r)
        await events.next()
        async with http.post(f"{lab.url}/api/v1/tickets", json={"title": "no paper",
                                                                 "device": "p1"},
                             headers=api) as made:
            assert made.status == 201
            ticket = (await made.json())["ticket"]["id"]
        await events.until(lambda e: e.kind == "tickets" and e.data == {"ticket": None})
        async with http.patch(f"{lab.url}/api/v1/tickets/{ticket}",
                              json={"state": "acknowledged"}, headers=api) as changed:
            assert changed.status == 200
        await events.until(lambda e: e.kind == "tickets" and e.data == {"ticket": ticket})
        # a refused write is no event
        async with http.patch(f"{lab.url}/api/v1/tickets/{ticket}", json={"state": "bogus"},
                              headers=api) as refused:
            assert refused.status == 400
        assert [e for e in await _drain(events, 1.6) if e.kind == "tickets"] == []


async def test_who_may_listen(start: Starter) -> None:
    lab = await start()
    async with aiohttp.ClientSession() as http:
        async with lab.stream(http, user=None) as r:
            assert r.status == 401
            assert "log in" in (await r.json())["error"]
        async with lab.stream(http, user="vera") as r:  # a viewer reads
            assert r.status == 200
            assert (await Reader(r).next()).kind == "hello"  # type: ignore[union-attr]
        async with lab.stream(http, user=None,
                              headers={"Authorization": f"Bearer {lab.tokens['vera']}"}) as r:
            assert r.status == 200
        async with http.head(f"{lab.url}/api/v1/events", headers=lab.cookie("vera")) as r:
            assert r.status == 405
    public = await start(auth=AuthSettings(public_read=True))
    async with aiohttp.ClientSession() as http, public.stream(http, user=None) as r:
        assert r.status == 200


async def test_logout_ends_the_stream_at_once(start: Starter) -> None:
    lab = await start()
    async with aiohttp.ClientSession() as http, lab.stream(http) as r:
        events = Reader(r)
        await events.next()
        _, csrf = lab.sessions["tech"]
        async with http.post(f"{lab.url}/logout", headers={**lab.cookie("tech"),
                                                            "X-CSRF-Token": csrf,
                                                            "Origin": lab.url},
                             allow_redirects=False) as out:
            assert out.status == 303
        t0 = time.monotonic()
        bye = await events.until(lambda e: e.kind == "bye", timeout=5)
        assert bye[-1].data == {"reason": "logged out"}
        assert await events.next(5) is None and time.monotonic() - t0 < 2
        async with lab.stream(http) as again:
            assert again.status == 401


async def test_an_expired_session_stops_receiving(start: Starter) -> None:
    lab = await start(session_hours=2 / 3600)  # two seconds
    lab.hub.recheck = 0.5
    async with aiohttp.ClientSession() as http, lab.stream(http, user="vera") as r:
        events = Reader(r)
        await events.next()
        t0 = time.monotonic()
        bye = await events.until(lambda e: e.kind == "bye", timeout=8)
        assert bye[-1].data == {"reason": "session ended"}
        assert time.monotonic() - t0 < 4
        assert await events.next(5) is None
    assert lab.hub.stats.ended_auth == 1


async def test_the_stream_limit(start: Starter) -> None:
    lab = await start(max_event_streams=2)
    async with aiohttp.ClientSession() as http:
        first = await lab.stream(http)
        second = await lab.stream(http, user="vera")
        assert first.status == second.status == 200
        async with lab.stream(http) as third:
            assert third.status == 503
            assert "collector.max_event_streams = 2" in (await third.json())["error"]
            assert third.headers["Retry-After"] == "60"
        first.close()  # the client hangs up: its place frees within a few seconds
        deadline = time.monotonic() + 6
        while lab.hub.stats.streams > 1:
            assert time.monotonic() < deadline, lab.hub.stats
            await asyncio.sleep(0.1)
        async with lab.stream(http) as fourth:
            assert fourth.status == 200
        second.close()
    assert lab.hub.stats.refused == 1


def _stuck_client(port: int, cookie: str) -> socket.socket:
    """A client that asks for the stream and then never reads (tiny receive buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                 f"Accept: text/event-stream\r\nCookie: {cookie}\r\n\r\n".encode())
    return sock


@pytest.mark.parametrize("limits", [{"queue_size": 2, "write_timeout": 60.0},
                                    {"queue_size": 100_000, "write_timeout": 0.5}],
                         ids=["queue full", "write timeout"])
async def test_a_slow_client_is_dropped_not_buffered(start: Starter,
                                                     limits: dict[str, float]) -> None:
    lab = await start()
    for name, value in limits.items():
        setattr(lab.hub, name, value)
    port = int(lab.url.rsplit(":", 1)[1])
    stuck = await asyncio.to_thread(_stuck_client, port, lab.cookie("tech")["Cookie"])
    try:
        async with aiohttp.ClientSession() as http, lab.stream(http, user="vera") as r:
            healthy = Reader(r)
            await healthy.next()
            assert lab.hub.stats.streams == 2
            blob = "x" * 4000
            deadline = time.monotonic() + 30
            n = 0
            while lab.hub.stats.dropped_slow == 0:
                assert time.monotonic() < deadline, lab.hub.stats
                for _ in range(50):
                    n += 1
                    lab.hub.note("device", f"d{n}", {"device": f"d{n}", "pad": blob})
                lab.hub.flush()
                await healthy.next()  # the healthy client keeps up
                await asyncio.sleep(0.01)
            deadline = time.monotonic() + 5
            while lab.hub.stats.streams != 1:
                assert time.monotonic() < deadline, lab.hub.stats
                await asyncio.sleep(0.05)
            lab.hub.note("device", "p1", {"device": "p1", "status": "ok"})
            lab.hub.flush()
            await healthy.until(lambda e: e.data.get("device") == "p1", timeout=60)
    finally:
        stuck.close()


async def test_the_app_stops_promptly_with_streams_open(start: Starter) -> None:
    lab = await start()
    async with aiohttp.ClientSession() as http, lab.stream(http) as r, \
            lab.stream(http, user="vera") as r2:
        events = Reader(r)
        await events.next()
        await Reader(r2).next()
        t0 = time.monotonic()
        await lab.runner.cleanup()  # AppRunner's shutdown_timeout is 60 s
        took = time.monotonic() - t0
        assert took < 3, took
        bye = await events.until(lambda e: e.kind == "bye", timeout=2)
        assert bye[-1].data == {"reason": "collector stopping"}


async def test_pages_carry_the_stream_and_the_newest_event_id(start: Starter) -> None:
    lab = await start()
    await lab.feed(reading("p1", status="critical", faults=("jammed",)))
    lab.hub.flush()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{lab.url}/", headers=lab.cookie("vera")) as page:
            html = await page.text()
        assert 'data-events="/api/v1/events"' in html
        since = re.search(r'data-events-since="([^"]+)"', html)
        assert since is not None and since[1] == lab.hub.last_id()
        await lab.feed(reading("p2", status="warning", faults=("low_paper",)))
        lab.hub.flush()  # sent before the stream opens: replayed from the history
        async with lab.stream(http, query=f"?since={since[1]}") as r:
            missed = await Reader(r).next(5)
            assert missed is not None and missed.data == {"device": "p2", "status": "warning"}
        async with http.get(f"{lab.url}/devices/p1", headers=lab.cookie("vera")) as page:
            assert "data-events" not in await page.text()  # not a live page
