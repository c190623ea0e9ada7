"""``fleetwatch demo``: a whole office on one machine (see :mod:`collector.demo.run`)."""

from __future__ import annotations

import argparse
from typing import Any

from collector.demo.run import DEMO_CONFIG, run_demo


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run a simulated office fleet with the collector and web UI")
    p.add_argument("--config", "-c", default=str(DEMO_CONFIG))
    p.add_argument("--minutes", type=float, default=0,
                   help="stop by itself after this many minutes (default: run until Ctrl-C)")
    p.add_argument("--log-level", default="WARNING",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return run_demo(args.config, args.minutes, args.log_level)
