"""Readings → fault states per (device, fault key) → tickets.

Two parts:

- The **catalogue** (data): every fault Fleetwatch knows, with a code, a severity and a title a
  technician understands, and the pure function :func:`observe` that turns one reading into the
  faults it shows and the fault keys it can speak about.
- The **engine** (:class:`FaultEngine`, a ``ReadingSink``): per (device, fault key) a small state
  machine with debounce, threshold hysteresis, flap damping, parent dependencies and
  maintenance/business-hours windows, writing to the ticket store.

A fault key is the catalogue code, plus a qualifier where a device can have several:
``jammed``, ``unreachable`` (the device's first probe) / ``unreachable:http`` (another probe),
``alert_fin_device``, ``threshold:disk_used_percent``, ``reorder:1.2`` (supply index).

The engine acts on edges (a fault appears, clears or comes back), not on every poll: a steady
fault costs no database write. Its clock is the injected ``now`` callable (seconds, epoch).
See docs/tickets.md for the rules in prose.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector.config import Config, DeviceConfig, Schedule, Threshold, TicketSettings
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
from probes import printer_mib as mib
from probes.errors import FleetwatchError
from probes.model import Reading
from probes.parsing import fault_severity

log = logging.getLogger(__name__)

SEVERITY_ORDER: Final = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One catalogue entry. ``kind`` is the ticket kind it opens (fault | reorder)."""

    code: str
    severity: str
    title: str
    source: str  # error_bit | alert | device | supply | tray | threshold
    kind: str = "fault"


_BIT_TITLES: Final = {
    "low_paper": "Paper low",
    "no_paper": "Out of paper",
    "low_toner": "Toner or ink low",
    "no_toner": "Out of toner or ink",
    "door_open": "Door or cover open",
    "jammed": "Paper jam",
    "offline": "Printer offline",
    "service_requested": "Service requested",
    "input_tray_missing": "Input tray missing",
    "output_tray_missing": "Output tray missing",
    "marker_supply_missing": "Toner or ink cartridge missing",
    "output_near_full": "Output tray nearly full",
    "output_full": "Output tray full",
    "input_tray_empty": "Input tray empty",
    "overdue_prevent_maint": "Preventive maintenance overdue",
}
_EXTRA: Final = (
    FaultSpec("unreachable", "critical", "Device unreachable", "device"),
    FaultSpec("device_down", "critical", "Device reports it is down", "device"),
    FaultSpec("waste_near_full", "warning", "Waste container nearly full", "supply"),
    FaultSpec("waste_full", "critical", "Waste container full", "supply"),
    FaultSpec("drum_near_end", "warning", "Drum (OPC) near end of life", "alert"),
    FaultSpec("drum_end", "critical", "Drum (OPC) at end of life", "alert"),
    FaultSpec("fuser_failure", "critical", "Fuser failure", "alert"),
    FaultSpec("hardware_failure", "critical", "Hardware failure", "alert"),
    FaultSpec("threshold", "warning", "Metric beyond threshold", "threshold"),
    FaultSpec("reorder", "warning", "Reorder supply", "supply", kind="reorder"),
)
_ALERT_GROUP_TITLES: Final = {
    group: f"Printer alert: {group.replace('_', ' ')}"
    for group in mib.ALERT_GROUP_NAMES.values() if group not in {"other", "unknown"}
}

CATALOGUE: Final[Mapping[str, FaultSpec]] = {
    **{bit: FaultSpec(bit, mib.FAULT_SEVERITY[bit], _BIT_TITLES[bit], "error_bit")
       for bit in mib.ERROR_BITS},
    **{spec.code: spec for spec in _EXTRA},
    **{f"alert_{group}": FaultSpec(f"alert_{group}", "warning", title, "alert")
       for group, title in _ALERT_GROUP_TITLES.items()},
    "alert_other": FaultSpec("alert_other", "warning", "Printer alert", "alert"),
}

# prtAlertCode → catalogue code, whatever the group.
ALERT_CODE_FAULTS: Final[Mapping[str, str]] = {
    "cover_open": "door_open", "interlock_open": "door_open", "door_open": "door_open",
    "jam": "jammed",
    "input_media_tray_missing": "input_tray_missing", "input_media_supply_low": "low_paper",
    "input_media_supply_empty": "no_paper",
    "output_media_tray_missing": "output_tray_missing",
    "output_media_tray_almost_full": "output_near_full", "output_media_tray_full": "output_full",
    "media_path_media_tray_missing": "output_tray_missing",
    "media_path_media_tray_almost_full": "output_near_full",
    "media_path_media_tray_full": "output_full",
    "marker_toner_empty": "no_toner", "marker_ink_empty": "no_toner",
    "marker_print_ribbon_empty": "no_toner",
    "marker_toner_almost_empty": "low_toner", "marker_ink_almost_empty": "low_toner",
    "marker_print_ribbon_almost_empty": "low_toner",
    "marker_toner_cartridge_missing": "marker_supply_missing",
    "marker_waste_toner_receptacle_almost_full": "waste_near_full",
    "marker_waste_ink_receptacle_almost_full": "waste_near_full",
    "marker_waste_toner_receptacle_full": "waste_full",
    "marker_waste_ink_receptacle_full": "waste_full",
    "marker_opc_life_almost_over": "drum_near_end", "marker_opc_life_over": "drum_end",
    "marker_fuser_under_temperature": "fuser_failure",
    "marker_fuser_over_temperature": "fuser_failure",
    "marker_fuser_timing_failure": "fuser_failure",
    "marker_fuser_thermistor_failure": "fuser_failure",
    "subunit_offline": "offline",
    "subunit_unrecoverable_failure": "hardware_failure",
    "subunit_unrecoverable_storage_error": "hardware_failure",
    "subunit_motor_failure": "hardware_failure", "subunit_timing_failure": "hardware_failure",
    "subunit_thermistor_failure": "hardware_failure",
    "subunit_over_temperature": "hardware_failure",
    "subunit_memory_exhausted": "hardware_failure",
}
# The generic "subunit" codes mean something only with their group.
ALERT_GROUP_CODE_FAULTS: Final[Mapping[tuple[str, str], str]] = {
    ("cover", "subunit_opened"): "door_open",
    ("input", "subunit_missing"): "input_tray_missing",
    ("input", "subunit_almost_empty"): "low_paper", ("input", "subunit_empty"): "no_paper",
    ("output", "subunit_missing"): "output_tray_missing",
    ("output", "subunit_almost_full"): "output_near_full", ("output", "subunit_full"): "output_full",
    ("marker_supplies", "subunit_missing"): "marker_supply_missing",
    ("marker_supplies", "subunit_almost_empty"): "low_toner",
    ("marker_supplies", "subunit_empty"): "no_toner",
}
# Alerts that report an event or a good state, never a fault to work on.
INFORMATIONAL_ALERT_CODES: Final = frozenset({
    "cover_closed", "interlock_closed", "door_closed", "configuration_change", "subunit_closed",
    "subunit_turned_on", "subunit_power_saver", "subunit_warming_up", "subunit_added",
    "subunit_resource_added", "power_up", "printer_ready_to_print", "printer_nms_reset",
    "printer_manual_reset", "marker_adjusting_print_quality", "input_media_change_request",
    "input_manual_input_request",
})

# Keys a reading with printer data speaks about (present or absent) besides supplies/metrics.
PRINTER_KEYS: Final = frozenset(
    code for code, spec in CATALOGUE.items()
    if spec.source in {"error_bit", "alert", "supply", "tray"} and spec.kind == "fault"
) | {"device_down"}

# A reorder ticket resolves when its supply is back to "ok" with at least this level (a new
# cartridge), so a level wobbling around the low mark does not resolve and reopen it.
REORDER_REFILLED_PERCENT: Final = 50.0


def spec_for(key: str) -> FaultSpec:
    """The catalogue entry of a fault key (``threshold:disk_used_percent`` → ``threshold``)."""
    code = key.split(":", 1)[0]
    return CATALOGUE.get(code) or CATALOGUE["alert_other"]


@dataclass(frozen=True, slots=True)
class Observation:
    """One fault seen in one reading."""

    key: str
    kind: str
    severity: str
    title: str
    detail: str = ""
    part_number: str | None = None


@dataclass(frozen=True, slots=True)
class Observed:
    """What one reading says: the faults it shows, and every key it can speak about (a key it
    covers but does not show is absent; a key it does not cover is unknown, not cleared)."""

    present: Mapping[str, Observation]
    covered: frozenset[str]


def _merge(present: dict[str, Observation], key: str, severity: str, detail: str = "", *,
           title: str | None = None, kind: str = "fault", part_number: str | None = None) -> None:
    old = present.get(key)
    if old is None:
        present[key] = Observation(key, kind, severity, title or spec_for(key).title, detail,
                                   part_number)
        return
    worse = severity if SEVERITY_ORDER[severity] > SEVERITY_ORDER[old.severity] else old.severity
    details = [d for d in (old.detail, detail) if d]
    merged = "; ".join(dict.fromkeys(details))
    present[key] = Observation(key, old.kind, worse, old.title, merged, old.part_number or part_number)


def unreachable_key(probe: str, primary: bool) -> str:
    return "unreachable" if primary else f"unreachable:{probe}"


def has_printer_data(reading: Reading) -> bool:
    """Whether a reading carries printer state (and so may clear printer faults)."""
    return reading.error is None and (
        reading.faults is not None or reading.printer_status is not None
        or bool(reading.supplies or reading.trays or reading.alerts))


def supply_metrics(reading: Reading) -> dict[str, float]:
    """Numeric metrics derived from a printer reading for thresholds: ``supply_<colour>_percent``
    of each marking supply (``supply_<index>_percent`` when its colour is unknown)."""
    out: dict[str, float] = {}
    for s in reading.supplies:
        if s.type in mib.MARKING_TYPES and s.percent is not None:
            name = (s.colour or s.index).replace(" ", "_").replace(".", "_")
            out.setdefault(f"supply_{name}_percent", s.percent)
    return out


def threshold_level(th: Threshold, value: float, previous: str | None) -> str | None:
    """The severity a metric value is at (None = fine), with hysteresis: a level once reached
    holds until the value is back past ``level ∓ hysteresis``."""
    above = th.direction != "below"

    def bad(level: float) -> bool:
        return value >= level if above else value <= level

    def still(level: float) -> bool:
        return value > level - th.hysteresis if above else value < level + th.hysteresis

    if th.critical is not None and (bad(th.critical) or (previous == "critical"
                                                        and still(th.critical))):
        return "critical"
    if th.warning is not None and (bad(th.warning) or (previous in {"warning", "critical"}
                                                      and still(th.warning))):
        return "warning"
    return None


def observe(reading: Reading, device: DeviceConfig, *, primary: bool,
            active: Mapping[str, str] | None = None) -> Observed:
    """Pure: the faults one reading shows. ``active`` maps keys that have an open fault to its
    current severity (threshold hysteresis and reorder refill rules depend on it).

    A stale reading (a sleeping printer's last values) says nothing. An unreachable one speaks
    only about its own reachability: a jam is not cleared by a timeout.
    """
    active = active or {}
    present: dict[str, Observation] = {}
    if reading.stale:
        return Observed(present, frozenset())
    ukey = unreachable_key(reading.probe, primary)
    covered: set[str] = {ukey}
    if not reading.reachable:
        title = "Device unreachable" if primary else f"{reading.probe} check failing"
        _merge(present, ukey, "critical", reading.error or "no answer", title=title)
        return Observed(present, frozenset(covered))

    if has_printer_data(reading):
        covered |= PRINTER_KEYS
        _observe_printer(reading, present, covered, active)

    metrics = dict(reading.metrics)
    if reading.error is None:
        for name, value in supply_metrics(reading).items():
            metrics.setdefault(name, value)
    for th in device.thresholds:
        if th.metric not in metrics:
            continue
        value = metrics[th.metric]
        key = f"threshold:{th.metric}"
        covered.add(key)
        level = threshold_level(th, value, active.get(key))
        if level is not None:
            limit = th.critical if level == "critical" else th.warning
            word = "below" if th.direction == "below" else "above"
            _merge(present, key, level, f"{th.metric} = {value:g} ({level} {word} {limit:g})",
                   title=f"{th.metric.replace('_', ' ')} {word} limit")
    return Observed(present, frozenset(covered | present.keys()))


def _observe_printer(reading: Reading, present: dict[str, Observation], covered: set[str],
                     active: Mapping[str, str]) -> None:
    for bit in sorted(reading.faults or ()):
        if bit in CATALOGUE:
            _merge(present, bit, fault_severity(bit, reading.device_status),
                   f"error state bit {bit}")
    for alert in reading.alerts:
        code = ALERT_GROUP_CODE_FAULTS.get((alert.group, alert.code)) or ALERT_CODE_FAULTS.get(
            alert.code)
        if code is None:
            if alert.code in INFORMATIONAL_ALERT_CODES or alert.severity not in {"critical",
                                                                                 "warning"}:
                continue
            code = f"alert_{alert.group}" if f"alert_{alert.group}" in CATALOGUE else "alert_other"
            severity = alert.severity
        else:
            severity = CATALOGUE[code].severity
        detail = alert.description or alert.code.replace("_", " ")
        _merge(present, code, severity, f"alert: {detail}")
    for s in reading.supplies:
        if s.supply_class == "filled" or s.type in mib.FILLED_TYPES:
            if s.state == "full":
                _merge(present, "waste_full", "critical", s.description)
            elif s.state == "near_full":
                _merge(present, "waste_near_full", "warning", s.description)
            continue
        if s.type not in mib.MARKING_TYPES:
            continue
        key = f"reorder:{s.index}"
        if s.state in {"low", "empty"}:
            covered.add(key)
            pct = f" ({s.percent:g}%)" if s.percent is not None else ""
            what = s.description or s.colour or s.type
            # The part number once: many descriptions already carry it ("… P/N 842310").
            part = (f" (part {s.part_number})"
                    if s.part_number and s.part_number not in what else "")
            _merge(present, key, "critical" if s.state == "empty" else "warning",
                   f"{what} {s.state}{pct}", kind="reorder", part_number=s.part_number,
                   title=f"Reorder {what}{part}")
        elif s.state == "some_remaining" or (s.state == "ok" and (
                key not in active or s.percent is None or s.percent >= REORDER_REFILLED_PERCENT)):
            covered.add(key)  # refilled (or never low): absent
    if any(k.startswith("reorder:") for k in present):
        # the reorder ticket already says it, with the part number
        present.pop("low_toner", None)
    for t in reading.trays:
        if t.state == "empty" and not t.manual:
            _merge(present, "input_tray_empty", "warning", f"{t.description} empty")
    if reading.device_status == "down" and not any(
            o.severity == "critical" for o in present.values()):
        _merge(present, "device_down", "critical", "hrDeviceStatus down")


# --- windows -------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r, using UTC", name)
        return dt.UTC


def effective_schedule(device: DeviceConfig, sites: Mapping[str, Schedule]) -> Schedule:
    """The device's schedule, completed from its site's: the config loader already merges the
    two, but hand-built configs (and tests) may give only the site's.

    Time zone: the device's own (``device.timezone``), else a zone set on its schedule, else
    its site's, else UTC. An explicit device ``timezone: UTC`` wins over the site's zone."""
    site = sites.get(device.site) if device.site else None
    own = device.schedule
    if device.timezone is not None:
        tz = device.timezone
    elif own.timezone != "UTC" or site is None:
        tz = own.timezone
    else:
        tz = site.timezone
    if site is None:
        return own if tz == own.timezone else replace(own, timezone=tz)
    hours = own.business_hours or site.business_hours
    maintenance = tuple(dict.fromkeys((*own.maintenance, *site.maintenance)))
    return Schedule(business_hours=hours, maintenance=maintenance, timezone=tz)


def suppression(schedule: Schedule, now: float) -> str | None:
    """Why a new ticket may not open at ``now`` (maintenance window, outside business hours),
    or None when it may."""
    zone = _zone(schedule.timezone)
    local = dt.datetime.fromtimestamp(now, zone)
    for m in schedule.maintenance:
        # the loader gives windows a zone; a hand-built naive one means the schedule's
        start = m.start if m.start.tzinfo else m.start.replace(tzinfo=zone)
        end = m.end if m.end.tzinfo else m.end.replace(tzinfo=zone)
        if start <= local < end:
            why = f": {m.reason}" if m.reason else ""
            return f"maintenance window {m.start.isoformat()} – {m.end.isoformat()}{why}"
    if schedule.business_hours:
        t = local.time().replace(tzinfo=None)
        for w in schedule.business_hours:
            if local.weekday() in w.days and w.start <= t and (
                    t < w.end or w.end == dt.time.max):
                return None
        return f"outside business hours ({schedule.timezone})"
    return None


# --- the engine ----------------------------------------------------------------------------------
Notify = Callable[[str, Ticket], None]


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
            observed = observe(reading, device, primary=primary, active=active)
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


def catalogue_rows() -> Iterable[FaultSpec]:
    """The catalogue in documentation order."""
    return sorted(CATALOGUE.values(), key=lambda s: (s.source, s.code))
