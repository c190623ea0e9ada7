"""Memory of the supplies engine's history per supply, and the cost of keeping it on disk.

Feeds ``--supplies`` supply tracks 41 days of readings every ``--poll`` seconds (a draining toner
with a page counter), as the engine keeps them: one sample per hour for 40 days plus the raw
samples of the open hour. Measured with tracemalloc (every allocation the tracks hold).

Peer: the same history as the engine held it before (a ``deque`` of ``Sample`` objects, the open
hour a ``list``); then the ``SampleRing`` arrays it holds now. Also timed: writing every hourly
sample of all supplies to the SQLite history store and loading them back (what a start-up does).

    .venv/bin/python -m bench.supplies_memory --supplies 200 --poll 60
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
import tracemalloc
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.supplies.engine import HISTORY, SupplyTrack, _compress
from collector.supplies.forecast import Sample
from collector.supplies.samples import HistoryStore

HOUR = 3600.0


class OldTrack:
    """The history as the engine kept it before (engine.py up to the fixes branch)."""

    def __init__(self) -> None:
        self.samples: deque[Sample] = deque(maxlen=HISTORY)
        self.pending: list[Sample] = []
        self.pending_bin: int | None = None

    def add(self, sample: Sample, bin_seconds: float) -> None:
        b = int(sample.time // bin_seconds)
        if self.pending and b != self.pending_bin:
            self.samples.append(_compress(self.pending))
            self.pending = []
        self.pending.append(sample)
        self.pending_bin = b


def feed(track: Any, poll: float, days: float = 41.0, offset: float = 0.0) -> None:
    level, pages = 100.0, 10_000
    n = int(days * 86_400 / poll)
    for i in range(n):
        if i % 7 == 0:
            level = max(0.0, level - 0.01)
            pages += 3
        track.add(Sample(1.7e9 + offset + i * poll, round(level, 2), pages), HOUR)


def measure(make: Callable[[int], Any], count: int, poll: float) -> tuple[float, list[Any]]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    tracks = []
    for k in range(count):
        t = make(k)
        feed(t, poll, offset=k * 13.0)
        tracks.append(t)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    held = sum(s.size_diff for s in after.compare_to(before, "filename"))
    return held / count, tracks


async def disk(tracks: list[SupplyTrack], path: Path) -> tuple[float, float]:
    store = await HistoryStore.open(path)
    rows = [(t.device, t.index, s) for t in tracks for s in t.samples]
    by_hour = sorted(rows, key=lambda r: r[2].time)
    t0 = time.perf_counter()
    for i in range(0, len(by_hour), len(tracks)):  # one transaction per closed hour
        await store.append(by_hour[i:i + len(tracks)])
    write = time.perf_counter() - t0
    t0 = time.perf_counter()
    loaded = await store.load(0.0, HISTORY)
    read = time.perf_counter() - t0
    await store.close()
    assert sum(len(h) for h, _ in loaded.values()) == len(rows)
    return write, read


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--supplies", type=int, default=200)
    ap.add_argument("--poll", type=float, default=60.0, help="seconds between readings")
    args = ap.parse_args()
    print(f"{args.supplies} supplies, a reading every {args.poll:g} s, 41 days; history "
          f"{HISTORY} hourly samples + the open hour")
    old, _ = measure(lambda k: OldTrack(), args.supplies, args.poll)
    new, tracks = measure(lambda k: SupplyTrack(f"printer-{k:05d}.floor2.example", "1.1"),
                          args.supplies, args.poll)
    kept = len(tracks[0].samples)
    print(f"  before (deque of Sample objects): {old / 1024:8.1f} KiB per supply")
    print(f"  now (SampleRing arrays):          {new / 1024:8.1f} KiB per supply "
          f"({old / new:.1f}x less; {kept} hourly samples kept)")
    print(f"  10,000 printers x 5 supplies: {old * 50_000 / 2**30:.2f} GiB before, "
          f"{new * 50_000 / 2**30:.2f} GiB now")
    with tempfile.TemporaryDirectory() as tmp:
        write, read = asyncio.run(disk(tracks, Path(tmp) / "h.sqlite3"))
        size = sum(f.stat().st_size for f in Path(tmp).iterdir())  # after the checkpoint
    n = sum(len(t.samples) for t in tracks)
    print(f"  on disk: {n} hourly rows, {size / 2**20:.1f} MiB ({size / args.supplies / 1024:.1f}"
          f" KiB per supply); written in {HISTORY} transactions in {write:.2f} s, loaded in "
          f"{read:.2f} s")


if __name__ == "__main__":
    main()
