"""``fleetwatch uptime``: a running collector's uptime report (availability per device and site
over 24 h, 7 d, 30 d or 90 d, and the downtime incidents), as a table, JSON or CSV.

Examples:
  fleetwatch uptime                      # the last 7 days, per device and site
  fleetwatch uptime --window 30d --csv > uptime-30d.csv
  fleetwatch uptime --incidents --window 90d --device copier-2
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from collector.cli.remote import add_collector_address
from collector.cli.tickets import Client
from collector.cli.tickets import _token as api_token
from collector.uptime.report import devices_csv, incidents_csv
from probes.safetext import json_safe
from probes.safetext import terminal_safe as _s


def register(sub: Any) -> None:
    p = sub.add_parser("uptime", help="availability per device and site, and downtime incidents",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_collector_address(p)
    p.add_argument("--window", default="7d", help="24h, 7d, 30d, 90d, or N h / N d (default 7d)")
    p.add_argument("--site", help="only this site's devices")
    p.add_argument("--incidents", action="store_true", help="list the downtime incidents")
    p.add_argument("--device", help="with --incidents: only this device's")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true", help="print CSV")
    out.add_argument("--json", action="store_true", help="print the API's JSON")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    p.set_defaults(handler=run)


def _pct(v: float | None) -> str:
    return "no data" if v is None else f"{v:.3f}%"


def _dur(seconds: float) -> str:
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}d {h}h" if d else f"{h}h {m}m" if h else f"{m}m {s}s")


def _when(iso: str | None) -> str:
    if iso is None:
        return "ongoing"
    return dt.datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _print_report(data: dict[str, Any]) -> None:
    print(f"uptime over {data['window']}: {_when(data['start'])} – {_when(data['end'])}")
    rows: list[tuple[str, ...]] = [
        ("DEVICE", "SITE", "AVAILABLE", "DOWN", "MAINT", "OUT OF HOURS", "NO DATA", "INC")]
    for d in data["devices"]:
        rows.append((_s(d["device"]), _s(d["site"] or "-"), _pct(d["availability_percent"]),
                     _dur(d["down_s"]), _dur(d["maintenance_s"]), _dur(d["out_of_hours_s"]),
                     _dur(d["no_data_s"]), str(d["incidents"])))
    _table(rows)
    print()
    rows = [("SITE", "AVAILABLE", "DOWN", "INCIDENTS")]
    for name, a in data["sites"].items():
        rows.append((_s(name), _pct(a["availability_percent"]), _dur(a["down_s"]),
                     str(a["incidents"])))
    f = data["fleet"]
    rows.append(("(fleet)", _pct(f["availability_percent"]), _dur(f["down_s"]),
                 str(f["incidents"])))
    _table(rows)


def _print_incidents(data: dict[str, Any]) -> None:
    if not data["incidents"]:
        print(f"no downtime incidents over {data['window']}")
        return
    rows: list[tuple[str, ...]] = [("DEVICE", "START", "END", "DURATION", "COUNTED", "TICKET")]
    for i in data["incidents"]:
        rows.append((_s(i["device"]), _when(i["start"]), _when(i["end"]), _dur(i["duration_s"]),
                     _dur(i["counted_s"]), f"#{i['ticket']}" if i["ticket"] else "-"))
    _table(rows)


def run(args: argparse.Namespace) -> int:
    client = Client(args.url, api_token(args), args.timeout)
    query = [("window", args.window)]
    if args.site:
        query.append(("site", args.site))
    if args.incidents:
        if args.device:
            query.append(("device", args.device))
        data = client.request("GET", "/api/v1/uptime/incidents", query=query)
    else:
        data = client.request("GET", "/api/v1/uptime", query=query)
    if args.json:
        print(json_safe(json.dumps(data, ensure_ascii=False, indent=2)))
    elif args.csv:
        sys.stdout.write((incidents_csv if args.incidents else devices_csv)(data))
    elif args.incidents:
        _print_incidents(data)
    else:
        _print_report(data)
    return 0
