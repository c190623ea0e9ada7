"""The span record: readings become spans, written to SQLite, kept across a restart."""

from __future__ import annotations

from pathlib import Path

from collector.config import DeviceConfig
from collector.uptime.store import DB_NAME, UptimeStore, max_gap
from probes.model import Reading
from probes.registry import probe_settings

DEV = DeviceConfig(name="p1", host="10.0.0.9",
                   probes=(probe_settings("snmp_printer", interval=60.0), probe_settings("ping")))
T0 = 1_800_000_000.0


def reading(t: float, up: bool, *, probe: str = "snmp_printer", stale: bool = False) -> Reading:
    return Reading(device="p1", host="10.0.0.9", probe=probe, time=t, reachable=up,
                   stale=stale, status="ok" if up else "unreachable")


async def feed(store: UptimeStore, *readings: Reading) -> None:
    for r in readings:
        await store.handle(r, DEV)


def shape(spans: list) -> list[tuple[float, float, bool]]:  # type: ignore[type-arg]
    return [(s.start - T0, s.end - T0, s.up) for s in sorted(spans, key=lambda s: s.start)]


async def test_polls_join_into_spans_and_a_change_closes_one(tmp_path: Path) -> None:
    store = await UptimeStore.open(tmp_path / DB_NAME)
    try:
        await feed(store, *(reading(T0 + 60 * i, True) for i in range(5)),
                   reading(T0 + 300, False), reading(T0 + 360, False), reading(T0 + 420, True))
        spans = (await store.spans(T0 - 1, T0 + 1000))["p1"]
        # a state holds until the next poll: up 0-300, down 300-420, up from 420
        assert shape(spans) == [(0, 300, True), (300, 420, False), (420, 420, True)]
        assert [s.open for s in sorted(spans, key=lambda s: s.start)] == [False, False, True]
    finally:
        await store.close()


async def test_a_long_gap_is_no_data_and_other_probes_do_not_count(tmp_path: Path) -> None:
    assert max_gap(DEV) == 150.0
    store = await UptimeStore.open(tmp_path / DB_NAME)
    try:
        await feed(store, reading(T0, True), reading(T0 + 60, True),
                   reading(T0 + 90, False, probe="ping"),  # not the primary probe
                   reading(T0 + 120, False, stale=True),  # "no answer yet": not known
                   reading(T0 + 1000, True))  # 880 s after the last poll: a gap
        assert shape((await store.spans(T0, T0 + 2000))["p1"]) == [(0, 60, True),
                                                                   (1000, 1000, True)]
    finally:
        await store.close()


async def test_spans_survive_a_restart(tmp_path: Path) -> None:
    store = await UptimeStore.open(tmp_path / DB_NAME)
    await feed(store, reading(T0, True), reading(T0 + 60, False), reading(T0 + 120, False))
    await store.close()  # writes what is pending
    again = await UptimeStore.open(tmp_path / DB_NAME)
    try:
        spans = (await again.spans(T0, T0 + 500))["p1"]
        assert shape(spans) == [(0, 60, True), (60, 120, False)]
        assert not any(s.open for s in spans)  # closed at their last poll by the restart
        await feed(again, reading(T0 + 180, False))  # a new span after a restart
        assert shape((await again.spans(T0, T0 + 500))["p1"])[-1] == (180, 180, False)
    finally:
        await again.close()


async def test_flush_writes_in_batches_and_reads_back_the_same(tmp_path: Path) -> None:
    store = await UptimeStore.open(tmp_path / DB_NAME, flush_every=3600)
    try:
        await feed(store, *(reading(T0 + 60 * i, i % 10 != 9) for i in range(100)))
        before = shape((await store.spans(T0, T0 + 10_000))["p1"])
        await store.flush()
        assert store.stats.flushes == 1
        after = shape((await store.spans(T0, T0 + 10_000))["p1"])
        assert before == after and len(after) == 20  # 10 up stretches, 10 one-poll outages
        await feed(store, reading(T0 + 6000, False))
        await store.flush()
        assert shape((await store.spans(T0, T0 + 10_000))["p1"])[-1] == (5940, 6000, False)
    finally:
        await store.close()
