"""A restart keeps each supply's history, and so its forecast: the whole collector app (snmpsim
printer, scheduler, InfluxDB writer to a real influxd, supplies engine) drains a toner for
about a simulated day and stops; a second app on the same state directory has the same history
and gives the same forecast. Before, the history was rebuilt from InfluxDB's hourly medians
(other times, other medians, the open hour lost) and the forecast moved."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web

from collector.app import build_app
from collector.config import CollectorSettings, Config, DeviceConfig, SnmpProfile, StorageConfig
from collector.demo import Influxd, Snmpsim, free_port
from collector.demo.simfleet import SimFleet
from collector.keys import SUPPLIES
from collector.supplies.engine import HISTORY, SupplyEngine, SupplyTrack
from collector.supplies.forecast import Forecast, Sample, forecast, runs_out_for
from collector.supplies.samples import DB_NAME, HistoryStore, SampleRing
from collector.supplies.settings import SuppliesSettings
from probes.registry import probe_settings
from probes.secret import Secret

DAY_S = 12.0  # one simulated day in real seconds: an "hour" is 0.5 s, five polls


@pytest.fixture()
def printer(real_service: None, tmp_path: Path) -> Iterator[tuple[SimFleet, Snmpsim]]:
    fleet = SimFleet(tmp_path / "fleet", count=1, prefix="hist")
    fleet.write()
    sim = Snmpsim([], live_dir=fleet.data_dir).start()
    try:
        yield fleet, sim
    finally:
        sim.stop()


def histories(app: web.Application) -> dict[tuple[str, str], tuple[list[Sample], str]]:
    return {(t.device, t.index): (t.history(), runs_out_for(t.type, t.supply_class))
            for t in app[SUPPLIES].tracks()}


async def test_a_restart_keeps_history_and_forecast(
        printer: tuple[SimFleet, Snmpsim], influxd: Influxd, tmp_path: Path) -> None:
    fleet, sim = printer
    p = fleet.get("hist-01")
    cart = next(s for s in p.supplies if s.part == "CF258A")
    cart.level = 90
    fleet.write(p)
    settings = SuppliesSettings(time_scale=86_400 / DAY_S)
    config = Config(
        path=tmp_path / "t.yaml",
        collector=CollectorSettings(state_dir=tmp_path / "state", jitter=0.1),
        storage=StorageConfig(backend="influxdb_v1", url=influxd.url,
                              database=f"hist_{uuid.uuid4().hex[:8]}", batch_size=50,
                              flush_interval=0.2, timeout=2.0),
        supplies=settings,
        devices=(DeviceConfig(
            name="hist-01", host=sim.host, port=sim.port, site="HQ",
            snmp=SnmpProfile(name="p", community=Secret("hist-01"), timeout=0.5, retries=1),
            probes=(probe_settings("snmp_printer", interval=0.1, timeout=1.0,
                                   full_every=5),)),))
    first = build_app(config)
    runner = web.AppRunner(first)
    await runner.setup()
    try:
        for _ in range(64):  # 2 % per simulated hour... 64 steps of 0.25 s: 1.3 days
            cart.level -= 1
            p.pages += 20
            fleet.write(p)
            await asyncio.sleep(0.25)
    finally:
        await runner.cleanup()
    before = histories(first)
    toner = before[("hist-01", "1.1")][0]
    assert len(toner) > 30
    sim.stop()  # the printer is gone: the second app learns nothing new while we compare

    second = build_app(config)
    runner = web.AppRunner(second)
    await runner.setup()
    try:
        after = histories(second)
    finally:
        await runner.cleanup()
    assert after.keys() == before.keys()
    for key, (samples, _) in before.items():
        assert after[key][0] == samples, key
    # and with InfluxDB away at the start (the history does not depend on it any more)
    away = replace(config, storage=replace(
        config.storage, url=f"http://127.0.0.1:{free_port()}", timeout=0.5))
    third = build_app(away)
    runner = web.AppRunner(third)
    await runner.setup()
    try:
        assert {k: v[0] for k, v in histories(third).items()} == {
            k: v[0] for k, v in before.items()}
    finally:
        await runner.cleanup()
    now = toner[-1].time + DAY_S / 48
    results: list[tuple[Forecast, Forecast]] = []
    for key, (samples, runs_out) in before.items():
        kw = {"now": now, "settings": settings.forecast, "day_seconds": settings.day_seconds,
              "runs_out": runs_out}
        results.append((forecast(samples, **kw), forecast(after[key][0], **kw)))  # type: ignore[arg-type]
    assert all(a == b for a, b in results)
    ok = forecast(toner, now=now, settings=settings.forecast, day_seconds=settings.day_seconds)
    assert ok.status == "ok" and ok.days_left is not None and ok.days_left > 0, ok

    # on disk: at most the window per supply, hourly rows plus the open hour's raw ones
    conn = sqlite3.connect(config.collector.state_dir / DB_NAME)
    try:
        rows = conn.execute("SELECT series, raw, COUNT(*) FROM samples GROUP BY series, raw "
                            "ORDER BY series, raw").fetchall()
    finally:
        conn.close()
    assert rows and all(n <= HISTORY + 1 for _, raw, n in rows if not raw)


def test_the_ring_keeps_values_exactly_and_at_most_maxlen() -> None:
    samples = [Sample(1.5, 40.25, 1000), Sample(2.5, None, None), Sample(3.5, 0.0, 0),
               Sample(4.5, 100.0, 2**40)]
    ring = SampleRing(samples, maxlen=3)
    assert list(ring) == samples[1:] and len(ring) == 3
    track = SupplyTrack("d", "1.1")
    closed = [track.add(Sample(t, 50.0 - t, 7), 10.0) for t in (1.0, 2.0, 3.0, 11.0, 12.0, 21.0)]
    assert closed == [None, None, None, Sample(1.0, 48.0, 7), None, Sample(11.0, 39.0, 7)]
    assert track.history() == [Sample(1.0, 48.0, 7), Sample(11.0, 39.0, 7), Sample(21.0, 29.0, 7)]


async def test_restore_keeps_configured_devices_and_the_window(tmp_path: Path) -> None:
    """The store through its real SQLite file: a device gone from the config does not come
    back, rows older than the window are pruned, the open hour comes back as it was."""
    settings = SuppliesSettings()
    store = await HistoryStore.open(tmp_path / DB_NAME)
    hour = settings.day_seconds / 24
    now = 1_800_000_000.0
    try:
        old = [("kept", "1.1", Sample(now - (HISTORY + 5) * hour, 90.0, 1))]
        hourly = [("kept", "1.1", Sample(now - k * hour, 50.0 + k / 10, 100 - k))
                  for k in range(48, 0, -1)]
        await store.append([*old, *hourly, ("gone", "1.1", Sample(now - hour, 10.0, None))])
        await store.save_open_hours([("kept", "1.1", Sample(now - 60, None, 200)),
                                     ("kept", "1.1", Sample(now - 30, 49.0, 201))])
        engine = await SupplyEngine.create(settings, now=lambda: now)
        assert await engine.restore(store, devices=["kept"]) == 1
        track = engine.track("kept", "1.1")
        assert track is not None and engine.track("gone", "1.1") is None
        assert list(track.samples) == [s for _, _, s in hourly]
        assert list(track.pending) == [Sample(now - 60, None, 200), Sample(now - 30, 49.0, 201)]
        assert track.last_level == 49.0
        assert await store.count() == 48 + 1 + 2  # the old row pruned
    finally:
        await store.close()
