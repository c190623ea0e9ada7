"""Benchmark: the uptime report over a year of data for 100 devices.

Builds a span record as the collector would (through :class:`UptimeStore.handle`, a poll every
``--interval`` seconds per device for a year, with outages a few times a week, a nightly switch-off for a
third of them, and a week-long collector outage), then times the report (the API's work:
read spans, account them, build the JSON) for each window. Office hours and a maintenance
window are set, so out-of-hours accounting is exercised. Figures are printed, not asserted
(target: < 1 s for a year of 100 devices; docs/benchmarks.md).

    .venv/bin/python -m bench.uptime_report --devices 100 --days 365
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.config import Config, DeviceConfig, MaintenanceWindow, Schedule, WeeklyWindow
from collector.uptime.report import report, report_json, window_seconds
from collector.uptime.store import DB_NAME, UptimeStore
from probes.model import Reading
from probes.registry import probe_settings

DAY = 86400.0


def fleet(count: int, interval: float, end: float) -> list[DeviceConfig]:
    """``count`` printers polled every ``interval`` s, office hours (Mon–Fri 07:30–18:00,
    Europe/Berlin) for every second one, and one maintenance day 40 days before ``end``."""
    office = (WeeklyWindow(days=frozenset(range(5)), start=dt.time(7, 30), end=dt.time(18)),)
    maint = (MaintenanceWindow(start=dt.datetime.fromtimestamp(end - 40 * DAY, dt.UTC),
                               end=dt.datetime.fromtimestamp(end - 39 * DAY, dt.UTC)),)
    return [DeviceConfig(name=f"p{i:03d}", host=f"10.0.{i // 250}.{i % 250}",
                         site=f"site{i % 5}",
                         schedule=Schedule(business_hours=office if i % 2 else (),
                                           maintenance=maint, timezone="Europe/Berlin"),
                         probes=(probe_settings("snmp_printer", interval=interval),))
            for i in range(count)]


async def build(store: UptimeStore, devices: list[DeviceConfig], days: int, end: float,
                seed: int, step: float,
                on_poll: Callable[[DeviceConfig, float, bool], None] | None = None) -> int:
    """Feed a poll every ``step`` seconds per device; return the number of readings.
    ``on_poll(device, time, up)`` sees each poll too (bench/web.py writes the same polls to
    InfluxDB for its peer)."""
    rng = random.Random(seed)
    start = end - days * DAY
    outage = (start + days * DAY / 2, start + days * DAY / 2 + 7 * DAY)  # collector off
    n = 0
    for i, device in enumerate(devices):
        t = start
        down_until = 0.0
        nightly = i % 3 == 0
        while t < end:
            if outage[0] <= t < outage[1]:
                t = outage[1]
                continue
            hour = (t % DAY) / 3600
            if nightly and (hour >= 20 or hour < 7):  # switched off at night: no polls
                t += step
                continue
            if t >= down_until and rng.random() < 3 * step / (7 * DAY):  # ~3 outages a week
                down_until = t + rng.expovariate(1 / 1800)
            up = t >= down_until
            await store.handle(Reading(device=device.name, host=device.host,
                                       probe="snmp_printer", time=t, reachable=up), device)
            if on_poll is not None:
                on_poll(device, t, up)
            n += 1
            t += step
        await store.flush()
    return n


async def main_async(args: argparse.Namespace) -> None:
    end = time.time()
    devices = fleet(args.devices, args.interval, end)
    config = Config(path=Path("bench.yaml"), devices=tuple(devices))
    with tempfile.TemporaryDirectory() as tmp:
        store = await UptimeStore.open(Path(tmp) / DB_NAME, flush_every=3600)
        try:
            t0 = time.perf_counter()
            readings = await build(store, devices, args.days, end, args.seed, args.interval)
            built = time.perf_counter() - t0
            rows = store._conn.execute("SELECT count(*) FROM spans").fetchone()[0]
            size = sum(p.stat().st_size for p in Path(tmp).iterdir())  # noqa: ASYNC240 (a bench)
            print(f"# uptime report — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
                  f"{args.devices} devices × {args.days} days, a poll every {args.interval:.0f} s, "
                  f"Python {sys.version.split()[0]}, load average "
                  + " ".join(f"{x:.2f}" for x in os.getloadavg()))
            print(f"# record: {readings:,} polls fed in {built:.1f} s "
                  f"({readings / built:,.0f} readings/s through the sink), {rows:,} spans, "
                  f"{size / 1e6:.1f} MB on disk")
            print()
            print("| window | spans read | report p50 ms | p95 ms | max ms | availability (fleet) |")
            print("|---|---|---|---|---|---|")
            for window in ("24h", "7d", "30d", "90d", f"{args.days}d"):
                times = []
                for _ in range(args.repeat):
                    t1 = time.perf_counter()
                    spans = await store.spans(end - window_seconds(window), end)
                    data = report_json(await report(config, spans, window, end))
                    times.append(time.perf_counter() - t1)
                times.sort()
                n_spans = sum(len(s) for s in spans.values())
                p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
                print(f"| {window} | {n_spans:,} | {statistics.median(times) * 1e3:.0f} | "
                      f"{p95 * 1e3:.0f} | {times[-1] * 1e3:.0f} | "
                      f"{data['fleet']['availability_percent']} % |")
        finally:
            await store.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--interval", type=float, default=600.0,
                    help="seconds between the simulated polls (the span count, which is what "
                    "the report reads, depends on outages, not on this)")
    asyncio.run(main_async(ap.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
