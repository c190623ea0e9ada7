"""Web pages and the uptime report at size (issue 13). Figures are printed, never asserted.

- **Page render**: the fleet page (``/``: its first 250 rows, worst first; ``?limit=all``; a
  filtered search), a device page and the ticket list of a fleet of ``--devices`` printers
  (default 1,000) whose latest readings sit in the state cache, each fetched ``--requests``
  times over HTTP by a logged-in technician (session cookie: the auth middleware runs);
  p50/p95/max. The fleet page's rows are kept rendered (collector.web.fleet.FleetRows), so it is
  timed three ways: its first request (every row rendered), steady (nothing changed), and after
  a poll cycle before each request (every reading a new object, a tenth of them with a new
  toner level). The peer is the floor: a plain aiohttp handler in the same process answering a
  static body of the fleet page's size. The ticket list's rows are kept too
  (collector.tickets.pages.TicketRows): it is timed on its first request, steady, with 10
  tickets reassigned before each request, and ``?show=all``; then a ticket page with 601 events
  (``--only tickets``: these rows alone, without the fleet).
- **Uptime report**: ``--uptime-devices`` devices (default 100) polled every ``--poll-minutes``
  (default 15) for ``--days`` (default 365), with bench/uptime_report.py's fleet and outages.
  Every poll goes to the product's span record (collector/uptime/store.py, through its sink)
  and, as the availability point a collector writes, to a real influxd. Then
  ``/api/v1/uptime?window=`` 24h, 7d, 30d, 90d and the whole span, each beside its peer: the
  plainest InfluxQL availability query a Grafana panel would run over the same window and the
  same polls (``mean(up) GROUP BY device``).

Run from the repository root: ``.venv/bin/python -m bench.web`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import re
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from bench import uptime_report
from bench.common import machine, percentile
from collector.app import build_app
from collector.auth import DB_NAME, AuthSettings
from collector.auth.store import Accounts
from collector.config import CollectorSettings, Config, DeviceConfig, StorageConfig
from collector.demo import Influxd, free_port
from collector.keys import STATE, STORE
from collector.storage.lineproto import reading_lines
from collector.tickets.pages import LIST_LIMIT, SHOWS, TIMELINE_LIMIT
from collector.tickets.store import NewTicket, TicketQuery
from collector.uptime.store import DB_NAME as UPTIME_DB
from collector.uptime.store import UptimeStore
from collector.web.fleet import PAGE_ROWS
from probes.model import Identity, PageCounter, Reading, Supply, Tray

PASSWORD = "bench password 1234"


def reading(name: str, rng: random.Random) -> Reading:
    supplies = tuple(
        Supply(index=f"1.{i}", description=f"{c.title()} Toner CF41{i}A", type="toner",
               supply_class="consumed", colour=c, unit="percent", level=lvl, capacity=100,
               percent=float(lvl), state="low" if lvl < 10 else "ok", part_number=f"CF41{i}A")
        for i, c in enumerate(("black", "cyan", "magenta", "yellow"), 1)
        for lvl in [rng.randint(0, 100)])
    trays = tuple(Tray(index=f"1.{i}", description=f"Tray {i}", media="A4", level=250,
                       capacity=500, percent=50.0, state="ok", manual=False) for i in (1, 2))
    faults = frozenset({"jammed"}) if rng.random() < 0.05 else frozenset()
    return Reading(device=name, host="10.0.0.1", probe="snmp_printer", faults=faults,
                   status="critical" if faults else "ok", supplies=supplies, trays=trays,
                   identity=Identity(model="HP Color LaserJet M479fdw", serial="SN" + name),
                   page_counters=(PageCounter("1.1", rng.randint(1000, 90000)),),
                   problems=("jammed",) if faults else ())


async def timed(n: int, call: Callable[[], Awaitable[int]],
                before: Callable[[], Awaitable[None]] | None = None) -> tuple[list[float], int]:
    """``n`` calls of ``call``, each timed alone (``before`` runs untimed ahead of each)."""
    times, size = [], 0
    for _ in range(n):
        if before is not None:
            await before()
        t0 = time.perf_counter()
        size = await call()
        times.append((time.perf_counter() - t0) * 1000)
    return times, size


def row(name: str, times: list[float], extra: str = "") -> str:
    return (f"| {name} | {len(times)} | {statistics.median(times):.1f} | "
            f"{percentile(times, 95):.1f} | {max(times):.1f} | {extra} |")


CHANGED = 0.1  # share of the devices whose row reads differently after a poll cycle


async def new_readings(app: web.Application, configs: tuple[DeviceConfig, ...],
                       rng: random.Random) -> None:
    """A poll cycle: every device gets a new reading (a new object with a new time, as a poll
    makes), and ``CHANGED`` of them a new black toner level (their row reads differently)."""
    now = time.time()
    for d in configs:
        st = app[STATE].get(d.name)
        assert st is not None
        r = st.readings["snmp_printer"]
        if rng.random() < CHANGED:
            level = rng.randint(0, 100)
            toner = dataclasses.replace(r.supplies[0], level=level, percent=float(level),
                                        state="low" if level < 10 else "ok")
            r = dataclasses.replace(r, supplies=(toner, *r.supplies[1:]))
        await app[STATE].handle(dataclasses.replace(r, time=now), d)


async def open_tickets(app: web.Application, configs: tuple[DeviceConfig, ...],
                       rng: random.Random, count: int = 600) -> int:
    """``count`` fault tickets on random devices (two on ``p0001``), a third of them with the
    fault already cleared: more than the ticket list shows."""
    store = app[STORE]
    now = time.time()
    for i in range(count):
        d = configs[1] if i < 2 else rng.choice(configs)
        fault = rng.choice(("jammed", "door_open", "no_paper", "low_toner", "unreachable"))
        await store.create(NewTicket(kind="fault", title=f"{d.name}: {fault}", device=d.name,
                                     site=d.site, fault_key=f"{d.name}:{fault}:{i}",
                                     severity=rng.choice(("critical", "warning", "info")),
                                     fault_active=rng.random() > 1 / 3),
                           by="fault engine", at=now - rng.uniform(0, 30 * 86400))
    return count


TICKETS_CHANGED = 10  # tickets a technician or the engine changes between two timed requests
TIMELINE = 600  # events on the ticket whose page is timed (more than the page shows)


async def ticket_rows(app: web.Application, http: aiohttp.ClientSession, base: str,
                      opened: int, requests: int, rng: random.Random) -> list[str]:
    """The ticket list (its rows are kept rendered, collector.tickets.pages.TicketRows: timed
    on its first request, steady, after ``TICKETS_CHANGED`` tickets changed before each
    request, and ``?show=all``) and the page of a ticket with ``TIMELINE`` events. Uses only
    the store's public API, so it times the code before kept rows as well."""
    store = app[STORE]

    def getter(path: str) -> Callable[[], Awaitable[int]]:
        async def get() -> int:
            async with http.get(base + path) as r:
                assert r.status == 200
                return len(await r.read())
        return get

    lines = []
    shown = f"{opened} tickets, the first {LIST_LIMIT} unresolved"
    cold, size = await timed(1, getter("/tickets"))
    lines.append(row(f"ticket list ({shown}), first request (every row rendered)", cold,
                     f"{size / 1e6:.2f} MB"))
    steady, size = await timed(requests, getter("/tickets"))
    lines.append(row(f"ticket list ({shown})", steady, f"{size / 1e6:.2f} MB"))
    unresolved, _ = await store.find(TicketQuery(states=SHOWS["unresolved"], limit=LIST_LIMIT))

    async def some_change() -> None:
        for t in rng.sample(unresolved, min(TICKETS_CHANGED, len(unresolved))):
            await store.change(t.id, by="tech", at=time.time(),
                               assignee=rng.choice(("ann", "bob", "carol")))

    after, size = await timed(requests, getter("/tickets"), some_change)
    lines.append(row(f"ticket list, {TICKETS_CHANGED} tickets reassigned before each request",
                     after, f"{size / 1e6:.2f} MB"))
    everything, size = await timed(requests, getter("/tickets?show=all"))
    lines.append(row(f"ticket list, ?show=all (the newest {LIST_LIMIT} of {opened})", everything,
                     f"{size / 1e6:.2f} MB"))
    busy = unresolved[0]
    for i in range(TIMELINE):
        await store.comment(busy.id, f"called the user back <{i}>", by="tech", at=time.time())
    page, size = await timed(requests, getter(f"/tickets/{busy.id}"))
    lines.append(row(f"ticket page, {TIMELINE + 1} events (the newest {TIMELINE_LIMIT} shown)",
                     page, f"{size / 1e6:.2f} MB"))
    return lines


async def tickets_only(devices: int, requests: int, tmp: Path) -> list[str]:
    """:func:`ticket_rows` alone (``--only tickets``): the same tickets and technician as
    :func:`pages`, without the fleet (the ticket pages do not read the state cache)."""
    rng = random.Random(13)
    configs = tuple(DeviceConfig(name=f"p{i:04d}", host="10.0.0.1", site=f"site{i % 7}",
                                 probes=()) for i in range(devices))
    state = tmp / "state"
    accounts = Accounts.open(state / DB_NAME)
    accounts.add_user("tech", "technician", PASSWORD)
    accounts.close()
    app = build_app(Config(path=tmp / "c.yaml", collector=CollectorSettings(state_dir=state),
                           devices=configs), AuthSettings())
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        opened = await open_tickets(app, configs, rng)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await login(http, base)
            return await ticket_rows(app, http, base, opened, requests, rng)
    finally:
        await runner.cleanup()


async def login(http: aiohttp.ClientSession, base: str) -> None:
    async with http.get(f"{base}/login") as r:
        token = re.search(r'name="login_csrf" value="([^"]+)"', await r.text())
    assert token is not None
    async with http.post(f"{base}/login", data={"username": "tech", "password": PASSWORD,
                                                "login_csrf": token.group(1)}) as r:
        assert r.status == 200, r.status


async def pages(devices: int, requests: int, tmp: Path) -> list[str]:
    rng = random.Random(13)
    configs = tuple(DeviceConfig(name=f"p{i:04d}", host="10.0.0.1", site=f"site{i % 7}",
                                 probes=()) for i in range(devices))
    state = tmp / "state"
    accounts = Accounts.open(state / DB_NAME)
    accounts.add_user("tech", "technician", PASSWORD)
    accounts.close()
    config = Config(path=tmp / "c.yaml", collector=CollectorSettings(state_dir=state),
                    devices=configs)
    app = build_app(config, AuthSettings())
    for d in configs:
        await app[STATE].handle(reading(d.name, rng), d)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    opened = await open_tickets(app, configs, rng)
    lines = []
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await login(http, base)

            def getter(path: str) -> Callable[[], Awaitable[int]]:
                async def get() -> int:
                    async with http.get(base + path) as r:
                        assert r.status == 200
                        return len(await r.read())
                return get

            cold, size = await timed(1, getter("/?limit=all"))
            lines.append(row(f"fleet page, {devices} devices, ?limit=all, first request "
                             "(every row rendered)", cold, f"{size / 1e6:.2f} MB"))
            fleet, size = await timed(requests, getter("/"))
            lines.append(row(f"fleet page, {devices} devices (first {PAGE_ROWS} rows)", fleet,
                             f"{size / 1e6:.2f} MB"))
            everything, size = await timed(requests, getter("/?limit=all"))
            lines.append(row(f"fleet page, {devices} devices, ?limit=all", everything,
                             f"{size / 1e6:.2f} MB"))
            search, size = await timed(requests, getter("/?site=site3&q=p00"))
            lines.append(row("fleet page, ?site=site3&q=p00 (filter and search)", search,
                             f"{size / 1e6:.2f} MB"))

            async def poll_cycle() -> None:
                await new_readings(app, configs, rng)

            after, size = await timed(requests, getter("/"), poll_cycle)
            lines.append(row(f"fleet page (first {PAGE_ROWS} rows) after a poll cycle: every "
                             f"reading new, {CHANGED:.0%} changed", after, f"{size / 1e6:.2f} MB"))
            after, size = await timed(requests, getter("/?limit=all"), poll_cycle)
            lines.append(row("fleet page, ?limit=all, after a poll cycle (as above)", after,
                             f"{size / 1e6:.2f} MB"))
            device, _ = await timed(requests, getter("/devices/p0001"))
            lines.append(row("device page (its tickets; no storage, so no charts)", device))
            lines += await ticket_rows(app, http, base, opened, requests, rng)
            body = b"x" * size
            peer = web.Application()

            async def static(_: web.Request) -> web.Response:
                return web.Response(body=body, content_type="text/html")

            peer.router.add_get("/", static)
            prunner = web.AppRunner(peer)
            await prunner.setup()
            pport = free_port()
            await web.TCPSite(prunner, "127.0.0.1", pport).start()
            try:
                async def get_peer() -> int:
                    async with http.get(f"http://127.0.0.1:{pport}/") as r:
                        return len(await r.read())
                floor, _ = await timed(requests, get_peer)
                lines.append(row("peer: static body of the same size", floor))
            finally:
                await prunner.cleanup()
    finally:
        await runner.cleanup()
    return lines


class InfluxLines:
    """The availability points a collector with InfluxDB storage writes for the same polls
    (the first line of :func:`reading_lines`, per device and up/down, with the poll's time),
    posted to ``/write`` 20,000 at a time: the peer's data."""

    def __init__(self, url: str, db: str) -> None:
        self.url, self.db = url, db
        self.points = 0
        self._lines: list[str] = []
        self._templates: dict[tuple[str, bool], str] = {}

    def add(self, device: DeviceConfig, t: float, up: bool) -> None:
        key = (device.name, up)
        template = self._templates.get(key)
        if template is None:
            sample = Reading(device=device.name, host=device.host, probe="snmp_printer",
                             time=1.0, reachable=up, status="ok" if up else "unreachable",
                             error=None if up else "timeout")
            line = reading_lines(sample, device)[0]
            assert line.startswith("availability,") and line.endswith(" 1000000000"), line
            template = self._templates[key] = line[:-len("1000000000")]
        self._lines.append(f"{template}{int(t * 1e9)}")
        if len(self._lines) >= 20000:
            self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        req = urllib.request.Request(f"{self.url}/write?db={self.db}&precision=ns",
                                     data="\n".join(self._lines).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=120) as resp:
            assert resp.status == 204
        self.points += len(self._lines)
        self._lines.clear()


async def uptime(devices: int, poll_minutes: int, days: int, repeats: int,
                 tmp: Path) -> list[str]:
    """The product's report (``/api/v1/uptime``: the span record, collector/uptime) beside the
    peer (InfluxQL over the same polls as raw points), window by window."""
    end = time.time()
    step = poll_minutes * 60.0
    printers = uptime_report.fleet(devices, step, end)
    influxd = await asyncio.to_thread(Influxd().start)
    lines = []
    try:
        db = "bench_uptime"
        await asyncio.to_thread(influxd.query, f'CREATE DATABASE "{db}"')
        points = InfluxLines(influxd.url, db)
        state = tmp / "ustate"
        state.mkdir()
        store = await UptimeStore.open(state / UPTIME_DB, flush_every=3600)
        t0 = time.perf_counter()
        try:
            polls = await uptime_report.build(store, printers, days, end, seed=1, step=step,
                                              on_poll=points.add)
            spans = sum(len(s) for s in (await store.spans(end - days * 86400.0, end)).values())
        finally:
            await store.close()
        await asyncio.to_thread(points.flush)
        lines.append(f"\n{polls:,} polls ({devices} devices, {days} days, one per {poll_minutes} "
                     f"min; bench/uptime_report.py's fleet and outages) fed to the span record "
                     f"({spans:,} spans) and written to influxd as {points.points:,} availability "
                     f"points, in {time.perf_counter() - t0:.0f} s\n")
        # the same devices without their probe, so the collector polls nothing meanwhile;
        # storage is the influxd, for the device page's history charts
        config = Config(path=tmp / "u.yaml", collector=CollectorSettings(state_dir=state),
                        storage=StorageConfig(backend="influxdb_v1", url=influxd.url,
                                              database=db, timeout=60),
                        devices=tuple(dataclasses.replace(d, probes=()) for d in printers))
        app = build_app(config, AuthSettings(public_read=True))
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        lines.append("| request | n | p50 ms | p95 ms | max ms | |")
        lines.append("|---|---|---|---|---|---|")
        try:
            async with aiohttp.ClientSession() as http:
                for window in dict.fromkeys(("24h", "7d", "30d", "90d", f"{days}d")):
                    async def get(window: str = window) -> int:
                        async with http.get(f"http://127.0.0.1:{port}/api/v1/uptime",
                                            params={"window": window}) as r:
                            assert r.status == 200, await r.text()
                            return len(await r.read())
                    times, size = await timed(repeats, get)
                    lines.append(row(f"/api/v1/uptime?window={window}, {devices} devices "
                                     "(span record)", times, f"{size / 1e3:.0f} kB"))
                    peer_q = (f'SELECT mean("up") FROM "availability" WHERE time > now() - '
                              f'{window} GROUP BY "device"')

                    async def peer(q: str = peer_q) -> int:
                        async with http.get(f"{influxd.url}/query",
                                            params={"db": db, "q": q}) as r:
                            assert r.status == 200, await r.text()
                            return len(await r.read())
                    times, size = await timed(repeats, peer)
                    lines.append(row(f"peer: InfluxQL mean(up) per device, {window}", times,
                                     f"{size / 1e3:.0f} kB"))

                async def device() -> int:
                    async with http.get(f"http://127.0.0.1:{port}/devices/{printers[1].name}") as r:
                        assert r.status == 200, await r.text()
                        return len(await r.read())
                times, size = await timed(4 * repeats, device)
                lines.append(row("device page with its 30-day charts from influxd (a year of "
                                 "availability points)", times, f"{size / 1e3:.0f} kB"))
        finally:
            await runner.cleanup()
    finally:
        await asyncio.to_thread(influxd.stop)
    return lines


async def main_async(args: argparse.Namespace) -> None:
    print(f"# bench/web.py on {machine()}\n")
    print("| request | n | p50 ms | p95 ms | max ms | size |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only == "tickets":
            for line in await tickets_only(args.devices, args.requests, Path(tmp)):
                print(line, flush=True)
            return
        for line in await pages(args.devices, args.requests, Path(tmp)):
            print(line, flush=True)
        for line in await uptime(args.uptime_devices, args.poll_minutes, args.days,
                                 args.repeats, Path(tmp)):
            print(line, flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--requests", type=int, default=50)
    p.add_argument("--uptime-devices", type=int, default=100)
    p.add_argument("--poll-minutes", type=int, default=15)
    p.add_argument("--days", type=int, default=365, help="days of uptime data")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    p.add_argument("--only", choices=("all", "tickets"), default="all",
                   help="tickets: the ticket list and ticket page rows alone")
    args = p.parse_args()
    if args.quick:
        args.devices, args.requests, args.uptime_devices, args.poll_minutes = 20, 3, 3, 720
        args.days = 30
        args.repeats = 2
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
