"""The on-disk queue: order, bounds, sequence numbers across restarts, torn writes."""

from __future__ import annotations

from pathlib import Path

from agent.queue import DiskQueue


def test_oldest_first_and_removed_only_when_acknowledged(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path)
    for _ in range(5):
        seq = q.next_seq()
        q.put(seq, f'{{"seq":{seq}}}'.encode())
    batch = q.peek(3, 1 << 20)
    assert [s for s, _ in batch] == [1, 2, 3]
    assert len(q) == 5  # peek removes nothing
    q.remove([1, 2, 3])
    assert [s for s, _ in q.peek(10, 1 << 20)] == [4, 5]


def test_bounded_by_bytes_drops_the_oldest(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path, max_bytes=250)
    for _ in range(10):
        seq = q.next_seq()
        q.put(seq, b"x" * 100)
    assert [s for s, _ in q.peek(10, 1 << 20)] == [9, 10]
    assert q.stats.dropped == 8


def test_bounded_by_age(tmp_path: Path) -> None:
    now = [1000.0]
    q = DiskQueue(tmp_path, max_age=60, clock=lambda: now[0])
    q.put(q.next_seq(), b"old")
    now[0] += 61
    q.put(q.next_seq(), b"new")
    assert [d for _, d in q.peek(10, 1 << 20)] == [b"new"]


def test_survives_a_restart_and_never_reuses_a_sequence_number(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path)
    for _ in range(3):
        q.put(q.next_seq(), b"{}")
    q.remove([1, 2, 3])
    (tmp_path / ".00000000000000000009.json.tmp").write_bytes(b'{"torn')  # killed mid-write
    again = DiskQueue(tmp_path)
    assert len(again) == 0 and not list(tmp_path.glob(".*.tmp"))
    assert again.next_seq() == 4


def test_batch_is_bounded_by_bytes_but_never_empty(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path)
    for _ in range(3):
        q.put(q.next_seq(), b"y" * 1000)
    assert len(q.peek(10, 1500)) == 1
    assert len(q.peek(10, 10)) == 1
