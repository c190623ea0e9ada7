"""Storage throughput: N realistic points through InfluxWriter into a fresh influxd, compared in
the same run with influxdb-client's Point serialisation and with plain aiohttp POSTs.

    .venv/bin/python bench/storage_throughput.py [--lines 500000] [--batch 5000]

What is measured, each phase into its own new database on the same influxd 1.6 (collector.lab):

1. format: ``reading_lines`` over synthetic printer readings (our line formatting), lines/s.
2. Point: the same points built as ``influxdb_client.Point`` and serialised with
   ``to_line_protocol()``, lines/s. Its input is the points already split into measurement, tags
   and fields (that split is not timed), so this flatters Point a little.
3. InfluxWriter: our lines through ``InfluxWriter.write_lines`` (batches of ``--batch``, the v1
   API) until ``close()`` returns, then ``SELECT COUNT`` checks every point arrived.
4. aiohttp: the same lines pre-joined into the same batches, POSTed one at a time with plain
   aiohttp (the floor: what the wire and influxd allow without any writer logic).
5. Point + aiohttp: Point serialisation (as in 2) plus the POSTs of 4, end to end.
6. The same N as one-field points (``bench,host=hNNN value=Ki``), through InfluxWriter and plain
   aiohttp: the shape FIELD-NOTES measured (186k points/s), to separate the writer's cost from
   what influxd spends on wide printer points (about 8 fields each, many of them strings).
7. ``handle(reading)`` once per poll, 200 polls at a time: the path a poll takes (with the
   write-ahead spool each call returns once its lines are fsynced; group commits are printed).

influxdb-client's own write API cannot be used here: influxd 1.6 has no /api/v2/write (404).
CPU-seconds are this process's (``time.process_time``) and influxd's (``/proc/<pid>/stat``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.config import DeviceConfig, StorageConfig
from collector.demo import Influxd
from collector.storage.influx import InfluxWriter
from collector.storage.lineproto import reading_lines
from collector.storage.query import InfluxQuery
from probes.model import Reading
from tests.collector.storage.samples import device, parse_line, printer_reading

CLK_TCK = os.sysconf("SC_CLK_TCK")
MEASUREMENTS = ("availability", "uptime", "supply", "tray", "pages", "printer")
T0 = 1_795_000_000.0


def proc_cpu(pid: int) -> float:
    """utime + stime of ``pid``, seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Result:
    name: str
    points: int
    wall: float
    cpu_ours: float
    cpu_influxd: float | None = None

    def row(self) -> str:
        influx = f"{self.cpu_influxd:8.2f}" if self.cpu_influxd is not None else "       -"
        return (f"{self.name:<34} {self.points:>9,} {self.wall:8.2f} {self.points / self.wall:>12,.0f}"
                f" {self.cpu_ours:9.2f} {influx}")


def fleet_readings(n: int) -> list[tuple[Reading, DeviceConfig]]:
    """Printer readings of a 1,000-device fleet, one poll a minute, enough for ``n`` lines; every
    10th poll of a device is unreachable (availability only)."""
    out: list[tuple[Reading, DeviceConfig]] = []
    devices = [device(i, site=f"site-{i % 12}") for i in range(1000)]
    per_reading = len(reading_lines(printer_reading("x", T0), devices[0]))
    cycle = 0
    while len(out) * (per_reading - 1) < n:
        for i, dev in enumerate(devices):
            out.append((printer_reading(dev.name, T0 + 60 * cycle + i * 0.01, cycle=cycle % 80,
                                        reachable=(cycle + i) % 10 != 0), dev))
        cycle += 1
    return out


def simple_lines(n: int) -> list[str]:
    """One integer field, one tag, 1,000 series: the shape of FIELD-NOTES' 186k points/s."""
    return [f"bench,host=h{k % 1000} value={k}i {int(T0) * 10**9 + k}" for k in range(n)]


def measure(name: str, points: int, influxd: Influxd | None
            ) -> Callable[[Callable[[], Awaitable[None]]], Awaitable[Result]]:
    async def run(body: Callable[[], Awaitable[None]]) -> Result:
        server = influxd.proc.pid if influxd is not None and influxd.proc is not None else None
        cpu0, srv0, wall0 = time.process_time(), proc_cpu(server) if server else 0.0, time.perf_counter()
        await body()
        wall = time.perf_counter() - wall0
        return Result(name, points, wall, time.process_time() - cpu0,
                      proc_cpu(server) - srv0 if server else None)
    return run


async def check_count(query: InfluxQuery, db: str, want: int, measurements: Iterable[str]) -> None:
    got = 0
    for measurement in measurements:
        rows = await query.query(f'SELECT COUNT(*) FROM "{measurement}"', db=db)
        # COUNT(*) gives one column per field; the widest counts the points.
        got += max((v for r in rows for k, v in r.items() if k.startswith("count_")), default=0)
    if got != want:
        raise SystemExit(f"{db}: {got} points stored, {want} sent")


async def post_batches(session: aiohttp.ClientSession, url: str, db: str,
                       bodies: list[bytes]) -> None:
    for body in bodies:
        async with session.post(f"{url}/write", params={"db": db, "precision": "ns"},
                                data=body) as resp:
            if resp.status != 204:
                raise SystemExit(f"write failed: {resp.status} {await resp.text()}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    n, batch = args.lines, args.batch
    from influxdb_client.client.write.point import Point as _Point

    point_class: Any = _Point  # influxdb-client has no type annotations

    results: list[Result] = []
    lines: list[str] = []

    readings = fleet_readings(n)  # untimed: building the readings is the probes' work

    async def fmt() -> None:
        for reading, dev in readings:
            lines.extend(reading_lines(reading, dev))
    results.append(await measure("format: reading_lines", n, None)(fmt))
    del lines[n:]

    records = [parse_line(ln) for ln in lines]  # untimed: the Point path's input
    point_lines: list[str] = []

    def build_points() -> None:
        for measurement, tags, fields, stamp in records:
            p = point_class(measurement)
            for k, v in tags.items():
                p.tag(k, v)
            for k, (_, value) in fields.items():
                p.field(k, value)
            point_lines.append(p.time(stamp).to_line_protocol())

    async def points() -> None:
        build_points()
    results.append(await measure("format: influxdb_client.Point", n, None)(points))
    assert len(point_lines) == n

    influxd = Influxd().start()
    try:
        query = await InfluxQuery.create(StorageConfig(url=influxd.url, timeout=60.0))
        async with aiohttp.ClientSession() as session:
            for db in ("fw_writer", "fw_plain", "fw_point", "fw_simple_writer", "fw_simple_plain"):
                await query.query(f'CREATE DATABASE "{db}"')
            def writer_run(db: str, data: list[str]) -> Callable[[], Awaitable[None]]:
                async def run() -> None:
                    with tempfile.TemporaryDirectory() as state:
                        cfg = StorageConfig(backend="influxdb_v1", url=influxd.url, database=db,
                                            batch_size=batch, flush_interval=1.0, timeout=60.0)
                        writer = await InfluxWriter.create(cfg, Path(state), session)
                        await writer.start()
                        for k in range(0, n, batch):
                            await writer.write_lines(data[k:k + batch])
                        await writer.close()
                        if writer.stats.written != n:
                            raise SystemExit(f"writer stats: {writer.stats}")
                return run

            def plain_run(db: str, data: list[str]) -> Callable[[], Awaitable[None]]:
                async def run() -> None:
                    bodies = [("\n".join(data[k:k + batch]) + "\n").encode()
                              for k in range(0, n, batch)]
                    await post_batches(session, influxd.url, db, bodies)
                return run

            results.append(await measure("InfluxWriter -> influxd", n, influxd)(
                writer_run("fw_writer", lines)))
            await check_count(query, "fw_writer", n, MEASUREMENTS)
            results.append(await measure("plain aiohttp POST -> influxd", n, influxd)(
                plain_run("fw_plain", lines)))
            await check_count(query, "fw_plain", n, MEASUREMENTS)

            async def point_run() -> None:
                point_lines.clear()
                build_points()
                bodies = [("\n".join(point_lines[k:k + batch]) + "\n").encode()
                          for k in range(0, n, batch)]
                await post_batches(session, influxd.url, "fw_point", bodies)
            results.append(await measure("Point + aiohttp POST -> influxd", n, influxd)(point_run))
            await check_count(query, "fw_point", n, MEASUREMENTS)
            simple = simple_lines(n)
            results.append(await measure("1-field points: InfluxWriter", n, influxd)(
                writer_run("fw_simple_writer", simple)))
            await check_count(query, "fw_simple_writer", n, ("bench",))
            results.append(await measure("1-field points: plain aiohttp", n, influxd)(
                plain_run("fw_simple_plain", simple)))
            await check_count(query, "fw_simple_plain", n, ("bench",))

            # 7. The path a poll takes: one handle(reading) per poll, 200 polls at a time (the
            # write-ahead writer returns once each poll's lines are fsynced in a group commit).
            await query.query('CREATE DATABASE "fw_handle"')
            polls = readings
            handled = sum(len(reading_lines(r, d)) for r, d in polls)

            async def handle_run() -> None:
                with tempfile.TemporaryDirectory() as state:
                    cfg = StorageConfig(backend="influxdb_v1", url=influxd.url,
                                        database="fw_handle", batch_size=batch,
                                        flush_interval=1.0, timeout=60.0)
                    writer = await InfluxWriter.create(cfg, Path(state), session)
                    await writer.start()
                    for k in range(0, len(polls), 200):
                        await asyncio.gather(*(writer.handle(r, d) for r, d in polls[k:k + 200]))
                    await writer.close()
                    commits.append(getattr(writer.stats, "commits", -1))
                    if writer.stats.written != handled:
                        raise SystemExit(f"writer stats: {writer.stats}")
            commits: list[int] = []
            results.append(await measure("handle(): 200 polls at a time", handled, influxd)(
                handle_run))
            await check_count(query, "fw_handle", handled, MEASUREMENTS)
            group_commits = commits[0]
        await query.close()
    finally:
        influxd.stop()

    print(f"{n:,} points, batches of {batch:,}, influxd 1.6 on loopback, {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]}")
    print(f"{'phase':<34} {'points':>9} {'wall s':>8} {'points/s':>12} {'CPU s ours':>9} "
          f"{'CPU s influxd':>8}")
    for r in results:
        print(r.row())
    if group_commits >= 0:
        print(f"handle(): {len(polls):,} polls in {group_commits:,} group commits (one fsync "
              "each) on the write-ahead spool")
    else:
        print("handle(): writer without a write-ahead spool (no group commits)")


if __name__ == "__main__":
    asyncio.run(main())
