"""The ``fleetwatch`` command line.

Each sub-command is one module of this package with ``register(sub)``, which adds its parser
with defaults carrying ``handler=callable(args) -> exit code``. Only the module of the command
being run is imported (``fleetwatch check`` loads no aiohttp service, ``fleetwatch tickets`` no
pysnmp); the others appear in ``--help`` by name and summary alone.

Each sub-command catches the FleetwatchError tree and prints one line; anything else is a bug
and is reported with a traceback. Output into a pipe that closed (``fleetwatch ... | head -1``)
ends the command quietly with exit 1 (see :func:`main`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from collector.cli.base import EXIT_CODES, Parser
from probes.errors import FleetwatchError
from probes.safetext import terminal_safe

# name → (module, one-line summary shown by ``fleetwatch --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("collector.cli.check", "poll one printer or copier once and show its health"),
    "collector": ("collector.cli.run", "run the collector service"),
    "demo": ("collector.cli.demo", "run a simulated office fleet with the collector and web UI"),
    "config": ("collector.cli.config", "work with the collector's YAML configuration"),
    "tickets": ("collector.cli.tickets", "work with a running collector's ticket queue"),
    "uptime": ("collector.cli.uptime", "availability per device and site, and downtime incidents"),
    "supplies": ("collector.cli.supplies", "stock on hand, supply forecasts, page-count report"),
    "agents": ("collector.cli.agents", "list and revoke a running collector's workstation agents"),
    "users": ("collector.cli.users", "manage accounts and API tokens"),
}


def _chosen(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (the first word that is one), if any."""
    return next((word for word in argv if word in COMMANDS), None)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser, with the full parser of the command named in ``argv`` (imported now) and a
    summary-only entry for every other command."""
    parser = Parser(prog="fleetwatch", description="Fleetwatch: printers, "
                    "copiers and workstations, watched.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = _chosen(argv)
    for name, (module, summary) in COMMANDS.items():
        if name == chosen:
            importlib.import_module(module).register(sub)
        else:
            sub.add_parser(name, help=summary, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code.

    A closed stdout pipe (the reader, e.g. ``head``, has what it wanted) ends any command with
    exit 1 and no message, by the recipe of Python's ``signal`` docs: point stdout at devnull so
    that the interpreter's own flush at exit fails no more. Chosen over restoring SIGPIPE's
    default action, which would also apply to the sockets of ``collector`` and ``demo`` and kill
    the service when a client hangs up mid-answer."""
    try:
        try:
            return _main(argv)
        finally:  # also after argparse's SystemExit (--help): a closed pipe shows at this flush
            sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    if extra:  # what parse_args would refuse, but in the failing sub-command's own terms
        message = f"unrecognized arguments: {' '.join(extra)}"
        if args.command == "check":
            print(f"fleetwatch check: {terminal_safe(message, keep_lines=True)}", file=sys.stderr)
            return EXIT_CODES["unknown"]
        parser.error(message)
    try:
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.error(f"unknown command {args.command}")
        result: int = handler(args)
        return result
    except FleetwatchError as err:
        print(f"fleetwatch {args.command}: {terminal_safe(err, keep_lines=True)}", file=sys.stderr)
        return 3 if args.command == "check" else 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
