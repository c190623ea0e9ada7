"""Polls every device's probes on schedule.

One timer per (device, probe), and a task only while its poll runs (a sleeping task per device
cost 1.5 KB: 15 MB at 10,000 printers, docs/benchmarks.md "Issue 9 follow-up"); first polls
spread over ``jitter * interval``, a global concurrency limit, per-poll timeouts (a deadline
per printer poll, see :func:`probes.printer.snmp_deadline`; the connectivity probes' own), and
a record of each poll's cost on the reading.
A printer whose SNMP poll times out is first "asleep?": retried with backoff while its last
reading is re-sent marked stale (or, if it has not answered since the collector started, a
``reachable=False, stale=True`` "no answer yet" reading); only after ``sleep_grace`` of silence
does it become unreachable. Other failures (a refused port, wrong SNMPv3 keys, a failing HTTP
check) and other probes get no grace. Static SNMP columns are walked every ``full_every`` polls;
levels and status every poll.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import aiohttp

from collector.config import CollectorSettings, DeviceConfig, ProbeConfig
from collector.pipeline import Pipeline, ReadingSink
from probes.base import Probe, Resources, Target
from probes.limiter import AdaptiveLimit
from probes.model import Reading
from probes.printer import mark_stale
from probes.registry import PROBES
from probes.snmp import SnmpClient

log = logging.getLogger(__name__)

SLEEP_RETRY_FIRST = 5.0  # seconds before the first retry of a silent printer; doubles each time


@dataclass(slots=True)
class ProbeState:
    last_good: Reading | None = None
    first_failure: float | None = None
    failures: int = 0
    polls: int = 0
    down_logged: bool = False


@dataclass(slots=True)
class SchedulerStats:
    polls: int = 0
    failures: int = 0
    missed: int = 0  # polls that started later than a whole interval after they were due
    sink_errors: int = 0


def may_be_asleep(probe: Probe, reading: Reading) -> bool:
    """Printers doze and stop answering SNMP for a while: only a poll of a kind whose devices
    sleep, and that timed out, gets the sleep grace. A refusal, an authentication failure or
    another probe's failure is data at once."""
    return probe.sleeps and reading.result == "timeout"


def target_of(device: DeviceConfig, probe: ProbeConfig, poll: int = 0) -> Target:
    """What a probe of ``device`` polls (the SNMP target for kinds that speak SNMP)."""
    snmp = device.snmp_target() if PROBES[probe.kind].sleeps else None
    return Target(device.name, device.host, device.port, probe, snmp=snmp, poll=poll)


class Scheduler:
    def __init__(
        self,
        devices: Sequence[DeviceConfig],
        settings: CollectorSettings,
        sinks: Sequence[ReadingSink],
        snmp: SnmpClient,
        http: aiohttp.ClientSession,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._devices = list(devices)
        self._settings = settings
        self.pipeline = Pipeline(sinks, self._sink_failed)
        self._snmp = snmp
        resources = Resources(snmp, http)
        # One probe object per kind in use: it may keep per-target state (a printer's columns).
        kinds = {p.kind for d in self._devices for p in d.probes}
        self._probes: dict[str, Probe] = {kind: PROBES[kind](resources) for kind in kinds}
        self._clock = clock
        # At most max_concurrency polls in flight; fewer while the event loop lags behind
        # (probes/limiter.py: a fixed bound safe on one core wastes a faster one).
        most = max(1, settings.max_concurrency)
        self.limit = AdaptiveLimit(most, minimum=min(10, most))
        # Every (device, probe) polled; the timer of each one waiting for its next poll, and
        # the tasks of the polls running now (each ends by arming its job's next timer).
        self._jobs: list[tuple[DeviceConfig, ProbeConfig]] = []
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.states: dict[tuple[str, str], ProbeState] = {}
        self.stats = SchedulerStats()
        self._frozen = False

    async def start(self) -> None:
        await self.limit.start()
        for device in self._devices:
            if any(self._probes[p.kind].sleeps for p in device.probes):
                try:
                    await self._snmp.prepare(device.snmp_target())
                except Exception:  # a bad host name is a reading later, not a crash now
                    log.debug("cannot prepare %s", device.name, exc_info=True)
            for probe in device.probes:
                self.states[(device.name, probe.kind)] = ProbeState()
                self._jobs.append((device, probe))
                first = random.uniform(0, self._settings.jitter * probe.interval)
                self._arm(len(self._jobs) - 1, self._clock() + first)
        log.info("polling %d devices (%d probes)", len(self._devices), len(self._jobs))

    async def stop(self) -> None:
        """Cancel the polls, then wait for the readings already handed to the sinks to reach
        all of them (collector/pipeline.py: all sinks or none), so that the app may close the
        sinks next."""
        self._stopping = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        self._running.clear()
        await self.pipeline.drain()
        await self.limit.close()

    def _sink_failed(self, sink: ReadingSink, device: DeviceConfig) -> None:
        self.stats.sink_errors += 1
        log.exception("sink %s failed on %s", type(sink).__name__, device.name)

    def _arm(self, job: int, due: float) -> None:
        """Start job ``job``'s next poll at ``due`` (on :attr:`_clock`)."""
        if self._stopping:
            return
        self._timers[job] = asyncio.get_running_loop().call_later(
            max(0.0, due - self._clock()), self._begin, job, due)

    def _begin(self, job: int, due: float) -> None:
        self._timers.pop(job, None)
        device, probe = self._jobs[job]
        task = asyncio.create_task(self._run(job, due), name=f"poll:{device.name}:{probe.kind}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, job: int, due: float) -> None:
        """One poll of job ``job``, due at ``due``; then arms the next one: an interval after
        ``due`` (or now, if that has passed), or after the delay the poll asked for (a sleeping
        printer's retry)."""
        device, probe = self._jobs[job]
        interval = probe.interval
        started = self._clock()
        if started - due > interval:
            self.stats.missed += int((started - due) // interval)
        try:
            delay = await self.poll_once(device, probe)
        except Exception:  # never let one device's bug stop its polling
            log.exception("poll of %s/%s failed", device.name, probe.kind)
            delay = interval
        self._arm(job, max(due + interval, self._clock()) if delay >= interval
                  else self._clock() + delay)

    async def poll_once(self, device: DeviceConfig, probe: ProbeConfig) -> float:
        """Poll, apply the sleep grace, hand the reading to the sinks. Returns the delay
        until the next poll of this probe."""
        state = self.states.setdefault((device.name, probe.kind), ProbeState())
        async with self.limit:
            reading = await self._probes[probe.kind].collect(target_of(device, probe, state.polls))
        state.polls += 1
        self.stats.polls += 1
        if not self._frozen and self._jobs and self.stats.polls >= len(self._jobs):
            # After the first cycle the engine, targets and static-column caches are long-lived:
            # move them out of the collector's sight so full collections stop rescanning them
            # (7.7 of 50 CPU-seconds at 3,000 printers, docs/benchmarks.md).
            gc.freeze()
            self._frozen = True
        reading, delay = self._apply_grace(device, probe, state, reading)
        await self.pipeline.deliver(reading, device)  # reaches every sink, even if we are cancelled
        return delay

    def _apply_grace(self, device: DeviceConfig, probe: ProbeConfig, state: ProbeState,
                     reading: Reading) -> tuple[Reading, float]:
        now = self._clock()
        if reading.reachable:
            if state.down_logged:
                log.warning("%s is back (%s)", device.name, probe.kind)
            elif state.first_failure is not None:
                log.info("%s woke up (%s)", device.name, probe.kind)
            state.last_good, state.first_failure, state.failures = reading, None, 0
            state.down_logged = False
            return reading, probe.interval
        self.stats.failures += 1
        state.failures += 1
        if state.first_failure is None:
            state.first_failure = now
            # Next poll is full: a woken printer may have had a board or cartridge swapped.
            self._probes[probe.kind].forget(target_of(device, probe))
        silent_for = now - state.first_failure
        if may_be_asleep(self._probes[probe.kind], reading) and silent_for < self._settings.sleep_grace:
            backoff = min(probe.interval, SLEEP_RETRY_FIRST * 2 ** (state.failures - 1))
            log.debug("%s silent for %.0f s: asleep? (%s)", device.name, silent_for, reading.error)
            if state.last_good is not None:
                return mark_stale(state.last_good, reading), backoff
            # Not heard since the collector started (a restart overnight, say): no values to
            # keep, but no outage yet either.
            return replace(reading, stale=True), backoff
        if not state.down_logged:
            log.warning("%s is unreachable (%s): %s", device.name, probe.kind, reading.error)
            state.down_logged = True
        return reading, probe.interval
