"""The collector as a whole, through the real path: simulated printers served by snmpsim over
UDP, the scheduler, the InfluxDB writer, a real influxd that is killed and restarted mid-run, and
the real `fleetwatch collector` process stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from collector.app import build_app
from collector.auth import AuthSettings
from collector.config import (
    CollectorSettings,
    Config,
    DeviceConfig,
    StorageConfig,
)
from collector.demo import Influxd, Snmpsim, free_port
from collector.demo.simfleet import SimFleet
from collector.keys import SINKS, STATS
from collector.storage.influx import Backoff, InfluxWriter
from probes.model import Reading
from tests import apps
from tests.apps import printer_devices, simulated
from tests.waiting import async_wait_until

COUNT = 4

# reads without a login, as before accounts came (issue 13); changes still need a token
PUBLIC_READ = AuthSettings(public_read=True)


class Recorder:
    """A sink that remembers every reading the scheduler produced."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []

    async def handle(self, reading: Reading, device: DeviceConfig) -> None:
        self.readings.append(reading)


@pytest.fixture(scope="module")
def fleet(real_service: None, tmp_path_factory: pytest.TempPathFactory,
          ) -> Iterator[tuple[SimFleet, Snmpsim]]:
    fleet = SimFleet(tmp_path_factory.mktemp("fleet"), count=COUNT, prefix="e2e")
    with simulated(fleet) as sim:
        yield fleet, sim


def make_config(fleet: SimFleet, sim: Snmpsim, influxd: Influxd, db: str, state_dir: Path,
                port: int | None = None) -> Config:
    devices = printer_devices(fleet, sim, interval=0.5, timeout=0.4, full_every=4)
    return Config(
        path=state_dir / "test.yaml",
        collector=CollectorSettings(listen_port=port or free_port(), state_dir=state_dir,
                                    jitter=0.2),
        storage=StorageConfig(backend="influxdb_v1", url=influxd.url, database=db,
                              batch_size=50, flush_interval=0.2, timeout=2.0),
        devices=devices,
    )


async def start(config: Config, recorder: Recorder) -> web.AppRunner:
    app = build_app(config, PUBLIC_READ)
    app[SINKS].append(recorder)
    runner, _ = await apps.start(app, config.collector.listen_port)
    return runner


def count_points(influxd: Influxd, db: str) -> dict[str, int]:
    result: Any = influxd.query('SELECT COUNT("up") FROM "availability" GROUP BY "device"', db=db)
    series = result["results"][0].get("series", [])
    return {s["tags"]["device"]: s["values"][0][1] for s in series}


def distinct_times(influxd: Influxd, db: str) -> int:
    result: Any = influxd.query('SELECT "up" FROM "availability"', db=db)
    series = result["results"][0].get("series", [])
    return sum(len(s["values"]) for s in series)


def polled_each(recorder: Recorder, times: int) -> bool:
    """Every device of the fleet has been polled at least ``times`` times."""
    counts = expected_counts(recorder)
    return len(counts) == COUNT and min(counts.values()) >= times


def expected_counts(recorder: Recorder) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in recorder.readings:
        counts[r.device] = counts.get(r.device, 0) + 1
    return counts


@pytest.fixture()
def db() -> str:
    return f"e2e_{uuid.uuid4().hex[:8]}"


async def test_polls_are_stored_and_survive_an_influxdb_outage(
    fleet: tuple[SimFleet, Snmpsim], influxd: Influxd, db: str, tmp_path: Path
) -> None:
    recorder = Recorder()
    runner = await start(make_config(*fleet, influxd, db, tmp_path), recorder)
    writer = runner.app[STATS]["storage"]
    assert isinstance(writer, InfluxWriter)
    # Two quick tries instead of the default four over 3.5 s: the 2.5 s outage (plus the
    # restart) then outlasts the in-memory retries and the batches go through the disk spool.
    writer.backoff = Backoff(initial=0.1, maximum=0.4, attempts=2)
    try:
        await asyncio.sleep(2.0)
        await asyncio.to_thread(influxd.kill, signal.SIGKILL)  # InfluxDB crashes mid-run
        await asyncio.sleep(2.5)
        await asyncio.to_thread(influxd.restart)
        await asyncio.sleep(2.5)
    finally:
        await runner.cleanup()  # stops polling first, then flushes storage
    assert writer.stats.spooled > 0, "the outage never reached the spool"
    assert writer.stats.replayed == writer.stats.spooled and writer.stats.spool_lines == 0
    want = expected_counts(recorder)
    assert set(want) == {f"e2e-{i:02d}" for i in range(1, COUNT + 1)}
    assert all(n >= 8 for n in want.values()), want
    assert all(r.reachable and not r.stale for r in recorder.readings)
    got = count_points(influxd, db)
    assert got == want  # nothing lost, nothing duplicated
    assert distinct_times(influxd, db) == len(recorder.readings)
    supplies: Any = influxd.query('SELECT COUNT("level") FROM "supply"', db=db)
    assert supplies["results"][0]["series"][0]["values"][0][1] > 0


async def test_restart_with_a_full_spool_replays_it_exactly_once(
    fleet: tuple[SimFleet, Snmpsim], influxd: Influxd, db: str, tmp_path: Path
) -> None:
    config = make_config(*fleet, influxd, db, tmp_path)
    first = Recorder()
    await asyncio.to_thread(influxd.kill, signal.SIGKILL)
    try:
        runner = await start(config, first)
        await async_wait_until(lambda: polled_each(first, 2), timeout=15)
        await runner.cleanup()  # InfluxDB still away: everything goes to the disk spool
    finally:
        await asyncio.to_thread(influxd.restart)
    assert any((tmp_path / "spool").iterdir()), "expected a non-empty spool"
    assert count_points(influxd, db) == {}
    second = Recorder()
    runner = await start(config, second)
    await async_wait_until(lambda: polled_each(second, 2), timeout=15)
    await runner.cleanup()
    want = expected_counts(first)
    for device, n in expected_counts(second).items():
        want[device] = want.get(device, 0) + n
    assert count_points(influxd, db) == want
    assert distinct_times(influxd, db) == len(first.readings) + len(second.readings)


@pytest.fixture()
def collector_process(
    fleet: tuple[SimFleet, Snmpsim], influxd: Influxd, db: str, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    _, sim = fleet
    port = free_port()
    config = tmp_path / "fleet.yaml"
    devices = "".join(
        f"  - {{name: e2e-{i:02d}, host: {sim.host}, port: {sim.port}, community: e2e-{i:02d}}}\n"
        for i in range(1, COUNT + 1))
    config.write_text(
        f"collector: {{listen: 127.0.0.1:{port}, state_dir: state, api_token: {E2E_TOKEN}}}\n"
        f"storage: {{backend: influxdb_v1, url: '{influxd.url}', database: {db},"
        f" flush_interval: 10s}}\n"
        "defaults:\n  printer:\n    probes: [{kind: snmp_printer, interval: 1s, timeout: 500ms}]\n"
        f"devices:\n{devices}")
    proc = subprocess.Popen([sys.executable, "-m", "collector.cli", "collector", "--config",
                             str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


E2E_TOKEN = "e2e-token"  # reads need a login or a token since issue 13


def get_json(url: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {E2E_TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.load(resp)


async def test_sigterm_stops_cleanly_and_flushes(
    collector_process: tuple[subprocess.Popen[str], int], influxd: Influxd, db: str
) -> None:
    proc, port = collector_process
    polled: dict[str, float] = {}

    async def polled_since(after: dict[str, float]) -> bool:
        """Every device has a reading newer than ``after``'s (0 when absent)."""
        nonlocal polled
        try:
            devices = await asyncio.to_thread(get_json, f"http://127.0.0.1:{port}/api/v1/devices")
        except OSError:
            return False
        polled = {d["name"]: d["readings"].get("snmp_printer", {}).get("time", 0)
                  for d in devices["devices"]}
        return len(polled) == COUNT and all(t > after.get(n, 0) for n, t in polled.items())

    try:
        await async_wait_until(lambda: polled_since({}), timeout=30, interval=0.3)
        first = dict(polled)
        await async_wait_until(lambda: polled_since(first), timeout=30, interval=0.3)
    except TimeoutError:
        pytest.fail(f"collector did not poll every device twice: {polled}")
    # flush_interval is 10 s: anything in InfluxDB now came from the final flush on SIGTERM.
    proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.to_thread(proc.communicate, None, 30)
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    counts = count_points(influxd, db)
    assert set(counts) == {f"e2e-{i:02d}" for i in range(1, COUNT + 1)}, out
    assert all(n >= 2 for n in counts.values()), counts
