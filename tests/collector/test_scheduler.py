"""The scheduler through the real path: snmpsim over UDP, the printer probe, real timeouts."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from collector.config import CollectorSettings, DeviceConfig, SnmpProfile, StorageConfig
from collector.demo import Influxd, Snmpsim
from collector.demo.simfleet import SimFleet
from collector.scheduler import Scheduler
from collector.state import StateCache
from collector.storage.influx import InfluxWriter
from collector.storage.query import InfluxQuery
from probes.model import Reading
from probes.printer import snmp_deadline
from probes.registry import probe_settings
from probes.secret import Secret
from probes.snmp import SnmpClient
from tests.apps import simulated
from tests.waiting import async_wait_until


class ListSink:
    def __init__(self) -> None:
        self.readings: list[Reading] = []

    async def handle(self, reading: Reading, device: DeviceConfig) -> None:
        self.readings.append(reading)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def device(name: str, sim: Snmpsim, interval: float = 1.0, **kw: object) -> DeviceConfig:
    profile = SnmpProfile(name="t", community=Secret(name), timeout=0.3, retries=0)
    return DeviceConfig(name=name, host=sim.host, port=sim.port, snmp=profile,
                        probes=(probe_settings("snmp_printer", interval=interval,
                                            full_every=3),), **kw)  # type: ignore[arg-type]


@pytest.fixture()
def fleet(real_service: None, tmp_path: Path) -> Iterator[tuple[SimFleet, Snmpsim]]:
    fleet = SimFleet(tmp_path / "fleet", count=3, prefix="sched")
    with simulated(fleet) as sim:
        yield fleet, sim


@pytest.fixture()
async def parts() -> AsyncIterator[tuple[SnmpClient, aiohttp.ClientSession]]:
    client = await SnmpClient.create()
    async with aiohttp.ClientSession() as session:
        yield client, session
    client.close()


async def test_sleeping_printer_is_stale_then_unreachable_after_grace(
    fleet: tuple[SimFleet, Snmpsim], parts: tuple[SnmpClient, aiohttp.ClientSession]
) -> None:
    _, sim = fleet
    dev = device("sched-01", sim)
    sink, clock = ListSink(), Clock()
    sched = Scheduler([dev], CollectorSettings(sleep_grace=60), [sink], *parts, clock=clock)
    probe = dev.probes[0]
    assert await sched.poll_once(dev, probe) == probe.interval
    good = sink.readings[-1]
    assert good.reachable and not good.stale and good.supplies

    sim.kill()  # the printer goes to sleep
    delay = await sched.poll_once(dev, probe)
    asleep = sink.readings[-1]
    assert asleep.reachable and asleep.stale and asleep.error and "timeout" in asleep.error
    assert asleep.supplies == good.supplies  # last values kept
    assert delay < probe.interval or delay == probe.interval  # backoff never exceeds interval

    clock.now += 30
    await sched.poll_once(dev, probe)
    assert sink.readings[-1].stale and sink.readings[-1].status == good.status

    clock.now += 31  # past the grace
    await sched.poll_once(dev, probe)
    down = sink.readings[-1]
    assert not down.reachable and down.status == "unreachable" and not down.stale


async def test_device_silent_since_start_gets_the_grace_too(
    fleet: tuple[SimFleet, Snmpsim], parts: tuple[SnmpClient, aiohttp.ClientSession]
) -> None:
    """After a collector restart a dozing printer has no last reading to keep: it is "no answer
    yet" (unreachable but stale, which the fault engine ignores) until the grace has passed."""
    _, sim = fleet
    dev = device("no-such-community", sim)
    sink, clock = ListSink(), Clock()
    sched = Scheduler([dev], CollectorSettings(sleep_grace=60), [sink], *parts, clock=clock)
    delay = await sched.poll_once(dev, dev.probes[0])
    waiting = sink.readings[-1]
    assert not waiting.reachable and waiting.stale and waiting.error
    assert waiting.result == "timeout" and delay < dev.probes[0].interval * 60
    clock.now += 61
    await sched.poll_once(dev, dev.probes[0])
    down = sink.readings[-1]
    assert not down.reachable and not down.stale and down.status == "unreachable"


async def test_only_snmp_timeouts_get_the_grace(
    parts: tuple[SnmpClient, aiohttp.ClientSession]
) -> None:
    """A refused port is an answer: no "asleep?" for it, even after a good poll."""
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    dev = DeviceConfig(name="srv", host="127.0.0.1", kind="server",
                       probes=(probe_settings("tcp", port=port, interval=1.0, timeout=0.5),))
    sink = ListSink()
    sched = Scheduler([dev], CollectorSettings(sleep_grace=600), [sink], *parts)
    await sched.poll_once(dev, dev.probes[0])
    assert sink.readings[-1].reachable
    server.close()
    await server.wait_closed()
    await sched.poll_once(dev, dev.probes[0])
    refused = sink.readings[-1]
    assert not refused.reachable and not refused.stale and refused.status == "unreachable"


async def test_a_dribbling_agent_meets_the_poll_deadline(
    parts: tuple[SnmpClient, aiohttp.ClientSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A poll that the probe's own per-request timeouts do not end (an agent that answers
    every request, slowly) is cut at the deadline: the probe's timeout, never shorter than one
    request's tries. The transport is faked: an SNMP GET that never finishes."""
    profile = SnmpProfile(name="t", community=Secret("x"), timeout=0.2, retries=1)
    probe = probe_settings("snmp_printer", interval=10.0, timeout=0.5)
    dev = DeviceConfig(name="slow", host="127.0.0.1", port=9, snmp=profile, probes=(probe,))
    assert snmp_deadline(probe, dev.snmp_target()) == pytest.approx(1.4)  # 0.2 s x 2 tries + 1 s
    assert snmp_deadline(probe.model_copy(update={"timeout": 3.0}), dev.snmp_target()) == 3.0
    sink = ListSink()
    sched = Scheduler([dev], CollectorSettings(sleep_grace=0), [sink], *parts)

    async def dribble(*args: object, **kw: object) -> dict[str, object]:
        await asyncio.sleep(30)
        raise AssertionError("not cut")

    monkeypatch.setattr(parts[0], "get", dribble)
    started = asyncio.get_running_loop().time()
    await sched.poll_once(dev, probe)
    took = asyncio.get_running_loop().time() - started
    reading = sink.readings[-1]
    assert not reading.reachable and reading.status == "unreachable"
    assert reading.error == "timeout: the poll took longer than 1.4 s"
    assert 1.3 < took < 3 and reading.cost.duration_s >= 1.3


async def test_loop_polls_every_device_and_stops_cleanly(
    fleet: tuple[SimFleet, Snmpsim], parts: tuple[SnmpClient, aiohttp.ClientSession]
) -> None:
    _, sim = fleet
    devices = [device(f"sched-0{i}", sim, interval=0.5) for i in (1, 2, 3)]
    sink = ListSink()
    sched = Scheduler(devices, CollectorSettings(jitter=1.0, max_concurrency=2), [sink], *parts)
    await sched.start()
    names: list[str] = []

    def three_polls_each() -> bool:
        nonlocal names
        names = [r.device for r in sink.readings]
        return all(names.count(f"sched-0{i}") >= 3 for i in (1, 2, 3))

    await async_wait_until(three_polls_each, timeout=15)
    await sched.stop()
    names = [r.device for r in sink.readings]
    assert {n: names.count(n) >= 3 for n in ("sched-01", "sched-02", "sched-03")} == {
        "sched-01": True, "sched-02": True, "sched-03": True}
    assert all(r.reachable for r in sink.readings)
    # full polls every 3rd poll, lighter ones between: both kinds happened
    pdus = {r.cost.pdus for r in sink.readings if r.device == "sched-01"}
    assert len(pdus) >= 2
    count = len(sink.readings)
    await asyncio.sleep(0.7)  # time passes (more than an interval): no poll after stop
    assert len(sink.readings) == count  # nothing polls after stop
    # the adaptive limit (probes/limiter.py) never lets more than max_concurrency polls run
    assert sched.limit.maximum == 2 and 1 <= sched.limit.peak <= 2
    assert sched.limit.in_flight == 0


async def test_simulated_fault_is_seen_over_snmp(
    fleet: tuple[SimFleet, Snmpsim], parts: tuple[SnmpClient, aiohttp.ClientSession]
) -> None:
    sim_fleet, sim = fleet
    dev = device("sched-02", sim)
    sink = ListSink()
    sched = Scheduler([dev], CollectorSettings(), [sink], *parts)
    printer = sim_fleet.get("sched-02")
    printer.forced_faults = {"jammed"}
    sim_fleet.write(printer)
    await sched.poll_once(dev, dev.probes[0])
    jammed = sink.readings[-1]
    assert jammed.faults is not None and "jammed" in jammed.faults
    assert jammed.status == "critical" and any(a.code == "jam" for a in jammed.alerts)
    printer.forced_faults = set()
    sim_fleet.write(printer)
    await sched.poll_once(dev, dev.probes[0])
    assert "jammed" not in (sink.readings[-1].faults or set())


async def test_a_vanished_supply_makes_the_next_poll_full(
    fleet: tuple[SimFleet, Snmpsim], parts: tuple[SnmpClient, aiohttp.ClientSession]
) -> None:
    """Light polls ask for the rows the last full poll found; when one is gone (a drum taken
    out), the next poll walks everything again and sees the printer as it is now."""
    sim_fleet, sim = fleet
    base = device("sched-03", sim)
    probe = base.probes[0].model_copy(update={"full_every": 100})  # only the vanished row can force a full
    dev = replace(base, probes=(probe,))
    sink = ListSink()
    sched = Scheduler([dev], CollectorSettings(), [sink], *parts)
    printer = sim_fleet.get("sched-03")
    await sched.poll_once(dev, probe)  # full
    await sched.poll_once(dev, probe)  # light
    full, light = sink.readings[-2:]
    assert light.cost.pdus < full.cost.pdus
    assert [s.index for s in light.supplies] == [s.index for s in full.supplies]
    removed = printer.supplies.pop()
    sim_fleet.write(printer)
    await sched.poll_once(dev, probe)  # light: the drum's level is gone
    gone = next(s for s in sink.readings[-1].supplies if s.description == removed.description)
    assert gone.level is None and gone.state == "unknown"
    await sched.poll_once(dev, probe)  # full again (not due by full_every: forced)
    again = sink.readings[-1]
    assert again.cost.pdus > light.cost.pdus
    assert removed.description not in [s.description for s in again.supplies]


async def test_a_poll_stopped_during_the_group_commit_reaches_every_sink(
    fleet: tuple[SimFleet, Snmpsim], parts: tuple[SnmpClient, aiohttp.ClientSession],
    influxd: Influxd, tmp_path: Path
) -> None:
    """Shutdown while polls wait for the storage group commit: what ends up in InfluxDB is
    exactly what the sinks after storage saw (collector/pipeline.py: all sinks or none). Before
    the fix the commit stored the polls' lines, their cancellation then skipped the state cache
    and the fault engine: InfluxDB held readings no other sink ever had."""
    _, sim = fleet
    devices = [device(f"sched-0{i}", sim, interval=0.3) for i in (1, 2, 3)]
    db = f"fw_{uuid.uuid4().hex[:12]}"
    storage = StorageConfig(backend="influxdb_v1", url=influxd.url, database=db, batch_size=40,
                            flush_interval=0.05, timeout=5.0)
    writer = await InfluxWriter.create(storage, tmp_path, parts[1])
    loop = asyncio.get_running_loop()
    committing = asyncio.Event()
    armed = False
    append = writer._spool.append

    def slow_append(lines: list[str]) -> tuple[int, int]:  # a slow disk: the fsync takes 0.4 s
        if armed:
            loop.call_soon_threadsafe(committing.set)
        time.sleep(0.4)
        return append(lines)

    writer._spool.append = slow_append  # type: ignore[method-assign]
    await writer.start()
    state, after = StateCache(tuple(devices)), ListSink()
    sched = Scheduler(devices, CollectorSettings(jitter=0.0, max_concurrency=10),
                      [writer, state, after], *parts)
    try:
        await sched.start()
        await async_wait_until(lambda: len(after.readings) >= 6, timeout=15)
        armed = True
        await asyncio.wait_for(committing.wait(), timeout=10)
        await asyncio.sleep(0.05)  # the polls of this group now wait for its fsync
        await sched.stop()
    finally:
        await writer.close()
    seen = Counter(r.device for r in after.readings)
    query = await InfluxQuery.create(StorageConfig(url=influxd.url, timeout=10.0))
    try:
        rows = await query.query('SELECT COUNT("up") FROM "availability" GROUP BY "device"', db=db)
    finally:
        await query.close()
    stored = {r["device"]: r["count"] for r in rows}
    assert stored == dict(seen)
    assert sum(seen.values()) >= 6
    for name in seen:  # the state cache holds each device's last stored reading
        latest = max(r.time for r in after.readings if r.device == name)
        dev_state = state.get(name)
        assert dev_state is not None
        assert dev_state.readings["snmp_printer"].time == latest
