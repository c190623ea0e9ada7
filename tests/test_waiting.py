"""tests/waiting.py: returns the predicate's first truthy value, raises TimeoutError naming what
was awaited; the async variant takes plain and coroutine predicates without blocking the loop."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.waiting import async_wait_until, wait_until


def test_returns_the_first_truthy_value() -> None:
    calls = itertools.count()
    assert wait_until(lambda: next(calls) >= 3 and "ready", interval=0.001) == "ready"


def test_times_out_naming_what_and_the_last_value() -> None:
    with pytest.raises(TimeoutError, match=r"not within 0.05 s: the door opens \(last: 0\)"):
        wait_until(lambda: 0, timeout=0.05, interval=0.01, message="the door opens")


async def test_async_takes_coroutine_predicates_and_lets_the_loop_run() -> None:
    seen: list[int] = []

    async def producer() -> None:
        for i in range(3):
            await asyncio.sleep(0.01)
            seen.append(i)

    async def three() -> list[int] | None:
        return seen if len(seen) == 3 else None

    task = asyncio.create_task(producer())
    assert await async_wait_until(three, timeout=5, interval=0.005) == [0, 1, 2]
    await task
    assert await async_wait_until(lambda: len(seen), timeout=1) == 3


async def test_async_times_out() -> None:
    with pytest.raises(TimeoutError, match="never"):
        await async_wait_until(lambda: False, timeout=0.05, interval=0.01, message="never")
