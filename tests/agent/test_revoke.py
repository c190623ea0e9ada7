"""A revoke sticks: a real ``fleetwatch-agent`` process whose enrollment secret is still on disk,
a real ``fleetwatch collector`` process, ``fleetwatch agents revoke`` and ``allow``.

Before the fix the agent took the 401, enrolled again with its secret and went on reporting as
a new live agent within a second. Now it logs once what an admin must do, makes no request for
minutes (backing off), keeps queueing, and comes back (with what it queued) only after
``fleetwatch agents allow HOST``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import run
from agent.config import AgentConfig
from agent.run import Agent
from agent.transport import Revoked, Sent, Transport
from collector.demo import Influxd
from collector.ingest.store import AgentStore
from collector.keys import INGEST
from tests.agent.fakepsutil import FakePsutil
from tests.agent.test_e2e import HOST, SECRET, AgentProcess, Collector, influx_seqs, wait_for
from tests.collector.ingest import helpers
from tests.collector.ingest.helpers import Server, serve

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "e2e-admin-token"


class GuardedCollector(Collector):
    """The e2e collector with a shared api_token (revoke and allow need one)."""

    def __init__(self, tmp: Path, influxd: Influxd, db: str) -> None:
        super().__init__(tmp, influxd, db)
        text = self.config.read_text().replace("collector: {", f"collector: {{api_token: {ADMIN}, ")
        self.config.write_text(text)

    def call(self, method: str, path: str, body: Any = None, token: str | None = ADMIN
             ) -> tuple[int, Any]:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {token}"} if token else {})})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def agents(self) -> list[dict[str, Any]] | None:
        try:
            status, body = self.call("GET", "/api/v1/agents")
        except OSError:
            return None
        return body["agents"] if status == 200 else None

    def full_list(self) -> dict[str, Any]:
        status, body = self.call("GET", "/api/v1/agents")
        assert status == 200, body
        return dict(body)


def cli(collector: Collector, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "collector.cli", "agents", *args], capture_output=True, text=True,
        timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT), "FLEETWATCH_API_TOKEN": ADMIN,
                         "FLEETWATCH_URL": f"http://127.0.0.1:{collector.port}"})
    return done.returncode, done.stdout + done.stderr


@pytest.fixture()
def procs(tmp_path: Path, influxd: Influxd) -> Iterator[tuple[GuardedCollector, AgentProcess,
                                                               str]]:
    db = f"agent_revoke_{uuid.uuid4().hex[:8]}"
    collector = GuardedCollector(tmp_path, influxd, db)
    agent = AgentProcess(tmp_path, f"http://127.0.0.1:{collector.port}")
    try:
        yield collector, agent, db
    finally:
        for p in (agent.proc, collector.proc):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def test_a_revoked_agent_stays_out_until_an_admin_allows_it(
        procs: tuple[GuardedCollector, AgentProcess, str], influxd: Influxd) -> None:
    collector, agent, db = procs
    collector.start()
    agent.start()
    wait_for("2 reports", lambda: collector.reports() >= 2)
    [first] = collector.agents() or []

    code, out = cli(collector, "revoke", first["id"])
    assert code == 0 and "agents allow e2e-pc" in out, out
    wait_for("the agent to learn it was revoked",
             lambda: "revoked this agent" in agent.log.read_text())
    queued_then = agent.queued()
    time.sleep(4)  # four snapshot intervals: the old agent re-enrolled within one

    assert agent.proc is not None and agent.proc.poll() is None  # it does not exit (no restarts)
    listed = collector.full_list()
    assert [(a["id"], a["revoked"]) for a in listed["agents"]] == [(first["id"], True)]
    assert {r["hostname"] for r in listed["revoked_hosts"]} == {HOST}
    text = agent.log.read_text()
    assert text.count("revoked this agent") == 1  # said once, with what to do
    assert "fleetwatch agents allow e2e-pc" in text
    assert "enrolled again" not in text and text.count("enrolled as") == 1
    assert agent.queued() >= queued_then + 2  # still snapshotting, into the queue
    # the secret alone no longer gets this host in
    status, body = collector.call("POST", "/api/v1/agents/enroll",
                                  {"secret": SECRET, "hostname": HOST.upper()}, token=None)
    assert status == 403 and body["revoked"] is True and "agents allow" in body["error"]
    code, out = cli(collector, "list")
    assert code == 0 and "revoked hosts" in out and HOST in out, out

    code, out = cli(collector, "allow", HOST)
    assert code == 0 and "may enroll again" in out, out
    code, out = cli(collector, "allow", HOST)
    assert code == 2 and "404" in out  # nothing left to allow
    agent.proc.send_signal(signal.SIGTERM)  # the admin restarts it to come back at once
    assert agent.proc.wait(30) == 0, agent.log.read_text()[-2000:]
    agent.start()
    wait_for("the queue to drain", lambda: agent.queued() == 0)
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.proc.wait(30) == 0
    rows = collector.agents() or []
    live = [a for a in rows if not a["revoked"]]
    assert len(live) == 1 and live[0]["id"] != first["id"]
    assert "enrolled again as" in agent.log.read_text() or "enrolled as" in agent.log.read_text()
    logged = agent.logged_seqs()
    collector.stop()
    stored = influx_seqs(influxd, db)
    assert len(stored) == len(set(stored))  # once each
    assert logged <= set(stored), sorted(logged - set(stored))  # queued while revoked: kept


class CountingTransport(Transport):
    """The real transport, counting the requests it makes."""

    def __init__(self, url: str) -> None:
        super().__init__(url, 5.0)
        self.enrolls = 0
        self.sends = 0

    def enroll(self, secret: str, hostname: str, machine_id: str | None = None
               ) -> tuple[str, str]:
        self.enrolls += 1
        return super().enroll(secret, hostname, machine_id)

    def send(self, token: str, body: bytes) -> Sent:
        self.sends += 1
        return super().send(token, body)


@pytest.fixture()
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async for s in serve(tmp_path):
        yield s


async def test_the_agent_backs_off_and_a_renamed_host_is_known_by_its_machine_id(
        server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    monkeypatch.setattr(run, "MACHINE_ID_FILES", (tmp_path / "machine-id",))
    monkeypatch.setattr(run, "hostname", lambda: "pc-mid")  # (not the test machine's name)
    (tmp_path / "agent-secret").write_text(helpers.SECRET)
    cfg = AgentConfig(collector_url=server.url, state_dir=tmp_path / "agent",
                      enroll_secret_file=tmp_path / "agent-secret")
    transport = CountingTransport(server.url)
    agent = Agent(cfg, FakePsutil(), transport)
    assert agent.machine_id is not None and len(agent.machine_id) == 64
    assert "0123456789abcdef" not in agent.machine_id  # never sent raw (machine-id(5))
    store = server.app[INGEST].store
    try:
        await asyncio.to_thread(agent.collect_once)
        assert await asyncio.to_thread(agent.send_pending)
        assert agent.identity is not None
        first = agent.identity[0]
        status, _ = await server.call("POST", f"/api/v1/agents/{first}/revoke",
                                      token=helpers.ADMIN)
        assert status == 200

        await asyncio.to_thread(agent.collect_once)
        with pytest.raises(Revoked):
            await asyncio.to_thread(agent.send_pending)
        assert agent.identity is None and agent.revoked is not None
        assert not (cfg.state_dir / "identity.json").exists()
        assert 290 < agent._revoked_until - time.monotonic() <= 300
        requests = (transport.enrolls, transport.sends)
        for _ in range(5):  # the sender wakes up every interval: no request until due
            await asyncio.to_thread(agent.collect_once)
            with pytest.raises(Revoked):
                await asyncio.to_thread(agent.send_pending)
        assert (transport.enrolls, transport.sends) == requests == (1, 2)

        agent.hostname = "pc-renamed"  # same machine, another name: still refused
        delays = []
        for _ in range(5):
            agent._revoked_until = 0.0  # the next try is due
            with pytest.raises(Revoked):
                await asyncio.to_thread(agent.send_pending)
            delays.append(round(agent._revoked_until - time.monotonic(), -1))
        assert delays == [600, 1200, 2400, 3600, 3600]
        assert transport.enrolls == 6
        assert [a.hostname for a in await store.all_agents()] == ["pc-mid"]

        status, body = await server.call("POST", "/api/v1/agents/allow",
                                         {"host": "pc-renamed"}, token=helpers.ADMIN)
        assert status == 404  # allowed by the revoked name, machine id or agent id only
        status, body = await server.call("POST", "/api/v1/agents/allow", {"host": first},
                                         token=helpers.ADMIN)
        assert status == 200 and {r["kind"] for r in body["allowed"]} == {"hostname",
                                                                           "machine_id"}
        agent._revoked_until = 0.0
        assert await asyncio.to_thread(agent.send_pending)  # enrolls and sends the queue
        assert agent.revoked is None and agent.identity is not None
        second = agent.identity[0]
        assert second != first
        assert await store.seqs(second) == list(range(2, 8))  # queued while revoked: kept
    finally:
        transport.close()


async def test_a_schema_1_database_keeps_its_revokes(tmp_path: Path) -> None:
    """Agents revoked before the upgrade stay out; a host revoked and (by the old bug) enrolled
    again since is not locked out of its live agent."""
    path = tmp_path / "agents.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE agents (id TEXT PRIMARY KEY, hostname TEXT NOT NULL,
          token_hash TEXT NOT NULL UNIQUE, enrolled_at REAL NOT NULL, enrolled_from TEXT,
          revoked_at REAL, last_seen REAL, last_seq INTEGER NOT NULL DEFAULT 0,
          reports INTEGER NOT NULL DEFAULT 0, duplicates INTEGER NOT NULL DEFAULT 0);
        INSERT INTO agents (id, hostname, token_hash, enrolled_at, revoked_at)
          VALUES ('old-1', 'PC-Old', 'h1', 1.0, 2.0), ('back-1', 'pc-back', 'h2', 1.0, 2.0),
                 ('back-2', 'pc-back', 'h3', 3.0, NULL);
        PRAGMA user_version = 1;
    """)
    conn.close()
    store = await AgentStore.open(path)
    try:
        assert [(r.hostname, r.agent_id) for r in await store.revoked_hosts()] == [
            ("PC-Old", "old-1")]
        found = await store.revoked_host("pc-old.")
        assert found is not None and found.kind == "hostname"
        assert await store.revoked_host("pc-back") is None
        row, _ = await store.enroll("pc-new", "t", machine_id="a" * 64)
        await store.revoke(row.id)
        assert await store.revoked_host("other-name", "a" * 64) is not None
    finally:
        await store.close()
