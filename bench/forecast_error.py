"""Forecast error on the simulated office fleet (issue 12): predicted versus actual empty date.

The fleet is :func:`collector.demo.simfleet.office_fleet` (varied pages per day, quiet weekends,
real yields, early and late swaps), run for ``--weeks`` simulated weeks and read once an hour
(what a poller stores, reduced to the hourly medians the forecaster uses anyway). For every
cartridge that really ran empty, the forecast made 30, 14 and 7 days before that moment is
compared with it, when that cartridge was already in the printer then (a cartridge that lasts
20 days has no "30 days before"). Reported: median and p90 absolute error in days, and how
many had no forecast.

Peer: a least-squares line over the last 7 calendar days of the current cartridge, which is what
a generic monitor does (Zabbix ``timeleft()``; LibreNMS has no forecast at all).

    .venv/bin/python -m bench.forecast_error --weeks 26 --printers 24 --seed 7 [--step 10]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.demo.simfleet import DAY_S, OfficeModel, office_fleet
from collector.supplies.forecast import Sample, forecast, split_cartridges

HORIZONS = (30, 14, 7)


@dataclass
class Series:
    name: str
    samples: list[Sample]


def simulate(weeks: int, printers: int, seed: int, step: int = 1) -> list[Series]:
    with tempfile.TemporaryDirectory() as tmp:
        fleet = office_fleet(Path(tmp), OfficeModel(), count=printers, seed=seed)
        series: dict[str, Series] = {}
        for _ in range(weeks * 7 * 24):
            fleet.advance(3600.0)
            for p in fleet.printers:
                for i, s in enumerate(p.supplies):
                    if s.exact is None:
                        continue
                    key = f"{p.name}/{i}"
                    level = -(-s.level // step) * step  # a device reporting in steps
                    series.setdefault(key, Series(key, [])).samples.append(
                        Sample(fleet.clock, float(level), p.pages))
        return list(series.values())


def empties(samples: Sequence[Sample]) -> list[float]:
    """Times a cartridge first read 0 %."""
    out = []
    for a, b in itertools.pairwise(samples):
        if b.level == 0 and (a.level or 0) > 0:
            out.append(b.time)
    return out


def least_squares(samples: Sequence[Sample], now: float) -> float | None:
    """The peer: OLS over the current cartridge's last 7 calendar days; the predicted empty time."""
    carts, _ = split_cartridges(samples, 20.0)
    if not carts:
        return None
    pts = [s for s in carts[-1].samples if s.time >= now - 7 * DAY_S and s.level is not None]
    if len(pts) < 3:
        return None
    xs = [s.time for s in pts]
    ys = [s.level or 0.0 for s in pts]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    if slope >= 0:
        return None
    return mx + (0 - my) / slope


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weeks", type=int, default=26)
    ap.add_argument("--printers", type=int, default=24)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--step", type=int, default=1, help="levels reported in steps of this many "
                    "percent (10: a device that says 100, 90, 80 ...)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    all_series = simulate(args.weeks, args.printers, args.seed, args.step)
    sim_s = time.perf_counter() - t0
    ours: dict[int, list[float]] = {h: [] for h in HORIZONS}
    peer: dict[int, list[float]] = {h: [] for h in HORIZONS}
    missing = {h: 0 for h in HORIZONS}
    peer_missing = {h: 0 for h in HORIZONS}
    calls, t1 = 0, time.perf_counter()
    for s in all_series:
        times = [x.time for x in s.samples]
        for empty_at in empties(s.samples):
            end = bisect_right(times, empty_at)
            carts, _ = split_cartridges(s.samples[max(0, end - 24 * 200):end], 20.0)
            installed = carts[-1].start if carts else times[0]
            for h in HORIZONS:
                at = empty_at - h * DAY_S
                n = bisect_right(times, at)
                if n == 0 or at < times[0] + 2 * DAY_S:
                    continue  # no history at all yet: not a forecast question
                if at < installed:
                    continue  # this cartridge was not in the printer yet
                history = s.samples[max(0, n - 24 * 120):n]
                f = forecast(history, now=at)
                calls += 1
                if f.status == "ok" and f.at is not None:
                    ours[h].append(abs(f.at - empty_at) / DAY_S)
                else:
                    missing[h] += 1
                p = least_squares(history, at)
                if p is None:
                    peer_missing[h] += 1
                else:
                    peer[h].append(abs(p - empty_at) / DAY_S)
    fit_s = time.perf_counter() - t1
    print(f"simulated fleet: {args.printers} printers, {len(all_series)} toner/ink supplies, "
          f"{args.weeks} weeks, seed {args.seed}, {args.step} % steps ({sim_s:.1f} s); {calls} forecasts "
          f"({fit_s / max(calls, 1) * 1000:.1f} ms each)")
    print(f"{'days before empty':>18} | {'n':>4} | {'median':>6} | {'p90':>6} | {'none':>4} || "
          f"{'peer: OLS 7 d median':>20} | {'p90':>6} | {'none':>4}")
    for h in HORIZONS:
        e, pe = ours[h], peer[h]
        print(f"{h:>18} | {len(e):>4} | {statistics.median(e) if e else float('nan'):>6.2f} | "
              f"{pct(e, 0.9) if e else float('nan'):>6.2f} | {missing[h]:>4} || "
              f"{statistics.median(pe) if pe else float('nan'):>20.2f} | "
              f"{pct(pe, 0.9) if pe else float('nan'):>6.2f} | {peer_missing[h]:>4}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
