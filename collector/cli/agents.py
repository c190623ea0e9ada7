"""``fleetwatch agents list|revoke ID``: the enrolled workstation agents of a running collector,
over its REST API (``/api/v1/agents``).

The collector is found at ``--url`` (default ``$FLEETWATCH_URL`` or http://127.0.0.1:8730);
revoking needs the collector's ``api_token`` when it has one (``$FLEETWATCH_API_TOKEN`` or
``--token-file``). A revoked agent's token gets 401 from then on; the agent must be enrolled
again (with the enrollment secret) to report. Exit codes: 0 done, 2 refused or unreachable.
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
    p.set_defaults(handler=run)


def _print(agents: list[dict[str, Any]]) -> None:
    if not agents:
        print("no agents enrolled")
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


def run(args: argparse.Namespace) -> int:
    try:
        client = Client(args.url, _token(args), args.timeout)
        if args.action == "list":
            data = client.request("GET", "/api/v1/agents")
            if args.json:
                print(json.dumps(data, indent=2))
            else:
                _print(data["agents"])
        else:
            quoted = urllib.parse.quote(args.agent_id, safe="")
            data = client.request("POST", f"/api/v1/agents/{quoted}/revoke", {})
            if args.json:
                print(json.dumps(data, indent=2))
            else:
                print(f"agent {data['id']} ({data['hostname']}) revoked")
    except FleetwatchError as err:
        print(f"fleetwatch agents: {err}", file=sys.stderr)
        return 2
    return 0
