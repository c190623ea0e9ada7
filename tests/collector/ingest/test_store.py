"""The agents database: exactly once under concurrent (group-committed) batches, tokens hashed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from collector.ingest.service import CpuWindow
from collector.ingest.store import ACCEPT_CHUNK, AgentStore


async def test_concurrent_overlapping_batches_store_each_seq_once(tmp_path: Path) -> None:
    store = await AgentStore.open(tmp_path / "agents.sqlite3")
    try:
        a, _ = await store.enroll("pc-a", "t")
        b, _ = await store.enroll("pc-b", "t")
        # 40 calls at once, each seq of each agent offered 4 times
        calls = [store.accept(agent.id, [(s, float(s)) for s in range(i % 10, i % 10 + 5)])
                 for i in range(20) for agent in (a, b)]
        results = await asyncio.gather(*calls)
        for agent in (a, b):
            assert await store.seqs(agent.id) == list(range(14))
            row = await store.get(agent.id)
            assert row.reports == 14 and row.duplicates == 20 * 5 - 14
        assert sum(len(r) for r in results) == 28
        again = await store.accept(a.id, [(3, 3.0), (99, 99.0)])
        assert again == [99]
    finally:
        await store.close()


async def test_prune_forgets_only_old_keys(tmp_path: Path) -> None:
    store = await AgentStore.open(tmp_path / "agents.sqlite3")
    try:
        row, _ = await store.enroll("pc", "t")
        await store.accept(row.id, [(1, 1.0)], now=1000.0)
        await store.accept(row.id, [(2, 2.0)], now=5000.0)
        assert await store.prune(older_than=2000.0) == 1
        assert await store.seqs(row.id) == [2]
    finally:
        await store.close()


async def test_revoked_tokens_do_not_authenticate(tmp_path: Path) -> None:
    store = await AgentStore.open(tmp_path / "agents.sqlite3")
    try:
        row, token = await store.enroll("pc", "t")
        assert (await store.by_token(token)) is not None
        await store.revoke(row.id)
        assert await store.by_token(token) is None
        assert (await store.get(row.id)).revoked_at is not None
    finally:
        await store.close()


def test_cpu_window_needs_the_whole_window_and_forgets_old_reports() -> None:
    w = CpuWindow()
    assert [w.add(t, 100.0, 10, 60) for t in range(0, 40, 10)] == [None] * 4
    assert w.add(40, 100.0, 10, 60) == 100.0  # 50 s of 60 covered
    for t in range(50, 120, 10):
        mean = w.add(t, 0.0, 10, 60)
    assert mean == 0.0  # the busy minute has left the window


async def test_a_group_larger_than_one_insert_statement(tmp_path: Path) -> None:
    store = await AgentStore.open(tmp_path / "agents.sqlite3")
    try:
        a, _ = await store.enroll("pc-big", "t")
        n = 2 * ACCEPT_CHUNK + 7  # three INSERT statements in one transaction
        first, second = await asyncio.gather(
            store.accept(a.id, [(s, float(s)) for s in range(n)]),
            store.accept(a.id, [(n - 1, 0.0), (n, 0.0)]))  # the last key again, and a new one
        assert (first, second) == (list(range(n)), [n])  # the first call claims n - 1
        assert await store.seqs(a.id) == list(range(n + 1))
        row = await store.get(a.id)
        assert (row.reports, row.duplicates, row.last_seq) == (n + 1, 1, n)
    finally:
        await store.close()
