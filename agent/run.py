"""The agent's main loop (:class:`Agent`): snapshot every interval into the disk queue, and a
sender that drains the queue oldest first whenever the collector answers.

Identity: ``<state_dir>/identity.json`` (mode 0600) holds the agent id and token from
enrollment. A 401 on reports (revoked, or the collector lost its database) removes it and the
agent enrolls again with its secret; its queue and sequence numbers stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from agent.config import AgentConfig
from agent.inventory import inventory
from agent.queue import DiskQueue
from agent.schema import Report, Snapshot
from agent.snapshot import Snapshotter, hostname
from agent.transport import EnrollError, Transport

log = logging.getLogger(__name__)

MAX_BACKOFF = 60.0


def _load_identity(path: Path) -> tuple[str, str] | None:
    try:
        data = json.loads(path.read_text())
        return str(data["agent_id"]), str(data["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_identity(path: Path, agent_id: str, token: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"agent_id": agent_id, "token": token}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Agent:
    def __init__(self, config: AgentConfig, ps: Any, transport: Transport) -> None:
        self.config = config
        self._ps = ps
        self.transport = transport
        config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.queue = DiskQueue(config.state_dir / "queue", max_bytes=config.queue_max_bytes,
                               max_age=config.queue_max_age)
        self._identity_path = config.state_dir / "identity.json"
        self.identity = _load_identity(self._identity_path)
        self.hostname = config.hostname or hostname()
        self._snap = Snapshotter(ps)
        self._wake = asyncio.Event()
        self._reports = 0
        self._batch_limit = config.batch_max_reports
        self.sent = 0

    async def ensure_identity(self) -> tuple[str, str]:
        """Enroll until it works (backing off); raises EnrollError when it cannot succeed
        without a person (no secret, or the secret is refused)."""
        delay = 1.0
        while self.identity is None:
            secret = self.config.enroll_secret()
            if not secret:
                raise EnrollError("no enrollment secret: set enroll_secret_file or "
                                  f"${self.config.enroll_secret_env}", retry=False)
            try:
                got = await self.transport.enroll(secret, self.hostname)
            except EnrollError as err:
                if not err.retry:
                    raise
                log.info("%s; retrying in %.0f s", err, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            await asyncio.to_thread(_save_identity, self._identity_path, got.agent_id, got.token)
            self.identity = (got.agent_id, got.token)
            log.info("enrolled as %s", got.agent_id)
        return self.identity

    def _report(self, agent_id: str, seq: int, snap: Snapshot) -> Report:
        inv = None
        if self._reports % self.config.inventory_every == 0:
            inv = inventory(self._ps)
        self._reports += 1
        return Report(agent_id=agent_id, seq=seq, time=time.time(),
                      interval=self.config.interval, snapshot=snap, inventory=inv)

    async def collect_once(self) -> None:
        agent_id, _ = await self.ensure_identity()
        snap = await asyncio.to_thread(self._snap.take)
        seq = await asyncio.to_thread(self.queue.next_seq)
        report = await asyncio.to_thread(self._report, agent_id, seq, snap)
        await asyncio.to_thread(self.queue.put, seq, report.model_dump_json(
            exclude_none=True).encode())
        log.debug("queued report %d", seq)
        self._wake.set()

    async def send_pending(self) -> bool:
        """Send queued reports until the queue is empty (True) or the collector is away
        (False)."""
        while len(self.queue):
            _, token = await self.ensure_identity()
            batch = await asyncio.to_thread(self.queue.peek, self._batch_limit,
                                            self.config.batch_max_bytes)
            if not batch:
                return True
            body = b'{"version":1,"reports":[' + b",".join(d for _, d in batch) + b"]}"
            sent = await self.transport.send(token, body)
            seqs = [s for s, _ in batch]
            if sent.outcome == "ok":
                await asyncio.to_thread(self.queue.remove, seqs)
                self.sent += len(seqs)
                self._batch_limit = self.config.batch_max_reports
            elif sent.outcome == "unauthorized":
                log.warning("collector refused the token (%s): enrolling again", sent.detail)
                self.identity = None
                with contextlib.suppress(OSError):
                    self._identity_path.unlink()
            elif sent.outcome in ("too_large", "rejected") and len(batch) > 1:
                self._batch_limit = max(1, len(batch) // 2)  # find the bad one by halving
            elif sent.outcome in ("too_large", "rejected"):
                log.error("collector refused report %d for good (%s): dropped", seqs[0],
                          sent.detail)
                await asyncio.to_thread(self.queue.remove, seqs)
                self.queue.stats.dropped += 1
            else:
                log.info("collector unavailable (%s): %d report(s) queued", sent.detail,
                         len(self.queue))
                return False
        return True

    async def _sender(self) -> None:
        delay = 1.0
        while True:
            await self._wake.wait()
            self._wake.clear()
            if await self.send_pending():
                delay = 1.0
                continue
            await asyncio.sleep(delay)  # the collector is away: new reports can wait too
            self._wake.set()
            delay = min(delay * 2, MAX_BACKOFF, self.config.interval)

    async def run(self, stop: asyncio.Event) -> None:
        await self.ensure_identity()
        sender = asyncio.create_task(self._sender())
        self._wake.set()  # what an earlier run left queued
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    await self.collect_once()
                except OSError as err:  # disk full, state dir gone: try again next interval
                    log.error("cannot queue a report: %s", err)
                wait = max(0.0, self.config.interval - (time.monotonic() - started))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        with contextlib.suppress(TimeoutError):  # a last chance for what is queued
            await asyncio.wait_for(self.send_pending(), self.config.timeout)
