"""The agent's main loop (:class:`Agent`): a snapshot every interval into the disk queue (the
calling thread), and a sender thread that drains the queue oldest first whenever the collector
answers. Plain threads, no asyncio: two loops, one request every ``interval``.

Identity: ``<state_dir>/identity.json`` (mode 0600) holds the agent id and token from
enrollment. A 401 on reports (revoked, or the collector lost its database) removes it and the
agent enrolls again with its secret; its queue and sequence numbers stay.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from agent.config import AgentConfig
from agent.inventory import inventory
from agent.queue import DiskQueue
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
        self._snap = Snapshotter(ps, processes_every=config.processes_every)
        self._wake = threading.Event()
        self._lock = threading.Lock()  # the queue and the identity, between the two threads
        self._reports = 0
        self._batch_limit = config.batch_max_reports
        self.sent = 0

    def ensure_identity(self, stop: threading.Event | None = None) -> tuple[str, str]:
        """Enroll until it works (backing off). Raises EnrollError when it cannot succeed
        without a person (no secret, or the secret is refused), or when ``stop`` is set."""
        delay = 1.0
        while self.identity is None:
            secret = self.config.enroll_secret()
            if not secret:
                raise EnrollError("no enrollment secret: set enroll_secret_file or "
                                  f"${self.config.enroll_secret_env}", retry=False)
            try:
                agent_id, token = self.transport.enroll(secret, self.hostname)
            except EnrollError as err:
                if not err.retry:
                    raise
                log.info("%s; retrying in %.0f s", err, delay)
                if stop is not None and stop.wait(delay):
                    raise EnrollError("stopped before enrolling", retry=True) from err
                if stop is None:
                    time.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            _save_identity(self._identity_path, agent_id, token)
            self.identity = (agent_id, token)
            log.info("enrolled as %s", agent_id)
        return self.identity

    def collect_once(self) -> int:
        """Take a snapshot and queue it as a report; its sequence number."""
        agent_id, _ = self.ensure_identity()
        snap = self._snap.take()
        report: dict[str, Any] = {"agent_id": agent_id, "time": time.time(),
                                  "interval": self.config.interval, "snapshot": snap}
        if self._reports % self.config.inventory_every == 0:
            report["inventory"] = inventory(self._ps)
        self._reports += 1
        with self._lock:
            seq = self.queue.next_seq()
            report["seq"] = seq
            self.queue.put(seq, json.dumps(report, separators=(",", ":")).encode())
        log.debug("queued report %d", seq)
        self._wake.set()
        return seq

    def send_pending(self) -> bool:
        """Send queued reports until the queue is empty (True) or the collector is away
        (False)."""
        while True:
            with self._lock:
                if not len(self.queue):
                    return True
                batch = self.queue.peek(self._batch_limit, self.config.batch_max_bytes)
            if not batch:
                return True
            _, token = self.ensure_identity()
            body = b'{"version":1,"reports":[' + b",".join(d for _, d in batch) + b"]}"
            sent = self.transport.send(token, body)
            seqs = [s for s, _ in batch]
            if sent.outcome == "ok":
                with self._lock:
                    self.queue.remove(seqs)
                self.sent += len(seqs)
                self._batch_limit = self.config.batch_max_reports
            elif sent.outcome == "unauthorized":
                log.warning("collector refused the token (%s): enrolling again", sent.detail)
                self.identity = None
                with contextlib.suppress(OSError):
                    self._identity_path.unlink()
            elif len(batch) > 1 and sent.outcome in ("too_large", "rejected"):
                self._batch_limit = max(1, len(batch) // 2)  # find the bad one by halving
            elif sent.outcome in ("too_large", "rejected"):
                log.error("collector refused report %d for good (%s): dropped", seqs[0],
                          sent.detail)
                with self._lock:
                    self.queue.remove(seqs)
                    self.queue.stats.dropped += 1
            else:
                log.info("collector unavailable (%s): %d report(s) queued", sent.detail,
                         len(self.queue))
                return False

    def _sender(self, stop: threading.Event) -> None:
        delay = 1.0
        while not stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if stop.is_set():
                return
            try:
                ok = self.send_pending()
            except EnrollError as err:
                log.error("%s", err)
                ok = False
            if ok:
                delay = 1.0
                continue
            if stop.wait(delay):  # the collector is away: new reports can wait too
                return
            self._wake.set()
            delay = min(delay * 2, MAX_BACKOFF, self.config.interval)

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set; then one last send of what is queued (bounded by the
        transport's timeout). Raises EnrollError when enrollment needs a person."""
        self.ensure_identity(stop)
        sender = threading.Thread(target=self._sender, args=(stop,), name="sender",
                                  daemon=True)
        sender.start()
        self._wake.set()  # what an earlier run left queued
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    self.collect_once()
                except OSError as err:  # disk full, state dir gone: try again next interval
                    log.error("cannot queue a report: %s", err)
                stop.wait(max(0.0, self.config.interval - (time.monotonic() - started)))
        finally:
            self._wake.set()
            sender.join(self.config.timeout * 2 + 1)
        if not sender.is_alive():
            self.send_pending()
