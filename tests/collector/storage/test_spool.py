"""The on-disk spool: order, bound (oldest dropped), survival across reopen, one owner."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.storage import StorageError
from collector.storage.spool import Spool


def batch(start: int, n: int = 10) -> list[str]:
    return [f"m,t=a seq={i}i {i}" for i in range(start, start + n)]


def drain(spool: Spool) -> list[str]:
    out = []
    while (seg := spool.oldest()) is not None:
        out += spool.read(seg)
        spool.remove(seg)
    return out


def test_order_survives_reopen(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path, 1 << 20)
    for k in range(5):
        assert spool.append(batch(10 * k)) == (10, 0)
    assert spool.lines == 50 and len(spool) == 5
    spool.close()
    (tmp_path / "0000000000000099-3.lp.tmp").write_text("half a batch from a crash")
    again = Spool.open(tmp_path, 1 << 20)
    assert again.lines == 50
    assert again.append(batch(50)) == (10, 0)  # numbering continues after the old segments
    assert drain(again) == batch(0, 60)
    assert again.lines == 0 and again.bytes == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]
    again.close()


def test_full_spool_drops_the_oldest(tmp_path: Path) -> None:
    one = len(("\n".join(batch(100)) + "\n").encode())  # all batches are this size
    spool = Spool.open(tmp_path, 3 * one + 5)
    results = [spool.append(batch(100 + 10 * k)) for k in range(6)]
    assert results == [(10, 0)] * 3 + [(10, 10)] * 3
    assert spool.bytes <= 3 * one + 5
    assert drain(spool) == batch(130, 30)  # the newest three batches
    spool.close()


def test_a_batch_bigger_than_the_spool_is_refused_whole(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path, 100)
    assert spool.append(batch(0, 50)) == (0, 50)
    assert spool.lines == 0
    spool.close()


def test_lines_with_unusual_separators_round_trip(tmp_path: Path) -> None:
    lines = ['m s="form\x0cfeed\x1cfile\u2028sep\u0085nel" 1', "m f=2i 2"]
    spool = Spool.open(tmp_path, 1 << 20)
    spool.append(lines)
    assert drain(spool) == lines
    spool.close()


def test_one_writer_per_directory(tmp_path: Path) -> None:
    first = Spool.open(tmp_path, 1 << 20)
    with pytest.raises(StorageError, match="in use"):
        Spool.open(tmp_path, 1 << 20)
    first.close()
    Spool.open(tmp_path, 1 << 20).close()


def test_unusable_directory_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StorageError, match="spool directory"):
        Spool.open(tmp_path / "file" / "spool", 1 << 20)


def test_a_damaged_byte_does_not_stall_the_spool(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path, 1 << 20)
    spool.append(["m f=1i 1", "m f=2i 2"])
    seg = spool.oldest()
    assert seg is not None
    seg.path.write_bytes(b"m f=1i 1\nm,t=\xff f=2i 2\n")
    assert spool.read(seg) == ["m f=1i 1", "m,t=\ufffd f=2i 2"]
    spool.close()
