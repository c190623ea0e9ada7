"""Terminal-safe text: every control, bidi override and lone surrogate shown as an escape."""

from __future__ import annotations

import io
import json
import logging
import unicodedata

import pytest

from probes.parsing import decode_text
from probes.safetext import SafeFormatter, json_safe, terminal_safe

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def unsafe_chars(text: str, *, allow: str = "") -> list[str]:
    """What a terminal would act on: Cc controls, bidi controls, separators, surrogates."""
    return [c for c in text if c not in allow and (
        unicodedata.category(c) in {"Cc", "Cs", "Zl", "Zp"} or c in BIDI)]


@pytest.mark.parametrize("char", [chr(c) for c in range(0x20)] + ["\x7f"]
                         + [chr(c) for c in range(0x80, 0xA0)] + list(BIDI)
                         + ["\u2028", "\u2029", "\udc9b"])
def test_every_unsafe_character_becomes_a_visible_escape(char: str) -> None:
    out = terminal_safe(f"a{char}b")
    assert unsafe_chars(out) == []
    assert out.startswith("a\\") and out.endswith("b")
    assert f"{ord(char):02x}" in out


def test_hostile_sequences_are_inert() -> None:
    osc52 = "\x1b]52;c;aGFja2Vk\x07"
    assert terminal_safe(osc52) == "\\x1b]52;c;aGFja2Vk\\x07"
    assert terminal_safe("\x9b2J") == "\\x9b2J"
    assert terminal_safe("ok \u202eKO") == "ok \\u202eKO"
    assert terminal_safe("line\nforged") == "line\\x0aforged"


def test_ordinary_text_passes_unchanged() -> None:
    for text in ("Black Toner Cartridge", "Büro 2. OG – Drucker", "黑色碳粉", "שלום",
                 "Ünïcödé ✓ 👍🏽", "back\\slash"):
        assert terminal_safe(text) == text


def test_keep_lines_keeps_newlines_and_tabs_only() -> None:
    assert terminal_safe("a\n\tb\x1b[2J\r", keep_lines=True) == "a\n\tb\\x1b[2J\\x0d"


def test_json_safe_stays_json_and_decodes_to_the_same_value() -> None:
    value = {"name": "x\x9b\u202e\u2028\x7f\x1b", "ok": "黑色"}
    raw = json.dumps(value, ensure_ascii=False)
    safe = json_safe(raw)
    assert unsafe_chars(safe) == []
    assert json.loads(safe) == value
    assert "黑色" in safe  # readable text is not escaped


def test_log_formatter_escapes_the_message_but_not_the_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter("%(levelname)s %(message)s"))
    log = logging.getLogger("test.safetext")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("device %s said %r", "p1\nERROR forged line", "\x1b]52;c;x\x07")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("poll of %s failed", "\u202ep1")
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("WARNING device p1\\x0aERROR forged line said")
    assert unsafe_chars(stream.getvalue(), allow="\n") == []
    assert lines[1] == "ERROR poll of \\u202ep1 failed"
    assert lines[2] == "Traceback (most recent call last):"  # the traceback keeps its lines


@pytest.mark.parametrize(("raw", "want"), [
    (b"Room \xe2\x80\xae101", "Room \u202e101"),  # valid UTF-8 bidi kept (escaped on output)
    ("Evil\u009b31m".encode(), "Evil 31m"),  # a UTF-8 C1 control becomes a space
    (b"B\xfcro", "Büro"),  # Latin-1
    (b"Drucker \x96 2. OG", "Drucker – 2. OG"),  # Windows-1252 en dash, not a C1 control
    (b"SN\x9d\x81", "SN\\x9d\\x81"),  # bytes no code page defines: shown escaped
])
def test_decode_text_never_yields_c1_controls(raw: bytes, want: str) -> None:
    assert decode_text(raw) == want
