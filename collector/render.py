"""Human output of ``fleetwatch check``: fits an 80-column terminal."""

from __future__ import annotations

import shutil

from probes.model import Reading

BAR_WIDTH = 10


def _bar(percent: float | None) -> str:
    if percent is None:
        return "[" + "?" * BAR_WIDTH + "]"
    filled = round(max(0.0, min(100.0, percent)) * BAR_WIDTH / 100)
    return "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]"


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d {hours}h {rest // 60}m"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render(reading: Reading, width: int | None = None) -> str:
    width = min(width or shutil.get_terminal_size((80, 24)).columns, 120)
    ident = reading.identity
    title = ident.model or ident.sys_descr or ""
    lines = [_fit(f"{reading.host}  {reading.status.upper()}  {title}", width)]
    if reading.error:
        lines.append(_fit(f"  error: {reading.error}", width))
    if not reading.reachable:
        return "\n".join(lines)
    for label, value in (("name", ident.sys_name), ("location", ident.sys_location),
                         ("serial", ident.serial)):
        if value:
            lines.append(_fit(f"  {label + ':':<10}{value}", width))
    status = " / ".join(s for s in (reading.device_status, reading.printer_status) if s) or "?"
    pages = f"{reading.page_count:,}" if reading.page_count is not None else "unknown"
    lines.append(_fit(f"  {'uptime:':<10}{_uptime(reading.uptime_seconds)}   status: {status}"
                      f"   pages: {pages}", width))
    if reading.supplies:
        lines.append("Supplies")
        desc_w = max(12, width - 2 - 5 - 1 - (BAR_WIDTH + 2) - 1 - 6 - 1 - 14)
        for s in reading.supplies:
            pct = f"{s.percent:5.1f}%" if s.percent is not None else "    - "
            lines.append(_fit(
                f"  {s.index:<5} {_fit(s.description or s.type, desc_w):<{desc_w}} "
                f"{_bar(s.percent)} {pct} {s.state}", width))
    if reading.trays:
        lines.append("Trays")
        for t in reading.trays:
            pct = f"{t.percent:5.1f}%" if t.percent is not None else "    - "
            media = f" ({t.media})" if t.media else ""
            lines.append(_fit(f"  {t.index:<5} {_fit(t.description + media, 30):<30} "
                              f"{pct} {t.state}", width))
    if reading.faults is None:
        lines.append("Faults: not reported by this device")
    else:
        lines.append("Faults: " + (", ".join(sorted(reading.faults)) or "none"))
    if reading.alerts:
        lines.append("Alerts")
        for a in reading.alerts:
            lines.append(_fit(f"  {a.severity:<8} {a.code:<28} {a.description}", width))
    if reading.problems:
        lines.append("Why " + reading.status + ":")
        lines.extend(_fit(f"  - {p}", width) for p in reading.problems)
    return "\n".join(lines)
