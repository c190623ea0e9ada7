"""Fuzz run: the printer probe against the fuzzing agent (tests/probes/fuzzresponder.py).

The agent serves the hand-made jammed printer (jammed bit, hrDeviceStatus down, a critical jam
alert) and garbles its answers, seeded, in each of its modes (duplicates, endless, repeated and
backwards walks, wrong request-ids and PDU types, truncated and bit-flipped bytes, wrong value
types, huge integers, oversized strings) at a rate of 1.0 or 0.3, over SNMPv1 and v2c, through
the lean path and pysnmp's engine. Each trial is one ``PrinterProbe.collect`` with the default
deadline (``probes.printer.poll_deadline``); ``--check N`` also runs N trials as
``fleetwatch check --json`` subprocesses. Beside it, the peer: net-snmp's ``snmpbulkwalk`` of the
same columns against the same garbage, with the same timeout and retries (``--peer N``).

Counted per trial, and printed (never asserted; the suite asserts a bounded run of the same,
tests/probes/test_snmp_fuzz.py):
- exceptions out of ``collect`` and errors the event loop logged from callbacks (tracebacks);
- polls past their deadline plus one second, and the slowest poll against its deadline;
- readings of the jammed printer healthier than critical (``ok``/``warning``);
- answers never readable (wrong request-id, wrong PDU type, truncated, at rate 1.0) that did
  not end ``malformed_answer``;
- ``check``: tracebacks on stderr, exit codes other than 2 (read the jam) or 3.

    .venv/bin/python -m bench.snmp_fuzz --trials 2000 --check 100 --peer 100 --seed 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probes import printer_mib as mib
from probes.printer import PrinterProbe, poll_deadline
from probes.snmp import SnmpClient, SnmpCredentials, SnmpTarget
from tests.probes.fuzzresponder import ALWAYS_MALFORMED, MODES, FuzzAgent

TIMEOUT, RETRIES = 0.5, 1


def plan(count: int, seed: int) -> list[tuple[str, float, str, bool, int]]:
    """(mode, rate, version, lean, seed) for ``count`` trials, spread evenly over the modes."""
    rng = random.Random(seed)
    return [(MODES[i % len(MODES)], rng.choice((1.0, 0.3)), rng.choice(("1", "2c")),
             rng.random() < 0.75, rng.randrange(1 << 30)) for i in range(count)]


class Tally:
    def __init__(self) -> None:
        self.results: Counter[tuple[str, str]] = Counter()
        self.exceptions = 0
        self.overruns = 0
        self.healthier = 0
        self.unflagged = 0
        self.worst_ratio = 0.0
        self.worst_s = 0.0
        self.seconds = 0.0

    def add(self, mode: str, rate: float, lean: bool, result: str, status: str,
            seconds: float, deadline: float) -> None:
        self.results[(mode, result)] += 1
        self.seconds += seconds
        self.worst_s = max(self.worst_s, seconds)
        self.worst_ratio = max(self.worst_ratio, seconds / deadline)
        if seconds > deadline + 1.0:
            self.overruns += 1
        if status in {"ok", "warning"}:
            self.healthier += 1
        if rate == 1.0 and mode in ALWAYS_MALFORMED and result != "malformed_answer":
            self.unflagged += 1


async def probe_trials(agent: FuzzAgent, port: int, trials: list[Any]) -> Tally:
    tally = Tally()
    clients = {True: await SnmpClient.create(lean=True),
               False: await SnmpClient.create(lean=False)}
    try:
        for mode, rate, version, lean, seed in trials:
            agent.configure(mode, seed, rate)
            target = SnmpTarget("127.0.0.1", port, SnmpCredentials(version=version),
                                timeout=TIMEOUT, retries=RETRIES)
            started = time.perf_counter()
            try:
                reading = await PrinterProbe(clients[lean]).collect(target)
            except Exception as err:  # counted: what the suite forbids
                tally.exceptions += 1
                print(f"exception: {mode} rate={rate} v{version} lean={lean} seed={seed}: "
                      f"{err!r}")
                continue
            seconds = time.perf_counter() - started
            if seconds > poll_deadline(target) + 1.0:
                print(f"past the deadline: {mode} rate={rate} v{version} lean={lean} "
                      f"seed={seed}: {seconds:.2f} s, {reading.result}: {reading.error}")
            tally.add(mode, rate, lean, reading.result, reading.status, seconds,
                      poll_deadline(target))
    finally:
        for client in clients.values():
            client.close()
        await asyncio.sleep(0.2)
    return tally


async def check_trials(agent: FuzzAgent, port: int, trials: list[Any]) -> tuple[Tally, Counter[int],
                                                                               int]:
    tally, codes, tracebacks = Tally(), Counter[int](), 0
    deadline = poll_deadline(SnmpTarget("127.0.0.1", port, timeout=TIMEOUT, retries=RETRIES))
    for mode, rate, version, _lean, seed in trials:
        agent.configure(mode, seed, rate)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "collector.cli", "check", "127.0.0.1", "--port", str(port),
            "--snmp-version", version, "--timeout", str(TIMEOUT), "--retries", str(RETRIES),
            "--json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if b"Traceback" in err:
            tracebacks += 1
        try:
            data = json.loads(out)
        except ValueError:
            codes[-1] += 1
            continue
        code = proc.returncode if proc.returncode is not None else -1
        codes[code] += 1
        if code != (2 if data["result"] == "ok" else 3):
            tally.unflagged += 1
        tally.add(mode, rate, True, data["result"], data["status"], data["cost"]["duration_s"],
                  deadline)
    return tally, codes, tracebacks


async def peer_trials(agent: FuzzAgent, port: int, trials: list[Any]) -> dict[str, Any]:
    """net-snmp's snmpbulkwalk (snmpwalk for v1) of the printer columns, same timeout and
    retries: its wall time and exit status against the same garbage."""
    exe = {"1": shutil.which("snmpwalk"), "2c": shutil.which("snmpbulkwalk")}
    if not all(exe.values()):
        return {"skipped": "net-snmp's snmpwalk/snmpbulkwalk not installed"}
    worst, past, failed, total = 0.0, 0, 0, 0.0
    hung = 0
    limit = 60.0
    for mode, rate, version, _lean, seed in trials:
        agent.configure(mode, seed, rate)
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            str(exe[version]), "-v", version, "-c", "public", "-t", str(TIMEOUT), "-r",
            str(RETRIES), "-On", f"127.0.0.1:{port}", mib.PRT_ALERT_ENTRY,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            await asyncio.wait_for(proc.wait(), limit)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            hung += 1
        seconds = time.perf_counter() - started
        total += seconds
        worst = max(worst, seconds)
        if seconds > TIMEOUT * (RETRIES + 1) * 3 + 1.0:
            past += 1
        if proc.returncode:
            failed += 1
    return {"trials": len(trials), "worst_s": round(worst, 2),
            "mean_s": round(total / max(1, len(trials)), 3), "past_our_deadline_plus_1s": past,
            f"killed_after_{limit:g}s": hung,
            "non_zero_exit": failed}


def report(name: str, tally: Tally, count: int) -> None:
    results = Counter[str]()
    for (_mode, result), n in tally.results.items():
        results[result] += n
    print(f"{name}: {count} trials, {tally.seconds:.1f} s polling; results {dict(results)}")
    print(f"  exceptions {tally.exceptions}, past deadline + 1 s {tally.overruns}, "
          f"jammed printer read ok/warning {tally.healthier}, never-readable answers not "
          f"malformed_answer (check: wrong exit code) {tally.unflagged}; slowest poll "
          f"{tally.worst_s:.2f} s = {tally.worst_ratio:.2f} x its deadline")


async def run(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    logged: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: logged.append(context))
    agent, port = await FuzzAgent.start()
    try:
        trials = plan(args.trials, args.seed)
        started = time.perf_counter()
        tally = await probe_trials(agent, port, trials)
        report("probe API", tally, len(trials))
        print(f"  errors logged by the event loop (callback tracebacks): {len(logged)}; "
              f"wall {time.perf_counter() - started:.1f} s")
        for mode in MODES:
            row = {r: n for (m, r), n in sorted(tally.results.items()) if m == mode}
            print(f"    {mode:<10} {row}")
        bad = tally.exceptions + tally.overruns + tally.healthier + tally.unflagged + len(logged)
        if args.check:
            sample = plan(args.check, args.seed + 1)
            ctally, codes, tracebacks = await check_trials(agent, port, sample)
            report("fleetwatch check", ctally, len(sample))
            print(f"  exit codes {dict(sorted(codes.items()))}, tracebacks on stderr "
                  f"{tracebacks}")
            bad += ctally.overruns + ctally.healthier + ctally.unflagged + tracebacks
        if args.peer:
            peer = await peer_trials(agent, port, plan(args.peer, args.seed + 2))
            print(f"peer (net-snmp walk of prtAlertTable, -t {TIMEOUT:g} -r {RETRIES}): {peer}")
    finally:
        agent.close()
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--check", type=int, default=100, help="trials through fleetwatch check")
    ap.add_argument("--peer", type=int, default=0, help="trials through net-snmp's walk")
    ap.add_argument("--seed", type=int, default=1)
    return asyncio.run(run(ap.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
