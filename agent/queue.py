"""The agent's on-disk queue of reports waiting for the collector (:class:`DiskQueue`).

Contracts (after Zabbix agent 2's persistent buffer):
- One file per report, named by its sequence number (zero-padded, so name order is age order),
  written to a temporary name, fsynced, renamed into place and the directory fsynced: after a
  SIGKILL or power loss a report is either wholly there or not there; a half-written temporary
  file is removed at the next open.
- Bounded by bytes and by age: :meth:`put` drops the oldest reports beyond ``max_bytes``, and
  reports older than ``max_age`` seconds are dropped; both are counted in ``dropped``.
- :meth:`peek` gives the oldest first; :meth:`remove` deletes what the collector acknowledged.
  A report is removed only after the collector answered, so a crash between send and remove
  re-sends it, and the collector's (agent id, seq) key stores it once.
- The next sequence number is kept in ``seq`` (fsynced the same way) and is never reused, even
  when the queue is empty, so a restarted agent never sends an old number for new data.
Blocking file I/O: call from a worker thread (``asyncio.to_thread``) in the agent's loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIX = ".json"


@dataclass(slots=True)
class QueueStats:
    queued: int = 0
    bytes: int = 0
    dropped: int = 0


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class DiskQueue:
    def __init__(self, directory: Path, *, max_bytes: int = 64 * 1024 * 1024,
                 max_age: float = 7 * 86400, clock: Callable[[], float] = time.time) -> None:
        self.dir = directory
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._clock = clock
        self.stats = QueueStats()
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for leftover in self.dir.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
        self._sizes: dict[int, tuple[int, float]] = {}  # seq → (bytes, mtime)
        for f in self.dir.glob(f"*{SUFFIX}"):
            with contextlib.suppress(ValueError, OSError):
                st = f.stat()
                self._sizes[int(f.stem)] = (st.st_size, st.st_mtime)
        seq_file = self.dir / "seq"
        try:
            stored = int(seq_file.read_text().strip() or 0)
        except (OSError, ValueError):
            stored = 0
        self._next = max([stored, *(s + 1 for s in self._sizes)], default=1) or 1
        self._update()

    def _update(self) -> None:
        self.stats.queued = len(self._sizes)
        self.stats.bytes = sum(size for size, _ in self._sizes.values())

    def next_seq(self) -> int:
        """A new sequence number, durable before it is returned."""
        seq = self._next
        self._next += 1
        _write_atomic(self.dir / "seq", f"{self._next}\n".encode())
        return seq

    def put(self, seq: int, data: bytes) -> None:
        _write_atomic(self.dir / f"{seq:020d}{SUFFIX}", data)
        self._sizes[seq] = (len(data), self._clock())
        self.expire()

    def expire(self) -> None:
        """Drop reports older than ``max_age`` and the oldest beyond ``max_bytes``."""
        now = self._clock()
        drop = [s for s, (_, t) in self._sizes.items() if now - t > self.max_age]
        total = sum(size for size, _ in self._sizes.values())
        for seq in sorted(self._sizes):
            if total <= self.max_bytes:
                break
            if seq not in drop:
                drop.append(seq)
            total -= self._sizes[seq][0]
        if drop:
            log.warning("agent queue full or old: dropping %d oldest report(s)", len(drop))
            self.remove(drop)
            self.stats.dropped += len(drop)

    def peek(self, limit: int, max_bytes: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` oldest reports whose sizes sum to at most ``max_bytes`` (at least
        one). A file that vanished or is unreadable is forgotten."""
        out: list[tuple[int, bytes]] = []
        total = 0
        for seq in sorted(self._sizes)[:limit]:
            try:
                data = (self.dir / f"{seq:020d}{SUFFIX}").read_bytes()
            except OSError:
                self._sizes.pop(seq, None)
                continue
            if out and total + len(data) > max_bytes:
                break
            out.append((seq, data))
            total += len(data)
        self._update()
        return out

    def remove(self, seqs: list[int]) -> None:
        for seq in seqs:
            (self.dir / f"{seq:020d}{SUFFIX}").unlink(missing_ok=True)
            self._sizes.pop(seq, None)
        self._update()

    def __len__(self) -> int:
        return len(self._sizes)
