"""``fleetwatch check HOST``: poll one printer or copier once and show its health.

Nagios plugin exit codes (0 ok, 1 warning, 2 critical, 3 unknown, also for bad arguments and a
failure of the tool itself); ``--json`` prints the documented object (docs/check-json.md).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable

from collector.cli.base import EXIT_CODES, Parser
from collector.cli.render import render
from probes import eventloop
from probes.model import Reading
from probes.printer import PrinterProbe
from probes.safetext import json_safe
from probes.secret import Secret
from probes.snmp import AUTH_PROTOCOLS, PRIV_PROTOCOLS, SnmpClient, SnmpCredentials, SnmpTarget

# Bounds of `check`'s numbers: a try longer than a minute, or more than 10 retries, is a typo.
MAX_TIMEOUT_S = 60.0
MAX_RETRIES = 10


def _number(kind: Callable[[str], float], valid: Callable[[float], bool], what: str
            ) -> Callable[[str], float]:
    """An argparse ``type``: ``kind(text)`` if it is finite and ``valid``, else a one-line error."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not (math.isfinite(value) and valid(value)):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return parse


# float() takes "nan", "inf" and "1e12", and pysnmp fails on them with a traceback.
_timeout = _number(float, lambda v: 0 < v <= MAX_TIMEOUT_S,
                   f"a number of seconds > 0 and <= {MAX_TIMEOUT_S:g}")
_retries = _number(int, lambda v: 0 <= v <= MAX_RETRIES, f"a whole number from 0 to {MAX_RETRIES}")
_port = _number(int, lambda v: 0 < v < 65536, "a port number from 1 to 65535")


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser("check", help="poll one printer or copier once and show its health",
                       description="Poll one printer/copier over SNMP. Exit codes follow the "
                       "Nagios plugin convention: 0 ok, 1 warning, 2 critical, 3 unknown "
                       "(also for bad arguments).")
    p.nagios_errors = True
    p.add_argument("host")
    p.add_argument("--port", type=_port, default=161)
    p.add_argument("--snmp-version", choices=["1", "2c", "3"], default=None,
                   help="default: 3 when --v3-user is given, else 2c")
    p.add_argument("--community", default="public")
    p.add_argument("--v3-user")
    p.add_argument("--auth-proto", choices=sorted(AUTH_PROTOCOLS), type=str.lower)
    p.add_argument("--auth-key")
    p.add_argument("--priv-proto", choices=sorted(PRIV_PROTOCOLS), type=str.lower)
    p.add_argument("--priv-key")
    p.add_argument("--context", default="", help="SNMPv3 context name")
    p.add_argument("--timeout", type=_timeout, default=2.0,
                   help=f"seconds per try (default 2, at most {MAX_TIMEOUT_S:g})")
    p.add_argument("--retries", type=_retries, default=1,
                   help=f"extra tries (default 1, at most {MAX_RETRIES})")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run_check)


def credentials_from_args(args: argparse.Namespace) -> SnmpCredentials:
    version = args.snmp_version or ("3" if args.v3_user else "2c")
    return SnmpCredentials(
        version=version,
        community=Secret(args.community),
        user=args.v3_user,
        auth_protocol=args.auth_proto or ("sha" if version == "3" and args.auth_key else None),
        auth_key=Secret(args.auth_key) if args.auth_key else None,
        priv_protocol=args.priv_proto or ("aes" if version == "3" and args.priv_key else None),
        priv_key=Secret(args.priv_key) if args.priv_key else None,
        context=args.context,
    )


async def check(target: SnmpTarget) -> Reading:
    client = await SnmpClient.create()
    try:
        return await PrinterProbe(client).collect(target)
    finally:
        client.close()


def check_json(reading: Reading) -> dict[str, object]:
    """The ``check --json`` object (docs/check-json.md)."""
    data = reading.to_json()
    return data


def run_check(args: argparse.Namespace) -> int:
    try:  # (--timeout, --retries and --port were range-checked by their argparse types)
        creds = credentials_from_args(args)
    except ValueError as err:
        print(f"fleetwatch check: {err}", file=sys.stderr)
        return 3
    target = SnmpTarget(args.host, args.port, creds, timeout=args.timeout, retries=args.retries)
    reading = eventloop.run(check(target))
    if args.json:
        print(json_safe(json.dumps(check_json(reading), ensure_ascii=False)))
    else:
        print(render(reading))
    return EXIT_CODES.get(reading.status, 3)
