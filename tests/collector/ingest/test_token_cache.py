"""The cost cuts of the report path keep its meaning: a cached agent token is refused as soon
as it is revoked (at once through the API, within TOKEN_CACHE_SECONDS for a change behind the
collector's back), an agent token is never taken for an account token, and a batch's lines all
reach a real InfluxDB in the one write that covers them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from collector.config import StorageConfig
from collector.demo import Influxd
from collector.ingest import api
from collector.keys import INGEST, STATE
from tests.collector.ingest.helpers import ADMIN, Server, batch, report, serve


@pytest.fixture()
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async for s in serve(tmp_path):
        yield s


async def test_a_revoke_through_the_api_refuses_the_cached_token_at_once(
        server: Server) -> None:
    agent_id, token = await server.enroll("pc-cache")
    for seq in (1, 2):  # the second request is answered from the token cache
        status, _ = await server.call("POST", "/api/v1/agents/reports",
                                      batch(report(agent_id, seq)), token=token)
        assert status == 200
    status, _ = await server.call("POST", f"/api/v1/agents/{agent_id}/revoke", token=ADMIN)
    assert status == 200
    status, body = await server.call("POST", "/api/v1/agents/reports",
                                     batch(report(agent_id, 3)), token=token)
    assert status == 401 and body["revoked"] is True
    assert await server.app[INGEST].store.seqs(agent_id) == [1, 2]


async def test_a_revoke_behind_the_collectors_back_counts_within_the_cache_time(
        server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "TOKEN_CACHE_SECONDS", 0.5)
    agent_id, token = await server.enroll("pc-behind")
    status, _ = await server.call("POST", "/api/v1/agents/reports",
                                  batch(report(agent_id, 1)), token=token)
    assert status == 200
    # as another process would: the database changes, this process's API is not told
    await server.app[INGEST].store.revoke(agent_id)
    status, _ = await server.call("POST", "/api/v1/agents/reports",
                                  batch(report(agent_id, 2)), token=token)
    assert status == 200  # the documented window: the token was verified < 0.5 s ago
    await asyncio.sleep(0.6)
    status, body = await server.call("POST", "/api/v1/agents/reports",
                                     batch(report(agent_id, 3)), token=token)
    assert status == 401 and body["revoked"] is True
    assert await server.app[INGEST].store.seqs(agent_id) == [1, 2]


async def test_an_agent_token_is_no_account_token(server: Server) -> None:
    agent_id, token = await server.enroll("pc-not-a-user")
    status, body = await server.call("GET", "/api/v1/agents", token=token)
    assert status == 401, body
    status, _ = await server.call("POST", f"/api/v1/agents/{agent_id}/revoke", token=token)
    assert status == 401
    status, _ = await server.call("GET", "/api/v1/agents", token=ADMIN)
    assert status == 200


async def test_a_batch_reaches_influxdb_and_the_sinks_in_one_write(
        tmp_path: Path, influxd: Influxd) -> None:
    db = "ingest_one_write"
    storage = StorageConfig(backend="influxdb_v1", url=influxd.url, database=db,
                            batch_size=50, flush_interval=0.2, timeout=2.0)
    async for server in serve(tmp_path, storage=storage):
        agent_id, token = await server.enroll("pc-influx")
        status, body = await server.call("POST", "/api/v1/agents/reports", batch(
            *(report(agent_id, seq, at=1_800_000_000.0 + seq) for seq in (1, 2, 3))),
            token=token)
        assert (status, body) == (200, {"accepted": 3, "duplicates": 0})
        state = server.app[STATE].get("pc-influx")
        assert state is not None and state.readings["agent"].time == 1_800_000_003.0

        def count(query: str) -> int:
            result: Any = influxd.query(query, db=db)
            series = result["results"][0].get("series", [])
            return int(series[0]["values"][0][1]) if series else 0

        where = "WHERE device = 'pc-influx'"
        for _ in range(100):  # the writer sends every 0.2 s, on this loop: poll, never block
            if count(f"SELECT count(seq) FROM host_system {where}") == 3:
                break
            await asyncio.sleep(0.1)
        assert count(f"SELECT count(seq) FROM host_system {where}") == 3
        assert count(f"SELECT count(up) FROM availability {where} AND probe = 'agent'") == 3
        assert count(f"SELECT count(disk_used_percent) FROM metrics {where}") == 3
        assert count(f"SELECT count(percent) FROM host_cpu {where}") == 3
