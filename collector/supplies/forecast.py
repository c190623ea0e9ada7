"""Pure: days until a supply runs out, from its history of (time, level %, page counter).

Method (docs/supplies.md says it in prose):

1. **Cartridges.** A level more than ``swap_rise_percent`` above the lowest level of the current
   cartridge starts a new one; a :class:`Replacement` records when, the pages the old one
   printed and the level it was pulled at. Smaller rises (noise, a shaken cartridge) are ignored.
   Sentinel readings (``None``: -2 unknown, -3 some remaining) are skipped: the forecast keeps the
   last estimate and says ``level_known=False``.
2. **Drain points.** Readings are reduced to the moments the cartridge reached a new lowest level
   (after a median over each hour, against noise). On a device that reports in 10 % steps these
   are the step edges, which carry the timing; a reported level L at its edge is read as true
   level L (the device rounded up). A device that rounds down was at L + step there, so its
   forecast comes early by at most step / rate days: the safe side for an order.
3. **Active time.** With page counters, a calendar day counts only when pages were printed that
   day, so weekends and holidays in the history do not dilute the rate; the future is walked day
   by day with the share of active days seen per weekday. Without counters every day counts.
4. **Fit.** Theil-Sen (median of pairwise slopes, Sen 1968) of level against active days; its
   90 % interval from the ranks of the pairwise slopes gives the spread of days left, plus the
   residual spread (1.4826 x MAD) over the rate. ``confidence`` = 1 - spread / days left.
5. A fresh cartridge with too few drain points borrows the last cartridge's rate (low
   confidence); with none, the result says ``insufficient_history`` instead of guessing.

Every supply counts down to zero here: toner and ink run empty, a drum or fuser's percent is life
left, and a waste box's percent is its space left (RFC 3805; docs/architecture.md), so zero is
"full". ``Forecast.runs_out`` names which.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from collector.supplies.settings import DAY_SECONDS, ForecastSettings

_Z90 = 1.645


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of one supply: ``level`` in percent, None for a sentinel; ``pages`` the
    device's page counter (sum of its markers) when it has one."""

    time: float
    level: float | None
    pages: int | None = None


@dataclass(frozen=True, slots=True)
class Replacement:
    """A detected cartridge swap."""

    at: float
    pulled_at_percent: float  # the old cartridge's last level
    pages_printed: int | None  # by the old cartridge, when the device counts pages
    installed_percent: float


@dataclass(frozen=True, slots=True)
class Forecast:
    status: str  # ok | insufficient_history | no_level
    runs_out: str = "empty"  # empty | full (a waste box) | end_of_life (drum, fuser, …)
    level: float | None = None  # estimated level now, percent
    level_known: bool = True  # False: the latest readings are sentinels (estimate kept)
    rate_per_day: float | None = None  # percent per active day
    percent_per_page: float | None = None
    pages_left: int | None = None
    days_left: float | None = None  # calendar days from ``now``
    at: float | None = None  # when it runs out (epoch seconds)
    plus_minus_days: float | None = None
    confidence: float = 0.0  # 0..1
    confidence_label: str = "none"  # high | medium | low | none
    basis: str = "none"  # this_cartridge | previous_cartridge | none
    cartridge_since: float | None = None
    points: int = 0
    reason: str = ""
    replacements: tuple[Replacement, ...] = field(default=())
    now: float = 0.0


def runs_out_for(supply_type: str, supply_class: str) -> str:
    if supply_class == "filled" or supply_type.startswith("waste"):
        return "full"
    if supply_type in {"toner", "ink", "ink_cartridge", "toner_cartridge", "solid_wax",
                       "ribbon_wax", "ink_ribbon", "toner_ribbon"}:
        return "empty"
    return "end_of_life"


# --- cartridges -----------------------------------------------------------------------------------
@dataclass(slots=True)
class _Cartridge:
    start: float
    samples: list[Sample]
    low: float


def split_cartridges(samples: Sequence[Sample], rise: float
                     ) -> tuple[list[_Cartridge], list[Replacement]]:
    """Samples in time order → cartridges (numeric levels only) and the swaps between them."""
    carts: list[_Cartridge] = []
    swaps: list[Replacement] = []
    first_pages: int | None = None
    last: Sample | None = None
    for s in samples:
        if s.level is None:
            continue
        if not carts:
            carts.append(_Cartridge(s.time, [s], s.level))
            first_pages = s.pages
        else:
            cur = carts[-1]
            if s.level - cur.low > rise:
                assert last is not None
                printed = (s.pages - first_pages if s.pages is not None and first_pages is not None
                           and s.pages >= first_pages else None)
                swaps.append(Replacement(s.time, last.level or 0.0, printed, s.level))
                carts.append(_Cartridge(s.time, [s], s.level))
                first_pages = s.pages
            else:
                cur.samples.append(s)
                cur.low = min(cur.low, s.level)
        last = s
    return carts, swaps


def level_step(samples: Sequence[Sample]) -> float:
    """The device's reporting step in percent (10 for a device that says 100, 90, 80 …); 1 or less
    for a fine-grained one."""
    levels = sorted({round(s.level, 3) for s in samples if s.level is not None})
    gaps = [b - a for a, b in itertools.pairwise(levels) if b - a > 1e-6]
    return min(gaps) if gaps else 1.0


def drain_points(samples: Sequence[Sample], day_seconds: float) -> list[Sample]:
    """The moments a cartridge first reached each new lowest level, after an hourly median."""
    bin_s = day_seconds / 24
    bins: dict[int, list[Sample]] = {}
    for s in samples:
        if s.level is not None:
            bins.setdefault(int(s.time // bin_s), []).append(s)
    smooth: list[Sample] = []
    for key in sorted(bins):
        group = bins[key]
        level = statistics.median(s.level for s in group if s.level is not None)
        pages = [s.pages for s in group if s.pages is not None]
        smooth.append(Sample(group[0].time, level, max(pages) if pages else None))
    out: list[Sample] = []
    low = math.inf
    for s in smooth:
        assert s.level is not None
        if s.level < low:
            out.append(s)
            low = s.level
    return out


# --- active time ---------------------------------------------------------------------------------
class ActiveClock:
    """Calendar time → active days. A day is active when the page counter rose in it (every day
    is, without counters). Days after the history use the share of active days per weekday."""

    def __init__(self, samples: Sequence[Sample], day_seconds: float) -> None:
        self.day = day_seconds
        counted = [s for s in samples if s.pages is not None]
        self.first_day = int(samples[0].time // day_seconds) if samples else 0
        self.last_day = int(samples[-1].time // day_seconds) if samples else 0
        self.active: set[int] | None = None
        self.weights = [1.0] * 7
        if len(counted) >= 2:
            self.first_day = int(counted[0].time // day_seconds)
            self.last_day = int(counted[-1].time // day_seconds)
            active: set[int] = set()
            for a, b in itertools.pairwise(counted):
                assert a.pages is not None and b.pages is not None
                if b.pages > a.pages:  # printed between two readings: call it the midpoint
                    active.add(int((a.time + b.time) / 2 // day_seconds))
            self.active = active
            seen = [0] * 7
            used = [0] * 7
            for d in range(self.first_day, self.last_day + 1):
                w = self.weekday(d)
                seen[w] += 1
                used[w] += d in active
            # a weekday active in at least half of its weeks is a working day (a holiday or
            # two in the history do not slow the future); rarer ones keep their share
            share = [used[w] / seen[w] if seen[w] else -1.0 for w in range(7)]
            share = [1.0 if x >= 0.5 else x for x in share]
            known = [x for x in share if x >= 0]
            mean = sum(known) / len(known) if known else 1.0
            self.weights = [x if x >= 0 else mean for x in share]
            if sum(self.weights) <= 0:
                self.weights = [1.0] * 7
        self._prefix: dict[int, int] = {}
        if self.active is not None:
            n = 0
            for d in range(self.first_day, self.last_day + 1):
                self._prefix[d] = n
                n += d in self.active
            self._total = n

    def weekday(self, day: int) -> int:
        # 1970-01-01 (day 0) was a Thursday; Monday = 0
        return (day + 3) % 7

    def weight(self, day: int) -> float:
        if self.active is not None and self.first_day <= day <= self.last_day:
            return 1.0 if day in self.active else 0.0
        return self.weights[self.weekday(day)]

    def at(self, t: float) -> float:
        """Active days from the first day of the history to ``t``."""
        d = int(t // self.day)
        frac = (t % self.day) / self.day
        if self.active is None:
            return t / self.day - self.first_day
        if d < self.first_day:
            return 0.0
        if d <= self.last_day:
            return self._prefix[d] + frac * (d in self.active)
        ahead = sum(self.weight(x) for x in range(self.last_day + 1, d))
        return self._total + ahead + frac * self.weight(d)

    def calendar_after(self, t: float, active_days: float, limit_days: int = 3650) -> float:
        """The calendar time at which ``active_days`` more active days have passed after ``t``."""
        if active_days <= 0:
            return t
        d = int(t // self.day)
        left = active_days
        pos = t
        for _ in range(limit_days):
            w = self.weight(d)
            day_end = (d + 1) * self.day
            available = w * (day_end - pos) / self.day
            if w > 0 and available >= left:
                return pos + left / w * self.day
            left -= available
            d += 1
            pos = day_end
        return math.inf


# --- Theil-Sen -------------------------------------------------------------------------------------
def theil_sen(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float, float]:
    """(slope, intercept, slope_low, slope_high): the median pairwise slope, the median of
    ``y - slope x``, and the 90 % interval of the slope from the ranks of the pairwise slopes."""
    slopes = sorted((ys[j] - ys[i]) / (xs[j] - xs[i])
                    for i in range(len(xs)) for j in range(i + 1, len(xs)) if xs[j] != xs[i])
    if not slopes:
        raise ValueError("no two points at different times")
    slope = statistics.median(slopes)
    intercept = statistics.median(y - slope * x for x, y in zip(xs, ys, strict=True))
    n, pairs = len(xs), len(slopes)
    c = _Z90 * math.sqrt(n * (n - 1) * (2 * n + 5) / 18)
    lo = max(0, min(pairs - 1, int((pairs - c) / 2)))
    hi = max(0, min(pairs - 1, math.ceil((pairs + c) / 2)))
    return slope, intercept, slopes[lo], slopes[hi]


def _label(confidence: float) -> str:
    if confidence >= 0.85:
        return "high"
    if confidence >= 0.65:
        return "medium"
    return "low"


@dataclass(frozen=True, slots=True)
class _Fit:
    rate: float  # percent per active day, > 0
    rate_low: float
    rate_high: float
    intercept: float
    sigma: float  # residual spread, percent
    per_page: float | None
    points: int


def _fit(points: Sequence[Sample], clock: ActiveClock) -> _Fit | None:
    xs = [clock.at(p.time) for p in points]
    ys = [p.level or 0.0 for p in points]
    if len(set(xs)) < 2:
        return None
    slope, intercept, s_lo, s_hi = theil_sen(xs, ys)
    if slope >= 0:
        return None
    residuals = [y - (intercept + slope * x) for x, y in zip(xs, ys, strict=True)]
    sigma = 1.4826 * statistics.median(abs(r) for r in residuals)
    per_page = None
    paged = [(p.pages, y) for p, y in zip(points, ys, strict=True) if p.pages is not None]
    if len({pg for pg, _ in paged}) >= 2:
        pslope = theil_sen([float(pg) for pg, _ in paged], [y for _, y in paged])[0]
        per_page = -pslope if pslope < 0 else None
    # s_lo is the steeper slope (faster use)
    return _Fit(-slope, -s_hi if s_hi < 0 else 1e-9, -s_lo, intercept, sigma, per_page,
                len(points))


def forecast(samples: Sequence[Sample], *, now: float | None = None,
             settings: ForecastSettings | None = None, day_seconds: float = DAY_SECONDS,
             runs_out: str = "empty") -> Forecast:
    """The forecast of one supply from its samples (any order; the newest decides ``now`` unless
    given). Pure and deterministic."""
    cfg = settings or ForecastSettings()
    ordered = sorted(samples, key=lambda s: s.time)
    if not ordered:
        return Forecast("insufficient_history", runs_out, reason="no readings", now=now or 0.0)
    now = ordered[-1].time if now is None else now
    carts, swaps = split_cartridges(ordered, cfg.swap_rise_percent)
    base = Forecast("insufficient_history", runs_out, replacements=tuple(swaps), now=now)
    if not carts:
        return _replace(base, status="no_level", level_known=False,
                        reason="the device reports no level (only sentinels)")
    cur = carts[-1]
    latest = ordered[-1]
    level_known = latest.level is not None and latest.time >= cur.samples[-1].time
    clock = ActiveClock(ordered, day_seconds)
    step = level_step(cur.samples)
    points = drain_points(cur.samples, day_seconds)[-cfg.max_points:]
    span_days = (points[-1].time - points[0].time) / day_seconds if points else 0.0
    fit: _Fit | None = None
    basis = "this_cartridge"
    if len(points) >= cfg.min_points and span_days >= cfg.min_span_days:
        fit = _fit(points, clock)
    base = _replace(base, cartridge_since=cur.start, level_known=level_known, points=len(points))
    last_level = cur.samples[-1].level or 0.0
    if fit is None:
        prev = None
        if cfg.use_previous_rate and len(carts) >= 2:
            old = drain_points(carts[-2].samples, day_seconds)[-cfg.max_points:]
            if len(old) >= cfg.min_points:
                prev = _fit(old, clock)
        if prev is None:
            why = (f"{len(points)} drain points over {span_days:.1f} days; needs "
                   f"{cfg.min_points} over {cfg.min_span_days:g}")
            return _replace(base, level=last_level, reason=why)
        basis = "previous_cartridge"
        # anchor the borrowed rate at the newest reading of this cartridge
        anchor = cur.samples[-1]
        intercept = (anchor.level or 0.0) + prev.rate * clock.at(anchor.time)
        fit = _Fit(prev.rate, prev.rate_low, prev.rate_high, intercept,
                   max(prev.sigma, step / 2), prev.per_page, len(points))
    a_now = clock.at(now)
    level = fit.intercept - fit.rate * a_now
    level = max(0.0, min(level, last_level, 100.0))
    at = clock.calendar_after(now, level / fit.rate)
    days = (at - now) / day_seconds
    # spread: the slope interval, plus the level's residual spread over the rate
    slow = clock.calendar_after(now, level / max(fit.rate_low, 1e-9))
    fast = clock.calendar_after(now, level / fit.rate_high)
    spread = (min(slow, now + 3650 * day_seconds) - fast) / 2 / day_seconds
    spread += fit.sigma / fit.rate
    if basis == "previous_cartridge":
        spread += 0.25 * days
    confidence = max(0.0, min(1.0, 1 - spread / max(days, 1.0)))
    label = _label(confidence) if basis == "this_cartridge" else "low"
    pages_left = int(level / fit.per_page) if fit.per_page else None
    return _replace(base, status="ok", level=round(level, 2), rate_per_day=fit.rate,
                    percent_per_page=fit.per_page, pages_left=pages_left,
                    days_left=days, at=at, plus_minus_days=spread, confidence=confidence,
                    confidence_label=label, basis=basis,
                    reason="" if level_known else "latest readings are sentinels: estimate kept")


def _replace(f: Forecast, **changes: object) -> Forecast:
    return dataclasses.replace(f, **changes)  # type: ignore[arg-type]
