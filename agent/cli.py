"""The ``fleetwatch-agent`` command: the workstation agent's entry point.

A skeleton for now: the agent itself (psutil readings posted to the collector's ingest, a disk
spool while the collector is away) is issue 11. What holds already is the contract this module
keeps: it imports only ``agent/`` and ``probes/`` (never ``collector/``, checked by
import-linter and by tests/agent/test_entry.py, which runs it with ``collector`` unimportable),
and it answers ``--version`` and ``--config FILE``.

Exit codes: 0 for ``--version``/``--help``; 2 when the agent cannot run as configured (today:
always, with one line saying so), as argparse does for bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import metadata

PROG = "fleetwatch-agent"
EXIT_NOT_CONFIGURED = 2


def version() -> str:
    """The installed distribution's version (the one in pyproject.toml)."""
    try:
        return metadata.version("fleetwatch")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Fleetwatch workstation agent: reports this machine's health "
        "to a Fleetwatch collector.")
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    parser.add_argument("--config", metavar="FILE", help="the agent's YAML configuration")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the agent; its exit code."""
    args = build_parser().parse_args(argv)
    where = f"{args.config}: " if args.config else ""
    print(f"{PROG}: {where}not configured: the workstation agent is not built yet "
          "(issue 11); nothing was started", file=sys.stderr)
    return EXIT_NOT_CONFIGURED


if __name__ == "__main__":
    sys.exit(main())
