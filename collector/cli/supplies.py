"""``fleetwatch supplies stock|forecast|pages``: the shelf, the forecast table, the page report.

``stock list|add|remove|set`` works on ``<state dir>/supplies.sqlite3`` directly (the collector
may be running: the file is in WAL mode): give ``--config FILE`` (its ``collector.state_dir``) or
``--state-dir DIR``. ``forecast`` and ``pages`` ask a running collector (``--url``, default
``$FLEETWATCH_URL`` or http://127.0.0.1:8730) and print a table, or CSV with ``--csv``.
Exit codes: 0 done, 2 refused or unreachable (the message says why).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from collector.cli.remote import DEFAULT_URL
from collector.cli.statedir import state_dir
from collector.cli.tickets import Client
from collector.supplies.report import FORECAST_COLUMNS, PAGE_COLUMNS, to_csv
from collector.supplies.stock import DB_NAME, StockError, StockStore


def register(sub: Any) -> None:
    p = sub.add_parser("supplies", help="stock on hand, supply forecasts, page-count report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="supplies_action", required=True, metavar="ACTION")

    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--config", "-c", type=Path, help="collector config (for its state_dir)")
    where.add_argument("--state-dir", type=Path, help="the collector's state directory")
    where.add_argument("--by", default=os.environ.get("USER") or "cli", help="who (default $USER)")
    stock = actions.add_parser("stock", help="stock on hand by part number")
    ops = stock.add_subparsers(dest="stock_action", required=True, metavar="OP")
    ops.add_parser("list", parents=[where], help="every part and its quantity")
    for name, text in (("add", "put cartridges on the shelf"),
                       ("remove", "take cartridges off the shelf"),
                       ("set", "set the quantity (a count of the shelf)")):
        a = ops.add_parser(name, parents=[where], help=text)
        a.add_argument("part", help="the part number, as on the supplies page (e.g. CF258A)")
        a.add_argument("quantity", type=int, nargs="?" if name != "set" else None,
                       default=1 if name != "set" else None,
                       help="how many" + (" (default 1)" if name != "set" else ""))
    stock.set_defaults(handler=run_stock)

    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument("--url", default=os.environ.get("FLEETWATCH_URL", DEFAULT_URL))
    remote.add_argument("--csv", action="store_true", help="CSV instead of a table")
    remote.add_argument("--timeout", type=float, default=10.0)
    f = actions.add_parser("forecast", parents=[remote],
                           help="every supply, soonest to run out first")
    f.set_defaults(handler=run_forecast)
    g = actions.add_parser("pages", parents=[remote], help="pages per device per month")
    g.add_argument("--months", type=int, default=12)
    g.set_defaults(handler=run_pages)


def _no_state_dir() -> Path:
    raise StockError("give --config FILE or --state-dir DIR")


def run_stock(args: argparse.Namespace) -> int:
    store = StockStore.open_sync(state_dir(args, _no_state_dir) / DB_NAME)
    try:
        if args.stock_action == "list":
            items = store.items_sync()
            if not items:
                print("no stock recorded")
            for item in items:
                print(f"{item.part:<20} {item.quantity:>5}")
            return 0
        n = args.quantity
        if n is None or n < 0:
            raise StockError(f"quantity must be a whole number >= 0, not {n}")
        delta = {"add": n, "remove": -n}.get(args.stock_action)
        after = store.change_sync(args.part, delta=delta,
                                  set_to=n if args.stock_action == "set" else None,
                                  by=args.by, reason=f"cli {args.stock_action}")
        print(f"{args.part.strip()}: {after}")
        return 0
    finally:
        store.close_sync()


_TABLE = (("device", 14), ("supply", 30), ("part_number", 11), ("level", 6), ("days_left", 7),
          ("runs_out_at", 11), ("confidence_label", 7), ("reorder", 8), ("stock", 5))


_HEADINGS = {"device": "Device", "supply": "Supply", "part_number": "Part", "level": "Level",
             "days_left": "Days", "runs_out_at": "Runs out", "confidence_label": "Conf.",
             "reorder": "Reorder", "stock": "Stock"}


def _fmt(v: Any, key: str) -> str:
    if v is None:
        return "-"
    if key == "level" and isinstance(v, float | int):
        return f"{v:.0f}%"
    if key == "days_left" and isinstance(v, float | int):
        return f"{v:.1f}"
    if key == "runs_out_at":
        return str(v)[:10]
    return str(v)


def run_forecast(args: argparse.Namespace) -> int:
    rows = Client(args.url, os.environ.get("FLEETWATCH_API_TOKEN"), args.timeout).request(
        "GET", "/api/v1/supplies")["supplies"]
    if args.csv:
        sys.stdout.write(to_csv(rows, FORECAST_COLUMNS))
        return 0
    print(" ".join(f"{_HEADINGS[k][:w]:<{w}}" for k, w in _TABLE).rstrip())
    for r in rows:
        r = {**r, "supply": r.get("description") or r.get("supply")}
        if r.get("days_left") is None:
            r["days_left"] = (r.get("status") or "").replace("insufficient_history", "n/a")
        print(" ".join(f"{_fmt(r.get(k), k)[:w]:<{w}}" for k, w in _TABLE))
    return 0


def run_pages(args: argparse.Namespace) -> int:
    rows = Client(args.url, os.environ.get("FLEETWATCH_API_TOKEN"), args.timeout).request(
        "GET", "/api/v1/supplies/pages", query=[("months", str(args.months))])["pages"]
    if args.csv:
        sys.stdout.write(to_csv(rows, PAGE_COLUMNS))
        return 0
    if not rows:
        print(f"no page counts in the last {args.months} month(s) yet: a month counts once a "
              "printer has two page-count readings in it")
        return 0
    print(f"{'Device':<16} {'Month':<7} {'Pages':>8} Markers")
    for r in rows:
        print(f"{r['device']:<16} {r['month']:<7} {r['pages']:>8} {r['markers']}")
    return 0
