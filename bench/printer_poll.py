"""Benchmark "printer probe": printer polls per CPU-second, Fleetwatch vs prometheus-snmp-exporter.

Both pollers poll the same simulated printers (real recordings, one simulator, loopback) with the
same concurrency, timeout, retries and max-repetitions, one after the other:

- ``fleetwatch full``: PrinterProbe.collect(full=True) — system scalars GET + a multi-column
  GETBULK walk of every column in POLL_COLUMNS, parsed into a Reading (our process only).
- ``fleetwatch dynamic``: the polls between full ones (levels, status, alerts, counters only).
- ``snmp_exporter 0.21``: a hand-written module walking the same columns and GETting the same
  scalars, driven by concurrent HTTP GETs /snmp?target=…&module=… (its process only).

Run from the repository root:  .venv/bin/python -m bench.printer_poll [--help]
Figures are printed, never asserted (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import sys
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
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--printers", type=int, default=26,
                    help="simulated printers (recordings are cycled over loopback addresses)")
    ap.add_argument("--simulator", choices=("snmpsim", "snmpd"), default="snmpsim")
    ap.add_argument("--recordings", type=Path, default=default_recordings(),
                    help=".snmprec folder, read in place")
    ap.add_argument("--concurrency", type=int, default=20, help="polls in flight, both pollers")
    ap.add_argument("--cycles", type=int, default=4, help="measured passes over all printers")
    ap.add_argument("--timeout", type=float, default=2.0, help="per SNMP request, seconds")
    ap.add_argument("--retries", type=int, default=1)
    ap.add_argument("--max-repetitions", type=int, default=10, help="GETBULK, both pollers")
    ap.add_argument("--skip-dynamic", action="store_true", help="no 'fleetwatch dynamic' run")
    ap.add_argument("--experiment", action="append", default=[], type=experiment,
                    metavar="NAME[,NAME]",
                    help=f"also run 'fleetwatch full' with these what-if changes applied together "
                    f"(bench/poller.py): {', '.join(EXPERIMENTS)}")
    ap.add_argument("--skip-exporter", action="store_true")
    ap.add_argument("--with-pysmi", action="store_true",
                    help="let pysnmp load pysmi (the venv has it; a runtime install does not)")
    ap.add_argument("--profile", type=Path, help="cProfile our measured full polls to this file")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    options = PollOptions(concurrency=args.concurrency, cycles=args.cycles, full_every=1,
                          timeout=args.timeout, retries=args.retries,
                          max_repetitions=args.max_repetitions, with_pysmi=args.with_pysmi,
                          profile=str(args.profile) if args.profile else None)
    phases: list[PhaseResult] = []
    with Lab() as lab:
        fleet: Fleet = lab.add(SnmpdFleet(args.printers, args.recordings)
                               if args.simulator == "snmpd"
                               else SnmpsimFleet(args.printers, args.recordings))
        fleet.start()
        print(f"# printer_poll — {machine()}")
        print(f"# simulator: {fleet.describe}; recordings: {args.recordings}")
        print(f"# {args.printers} printers × {args.cycles} measured cycles, concurrency "
              f"{args.concurrency}, timeout {args.timeout:g} s, retries {args.retries}, "
              f"max-repetitions {args.max_repetitions}", flush=True)
        pids = fleet.pids()
        phases.append(run_poller("fleetwatch full", fleet.printers, options, pids))
        if not args.skip_dynamic:
            dynamic = replace(options, full_every=0, profile=None)
            phases.append(run_poller("fleetwatch dynamic", fleet.printers, dynamic, pids))
        for names in args.experiment:
            phases.append(run_poller(f"fleetwatch full +{'+'.join(names)}", fleet.printers,
                                     replace(options, experiments=names, profile=None), pids))
        if not args.skip_exporter:
            phases.append(run_exporter(fleet.printers, options, pids))
    print()
    print(table(phases))
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "phases": [asdict(p) for p in phases]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
