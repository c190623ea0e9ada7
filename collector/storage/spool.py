"""A bounded, ordered, on-disk queue of line-protocol batches (the writer's spool).

The writer's write-ahead log: every group of accepted lines is appended as one *segment* file
(one fsync per group, not per line) BEFORE it is sent, and a segment is deleted only after
InfluxDB acknowledged it (2xx). While InfluxDB is away the segments simply stay; when it returns
they are sent oldest first. The spool survives a crash or a restart: a new writer on the same
directory finds the segments and sends them first.

Layout: ``<dir>/<seq:016d>-<lines>.lp`` holds ``lines`` newline-terminated lines. A segment is
written to ``.tmp``, fsynced and renamed, so a crash leaves either the whole segment or none.
``<dir>/.lock`` is held (``flock``) by the one writer using the directory.

Bound: when a new segment would push the total over ``max_bytes``, the OLDEST segments are
deleted to make room and their line count is returned to the caller (who logs and counts it):
during a long outage the recent past is worth more than the distant past. A single batch larger
than ``max_bytes`` is refused whole (returned as dropped).

All methods do blocking file I/O: call them from a worker thread (``asyncio.to_thread``), one call
at a time (the writer's flush task is the only caller). Errors are :class:`StorageError`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from collector.storage import StorageError

SUFFIX = ".lp"


@dataclass(frozen=True, slots=True)
class Segment:
    seq: int
    lines: int
    size: int
    path: Path


class Spool:
    """Use :meth:`open`; no I/O happens in ``__init__``."""

    def __init__(self, directory: Path, max_bytes: int, lock_fd: int,
                 segments: list[Segment]) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock_fd: int | None = lock_fd
        self._segments: deque[Segment] = deque(sorted(segments, key=lambda s: s.seq))
        self._next_seq = self._segments[-1].seq + 1 if self._segments else 0
        self.bytes = sum(s.size for s in self._segments)
        self.lines = sum(s.lines for s in self._segments)

    @classmethod
    def open(cls, directory: Path, max_bytes: int) -> Spool:
        """Create ``directory`` if needed, lock it, and index the segments already there.

        Raises StorageError when the directory cannot be used or another writer holds it.
        """
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise StorageError(f"spool directory {directory}: {err}") from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            raise StorageError(f"spool directory {directory} is in use by another writer") from err
        segments = []
        try:
            for path in directory.iterdir():
                if path.name.endswith(".tmp"):  # a crash during a write: the batch never made it
                    path.unlink()
                    continue
                if not path.name.endswith(SUFFIX):
                    continue
                seq, _, lines = path.name[: -len(SUFFIX)].partition("-")
                if seq.isdigit() and lines.isdigit():
                    segments.append(Segment(int(seq), int(lines), path.stat().st_size, path))
        except OSError as err:
            os.close(fd)
            raise StorageError(f"spool directory {directory}: {err}") from err
        return cls(directory, max_bytes, fd, segments)

    def __len__(self) -> int:
        """Number of segments waiting."""
        return len(self._segments)

    def append(self, lines: list[str]) -> tuple[int, int]:
        """Store one batch after all others. Returns ``(stored, dropped)`` line counts: dropped
        are the lines of the oldest segments deleted to stay within ``max_bytes``, or this
        batch itself when it alone is bigger than that (then ``stored`` is 0)."""
        if not lines:
            return 0, 0
        data = ("\n".join(lines) + "\n").encode()
        if len(data) > self.max_bytes:
            return 0, len(lines)
        dropped = 0
        while self._segments and self.bytes + len(data) > self.max_bytes:
            oldest = self._segments[0]
            self.remove(oldest)
            dropped += oldest.lines
        seq = self._next_seq
        self._next_seq += 1
        path = self.directory / f"{seq:016d}-{len(lines)}{SUFFIX}"
        tmp = path.with_name(path.name + ".tmp")
        try:
            with open(tmp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            tmp.rename(path)
        except OSError as err:
            with contextlib.suppress(OSError):  # e.g. the directory itself is gone
                tmp.unlink(missing_ok=True)
            raise StorageError(f"cannot write spool segment {path}: {err}") from err
        self._segments.append(Segment(seq, len(lines), len(data), path))
        self.bytes += len(data)
        self.lines += len(lines)
        return len(lines), dropped

    def oldest(self) -> Segment | None:
        return self._segments[0] if self._segments else None

    def segments(self) -> list[Segment]:
        """The segments waiting, oldest first (a copy)."""
        return list(self._segments)

    def disk_space(self) -> tuple[int, int] | None:
        """(free, total) bytes of the spool's file system (None: unknown)."""
        try:
            st = os.statvfs(self.directory)
        except OSError:
            return None
        return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize

    def read(self, segment: Segment) -> list[str]:
        try:
            # A damaged byte must not stall the spool: it becomes U+FFFD, and a line it breaks
            # is refused by the server and dropped alone, like any bad line.
            text = segment.path.read_bytes().decode("utf-8", errors="replace")
        except OSError as err:
            raise StorageError(f"cannot read spool segment {segment.path}: {err}") from err
        # Not splitlines(): string fields may hold \x0c, \x1c or U+2028, which are not line ends.
        return text.split("\n")[:-1]

    def remove(self, segment: Segment) -> None:
        """Forget ``segment`` (after the server has it, or to make room). A segment already
        gone (dropped to make room while it was being sent) is a no-op."""
        if segment not in self._segments:
            return
        # Forgotten first: a file that cannot be deleted is at worst sent again by the next
        # writer on this directory (harmless: same points, same timestamps).
        self._segments.remove(segment)
        self.bytes -= segment.size
        self.lines -= segment.lines
        try:
            segment.path.unlink(missing_ok=True)
        except OSError as err:
            raise StorageError(f"cannot delete spool segment {segment.path}: {err}") from err

    def close(self) -> None:
        """Release the directory lock (the segments stay for the next writer)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
