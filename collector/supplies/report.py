"""Pure report shapes: the forecast table (every supply, sorted by days left, with its reorder
state and the stock of its part) and the page-count report (pages per device per month), as rows
and as CSV. The page report's rows come from InfluxDB (:func:`page_query`, :func:`page_rows`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from collector.supplies.engine import SupplyTrack

FORECAST_COLUMNS = ("device", "site", "supply", "description", "type", "colour", "part_number",
                    "level", "state", "status", "days_left", "runs_out", "runs_out_at",
                    "plus_minus_days", "confidence", "confidence_label", "basis",
                    "rate_per_day", "pages_left", "reorder_percent", "reorder", "stock",
                    "cartridge_since", "replacements")
PAGE_COLUMNS = ("device", "month", "pages", "markers")


def reorder_state(t: SupplyTrack) -> str:
    if not t.marking:
        return ""
    if t.ordered:
        return "ordered"
    return "due" if t.due else "-"


def forecast_rows(tracks: Iterable[SupplyTrack], stock: Mapping[str, int]) -> list[dict[str, Any]]:
    """One row per supply, soonest to run out first; no forecast sorts last."""
    rows: list[dict[str, Any]] = []
    for t in tracks:
        f = t.forecast
        ok = f is not None and f.status == "ok"
        rows.append({
            "device": t.device, "site": t.site, "supply": t.index, "description": t.description,
            "type": t.type, "colour": t.colour, "part_number": t.part,
            "level": t.last_level if t.last_level is not None else (f.level if f else None),
            "state": t.state, "status": f.status if f else "insufficient_history",
            "days_left": round(f.days_left, 2) if ok and f and f.days_left is not None else None,
            "runs_out": f.runs_out if f else "",
            "runs_out_at": (_iso(f.at) if ok and f and f.at is not None and math.isfinite(f.at)
                            else None),
            "plus_minus_days": (round(f.plus_minus_days, 2)
                                if ok and f and f.plus_minus_days is not None else None),
            "confidence": round(f.confidence, 2) if f else 0.0,
            "confidence_label": f.confidence_label if f else "none",
            "basis": f.basis if f else "none",
            "rate_per_day": (round(f.rate_per_day, 3)
                             if ok and f and f.rate_per_day is not None else None),
            "pages_left": f.pages_left if ok and f else None,
            "reorder_percent": (round(t.reorder_percent, 1) if t.reorder_percent is not None
                                else None),
            "reorder": reorder_state(t),
            "stock": stock.get(t.part, 0) if t.part else None,
            "cartridge_since": _iso(f.cartridge_since) if f and f.cartridge_since else None,
            "replacements": len(t.swaps),
        })
    rows.sort(key=lambda r: (r["days_left"] is None, r["days_left"] or 0.0, r["device"],
                             r["supply"]))
    return rows


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return out.getvalue()


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- page counts ----------------------------------------------------------------------------------
def page_query(months: int) -> str:
    """Daily page deltas per device and marker (Counter32 wraps and board resets are dropped by
    non_negative_difference)."""
    return (f'SELECT non_negative_difference(last("count")) AS "pages" FROM "pages" '
            f"WHERE time > now() - {int(months) * 31}d GROUP BY time(1d), \"device\", \"marker\"")


def page_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """InfluxDB rows (``time`` ns, ``device``, ``marker``, ``pages``) → pages per device per
    month, with each marker's share when a device has several (colour/mono engines)."""
    per: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        if r.get("pages") is None or r.get("device") is None:
            continue
        month = dt.datetime.fromtimestamp(int(r["time"]) / 1e9, dt.UTC).strftime("%Y-%m")
        markers = per.setdefault((str(r["device"]), month), {})
        marker = str(r.get("marker") or "1.1")
        markers[marker] = markers.get(marker, 0) + int(r["pages"])
    out = []
    for (device, month), markers in sorted(per.items()):
        out.append({"device": device, "month": month, "pages": sum(markers.values()),
                    "markers": " ".join(f"{m}={n}" for m, n in sorted(markers.items()))
                    if len(markers) > 1 else ""})
    return out
