"""The order of an agent batch: which keys are unseen (read-only), the lines to the spool, then
the keys (service.py ``_handle_batch``); the store's side of it (``AgentStore.unseen``, ``seen``).
The hard-crash test of the same order is test_crash_order.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from collector.config import DeviceConfig, StorageConfig
from collector.demo import Influxd
from collector.ingest.service import Ingest
from collector.ingest.settings import IngestSettings
from collector.ingest.store import AgentStore
from collector.keys import INGEST
from collector.pipeline import ReadingSink
from collector.storage import StorageError
from collector.storage.influx import InfluxWriter
from probes.model import Reading
from tests.collector.ingest.helpers import batch, config, report, serve
from tests.collector.test_durability import fill, tiny_disk  # noqa: F401 (a fixture)


class Seen:
    """A sink after storage that counts what it is handed, per (device, time)."""

    def __init__(self) -> None:
        self.got: list[float] = []

    async def handle(self, reading: Reading, device: DeviceConfig) -> None:
        await asyncio.sleep(0.01)  # a slow sink: the racing retry arrives meanwhile
        self.got.append(reading.time)


async def test_unseen_answers_from_memory_above_last_seq_and_from_disk_below(
        tmp_path: Path) -> None:
    path = tmp_path / "agents.sqlite3"
    store = await AgentStore.open(path)
    try:
        a, _ = await store.enroll("pc-a", "t")
        assert await store.unseen(a.id, [1, 2, 3]) == [1, 2, 3]  # reads last_seq 0
        assert await store.accept(a.id, [(1, 1.0), (3, 3.0)]) == [1, 3]
        assert await store.unseen(a.id, [4, 5]) == [4, 5]  # above last_seq 3: from memory
        assert await store.unseen(a.id, [5, 3, 2, 1, 4]) == [5, 2, 4]  # 2 was never stored
        assert await store.accept(a.id, [], seen=2) == []  # an all-duplicate request
        row = await store.get(a.id)
        assert (row.reports, row.duplicates, row.last_seq) == (2, 2, 3)
        assert row.last_seen is not None
        assert await store.unseen("nobody", [1]) == [1]  # no agent row: nothing cached
    finally:
        await store.close()
    again = await AgentStore.open(path)  # a new process: last_seq comes from the disk
    try:
        assert await again.unseen(a.id, [3, 4]) == [4]
        assert await again.accept(a.id, [(4, 4.0)]) == [4]
        assert await again.unseen(a.id, [4, 5]) == [5]
    finally:
        await again.close()


@pytest.fixture()
async def parts(tmp_path: Path, influxd: Influxd
                ) -> tuple[AgentStore, InfluxWriter, Seen, Ingest]:
    store = await AgentStore.open(tmp_path / "agents.sqlite3")
    cfg = StorageConfig(backend="influxdb_v1", url=influxd.url,
                        database=f"order_{uuid.uuid4().hex[:8]}", flush_interval=0.2)
    writer = await InfluxWriter.create(cfg, tmp_path)
    await writer.start()
    seen = Seen()
    sinks: list[ReadingSink] = [writer, seen]
    return store, writer, seen, Ingest(store, IngestSettings(), config(tmp_path), sinks)


async def test_a_retry_racing_its_first_try_is_one_write_and_one_delivery(
        parts: tuple[AgentStore, InfluxWriter, Seen, Ingest]) -> None:
    store, writer, seen, ingest = parts
    try:
        agent, _ = await store.enroll("pc-1", "t")
        reports = [report(agent.id, s, at=1_795_000_000.0 + s) for s in (1, 2, 3)]
        first, retry = await asyncio.gather(ingest.handle_batch(agent, reports),
                                            ingest.handle_batch(agent, reports))
        assert sorted([first, retry]) == [(0, 3), (3, 0)]
        assert sorted(seen.got) == [r.time for r in reports]  # each reading once
        await writer.flush()
        three = writer.stats.written  # lines sent for the three reports (not twice)
        # a same-seq-twice batch and a plain retry write nothing more and deliver nothing more
        assert await ingest.handle_batch(agent, [reports[0], reports[0]]) == (0, 2)
        await writer.flush()
        assert writer.stats.written == three and len(seen.got) == 3
        assert await ingest.handle_batch(agent, [report(agent.id, 4), report(agent.id, 4)]) \
            == (1, 1)
        await writer.flush()
        assert len(seen.got) == 4
        assert three == 3 * (writer.stats.written - three)  # as many lines as one report's
        row = await store.get(agent.id)
        assert (row.reports, row.duplicates) == (4, 6)
    finally:
        await ingest.stop()
        await writer.close()
        await store.close()


async def test_a_writer_that_refuses_fails_the_batch_before_any_key(
        parts: tuple[AgentStore, InfluxWriter, Seen, Ingest], tmp_path: Path) -> None:
    store, writer, seen, ingest = parts
    try:
        agent, _ = await store.enroll("pc-1", "t")
        await writer.close()  # a closing writer raises: the batch must stay the agent's
        with pytest.raises(StorageError):
            await ingest.handle_batch(agent, [report(agent.id, 1)])
        assert await store.seqs(agent.id) == [] and seen.got == []
        other = await InfluxWriter.create(writer.cfg, tmp_path)
        await other.start()
        ingest.sinks[0] = other
        try:
            assert await ingest.handle_batch(agent, [report(agent.id, 1)]) == (1, 0)
        finally:
            await other.close()
        assert await store.seqs(agent.id) == [1] and len(seen.got) == 1
    finally:
        await ingest.stop()
        await store.close()


async def test_a_refused_write_is_a_503_through_the_api_and_the_report_stays_the_agents(
        tmp_path: Path, influxd: Influxd) -> None:
    storage = StorageConfig(backend="influxdb_v1", url=influxd.url,
                            database=f"order_{uuid.uuid4().hex[:8]}", flush_interval=0.2)
    async for server in serve(tmp_path, storage=storage):
        agent_id, token = await server.enroll("pc-1")
        ingest = server.app[INGEST]
        (writer,) = [s for s in ingest.sinks if isinstance(s, InfluxWriter)]
        await writer.close()  # as at shutdown: it refuses lines
        status, body = await server.call("POST", "/api/v1/agents/reports",
                                         batch(report(agent_id, 1)), token=token)
        assert status == 503 and "storage unavailable" in body["error"], body
        assert await ingest.store.seqs(agent_id) == []  # the agent keeps it and retries


async def test_a_spool_that_cannot_be_written_is_a_503_and_nothing_is_taken_for_stored(
        tmp_path: Path, influxd: Influxd, tiny_disk: Path) -> None:  # noqa: F811 (the fixture)
    """The spool's disk full (and InfluxDB away): the writer holds lines in memory only, which a
    SIGKILL would lose. An agent's batch is then refused (503, no key), so the agent keeps it;
    once the disk has room again its retry is stored."""
    db = f"order_{uuid.uuid4().hex[:8]}"
    storage = StorageConfig(backend="influxdb_v1", url="http://127.0.0.1:9", database=db,
                            flush_interval=0.2, timeout=0.5, spool_dir=tiny_disk / "spool")
    async for server in serve(tmp_path, storage=storage):
        agent_id, token = await server.enroll("pc-1")
        filler = tiny_disk / "filler"
        await asyncio.to_thread(fill, filler)
        status, body = await server.call("POST", "/api/v1/agents/reports",
                                         batch(report(agent_id, 1)), token=token)
        assert status == 503 and "storage unavailable" in body["error"], body
        assert await server.app[INGEST].store.seqs(agent_id) == []
        filler.unlink()
        deadline = time.monotonic() + 15
        while True:  # the writer finds the spool writable again at its next commit
            status, body = await server.call("POST", "/api/v1/agents/reports",
                                             batch(report(agent_id, 1)), token=token)
            if status == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        assert status == 200 and body["accepted"] == 1, body
        assert await server.app[INGEST].store.seqs(agent_id) == [1]
