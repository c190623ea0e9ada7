"""Hourly host rollups (collector/ingest/rollup.py): hour boundaries, late reports, restarts,
flush timing, and the additive segments against a real influxd."""

from __future__ import annotations

import asyncio
import re
import urllib.request
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from agent.schema import Cpu, Disk, Memory, Report, Snapshot
from collector.config import DeviceConfig, StorageConfig
from collector.demo import Influxd
from collector.ingest.rollup import HOUR, ROLLUP_SCHEMA, HourlyRollup
from collector.storage.query import InfluxQuery

ROOT = Path(__file__).resolve().parents[3]
DEV = DeviceConfig(name="pc 1", host="pc1", kind="workstation", site="hq")
T0 = 1_700_000_000 // HOUR * HOUR  # an hour boundary (in the past: InfluxQL stops at now())


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Sink:
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, lines: list[str]) -> None:
        self.lines += lines


def rep(seq: int, at: float, cpu: float | None = 10.0, mem: float = 40.0, load: float | None = 1.0,
        disks: dict[str, float] | None = None) -> Report:
    return Report(agent_id="a", seq=seq + 1, time=at, snapshot=Snapshot(
        cpu=Cpu(percent=cpu, load1=load), memory=Memory(used_percent=mem),
        disks=[Disk(mountpoint=m, used_percent=u) for m, u in (disks or {"/": 50.0}).items()]))


def write(influxd: Influxd, db: str, lines: list[str]) -> None:
    req = urllib.request.Request(f"{influxd.url}/write?db={db}", data="\n".join(lines).encode(),
                                 method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 204


def parse(lines: list[str]) -> list[tuple[str, dict[str, str], dict[str, float], int]]:
    out = []
    for line in lines:
        m = re.fullmatch(r"(\w+)((?:,(?:\\.|[^ ,])+)*) (\S+) (\d+)", line)
        assert m, line
        tags = dict(t.split("=", 1) for t in re.findall(r",((?:\\.|[^ ,])+)", m.group(2)))
        fields = {k: float(v.rstrip("i")) for k, v in (f.split("=") for f in m.group(3).split(","))}
        out.append((m.group(1), tags, fields, int(m.group(4))))
    return out


def per_hour(lines: list[str]) -> dict[int, dict[str, float]]:
    """Segments added up per hour, as a reader does (sum of sums, max of maxes)."""
    acc: dict[int, dict[str, float]] = defaultdict(dict)
    for measurement, tags, fields, stamp in parse(lines):
        b = acc[stamp // 10**9 // HOUR * HOUR]
        if measurement == "host_disk_1h":
            fields = {f"disk {tags['mountpoint']}_max": fields["used_max"]}
        for k, v in fields.items():
            b[k] = max(b.get(k, v), v) if k.endswith("_max") else b.get(k, 0) + v
    return dict(acc)


def test_reports_count_in_the_hour_of_their_own_time() -> None:
    clock, sink = Clock(T0 + 2 * HOUR), Sink()
    r = HourlyRollup(sink, now=clock)
    r.add(rep(1, T0 + HOUR - 0.001, cpu=20.0), DEV)  # last instant of the first hour
    r.add(rep(2, T0 + HOUR, cpu=40.0, load=None), DEV)  # first instant of the second
    r.add(rep(3, T0 + HOUR + 10, cpu=None, mem=60.0, load=3.0, disks={"/": 70.0, "/d": 5.0}),
          DEV)
    lines = r.take()
    hours = per_hour(lines)
    assert set(hours) == {T0, T0 + HOUR}
    assert hours[T0] == {"reports": 1, "cpu_n": 1, "cpu_sum": 20.0, "cpu_max": 20.0,
                         "load1_n": 1, "load1_sum": 1.0, "mem_n": 1, "mem_sum": 40.0,
                         "mem_max": 40.0, "disk /_max": 50.0}
    h = hours[T0 + HOUR]
    assert (h["reports"], h["cpu_n"], h["cpu_sum"], h["load1_n"], h["load1_sum"]) == (
        2, 1, 40.0, 1, 3.0)
    assert (h["mem_n"], h["mem_sum"], h["mem_max"], h["disk /_max"], h["disk /d_max"]) == (
        2, 100.0, 60.0, 70.0, 5.0)
    assert "swap_n" not in h  # no report had swap: the field is not written
    # tags: the device's, escaped; the stamp is the segment's earliest report, inside its hour
    (m, tags, _, stamp), *_ = parse(lines)
    assert m == "host_1h" and tags == {"device": "pc\\ 1", "kind": "workstation", "site": "hq"}
    assert stamp == int((T0 + HOUR - 0.001) * 1e6) * 1000
    assert r.open_segments() == 0 and r.take() == []
    # a device whose config tags include "mountpoint": the disk line keeps one, its own
    tagged = DeviceConfig(name="pc2", host="pc2", tags={"mountpoint": "x", "room": "b 2"})
    r.add(rep(4, T0, disks={"/var": 1.0}), tagged)
    found = {m: t for m, t, _, _ in parse(r.take())}
    assert found["host_disk_1h"] == {"device": "pc2", "kind": "printer", "mountpoint": "/var",
                                     "room": "b\\ 2"}
    assert found["host_1h"]["room"] == "b\\ 2"


def test_open_hour_waits_until_it_closes_or_is_old_enough() -> None:
    clock, sink = Clock(T0 + 100), Sink()
    r = HourlyRollup(sink, flush_open_after=600, now=clock)
    r.add(rep(1, T0 + 90), DEV)
    assert r.take() == []  # open hour, segment 0 s old
    clock.t = T0 + 699
    assert r.take() == []
    clock.t = T0 + 700
    assert len(r.take()) == 2  # open too long: written, and a new segment starts
    r.add(rep(2, T0 + 710), DEV)
    clock.t = T0 + HOUR  # the hour closed
    assert len(r.take()) == 2
    r.add(rep(3, T0 + 5), DEV)  # a late report for that hour: a segment of its own
    assert per_hour(r.take())[T0]["reports"] == 1


def test_late_reports_and_restart_add_segments_that_sum_to_the_whole() -> None:
    """Three collector lives share hours: the first stops cleanly mid-hour, the second gets
    the rest of the hour and late reports of hours long closed, the third more late ones. The
    segments of all three add up to what one rollup of every report gives, and no two
    segments of one hour share a stamp (InfluxDB would keep only the last)."""
    reports = [rep(i, T0 + i * 97.0, cpu=float(i % 100), mem=30 + i % 7,
                   disks={"/": float(i % 90)}) for i in range(200)]  # about 5.4 h
    clock = Clock(T0 + 6 * HOUR)
    whole = HourlyRollup(Sink(), now=clock)
    for x in reports:
        whole.add(x, DEV)
    expected = per_hour(whole.take(everything=True))

    sink = Sink()
    lives = [reports[50:120], reports[120:] + reports[:20], reports[20:50]]
    for n, part in enumerate(lives):
        clock.t = T0 + 2 * HOUR + n  # the first life stops mid-hour 2
        life = HourlyRollup(sink, now=clock)
        for x in part:
            life.add(x, DEV)
        sink.lines += life.take(everything=True)  # what stop() writes
    got = per_hour(sink.lines)
    assert got.keys() == expected.keys()
    for hour, fields in expected.items():
        assert got[hour] == pytest.approx(fields), hour
    stamps = [(m, tuple(sorted(t.items())), s) for m, t, _, s in parse(sink.lines)]
    assert len(stamps) == len(set(stamps))
    assert all(T0 <= s / 1e9 < T0 + 6 * HOUR for *_, s in stamps)


def test_one_process_never_reuses_a_stamp() -> None:
    clock, sink = Clock(T0 + 10), Sink()
    r = HourlyRollup(sink, flush_open_after=0, now=clock)
    for seq in range(3):  # the same report time three times (two agents, one device)
        r.add(rep(seq, T0 + 5), DEV)
        clock.t += 1
        sink.lines += r.take()
    stamps = [s for m, _, _, s in parse(sink.lines) if m == "host_1h"]
    assert stamps == [stamps[0], stamps[0] + 1, stamps[0] + 2]


async def test_ticks_flush_closed_hours_and_stop_flushes_the_rest() -> None:
    clock, sink = Clock(T0 + 30), Sink()
    r = HourlyRollup(sink, tick=0.01, now=clock)
    r.start()
    r.add(rep(1, T0 - 10), DEV)  # closed hour: the next tick writes it
    r.add(rep(2, T0 + 20), DEV)  # open hour: kept
    for _ in range(200):
        if sink.lines:
            break
        await asyncio.sleep(0.01)
    assert set(per_hour(sink.lines)) == {T0 - HOUR} and r.open_segments() == 1
    await r.stop()
    assert set(per_hour(sink.lines)) == {T0 - HOUR, T0} and r.open_segments() == 0


async def test_a_stop_during_a_ticks_write_loses_nothing() -> None:
    release, started = asyncio.Event(), asyncio.Event()
    written: list[str] = []

    async def slow(lines: list[str]) -> None:
        started.set()
        await release.wait()  # a writer waiting for its group commit
        written.extend(lines)

    clock = Clock(T0 + 30)
    r = HourlyRollup(slow, tick=0.01, now=clock)
    r.start()
    r.add(rep(1, T0 - 10), DEV)  # closed: the tick takes it and blocks in the write
    await asyncio.wait_for(started.wait(), 5)
    r.add(rep(2, T0 + 20), DEV)  # open: the stop's
    stopping = asyncio.create_task(r.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # the stop waits for the tick's write
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert set(per_hour(written)) == {T0 - HOUR, T0} and r.lines_lost == 0


async def test_a_failing_write_is_counted_and_the_rollup_goes_on() -> None:
    async def broken(lines: list[str]) -> None:
        raise RuntimeError("writer closed")

    r = HourlyRollup(broken, now=Clock(T0 + 2 * HOUR))
    r.add(rep(1, T0), DEV)
    assert await r.flush() == 0 and r.lines_lost == 2
    r.add(rep(2, T0 + HOUR), DEV)
    assert r.open_segments() == 1


def test_schema_doc_lists_the_rollup_measurements() -> None:
    doc = (ROOT / "docs" / "influxdb-schema.md").read_text()
    for measurement, (tags, fields) in ROLLUP_SCHEMA.items():
        section = re.search(rf"^### `{measurement}`\n(.*?)(?=^##|\Z)", doc, re.M | re.S)
        assert section, f"docs/influxdb-schema.md has no section for {measurement}"
        for tag in tags:
            assert f"`{tag}`" in section.group(1)
        for field, kind in fields.items():
            assert re.search(rf"^\| `{field}` \| {kind} \|", section.group(1), re.M), field


async def test_segments_in_a_real_influxd_add_up_per_bucket(influxd: Influxd) -> None:
    """Segments of one hour written by two lives (a restart) and a late one are all kept by
    InfluxDB and added up by InfluxQL as the page does."""
    db = f"rollup_{uuid.uuid4().hex[:8]}"
    influxd.query(f'CREATE DATABASE "{db}"')
    clock, sink = Clock(T0 + 3 * HOUR), Sink()
    first = HourlyRollup(sink, now=clock)
    for i in range(10):
        first.add(rep(i, T0 + i * 60, cpu=float(i)), DEV)
    sink.lines += first.take(everything=True)
    second = HourlyRollup(sink, now=clock)
    for i in range(10, 30):
        second.add(rep(i, T0 + i * 60, cpu=float(i), disks={"/": float(i)}), DEV)
    second.add(rep(99, T0 + 30, cpu=99.0), DEV)  # late, same hour, earlier than the rest
    sink.lines += second.take(everything=True)
    write(influxd, db, sink.lines)
    reader = await InfluxQuery.create(StorageConfig(url=influxd.url))
    try:
        rows: list[dict[str, Any]] = await reader.query(
            'SELECT count("reports") AS "segments", sum("reports") AS "reports", '
            'sum("cpu_sum") AS "s", sum("cpu_n") AS "n", max("cpu_max") AS "mx" FROM "host_1h" '
            f"WHERE \"device\" = 'pc 1' AND time >= {T0}s GROUP BY time(6h) fill(none)", db=db)
        disk = await reader.query(f'SELECT max("used_max") AS "m" FROM "host_disk_1h" WHERE '
                                  f"time >= {T0}s GROUP BY \"mountpoint\"", db=db)
    finally:
        await reader.close()
    (row,) = rows
    # two segments (one per life; the late report joined the second life's open segment)
    assert (row["segments"], row["reports"], row["n"], row["mx"]) == (2, 31, 31, 99.0)
    assert row["s"] == pytest.approx(sum(range(30)) + 99.0)
    assert [(d["mountpoint"], d["m"]) for d in disk] == [("/", 50.0)]
