"""The options of the commands that talk to a running collector over its REST API (``tickets``,
``agents``, ``uptime``): it is found at ``--url`` (default ``$FLEETWATCH_URL`` or
:data:`DEFAULT_URL`) and its API token is read from ``--token-file`` (default
``$FLEETWATCH_API_TOKEN``; never the command line, where ``ps`` shows it).

Not a command itself. Imports nothing heavy (no pydantic, no config): ``fleetwatch tickets``
starts in tens of milliseconds.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8730"


def add_collector_address(parser: argparse.ArgumentParser) -> None:
    """``--url`` and ``--token-file`` on ``parser``."""
    parser.add_argument("--url", default=os.environ.get("FLEETWATCH_URL", DEFAULT_URL),
                        help="collector base URL (default $FLEETWATCH_URL or %(default)s)")
    parser.add_argument("--token-file", type=Path,
                        help="file holding the API token (default $FLEETWATCH_API_TOKEN)")


def remote_options(*, by: bool = False) -> argparse.ArgumentParser:
    """A parent parser (``parents=[...]``) with ``--url``, ``--token-file``, ``--by`` (who is
    acting, default ``$USER``; only when ``by``), ``--json`` and ``--timeout`` (10 s)."""
    common = argparse.ArgumentParser(add_help=False)
    add_collector_address(common)
    if by:
        common.add_argument("--by", default=os.environ.get("USER") or "cli",
                            help="who is acting (default $USER)")
    common.add_argument("--json", action="store_true", help="print the API's JSON")
    common.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    return common

