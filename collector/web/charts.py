"""Server-rendered SVG line charts: pure geometry from series to the numbers a template draws.

No JavaScript and nothing from the internet: :func:`line_chart` turns series of (time, value)
points into polylines in a fixed viewBox, plus axis ticks; ``templates/chart.html`` writes the
SVG (autoescaped like every template). A gap in the data (a missing bucket) breaks the line
rather than drawing a slope across it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

WIDTH: Final = 640
HEIGHT: Final = 180
LEFT: Final = 44  # room for y labels
BOTTOM: Final = 22  # room for x labels
TOP: Final = 8
RIGHT: Final = 8


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    css: str  # a class name from fleetwatch.css (colour); never a style attribute (CSP)
    points: Sequence[tuple[float, float]]  # (unix seconds, value), time ascending


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    css: str
    paths: tuple[str, ...]  # each "x,y x,y ..." of one unbroken run of 2+ points
    dots: tuple[tuple[str, str], ...]  # (x, y) of a point with no neighbour to join
    last: str  # the last value, for the legend


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    unit: str
    width: int
    height: int
    lines: tuple[Line, ...]
    y_ticks: tuple[tuple[float, str], ...]  # (y pixel, label)
    x_ticks: tuple[tuple[float, str], ...]
    empty: bool
    plot: tuple[int, int, int, int]  # x, y, width, height of the plot area
    note: str = ""  # a line under the legend (e.g. the series left out)


def _fmt(v: float, unit: str, decimals: int | None = None) -> str:
    if decimals is None:
        text = f"{v:,.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.1f}"
    else:
        text = f"{v:,.{decimals}f}"
    return text + ("%" if unit == "%" else "")


_NICE = (1.0, 2.0, 2.5, 5.0, 10.0)


def _nice_scale(lo: float, hi: float, whole: bool) -> tuple[float, float, float, int]:
    """A fitted axis: (lo, hi, step, decimals) with 4 steps of 1, 2, 2.5 or 5 × 10^k that
    cover [lo, hi], so every tick label is a round number and no two are the same (a
    raw quarter of 15..16 printed 15, 15, 16, 16, 16). ``whole``: the data are integers
    (page counts, report counts), so the step is at least 1."""
    raw = (hi - lo) / 4
    exp = math.floor(math.log10(raw))
    for base in (10.0 ** exp, 10.0 ** (exp + 1)):
        for m in _NICE:
            step = m * base
            if whole and step < 1:
                continue
            first = math.floor(lo / step + 1e-9) * step
            if first + 4 * step >= hi - 1e-9 * step:
                decimals = 0
                while decimals < 6 and abs(step * 10 ** decimals
                                           - round(step * 10 ** decimals)) > 1e-6:
                    decimals += 1
                return first, first + 4 * step, step, decimals
    return lo, hi, raw, 1  # not reached: a step of 10^(exp+2) always covers


def line_chart(title: str, series: Sequence[Series], *, start: float, end: float,
               unit: str = "", y_min: float | None = None, y_max: float | None = None,
               gap: float | None = None, note: str = "") -> Chart:
    """A chart of ``series`` over [start, end]. ``y_min``/``y_max`` fix the scale (0-100 for
    percentages); otherwise it fits the data (``y_min`` alone: from there to the largest
    value). Points further apart than ``gap`` seconds are not joined."""
    values = [v for s in series for _, v in s.points]
    lo = y_min if y_min is not None else (min(values) if values else 0.0)
    hi = y_max if y_max is not None else (max(values) if values else 1.0)
    if hi <= lo:
        hi = lo + 1.0
    decimals: int | None = None
    if y_max is None or y_min is None:  # a fitted axis gets round, distinct ticks
        whole = bool(values) and all(v == int(v) for v in values)
        lo, hi, _, decimals = _nice_scale(lo, hi, whole)
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = max(end - start, 1.0)

    def x(t: float) -> float:
        return LEFT + (min(max(t, start), end) - start) / span * pw

    def y(v: float) -> float:
        return TOP + ph - (min(max(v, lo), hi) - lo) / (hi - lo) * ph

    lines = []
    for s in series:
        runs: list[list[str]] = []
        previous: float | None = None
        for t, v in s.points:
            if previous is None or (gap is not None and t - previous > gap):
                runs.append([])
            runs[-1].append(f"{x(t):.1f},{y(v):.1f}")
            previous = t
        last = _fmt(s.points[-1][1], unit) if s.points else "–"
        dots = tuple((x_, y_) for r in runs if len(r) == 1 for x_, y_ in [r[0].split(",")])
        lines.append(Line(s.label, s.css, tuple(" ".join(r) for r in runs if len(r) > 1),
                          dots, last))
    y_ticks = tuple((y(lo + (hi - lo) * i / 4), _fmt(lo + (hi - lo) * i / 4, unit, decimals))
                    for i in range(5))
    days = span > 2 * 86400
    x_ticks = tuple(
        (x(t), time.strftime("%m-%d" if days else "%H:%M", time.localtime(t)))
        for t in (start + span * i / 4 for i in range(5)))
    return Chart(title, unit, WIDTH, HEIGHT, tuple(lines), y_ticks, x_ticks, not values,
                 (LEFT, TOP, pw, ph), note)
