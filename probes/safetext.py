"""Device-supplied text made safe for a terminal, a log line or a JSON document on a terminal.

A printer's sysName, an alert description or a ticket title can hold anything its owner (or
anyone with SNMP write access) typed. Printed raw, a C1 control such as CSI (U+009B) or an OSC
(ESC ]) sequence can move the cursor, rewrite earlier lines or write the clipboard (OSC 52); a
right-to-left override (U+202E) makes ``ok``-looking text read backwards; a newline in a log
message forges a log line. So every string that reaches a terminal goes through here:

- C0 controls, DEL and C1 controls (Unicode category Cc) become visible escapes (``\\x1b``,
  ``\\x9b``); a newline and a tab too, unless the caller keeps them (multi-line prose);
- bidirectional controls (the embeddings, overrides and isolates U+202A–U+202E,
  U+2066–U+2069, the marks U+200E/U+200F/U+061C) become ``\\u202e``-style escapes, so a line
  reads in the order it is stored;
- the line and paragraph separators U+2028/U+2029 and lone surrogates (bytes that were not
  UTF-8, decoded with ``surrogateescape``) become escapes as well;
- a backslash stays a backslash: the escapes are for a human reader, not a round-trip format.

Everything else, Chinese supply names and accented locations included, passes through as is.
"""

from __future__ import annotations

import logging
import re

_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Cc (C0, DEL, C1), bidi controls, U+2028/2029, surrogates.
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}\u2028\u2029\ud800-\udfff]")
_UNSAFE_KEEP_LINES = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\u2028\u2029\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: object, *, keep_lines: bool = False) -> str:
    """``text`` (``str()`` of it) with every control, bidi override and lone surrogate shown as
    an escape. ``keep_lines`` keeps newlines and tabs (for multi-line prose)."""
    s = text if isinstance(text, str) else str(text)
    return (_UNSAFE_KEEP_LINES if keep_lines else _UNSAFE).sub(_escape, s)


_JSON_UNSAFE = re.compile(f"[\x7f-\x9f{_BIDI}\u2028\u2029\ud800-\udfff]")


def json_safe(document: str) -> str:
    """A JSON text (from ``json.dumps(..., ensure_ascii=False)``) with the characters that
    ``json.dumps`` leaves raw but a terminal acts on (DEL, C1, bidi controls, U+2028/2029,
    lone surrogates) written as ``\\uXXXX`` escapes. Still valid JSON, decoding to the same
    value: these characters can only occur inside strings. (C0 controls are already escaped by
    ``json.dumps``.)"""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", document)


class SafeFormatter(logging.Formatter):
    """A log formatter that makes the message terminal-safe (newlines too, so a device string
    cannot forge a log line); tracebacks keep their lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = terminal_safe(record.message)
        return super().formatMessage(record)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str | int) -> None:
    """Log to stderr at ``level`` through :class:`SafeFormatter` (the collector, the demo and the
    agent all log this way)."""
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
