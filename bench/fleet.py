"""Benchmark "collector at scale": a fleet of simulated printers polled for a fixed number of cycles.

The fleet: ``--printers`` printers, each on its own loopback address (127.0.x.y), served by
net-snmp ``snmpd`` processes (one per recording; each answers the printer subtrees of that
recording as ``override`` lines) — snmpsim answers only ~650 GETs/s per process (FIELD-NOTES).

- ``fleetwatch``: one shared SnmpClient + PrinterProbe (the collector's code path) in its own
  process; every target registered up front, one full warm-up cycle (a collector's first poll of
  a device is full), then ``--cycles`` cycles over the whole fleet with at most ``--concurrency``
  polls in flight. A printer's poll is full every ``--full-every`` cycles, staggered over the
  fleet as the scheduler's jitter staggers it (default 10, the collector's default).
- ``snmp_exporter 0.21``: the same printers, concurrency and cycles through
  prometheus-snmp-exporter (every scrape walks every column: it has no incremental mode).

Reports polls per CPU-second and per wall-second, missed polls (timeouts/errors), peak RSS and
"printers per 60 s on one core" against the target (default 10,000). Figures are reported, never
asserted (docs/benchmarks.md). Run from the repository root:

    .venv/bin/python -m bench.fleet --printers 1000 --concurrency 100 --cycles 3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    EXPERIMENTS,
    Fleet,
    Lab,
    PhaseResult,
    PollOptions,
    SnmpdFleet,
    SnmpsimFleet,
    default_recordings,
    exit_on_sigterm,
    experiment,
    machine,
    run_exporter,
    run_poller,
    table,
    traced_table,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--printers", type=int, default=1000, help="simulated printers")
    ap.add_argument("--concurrency", type=int, default=100, help="polls in flight, both pollers")
    ap.add_argument("--cycles", type=int, default=3, help="measured passes over the fleet")
    ap.add_argument("--full-every", type=int, default=10,
                    help="fleetwatch: full poll every N cycles per printer (1 = always full)")
    ap.add_argument("--also-full", action="store_true",
                    help="also run fleetwatch with every poll full (like-for-like with the exporter)")
    ap.add_argument("--experiment", action="append", default=[], type=experiment,
                    metavar="NAME[,NAME]",
                    help=f"also run fleetwatch with these what-if changes applied together "
                    f"(bench/poller.py): {', '.join(EXPERIMENTS)}")
    ap.add_argument("--simulator", choices=("snmpd", "snmpsim"), default="snmpd")
    ap.add_argument("--recordings", type=Path, default=default_recordings(),
                    help=".snmprec folder, read in place")
    ap.add_argument("--timeout", type=float, default=2.0, help="per SNMP request, seconds")
    ap.add_argument("--retries", type=int, default=1)
    ap.add_argument("--max-repetitions", type=int, default=10, help="GETBULK, both pollers")
    ap.add_argument("--target", type=int, default=10_000, help="printers per 60 s on one core")
    ap.add_argument("--skip-baseline", action="store_true",
                    help="run only the --experiment phases (and the exporter) of fleetwatch")
    ap.add_argument("--skip-exporter", action="store_true")
    ap.add_argument("--tracemalloc", type=int, default=0, metavar="N",
                    help="fleetwatch: trace allocations (slow) and list the N largest holders")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    started = time.perf_counter()
    options = PollOptions(concurrency=args.concurrency, cycles=args.cycles,
                          full_every=args.full_every, timeout=args.timeout, retries=args.retries,
                          max_repetitions=args.max_repetitions, tracemalloc=args.tracemalloc)
    phases: list[PhaseResult] = []
    with Lab() as lab:
        fleet: Fleet = lab.add(SnmpdFleet(args.printers, args.recordings)
                               if args.simulator == "snmpd"
                               else SnmpsimFleet(args.printers, args.recordings))
        fleet.start()
        print(f"# fleet — {machine()}")
        print(f"# simulator: {fleet.describe}; recordings: {args.recordings} "
              f"(started in {time.perf_counter() - started:.1f} s)")
        print(f"# {args.printers:,} printers × {args.cycles} measured cycles, concurrency "
              f"{args.concurrency}, full every {args.full_every}, timeout {args.timeout:g} s, "
              f"retries {args.retries}, max-repetitions {args.max_repetitions}", flush=True)
        pids = fleet.pids()
        if not args.skip_baseline:
            phases.append(run_poller("fleetwatch", fleet.printers, options, pids))
        if args.also_full and args.full_every != 1:
            phases.append(run_poller("fleetwatch all-full", fleet.printers,
                                     replace(options, full_every=1), pids))
        for names in args.experiment:
            phases.append(run_poller(f"fleetwatch +{'+'.join(names)}", fleet.printers,
                                     replace(options, experiments=names), pids))
        if not args.skip_exporter:
            phases.append(run_exporter(fleet.printers, options, pids))
    print()
    print(table(phases, target_per_60s=args.target))
    for phase in phases:
        if phase.traced:
            print("\n" + traced_table(phase))
    print(f"\n# total run {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "phases": [asdict(p) for p in phases]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
