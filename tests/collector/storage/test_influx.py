"""The writer and the reader against a real influxd 1.6 (the session fixture), crashes included.

Each test writes to its own database. Counting is done by InfluxQL through
collector.storage.query, i.e. through the real /query API.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from collector.config import DeviceConfig, StorageConfig
from collector.demo import Influxd, free_port
from collector.storage import QueryError, StorageError
from collector.storage.influx import Backoff, InfluxWriter
from collector.storage.lineproto import reading_lines
from collector.storage.query import InfluxQuery
from collector.storage.spool import Spool
from probes.model import Supply
from probes.secret import Secret
from tests.collector.storage.samples import device, printer_reading, serve
from tests.waiting import async_wait_until

FAST = Backoff(initial=0.05, maximum=0.4, attempts=2)
T0 = 1_795_000_000.0
# A field present in every line of each measurement, to count points with.
COUNT_FIELD = {"availability": "up", "uptime": "seconds", "supply": "state", "tray": "state",
               "pages": "count", "printer": "alert_count"}


def v1(url: str, db: str, **kw: Any) -> StorageConfig:
    return replace(StorageConfig(backend="influxdb_v1", url=url, database=db, batch_size=40,
                                 flush_interval=0.05, timeout=2.0), **kw)


def unique_db() -> str:
    return f"fw_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def query(influxd: Influxd) -> AsyncIterator[InfluxQuery]:
    q = await InfluxQuery.create(StorageConfig(url=influxd.url, timeout=10.0))
    yield q
    await q.close()


async def count(query: InfluxQuery, db: str, measurement: str, field: str,
                where: str = "") -> dict[str, int]:
    """Points per device."""
    rows = await query.query(f'SELECT COUNT("{field}") FROM "{measurement}" {where} '
                             'GROUP BY "device"', db=db)
    return {r["device"]: r["count"] for r in rows}


def spool_segments(state_dir: Path) -> list[Path]:
    return sorted((state_dir / "spool").glob("*.lp"))


class Recorder:
    """A pass-through HTTP proxy in front of influxd that records, in arrival order, every line
    of every write the server accepted. It observes; influxd does the work."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.accepted: list[str] = []
        self.authorization: list[str] = []  # the Authorization header of each /write
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> Recorder:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner, self.url = await serve(app)
        return self

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("authorization", "content-type")}
        if request.path == "/write":
            self.authorization.append(request.headers.get("Authorization", ""))
        try:
            async with self._session.request(request.method, self.upstream + request.path_qs,
                                             data=body, headers=headers) as resp:
                payload, status = await resp.read(), resp.status
                ctype = resp.headers.get("Content-Type", "text/plain")
        except aiohttp.ClientError as err:
            return web.Response(status=503, text=str(err))
        if request.path == "/write" and status == 204:
            self.accepted += [ln for ln in body.decode().split("\n") if ln]
        return web.Response(status=status, body=payload, headers={"Content-Type": ctype})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()


async def test_no_point_lost_or_duplicated_across_a_crash(influxd: Influxd, query: InfluxQuery,
                                                          tmp_path: Path) -> None:
    db = unique_db()
    devices = [device(i) for i in range(1, 6)]
    writer = await InfluxWriter.create(v1(influxd.url, db), tmp_path, backoff=FAST)
    await writer.start()
    expected: Counter[tuple[str, str]] = Counter()
    total = 0
    try:
        for cycle in range(30):
            if cycle == 10:
                influxd.kill(signal.SIGKILL)
            if cycle == 20:
                assert not writer.stats.available, "the writer did not notice the outage"
                await asyncio.to_thread(influxd.restart)
            for i, dev in enumerate(devices):
                reading = printer_reading(dev.name, T0 + 60 * cycle, cycle=cycle,
                                          reachable=(cycle + i) % 7 != 0)
                for line in reading_lines(reading, dev):
                    expected[(line.split(",", 1)[0], dev.name)] += 1
                    total += 1
                await writer.handle(reading, dev)
            await asyncio.sleep(0.03)
    finally:
        if not influxd.alive():
            await asyncio.to_thread(influxd.restart)
    await async_wait_until(lambda: writer.stats.written == total, timeout=20,
                           message="every line written")
    await writer.close()

    assert writer.stats.spooled > 0, "the outage never reached the spool"
    assert writer.stats.replayed == writer.stats.spooled
    assert writer.stats.written == total  # each line stored once, none sent twice successfully
    assert writer.stats.dropped_malformed == writer.stats.dropped_spool_full == 0
    assert writer.stats.dropped_overflow == 0
    assert writer.stats.retries > 0
    assert not spool_segments(tmp_path)
    for measurement, field in COUNT_FIELD.items():
        got = await count(query, db, measurement, field)
        want = {d.name: expected[(measurement, d.name)] for d in devices}
        assert got == want, measurement
    assert sum(expected.values()) == total


def seq_lines(start: int, stop: int) -> list[str]:
    return [f"replay,run=r seq={k}i {int(T0) * 10**9 + k}" for k in range(start, stop)]


async def test_spool_survives_the_process_and_replays_once_in_order(
        influxd: Influxd, query: InfluxQuery, tmp_path: Path) -> None:
    db = unique_db()
    influxd.kill(signal.SIGKILL)
    try:
        first = await InfluxWriter.create(v1(influxd.url, db, batch_size=25), tmp_path,
                                          backoff=FAST)
        await first.start()
        for k in range(0, 200, 20):
            await first.write_lines(seq_lines(k, k + 20))
            await asyncio.sleep(0.01)
        await first.close()
    finally:
        await asyncio.to_thread(influxd.restart)
    assert first.stats.written == 0 and first.stats.spooled == 200
    assert len(spool_segments(tmp_path)) >= 2
    with pytest.raises(StorageError, match="closed"):
        await first.write_lines(seq_lines(0, 1))

    recorder = await Recorder(influxd.url).start()
    try:
        second = await InfluxWriter.create(v1(recorder.url, db, batch_size=25), tmp_path,
                                           backoff=FAST)
        await second.write_lines(seq_lines(200, 260))  # new data, queued before the loop runs
        await second.start()
        await async_wait_until(lambda: second.stats.written == 260, timeout=20,
                               message="spool and new lines written")
        await second.close()
    finally:
        await recorder.stop()

    assert recorder.accepted == seq_lines(0, 260)  # each line once, spool first, in order
    assert second.stats.replayed == 200
    assert not spool_segments(tmp_path)
    rows = await query.query('SELECT COUNT("seq"), MIN("seq"), MAX("seq") FROM "replay"', db=db)
    assert [(r["count"], r["min"], r["max"]) for r in rows] == [(260, 0, 259)]


def good(start: int, stop: int) -> list[str]:
    return [f"good,t=x n={k}i {int(T0) * 10**9 + k}" for k in range(start, stop)]


async def test_a_bad_point_is_dropped_alone(influxd: Influxd, query: InfluxQuery, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    db = unique_db()
    writer = await InfluxWriter.create(v1(influxd.url, db, batch_size=1000), tmp_path,
                                       backoff=FAST)
    ns = int(T0) * 10**9
    caplog.set_level(logging.WARNING, logger="collector.storage.influx")

    await writer.write_lines([*good(0, 10), f"typed f=1i {ns}"])
    await writer.flush()
    assert writer.stats.written == 11
    # field type conflict in the middle of a batch
    await writer.write_lines([*good(10, 20), f'typed f="x" {ns + 1}', *good(20, 30)])
    await writer.flush()
    assert writer.stats.dropped_malformed == 1
    # unparsable lines in the middle of a batch (1.x names them in its answer)
    await writer.write_lines([*good(30, 40), "this is not line protocol", f"typed,t=a f= {ns}",
                              *good(40, 50)])
    await writer.flush()
    assert writer.stats.dropped_malformed == 3
    # a batch where nothing parses: no "partial write", so the writer bisects to single lines
    await writer.write_lines(["bad", "worse", "x y z", "neither"])
    await writer.flush()
    assert writer.stats.dropped_malformed == 7
    await writer.write_lines(good(50, 60))
    await writer.close()

    assert writer.stats.written == 61
    rows = await query.query('SELECT COUNT("n") FROM "good"', db=db)
    assert rows[0]["count"] == 60
    rows = await query.query('SELECT "f" FROM "typed"', db=db)
    assert [r["f"] for r in rows] == [1]
    for text in ('input field "f" on measurement "typed"', "this is not line protocol",
                 "typed,t=a f=", "bad", "worse", "x y z", "neither"):
        assert text in caplog.text, f"dropped line not logged: {text}"


async def test_database_is_created_and_recreated(influxd: Influxd, query: InfluxQuery,
                                                 tmp_path: Path) -> None:
    db = unique_db()
    writer = await InfluxWriter.create(v1(influxd.url, db), tmp_path, backoff=FAST)
    names = [r["name"] for r in await query.query("SHOW DATABASES")]
    assert db in names
    await writer.write_lines(good(0, 5))
    await writer.flush()
    await query.query(f'DROP DATABASE "{db}"')
    await writer.write_lines(good(5, 12))
    await writer.flush()  # 404 "database not found" → CREATE DATABASE → write again
    await writer.close()
    rows = await query.query('SELECT COUNT("n") FROM "good"', db=db)
    assert rows[0]["count"] == 7
    assert writer.stats.dropped_malformed == 0 and writer.stats.spooled == 0


async def test_odd_names_round_trip(influxd: Influxd, query: InfluxQuery, tmp_path: Path) -> None:
    db = unique_db()
    dev = DeviceConfig(name='Copier "A", 2nd floor = east', host="10.1.1.1", site="Main St. 5",
                       tags=MappingProxyType({"cost centre": "IT,Ops"}))
    base = printer_reading(dev.name, T0)
    odd = Supply(index="1.1", description='Toner "K" \\ CF410A\nline two', type="toner",
                 supply_class="consumed", colour="black", unit="percent", level=-3,
                 capacity=100, percent=None, state="some_remaining", part_number="CF410A")
    reading = replace(base, supplies=(odd,))
    writer = await InfluxWriter.create(v1(influxd.url, db), tmp_path, backoff=FAST)
    await writer.handle(reading, dev)
    await writer.close()
    assert writer.stats.written == len(reading_lines(reading, dev))
    rows = await query.query('SELECT "description", "level", "percent", "device", "site", '
                             '"cost centre" FROM "supply"', db=db)
    assert rows == [{"_measurement": "supply", "time": int(T0) * 10**9,
                     "description": 'Toner "K" \\ CF410A line two', "level": -3,
                     "percent": None, "device": dev.name, "site": "Main St. 5",
                     "cost centre": "IT,Ops"}]


async def test_query_errors_carry_the_server_message(influxd: Influxd, query: InfluxQuery) -> None:
    with pytest.raises(QueryError, match="error parsing query") as err:
        await query.query("SELEC nothing", db="x")
    assert err.value.status == 400
    with pytest.raises(QueryError, match="database not found"):
        await query.query('SELECT * FROM "m"', db=unique_db())
    dead = await InfluxQuery.create(StorageConfig(url=f"http://127.0.0.1:{free_port()}",
                                                  timeout=2.0))
    try:
        with pytest.raises(QueryError) as err:
            await dead.query("SHOW DATABASES")
        assert err.value.status == 0
    finally:
        await dead.close()


async def test_server_never_there_fills_a_bounded_spool(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    one_batch = len(("\n".join(seq_lines(1000, 1020)) + "\n").encode())
    cfg = v1(url, "fleetwatch", batch_size=20, spool_max_bytes=3 * one_batch + 10)
    started = time.monotonic()
    writer = await InfluxWriter.create(cfg, tmp_path, backoff=FAST)  # no error: it waits
    await writer.start()
    for k in range(1000, 1200, 20):
        await writer.write_lines(seq_lines(k, k + 20))
        await writer.flush()
    await writer.close()
    assert time.monotonic() - started < 15
    assert not writer.stats.available
    assert writer.stats.written == 0
    assert writer.stats.dropped_spool_full == 140 and writer.stats.spooled == 200
    spool = Spool.open(tmp_path / "spool", cfg.spool_max_bytes)
    kept = []
    while (seg := spool.oldest()) is not None:
        kept += spool.read(seg)
        spool.remove(seg)
    spool.close()
    assert kept == seq_lines(1140, 1200)  # the newest lines survive


async def test_5xx_is_retried_then_spooled_and_replayed(influxd: Influxd, query: InfluxQuery,
                                                        tmp_path: Path) -> None:
    db = unique_db()
    # The proxy answers 503 while its upstream is a closed port, as a load balancer in front of
    # a stopped InfluxDB does; then it is pointed at the real influxd.
    recorder = await Recorder(f"http://127.0.0.1:{free_port()}").start()
    try:
        writer = await InfluxWriter.create(
            v1(recorder.url, db, batch_size=10),
            tmp_path, backoff=Backoff(initial=0.05, maximum=0.2, attempts=3))
        await writer.write_lines(seq_lines(0, 10))
        await writer.flush()
        assert writer.stats.retries == 2  # 3 attempts
        assert writer.stats.spooled == 10 and not writer.stats.available
        await writer.write_lines(seq_lines(10, 20))
        await writer.flush()  # before the next probe: straight to the spool, behind the first
        assert writer.stats.spooled == 20 and writer.stats.retries == 2
        recorder.upstream = influxd.url
        await asyncio.sleep(0.25)  # past the probe delay
        await writer.write_lines(seq_lines(20, 30))
        await writer.flush()
        await writer.close()
    finally:
        await recorder.stop()
    # the third batch was accepted while the writer still counted InfluxDB as away: it waited too
    assert writer.stats.available and writer.stats.written == 30
    assert writer.stats.replayed == writer.stats.spooled == 30
    assert recorder.accepted == seq_lines(0, 30)


async def test_a_silent_server_times_out_and_the_lines_are_kept(tmp_path: Path) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        accepted.append(w)  # never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        cfg = v1(f"http://127.0.0.1:{port}", unique_db(), timeout=0.3, create_database=False)
        writer = await InfluxWriter.create(cfg, tmp_path, backoff=FAST)
        await writer.write_lines(seq_lines(0, 5))
        started = time.monotonic()
        await writer.flush()
        assert 0.6 <= time.monotonic() - started < 3  # two attempts of 0.3 s, one pause
        await writer.close()
    finally:
        for w in accepted:
            w.close()
        server.close()
        await server.wait_closed()
    assert writer.stats.retries == 1 and writer.stats.spooled == 5 and writer.stats.written == 0


async def test_not_found_inside_a_refused_line_is_not_a_missing_database(
        influxd: Influxd, query: InfluxQuery, tmp_path: Path) -> None:
    # 1.x quotes the refused line in its error ("unable to parse '…': duplicate tags"): text
    # inside that line (a supply description) must not read as "database not found".
    db = unique_db()
    writer = await InfluxWriter.create(v1(influxd.url, db, batch_size=1000), tmp_path,
                                       backoff=FAST)
    ns = int(T0) * 10**9
    bad = f'supply,device=p1,type=laser,type=toner description="Toner not found" {ns}'
    await writer.write_lines([*good(0, 10), bad, *good(10, 20)])
    await writer.flush()
    await writer.write_lines(good(20, 30))  # and the writer keeps storing afterwards
    await writer.close()
    assert writer.stats.available
    assert writer.stats.written == 30 and writer.stats.dropped_malformed == 1
    assert writer.stats.spooled == 0 and not spool_segments(tmp_path)
    rows = await query.query('SELECT COUNT("n") FROM "good"', db=db)
    assert rows[0]["count"] == 30
    assert await query.query('SELECT * FROM "supply"', db=db) == []


@pytest.mark.parametrize(("auth", "header"), [
    ({"token": Secret("tok-123")}, "Token tok-123"),  # the v1 API of InfluxDB 2.x/3.x
    ({"username": "fw", "password": Secret("pw")}, "Basic Znc6cHc="),
])
async def test_v1_authenticates_with_a_token_or_a_password(
        influxd: Influxd, query: InfluxQuery, tmp_path: Path, auth: dict[str, Any],
        header: str) -> None:
    db = unique_db()
    recorder = await Recorder(influxd.url).start()
    try:
        writer = await InfluxWriter.create(v1(recorder.url, db, **auth), tmp_path, backoff=FAST)
        await writer.write_lines(seq_lines(0, 5))
        await writer.close()
    finally:
        await recorder.stop()
    assert writer.stats.written == 5 and recorder.authorization == [header]


async def test_influxdb_keeps_one_point_per_series_and_time(influxd: Influxd, query: InfluxQuery,
                                                           tmp_path: Path) -> None:
    """What the write-ahead spool relies on: the same batch sent twice (a 2xx lost to a crash
    before the segment was deleted) leaves each point once; a field sent again overwrites."""
    db = unique_db()
    writer = await InfluxWriter.create(v1(influxd.url, db), tmp_path, backoff=FAST)
    await writer.write_lines(good(0, 20))
    await writer.flush()
    await writer.write_lines(good(0, 20))  # the resend
    await writer.write_lines([f"good,t=x n=99i,extra=1i {int(T0) * 10**9 + 3}"])
    await writer.close()
    assert writer.stats.written == 41
    rows = await query.query('SELECT COUNT("n") FROM "good"', db=db)
    assert rows[0]["count"] == 20
    rows = await query.query('SELECT "n", "extra" FROM "good" WHERE "extra" = 1', db=db)
    assert [(r["n"], r["extra"]) for r in rows] == [(99, 1)]  # fields merge, last write wins


async def test_group_commit_one_fsync_per_group_not_per_point(
        influxd: Influxd, query: InfluxQuery, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """200 polls handing in their lines at once share a few fsyncs, and each caller returns only
    once its lines are on disk (fsynced), before any is sent (flush_interval is long)."""
    fsyncs: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        fsyncs.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    db = unique_db()
    writer = await InfluxWriter.create(v1(influxd.url, db, batch_size=5000, flush_interval=30),
                                       tmp_path, backoff=FAST)
    await writer.start()
    await asyncio.sleep(0.1)
    lines = seq_lines(0, 200)
    await asyncio.gather(*(writer.write_lines([ln]) for ln in lines))
    on_disk = [ln for seg in spool_segments(tmp_path) for ln in seg.read_text().splitlines()]
    assert on_disk == lines and writer.stats.written == 0
    assert 1 <= writer.stats.commits == len(fsyncs) <= 10, (writer.stats.commits, len(fsyncs))
    await writer.close()
    assert writer.stats.written == 200 and not spool_segments(tmp_path)
