"""The InfluxDB writer: batches line protocol, retries, spools to disk while InfluxDB is away.

Lifecycle (STYLE 8)::

    writer = await InfluxWriter.create(cfg.storage, cfg.collector.state_dir, session)
    await writer.start()            # background flush loop; replays a spool left by a past run
    await writer.handle(reading, device)   # a ReadingSink: formats and queues, never waits
    ...
    await writer.close()            # flushes everything: to InfluxDB, or to the spool

Delivery contract:
- Lines leave in batches of up to ``cfg.batch_size``, at least every ``cfg.flush_interval`` s.
- A batch that meets a 5xx, 429, timeout or connection error is retried with capped exponential
  backoff (:class:`Backoff`); if it still fails InfluxDB counts as away: the batch and everything
  after it go to the disk spool, in order. While away, one attempt (the oldest spooled batch) is
  made per backoff step; when it succeeds the spool is replayed oldest first, before any newer
  line. A refusal (401, 403, 404 other than a missing database) is handled the same way — the data
  is kept — and logged as an error.
- A batch the server refuses as a client error (400/413/422) loses only the offending lines:
  InfluxDB's "partial write" answers (1.x, 2.x, 3.x) mean the rest is stored; any other refusal
  is bisected down to the single lines that the server refuses. Dropped lines are logged.
- Every line carries its timestamp, so a batch sent twice (a timeout after the server stored
  it, or a crash between a replay and the deletion of its segment) overwrites itself: at least
  once delivery with idempotent points, which shows up as exactly once in the database.
- ``handle`` only queues. The queue in memory is bounded (:attr:`InfluxWriter.max_buffered`);
  beyond it the oldest lines are dropped and counted (only when InfluxDB is up but slower than
  the input for a long time: while it is away the queue goes to the spool).
- Only transitions are logged: InfluxDB away once, back once (with what was spooled/dropped).
"""

from __future__ import annotations

import asyncio
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
from collector.storage.spool import Spool
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
    ``spool_lines``, ``spool_bytes``, ``available`` (False while InfluxDB counts as away).
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
    """Batching InfluxDB writer with retries and a disk spool; a ReadingSink.

    Use :meth:`create` (no I/O in ``__init__``), then :meth:`start` and finally :meth:`close`.
    """

    def __init__(self, cfg: StorageConfig, transport: _Transport, spool: Spool, *,
                 backoff: Backoff, query: InfluxQuery | None) -> None:
        self.cfg = cfg
        self.stats = WriterStats(spool_lines=spool.lines, spool_bytes=spool.bytes)
        self.backoff = backoff
        self.max_buffered = max(50 * cfg.batch_size, 100_000)
        self._high_water = 4 * cfg.batch_size
        self._spool_interval = max(cfg.flush_interval, 5.0)
        self._transport = transport
        self._spool = spool
        self._query = query
        self._need_database = query is not None
        self._buffer: list[str] = []
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._stop = asyncio.Event()
        self._flushing = asyncio.Lock()  # one flush at a time: order and the spool depend on it
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._down_since: float | None = None
        self._probe_delay = backoff.initial
        self._next_probe = 0.0
        self._last_spool = time.monotonic()
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
        """ReadingSink: format the reading and queue its lines; never waits for the network."""
        self._enqueue(reading_lines(reading, device))

    async def write_lines(self, lines: Iterable[str]) -> None:
        """Queue pre-formatted lines (one point each, no newline inside). While the flush loop
        runs and more than four batches wait, this waits for the queue to drain (backpressure
        for bulk producers); :meth:`handle` never does."""
        self._enqueue(list(lines))
        if self._task is None or self._task.done():
            return
        while len(self._buffer) >= self._high_water and not self._closing:
            self._drained.clear()
            await self._drained.wait()

    def _enqueue(self, lines: list[str]) -> None:
        if self._closing:
            raise StorageError(f"InfluxDB writer is closed: {len(lines)} lines not stored")
        self._buffer.extend(lines)
        overflow = len(self._buffer) - self.max_buffered
        if overflow > 0:
            del self._buffer[:overflow]
            self.stats.dropped_overflow += overflow
            if not self._overflowing:
                self._overflowing = True
                log.warning("InfluxDB writer queue full (%d lines): dropping the oldest lines; "
                            "InfluxDB is slower than the input", self.max_buffered)
        self.stats.queued = len(self._buffer)
        if len(self._buffer) >= self.cfg.batch_size:
            self._wake.set()

    def _take(self, n: int) -> list[str]:
        batch = self._buffer[:n]
        del self._buffer[:n]
        self.stats.queued = len(self._buffer)
        if len(self._buffer) < self._high_water:
            self._drained.set()
            self._overflowing = False
        return batch

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background flush loop (idempotent)."""
        if self._task is None and not self._closing:
            self._task = asyncio.create_task(self._run(), name="influx-writer")

    async def close(self) -> None:
        """Stop the loop and flush everything queued: to InfluxDB when it is there and the spool
        is empty, otherwise to the spool (which the next writer on this directory replays).
        Bounded by about one ``cfg.timeout`` plus disk time. Idempotent."""
        if self._closed:
            return
        self._closing = True
        self._stop.set()
        self._wake.set()
        self._drained.set()
        try:
            if self._task is not None:
                await self._task
            async with self._flushing:
                await self._final_flush()
        finally:
            self._closed = True
            await self._transport.close()
            await asyncio.to_thread(self._spool.close)

    async def flush(self) -> None:
        """Write what is queued now (after the spool, if any), or spool it now if InfluxDB is
        away. The background loop does this by itself; this is for callers that need a point in
        time (tests, a one-shot command). Raises StorageError if the spool's disk fails."""
        async with self._flushing:
            await self._flush(force_spool=True)

    async def _run(self) -> None:
        while not self._closing:
            await self._wait_for_work()
            if self._closing:
                break
            try:
                async with self._flushing:
                    await self._flush()
            except StorageError as err:  # the spool's disk failed; the lines stay queued
                log.error("InfluxDB writer: %s", err)
                await self._sleep(max(self.cfg.flush_interval, self.backoff.initial))
            except Exception:
                log.exception("InfluxDB writer: flush failed")
                await self._sleep(max(self.cfg.flush_interval, self.backoff.initial))

    async def _wait_for_work(self) -> None:
        self._wake.clear()
        if len(self._buffer) >= self.cfg.batch_size:
            return
        if len(self._spool) and self._down_since is None:
            return  # a spool left by an earlier run (or an interrupted replay): replay it now
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

    # --- flushing ------------------------------------------------------------------------------

    async def _flush(self, *, force_spool: bool = False) -> None:
        if self._down_since is not None and time.monotonic() < self._next_probe:
            await self._spool_buffer(force=force_spool)
            return
        if not await self._replay():
            await self._spool_buffer(force=force_spool)
            return
        while self._buffer and not self._closing:
            batch = self._take(self.cfg.batch_size)
            attempts = 1 if self._down_since is not None else self.backoff.attempts
            try:
                await self._deliver(batch, attempts)
            except _Unavailable as err:
                self._mark_down(err)
                await self._spool_batch(batch)
                if force_spool:
                    await self._spool_buffer(force=True)
                return
            self._mark_up()

    async def _final_flush(self) -> None:
        try:
            while self._buffer and self._down_since is None and not len(self._spool):
                batch = self._take(self.cfg.batch_size)
                try:
                    await self._deliver(batch, attempts=1)
                except _Unavailable as err:
                    self._mark_down(err)
                    await self._spool_batch(batch)
            await self._spool_buffer(force=True)
        except StorageError as err:
            log.error("InfluxDB writer closing: %s; %d lines lost", err, len(self._buffer))

    async def _replay(self) -> bool:
        """Send the spool, oldest first. False when InfluxDB is away (or we are closing)."""
        while (segment := self._spool.oldest()) is not None:
            if self._closing:
                return False
            lines = await asyncio.to_thread(self._spool.read, segment)
            try:
                written = await self._deliver(lines, attempts=1)
            except _Unavailable as err:
                self._mark_down(err)
                return False
            await asyncio.to_thread(self._spool.remove, segment)
            if not self._replaying:
                self._replaying = True
                self._replayed_in_run = 0
            self.stats.replayed += written
            self._replayed_in_run += written
            self._note_spool()
            self._mark_up()
        if self._replaying:
            self._replaying = False
            log.info("InfluxDB writer: spool replayed (%d lines)", self._replayed_in_run)
        return True

    async def _spool_buffer(self, *, force: bool) -> None:
        if not self._buffer:
            return
        if (not force and len(self._buffer) < self.cfg.batch_size
                and time.monotonic() - self._last_spool < self._spool_interval):
            return
        while self._buffer:
            await self._spool_batch(self._take(self.cfg.batch_size))

    async def _spool_batch(self, batch: list[str]) -> None:
        try:
            stored, dropped = await asyncio.to_thread(self._spool.append, batch)
        except StorageError:
            self._buffer[:0] = batch  # keep it (and its place) in memory; the caller logs
            self.stats.queued = len(self._buffer)
            raise
        self._last_spool = time.monotonic()
        self.stats.spooled += stored
        self._spooled_in_outage += stored
        self._note_spool()
        if dropped:
            if not self._dropped_in_outage:
                log.warning("InfluxDB spool %s is full (%d bytes): dropping the oldest lines",
                            self._spool.directory, self.cfg.spool_max_bytes)
            self.stats.dropped_spool_full += dropped
            self._dropped_in_outage += dropped

    def _note_spool(self) -> None:
        self.stats.spool_lines = self._spool.lines
        self.stats.spool_bytes = self._spool.bytes

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
