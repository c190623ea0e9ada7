"""Enrollment, reports, revocation and the disk-full ticket through the real HTTP path."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from collector.config import DeviceConfig, Threshold
from collector.ingest.settings import IngestSettings
from collector.keys import INGEST, STATE, STORE
from collector.tickets.store import TicketQuery
from tests.collector.ingest.helpers import ADMIN, SECRET, Server, batch, report, serve

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture()
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async for s in serve(tmp_path, devices=(DeviceConfig(
            name="reception", host="pc-reception.hq.example.org", kind="workstation",
            thresholds=(Threshold("disk_used_percent", warning=85, critical=95,
                                  hysteresis=2),)),)):
        yield s


async def test_enroll_report_list_and_revoke(server: Server) -> None:
    status, body = await server.call("POST", "/api/v1/agents/enroll",
                                     {"secret": "wrong", "hostname": "pc-1"})
    assert status == 401 and "secret" in body["error"]
    agent_id, token = await server.enroll("pc-1")
    store = server.app[INGEST].store
    rows = await store.all_agents()
    assert [r.id for r in rows] == [agent_id]
    state_dir = Path(server.app[INGEST].config.collector.state_dir)
    files = list(state_dir.glob("agents.sqlite3*"))  # noqa: ASYNC240 (the database and its WAL)
    assert files and all(token.encode() not in f.read_bytes() for f in files)

    status, body = await server.call("POST", "/api/v1/agents/reports",
                                     batch(report(agent_id, 1), report(agent_id, 2)), token=token)
    assert (status, body) == (200, {"accepted": 2, "duplicates": 0})
    status, body = await server.call("POST", "/api/v1/agents/reports",
                                     batch(report(agent_id, 2), report(agent_id, 3)), token=token)
    assert (status, body) == (200, {"accepted": 1, "duplicates": 1})
    assert await store.seqs(agent_id) == [1, 2, 3]
    state = server.app[STATE].get("pc-1")
    assert state is not None and dict(state.readings["agent"].metrics)["disk_used_percent"] == 40

    status, body = await server.call("GET", "/api/v1/agents")
    assert status == 401  # with an api_token set, reads need it too (the request gate)
    status, body = await server.call("GET", "/api/v1/agents", token=ADMIN)
    assert status == 200 and body["agents"][0]["reports"] == 3
    status, body = await server.call("POST", f"/api/v1/agents/{agent_id}/revoke", token="nope")
    assert status == 401
    status, body = await server.call("POST", f"/api/v1/agents/{agent_id}/revoke", token=ADMIN)
    assert status == 200 and body["revoked"] is True
    status, body = await server.call("POST", "/api/v1/agents/reports",
                                     batch(report(agent_id, 4)), token=token)
    assert status == 401
    assert await store.seqs(agent_id) == [1, 2, 3]


async def test_bad_requests_name_the_field_and_record_nothing(server: Server) -> None:
    agent_id, token = await server.enroll("pc-2")
    good = batch(report(agent_id, 1))
    bad = batch(report(agent_id, 2))
    bad["reports"][0]["snapshot"]["cpu"]["percent"] = 250
    status, body = await server.call("POST", "/api/v1/agents/reports", bad, token=token)
    assert status == 400 and body["error"].startswith("reports.0.snapshot.cpu.percent:")
    status, body = await server.call("POST", "/api/v1/agents/reports", raw=b"{not json",
                                     token=token)
    assert status == 400
    other = batch(report("someone-else", 3))
    status, body = await server.call("POST", "/api/v1/agents/reports", other, token=token)
    assert status == 400 and "reports.0.agent_id" in body["error"]
    status, body = await server.call("POST", "/api/v1/agents/reports", good, token="forged")
    assert status == 401
    status, _ = await server.call("POST", "/api/v1/agents/reports",
                                  raw=b" " * (5 * 1024 * 1024), token=token)
    assert status == 413
    assert await server.app[INGEST].store.seqs(agent_id) == []
    status, body = await server.call("POST", "/api/v1/agents/reports", good, token=token)
    assert status == 200 and body["accepted"] == 1


async def test_enrollment_is_rate_limited(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text(SECRET)
    settings = IngestSettings(enroll_secret_file=tmp_path / "secret", enroll_burst=3,
                              enroll_rate=0.001)
    async for server in serve(tmp_path, settings):
        codes = [(await server.call("POST", "/api/v1/agents/enroll",
                                    {"secret": "guess", "hostname": "x"}))[0] for _ in range(5)]
        assert codes == [401, 401, 401, 429, 429]


async def test_enrollment_closed_without_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    monkeypatch.delenv("FLEETWATCH_ENROLL_SECRET", raising=False)
    async for server in serve(tmp_path, IngestSettings()):
        status, _body = await server.call("POST", "/api/v1/agents/enroll",
                                         {"secret": "x", "hostname": "x"})
        assert status == 403


async def test_a_nearly_full_disk_opens_a_ticket_by_the_configured_threshold(server: Server
                                                                             ) -> None:
    agent_id, token = await server.enroll("pc-reception")  # the config's device, by host
    for seq, disk in enumerate((96.0, 96.5, 96.5), 1):
        status, _ = await server.call("POST", "/api/v1/agents/reports",
                                      batch(report(agent_id, seq, disk=disk)), token=token)
        assert status == 200
    found, _ = await server.app[STORE].find(TicketQuery(device="reception"))
    assert [(t.fault_key, t.severity) for t in found] == [("threshold:disk_used_percent",
                                                           "critical")]
    # back under 95 - 2 hysteresis, still over the warning: severity drops, ticket stays
    for seq in (4, 5):
        await server.call("POST", "/api/v1/agents/reports",
                          batch(report(agent_id, seq, disk=90.0)), token=token)
    found, _ = await server.app[STORE].find(TicketQuery(device="reception"))
    assert found[0].severity == "warning" and found[0].unresolved
    for seq in (6, 7):
        await server.call("POST", "/api/v1/agents/reports",
                          batch(report(agent_id, seq, disk=50.0)), token=token)
    found, _ = await server.app[STORE].find(TicketQuery(device="reception"))
    assert found[0].state == "resolved"


async def test_memory_pressure_and_sustained_cpu_use_the_default_thresholds(server: Server
                                                                          ) -> None:
    agent_id, token = await server.enroll("pc-9")
    start = time.time() - 400
    # one busy snapshot is no ticket; 5 minutes of it is
    reports = [report(agent_id, i + 1, cpu=99.0, mem=98.0, at=start + 10 * i)
               for i in range(35)]
    status, _ = await server.call("POST", "/api/v1/agents/reports", batch(*reports[:1]),
                                  token=token)
    found, _ = await server.app[STORE].find(TicketQuery(device="pc-9"))
    assert found == []
    status, _ = await server.call("POST", "/api/v1/agents/reports", batch(*reports[1:]),
                                  token=token)
    assert status == 200
    found, _ = await server.app[STORE].find(TicketQuery(device="pc-9"))
    assert sorted(t.fault_key for t in found) == ["threshold:cpu_sustained_percent",
                                                  "threshold:mem_used_percent"]


async def _cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "collector.cli", "agents", *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_cli_lists_and_revokes(server: Server) -> None:
    agent_id, token = await server.enroll("pc-cli")
    env = {"FLEETWATCH_URL": server.url, "PYTHONPATH": str(ROOT)}
    code, out = await _cli("list", env={**env, "FLEETWATCH_API_TOKEN": ADMIN})
    assert code == 0 and agent_id in out and "live" in out
    code, out = await _cli("revoke", agent_id, env=env)  # no admin token
    assert code == 2 and "401" in out
    code, out = await _cli("revoke", agent_id, env={**env, "FLEETWATCH_API_TOKEN": ADMIN})
    assert code == 0 and "revoked" in out
    status, _ = await server.call("POST", "/api/v1/agents/reports",
                                  batch(report(agent_id, 1)), token=token)
    assert status == 401
    code, out = await _cli("list", env={**env, "FLEETWATCH_API_TOKEN": ADMIN})
    assert "revoked" in out
