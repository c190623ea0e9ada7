"""Live updates by server-sent events: ``GET /api/v1/events`` (``text/event-stream``, issue 13).

What is sent (docs/web.md, "Live updates"; docs/api.md):

- ``device`` ``{"device": name, "status": status}``: what the fleet page shows of a device
  changed: its status, reachability or staleness, its fault bits, alert codes, problem texts
  (numbers aside, so a draining toner is not an event per percent) or the state of a supply or
  tray. Found by :class:`LiveSink`, the last of the reading sinks (after the state cache and the
  fault engine), by comparing a per-device signature with the last one.
- ``tickets`` ``{"device": name}`` or ``{"ticket": id}``: a ticket changed, either by the fault
  engine (the device's fault tracks changed after its reading) or by a successful write to the
  ticket API (seen on the response, so the CLI and every browser count).
- ``resync`` ``{"id": ...}``: a reconnecting client (``Last-Event-ID``, or ``?since=`` from the
  page) missed more than the hub remembers, or the id is from another run: fetch everything.
- ``hello`` ``{"id": ...}``: first on a stream that missed nothing (its ``id`` is the baseline
  for the next reconnect). ``bye`` ``{"reason": ...}``: the stream ends (logout, session expired,
  shutdown); the browser should not simply reconnect.

Changes are coalesced: the hub collects them by (kind, key) and sends one batch at most every
``coalesce`` seconds (1 s), so a device changes at most once per second on the wire. Event ids
are ``<run>-<seq>``; the last ``history`` events (1,024) are kept for reconnects.

Limits: at most ``collector.max_event_streams`` streams at once (503 beyond, the page falls
back to timed refreshes); each stream has a queue of ``queue_size`` batches (64) and a client
that falls that far behind, or whose socket takes no write for ``write_timeout`` s (10), is
dropped (it reconnects and resyncs); a comment line every ``heartbeat`` s (15) keeps proxies
from closing an idle stream. Who may read is re-checked every ``recheck`` s (15) and at once
when the session logs out, so a logged-out or expired session stops receiving. The app's
shutdown (``on_shutdown``, before aiohttp waits for handlers) ends every stream.

Built on aiohttp's ``StreamResponse`` rather than the aiohttp-sse package: the wire format is a
few lines (:func:`frame`), and what matters here (one writer per stream, bounded queues, drops,
auth re-checks, shutdown) is ours either way; aiohttp-sse's own ping task would be a second
writer on the same response.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp_jinja2
from aiohttp import web

from collector.auth.middleware import principal
from collector.auth.roles import allowed
from collector.auth.store import Principal
from collector.config import DeviceConfig
from collector.keys import ACCOUNTS, AUTH, ENGINE, SINKS, STATE, STATS
from collector.state import DeviceState
from collector.web.middleware import refuse
from probes.model import Reading

log = logging.getLogger(__name__)

PATH: Final = "/api/v1/events"
# Ticket API writes whose success is a ``tickets`` event (canonical route paths).
TICKET_WRITES: Final = frozenset({"/api/v1/tickets", "/api/v1/tickets/{id}",
                                  "/api/v1/tickets/{id}/comments"})
_ID = re.compile(r"([0-9a-f]{8})-([0-9]{1,18})")
_DIGITS = re.compile(r"[0-9]+(?:[.,][0-9]+)?")
HEARTBEAT: Final = b": keep-alive\n\n"
RETRY_MS: Final = 5000  # the browser's reconnect delay after a dropped stream


def frame(event_id: str | None, kind: str, data: Mapping[str, Any]) -> bytes:
    """One event in text/event-stream form. ``data`` is one JSON line (json.dumps escapes
    every newline), so no field can break the framing."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(dict(data), separators=(',', ':'))}\n\n" \
        .encode()


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    kind: str
    data: Mapping[str, Any]
    wire: bytes  # encoded once, shared by every stream


@dataclass(slots=True)
class HubStats:
    streams: int = 0  # open now
    opened: int = 0
    refused: int = 0  # over collector.max_event_streams
    dropped_slow: int = 0  # queue full or a write that did not finish in time
    ended_auth: int = 0  # logout, expiry, revoked token
    events: int = 0
    resyncs: int = 0


class Stream:
    """One client's stream: its bounded queue of batches and why it ended (None: open)."""

    def __init__(self, hub: EventHub, request: web.Request, session: str | None) -> None:
        self.queue: asyncio.Queue[tuple[Event, ...] | str] = asyncio.Queue(hub.queue_size)
        self.request = request
        self.session = session
        self.ended: str | None = None

    def end(self, reason: str) -> None:
        """Ask the stream's handler to stop (it writes ``bye`` when the socket still takes it).
        With a full queue the socket is cut instead: that handler is stuck in a write."""
        if self.ended is not None:
            return
        self.ended = reason
        try:
            self.queue.put_nowait(reason)
        except asyncio.QueueFull:
            transport = self.request.transport
            if transport is not None:
                transport.abort()


class EventHub:
    """Collects changes, numbers and coalesces them, and fans batches out to the streams.

    ``note`` may be called from any sink or hook (never blocks, never raises); :meth:`run` is the
    flusher task (started and stopped by the app's cleanup context); :meth:`close` ends every
    stream (the app's ``on_shutdown``)."""

    def __init__(self, *, max_streams: int = 50, coalesce: float = 1.0, queue_size: int = 64,
                 history: int = 1024, heartbeat: float = 15.0, recheck: float = 15.0,
                 write_timeout: float = 10.0) -> None:
        self.max_streams = max_streams
        self.coalesce = coalesce
        self.queue_size = queue_size
        self.heartbeat = heartbeat
        self.recheck = recheck
        self.write_timeout = write_timeout
        self.run_id = secrets.token_hex(4)
        self.seq = 0
        self.stats = HubStats()
        self.closed = False
        self._history: deque[Event] = deque(maxlen=history)
        self._pending: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._streams: set[Stream] = set()
        self._wake = asyncio.Event()

    def last_id(self) -> str:
        """The id of the newest event (``<run>-0`` before the first): pages carry it."""
        return f"{self.run_id}-{self.seq}"

    # --- changes in ----------------------------------------------------------------------
    def note(self, kind: str, key: str, data: Mapping[str, Any]) -> None:
        """A change worth an event; a later note of the same (kind, key) before the next flush
        replaces it."""
        if self.closed:
            return
        self._pending[(kind, key)] = data
        self._wake.set()

    def flush(self) -> tuple[Event, ...]:
        """Number the pending changes, remember them and hand them to every stream as one
        batch. A stream whose queue is full is dropped."""
        if not self._pending:
            return ()
        batch = []
        for (kind, _), data in self._pending.items():
            self.seq += 1
            event = Event(self.seq, kind, data, frame(f"{self.run_id}-{self.seq}", kind, data))
            batch.append(event)
        self._pending.clear()
        self._history.extend(batch)
        self.stats.events += len(batch)
        out = tuple(batch)
        for stream in list(self._streams):
            if stream.ended is not None:
                continue
            try:
                stream.queue.put_nowait(out)
            except asyncio.QueueFull:
                self.stats.dropped_slow += 1
                log.info("live events: dropped a client %d batches behind (%s)",
                         self.queue_size, stream.request.remote)
                stream.end("too slow")
        return out

    async def run(self) -> None:
        """The flusher: after a change, wait ``coalesce`` s (more changes join the batch),
        then flush; so a (kind, key) goes out at most once per ``coalesce`` s."""
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.coalesce)
            self._wake.clear()
            self.flush()

    # --- streams -------------------------------------------------------------------------
    def open(self, request: web.Request, session: str | None) -> Stream | None:
        """A new stream, or None when ``max_streams`` are open (or the hub is closed)."""
        if self.closed or len(self._streams) >= self.max_streams:
            self.stats.refused += 1
            return None
        stream = Stream(self, request, session)
        self._streams.add(stream)
        self.stats.opened += 1
        self.stats.streams = len(self._streams)
        return stream

    def release(self, stream: Stream) -> None:
        self._streams.discard(stream)
        self.stats.streams = len(self._streams)

    def missed(self, last_event_id: str | None) -> tuple[Event, ...] | None:
        """The events after ``last_event_id`` (empty: nothing missed; no id: nothing to catch
        up), or None when they are not all known any more (another run, too old, garbled)."""
        if last_event_id is None:
            return ()
        match = _ID.fullmatch(last_event_id.strip())
        if match is None or match[1] != self.run_id or int(match[2]) > self.seq:
            return None
        seen = int(match[2])
        if seen == self.seq:
            return ()
        oldest = self._history[0].seq if self._history else self.seq + 1
        if seen < oldest - 1:
            return None
        return tuple(e for e in self._history if e.seq > seen)

    def end_session(self, session: str) -> None:
        """The session logged out: its streams end now."""
        for stream in list(self._streams):
            if stream.session == session:
                self.stats.ended_auth += 1
                stream.end("logged out")

    def close(self) -> None:
        """End every stream and refuse new ones (shutdown)."""
        self.closed = True
        for stream in list(self._streams):
            stream.end("collector stopping")


HUB: Final = web.AppKey("event_hub", EventHub)


def _fault_signature(reading: Reading) -> tuple[Any, ...]:
    return (reading.probe, reading.status, reading.reachable, reading.stale, reading.result,
            tuple(sorted(reading.faults or ())), tuple(sorted(a.code for a in reading.alerts)),
            tuple(_DIGITS.sub("#", p) for p in reading.problems),
            tuple((s.index, s.state) for s in reading.supplies),
            tuple((t.index, t.state) for t in reading.trays))


def device_signature(state: DeviceState) -> tuple[Any, ...]:
    """What of a device the pages show, without the numbers that drift every poll."""
    return (state.status, tuple(_fault_signature(r) for _, r in sorted(state.readings.items())))


class LiveSink:
    """A ReadingSink, the last one: turns a reading that changed what the pages show into a
    ``device`` event, and one after which the fault engine's tracks of the device changed
    (a ticket opened, cleared, resolved, changed severity) into a ``tickets`` event."""

    def __init__(self, hub: EventHub, app: web.Application) -> None:
        self._hub = hub
        self._app = app
        self._devices: dict[str, tuple[Any, ...]] = {}
        self._tracks: dict[str, tuple[Any, ...]] = {}

    async def handle(self, reading: Reading, device: DeviceConfig) -> None:
        state = self._app[STATE].get(device.name)
        if state is not None:
            signature = device_signature(state)
            if self._devices.get(device.name) != signature:
                self._devices[device.name] = signature
                self._hub.note("device", device.name,
                               {"device": device.name, "status": state.status})
        engine = self._app.get(ENGINE)
        if engine is not None:
            tracks = tuple(sorted(
                (t.key, t.ticket_id, t.active, t.severity, t.cleared_at, t.hold_resolve)
                for t in engine.tracks()
                if t.device == device.name and t.ticket_id is not None))
            if self._tracks.get(device.name, ()) != tracks:
                self._tracks[device.name] = tracks
                self._hub.note("tickets", f"device:{device.name}", {"device": device.name})


async def _still_allowed(request: web.Request, who: Principal | None) -> bool:
    """Whether the stream's caller may still read: the session still exists (not logged out,
    not expired, the user not removed), the token is not revoked or expired."""
    if request.app[AUTH].public_read:
        return True
    if who is None:
        return False
    accounts = request.app[ACCOUNTS]
    now: Principal | None
    if who.via == "session":
        now = await accounts.session(who.session) if who.session else None
    elif who.kind == "legacy":
        return True
    else:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        now = await accounts.check_token(given.strip()) if scheme.lower() == "bearer" else None
    return now is not None and allowed(now.role, "read")


async def stream_events(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/events: the stream (module docstring). 503 over the stream limit."""
    hub = request.app[HUB]
    who = principal(request)
    stream = hub.open(request, who.session if who is not None and who.via == "session" else None)
    if stream is None:
        answer = refuse(503, f"too many live event streams open (collector.max_event_streams = "
                        f"{hub.max_streams}); pages fall back to timed refreshes")
        answer.headers["Retry-After"] = "60"
        return answer
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"})
    try:
        resume = request.headers.get("Last-Event-ID") or request.query.get("since")
        missed = hub.missed(resume[:64] if resume else None)  # before any await: no gap
        first: list[bytes] = [f"retry: {RETRY_MS}\n\n".encode()]
        if missed is None:
            hub.stats.resyncs += 1
            first.append(frame(hub.last_id(), "resync", {"id": hub.last_id()}))
        elif missed:
            first.extend(e.wire for e in missed)
        else:
            first.append(frame(hub.last_id(), "hello", {"id": hub.last_id()}))
        await response.prepare(request)
        await _write(hub, response, b"".join(first))
        await _pump(request, hub, stream, response, who)
    except TimeoutError:  # a write that did not finish: the client stopped reading
        hub.stats.dropped_slow += 1
        stream.ended = stream.ended or "too slow"
    except ConnectionError:  # the client went away (or was cut by Stream.end)
        stream.ended = stream.ended or "disconnected"
    except Exception:  # a bug: after prepare() no error answer can be sent, so end the stream
        if not response.prepared:
            raise
        log.exception("live events: stream failed")
    finally:
        hub.release(stream)
    return response


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _write(hub: EventHub, response: web.StreamResponse, data: bytes) -> None:
    async with asyncio.timeout(hub.write_timeout):
        await response.write(data)


async def _pump(request: web.Request, hub: EventHub, stream: Stream,
                response: web.StreamResponse, who: Principal | None) -> None:
    loop = asyncio.get_running_loop()
    beat = recheck = loop.time()
    while True:
        now = loop.time()
        wait = min(beat + hub.heartbeat, recheck + hub.recheck) - now
        try:
            # wake at least every 2 s to notice a client that hung up (aiohttp does not
            # cancel the handler) and free its place under the limit
            async with asyncio.timeout(max(0.0, min(wait, 2.0))):
                item = await stream.queue.get()
        except TimeoutError:
            if _gone(request):
                stream.ended = "disconnected"
                return
            now = loop.time()
            if now >= recheck + hub.recheck:
                recheck = now
                try:
                    still = await _still_allowed(request, who)
                except Exception:  # the account store failing: the reconnect asks again
                    log.warning("live events: cannot re-check the caller", exc_info=True)
                    stream.end("cannot check the session")
                    continue
                if not still:
                    hub.stats.ended_auth += 1
                    stream.end("session ended")
                    continue
            if now >= beat + hub.heartbeat:
                beat = now
                await _write(hub, response, HEARTBEAT)
            continue
        if isinstance(item, str):  # ended: say why, then stop
            with contextlib.suppress(ConnectionError, TimeoutError):
                await _write(hub, response, frame(None, "bye", {"reason": item}))
            return
        if stream.ended is not None:
            continue  # the reason follows in the queue
        await _write(hub, response, b"".join(e.wire for e in item))
        beat = loop.time()


async def _on_response(request: web.Request, response: web.StreamResponse) -> None:
    """A successful ticket write is a ``tickets`` event; a logout ends that session's streams."""
    if request.method not in {"POST", "PATCH"} or response.status >= 400:
        return
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else ""
    hub = request.app[HUB]
    if canonical in TICKET_WRITES:
        ticket = request.match_info.get("id")
        hub.note("tickets", f"ticket:{ticket or 'new'}",
                 {"ticket": int(ticket) if ticket else None})
    elif canonical == "/logout":
        who = principal(request)
        if who is not None and who.session is not None:
            hub.end_session(who.session)


async def _close_streams(app: web.Application) -> None:
    app[HUB].close()


async def _events_ctx(app: web.Application) -> AsyncIterator[None]:
    """The flusher task and the sink (appended last, after the fault engine). Pages get the
    newest event id as ``live_events()`` (base.html, ``data-events-since``)."""
    hub = app[HUB]
    sink = LiveSink(hub, app)
    app[SINKS].append(sink)
    app[STATS]["events"] = hub
    aiohttp_jinja2.get_env(app).globals["live_events"] = hub.last_id
    task = asyncio.create_task(hub.run(), name="live-events")
    try:
        yield
    finally:
        hub.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if sink in app[SINKS]:
            app[SINKS].remove(sink)


def setup(app: web.Application, *, max_streams: int) -> None:
    """The hub, the route, the hooks and the cleanup context. Call after the contexts whose
    sinks the events follow (state, tickets, supplies, ingest) and before the scheduler's."""
    app[HUB] = EventHub(max_streams=max_streams)
    app.router.add_get(PATH, stream_events, name="events", allow_head=False)
    app.on_response_prepare.append(_on_response)
    app.on_shutdown.append(_close_streams)
    app.cleanup_ctx.append(_events_ctx)
