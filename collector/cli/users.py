"""``fleetwatch users add|list|remove|passwd|role`` and ``fleetwatch users token
add|list|revoke``: accounts and API tokens, in the collector's state directory.

Works on ``<state_dir>/accounts.sqlite3`` directly (SQLite in WAL mode: safe while the collector
runs). The state directory comes from ``--state-dir``, else from ``--config FILE``
(``collector.state_dir``), else ``$FLEETWATCH_STATE_DIR``, else /var/lib/fleetwatch.

Passwords are asked at the terminal (twice), or read as one line from standard input with
``--password-stdin``; never from the command line, and there is no default. A token's secret is
printed once, when it is made; only its digest is stored.
Exit codes: 0 done, 2 refused (the message says why).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from pathlib import Path
from typing import Any

from collector.auth import DB_NAME
from collector.auth.roles import ROLES
from collector.auth.store import AccountError, Accounts
from collector.cli.statedir import state_dir

DEFAULT_STATE_DIR = Path("/var/lib/fleetwatch")


def register(sub: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_mutually_exclusive_group()
    where.add_argument("--config", "-c", type=Path, help="collector YAML (for collector.state_dir)")
    where.add_argument("--state-dir", type=Path, help="the collector's state directory")

    p = sub.add_parser("users", help="manage accounts and API tokens", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    a = actions.add_parser("add", parents=[common], help="add a user")
    a.add_argument("name")
    a.add_argument("--role", required=True, choices=ROLES)
    a.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    actions.add_parser("list", parents=[common], help="list users")
    a = actions.add_parser("remove", parents=[common], help="remove a user, their sessions "
                           "and tokens")
    a.add_argument("name")
    a = actions.add_parser("passwd", parents=[common], help="set a user's password (ends "
                           "their sessions)")
    a.add_argument("name")
    a.add_argument("--password-stdin", action="store_true")
    a = actions.add_parser("role", parents=[common], help="change a user's role")
    a.add_argument("name")
    a.add_argument("role", choices=ROLES)

    t = actions.add_parser("token", help="API tokens for the CLI and integrations")
    tokens = t.add_subparsers(dest="token_action", required=True, metavar="ACTION")
    a = tokens.add_parser("add", parents=[common], help="make a token (its secret is shown "
                          "once)")
    a.add_argument("name", help="what the token is for (e.g. laptop, helpdesk-bridge)")
    owner = a.add_mutually_exclusive_group(required=True)
    owner.add_argument("--user", help="a user's token: acts as that user, with their role")
    owner.add_argument("--role", choices=ROLES, help="a service token with this role")
    a.add_argument("--expires-days", type=float, help="expire after this many days")
    tokens.add_parser("list", parents=[common], help="list tokens")
    a = tokens.add_parser("revoke", parents=[common], help="revoke a token")
    a.add_argument("id", type=int)
    p.set_defaults(handler=run)


def default_state_dir() -> Path:
    return Path(os.environ.get("FLEETWATCH_STATE_DIR") or DEFAULT_STATE_DIR)


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise AccountError("no password on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise AccountError("standard input is not a terminal: use --password-stdin")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def _when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def run(args: argparse.Namespace) -> int:
    path = state_dir(args, default_state_dir) / DB_NAME
    listing = args.action == "list" or (args.action == "token" and args.token_action == "list")
    if listing and not path.exists():
        print("no accounts yet (make the first with: fleetwatch users add NAME --role admin)")
        return 0
    accounts = Accounts.open(path)
    try:
        return _run(accounts, args)
    finally:
        accounts.close()


def _run(accounts: Accounts, args: argparse.Namespace) -> int:
    action = args.action
    if action == "add":
        user = accounts.add_user(args.name, args.role, read_password(args.password_stdin))
        print(f"user {user.name} added ({user.role})")
    elif action == "list":
        users = accounts.users()
        if not users:
            print("no users (make the first with: fleetwatch users add NAME --role admin)")
        for u in users:
            print(f"{u.name:<24} {u.role:<11} since {_when(u.created_at)}")
    elif action == "remove":
        accounts.remove_user(args.name)
        print(f"user {args.name} removed, with their sessions and tokens")
    elif action == "passwd":
        if accounts.user(args.name) is None:
            raise AccountError(f"no user {args.name!r}")
        accounts.set_password(args.name, read_password(args.password_stdin))
        print(f"password of {args.name} changed; their sessions ended")
    elif action == "role":
        accounts.set_role(args.name, args.role)
        print(f"{args.name} is now {args.role}")
    elif args.token_action == "add":
        expires = None
        if args.expires_days is not None:
            if args.expires_days <= 0:
                raise AccountError("--expires-days must be positive")
            expires = time.time() + args.expires_days * 86400
        token, secret = accounts.new_token(args.name, user=args.user, role=args.role,
                                           expires_at=expires)
        who = f"user {token.user}" if token.user else f"service, role {token.role}"
        print(f"token #{token.id} {token.name} ({who}, expires {_when(token.expires_at)}):",
              file=sys.stderr)
        print(secret)
        print("shown once: keep it in a file (fleetwatch tickets --token-file) or "
              "$FLEETWATCH_API_TOKEN", file=sys.stderr)
    elif args.token_action == "list":
        for t in accounts.tokens():
            owner = f"user {t.user}" if t.user else f"service/{t.role}"
            print(f"#{t.id:<4} {t.name:<20} {owner:<22} {t.state:<8} expires "
                  f"{_when(t.expires_at)}  last used {_when(t.last_used_at)}")
    else:
        accounts.revoke_token(args.id)
        print(f"token #{args.id} revoked")
    return 0
