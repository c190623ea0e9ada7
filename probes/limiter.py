"""An adaptive bound on polls in flight: as many as the event loop keeps up with.

The concurrency cliff (docs/benchmarks.md, 23 Nov): polling is CPU-bound in one thread. With
too many polls in flight, answers queue behind each other's decoding until they arrive, as far
as the poller can tell, after their timeout. Then retries add load and most polls are missed. A
fixed ``max_concurrency`` that is safe on one core is too small on a faster one. So this limit
follows the event loop's lag instead. Dead devices, which time out however idle the core is,
do not move it.

Contract:
- ``async with limit:`` holds one slot; at most ``limit.limit`` slots are held at once, and
  waiters are served in arrival order.
- :meth:`start` runs a ticker that measures the loop's lag every ``interval`` seconds and
  feeds :meth:`observe_lag`; :meth:`close` stops it. Without it the limit stays at ``start``.
- The control law: :meth:`observe_lag` cuts the limit to 70 % (never below ``minimum``) when
  the lag exceeds ``max_lag``. The limit grows by a tenth (never above ``maximum``) only as
  work completes: once per ``limit`` completed slots, while all slots are in use and the last
  lag seen was under half of ``max_lag``. Growth thus follows what the core finishes, not the
  clock. A poller that is slow per answer grows slowly (tied to wall time, the limit reached
  1,000 before pysnmp's engine path fell behind).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from types import TracebackType


class AdaptiveLimit:
    def __init__(self, maximum: int, *, minimum: int = 10, start: int | None = None,
                 max_lag: float = 0.05, interval: float = 0.1) -> None:
        if not 1 <= minimum <= maximum:
            raise ValueError("need 1 <= minimum <= maximum")
        self.maximum = maximum
        self.minimum = minimum
        self.limit = min(maximum, max(minimum, start if start is not None else minimum * 4))
        self.max_lag = max_lag
        self.interval = interval
        self.in_flight = 0
        self.peak = 0  # most slots held at once (for reports)
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._ticker: asyncio.Task[None] | None = None
        self._calm = True  # the last lag seen was under half of max_lag
        self._completed = 0  # slots released since the limit last grew

    def observe_lag(self, lag: float) -> None:
        self._calm = lag < self.max_lag / 2
        if lag > self.max_lag:
            self.limit = max(self.minimum, int(self.limit * 0.7))

    async def acquire(self) -> None:
        if self.in_flight < self.limit and not self._waiters:
            self._take()
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                self.release()  # woken and cancelled at once: hand the slot on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(future)
            raise

    def _take(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def release(self) -> None:
        saturated = self.in_flight >= self.limit or bool(self._waiters)
        self.in_flight -= 1
        self._completed += 1
        if self._completed >= self.limit:
            self._completed = 0
            if saturated and self._calm:
                self.limit = min(self.maximum, self.limit + max(1, self.limit // 10))
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            future = self._waiters.popleft()
            if not future.done():
                self._take()
                future.set_result(None)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.release()

    async def start(self) -> None:
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick())

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval)
            self.observe_lag(loop.time() - before - self.interval)
