"""The agent's main loop (:class:`Agent`): a snapshot every interval into the disk queue (the
calling thread), and a sender thread that drains the queue oldest first whenever the collector
answers. Plain threads, no asyncio: two loops, one request every ``interval``.

Identity: ``<state_dir>/identity.json`` (mode 0600) holds the agent id and token from
enrollment. A 401 on reports for an unknown token (the collector lost its database) removes it
and the agent enrolls again with its secret; its queue and sequence numbers stay, and queued
reports are sent under the new agent id.

Revoked: a 401 that says the agent was revoked (or an enrollment refused because this host was
revoked) is logged once as an error saying what an admin must do (``fleetwatch agents allow
HOST``); the agent then tries to enroll again only after :data:`REVOKED_RETRY_FIRST` s, doubling
up to :data:`REVOKED_RETRY_MAX` s, with no request in between, and keeps queueing reports (the
queue's caps apply). It never exits for it (a service manager would restart it at once).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
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
from agent.transport import EnrollError, Revoked, Transport

log = logging.getLogger(__name__)

MAX_BACKOFF = 60.0
REVOKED_RETRY_FIRST = 300.0  # s from a revoke to the next enrollment try; doubles each refusal
REVOKED_RETRY_MAX = 3600.0

MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
# machine-id(5): never hand out the raw id; a keyed hash with an application key is stable and
# says nothing about the machine to anyone else.
MACHINE_ID_KEY = b"fleetwatch-agent enrollment v1"


def machine_id(files: tuple[Path, ...] | None = None) -> str | None:
    """This machine's id for enrollment (HMAC-SHA256 of the OS machine id, 64 hex digits), or
    None where there is none to read (Windows and macOS: not read yet). ``files`` default to
    :data:`MACHINE_ID_FILES`."""
    for f in MACHINE_ID_FILES if files is None else files:
        try:
            raw = f.read_text().strip()
        except OSError:
            continue
        if raw:
            return hmac.new(MACHINE_ID_KEY, raw.encode(), hashlib.sha256).hexdigest()
    return None


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
        # Only under the machine's own name: several agents enrolled from one machine under
        # names of their own (the demo, tests) must not share it.
        self.machine_id = machine_id() if config.hostname is None else None
        self.revoked: str | None = None  # the collector's words while this host is revoked
        self._revoked_delay = REVOKED_RETRY_FIRST
        self._revoked_until = 0.0
        self._stop: threading.Event | None = None
        self._snap = Snapshotter(ps, processes_every=config.processes_every)
        self._wake = threading.Event()
        self._lock = threading.Lock()  # the queue and the identity, between the two threads
        self._reports = 0
        self._batch_limit = config.batch_max_reports
        self.sent = 0

    def _note_revoked(self, detail: str) -> None:
        """The collector revoked this agent or refused this host: forget the identity, log it
        once, and put the next enrollment try off (doubling, capped)."""
        self.identity = None
        with contextlib.suppress(OSError):
            self._identity_path.unlink()
        delay = self._revoked_delay
        if self.revoked is None:
            how = "" if "agents allow" in detail else (
                f" To let it back, an admin runs `fleetwatch agents allow {self.hostname}`.")
            log.error("the collector revoked this agent (%s): %s. It will not enroll again by "
                      "itself: next try in %.0f min, then at most hourly; reports wait in the "
                      "queue (up to its limits); once allowed, restart it to come back at "
                      "once.%s", self.hostname, detail.rstrip("."), delay / 60, how)
        else:
            log.debug("still revoked (%s); next enrollment try in %.0f s", detail, delay)
        self.revoked = detail
        self._revoked_until = time.monotonic() + delay
        self._revoked_delay = min(delay * 2, REVOKED_RETRY_MAX)

    def ensure_identity(self, stop: threading.Event | None = None) -> tuple[str, str]:
        """Enroll until it works (backing off). Raises EnrollError when it cannot succeed
        without a person (no secret, or the secret is refused), or when ``stop`` is set;
        :class:`Revoked` while this host is revoked (without a request when the next try is
        not due yet)."""
        delay = 1.0
        while self.identity is None:
            if self.revoked is not None and time.monotonic() < self._revoked_until:
                raise Revoked(self.revoked)
            secret = self.config.enroll_secret()
            if not secret:
                raise EnrollError("no enrollment secret: set enroll_secret_file or "
                                  f"${self.config.enroll_secret_env}", retry=False)
            try:
                agent_id, token = self.transport.enroll(secret, self.hostname, self.machine_id)
            except Revoked as err:
                self._note_revoked(str(err))
                raise
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
            if self.revoked is not None:
                log.warning("enrolled again as %s: the collector allowed this host", agent_id)
                self.revoked, self._revoked_delay = None, REVOKED_RETRY_FIRST
            else:
                log.info("enrolled as %s", agent_id)
        return self.identity

    def collect_once(self) -> int:
        """Take a snapshot and queue it as a report; its sequence number. Needs no enrollment:
        the report gets the agent id it is sent under (:meth:`send_pending`)."""
        identity = self.identity
        agent_id = identity[0] if identity is not None else ""
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
            agent_id, token = self.ensure_identity(self._stop)
            body = (b'{"version":1,"reports":[' + b",".join(_stamped(d, agent_id) for _, d in batch)
                    + b"]}")
            sent = self.transport.send(token, body)
            seqs = [s for s, _ in batch]
            if sent.outcome == "ok":
                with self._lock:
                    self.queue.remove(seqs)
                self.sent += len(seqs)
                self._batch_limit = self.config.batch_max_reports
            elif sent.outcome == "revoked":
                self._note_revoked(sent.detail)
                raise Revoked(sent.detail)
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
            except Revoked:  # logged once by _note_revoked; no request until the next try
                ok = False
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
        transport's timeout). Raises EnrollError when enrollment needs a person (not for a
        revoke: that waits, see the module docstring)."""
        self._stop = stop
        # a revoke is logged; reports are queued meanwhile and the sender tries again when due
        with contextlib.suppress(Revoked):
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
            # revoked, or no identity and no collector: what is queued waits for the next run
            with contextlib.suppress(EnrollError):
                self.send_pending()


def _stamped(report: bytes, agent_id: str) -> bytes:
    """``report`` (queued JSON) with ``agent_id``: reports queued before an enrollment (or
    under an earlier identity) are sent as the current agent's."""
    prefix = b'{"agent_id":' + json.dumps(agent_id).encode() + b","
    if report.startswith(prefix):
        return report
    try:
        data = json.loads(report)
    except ValueError:  # not ours to mend: the collector refuses it and it is dropped alone
        return report
    if not isinstance(data, dict):
        return report
    data["agent_id"] = agent_id
    return json.dumps(data, separators=(",", ":")).encode()
