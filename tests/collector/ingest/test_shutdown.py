"""A batch whose HTTP handler is cancelled (shutdown) still reaches every sink: its (agent, seq)
keys are never recorded without the reports (collector/pipeline.py: all sinks or none)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from collector.config import DeviceConfig
from collector.ingest.service import Ingest
from collector.ingest.settings import IngestSettings
from collector.ingest.store import AgentStore
from collector.pipeline import ReadingSink
from collector.state import StateCache
from probes.model import Reading
from tests.collector.ingest.helpers import config, report


class SlowSink:
    """A sink that takes its time (a busy disk), so the handler can be cut inside it."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def handle(self, reading: Reading, device: DeviceConfig) -> None:
        self.entered.set()
        await asyncio.sleep(0.2)


async def test_a_cancelled_batch_still_reaches_the_sinks_after_it(tmp_path: Path) -> None:
    store = await AgentStore.open(tmp_path / "agents.sqlite3")
    slow, state = SlowSink(), StateCache(())
    sinks: list[ReadingSink] = [slow, state]
    ingest = Ingest(store, IngestSettings(), config(tmp_path), sinks)
    try:
        agent, _ = await store.enroll("pc-1", "t")
        handler = asyncio.create_task(ingest.handle_batch(agent, [report(agent.id, 1)]))
        await asyncio.wait_for(slow.entered.wait(), timeout=5)
        handler.cancel()  # aiohttp cancels a handler still running after its shutdown timeout
        await asyncio.gather(handler, return_exceptions=True)
        await ingest.stop()  # waits for what was handed over
        assert await store.seqs(agent.id) == [1]
        got = state.get("pc-1")
        assert got is not None and "agent" in got.readings  # the sink after the slow one saw it
        assert ingest.stats.accepted == 1
    finally:
        await store.close()
