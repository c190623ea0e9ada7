"""The page shell every collector page shares: the layout, the style sheet, small helpers.

Server-rendered HTML (no JavaScript build), refreshed every 15 s. Every value that reaches a page
goes through :func:`html.escape` (device strings are untrusted).
"""

from __future__ import annotations

import html
import time

from aiohttp import web

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#222}
header{background:#243447;color:#fff;padding:10px 20px}header a{color:#fff;margin-right:16px}
main{padding:16px 20px}table{border-collapse:collapse;width:100%;background:#fff}
th,td{padding:6px 8px;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}.badge{padding:2px 8px;border-radius:10px;color:#fff;
font-size:12px;text-transform:uppercase}.ok{background:#2e7d32}.warning{background:#ef8f00}
.critical{background:#c62828}.unreachable,.unknown{background:#616161}.pending{background:#90a4ae}
.bar{display:inline-block;width:60px;height:8px;background:#e0e0e0;margin-right:4px}
.bar i{display:block;height:8px}.sup{white-space:nowrap;font-size:12px;margin-right:8px}
.muted{color:#777}.stale{color:#a15c00}.summary span{margin-right:18px;font-size:15px}
"""

def page(title: str, body: str) -> web.Response:
    doc = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)} · "
           f"Fleetwatch</title><meta http-equiv='refresh' content='15'><style>{_CSS}</style>"
           f"</head><body><header><b>Fleetwatch</b> &nbsp; <a href='/'>Fleet</a>"
           f"<a href='/tickets'>Tickets</a><a href='/api/v1/devices'>API</a></header>"
           f"<main>{body}</main></body></html>")
    return web.Response(text=doc, content_type="text/html")


def badge(status: str) -> str:
    return f"<span class='badge {html.escape(status)}'>{html.escape(status)}</span>"


def ago(t: float | None) -> str:
    if t is None:
        return "never"
    seconds = max(0, int(time.time() - t))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"
