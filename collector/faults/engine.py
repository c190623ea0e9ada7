"""The fault engine (:class:`FaultEngine`, a ``ReadingSink``): per (device, fault key) a small
state machine with debounce, threshold hysteresis, flap damping, parent dependencies and
maintenance/business-hours windows, writing to the ticket store.

The engine acts on edges (a fault appears, clears or comes back), not on every poll: a steady
fault costs no database write. Its clock is the injected ``now`` callable (seconds, epoch).
See docs/tickets.md for the rules in prose.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from collector.config import Config, DeviceConfig, Schedule, TicketSettings
from collector.faults.catalogue import spec_for
from collector.faults.observe import Observation, ReorderAdvice, observe
from collector.faults.windows import effective_schedule, suppression
from collector.tickets.store import (
    SYSTEM,
    DuplicateOpenTicket,
    NewTicket,
    Ticket,
    TicketError,
    TicketNotFound,
    TicketQuery,
    TicketStore,
)
from probes.errors import FleetwatchError
from probes.model import Reading

log = logging.getLogger(__name__)

Notify = Callable[[str, Ticket], None]


class ReorderAdvisor(Protocol):
    """The supplies engine, seen from here: its say on a device's ``reorder:<index>`` keys for
    the reading being handled (it handled the reading first)."""

    def reorder_advice(self, device: str) -> Mapping[str, ReorderAdvice]: ...


@dataclass(slots=True)
class Track:
    """The engine's state of one (device, fault key)."""

    device: str
    key: str
    kind: str
    ticket_id: int | None = None  # the ticket this key reopens or records on
    active: bool = False  # the fault is present and on an unresolved (or reopened) ticket
    severity: str | None = None
    seen: int = 0  # consecutive polls seen while not active (debounce)
    first_seen: float | None = None
    absent: int = 0  # consecutive polls absent while active (clear_polls)
    cleared_at: float | None = None
    last_recur: float | None = None
    hold_resolve: bool = False  # cleared while flapping: resolve after a quiet flap window
    held: str | None = None  # debounced but held back by a window: why
    held_since: float | None = None
    suppressed_by: str | None = None  # an unreachable ancestor
    detail: str | None = None  # a reorder ticket's last text (it follows the draining level)


@dataclass(slots=True)
class EngineStats:
    readings: int = 0
    opened: int = 0
    recurred: int = 0
    cleared: int = 0
    resolved: int = 0
    suppressed: int = 0
    held: int = 0
    errors: int = 0


class FaultEngine:
    """A ReadingSink: feeds every reading through the per-key state machines.

    Create with ``await FaultEngine.create(store, config, notify)`` (it resumes the state of
    unresolved and recently resolved tickets from the store). ``handle`` never raises for ticket
    trouble (it logs); readings of one device are processed one at a time.
    """

    def __init__(self, store: TicketStore, settings: TicketSettings, *,
                 sites: Mapping[str, Schedule] | None = None,
                 devices: Sequence[DeviceConfig] = (), notify: Notify | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settings = settings
        self._sites = dict(sites or {})
        self._devices = {d.name: d for d in devices}
        self._notify = notify
        self._now = now
        self._tracks: dict[str, dict[str, Track]] = {}
        self._down: dict[str, dict[str, bool]] = {}  # device → probe → not answering
        self._locks: dict[str, asyncio.Lock] = {}
        self.stats = EngineStats()
        # set by the supplies engine when it runs (collector/app.py); None: low/empty rules
        self.advisor: ReorderAdvisor | None = None

    @classmethod
    async def create(cls, store: TicketStore, config: Config, notify: Notify | None = None, *,
                     now: Callable[[], float] = time.time) -> FaultEngine:
        engine = cls(store, config.tickets, sites=config.sites, devices=config.devices,
                     notify=notify, now=now)
        await engine.resume()
        return engine

    async def resume(self) -> None:
        """Rebuild tracks from the store: every unresolved fault/reorder ticket, and resolved
        ones whose fault cleared within the flap window (so a return reopens them)."""
        now = self._now()
        for t in await self.store.engine_tickets(now - self.settings.flap_window):
            if t.device is None or t.fault_key is None:
                continue
            track = self._track(t.device, t.fault_key, t.kind)
            track.ticket_id = t.id
            track.active = t.fault_active
            track.severity = t.severity if t.fault_active else None
            track.cleared_at = t.cleared_at
            track.last_recur = t.last_recurred_at
            track.hold_resolve = (
                t.unresolved and not t.fault_active and self._auto_resolve(t.kind)
                and t.cleared_at is not None and t.last_recurred_at is not None
                and t.cleared_at - t.last_recurred_at <= self.settings.flap_window)
        count = sum(len(v) for v in self._tracks.values())
        if count:
            log.info("fault engine resumed %d tickets", count)

    # --- queries (tests, API) ------------------------------------------------------------------
    def track(self, device: str, key: str) -> Track | None:
        return self._tracks.get(device, {}).get(key)

    def tracks(self) -> list[Track]:
        return [t for per in self._tracks.values() for t in per.values()]

    # --- the sink ------------------------------------------------------------------------------
    async def handle(self, reading: Reading, device: DeviceConfig) -> None:
        self._devices[device.name] = device
        lock = self._locks.setdefault(device.name, asyncio.Lock())
        async with lock:
            now = self._now()
            self.stats.readings += 1
            self._down.setdefault(device.name, {})[reading.probe] = (
                not reading.reachable or reading.stale)
            primary = reading.probe == self._primary_probe(device)
            per = self._tracks.get(device.name, {})
            active = {k: t.severity for k, t in per.items() if t.active and t.severity}
            advice = self.advisor.reorder_advice(device.name) if self.advisor else None
            observed = observe(reading, device, primary=primary, active=active, reorder=advice)
            for key in sorted(observed.covered):
                obs = observed.present.get(key)
                track = per.get(key)
                if obs is None and track is None:
                    continue
                if track is None:
                    track = self._track(device.name, key, obs.kind if obs else "fault")
                    per = self._tracks[device.name]
                try:
                    await self._step(track, obs, device, now)
                except FleetwatchError as err:
                    self.stats.errors += 1
                    log.warning("tickets: %s/%s: %s", device.name, key, err)
                self._forget_if_idle(track, now)

    def _track(self, device: str, key: str, kind: str) -> Track:
        per = self._tracks.setdefault(device, {})
        track = per.get(key)
        if track is None:
            track = per[key] = Track(device, key, kind)
        return track

    def _forget_if_idle(self, track: Track, now: float) -> None:
        if track.active or track.seen or track.hold_resolve or track.held or track.suppressed_by:
            return
        if track.ticket_id is not None and (
                track.cleared_at is None or now - track.cleared_at <= self.settings.flap_window):
            return  # a return may still reopen it
        self._tracks.get(track.device, {}).pop(track.key, None)

    @staticmethod
    def _primary_probe(device: DeviceConfig) -> str | None:
        return device.probes[0].kind if device.probes else None

    def _is_down(self, name: str) -> bool:
        device = self._devices.get(name)
        primary = self._primary_probe(device) if device else None
        probes = self._down.get(name, {})
        if primary is not None and primary in probes:
            return probes[primary]
        return any(probes.values())

    def _down_ancestor(self, device: DeviceConfig) -> str | None:
        """The nearest ancestor (parent, its parent, …) that is not answering, if any."""
        seen = {device.name}
        parent = device.parent
        while parent is not None and parent not in seen:
            if self._is_down(parent):
                return parent
            seen.add(parent)
            up = self._devices.get(parent)
            parent = up.parent if up else None
        return None

    def _auto_resolve(self, kind: str) -> bool:
        # A reorder ticket is done when the new cartridge is in: the work happened already.
        return self.settings.auto_resolve or kind == "reorder"

    def _emit(self, event: str, ticket: Ticket) -> None:
        if self._notify is not None:
            try:
                self._notify(event, ticket)
            except Exception:  # a notifier bug must never stop tickets
                log.exception("notifier failed on ticket #%d", ticket.id)

    # --- the state machine ---------------------------------------------------------------------
    async def _step(self, track: Track, obs: Observation | None, device: DeviceConfig,
                    now: float) -> None:
        s = self.settings
        if obs is None:
            await self._absent(track, now)
            return
        track.absent = 0
        if track.active:
            if track.ticket_id is not None and obs.severity != track.severity:
                await self.store.set_severity(track.ticket_id, obs.severity, at=now,
                                              text=obs.detail)
                track.severity = obs.severity
                track.detail = obs.detail
            elif (track.kind == "reorder" and track.ticket_id is not None and obs.detail
                  and track.detail is not None and obs.detail != track.detail):
                # the supplies engine changes the text only when whole days left change
                await self.store.note(track.ticket_id, obs.detail, at=now,
                                      data={"reorder": obs.detail})
                track.detail = obs.detail
            elif track.detail is None:
                track.detail = obs.detail
            return
        if track.ticket_id is not None and await self._recur(track, obs, now):
            return
        if track.seen == 0 or track.first_seen is None:
            track.first_seen = now
        track.seen += 1
        if track.seen < s.debounce_polls or now - track.first_seen < s.debounce_seconds:
            return
        if track.key.startswith("unreachable"):
            ancestor = self._down_ancestor(device)
            if ancestor is not None:
                await self._suppress(track, device, ancestor, now)
                return
            track.suppressed_by = None
        why = suppression(effective_schedule(device, self._sites), now)
        if why is not None:
            if track.held is None:
                track.held, track.held_since = why, now
                self.stats.held += 1
                log.info("%s: %s held back: %s", device.name, track.key, why)
            return
        await self._open(track, obs, device, now)

    async def _absent(self, track: Track, now: float) -> None:
        track.seen, track.first_seen = 0, None
        track.held = track.held_since = track.suppressed_by = None
        if track.active:
            track.absent += 1
            if track.absent >= self.settings.clear_polls:
                await self._clear(track, now)
            return
        if (track.hold_resolve and track.ticket_id is not None and track.cleared_at is not None
                and now - track.cleared_at >= self.settings.flap_window):
            track.hold_resolve = False
            before = await self.store.get(track.ticket_id)
            after = await self.store.resolve(
                track.ticket_id, at=now,
                text=f"no recurrence for {self.settings.flap_window:g} s after flapping")
            if before.unresolved and after.state == "resolved":
                self.stats.resolved += 1
                self._emit("resolved", after)

    async def _recur(self, track: Track, obs: Observation, now: float) -> bool:
        """The fault is back and the key has a ticket: record it there when that ticket is
        unresolved, or reopen it when it was resolved within the flap window. False: the old
        ticket does not take it (closed, or resolved too long ago) — a new one will open."""
        assert track.ticket_id is not None
        try:
            ticket = await self.store.get(track.ticket_id)
        except TicketNotFound:
            track.ticket_id = None
            return False
        # A reorder clears only on a refill: a later "low" is the next cartridge, a new order.
        in_window = (track.kind != "reorder" and track.cleared_at is not None
                     and now - track.cleared_at <= self.settings.flap_window)
        if not (ticket.unresolved or (ticket.state == "resolved" and in_window)):
            track.ticket_id, track.cleared_at, track.last_recur = None, None, None
            return False
        try:
            after = await self.store.recur(ticket.id, at=now, text=obs.detail or obs.title,
                                           severity=obs.severity)
        except TicketError as err:  # another ticket took the key, or it was just closed
            log.info("%s/%s: ticket #%d not reopened: %s", track.device, track.key, ticket.id,
                     err)
            track.ticket_id = None
            return False
        track.active, track.severity, track.last_recur = True, obs.severity, now
        track.detail = obs.detail
        track.hold_resolve, track.seen, track.first_seen = False, 0, None
        self.stats.recurred += 1
        if ticket.state == "resolved":
            log.info("%s: %s is back, ticket #%d reopened", track.device, track.key, ticket.id)
            self._emit("reopened", after)
        return True

    async def _open(self, track: Track, obs: Observation, device: DeviceConfig,
                    now: float) -> None:
        details: dict[str, object] = {"code": spec_for(track.key).code,
                                      "first_seen": track.first_seen}
        if device.parent:
            details["parent"] = device.parent
        text = obs.detail or obs.title
        if track.held is not None:
            details["held"] = {"reason": track.held, "since": track.held_since, "until": now}
        dependents = sorted(t.device for per in self._tracks.values() for t in per.values()
                            if t.suppressed_by == device.name)
        if dependents and track.key == "unreachable":
            details["dependents"] = dependents
            text += f"; also unreachable behind it: {', '.join(dependents)}"
        new = NewTicket(kind=obs.kind, title=f"{device.name}: {obs.title}",
                        severity=obs.severity, device=device.name, site=device.site,
                        fault_key=track.key, description=obs.detail, part_number=obs.part_number,
                        details=details, fault_active=True)
        try:
            ticket = await self.store.create(new, by=SYSTEM, at=now, text=text)
        except DuplicateOpenTicket:
            # Someone (another process, an old run) holds the key: record on that ticket.
            found, _ = await self.store.find(TicketQuery(
                device=device.name, fault_key=track.key,
                states=("open", "acknowledged", "in_progress"), limit=1))
            if not found:
                raise
            track.ticket_id = found[0].id
            await self._recur(track, obs, now)
            return
        if track.held is not None:
            await self.store.note(ticket.id, f"held back from {_ts(track.held_since)} to "
                                  f"{_ts(now)}: {track.held}", at=now,
                                  data={"held": details["held"]})
        track.ticket_id, track.active, track.severity = ticket.id, True, obs.severity
        track.detail = obs.detail
        track.seen, track.first_seen, track.held, track.held_since = 0, None, None, None
        track.cleared_at = track.last_recur = None
        track.hold_resolve = False
        self.stats.opened += 1
        log.info("%s: ticket #%d opened: %s", device.name, ticket.id, obs.title)
        self._emit("opened", ticket)

    async def _clear(self, track: Track, now: float) -> None:
        assert track.ticket_id is not None
        flapping = track.last_recur is not None and now - track.last_recur <= self.settings.flap_window
        auto = self._auto_resolve(track.kind)
        resolve = auto and not flapping
        text = "fault cleared"
        if auto and flapping:
            text += f"; flapping: resolves after {self.settings.flap_window:g} s without a return"
        elif not auto:
            text += "; waiting for a technician"
        before = await self.store.get(track.ticket_id)
        after = await self.store.clear(track.ticket_id, at=now, resolve=resolve, text=text)
        track.active, track.severity, track.absent, track.cleared_at = False, None, 0, now
        track.detail = None
        track.hold_resolve = auto and flapping and after.unresolved
        self.stats.cleared += 1
        if before.unresolved and after.state == "resolved":
            self.stats.resolved += 1
            log.info("%s: %s cleared, ticket #%d resolved", track.device, track.key, after.id)
            self._emit("resolved", after)

    async def _suppress(self, track: Track, device: DeviceConfig, ancestor: str,
                        now: float) -> None:
        """No ticket of its own for a device behind an unreachable ancestor; the ancestor's
        ticket (if open) notes it. The debounce starts over once the ancestor is back."""
        track.seen, track.first_seen = 0, None
        if track.suppressed_by == ancestor:
            return
        track.suppressed_by = ancestor
        self.stats.suppressed += 1
        log.info("%s unreachable behind %s: no ticket of its own", device.name, ancestor)
        up = self.track(ancestor, "unreachable")
        if up is not None and up.active and up.ticket_id is not None:
            await self.store.note(up.ticket_id, f"{device.name} is unreachable too (behind "
                                  f"{ancestor}); no ticket of its own", at=now,
                                  data={"dependent": device.name})


def _ts(t: float | None) -> str:
    if t is None:
        return "?"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
