"""Benchmark worker: polls printers with one shared SnmpClient + PrinterProbe (the collector's
code path) in a process of its own, so that its CPU time is its own.

Reads a JSON spec ``{"printers": [...], "options": {...}}`` (see ``bench.common.PollOptions``) on
stdin. Prepares every target up front (as the scheduler does), runs one full warm-up cycle (the
collector's first poll of a device is always full), then the measured cycles, each over the whole
fleet with at most ``concurrency`` polls in flight. Prints ``measure-start`` / ``measure-end``
around the measured window and, last, ``result {json}``. Not meant to be run by hand.

``options.experiments`` names what-if changes (:data:`EXPERIMENTS`) measured beside the real code
in the same run; the real code (probes/) is never edited by the benchmarks.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import json
import resource
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from typing import Any


def _block_pysmi() -> None:
    """A runtime install has no pysmi (FIELD-NOTES); the venv has it for snmpsim. Hide it before
    pysnmp is imported so that the engine is built as it is in production."""
    for name in ("pysmi", "pysmi.reader", "pysmi.reader.url"):
        sys.modules[name] = None  # type: ignore[assignment]


def _engine_register() -> None:
    """SnmpClient.prepare builds a target's objects, but pysnmp registers the target in the engine
    (LCD.configure → add_target_address) only at its first request, lazily under traffic.
    Register it in prepare(), up front, as its docstring intends."""
    from pysnmp.hlapi.v3arch.asyncio.cmdgen import LCD

    import probes.snmp as snmp

    original = snmp.SnmpClient._prepare

    async def prepare_and_register(self: snmp.SnmpClient, target: snmp.SnmpTarget
                                   ) -> tuple[Any, Any, Any]:
        fresh = target not in self._prepared
        auth, transport, context = await original(self, target)
        if fresh:
            LCD.configure(self._engine, auth, transport, context.contextName)
        return auth, transport, context

    setattr(snmp.SnmpClient, "_prepare", prepare_and_register)  # noqa: B010


def _gc_freeze() -> None:
    """After start-up (targets registered, first full cycle done) move every object alive to
    the permanent generation, so that full collections stop rescanning the engine's MIB tree,
    the registered targets and the static-column caches (the collector could do this once)."""
    gc.collect()
    gc.freeze()


def _pysnmp_engine() -> None:
    """The v1/v2c path before issue 9: every request through pysnmp's engine (``lean=False``),
    to measure the lean transport against it in the same run."""
    from probes import snmp

    original = snmp.SnmpClient.create.__func__  # type: ignore[attr-defined]

    async def create(cls: type[snmp.SnmpClient], /, **kwargs: Any) -> snmp.SnmpClient:
        kwargs.setdefault("lean", False)
        client: snmp.SnmpClient = await original(cls, **kwargs)
        return client

    setattr(snmp.SnmpClient, "create", classmethod(create))  # noqa: B010


# What-if changes, applied in this worker process only, to measure an idea before anyone changes
# the real code (probes/snmp.py has its own owner). Each is named in the results. BEFORE ones
# patch probes.snmp at start; AFTER_WARMUP ones run after the warm-up cycle, before measuring.
BEFORE: dict[str, Callable[[], None]] = {
    "engine-register": _engine_register,
    "pysnmp-engine": _pysnmp_engine,
}
AFTER_WARMUP: dict[str, Callable[[], None]] = {"gc-freeze": _gc_freeze}
# "adaptive-limit" (probes/limiter.py instead of the fixed semaphore) is applied in poll();
# "uvloop" runs the worker on uvloop's event loop (libuv) instead of asyncio's, in main().
# ("varbind-cache" is gone: probes/snmp.py's _object_type has done it since issue 9.)
EXPERIMENTS = (*BEFORE, *AFTER_WARMUP, "adaptive-limit", "uvloop")


def _rss_mb() -> float:
    """Resident set size now (VmRSS), MB; ``getrusage`` only knows the peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _top(snapshot: tracemalloc.Snapshot, key: str, count: int) -> list[tuple[str, float, int]]:
    """The ``count`` largest holders of traced memory grouped by ``key`` ("filename" or
    "lineno"): (where, MB, blocks), paths shortened to the part after site-packages or the
    repository."""
    out = []
    for stat in snapshot.statistics(key)[:count]:
        frame = stat.traceback[0]
        where = frame.filename
        for cut in ("site-packages/", "/lib/python3.11/"):
            if cut in where:
                where = where.split(cut, 1)[1]
                break
        else:
            where = where.rsplit("/", 2)[-2] + "/" + where.rsplit("/", 1)[-1] if "/" in where \
                else where
        if key == "lineno":
            where += f":{frame.lineno}"
        out.append((where, round(stat.size / 2**20, 2), stat.count))
    return out


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))]


async def poll(spec: dict[str, Any]) -> dict[str, Any]:
    from probes.model import Reading
    from probes.printer import PrinterProbe
    from probes.secret import Secret
    from probes.snmp import SnmpClient, SnmpCredentials, SnmpTarget

    opts = spec["options"]
    # popped, and gone once the targets are built: the spec's JSON (6 MB at 10,000 printers)
    # is the benchmark's, the collector has its device configs instead
    printers = spec.pop("printers")
    targets = [
        SnmpTarget(p["host"], p["port"], SnmpCredentials(community=Secret(p["community"])),
                   timeout=opts["timeout"], retries=opts["retries"],
                   max_repetitions=opts["max_repetitions"])
        for p in printers
    ]
    names = [p["name"] for p in printers]
    del printers
    rss = {"imported": _rss_mb()}
    traced: dict[str, Any] = {}
    client = await SnmpClient.create()
    probe = PrinterProbe(client)
    rss["client"] = _rss_mb()
    sem: Any = asyncio.Semaphore(opts["concurrency"])
    adaptive = "adaptive-limit" in opts.get("experiments", [])
    if adaptive:  # probes/limiter.py instead of a fixed bound (at most --concurrency)
        from probes.limiter import AdaptiveLimit

        sem = AdaptiveLimit(opts["concurrency"], minimum=min(10, opts["concurrency"]))
        await sem.start()

    # The latest reading of each printer, as the collector keeps it (the scheduler's last good
    # reading and the state cache hold the same object): a cycle's readings are tallied as they
    # come, never held in a list beside these.
    latest: list[Reading | None] = [None] * len(targets)
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    tally = [0, 0, 0, 0]  # ok, failed, PDUs, retries (measured cycles only)

    async def one(i: int, full: bool, measured: bool) -> None:
        """Printer ``i``'s poll; its caller took a slot of ``sem`` for it."""
        try:
            reading = await probe.collect(targets[i], names[i], full=full)
        finally:
            sem.release()
        latest[i] = reading
        if not measured:
            return
        latencies.append(reading.cost.duration_s)
        tally[2] += reading.cost.pdus
        tally[3] += reading.cost.retries
        if reading.error is None:
            tally[0] += 1
        else:
            tally[1] += 1
            errors[reading.error.split(":", 1)[0]] += 1

    async def one_cycle(full: Callable[[int], bool], measured: bool) -> None:
        """Every printer once, each poll's task started when a slot is free: the collector's
        scheduler holds a task only while a poll runs (collector/scheduler.py), and its polls
        are spread over the interval, so that it never holds one per printer waiting."""
        running: set[asyncio.Task[None]] = set()
        for i in range(len(targets)):
            await sem.acquire()
            task = asyncio.create_task(one(i, full(i), measured))
            running.add(task)
            task.add_done_callback(running.discard)
        await asyncio.gather(*running)

    try:
        started = time.perf_counter()
        for target in targets:
            await client.prepare(target)
        setup_s = time.perf_counter() - started

        started = time.perf_counter()
        rss["prepared"] = _rss_mb()
        await one_cycle(lambda i: True, False)
        warmup_wall_s = time.perf_counter() - started
        rss["warm-up"] = _rss_mb()

        for name in opts.get("experiments", []):
            if name in AFTER_WARMUP:
                AFTER_WARMUP[name]()
        every = opts["full_every"]
        cycle_walls: list[float] = []
        full_polls = 0
        profiler = cProfile.Profile() if opts.get("profile") else None
        print("measure-start", flush=True)
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        wall0 = time.perf_counter()
        if profiler:
            profiler.enable()
        for cycle in range(opts["cycles"]):
            fulls = [every == 1 or (every > 1 and (cycle + i) % every == 0)
                     for i in range(len(targets))]
            full_polls += sum(fulls)
            c0 = time.perf_counter()
            await one_cycle(fulls.__getitem__, True)
            cycle_walls.append(round(time.perf_counter() - c0, 3))
        if profiler:
            profiler.disable()
        wall_s = time.perf_counter() - wall0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        print("measure-end", flush=True)
        rss["end"] = _rss_mb()
        if tracemalloc.is_tracing():  # what holds memory now, with every latest reading alive
            snapshot = tracemalloc.take_snapshot().filter_traces(
                (tracemalloc.Filter(False, tracemalloc.__file__),))
            top = opts.get("tracemalloc", 0)
            traced = {"total_mb": round(sum(t.size for t in snapshot.traces) / 2**20, 2),
                      "by_file": _top(snapshot, "filename", top),
                      "by_line": _top(snapshot, "lineno", top)}
        if profiler:
            profiler.dump_stats(opts["profile"])
    finally:
        client.close()
        if adaptive:
            await sem.close()

    ok, failed, pdus, retries = tally
    polls = ok + failed
    parts = [f"{100 * full_polls / max(1, polls):.0f} % full polls",
             f"{pdus / max(1, polls):.1f} PDUs/poll", f"{retries} retries",
             f"max_rep {opts['max_repetitions']}", *opts.get("experiments", [])]
    if adaptive:
        parts.append(f"limit now {sem.limit}, peak in flight {sem.peak}")
    detail = ", ".join(parts)
    return {
        "polls": polls, "ok": ok, "failed": failed, "errors": dict(errors),
        "cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
        "wall_s": wall_s,
        "peak_rss_mb": ru1.ru_maxrss / 1024,
        "latency_p50_s": _percentile(latencies, 0.5),
        "latency_p95_s": _percentile(latencies, 0.95),
        "cycle_wall_s": cycle_walls,
        "setup_s": setup_s,
        "warmup_wall_s": warmup_wall_s,
        "detail": detail,
        "rss_stages_mb": {k: round(v, 1) for k, v in rss.items()},
        "traced": traced,
    }


def main() -> int:
    spec = json.load(sys.stdin)
    if spec["options"].get("tracemalloc"):
        tracemalloc.start(1)  # before anything is imported: pysnmp's share is counted too
    if not spec["options"].get("with_pysmi"):
        _block_pysmi()
    for name in spec["options"].get("experiments", []):
        if name in BEFORE:
            BEFORE[name]()
    if "uvloop" in spec["options"].get("experiments", []):
        import uvloop  # a bench-only what-if, installed by hand (docs/benchmarks.md)

        result = uvloop.run(poll(spec))
    else:
        result = asyncio.run(poll(spec))
    print("result " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
