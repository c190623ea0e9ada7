"""``fleetwatch agents list|revoke ID|allow HOST``: the enrolled workstation agents of a running
collector, over its REST API (``/api/v1/agents``).

The collector is found at ``--url`` (default ``$FLEETWATCH_URL`` or http://127.0.0.1:8730);
revoking needs the collector's ``api_token`` when it has one (``$FLEETWATCH_API_TOKEN`` or
``--token-file``). A revoked agent's token gets 401 from then on, and a revoke sticks: its host
(by name and machine id) may not enroll again, although it still holds the enrollment secret,
until ``allow HOST`` (a host name, machine id or the revoked agent's id); the host then enrolls
as a new agent at its next try (restart it to come back at once). Exit codes: 0 done, 2 refused,
unreachable or nothing to allow.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from typing import Any

from collector.cli.remote import remote_options
from collector.cli.tickets import Client, _token, _when
from probes.errors import FleetwatchError


def register(sub: Any) -> None:
    common = remote_options()
    p = sub.add_parser("agents", help="list and revoke the workstation agents of a running "
                       "collector", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("list", parents=[common], help="every enrolled agent")
    r = actions.add_parser("revoke", parents=[common], help="revoke an agent's token")
    r.add_argument("agent_id")
    a = actions.add_parser("allow", parents=[common], help="let a revoked host enroll again")
    a.add_argument("host", help="host name, machine id or the revoked agent's id")
    p.set_defaults(handler=run)


def _print(agents: list[dict[str, Any]], revoked: list[dict[str, Any]]) -> None:
    hosts = sorted({r["hostname"] for r in revoked})
    if not agents:
        print("no agents enrolled")
        if hosts:
            print(f"revoked hosts (may not enroll): {', '.join(hosts)}")
        return
    rows = [("AGENT", "DEVICE", "STATE", "LAST SEEN", "REPORTS", "OS", "MODEL")]
    for a in agents:
        inv = a.get("inventory") or {}
        os_name = " ".join(str(x) for x in (inv.get("os"), inv.get("os_release")) if x)
        model = " ".join(str(x) for x in (inv.get("manufacturer"), inv.get("model")) if x)
        rows.append((a["id"], a["device"], "revoked" if a["revoked"] else "live",
                     _when(a["last_seen"]), str(a["reports"]), os_name or "-", model or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if hosts:
        print(f"revoked hosts (may not enroll until `fleetwatch agents allow HOST`): "
              f"{', '.join(hosts)}")


def run(args: argparse.Namespace) -> int:
    try:
        client = Client(args.url, _token(args), args.timeout)
        if args.action == "list":
            data = client.request("GET", "/api/v1/agents")
            if args.json:
                print(json.dumps(data, indent=2))
            else:
                _print(data["agents"], data.get("revoked_hosts", []))
        elif args.action == "allow":
            data = client.request("POST", "/api/v1/agents/allow", {"host": args.host})
            if args.json:
                print(json.dumps(data, indent=2))
            else:
                names = sorted({r["hostname"] for r in data["allowed"]})
                print(f"{', '.join(names)} may enroll again (as a new agent)")
        else:
            quoted = urllib.parse.quote(args.agent_id, safe="")
            data = client.request("POST", f"/api/v1/agents/{quoted}/revoke", {})
            if args.json:
                print(json.dumps(data, indent=2))
            else:
                print(f"agent {data['id']} ({data['hostname']}) revoked; the host may not "
                      f"enroll again until `fleetwatch agents allow {data['hostname']}`")
    except FleetwatchError as err:
        print(f"fleetwatch agents: {err}", file=sys.stderr)
        return 2
    return 0
