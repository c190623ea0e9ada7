"""What happens to an accepted agent report (:class:`Ingest`), and agent silence.

Contracts:
- :meth:`Ingest.handle_batch` asks which of the batch's (agent id, seq) keys are not stored yet
  (read-only), writes those reports' ``host_*`` lines and the lines of their :class:`Reading`
  (probe ``agent``, summary ``metrics``) to the InfluxDB writer in one write per batch (one
  group commit, fsynced in the spool), and only then records the keys (one transaction,
  ``AgentStore.accept``); the reports that call found new go on to every other sink in order
  (state cache, fault engine), then their inventory to the store. A retried batch is counted
  as duplicates and changes nothing; a SIGKILL at any point loses no report (the order is
  explained at :meth:`Ingest._handle_batch`). :meth:`Ingest.host_inventories` reads the latest
  inventory per device back (the asset list, ``collector.assets``).
- An agent maps to the config's device of the same name (or whose ``host`` is its host name);
  otherwise it is a device of its own (kind ``settings.device_kind``). Its thresholds are the
  device's, completed by ``settings.thresholds`` for metrics the device does not name.
- Silence (:meth:`Ingest.check_silence`): an agent whose last report is older than
  ``silent_after`` seconds counted *inside its device's business hours* (and outside its
  maintenance windows) is sent to the sinks as ``reachable=False`` (``result="timeout"``); the
  fault engine debounces it into an ``unreachable:agent`` ticket, and holds it while outside
  business hours. A PC switched off in the evening is never silent overnight.
- Nothing here raises for a sink's trouble: a failing sink is logged with its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from pydantic import ValidationError

from agent.schema import Inventory, Report
from collector.config import Config, DeviceConfig, Schedule, Threshold
from collector.faults.observe import threshold_level
from collector.faults.windows import effective_schedule, suppression
from collector.ingest.lines import HostTags, host_tags, report_lines
from collector.ingest.rollup import HourlyRollup
from collector.ingest.settings import IngestSettings
from collector.ingest.store import AgentRow, AgentStore
from collector.pipeline import Pipeline, ReadingSink
from collector.storage import StorageError
from collector.storage.influx import InfluxWriter
from collector.storage.lineproto import reading_lines
from probes.model import Reading, Status

log = logging.getLogger(__name__)

PROBE = "agent"
# Silence is counted in steps of this many seconds, backwards from now.
SILENCE_STEP = 300.0
SILENCE_LOOKBACK = 14 * 86400.0
CPU_WINDOW_MAX = 1000


@dataclass(frozen=True, slots=True)
class HostInventory:
    """The latest inventory an agent sent (``time``: the report's), for the asset list."""

    device: DeviceConfig
    time: float
    last_seen: float | None
    inventory: Inventory


@dataclass(slots=True)
class IngestStats:
    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    silent: int = 0
    sink_errors: int = 0


def business_seconds(schedule: Schedule, start: float, end: float, enough: float) -> float:
    """Seconds of [start, end] during which a ticket could open (inside business hours, outside
    maintenance), counted backwards from ``end`` in :data:`SILENCE_STEP` steps and stopping once
    ``enough`` is reached. Without business hours or maintenance it is ``end - start``."""
    if not schedule.business_hours and not schedule.maintenance:
        return max(0.0, end - start)
    total = 0.0
    t = end
    floor = max(start, end - SILENCE_LOOKBACK)
    while t > floor and total < enough:
        step = min(SILENCE_STEP, t - floor)
        if suppression(schedule, t - step / 2) is None:
            total += step
        t -= step
    return total


class CpuWindow:
    """The time-weighted mean CPU of one agent over the last ``window`` seconds of reports, in
    O(1) per report (running sums; at most :data:`CPU_WINDOW_MAX` reports kept)."""

    __slots__ = ("_items", "_sum_pw", "_sum_w")

    def __init__(self) -> None:
        self._items: deque[tuple[float, float, float]] = deque()  # (time, percent, weight)
        self._sum_pw = 0.0
        self._sum_w = 0.0

    def add(self, t: float, percent: float, weight: float, window: float) -> float | None:
        """Add one report; the mean once the window is (nearly) covered by reports, else
        None ("sustained" needs the whole window)."""
        items = self._items
        if items and t <= items[-1][0]:
            return None  # out of order or the same report again (a retry): ignored
        items.append((t, percent, weight))
        self._sum_pw += percent * weight
        self._sum_w += weight
        while items and (items[0][0] < t - window or len(items) > CPU_WINDOW_MAX):
            _, p, w = items.popleft()
            self._sum_pw -= p * w
            self._sum_w -= w
        if self._sum_w < 0.8 * window or self._sum_w <= 0:
            return None
        return min(100.0, max(0.0, self._sum_pw / self._sum_w))


class Ingest:
    def __init__(self, store: AgentStore, settings: IngestSettings, config: Config,
                 sinks: list[ReadingSink], *, now: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settings = settings
        self.config = config
        self.sinks = sinks
        # Every accepted report reaches every sink, even if its HTTP handler is cancelled at
        # shutdown; stop() waits for them (collector/pipeline.py: all sinks or none).
        self.pipeline = Pipeline(sinks, self._sink_failed)
        self._now = now
        self.stats = IngestStats()
        self._cpu: dict[str, CpuWindow] = {}
        self._silent: set[str] = set()
        self._defaults = tuple(Threshold(t.metric, t.warning, t.critical, t.direction, t.hysteresis)
                               for t in settings.thresholds)
        self._devices: dict[str, DeviceConfig] = {}
        self._tags: dict[str, HostTags] = {}  # agent id -> its device's escaped tags
        self._task: asyncio.Task[None] | None = None
        self._locks: dict[str, asyncio.Lock] = {}  # agent id -> one batch at a time
        # hourly host rollups (collector/ingest/rollup.py), written through the same writers
        self.rollup = HourlyRollup(self._write_rollups, now=now)

    async def _write_rollups(self, lines: list[str]) -> None:
        for w in self.sinks:
            if isinstance(w, InfluxWriter):
                await w.write_lines(lines)

    # --- devices -----------------------------------------------------------------------------
    def device_for(self, agent: AgentRow) -> DeviceConfig:
        found = self._devices.get(agent.id)
        if found is not None:
            return found
        name = agent.hostname
        short = name.split(".")[0].lower()
        device = next((d for d in self.config.devices if d.name == name), None) or next(
            (d for d in self.config.devices
             if d.host.lower() in (name.lower(), short) or d.host.split(".")[0].lower() == short),
            None)
        if device is None:
            device = DeviceConfig(name=name, host=name, kind=self.settings.device_kind)
        own = {t.metric for t in device.thresholds}
        device = replace(device, thresholds=(
            *device.thresholds, *(t for t in self._defaults if t.metric not in own)))
        self._devices[agent.id] = device
        return device

    # --- reports -----------------------------------------------------------------------------
    def _summary(self, agent_id: str, report: Report) -> dict[str, float]:
        s = report.snapshot
        out: dict[str, float] = {}
        if s.cpu.percent is not None:
            out["cpu_percent"] = s.cpu.percent
            window = self._cpu.setdefault(agent_id, CpuWindow())
            mean = window.add(report.time, s.cpu.percent, report.interval,
                              self.settings.cpu_window)
            if mean is not None:
                out["cpu_sustained_percent"] = mean
        for key, value in (("load1", s.cpu.load1), ("mem_used_percent", s.memory.used_percent),
                           ("swap_used_percent", s.memory.swap_used_percent
                            if s.memory.swap_total_bytes else None),
                           ("uptime_seconds", s.uptime_seconds)):
            if value is not None:
                out[key] = float(value)
        used = [d.used_percent for d in s.disks if d.used_percent is not None]
        if used:
            out["disk_used_percent"] = max(used)
        return out

    def _reading(self, agent: AgentRow, device: DeviceConfig, report: Report) -> Reading:
        metrics = self._summary(agent.id, report)
        status: Status = "ok"
        problems: list[str] = []
        for th in device.thresholds:
            if th.metric in metrics:
                level = threshold_level(th, metrics[th.metric], None)
                if level is not None:
                    problems.append(f"{th.metric} = {metrics[th.metric]:g}")
                    if level == "critical" or status == "ok":
                        status = "critical" if level == "critical" else "warning"
        return Reading(device=device.name, host=agent.hostname, probe=PROBE, time=report.time,
                       status=status, problems=tuple(problems),
                       uptime_seconds=report.snapshot.uptime_seconds,
                       metrics=tuple(sorted(metrics.items())))

    async def handle_batch(self, agent: AgentRow, reports: Sequence[Report]) -> tuple[int, int]:
        """(accepted, duplicates). Raises for the agents database (the caller answers 503
        and the agent retries: no key was recorded) and StorageError from a closing InfluxDB
        writer (likewise nothing recorded). Once started, the batch is recorded
        and delivered to the end even if the caller is cancelled (a handler cut at shutdown):
        its (agent, seq) keys are never kept without their reports reaching the sinks."""
        return await self.pipeline.protect(self._handle_batch(agent, reports))

    async def _handle_batch(self, agent: AgentRow, reports: Sequence[Report]) -> tuple[int, int]:
        """Runs inside :meth:`Pipeline.protect` (so it is itself the one protected delivery of
        the batch: no task per reading), one batch per agent at a time (a retry that races
        its first try waits for it, then finds its keys stored).

        The order is what makes a crash at any point lose nothing and repeat nothing to the
        sinks after storage (docs/architecture.md, "Durability"):

        1. ``AgentStore.unseen``: which seqs are not stored yet (read-only);
        2. their lines (``host_*`` and the reading's own, what ``InfluxWriter.handle`` would
           format) to every InfluxDB writer in one write per batch: back once fsynced in the
           spool. A writer that raises fails the batch before any key is recorded;
        3. ``AgentStore.accept`` records the keys (INSERT OR IGNORE ... RETURNING, group
           commit): the keys it returns are the reports accepted;
        4. only those go on: rollups, each reading to the other sinks in order (state cache,
           fault engine, ...), the inventory.

        A crash before 3 leaves lines in the spool without keys: the agent's retry writes the
        same points again (same series, timestamp and fields: InfluxDB overwrites them, one
        point) and its readings reach the other sinks once. A crash after 3 leaves keys whose
        lines are already in the spool: the retry is a duplicate."""
        lock = self._locks.get(agent.id)
        if lock is None:
            lock = self._locks[agent.id] = asyncio.Lock()
        async with lock:
            return await self._ordered_batch(agent, reports)

    async def _ordered_batch(self, agent: AgentRow, reports: Sequence[Report]
                             ) -> tuple[int, int]:
        self.stats.batches += 1
        first: dict[int, Report] = {}
        for r in reports:
            first.setdefault(r.seq, r)  # the same seq twice in one batch: the first counts
        unseen = set(await self.store.unseen(agent.id, list(first)))
        fresh = [r for seq, r in first.items() if seq in unseen]
        device = self.device_for(agent)
        sinks = list(self.sinks)
        writers = [s for s in sinks if isinstance(s, InfluxWriter)]
        others = [s for s in sinks if not isinstance(s, InfluxWriter)]
        readings = {r.seq: self._reading(agent, device, r) for r in fresh}
        if writers and fresh:
            tags = self._tags.get(agent.id)
            if tags is None:
                tags = self._tags[agent.id] = host_tags(device)
            lines: list[str] = []
            for report in fresh:
                lines += report_lines(report, device, tags)
                lines += reading_lines(readings[report.seq], device)
            for w in writers:
                # raises once closing; False: accepted but in memory only (spool failing or
                # stalled): no key is recorded, the agent keeps the batch and sends it again
                if not await w.write_lines(lines):
                    raise StorageError(f"{len(lines)} lines not on disk (the spool is failing or "
                                       "slow)")
        new = set(await self.store.accept(agent.id, [(r.seq, r.time) for r in fresh],
                                          now=self._now(), seen=len(reports) - len(fresh)))
        accepted = [r for r in fresh if r.seq in new]
        self.stats.accepted += len(accepted)
        self.stats.duplicates += len(reports) - len(accepted)
        if not accepted:
            return 0, len(reports)
        self._silent.discard(agent.id)
        for report in accepted:  # hourly rollups for the host charts (rollup.py)
            self.rollup.add(report, device)
        for report in accepted:
            for sink in others:
                try:
                    await sink.handle(readings[report.seq], device)
                except Exception:
                    self._sink_failed(sink, device)
        for report in accepted:
            if report.inventory is not None:
                await self.store.put_inventory(agent.id, report.time,
                                               report.inventory.model_dump_json(exclude_none=True))
        return len(accepted), len(reports) - len(accepted)

    def _sink_failed(self, sink: ReadingSink, device: DeviceConfig) -> None:
        self.stats.sink_errors += 1
        log.exception("sink %s failed on an agent report (%s)", type(sink).__name__, device.name)

    async def host_inventories(self) -> dict[str, HostInventory]:
        """The latest stored inventory per device name (the newest when several agents map to
        one device). Revoked agents are left out; a stored inventory that no longer validates
        against :class:`Inventory` is skipped with a warning, never a failure. Raises only for
        the agents database (sqlite3.Error, AgentStoreError)."""
        stored = await self.store.inventories()
        out: dict[str, HostInventory] = {}
        for agent in await self.store.all_agents():
            if agent.revoked_at is not None or agent.id not in stored:
                continue
            at, data = stored[agent.id]
            try:
                inventory = Inventory.model_validate_json(data)
            except ValidationError as err:
                log.warning("agent %s: stored inventory unreadable, left out of the asset "
                            "list: %s", agent.id, err.errors()[0].get("msg", err))
                continue
            device = self.device_for(agent)
            old = out.get(device.name)
            if old is None or at > old.time:
                out[device.name] = HostInventory(device, at, agent.last_seen, inventory)
        return out

    # --- silence -----------------------------------------------------------------------------
    async def check_silence(self) -> list[str]:
        """Send a ``reachable=False`` reading for every live agent silent for ``silent_after``
        business seconds; the agent ids it sent for."""
        now = self._now()
        out = []
        for agent in await self.store.all_agents():
            if agent.revoked_at is not None:
                continue
            last = agent.last_seen if agent.last_seen is not None else agent.enrolled_at
            if now - last < self.settings.silent_after:
                continue  # cannot be silent yet, whatever the hours
            device = self.device_for(agent)
            schedule = effective_schedule(device, self.config.sites)
            quiet = business_seconds(schedule, last, now, self.settings.silent_after)
            if quiet < self.settings.silent_after:
                continue
            if agent.id not in self._silent:
                self._silent.add(agent.id)
                self.stats.silent += 1
                log.info("agent %s (%s) silent since %s", agent.id, device.name,
                         time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(last)))
            hours = (now - last) / 3600
            await self.pipeline.deliver(Reading(
                device=device.name, host=agent.hostname, probe=PROBE, time=now,
                reachable=False, result="timeout", status="unreachable",
                error=f"no agent report for {hours:.1f} h ({quiet / 3600:.1f} h in business "
                      "hours)"), device)
            out.append(agent.id)
        return out

    async def _watch(self) -> None:
        """Silence every ``silence_check_every`` seconds; about hourly, forget (agent, seq)
        keys older than ``seen_retention``."""
        last_prune = 0.0
        while True:
            await asyncio.sleep(self.settings.silence_check_every)
            try:
                await self.check_silence()
                now = self._now()
                if now - last_prune >= 3600:
                    last_prune = now
                    gone = await self.store.prune(now - self.settings.seen_retention)
                    if gone:
                        log.info("forgot %d report keys older than %.0f days", gone,
                                 self.settings.seen_retention / 86400)
            except Exception:  # keep watching; the next round tries again
                log.exception("agent silence check failed")

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch())
        self.rollup.start()

    async def stop(self) -> None:
        """Stop the silence watch, then wait for the batches and readings in flight to reach
        every sink (the app closes the sinks after this)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.pipeline.drain()
        await self.rollup.stop()  # the open hours' segments, before the writer closes
