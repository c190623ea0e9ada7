"""The device page of an agent host at size (issue 13). Figures are printed, never asserted.

One host with ``--days`` (default 30) of agent reports, one every ``--interval`` seconds
(default 10, the agent's default: 259,200 reports), each as the lines ``report_lines`` writes
for CPU, memory, the system point and ``--mounts`` disks (default 2), in a real influxd
(Debian 1.6). Every report also goes through the ingest's hourly rollup
(``collector.ingest.rollup.HourlyRollup.add``, timed: its cost per report is printed beside
``report_lines``'s) and the rollup segments are written too, one per 10 minutes of reports
(as a collector running all month writes them: a flush every 10 minutes and at each hour's
end); ``--no-rollups`` leaves them out (the page then reads every range from raw points).
Then the host's device page over HTTP (``/devices/pc-bench?range=…``: inventory
read from the agents store; 24 h: five InfluxQL queries run concurrently; 7 and 30 days: the
first rollup and four raw queries of the last two hours, then two rollup queries (and four raw
ones for hours without rollups); five SVG charts rendered),
``--requests`` times per range; p50/p95/max. The peer is the floor of the same data: one
ungrouped ``mean("percent")`` of ``host_cpu`` over the range, straight to influxd (it scans the
same points and returns one number).

Run from the repository root: ``.venv/bin/python -m bench.host_history`` (``--quick``: a smoke
run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
from aiohttp import web

from agent.schema import Cpu, Disk, Memory, Report, Snapshot
from bench.common import machine
from bench.web import row, timed
from collector.app import build_app
from collector.auth import AuthSettings
from collector.config import CollectorSettings, Config, DeviceConfig, StorageConfig
from collector.demo import Influxd, free_port
from collector.ingest.lines import report_lines
from collector.ingest.rollup import HourlyRollup
from collector.ingest.settings import IngestSettings
from collector.web.history import WINDOWS

HOST = "pc-bench"
SECRET = "bench enrollment secret"


def templates(mounts: int) -> list[str]:
    """The lines of one report, with ``{t}`` for the stamp and ``{cpu}``/``{mem}``/``{seq}``
    for the values; checked against ``report_lines`` so the bench writes what ingest does."""
    device = DeviceConfig(name=HOST, host=HOST, kind="workstation")
    sample = Report(agent_id="a", seq=7, time=1.0, snapshot=Snapshot(
        cpu=Cpu(percent=12.5, load1=0.5), memory=Memory(used_percent=40.5),
        disks=[Disk(mountpoint=f"/m{i}", fstype="ext4", used_percent=50.0)
               for i in range(mounts)], uptime_seconds=100.0))
    real = report_lines(sample, device)
    made = [line.replace("12.5", "{cpu}").replace("40.5", "{mem}").replace("seq=7i", "seq={seq}i")
            .replace(" 1000000000", " {t}") for line in real]
    again = [m.format(cpu=12.5, mem=40.5, seq=7, t=1000000000) for m in made]
    assert again == real, (again, real)
    return made


async def _unused(lines: list[str]) -> None:
    raise AssertionError("the bench writes the rollup lines itself")


def write_history(influxd: Influxd, db: str, days: int, interval: int, mounts: int,
                  rollups: bool = True) -> tuple[int, float]:
    influxd.query(f'CREATE DATABASE "{db}"')
    made = templates(mounts)
    rng = random.Random(13)
    end = time.time() - 60
    t, seq, points, took = end - days * 86400, 0, 0, time.perf_counter()
    batch: list[str] = []
    device = DeviceConfig(name=HOST, host=HOST, kind="workstation")
    rollup = HourlyRollup(_unused, now=lambda: end + 7200)
    add_s, lines_s, n = 0.0, 0.0, 0

    def flush() -> None:
        req = urllib.request.Request(f"{influxd.url}/write?db={db}",
                                     data="\n".join(batch).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=120) as resp:
            assert resp.status == 204
        batch.clear()

    while t < end:
        seq += 1
        cpu, mem = round(rng.uniform(1, 100), 1), round(rng.uniform(30, 60), 1)
        batch += [m.format(cpu=cpu, mem=mem, seq=seq, t=int(t * 1e9)) for m in made]
        if rollups:
            report = Report(agent_id="a", seq=seq, time=t, snapshot=Snapshot(
                cpu=Cpu(percent=cpu, load1=0.5), memory=Memory(used_percent=mem),
                disks=[Disk(mountpoint=f"/m{i}", fstype="ext4", used_percent=50.0)
                       for i in range(mounts)], uptime_seconds=100.0))
            a = time.perf_counter()
            rollup.add(report, device)
            b = time.perf_counter()
            if n % 10 == 0:  # the peer, on a sample
                report_lines(report, device)
                lines_s += time.perf_counter() - b
            add_s += b - a
            n += 1
            if n % max(1, 600 // interval) == 0:  # the 10-minute flush
                batch += rollup.take()
        if len(batch) >= 20000:
            points += len(batch)
            flush()
        t += interval
    batch += rollup.take(everything=True)
    points += len(batch)
    flush()
    if n:
        print(f"rollup: {rollup.segments_written:,} segments; HourlyRollup.add "
              f"{add_s / n * 1e6:.2f} us per report (peer: report_lines "
              f"{lines_s / ((n + 9) // 10) * 1e6:.2f} us per report)")
    return points, time.perf_counter() - took


async def main_async(args: argparse.Namespace) -> None:
    print(f"# bench/host_history.py on {machine()}\n")
    influxd = await asyncio.to_thread(Influxd().start)
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            db = "bench_hosts"
            points, took = await asyncio.to_thread(write_history, influxd, db, args.days,
                                                   args.interval, args.mounts,
                                                   not args.no_rollups)
            print(f"{points:,} points written ({args.days} days of reports every "
                  f"{args.interval} s, {args.mounts} disks) in {took:.0f} s\n")
            (tmp / "secret").write_text(SECRET + "\n")
            config = Config(path=tmp / "c.yaml",
                            collector=CollectorSettings(state_dir=tmp / "state"),
                            storage=StorageConfig(backend="influxdb_v1", url=influxd.url,
                                                  database=db, timeout=60))
            app = build_app(config, AuthSettings(public_read=True),
                            ingest=IngestSettings(enroll_secret_file=tmp / "secret"))
            runner = web.AppRunner(app)
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            base = f"http://127.0.0.1:{port}"
            try:
                async with aiohttp.ClientSession() as http:
                    await enroll_and_report(http, base)
                    print("| request | n | p50 ms | p95 ms | max ms | size |")
                    print("|---|---|---|---|---|---|")
                    for w in WINDOWS.values():
                        async def page(key: str = w.key) -> int:
                            async with http.get(f"{base}/devices/{HOST}",
                                                params={"range": key}) as r:
                                body = await r.read()
                                assert r.status == 200 and body.count(b"<svg") == 5, r.status
                                return len(body)
                        times, size = await timed(args.requests, page)
                        print(row(f"host device page, {w.label} ({w.bucket} buckets)", times,
                                  f"{size / 1024:.0f} KiB"), flush=True)
                        peer_q = (f'SELECT mean("percent") FROM "host_cpu" WHERE '
                                  f"\"device\" = '{HOST}' AND time > now() - {w.seconds}s")

                        async def peer(q: str = peer_q) -> int:
                            async with http.get(f"{influxd.url}/query",
                                                params={"db": db, "q": q}) as r:
                                return len(await r.read())
                        times, _ = await timed(args.requests, peer)
                        print(row(f"peer: ungrouped mean of host_cpu, {w.label}", times),
                              flush=True)
            finally:
                await runner.cleanup()
    finally:
        await asyncio.to_thread(influxd.stop)


async def enroll_and_report(http: aiohttp.ClientSession, base: str) -> None:
    """Enroll the host and send one live report with an inventory (the page then finds it)."""
    json_post = {"Content-Type": "application/json"}
    async with http.post(f"{base}/api/v1/agents/enroll", headers=json_post,
                         json={"secret": SECRET, "hostname": HOST}) as r:
        assert r.status == 200, await r.text()
        enrolled = await r.json()
    body = {"version": 1, "reports": [{
        "agent_id": enrolled["agent_id"], "seq": 10**9, "time": time.time(),
        "snapshot": {"cpu": {"percent": 5.0}, "uptime_seconds": 86400.0},
        "inventory": {"os": "Linux", "cpu_model": "bench CPU", "memory_bytes": 2**34}}]}
    async with http.post(f"{base}/api/v1/agents/reports", data=json.dumps(body), headers={
            **json_post, "Authorization": f"Bearer {enrolled['token']}"}) as r:
        assert r.status == 200, await r.text()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--interval", type=int, default=10)
    p.add_argument("--mounts", type=int, default=2)
    p.add_argument("--requests", type=int, default=20)
    p.add_argument("--no-rollups", action="store_true",
                   help="raw points only (the page reads every range from them)")
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    args = p.parse_args()
    if args.quick:
        args.days, args.interval, args.requests = 2, 600, 2
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
