"""The InfluxDB writer: batches line protocol, retries, spools to disk while InfluxDB is away.

Lifecycle (STYLE 8)::

    writer = await InfluxWriter.create(cfg.storage, cfg.collector.state_dir, session)
    await writer.start()            # group-commit and send loops; sends a spool left by a past run
    await writer.handle(reading, device)   # a ReadingSink: returns once the lines are on disk
    ...
    await writer.close()            # commits, sends what it can in ~cfg.timeout, keeps the rest

Delivery contract (docs/architecture.md, "Durability"):
- Write-ahead: an accepted line is on disk before it is sent. ``handle``/``write_lines`` put
  lines in the pending group; the commit loop writes each group as ONE spool segment (one
  fsync, however many lines: group commit) and then lets the group's callers return (at most
  :attr:`InfluxWriter.commit_wait` s). A SIGKILL after that loses nothing.
- The send loop sends the spool oldest first, whole segments up to ``cfg.batch_size`` lines per
  request, at least every ``cfg.flush_interval`` s, and deletes segments only after a 2xx.
- A batch that meets a 5xx, 429, timeout or connection error is retried with capped exponential
  backoff (:class:`Backoff`); if it still fails InfluxDB counts as away: segments just stay in
  the spool; one attempt (the oldest segments) is made per backoff step. A refusal (401, 403,
  404 other than a missing database) is handled the same way — the data is kept — and logged as
  an error.
- A batch the server refuses as a client error (400/413/422) loses only the offending lines:
  InfluxDB's "partial write" answers (1.x, 2.x, 3.x) mean the rest is stored; any other refusal
  is bisected down to the single lines that the server refuses. Dropped lines are logged.
- Every line carries its timestamp (the poll's, set when the reading is formatted, never at
  send time), so a batch sent twice (a timeout after the server stored it, or a crash between
  the 2xx and the deletion of its segment) overwrites itself: at-least-once delivery of
  idempotent points, which shows up as exactly once in the database.
- Bounds: the spool holds at most ``cfg.spool_max_bytes``; beyond it the OLDEST segments are
  deleted, counted (``dropped_spool_full``), logged once per outage, and health says so. If the
  spool cannot be written (disk full, read-only, removed), accepted lines are held in memory
  (at most :attr:`InfluxWriter.max_buffered`, oldest dropped and counted beyond) and sent
  directly; health is ``failing`` until the spool takes writes again.
- Only transitions are logged: InfluxDB away once, back once; spool unwritable once, back once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiohttp

from collector.config import DeviceConfig, StorageConfig
from collector.storage import QueryError, StorageError
from collector.storage.lineproto import reading_lines
from collector.storage.query import InfluxQuery, auth_headers, server_message
from collector.storage.spool import Segment, Spool
from probes.model import Reading

log = logging.getLogger(__name__)

BACKENDS = ("influxdb_v1", "influxdb_v2")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Retry timing. ``attempts``: tries of one batch while InfluxDB is up before it is spooled;
    delays start at ``initial`` s and double up to ``maximum`` s (also the slowest pace at which
    an absent InfluxDB is probed)."""

    initial: float = 0.5
    maximum: float = 30.0
    attempts: int = 4


@dataclass(slots=True)
class WriterStats:
    """Counters for the collector's own metrics (lines, not requests), plus a few gauges.

    ``written``: lines the server stored (replayed ones included). ``replayed``: of those, lines
    that came from the spool. ``spooled``: lines put into the spool. ``dropped_malformed``: lines
    the server refused as bad (parse error, field type conflict, beyond retention).
    ``dropped_spool_full``: oldest spooled lines deleted to respect ``spool_max_bytes``.
    ``dropped_overflow``: oldest queued lines dropped because the memory queue was full.
    ``retries``: repeated attempts of a batch. Gauges: ``queued`` (lines in memory),
    ``spool_lines``, ``spool_bytes``, ``available`` (False while InfluxDB counts as away),
    ``spool_error`` (why the spool cannot be written, else None). ``commits``: group commits
    (spool segments written, one fsync each).
    """

    written: int = 0
    spooled: int = 0
    replayed: int = 0
    dropped_malformed: int = 0
    dropped_spool_full: int = 0
    dropped_overflow: int = 0
    retries: int = 0
    queued: int = 0
    spool_lines: int = 0
    spool_bytes: int = 0
    available: bool = True
    spool_error: str | None = None
    commits: int = 0


class _Unavailable(StorageError):
    """The batch did not arrive and nothing is wrong with it: keep it. ``retry``: worth trying
    again soon (5xx, timeout, connection) rather than a refusal (auth, unknown bucket)."""

    def __init__(self, reason: str, *, retry: bool = True) -> None:
        super().__init__(reason)
        self.retry = retry


class _DatabaseMissing(_Unavailable):
    pass


class _Rejected(StorageError):
    """The server refused (some of) the batch as a client error (400/413/422)."""

    def __init__(self, status: int, message: str, body: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.body = body


# The server's own words for a write target that does not exist, at the START of its message:
# 1.x "database not found: \"x\"" / "retention policy not found: x", 2.x "bucket \"x\" not
# found". Anchored because a refusal quotes the refused line ("unable to parse '…'"), and a line
# may hold any text ("Toner not found").
_TARGET_MISSING = re.compile(
    r"(?:database not found|retention policy not found|bucket\b[^\n]*?\bnot found)",
    re.IGNORECASE)


def _classify(status: int, body: str) -> StorageError:
    message = server_message(body)
    missing = _TARGET_MISSING.match(message) is not None
    if status == 404 and message.lower().startswith("database not found"):
        return _DatabaseMissing(f"HTTP 404: {message}")
    if status in (400, 413, 422) and not missing:
        return _Rejected(status, message, body)
    if status >= 500 or status in (408, 429):
        return _Unavailable(f"HTTP {status}: {message}")
    return _Unavailable(f"HTTP {status}: {message}", retry=False)


class _Transport(Protocol):
    async def send(self, body: bytes) -> None:
        """Deliver one newline-separated batch. Raises _Unavailable or _Rejected."""

    async def close(self) -> None: ...


class _V1Transport:
    """``POST /write?db=…&rp=…&precision=ns`` (InfluxDB 1.x, and the v1 API of 2.x/3.x);
    auth from :func:`~collector.storage.query.auth_headers` (basic, or ``Token`` for 2.x/3.x)."""

    def __init__(self, cfg: StorageConfig, session: aiohttp.ClientSession, owns_session: bool) -> None:
        self._url = cfg.url.rstrip("/") + "/write"
        self._params = {"db": cfg.database, "precision": "ns"}
        if cfg.retention_policy:
            self._params["rp"] = cfg.retention_policy
        self._headers = {**auth_headers(cfg), "Content-Type": "text/plain; charset=utf-8"}
        self._session = session
        self._owns_session = owns_session
        self._timeout = cfg.timeout

    async def send(self, body: bytes) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                async with self._session.post(self._url, params=self._params, data=body,
                                              headers=self._headers) as resp:
                    if resp.status in (200, 204):
                        return
                    status, text = resp.status, await resp.text()
        except TimeoutError as err:
            raise _Unavailable(f"no answer within {self._timeout:g} s") from err
        except aiohttp.ClientError as err:
            raise _Unavailable(f"{type(err).__name__}: {err}") from err
        raise _classify(status, text)

    async def close(self) -> None:
        if self._owns_session:
            await self._session.close()


class _V2Transport:
    """``POST /api/v2/write?org=…&bucket=…&precision=ns`` through influxdb-client's async API
    (InfluxDB 2.x/3.x; it keeps its own aiohttp session)."""

    def __init__(self, cfg: StorageConfig) -> None:
        from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

        assert cfg.bucket is not None  # create() checks
        self._bucket = cfg.bucket
        self._org = cfg.org or ""
        self._timeout = cfg.timeout
        token = cfg.token.reveal() if cfg.token is not None else ""  # "": no auth header
        self._client = InfluxDBClientAsync(url=cfg.url, token=token, org=self._org,
                                           timeout=int(cfg.timeout * 1000))
        self._api = self._client.write_api()

    async def send(self, body: bytes) -> None:
        from influxdb_client.rest import ApiException

        try:
            async with asyncio.timeout(self._timeout):
                # The default precision is ns, as our lines are.
                await self._api.write(bucket=self._bucket, org=self._org, record=body)
        except ApiException as err:
            raw = err.body if err.body is not None else ""
            text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            raise _classify(int(err.status or 0), text) from err
        except TimeoutError as err:
            raise _Unavailable(f"no answer within {self._timeout:g} s") from err
        except aiohttp.ClientError as err:
            raise _Unavailable(f"{type(err).__name__}: {err}") from err

    async def close(self) -> None:
        await self._client.close()  # type: ignore[no-untyped-call]


def _dropped_count(err: _Rejected, lines: int) -> int:
    """How many lines a "partial write" answer says were refused (at least 1)."""
    found = re.search(r"dropped=(\d+)", err.message)
    if found and int(found[1]) > 0:
        return min(int(found[1]), lines)
    try:  # 3.x: {"error": "partial write of line protocol occurred", "data": [{line_number…}]}
        data = json.loads(err.body).get("data")
    except (ValueError, AttributeError):
        data = None
    if isinstance(data, list) and data:
        return min(len(data), lines)
    return min(max(err.message.count("unable to parse"), 1), lines)


class InfluxWriter:
    """Batching InfluxDB writer with a write-ahead disk spool and retries; a ReadingSink.

    Use :meth:`create` (no I/O in ``__init__``), then :meth:`start` and finally :meth:`close`.
    """

    # How long handle()/write_lines() wait for their group commit before returning anyway (a
    # stalled disk must not stall polling; the lines stay queued and are counted as such).
    commit_wait = 2.0
    # Below this many free bytes (or 5 % of a smaller file system) on the spool's disk, health
    # says the disk is nearly full.
    low_disk_bytes = 8 * 1024 * 1024

    def __init__(self, cfg: StorageConfig, transport: _Transport, spool: Spool, *,
                 backoff: Backoff, query: InfluxQuery | None) -> None:
        self.cfg = cfg
        self.stats = WriterStats(spool_lines=spool.lines, spool_bytes=spool.bytes)
        self.backoff = backoff
        self.max_buffered = max(50 * cfg.batch_size, 100_000)
        self._transport = transport
        self._spool = spool
        self._query = query
        self._need_database = query is not None
        # Accepted lines not yet in the spool (the next group commit), and its waiters' future.
        self._pending: list[list[str]] = []  # one chunk per caller
        self._pending_lines = 0
        self._group: asyncio.Future[bool] | None = None  # True: that commit reached the disk
        # Lines the spool could not take (its disk failed): kept in memory and sent directly.
        self._buffer: list[str] = []
        # Lines of segments this writer wrote, so that sending them does not read the disk.
        self._cache: dict[int, list[str]] = {}
        self._cached_lines = 0
        # Segments that waited for InfluxDB (counted in stats.spooled; stats.replayed when sent).
        self._waiting: set[int] = {s.seq for s in spool.segments()}
        self._wake = asyncio.Event()
        self._commit_wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._flushing = asyncio.Lock()  # one sender at a time: order depends on it
        self._commit_lock = asyncio.Lock()  # one group commit at a time
        self._disk = asyncio.Lock()  # one spool call at a time (the Spool is not thread-safe)
        self._task: asyncio.Task[None] | None = None
        self._commit_task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._down_since: float | None = None
        self._down_reason = ""
        self._probe_delay = backoff.initial
        self._next_probe = 0.0
        self._spool_error: str | None = None
        self._spooled_in_outage = 0
        self._dropped_in_outage = 0
        self._overflowing = False
        self._replaying = False
        self._replayed_in_run = 0

    @classmethod
    async def create(cls, cfg: StorageConfig, state_dir: Path,
                     session: aiohttp.ClientSession | None = None, *,
                     backoff: Backoff | None = None) -> InfluxWriter:
        """Open the spool (``cfg.spool_dir`` or ``state_dir/"spool"``) and prepare the client.

        ``session`` is used for the v1 API and for ``CREATE DATABASE`` (the caller closes it);
        without one the writer makes and closes its own. The v2 API goes through influxdb-client,
        which keeps its own session. With ``cfg.create_database`` (v1) the database is created
        now, or before the first write if InfluxDB is not there yet.

        Raises StorageError for an unknown backend, a bad batch size, a v2 backend without a
        bucket, or a spool directory that cannot be used (or that another writer holds).
        """
        if cfg.backend not in BACKENDS:
            raise StorageError(f"storage backend {cfg.backend!r} is not one of {', '.join(BACKENDS)}")
        if cfg.batch_size < 1 or cfg.flush_interval <= 0 or cfg.timeout <= 0:
            raise StorageError("storage batch_size, flush_interval and timeout must be positive")
        if cfg.backend == "influxdb_v2" and not cfg.bucket:
            raise StorageError("storage backend influxdb_v2 needs a bucket")
        spool = await asyncio.to_thread(Spool.open, cfg.spool_dir or state_dir / "spool",
                                        cfg.spool_max_bytes)
        transport: _Transport
        query = None
        try:
            if cfg.backend == "influxdb_v1":
                owns = session is None
                http = session or aiohttp.ClientSession()
                transport = _V1Transport(cfg, http, owns)
                if cfg.create_database:
                    query = InfluxQuery(cfg.url, http, owns_session=False,
                                        headers=auth_headers(cfg), timeout=cfg.timeout)
            else:
                transport = _V2Transport(cfg)
        except Exception:
            spool.close()
            raise
        writer = cls(cfg, transport, spool, backoff=backoff or Backoff(), query=query)
        if spool.lines:
            log.info("InfluxDB writer: %d lines (%d bytes) wait in the spool %s; they go first",
                     spool.lines, spool.bytes, spool.directory)
        if query is not None:
            try:
                await writer._ensure_database()
            except _Unavailable as err:
                log.info("InfluxDB at %s not reachable yet (%s): database %r will be created "
                         "before the first write", cfg.url, err, cfg.database)
        return writer

    # --- input ---------------------------------------------------------------------------------

    async def handle(self, reading: Reading, device: DeviceConfig) -> None:
        """ReadingSink: format the reading (its timestamp is the poll's, fixed here, never the
        send time) and accept its lines; see :meth:`write_lines`."""
        await self._accept(reading_lines(reading, device))

    async def write_lines(self, lines: Iterable[str]) -> bool:
        """Accept pre-formatted lines (one point each, no newline inside).

        While the writer runs this returns once the lines are in the spool on disk (fsynced, in
        the next group commit: everything accepted meanwhile shares one fsync), so they survive
        a SIGKILL; it waits at most :attr:`commit_wait` s (a stalled disk does not stall
        polling). Before :meth:`start` it only queues; :meth:`flush` and :meth:`close` commit.
        True when the lines are on disk; False when they are accepted but held in memory only
        (the spool cannot be written, its commit took longer than :attr:`commit_wait`, or the
        writer is not started): a caller that can have them sent again (an agent) should not
        count them as stored. Raises StorageError once the writer is closing."""
        return await self._accept(list(lines))

    async def _accept(self, lines: list[str]) -> bool:
        if self._closing:
            raise StorageError(f"InfluxDB writer is closed: {len(lines)} lines not stored")
        if not lines:
            return True
        self._pending.append(lines)
        self._pending_lines += len(lines)
        while self._pending_lines > self.max_buffered and len(self._pending) > 1:
            # the disk is stalled: commit cannot keep up at all
            oldest = self._pending.pop(0)
            self._pending_lines -= len(oldest)
            self._count_overflow(len(oldest))
        self._note_queued()
        if self._group is None:
            self._group = asyncio.get_running_loop().create_future()
        group = self._group
        if self._commit_task is None or self._commit_task.done():
            return False
        self._commit_wake.set()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.commit_wait):
                    await asyncio.shield(group)
        except asyncio.CancelledError:
            # The caller (a poll stopped at shutdown) gives up on this reading: take its lines
            # back while their group is not being committed yet, so that the reading reaches
            # either every sink or none. Once the commit runs they are stored anyway.
            if self._group is group:
                for i, chunk in enumerate(self._pending):
                    if chunk is lines:
                        del self._pending[i]
                        self._pending_lines -= len(lines)
                        self._note_queued()
                        break
            raise
        return group.done() and not group.cancelled() and group.result()

    def _count_overflow(self, n: int) -> None:
        self.stats.dropped_overflow += n
        if not self._overflowing:
            self._overflowing = True
            log.error("InfluxDB writer: more than %d lines neither on disk nor sent: dropping "
                      "the oldest (spool %s unusable and InfluxDB away or slow)",
                      self.max_buffered, self._spool.directory)

    def _note_queued(self) -> None:
        self.stats.queued = self._pending_lines + len(self._buffer)

    def _take(self, n: int) -> list[str]:
        batch = self._buffer[:n]
        del self._buffer[:n]
        self._note_queued()
        if len(self._buffer) < self.max_buffered // 2:
            self._overflowing = False
        return batch

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the group-commit and send loops (idempotent)."""
        if self._task is None and not self._closing:
            self._commit_task = asyncio.create_task(self._commit_loop(), name="influx-commit")
            self._task = asyncio.create_task(self._run(), name="influx-writer")
            if self._pending:
                self._commit_wake.set()

    async def close(self) -> None:
        """Stop the loops, commit what is accepted, and send what the spool holds for up to
        about ``cfg.timeout`` s; what is not sent stays in the spool for the next writer on this
        directory. Idempotent."""
        if self._closed:
            return
        self._closing = True
        self._stop.set()
        self._wake.set()
        self._commit_wake.set()
        try:
            for task in (self._task, self._commit_task):
                if task is not None:
                    await task
            async with self._flushing:
                await self._final_flush()
        finally:
            self._closed = True
            await self._transport.close()
            await asyncio.to_thread(self._spool.close)

    async def flush(self) -> None:
        """Commit what is accepted and send what the spool holds now (unless InfluxDB is away
        and not due for a probe). The background loop does this by itself; this is for callers
        that need a point in time (tests, a one-shot command)."""
        async with self._flushing:
            await self._flush()

    async def _commit_loop(self) -> None:
        while not self._closing:
            await self._commit_wake.wait()
            self._commit_wake.clear()
            if self._closing:
                break
            try:
                await self._commit()
            except Exception:
                log.exception("InfluxDB writer: group commit failed")
                await self._sleep(self.backoff.initial)

    async def _run(self) -> None:
        while not self._closing:
            await self._wait_for_work()
            if self._closing:
                break
            try:
                async with self._flushing:
                    await self._flush()
            except Exception:
                log.exception("InfluxDB writer: flush failed")
                await self._sleep(max(self.cfg.flush_interval, self.backoff.initial))

    async def _wait_for_work(self) -> None:
        self._wake.clear()
        up = self._down_since is None
        if up and (self._spool.lines >= self.cfg.batch_size
                   or len(self._buffer) >= self.cfg.batch_size):
            return
        try:
            async with asyncio.timeout(self.cfg.flush_interval):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless closing; True when woken by :meth:`close`."""
        try:
            async with asyncio.timeout(seconds):
                await self._stop.wait()
        except TimeoutError:
            return False
        return True

    # --- the write-ahead spool -----------------------------------------------------------------

    async def _commit(self) -> None:
        """One group commit: every accepted line not yet on disk becomes one spool segment (one
        fsync), then the waiters of that group return. If the spool cannot be written the lines
        stay in memory (:attr:`_buffer`) and are sent directly; health shows it."""
        async with self._commit_lock:
            if not self._pending:
                return
            lines = [line for chunk in self._pending for line in chunk]
            self._pending, self._pending_lines = [], 0
            group, self._group = self._group, None
            stored = False
            try:
                stored = await self._append(lines)
            finally:
                if group is not None and not group.done():
                    group.set_result(stored)
                self._note_queued()

    async def _append(self, lines: list[str]) -> bool:
        """Put ``lines`` into the spool as one segment; on failure into memory. True if stored."""
        try:
            async with self._disk:
                stored, dropped = await asyncio.to_thread(self._spool.append, lines)
                newest = self._spool.segments()[-1] if stored else None
        except StorageError as err:
            self._spool_failed(str(err))
            self._buffer.extend(lines)
            overflow = len(self._buffer) - self.max_buffered
            if overflow > 0:
                del self._buffer[:overflow]
                self._count_overflow(overflow)
            self._wake.set()
            return False
        self._spool_ok()
        if stored:
            self.stats.commits += 1
        if dropped:
            self._forget_dropped()
            if not self._dropped_in_outage:
                log.error("InfluxDB spool %s is full (spool_max_bytes %d): dropping the oldest "
                          "lines", self._spool.directory, self.cfg.spool_max_bytes)
            self.stats.dropped_spool_full += dropped
            self._dropped_in_outage += dropped
        if newest is None:  # one batch bigger than the whole spool: refused (counted above)
            return False
        if self._cached_lines + len(lines) <= self.max_buffered:
            self._cache[newest.seq] = lines
            self._cached_lines += len(lines)
        if self._down_since is not None:
            self._mark_waiting([newest])
        self._note_spool()
        if self._spool.lines >= self.cfg.batch_size:
            self._wake.set()
        return True

    def _forget_dropped(self) -> None:
        oldest = self._spool.oldest()
        first = oldest.seq if oldest is not None else 1 << 62
        for seq in [s for s in self._cache if s < first]:
            self._cached_lines -= len(self._cache.pop(seq))
        self._waiting = {s for s in self._waiting if s >= first}

    def _mark_waiting(self, segments: Iterable[Segment]) -> None:
        for seg in segments:
            if seg.seq not in self._waiting:
                self._waiting.add(seg.seq)
                self.stats.spooled += seg.lines
                self._spooled_in_outage += seg.lines

    def _spool_failed(self, reason: str) -> None:
        if self._spool_error is None:
            log.error("InfluxDB writer: %s; accepted lines are held in memory only (lost on a "
                      "crash) until the spool can be written again", reason)
        self._spool_error = reason
        self.stats.spool_error = reason

    def _spool_ok(self) -> None:
        if self._spool_error is not None:
            log.info("InfluxDB writer: the spool %s can be written again", self._spool.directory)
            self._spool_error = None
            self.stats.spool_error = None

    async def _respool(self) -> None:
        """Lines held in memory because the spool failed go to the spool once it works."""
        while self._buffer:
            batch = self._take(self.cfg.batch_size)
            if not await self._append(batch):
                # _append put them back at the end; restore their place at the front
                self._buffer[:0] = self._buffer[-len(batch):]
                del self._buffer[-len(batch):]
                return

    # --- sending -------------------------------------------------------------------------------

    async def _flush(self) -> None:
        await self._commit()
        await self._respool()
        if self._down_since is not None and time.monotonic() < self._next_probe:
            return
        if not await self._replay():
            return
        while self._buffer and not self._closing:  # the spool failed: send from memory
            batch = self._take(self.cfg.batch_size)
            attempts = 1 if self._down_since is not None else self.backoff.attempts
            try:
                await self._deliver(batch, attempts)
            except _Unavailable as err:
                self._buffer[:0] = batch
                self._note_queued()
                self._mark_down(err)
                return
            self._mark_up()

    async def _final_flush(self) -> None:
        await self._commit()
        await self._respool()
        if self._down_since is None:
            try:
                async with asyncio.timeout(self.cfg.timeout):
                    if await self._replay(final=True):
                        while self._buffer:
                            batch = self._take(self.cfg.batch_size)
                            try:
                                await self._deliver(batch, attempts=1)
                            except _Unavailable:
                                self._buffer[:0] = batch
                                break
            except TimeoutError:
                pass
        if self._spool.lines:
            log.info("InfluxDB writer closing: %d lines stay in the spool %s for the next start",
                     self._spool.lines, self._spool.directory)
        if self._buffer:
            log.error("InfluxDB writer closing: the spool cannot be written (%s) and InfluxDB "
                      "did not take them: %d lines lost", self._spool_error, len(self._buffer))

    async def _replay(self, *, final: bool = False) -> bool:
        """Send the spool oldest first, up to ``batch_size`` lines (whole segments) per request;
        a segment is deleted once the server acknowledged it. False when InfluxDB is away (or
        the loop is closing: :meth:`_final_flush` takes over)."""
        while segments := self._next_segments():
            if self._closing and not final:
                return False
            lines: list[str] = []
            for seg in segments:
                cached = self._cache.get(seg.seq)
                if cached is None:
                    async with self._disk:
                        cached = await asyncio.to_thread(self._spool.read, seg)
                lines += cached
            attempts = 1 if self._down_since is not None or final else self.backoff.attempts
            try:
                await self._deliver(lines, attempts)
            except _Unavailable as err:
                self._mark_down(err)
                self._mark_waiting(self._spool.segments())
                return False
            try:
                async with self._disk:
                    await asyncio.to_thread(self._remove, segments)
            except StorageError as err:  # sent, but the file stays: at worst sent again later
                self._spool_failed(str(err))
            waited = sum(s.lines for s in segments if s.seq in self._waiting)
            self._waiting.difference_update(s.seq for s in segments)
            if waited:
                if not self._replaying:
                    self._replaying = True
                    self._replayed_in_run = 0
                self.stats.replayed += waited
                self._replayed_in_run += waited
            self._note_spool()
            self._mark_up()
        if self._replaying:
            self._replaying = False
            log.info("InfluxDB writer: spool replayed (%d lines)", self._replayed_in_run)
        return True

    def _next_segments(self) -> list[Segment]:
        out: list[Segment] = []
        lines = 0
        for seg in self._spool.segments():
            if out and lines + seg.lines > self.cfg.batch_size:
                break
            out.append(seg)
            lines += seg.lines
        return out

    def _remove(self, segments: list[Segment]) -> None:
        """(worker thread) Delete sent segments."""
        for seg in segments:
            cached = self._cache.pop(seg.seq, None)
            if cached is not None:
                self._cached_lines -= len(cached)
        failed: StorageError | None = None
        for seg in segments:
            try:
                self._spool.remove(seg)
            except StorageError as err:
                failed = err
        if failed is not None:
            raise failed

    def _note_spool(self) -> None:
        self.stats.spool_lines = self._spool.lines
        self.stats.spool_bytes = self._spool.bytes

    # --- health --------------------------------------------------------------------------------

    def health(self) -> dict[str, str]:
        """``{"status": "ok" | "degraded" | "failing", "reason": ...}`` for /api/v1/health.

        failing: the spool cannot be written (accepted lines are in memory only), or the spool
        dropped lines for lack of room in this outage. degraded: InfluxDB is away (data waits
        safely in the spool), or the spool's disk is nearly full."""
        failing: list[str] = []
        degraded: list[str] = []
        if self._spool_error is not None:
            failing.append(f"spool cannot be written ({self._spool_error}): {len(self._buffer)} "
                           "lines held in memory only")
        if self._down_since is not None:
            away = time.monotonic() - self._down_since
            degraded.append(f"InfluxDB at {self.cfg.url} unreachable for {away:.0f} s "
                            f"({self._down_reason}); {self._spool.lines} lines wait in the spool")
            if self._dropped_in_outage:
                failing.append(f"spool full (spool_max_bytes {self.cfg.spool_max_bytes}): "
                               f"{self._dropped_in_outage} oldest lines dropped")
        space = self._spool.disk_space()
        if space is not None and space[0] < min(self.low_disk_bytes, space[1] // 20):
            degraded.append(f"only {space[0]} of {space[1]} bytes free on the disk of the spool "
                            f"{self._spool.directory}")
        if self.stats.dropped_overflow:
            failing.append(f"{self.stats.dropped_overflow} lines dropped: neither the spool nor "
                           "InfluxDB took them")
        status = "failing" if failing else "degraded" if degraded else "ok"
        return {"status": status, "reason": "; ".join(failing + degraded)}

    # --- delivery ------------------------------------------------------------------------------

    async def _deliver(self, lines: list[str], attempts: int) -> int:
        """Write ``lines``; returns how many the server stored (bad ones are dropped and logged).
        Raises _Unavailable when InfluxDB is away: nothing of this batch counts as stored."""
        if not lines:
            return 0
        try:
            await self._send(("\n".join(lines) + "\n").encode(), attempts)
        except _Rejected as err:
            return await self._drop_bad(lines, err, attempts)
        self.stats.written += len(lines)
        return len(lines)

    async def _drop_bad(self, lines: list[str], err: _Rejected, attempts: int) -> int:
        if "partial write" in err.message:
            dropped = _dropped_count(err, len(lines))
            self.stats.written += len(lines) - dropped
            self.stats.dropped_malformed += dropped
            log.warning("InfluxDB refused %d of %d lines (the others are stored): %s",
                        dropped, len(lines), err.message[:2000])
            return len(lines) - dropped
        if len(lines) == 1:
            self.stats.dropped_malformed += 1
            log.warning("InfluxDB refused a line, dropped: %s: %s", err.message[:500], lines[0][:500])
            return 0
        # No way to tell which line: halve until the refused ones stand alone. Resending lines
        # the server may already hold is harmless (same series and time overwrite themselves).
        half = len(lines) // 2
        return (await self._deliver(lines[:half], attempts)
                + await self._deliver(lines[half:], attempts))

    async def _send(self, body: bytes, attempts: int) -> None:
        delay = self.backoff.initial
        attempt = 0
        created = False
        while True:
            attempt += 1
            try:
                if self._need_database:
                    await self._ensure_database()
                await self._transport.send(body)
                return
            except _DatabaseMissing:
                if self._query is None or created:
                    raise
                created = self._need_database = True  # e.g. dropped by hand: make it again
                attempt -= 1
                continue
            except _Unavailable as err:
                if not err.retry or attempt >= attempts or self._closing:
                    raise
                self.stats.retries += 1
                log.debug("InfluxDB write failed (%s); retry %d in %.2f s", err, attempt, delay)
            if await self._sleep(delay):
                raise _Unavailable("writer closing")
            delay = min(delay * 2, self.backoff.maximum)

    async def _ensure_database(self) -> None:
        assert self._query is not None
        name = self.cfg.database.replace("\\", "\\\\").replace('"', '\\"')
        try:
            await self._query.query(f'CREATE DATABASE "{name}"')
        except QueryError as err:
            if err.status == 0 or err.status >= 500:
                raise _Unavailable(str(err)) from err
            # e.g. no admin rights, or a 2.x/3.x v1 API without CREATE: write and see.
            log.warning("InfluxDB: cannot create database %r: %s", self.cfg.database, err)
        self._need_database = False

    # --- transitions ---------------------------------------------------------------------------

    def _mark_down(self, err: _Unavailable) -> None:
        now = time.monotonic()
        self._down_reason = str(err)
        if self._down_since is None:
            self._down_since = now
            self._probe_delay = self.backoff.initial
            self._spooled_in_outage = self._dropped_in_outage = 0
            self.stats.available = False
            level = logging.WARNING if err.retry else logging.ERROR
            log.log(level, "InfluxDB at %s unavailable (%s): spooling to %s until it is back",
                    self.cfg.url, err, self._spool.directory)
        else:
            self._probe_delay = min(self._probe_delay * 2, self.backoff.maximum)
            log.debug("InfluxDB at %s still unavailable (%s); next try in %.1f s",
                      self.cfg.url, err, self._probe_delay)
        self._next_probe = now + self._probe_delay

    def _mark_up(self) -> None:
        if self._down_since is None:
            return
        log.info("InfluxDB at %s is back after %.0f s (%d lines spooled meanwhile, %d oldest "
                    "dropped because the spool was full)", self.cfg.url,
                    time.monotonic() - self._down_since, self._spooled_in_outage,
                    self._dropped_in_outage)
        self._down_since = None
        self.stats.available = True
