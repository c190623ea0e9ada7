"""Where readings go after a poll or an agent report.

The scheduler (and agent ingest) hand every :class:`Reading` to each registered sink in turn:
the InfluxDB writer, the state cache, the fault engine. A sink must not block for long (queue
the work) and must not raise for bad data; an exception from a sink is logged with a traceback
by the caller and never stops polling.

**All sinks or none.** A reading handed to a :class:`Pipeline` reaches every sink, even when the
caller is cancelled meanwhile (a poll stopped at shutdown): the delivery runs as a task of its
own that the caller's cancellation does not reach, and the owner's stop waits for the
deliveries in flight (:meth:`Pipeline.drain`) before the sinks close. A poll cancelled before it
has a reading hands over nothing. Without this, a reading could be in the storage spool while the
fault engine, the state cache and the other sinks after storage never saw it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from collector.config import DeviceConfig
from probes.model import Reading

log = logging.getLogger(__name__)

T = TypeVar("T")

# Seconds a stopping owner waits for deliveries in flight; each sink bounds its own work
# (the InfluxDB writer waits at most 2 s for its group commit), so this is a backstop.
DRAIN_TIMEOUT = 10.0


class ReadingSink(Protocol):
    async def handle(self, reading: Reading, device: DeviceConfig) -> None: ...


class Pipeline:
    """Delivers readings to ``sinks`` (a live list: the app adds and removes sinks as its parts
    start and stop; each delivery uses the sinks present when it starts).

    ``on_error(sink, device)`` is called, inside the except block, for each sink that raised;
    delivery goes on to the next sink."""

    def __init__(self, sinks: Sequence[ReadingSink],
                 on_error: Callable[[ReadingSink, DeviceConfig], None]) -> None:
        self.sinks = sinks
        self._on_error = on_error
        self._inflight: set[asyncio.Task[object]] = set()

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    async def deliver(self, reading: Reading, device: DeviceConfig) -> None:
        """Hand ``reading`` to every sink in order. Cancelling the caller does not stop the
        delivery (it still reaches every sink; :meth:`drain` waits for it)."""
        await self.protect(self._to_all(reading, device))

    async def protect(self, work: Awaitable[T]) -> T:
        """Run ``work`` (that feeds the sinks) to its end whatever happens to the caller, and
        count it among the deliveries :meth:`drain` waits for. Returns its result or raises
        its exception; a cancelled caller gets CancelledError while the work goes on."""
        task: asyncio.Task[T] = asyncio.ensure_future(work)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return await asyncio.shield(task)

    async def _to_all(self, reading: Reading, device: DeviceConfig) -> None:
        for sink in list(self.sinks):
            try:
                await sink.handle(reading, device)
            except Exception:  # a sink's bug must not lose the other sinks' copy
                self._on_error(sink, device)

    async def drain(self, timeout: float = DRAIN_TIMEOUT) -> int:
        """Wait (at most ``timeout`` s) until every delivery in flight has reached all its
        sinks; then cancel what is left (logged) and return how many were cut short."""
        if not self._inflight:
            return 0
        pending = set(self._inflight)
        _, late = await asyncio.wait(pending, timeout=timeout)
        for task in late:
            task.cancel()
        if late:
            log.error("%d readings were still being delivered to the sinks after %.0f s: "
                      "cut short at stop", len(late), timeout)
            await asyncio.wait(late)
        return len(late)
