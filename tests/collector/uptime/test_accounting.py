"""The accounting rules (docs/uptime.md) as table tests on hand-made spans."""

from __future__ import annotations

import datetime as dt

import pytest

from collector.config import MaintenanceWindow, Schedule, WeeklyWindow
from collector.uptime.accounting import Intervals, Span, account, excluded

H = 3600.0
DAY = 86400.0
# Monday 2026-11-30 00:00 UTC
MON = dt.datetime(2026, 11, 30, tzinfo=dt.UTC).timestamp()
ALWAYS = Schedule()
OFFICE = Schedule(business_hours=(WeeklyWindow(days=frozenset(range(5)), start=dt.time(8),
                                            end=dt.time(18)),))


def up(a: float, b: float) -> Span:
    return Span("p1", a, b, True)


def down(a: float, b: float, *, open: bool = False) -> Span:
    return Span("p1", a, b, False, open)


def test_intervals_merge_overlap_and_subtract() -> None:
    iv = Intervals([(5, 10), (0, 3), (2, 4), (10, 12)])
    assert list(zip(iv.starts, iv.ends, strict=True)) == [(0, 4), (5, 12)]
    assert iv.overlap(-5, 100) == 11
    assert iv.overlap(3, 6) == 2
    assert iv.overlap(6, 6) == 0
    rest = iv.minus(Intervals([(1, 2), (6, 20)]))
    assert list(zip(rest.starts, rest.ends, strict=True)) == [(0, 1), (2, 4), (5, 6)]


@pytest.mark.parametrize(("spans", "want"), [
    # (spans within a 24 h window from MON) -> (up h, down h, no-data h, incidents)
    ([up(MON, MON + DAY)], (24, 0, 0, 0)),
    ([up(MON, MON + 12 * H), down(MON + 12 * H, MON + 13 * H), up(MON + 13 * H, MON + DAY)],
     (23, 1, 0, 1)),
    # the collector was off from 06:00 to 10:00: no data, not down
    ([up(MON, MON + 6 * H), up(MON + 10 * H, MON + DAY)], (20, 0, 4, 0)),
    # nothing recorded at all: no data, no percentage
    ([], (0, 0, 24, 0)),
    # spans reaching outside the window are clipped
    ([up(MON - DAY, MON + 2 * H), down(MON + 2 * H, MON + 2 * DAY, open=True)], (2, 22, 0, 1)),
])
def test_up_down_and_no_data(spans: list[Span],
                             want: tuple[float, float, float, int]) -> None:
    a = account("p1", spans, MON, MON + DAY, ALWAYS)
    assert (a.up_s / H, a.down_s / H, a.no_data_s / H, len(a.incidents)) == want


def test_availability_is_up_over_counted_time() -> None:
    a = account("p1", [up(MON, MON + 18 * H), down(MON + 18 * H, MON + 24 * H)], MON, MON + DAY,
                ALWAYS)
    assert a.availability == pytest.approx(0.75)
    assert account("p1", [], MON, MON + DAY, ALWAYS).availability is None


def test_out_of_hours_and_weekend_are_counted_apart() -> None:
    # down all week (Mon 00:00 to next Mon 00:00), office hours Mon-Fri 08-18 UTC
    a = account("p1", [down(MON, MON + 7 * DAY)], MON, MON + 7 * DAY, OFFICE)
    assert a.down_s == 5 * 10 * H  # only office hours count
    assert a.out_of_hours_s == 7 * DAY - 50 * H
    assert a.incidents[0].duration_s == 7 * DAY and a.incidents[0].counted_s == 50 * H


def test_business_hours_follow_the_time_zone_and_dst() -> None:
    # New York office hours 08-18 local; on Sun 2026-11-01 clocks went back (EDT -> EST).
    ny = Schedule(business_hours=OFFICE.business_hours, timezone="America/New_York")
    fri = dt.datetime(2026, 10, 30, tzinfo=dt.UTC).timestamp()
    _, ooh = excluded(ny, fri, fri + 4 * DAY)  # Fri, Sat, Sun, Mon
    business = 4 * DAY - ooh.overlap(fri, fri + 4 * DAY)
    assert business == 20 * H  # Friday and Monday, 10 h each
    # Monday's window starts at 08:00 EST = 13:00 UTC, Friday's at 08:00 EDT = 12:00 UTC
    mon = fri + 3 * DAY
    assert ooh.overlap(mon + 12 * H, mon + 13 * H) == H
    assert ooh.overlap(fri + 12 * H, fri + 13 * H) == 0


def test_maintenance_wins_over_out_of_hours_and_is_not_down() -> None:
    window = MaintenanceWindow(start=dt.datetime.fromtimestamp(MON + 16 * H, dt.UTC),
                               end=dt.datetime.fromtimestamp(MON + 20 * H, dt.UTC),
                               reason="toner swap")
    sched = Schedule(business_hours=OFFICE.business_hours, maintenance=(window,))
    a = account("p1", [down(MON + 16 * H, MON + 20 * H), up(MON + 20 * H, MON + DAY)], MON,
                MON + DAY, sched)
    assert a.maintenance_s == 4 * H
    assert a.down_s == 0
    assert a.out_of_hours_s == 4 * H  # 20-24 (18-20 is maintenance)
    assert a.no_data_s == 16 * H


def test_naive_maintenance_window_is_in_the_schedule_zone() -> None:
    window = MaintenanceWindow(start=dt.datetime(2026, 11, 30, 9),
                               end=dt.datetime(2026, 11, 30, 10))
    sched = Schedule(maintenance=(window,), timezone="Europe/Berlin")  # UTC+1 in winter
    maint, _ = excluded(sched, MON, MON + DAY)
    assert maint.overlap(MON + 8 * H, MON + 9 * H) == H


def test_incidents_name_the_ticket_opened_during_them() -> None:
    spans = [up(MON, MON + H), down(MON + H, MON + 2 * H), up(MON + 2 * H, MON + 3 * H),
             down(MON + 3 * H, MON + 3 * H, open=True)]
    a = account("p1", spans, MON, MON + 4 * H, ALWAYS,
                tickets=[(7, MON + H + 120), (9, MON + 3 * H + 60), (3, MON - DAY)])
    first, second = sorted(a.incidents, key=lambda i: i.start)
    assert (first.ticket, first.end, first.duration_s) == (7, MON + 2 * H, H)
    assert (second.ticket, second.end) == (9, None)  # ongoing, its ticket opened after it began
