"""Web pages and the uptime report at size (issue 13). Figures are printed, never asserted.

- **Page render**: the fleet page (``/``: its first 250 rows, worst first; and ``?limit=all``),
  a device page and the ticket list of a fleet of
  ``--devices`` printers (default 1,000) whose latest readings sit in the state cache, each
  fetched ``--requests`` times over HTTP by a logged-in technician (session cookie: the auth
  middleware runs); p50/p95/max. The peer is the floor: a plain aiohttp handler in the same
  process answering a static body of the fleet page's size.
- **Uptime report**: ``--uptime-devices`` devices (default 100) with a year of availability
  points, one every ``--poll-minutes`` (default 15: 35,040 points per device), written to a
  real influxd; then ``/api/v1/uptime`` for each range. The peer is the simplest InfluxQL
  availability query a Grafana panel would run over the same 90 days
  (``mean(up) GROUP BY device``).

Run from the repository root: ``.venv/bin/python -m bench.web`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
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

from bench.common import machine, percentile
from collector.app import build_app
from collector.auth import DB_NAME, AuthSettings
from collector.auth.store import Accounts
from collector.config import CollectorSettings, Config, DeviceConfig, StorageConfig
from collector.demo import Influxd, free_port
from collector.keys import STATE
from collector.storage.lineproto import reading_lines
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


async def timed(n: int, call: Callable[[], Awaitable[int]]) -> tuple[list[float], int]:
    times, size = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        size = await call()
        times.append((time.perf_counter() - t0) * 1000)
    return times, size


def row(name: str, times: list[float], extra: str = "") -> str:
    return (f"| {name} | {len(times)} | {statistics.median(times):.1f} | "
            f"{percentile(times, 95):.1f} | {max(times):.1f} | {extra} |")


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

            fleet, size = await timed(requests, getter("/"))
            lines.append(row(f"fleet page, {devices} devices (first {PAGE_ROWS} rows)", fleet,
                             f"{size / 1e6:.2f} MB"))
            everything, size = await timed(requests, getter("/?limit=all"))
            lines.append(row(f"fleet page, {devices} devices, ?limit=all", everything,
                             f"{size / 1e6:.2f} MB"))
            device, _ = await timed(requests, getter("/devices/p0001"))
            lines.append(row("device page", device))
            tickets, _ = await timed(requests, getter("/tickets"))
            lines.append(row("ticket list", tickets))
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


def write_year(influxd: Influxd, db: str, devices: int, poll_minutes: int) -> tuple[int, float]:
    influxd.query(f'CREATE DATABASE "{db}"')
    end = time.time()
    step = poll_minutes * 60
    points = 0
    t0 = time.perf_counter()
    rng = random.Random(7)
    # the line reading_lines() writes for a printer poll's availability (one template, checked
    # against it below), formatted directly: a year of polls is millions of lines
    sample = reading_lines(Reading(device="u000", host="10.0.0.1", probe="snmp_printer",
                                   time=1.0), DeviceConfig(name="u000", host="10.0.0.1",
                                                           site="site0"))[0]
    assert sample.startswith("availability,"), sample
    for i in range(devices):
        name, site = f"u{i:03d}", f"site{i % 5}"
        lines: list[str] = []
        t = end - 365 * 86400
        while t < end:
            up = rng.random() > 0.01
            lines.append(f"availability,device={name},kind=printer,probe=snmp_printer,"
                         f"site={site} up={int(up)}i,status=\"{'ok' if up else 'unreachable'}\","
                         f"status_level={0 if up else 3}i,stale=0i {int(t * 1e9)}")
            t += step
        points += len(lines)
        for chunk in range(0, len(lines), 20000):
            req = urllib.request.Request(f"{influxd.url}/write?db={db}&precision=ns",
                                         data="\n".join(lines[chunk:chunk + 20000]).encode(),
                                         method="POST")
            with urllib.request.urlopen(req, timeout=120) as resp:
                assert resp.status == 204
    return points, time.perf_counter() - t0


async def uptime(devices: int, poll_minutes: int, repeats: int, tmp: Path) -> list[str]:
    influxd = await asyncio.to_thread(Influxd().start)
    lines = []
    try:
        db = "bench_uptime"
        points, took = await asyncio.to_thread(write_year, influxd, db, devices, poll_minutes)
        lines.append(f"\n{points:,} availability points written ({devices} devices, a year, one "
                     f"per {poll_minutes} min) in {took:.0f} s\n")
        configs = tuple(DeviceConfig(name=f"u{i:03d}", host="10.0.0.1", site=f"site{i % 5}",
                                     probes=()) for i in range(devices))
        config = Config(path=tmp / "u.yaml",
                        collector=CollectorSettings(state_dir=tmp / "ustate"),
                        storage=StorageConfig(backend="influxdb_v1", url=influxd.url,
                                              database=db, timeout=60),
                        devices=configs)
        app = build_app(config, AuthSettings(public_read=True))
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        lines.append("| request | n | p50 ms | p95 ms | max ms | |")
        lines.append("|---|---|---|---|---|---|")
        try:
            async with aiohttp.ClientSession() as http:
                for name in ("24h", "7d", "30d", "90d"):
                    async def get(name: str = name) -> int:
                        async with http.get(f"http://127.0.0.1:{port}/api/v1/uptime",
                                            params={"range": name}) as r:
                            assert r.status == 200, await r.text()
                            return len(await r.read())
                    times, _ = await timed(repeats, get)
                    lines.append(row(f"uptime report {name}, {devices} devices", times))
                peer_q = ('SELECT mean("up") FROM "availability" WHERE time > now() - 90d '
                          'GROUP BY "device"')

                async def peer() -> int:
                    async with http.get(f"{influxd.url}/query",
                                        params={"db": db, "q": peer_q}) as r:
                        return len(await r.read())
                times, _ = await timed(repeats, peer)
                lines.append(row("peer: InfluxQL mean(up) per device, 90 d", times))
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
        for line in await pages(args.devices, args.requests, Path(tmp)):
            print(line, flush=True)
        for line in await uptime(args.uptime_devices, args.poll_minutes, args.repeats,
                                 Path(tmp)):
            print(line, flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--requests", type=int, default=50)
    p.add_argument("--uptime-devices", type=int, default=100)
    p.add_argument("--poll-minutes", type=int, default=15)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    args = p.parse_args()
    if args.quick:
        args.devices, args.requests, args.uptime_devices, args.poll_minutes = 20, 3, 3, 720
        args.repeats = 2
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
