"""Human output of ``fleetwatch check``: fits an 80-column terminal.

Widths are display columns, not characters: an East Asian wide or fullwidth character (the
Chinese supply names of a Ricoh MP C2503) takes two columns, a combining mark none.

Every device-supplied string goes through :func:`probes.safetext.terminal_safe` (shown here as
``_s``) before it is measured or printed: controls and bidi overrides appear as escapes.
"""

from __future__ import annotations

import shutil
import unicodedata
from collections.abc import Sequence

from probes.model import Reading, Supply
from probes.safetext import terminal_safe as _s

BAR_WIDTH = 10
ELLIPSIS = "…"


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in {"W", "F"} else 1


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes."""
    return sum(_char_width(c) for c in text)


def _fit(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` display columns, ending in "…" when cut."""
    if display_width(text) <= width:
        return text
    out: list[str] = []
    used = 0
    for char in text:
        w = _char_width(char)
        if used + w > width - 1:
            break
        out.append(char)
        used += w
    return "".join(out) + ELLIPSIS


def _pad(text: str, width: int) -> str:
    """``text`` fitted to ``width`` columns and padded with spaces to exactly that."""
    text = _fit(text, width)
    return text + " " * (width - display_width(text))


def _wrap_words(head: str, words: Sequence[str], width: int) -> list[str]:
    """``head`` then ``words`` joined by spaces, wrapped at ``width`` display columns with
    continuation lines indented under the first word; a word too long for a line of its own is
    cut ("…")."""
    indent = " " * display_width(head)
    lines: list[str] = []
    current, empty = head, True
    for word in words:
        if not empty and display_width(current) + 1 + display_width(word) > width:
            lines.append(current)
            current, empty = indent, True
        current += word if empty else " " + word
        empty = False
    lines.append(current)
    return [_fit(line, width) for line in lines]


def _wrap_list(head: str, items: Sequence[str], width: int) -> list[str]:
    """``head`` and a comma-separated list, wrapped at ``width`` (an item is never split)."""
    return _wrap_words(head, [item + ("," if n < len(items) - 1 else "")
                              for n, item in enumerate(items)], width)


def _wrap_text(head: str, text: str, width: int) -> list[str]:
    """``head`` then ``text`` word-wrapped at ``width``: for prose (errors, hints, problems) that
    must be read whole."""
    return _wrap_words(head, text.split(), width)


def _bar(percent: float | None) -> str:
    if percent is None:
        return "[" + "?" * BAR_WIDTH + "]"
    filled = round(max(0.0, min(100.0, percent)) * BAR_WIDTH / 100)
    return "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]"


def _pct(percent: float | None) -> str:
    return f"{percent:5.1f}%" if percent is not None else "    - "


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d {hours}h {rest // 60}m"


def _supply_state(s: Supply) -> str:
    # A receptacle's percent (and bar) is its free space (RFC 3805), not how full it is.
    return _s(f"{s.state} (space left)" if s.supply_class == "filled" and s.percent is not None
              else s.state)


def _supply_lines(reading: Reading, width: int) -> list[str]:
    idx_w = max(5, *(len(s.index) for s in reading.supplies))
    states = [_supply_state(s) for s in reading.supplies]
    state_w = max(display_width(st) for st in states)
    # indent, index, description, bar, percent, state, with one space between each
    room = width - (2 + idx_w + 1 + 1 + BAR_WIDTH + 2 + 1 + 6 + 1 + state_w)
    descs = [_s(s.description or s.type) for s in reading.supplies]
    longest = max(display_width(d) for d in descs)
    desc_w = max(8, min(room, longest))
    return [
        _fit(f"  {_s(s.index):<{idx_w}} {_pad(desc, desc_w)} "
             f"{_bar(s.percent)} {_pct(s.percent)} {state}", width)
        for s, desc, state in zip(reading.supplies, descs, states, strict=True)
    ]


def _tray_lines(reading: Reading, width: int) -> list[str]:
    idx_w = max(5, *(len(t.index) for t in reading.trays))
    state_w = max(len(t.state) for t in reading.trays)
    names = [_s(t.description + (f" ({t.media})" if t.media else "")) for t in reading.trays]
    room = width - (2 + idx_w + 1 + 1 + 6 + 1 + state_w)
    name_w = max(8, min(30, room, max(display_width(n) for n in names)))
    return [_fit(f"  {_s(t.index):<{idx_w}} {_pad(name, name_w)} {_pct(t.percent)} {_s(t.state)}",
                 width)
            for t, name in zip(reading.trays, names, strict=True)]


def render(reading: Reading, width: int | None = None) -> str:
    width = min(width or shutil.get_terminal_size((80, 24)).columns, 120)
    ident = reading.identity
    title = _s(ident.model or ident.sys_descr or "")
    lines = [_fit(f"{_s(reading.host)}  {reading.status.upper()}  {title}", width)]
    if reading.error:
        lines.extend(_wrap_text("  error: ", _s(reading.error), width))
    if not reading.reachable:
        return "\n".join(lines)
    for label, value in (("name", ident.sys_name), ("location", ident.sys_location),
                         ("serial", ident.serial), ("firmware", ident.firmware),
                         ("mac", ident.mac)):
        if value:
            lines.append(_fit(f"  {label + ':':<10}{_s(value)}", width))
    status = _s(" / ".join(s for s in (reading.device_status, reading.printer_status) if s) or "?")
    pages = f"{reading.page_count:,}" if reading.page_count is not None else "unknown"
    lines.append(_fit(f"  {'uptime:':<10}{_uptime(reading.uptime_seconds)}   status: {status}"
                      f"   pages: {pages}", width))
    if reading.supplies:
        lines.append("Supplies")
        lines.extend(_supply_lines(reading, width))
    else:
        lines.append("Supplies: not reported by this device")
    if reading.trays:
        lines.append("Trays")
        lines.extend(_tray_lines(reading, width))
    if reading.faults is None:
        lines.append(_fit("Faults: not reported by this device", width))
    else:
        lines.extend(_wrap_list("Faults: ", [_s(f) for f in sorted(reading.faults)] or ["none"],
                                width))
    if reading.alerts:
        lines.append("Alerts")
        for a in reading.alerts:
            lines.append(_fit(f"  {_s(a.severity):<8} {_s(a.code):<28} {_s(a.description)}",
                              width))
    if reading.problems:
        lines.append(_fit("Why " + reading.status + ":", width))
        for problem in reading.problems:
            lines.extend(_wrap_text("  - ", _s(problem), width))
    return "\n".join(lines)
