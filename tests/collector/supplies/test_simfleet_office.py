"""The simulated fleet's office model: varied use, quiet weekends, early and late swaps, and the
time-scale knob (collector/demo/simfleet.py)."""

from __future__ import annotations

import itertools
from pathlib import Path

from collector.demo.simfleet import DAY_S, OfficeModel, office_fleet


def test_office_model(tmp_path: Path) -> None:
    fleet = office_fleet(tmp_path, OfficeModel(), count=16, seed=3)
    pages: dict[str, list[tuple[float, int]]] = {p.name: [] for p in fleet.printers}
    levels: dict[str, list[tuple[float, int]]] = {}
    for _ in range(8 * 7 * 24):
        fleet.advance(3600.0)
        for p in fleet.printers:
            pages[p.name].append((fleet.clock, p.pages))
            for i, s in enumerate(p.supplies):
                if s.exact is not None:
                    levels.setdefault(f"{p.name}/{i}", []).append((fleet.clock, s.level))
    # quiet weekends: no page printed on a Saturday or Sunday
    for series in pages.values():
        for (_, a), (t, b) in itertools.pairwise(series):
            day = int((t - 1) // DAY_S)
            if (day + 3) % 7 >= 5:
                assert b == a
    per_day = sorted(s[-1][1] / 56 for s in pages.values())
    assert per_day[-1] > 3 * per_day[0]  # varied: copiers and busy offices
    early = late = 0
    for series in levels.values():
        zero_since = None
        for (_, a), (t, b) in itertools.pairwise(series):
            if b == 0 and zero_since is None:
                zero_since = t
            if b > a + 20:
                early += a >= 10
                late += zero_since is not None and t - zero_since >= 0.5 * DAY_S
                zero_since = None
    assert early >= 1 and late >= 1


def test_time_scale_knob(tmp_path: Path) -> None:
    fleet = office_fleet(tmp_path, OfficeModel(time_scale=3600.0), count=2)
    start = fleet.clock
    fleet.step(2.0)  # two real seconds = two simulated hours
    assert fleet.clock == start + 7200.0
    assert (tmp_path / f"{fleet.printers[0].name}.snmprec").exists()
