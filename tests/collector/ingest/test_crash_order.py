"""A hard crash of the collector in the middle of an agent batch loses no report and stores none
twice (issues 10 and 11).

A real ``fleetwatch collector`` process with a real influxd dies (``os._exit(9)``: no flush, no
clean-up) at one point of a batch (tests/collector/ingest/crashing_collector.py); the client
retries the unanswered batch, as the agent does, against the restarted collector. Every report
then is one point in InfluxDB, and each was accepted (handed to the sinks after storage) once.

- ``keys``: the crash right after the batch's (agent, seq) keys were committed. When the keys
  were committed before the lines reached the spool, this batch was lost: the retry was told
  "duplicate" and the lines were nowhere.
- ``spool``: the crash after the lines were fsynced in the spool, before the keys: the retry is
  new again and its lines are written a second time, which InfluxDB stores as the same points.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from collector.demo import Influxd, free_port
from tests.collector.ingest.helpers import batch, report

ROOT = Path(__file__).resolve().parents[3]
SECRET = "crash-order-secret"
TOKEN = "crash-order-admin"
HOST = "crash-pc"
BATCHES = 6
PER_BATCH = 3
SKIP = 2  # batches that pass the crash point before the one that dies there


class Collector:
    def __init__(self, tmp: Path, influxd: Influxd, db: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.config = tmp / "collector.yaml"
        # flush_interval 10 s: what is stored at the crash is in the spool, not yet sent
        self.config.write_text(
            f"collector: {{listen: 127.0.0.1:{self.port}, state_dir: '{tmp / 'state'}', "
            f"api_token: {TOKEN}}}\n"
            f"storage: {{backend: influxdb_v1, url: '{influxd.url}', database: {db},"
            " flush_interval: 10s}\n"
            "devices: []\n")
        self.log = tmp / "collector.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.exits: list[int] = []

    def start(self, crash_at: str = "") -> None:
        env = {**os.environ, "FLEETWATCH_ENROLL_SECRET": SECRET, "PYTHONPATH": str(ROOT),
               "CRASH_AT": crash_at, "CRASH_SKIP": str(SKIP)}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.collector.ingest.crashing_collector", "collector",
                 "--config", str(self.config)], stdout=out, stderr=subprocess.STDOUT, env=env)

    def dead(self) -> bool:
        assert self.proc is not None
        code = self.proc.poll()
        if code is None:
            return False
        self.exits.append(code)
        return True

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.exits.append(self.proc.wait(30))


async def until_up(session: aiohttp.ClientSession, c: Collector) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            async with session.get(c.base + "/api/v1/health",
                                   headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        assert c.proc is not None and c.proc.poll() is None, c.log.read_text()[-2000:]
        await asyncio.sleep(0.1)
    pytest.fail(f"collector did not start: {c.log.read_text()[-2000:]}")


def stored_seqs(influxd: Influxd, db: str) -> list[int]:
    result: Any = influxd.query(f"SELECT seq FROM host_system WHERE device = '{HOST}'", db=db)
    series = result["results"][0].get("series", [])
    return sorted(int(v[1]) for s in series for v in s["values"])


@pytest.mark.parametrize("crash_at", ["keys", "spool"])
async def test_a_crash_inside_a_batch_loses_and_repeats_nothing(
        crash_at: str, influxd: Influxd, tmp_path: Path) -> None:
    db = f"order_{uuid.uuid4().hex[:8]}"
    c = Collector(tmp_path, influxd, db)
    base = time.time() - 3600
    retried = 0
    try:
        async with aiohttp.ClientSession() as session:
            c.start(crash_at)
            await until_up(session, c)
            async with session.post(c.base + "/api/v1/agents/enroll",
                                    json={"secret": SECRET, "hostname": HOST}) as resp:
                assert resp.status == 200, await resp.text()
                enrolled = await resp.json()
            auth = {"Authorization": f"Bearer {enrolled['token']}"}
            for b in range(BATCHES):
                body = batch(*(report(enrolled["agent_id"], seq, at=base + seq * 10)
                               for seq in range(b * PER_BATCH + 1, (b + 1) * PER_BATCH + 1)))
                while True:  # the agent's loop: the same batch until it is answered 200
                    try:
                        async with session.post(c.base + "/api/v1/agents/reports", json=body,
                                                headers=auth) as resp:
                            if resp.status == 200:
                                break
                            assert resp.status >= 500, await resp.text()
                    except aiohttp.ClientError:
                        pass
                    retried += 1
                    await asyncio.sleep(0.2)
                    if c.dead():  # crashed: start the collector again, without the crash
                        c.start()
                        await until_up(session, c)
            async with session.get(c.base + f"/api/v1/agents/{enrolled['agent_id']}",
                                   headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                row = await resp.json()
        c.stop()  # SIGTERM: sends the spool
    finally:
        if c.proc is not None and c.proc.poll() is None:
            c.proc.kill()
            c.proc.wait()
    log = c.log.read_text()
    assert c.exits[0] == 9 and f"os._exit(9) after {crash_at}" in log, (c.exits, log[-2000:])
    assert c.exits[1:] == [0], c.exits
    assert retried >= 1
    stored = stored_seqs(influxd, db)
    n = BATCHES * PER_BATCH
    print(f"\ncrash after {crash_at}: {n} reports sent, {len(stored)} points stored, "
          f"{row['reports']} accepted, {row['duplicates']} duplicates")
    assert stored == list(range(1, n + 1)), stored  # each report once: none lost, none twice
    assert row["reports"] == n  # each reached the sinks after storage once
    # after "keys" the retry was a duplicate; after "spool" it was new
    assert row["duplicates"] == (PER_BATCH if crash_at == "keys" else 0)
    assert "Traceback" not in log
