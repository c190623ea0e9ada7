"""``fleetwatch config check FILE`` and ``fleetwatch config schema``.

``check``: validate a collector config without starting anything. Exit 0 and one summary line
on stdout when the file loads; otherwise every problem as ``FILE:LINE: KEY.PATH: message`` on
stderr (one per line, in file order, then a count) and exit 2. Never touches the network.

``schema``: print the JSON Schema of the config file (for editors; docs/configuration.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from collector.config import load_config
from collector.config.file_schema import config_schema
from probes.errors import ConfigError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("config", help="work with the collector's YAML configuration",
                       description="Work with the collector's YAML configuration "
                       "(docs/configuration.md).")
    actions = p.add_subparsers(dest="config_action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="validate a config file (no network access)",
        description="Load FILE as the collector would and report every problem with its file, "
        "line and key path. Exit codes: 0 valid, 2 invalid.")
    check.add_argument("file", type=Path, metavar="FILE")
    check.set_defaults(handler=run_check)
    schema = actions.add_parser(
        "schema", help="print the JSON Schema of the config file",
        description="Print the JSON Schema (draft 2020-12) of the collector's YAML file, for "
        "editors that check YAML as it is typed (yaml-language-server: see "
        "docs/configuration.md).")
    schema.set_defaults(handler=run_schema)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def run_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as err:
        errors = getattr(err, "errors", (err,))
        for error in errors:
            print(error, file=sys.stderr)
        print(f"config invalid: {_count(len(errors), 'error')}", file=sys.stderr)
        return 2
    print(f"config OK: {_count(len(config.devices), 'device')}, "
          f"{_count(len(config.sites), 'site')}, "
          f"{_count(len(config.snmp_profiles), 'SNMP profile')}")
    return 0


def run_schema(args: argparse.Namespace) -> int:
    print(json.dumps(config_schema(), indent=2))
    return 0
