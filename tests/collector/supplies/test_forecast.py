"""Table tests of the forecaster on synthetic series (issue 12)."""

from __future__ import annotations

import math
import random

import pytest

from collector.supplies.forecast import (
    ActiveClock,
    Sample,
    forecast,
    level_step,
    runs_out_for,
    split_cartridges,
    theil_sen,
)

DAY = 86_400.0
MONDAY = 4 * DAY  # 1970-01-05 was a Monday


def series(days: float, rate: float, *, start: float = 100.0, weekends: bool = False,
           noise: float = 0.0, step: float = 0.0, every: float = 3600.0, t0: float = MONDAY,
           seed: int = 1, pages_per_pct: float = 30.0, swap_at: float | None = None,
           holidays: tuple[int, ...] = ()) -> tuple[list[Sample], float]:
    """Hourly samples of a cartridge draining ``rate`` % per working day; returns the samples and
    the true time it reaches 0 % if it kept going (from the last sample)."""
    rng = random.Random(seed)
    out: list[Sample] = []
    level, pages, t = start, 0.0, t0
    while t < t0 + days * DAY:
        day = int(t // DAY)
        off = (weekends and (day + 3) % 7 >= 5) or (day - int(t0 // DAY)) in holidays
        if swap_at is not None and t >= t0 + swap_at * DAY:
            level, swap_at = 100.0, None
        shown = level + rng.gauss(0, noise) if noise else level
        if step:
            shown = math.ceil(shown / step) * step if shown > 0 else 0
        out.append(Sample(t, max(0.0, min(100.0, shown)), int(pages)))
        if not off:
            used = rate * every / DAY
            level -= used
            pages += used * pages_per_pct
        t += every
    # true empty: walk on from the last level with the same calendar
    left, tt = level, t
    while left > 0:
        day = int(tt // DAY)
        off = (weekends and (day + 3) % 7 >= 5)
        if not off:
            left -= rate * every / DAY
        tt += every
    return out, tt


CASES = [
    # name, kwargs, max abs error in days
    ("steady", dict(days=10, rate=5.0), 0.3),
    ("weekends", dict(days=17, rate=4.0, weekends=True), 0.6),
    ("noise", dict(days=10, rate=5.0, noise=1.5), 0.8),
    ("ten_percent_steps", dict(days=12, rate=5.0, step=10.0), 1.1),
    ("steps_and_weekends", dict(days=18, rate=3.5, step=10.0, weekends=True), 1.6),
    ("holiday_in_history", dict(days=15, rate=4.0, weekends=True, holidays=(3, 4)), 0.8),
]


@pytest.mark.parametrize(("name", "kwargs", "tolerance"), CASES, ids=[c[0] for c in CASES])
def test_days_left(name: str, kwargs: dict[str, float], tolerance: float) -> None:
    samples, empty_at = series(**kwargs)  # type: ignore[arg-type]
    f = forecast(samples)
    assert f.status == "ok", f.reason
    assert f.at is not None and f.days_left is not None
    error = abs(f.at - empty_at) / DAY
    assert error <= tolerance, (name, f.days_left, (empty_at - samples[-1].time) / DAY)
    assert f.basis == "this_cartridge"
    assert 0.0 <= f.confidence <= 1.0
    assert f.plus_minus_days is not None and f.plus_minus_days >= 0


def test_confidence_falls_with_noise() -> None:
    clean = forecast(series(10, 5.0)[0])
    noisy = forecast(series(10, 5.0, noise=6.0, seed=3)[0])
    assert clean.confidence > noisy.confidence
    assert clean.confidence_label == "high"
    assert noisy.plus_minus_days is not None and clean.plus_minus_days is not None
    assert noisy.plus_minus_days > clean.plus_minus_days


def test_per_page_use() -> None:
    f = forecast(series(10, 5.0, pages_per_pct=30.0)[0])
    assert f.percent_per_page == pytest.approx(1 / 30, rel=0.05)
    assert f.pages_left is not None and f.level is not None
    assert f.pages_left == pytest.approx(f.level * 30, rel=0.06)


def test_swap_starts_a_new_cartridge() -> None:
    samples, _ = series(20, 6.0, swap_at=14)
    f = forecast(samples)
    assert len(f.replacements) == 1
    swap = f.replacements[0]
    assert swap.at == pytest.approx(MONDAY + 14 * DAY, abs=3600)
    assert swap.pulled_at_percent == pytest.approx(100 - 6 * 14, abs=1)
    assert swap.pages_printed == pytest.approx(6 * 14 * 30, rel=0.02)
    assert f.cartridge_since == swap.at
    assert f.level is not None and f.level > 60  # the new cartridge, not the old one's 16 %
    assert f.days_left == pytest.approx((100 - 6 * 6) / 6, abs=0.5)


def test_early_swap_borrows_previous_rate_at_low_confidence() -> None:
    # pulled at 55 % after 9 days, the new one has 3 hours of history
    samples, _ = series(9.15, 5.0, swap_at=9.0)
    f = forecast(samples)
    assert f.replacements and f.replacements[0].pulled_at_percent == pytest.approx(55, abs=1)
    assert f.status == "ok"
    assert f.basis == "previous_cartridge"
    assert f.confidence_label == "low"
    assert f.days_left == pytest.approx(100 / 5, abs=1.0)


def test_shaken_cartridge_is_not_a_swap() -> None:
    samples, _ = series(12, 7.0)
    t = samples[-1].time
    bounced = [*samples, Sample(t + 3600, samples[-1].level + 12, None)]  # type: ignore[operator]
    f = forecast(bounced)
    assert f.replacements == ()


def test_sentinels_keep_the_last_estimate() -> None:
    samples, _ = series(10, 5.0)
    before = forecast(samples)
    t = samples[-1].time
    tail = [Sample(t + i * 3600, None, None) for i in range(1, 25)]
    after = forecast([*samples, *tail])
    assert after.status == "ok" and not after.level_known
    assert after.at == pytest.approx(before.at, abs=3600)
    assert "sentinel" in after.reason


@pytest.mark.parametrize("samples", [
    [],
    [Sample(MONDAY, 80.0)],
    [Sample(MONDAY, 80.0), Sample(MONDAY + 3600, 79.0)],
    series(0.5, 5.0)[0],  # half a day
    [Sample(MONDAY + i * 3600, 50.0) for i in range(100)],  # flat
], ids=["empty", "one", "two", "half_day", "flat"])
def test_too_little_history_says_so(samples: list[Sample]) -> None:
    f = forecast(samples)
    assert f.status == "insufficient_history"
    assert f.days_left is None and f.at is None and f.reason


def test_only_sentinels() -> None:
    f = forecast([Sample(MONDAY + i * 3600, None) for i in range(50)])
    assert f.status == "no_level" and not f.level_known


def test_helpers() -> None:
    assert level_step([Sample(0, 100.0), Sample(1, 90.0), Sample(2, 70.0)]) == 10.0
    assert theil_sen([0, 1, 2, 3, 4], [10, 8, 6, 4, 100])[0] == pytest.approx(-2.0)
    carts, swaps = split_cartridges([Sample(0, 30.0), Sample(1, 10.0), Sample(2, 25.0),
                                     Sample(3, 95.0)], 20.0)
    assert len(carts) == 2 and swaps[0].pulled_at_percent == 25.0
    assert runs_out_for("waste_toner", "filled") == "full"
    assert runs_out_for("opc", "consumed") == "end_of_life"
    assert runs_out_for("toner", "consumed") == "empty"
    # weekends: Saturday/Sunday without pages weigh 0 ahead
    samples, _ = series(21, 4.0, weekends=True)
    clock = ActiveClock(samples, DAY)
    assert clock.weights[5] == 0.0 and clock.weights[0] == 1.0
