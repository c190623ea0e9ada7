"""``fleetwatch collector --config FILE``: run the service."""

from __future__ import annotations

import argparse
from typing import Any

from collector.app import run as serve
from collector.config import load_config
from probes.safetext import configure_logging


def register(sub: Any) -> None:
    p = sub.add_parser("collector", help="run the collector service",
                       description="Poll the configured fleet, store metrics, open tickets and "
                       "serve the web UI and API. SIGTERM, SIGHUP or Ctrl-C stops cleanly. A "
                       "collector.listen address that cannot be bound is one line and exit 2.")
    p.add_argument("--config", "-c", required=True, help="YAML config file")
    p.add_argument("--log-level", default="INFO",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    config = load_config(args.config)  # ConfigError → one message per problem, exit 2
    serve(config)  # ListenError (port taken) before anything starts → one line, exit 2
    return 0
