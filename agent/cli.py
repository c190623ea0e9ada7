"""``fleetwatch-agent``: the workstation agent's command line. Imports only ``agent/`` and
``probes/`` (never ``collector/``: the agent runs on machines without the collector), and not
pydantic, aiohttp or asyncio either (the agent's memory budget, docs/benchmarks.md).

Exit codes: 0 stopped by a signal (or ``--once`` sent its report), 1 ``--once`` could not reach
the collector, 2 bad settings or an enrollment that needs a person.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

import psutil

from agent.config import load
from agent.run import Agent
from agent.transport import Transport
from probes.errors import FleetwatchError
from probes.safetext import configure_logging


def _version() -> str:
    try:
        return importlib.metadata.version("fleetwatch")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fleetwatch-agent",
        description="Report this host's CPU, memory, disks, network and inventory to a "
                    "Fleetwatch collector. Reports wait in an on-disk queue while the collector "
                    "is away. SIGTERM or Ctrl-C stops cleanly.")
    p.add_argument("--version", action="version", version=f"fleetwatch-agent {_version()}")
    p.add_argument("--config", "-c", help="YAML settings file (docs/agent.md)")
    p.add_argument("--collector-url", help="collector base URL, e.g. http://collector:8730")
    p.add_argument("--interval", type=float, help="seconds between snapshots (default 10)")
    p.add_argument("--state-dir", help="identity and queue (default /var/lib/fleetwatch-agent)")
    p.add_argument("--enroll-secret-file", help="file holding the enrollment secret")
    p.add_argument("--hostname", help="name to enroll under (default: this host's name)")
    p.add_argument("--once", action="store_true", help="one snapshot, send, and exit")
    p.add_argument("--print-schema", action="store_true",
                   help="print the report JSON Schema and exit")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.print_schema:
        # pydantic only for this: the running agent never loads it (its memory budget)
        sys.stdout.write(importlib.import_module("agent.schema").json_schema())
        return 0
    configure_logging(args.log_level)  # terminal-safe, as the collector's
    try:
        config = load(args.config, {
            "collector_url": args.collector_url, "interval": args.interval,
            "state_dir": args.state_dir, "enroll_secret_file": args.enroll_secret_file,
            "hostname": args.hostname})
        transport = Transport(config.collector_url, config.timeout, config.ca_file)
        try:
            agent = Agent(config, psutil, transport)
            if args.once:
                agent.collect_once()
                return 0 if agent.send_pending() else 1
            stop = threading.Event()

            def on_signal(signum: int, frame: FrameType | None) -> None:
                stop.set()

            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, on_signal)
            agent.run(stop)
            return 0
        finally:
            transport.close()
    except FleetwatchError as err:
        print(f"fleetwatch-agent: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
