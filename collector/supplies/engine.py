"""The supplies engine (a ``ReadingSink``, placed before the fault engine): keeps each supply's
history, forecasts it (:mod:`collector.supplies.forecast`), decides its reorder point, notices
swaps (recorded, and one cartridge taken from stock), writes ``supply_forecast`` points, and keeps
one purchase ``reorder`` ticket per part whose stock is short.

The per-cartridge ``reorder:<index>`` tickets stay the fault engine's: this engine only advises
it (:meth:`SupplyEngine.reorder_advice`, read by ``FaultEngine`` for the reading it handles next),
so debounce, the one-open-ticket-per-key rule and the timeline are the ones every ticket has.

Reorder rules (docs/supplies.md): a marking supply is due when its level is at or below
``max(min_percent, rate x (lead_time + safety_stock))``, its forecast says it runs out within
lead time + safety stock, or the device says low/empty. A due cartridge is ordered once; a new
order needs a new cartridge (a rise to >= 50 %) and, against shaken-cartridge bounces, at least
``gate_used_percent`` used since the last order. The ticket's text changes only when whole days
left change, so a draining cartridge adds about one event a day.

Clock: the reading's time. Nothing here raises for bad data: a supply without a level is a
sentinel sample, a store failure is logged.

History: each supply keeps one sample per hour (scaled) for :data:`HISTORY` hours plus the raw
samples of the open hour, in compact arrays (:class:`~collector.supplies.samples.SampleRing`,
about 24 KB a supply). With a :class:`~collector.supplies.samples.HistoryStore` attached
(:meth:`SupplyEngine.restore`) every closed hour goes to disk as it closes and the open hour at
:meth:`SupplyEngine.save`, so a restart gives each supply the same history and forecast.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field

from collector.config import DeviceConfig
from collector.faults.catalogue import REORDER_REFILLED_PERCENT
from collector.faults.observe import ReorderAdvice
from collector.storage.lineproto import device_tags, format_line, time_ns
from collector.supplies.forecast import Forecast, Sample, forecast, runs_out_for
from collector.supplies.samples import HistoryError, HistoryStore, SampleRing
from collector.supplies.settings import SuppliesSettings
from collector.supplies.stock import StockStore, SwapRecord
from collector.tickets.store import SYSTEM, NewTicket, TicketError, TicketQuery, TicketStore
from probes import printer_mib as mib
from probes.errors import FleetwatchError
from probes.model import Reading

log = logging.getLogger(__name__)

# Per supply the engine keeps one sample per hour (a day / 24 when scaled: the median of the
# hour's levels, its last counter) for this many hours, plus the raw samples of the current hour:
# about 24 KB per supply in arrays (141 KB as objects before; docs/supplies.md).
HISTORY: int = 24 * 40
WriteLines = Callable[[list[str]], Awaitable[None]]


@dataclass(slots=True)
class SupplyTrack:
    """One supply of one device: its history and reorder state."""

    device: str
    index: str
    description: str = ""
    type: str = ""
    supply_class: str = ""
    colour: str | None = None
    part: str | None = None
    site: str | None = None
    location: str | None = None
    state: str = ""
    samples: SampleRing = field(default_factory=lambda: SampleRing(maxlen=HISTORY))
    pending: SampleRing = field(default_factory=SampleRing)  # the current hour, raw
    pending_bin: int | None = None
    forecast: Forecast | None = None
    computed_at: float = -math.inf
    computed_level: float | None = None
    last_level: float | None = None
    last_swap_at: float = -math.inf
    ordered: bool = False  # the current cartridge has an order out
    ever_ordered: bool = False
    used_since_order: float = 0.0
    due: bool = False
    reorder_percent: float | None = None
    swaps: list[SwapRecord] = field(default_factory=list)
    shown: tuple[int, str] | None = None  # days left and their words in the ticket text

    @property
    def marking(self) -> bool:
        return self.type in mib.MARKING_TYPES and self.supply_class != "filled"

    @property
    def key(self) -> str:
        return f"reorder:{self.index}"

    def add(self, sample: Sample, bin_seconds: float) -> Sample | None:
        """Add a raw sample; the hour's sample when this one closed an hour, else None."""
        b = int(sample.time // bin_seconds)
        closed = None
        if self.pending and b != self.pending_bin:
            closed = _compress(list(self.pending))
            self.samples.append(closed)
            self.pending.clear()
        self.pending.append(sample)
        self.pending_bin = b
        return closed

    def history(self) -> list[Sample]:
        return [*self.samples, *self.pending]


def _compress(raw: list[Sample]) -> Sample:
    levels = sorted(s.level for s in raw if s.level is not None)
    pages = [s.pages for s in raw if s.pages is not None]
    # the median of an hour's levels (a sentinel hour stays a sentinel), its last counter
    return Sample(raw[0].time, levels[len(levels) // 2] if levels else None,
                  max(pages) if pages else None)


@dataclass(slots=True)
class SupplyStats:
    readings: int = 0
    forecasts: int = 0
    swaps: int = 0
    orders: int = 0
    purchase_tickets: int = 0
    errors: int = 0


class SupplyEngine:
    """Create with ``await SupplyEngine.create(...)``; hand it every reading before the fault
    engine sees it."""

    def __init__(self, settings: SuppliesSettings, *, tickets: TicketStore | None = None,
                 stock: StockStore | None = None, write_lines: WriteLines | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.tickets = tickets
        self.stock = stock
        self._write = write_lines
        self._now = now
        self._tracks: dict[str, dict[str, SupplyTrack]] = {}
        self._advice: dict[str, dict[str, ReorderAdvice]] = {}
        self._last_stock_check = -math.inf
        self.stats = SupplyStats()
        self.history_store: HistoryStore | None = None
        self._history_failing = False

    @classmethod
    async def create(cls, settings: SuppliesSettings, *, tickets: TicketStore | None = None,
                     stock: StockStore | None = None, write_lines: WriteLines | None = None,
                     now: Callable[[], float] = time.time) -> SupplyEngine:
        """Resumes "ordered" from the unresolved reorder tickets in ``tickets``."""
        engine = cls(settings, tickets=tickets, stock=stock, write_lines=write_lines, now=now)
        if tickets is not None:
            found, _ = await tickets.find(TicketQuery(kinds=("reorder",), limit=10_000,
                                                      states=("open", "acknowledged",
                                                              "in_progress")))
            for t in found:
                if t.device and t.fault_key and t.fault_key.startswith("reorder:"):
                    track = engine._track(t.device, t.fault_key.split(":", 1)[1])
                    track.ordered = track.ever_ordered = True
        return engine

    # --- queries -------------------------------------------------------------------------------
    def tracks(self) -> list[SupplyTrack]:
        return [t for per in self._tracks.values() for t in per.values()]

    def track(self, device: str, index: str) -> SupplyTrack | None:
        return self._tracks.get(device, {}).get(index)

    def reorder_advice(self, device: str) -> Mapping[str, ReorderAdvice]:
        return self._advice.get(device, {})

    def _track(self, device: str, index: str) -> SupplyTrack:
        per = self._tracks.setdefault(device, {})
        if index not in per:
            per[index] = SupplyTrack(device, index)
        return per[index]

    def load_history(self, device: str, index: str, samples: list[Sample]) -> None:
        """Seed a supply's history (from InfluxDB at start-up; tests)."""
        track = self._track(device, index)
        merged = sorted([*samples, *track.samples], key=lambda s: s.time)
        track.samples = SampleRing(merged, maxlen=HISTORY)
        merged = [*merged, *track.pending]
        levels = [s.level for s in merged if s.level is not None]
        track.last_level = levels[-1] if levels else None
        if merged:
            track.last_swap_at = merged[-1].time  # swaps in the seed are history, not new
        track.computed_at = -math.inf

    def window_start(self, now: float) -> float:
        """The oldest hourly sample time a supply can still hold (:data:`HISTORY` hours)."""
        return now - (HISTORY + 1) * self.settings.day_seconds / 24

    async def restore(self, store: HistoryStore, *, now: float | None = None,
                      devices: Collection[str] | None = None) -> int:
        """Attach ``store`` and load every supply's history from it (the window only; older
        rows are pruned; only ``devices`` when given, so a device gone from the config does not
        come back): the number of supplies restored. From then on closed hours are written to
        it as they close."""
        at = self._now() if now is None else now
        self.history_store = store
        await store.prune(self.window_start(at))
        loaded = await store.load(self.window_start(at), HISTORY)
        if devices is not None:
            keep = set(devices)
            loaded = {k: v for k, v in loaded.items() if k[0] in keep}
        bin_s = self.settings.day_seconds / 24
        for (device, index), (hourly, open_hour) in loaded.items():
            track = self._track(device, index)
            if track.samples or track.pending:  # (not at start-up: merge)
                self.load_history(device, index, list(hourly))
            else:
                track.samples = hourly
            for s in open_hour:
                track.pending.append(s)
            if open_hour:
                track.pending_bin = int(open_hour.first_time() // bin_s)
            last = None
            for s in track.history():
                if s.level is not None:
                    last = s.level
                track.last_swap_at = max(track.last_swap_at, s.time)
            track.last_level = last
            track.computed_at = -math.inf
        if loaded:
            log.info("supplies: history of %d supplies restored from %s", len(loaded),
                     store.path)
        return len(loaded)

    async def persist_all(self) -> None:
        """Write every supply's hourly history to the attached store (after seeding from
        InfluxDB, so that the next start reads it from disk)."""
        if self.history_store is None:
            return
        rows = [(t.device, t.index, s) for t in self.tracks() for s in t.samples]
        await self._store(rows)

    async def save(self, *, now: float | None = None) -> None:
        """At stop: the open hour's raw samples of every supply go to the store, and rows
        past the window are pruned. Logged, never raised."""
        store = self.history_store
        if store is None:
            return
        rows = [(t.device, t.index, s) for t in self.tracks() for s in t.pending]
        try:
            await store.save_open_hours(rows)
            await store.prune(self.window_start(self._now() if now is None else now))
        except HistoryError as err:
            log.error("supplies: the open hour's history was not saved: %s", err)

    async def _store(self, rows: list[tuple[str, str, Sample]]) -> None:
        if self.history_store is None or not rows:
            return
        try:
            await self.history_store.append(rows)
        except HistoryError as err:
            self.stats.errors += 1
            if not self._history_failing:
                log.error("supplies: history not written to disk (kept in memory): %s", err)
            self._history_failing = True
            return
        if self._history_failing:
            log.warning("supplies: history written to disk again")
            self._history_failing = False

    # --- the sink ------------------------------------------------------------------------------
    async def handle(self, reading: Reading, device: DeviceConfig) -> None:
        if not self.settings.enabled or reading.stale or not reading.reachable \
                or reading.error is not None or not reading.supplies:
            self._advice.pop(device.name, None)
            return
        self.stats.readings += 1
        pages = reading.page_count
        advice: dict[str, ReorderAdvice] = {}
        lines: list[str] = []
        closed: list[tuple[str, str, Sample]] = []
        for s in reading.supplies:
            track = self._track(device.name, s.index)
            track.description, track.type, track.supply_class = s.description, s.type, \
                s.supply_class
            track.colour, track.part, track.site = s.colour, s.part_number, device.site
            track.location = reading.identity.sys_location
            track.state = s.state
            level = s.percent
            hour = track.add(Sample(reading.time, level, pages), self.settings.day_seconds / 24)
            if hour is not None:
                closed.append((device.name, s.index, hour))
            if level is not None and track.last_level is not None and level < track.last_level:
                track.used_since_order += track.last_level - level
            if level is not None:
                track.last_level = level
            try:
                fresh = self._refresh(track, reading.time, level)
                if fresh:
                    await self._swaps(track)
                    line = self._line(track, device, reading.time)
                    if line:
                        lines.append(line)
            except FleetwatchError as err:
                self.stats.errors += 1
                log.warning("supplies: %s/%s: %s", device.name, s.index, err)
            if track.marking:
                advice[track.key] = self._decide(track, s.state, level)
        self._advice[device.name] = advice
        await self._store(closed)
        if lines and self._write is not None:
            await self._write(lines)
        if self.settings.stock_purchase and self.stock is not None and self.tickets is not None \
                and reading.time - self._last_stock_check >= self.settings.day_seconds / 24:
            self._last_stock_check = reading.time
            try:
                await self.check_stock(at=reading.time)
            except FleetwatchError as err:
                self.stats.errors += 1
                log.warning("supplies: stock check: %s", err)

    def _refresh(self, track: SupplyTrack, now: float, level: float | None) -> bool:
        """Recompute the forecast once an hour (scaled), and at once when the level rose (a swap)
        or the supply is new: Theil-Sen is quadratic in its points."""
        rose = (level is not None and track.computed_level is not None
                and level > track.computed_level + self.settings.forecast.swap_rise_percent)
        if not rose and now - track.computed_at < self.settings.day_seconds / 24:
            return False
        track.forecast = forecast(track.history(), now=now, settings=self.settings.forecast,
                                  day_seconds=self.settings.day_seconds,
                                  runs_out=runs_out_for(track.type, track.supply_class))
        track.computed_at, track.computed_level = now, level
        self.stats.forecasts += 1
        return True

    async def _swaps(self, track: SupplyTrack) -> None:
        f = track.forecast
        if f is None:
            return
        for r in f.replacements:
            if r.at <= track.last_swap_at:
                continue
            track.last_swap_at = r.at
            if r.installed_percent < REORDER_REFILLED_PERCENT:
                continue  # a bounce, not a new cartridge
            swap = SwapRecord(track.device, track.index, track.part, r.at, r.pulled_at_percent,
                              r.installed_percent, r.pages_printed)
            track.swaps.append(swap)
            track.ordered = False
            track.shown = None
            self.stats.swaps += 1
            log.info("%s: %s replaced (old one pulled at %.0f%%, %s pages)", track.device,
                     track.description or track.index, r.pulled_at_percent,
                     r.pages_printed if r.pages_printed is not None else "?")
            if self.stock is not None:
                new = await self.stock.record_swap(swap)
                if new and track.part:
                    left = await self.stock.change(
                        track.part, delta=-1, by=SYSTEM, at=r.at,
                        reason=f"{track.device} {track.description or track.index} replaced")
                    log.info("stock of %s: %d after the swap", track.part, left)
                self._last_stock_check = -math.inf  # look at the shelf again now

    def _decide(self, track: SupplyTrack, state: str, level: float | None) -> ReorderAdvice:
        cfg = self.settings.reorder_for(track.part, track.site)
        horizon = cfg.lead_time_days + cfg.safety_stock_days
        f = track.forecast
        point = cfg.min_percent
        if f is not None and f.rate_per_day is not None:
            point = max(point, f.rate_per_day * horizon)
        track.reorder_percent = point
        days = f.days_left if f is not None and f.status == "ok" else None
        shown = level if level is not None else (f.level if f is not None else None)
        due = (state in {"low", "empty"} or (shown is not None and shown <= point)
               or (days is not None and days <= horizon))
        track.due = due
        if due and not track.ordered and (not track.ever_ordered
                                          or track.used_since_order >= cfg.gate_used_percent):
            track.ordered = track.ever_ordered = True
            track.used_since_order = 0.0
            self.stats.orders += 1
        severity = "critical" if state == "empty" or (days is not None
                                                      and days < cfg.lead_time_days) \
            else "warning"
        return ReorderAdvice(track.ordered, severity, self.detail(track),
                             self.title(track), track.part)

    def title(self, track: SupplyTrack) -> str:
        what = track.description or track.colour or track.type
        part = f" (part {track.part})" if track.part and track.part not in what else ""
        return f"Reorder {what}{part}"

    def detail(self, track: SupplyTrack) -> str:
        """The ticket text. It changes when the whole days left go down, or up by two or more
        (a revised forecast), so a draining cartridge adds about one event a day."""
        what = track.description or track.colour or track.type
        bits = [what]
        f = track.forecast
        if f is not None and f.status == "ok" and f.days_left is not None:
            days = max(0, math.floor(f.days_left))
            if track.shown is None or days < track.shown[0] or days >= track.shown[0] + 2:
                day = dt.datetime.fromtimestamp(self._calendar(f.days_left), dt.UTC).strftime(
                    "%Y-%m-%d")
                track.shown = (days, f"about {days} days left (runs out {day}, confidence "
                               f"{f.confidence_label})")
            bits.append(track.shown[1])
        elif track.state in {"empty"}:
            bits.append("empty")
        else:
            bits.append(f"at its reorder point ({track.state.replace('_', ' ')})")
        if track.colour:
            bits.append(f"colour {track.colour}")
        if track.part:
            bits.append(f"part {track.part}")
        where = ", ".join(x for x in (track.site, track.location) if x)
        if where:
            bits.append(f"at {where}")
        return "; ".join(bits)

    def _calendar(self, days_left: float) -> float:
        # with a time scale the demo's "days" are short: the date is today + simulated days
        return self._now() + days_left * 86_400

    def _line(self, track: SupplyTrack, device: DeviceConfig, at: float) -> str | None:
        f = track.forecast
        if f is None:
            return None
        tags = dict(device_tags(device))
        tags.update({"supply": track.index, "type": track.type or None, "colour": track.colour})
        return format_line("supply_forecast", tags, {
            "status": f.status, "days_left": f.days_left, "empty_at": f.at,
            "rate_per_day": f.rate_per_day, "level": f.level,
            "plus_minus_days": f.plus_minus_days, "confidence": float(f.confidence),
            "pages_left": f.pages_left, "ordered": 1 if track.ordered else 0,
            "part_number": track.part}, time_ns(at))

    # --- stock ---------------------------------------------------------------------------------
    def need_by_part(self) -> dict[str, float]:
        """Cartridges of each part the fleet uses within its lead time (+ safety stock), plus one
        for every cartridge with an order out that the shelf must cover."""
        need: dict[str, float] = {}
        for t in self.tracks():
            if not t.part or not t.marking:
                continue
            cfg = self.settings.reorder_for(t.part, t.site)
            f = t.forecast
            use = 0.0
            if f is not None and f.rate_per_day is not None:
                use = f.rate_per_day * (cfg.lead_time_days + cfg.safety_stock_days) / 100
            need[t.part] = need.get(t.part, 0.0) + use + (1.0 if t.ordered else 0.0)
        return need

    async def check_stock(self, *, at: float | None = None) -> None:
        """One purchase ``reorder`` ticket per part whose stock is below its need; it resolves
        when the shelf covers the need again."""
        if self.stock is None or self.tickets is None:
            return
        at = self._now() if at is None else at
        need = self.need_by_part()
        stock = {i.part: i.quantity for i in await self.stock.items()}
        open_tickets, _ = await self.tickets.find(TicketQuery(
            kinds=("reorder",), states=("open", "acknowledged", "in_progress"), limit=10_000))
        purchase = {t.fault_key: t for t in open_tickets
                    if t.device is None and t.fault_key and t.fault_key.startswith("purchase:")}
        for part, want in sorted(need.items()):
            have = stock.get(part, 0)
            key = f"purchase:{part}"
            short = have < math.ceil(want - 1e-9)
            ticket = purchase.pop(key, None)
            text = (f"stock of {part}: {have} on the shelf, the fleet needs "
                    f"{math.ceil(want)} within the lead time")
            try:
                if short and ticket is None:
                    await self.tickets.create(NewTicket(
                        kind="reorder", title=f"Purchase {part}: stock {have}, need "
                        f"{math.ceil(want)}", severity="critical" if have == 0 else "warning",
                        fault_key=key, part_number=part, description=text,
                        details={"part": part, "stock": have, "need": want},
                        fault_active=True), by=SYSTEM, at=at, text=text)
                    self.stats.purchase_tickets += 1
                    log.info("purchase ticket opened for %s (%d on the shelf)", part, have)
                elif not short and ticket is not None:
                    await self.tickets.resolve(ticket.id, at=at, text=f"restocked: {text}")
            except TicketError as err:
                log.warning("purchase ticket for %s: %s", part, err)
        for ticket in purchase.values():  # a part nobody uses any more
            try:
                await self.tickets.resolve(ticket.id, at=at, text="no device uses this part now")
            except TicketError as err:
                log.warning("purchase ticket #%d: %s", ticket.id, err)
