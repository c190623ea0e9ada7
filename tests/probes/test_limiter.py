"""The adaptive bound on polls in flight: its control law, its slots, and its reaction to a
really busy event loop."""

from __future__ import annotations

import asyncio
import time

import pytest

from probes.limiter import AdaptiveLimit


def test_lag_cuts_within_bounds() -> None:
    limit = AdaptiveLimit(100, minimum=10, start=50, max_lag=0.05)
    limit.observe_lag(0.2)
    assert limit.limit == 35
    for _ in range(20):
        limit.observe_lag(0.5)
    assert limit.limit == 10
    limit.observe_lag(0.04)  # between half and all of max_lag: hold
    assert limit.limit == 10


async def test_growth_follows_completed_work_while_saturated_and_calm() -> None:
    limit = AdaptiveLimit(100, minimum=10, start=10, max_lag=0.05)

    async def round_trip(n: int) -> None:  # n slots taken (some waiting), then all released
        waiters = [asyncio.ensure_future(limit.acquire()) for _ in range(n)]
        await asyncio.sleep(0)
        for _ in range(n):
            limit.release()
            await asyncio.sleep(0)
        await asyncio.gather(*waiters)

    await round_trip(5)  # never saturated: no growth
    assert limit.limit == 10
    await round_trip(30)
    assert limit.limit > 10
    grown = limit.limit
    limit.observe_lag(0.04)  # not calm: no growth
    await round_trip(60)
    assert limit.limit == grown
    limit.observe_lag(0.0)
    for _ in range(40):
        await round_trip(150)
    assert limit.limit == 100


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError):
        AdaptiveLimit(5, minimum=10)


async def test_slots_are_bounded_and_served_in_order() -> None:
    limit = AdaptiveLimit(2, minimum=1, start=2)
    order: list[int] = []
    gate = asyncio.Event()

    async def job(i: int) -> None:
        async with limit:
            order.append(i)
            await gate.wait()

    tasks = [asyncio.create_task(job(i)) for i in range(5)]
    await asyncio.sleep(0.01)
    assert limit.in_flight == 2 and order == [0, 1]
    gate.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4] and limit.in_flight == 0 and limit.peak == 2


async def test_a_cancelled_waiter_gives_its_place_up() -> None:
    limit = AdaptiveLimit(1, minimum=1, start=1)
    await limit.acquire()
    waiter = asyncio.create_task(limit.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limit.release()
    assert limit.in_flight == 0
    await asyncio.wait_for(limit.acquire(), 0.1)


async def test_a_busy_loop_shrinks_the_limit() -> None:
    # Each job holds the loop for 20 ms of CPU, as decoding a flood of answers would.
    limit = AdaptiveLimit(500, minimum=5, start=200, max_lag=0.01, interval=0.01)
    await limit.start()

    async def job() -> None:
        async with limit:
            await asyncio.sleep(0)
            end = time.perf_counter() + 0.02
            while time.perf_counter() < end:
                pass

    try:
        await asyncio.gather(*(job() for _ in range(25)))
        await asyncio.sleep(0.05)  # let the ticker see the lag
    finally:
        await limit.close()
    assert limit.limit < 200
