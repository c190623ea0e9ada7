"""Read enumerations out of SMI module text (the MIB files under tests/fixtures/mibs/).

Enough of SMIv2 for the enumerations Fleetwatch names, no MIB compiler:

- ``Name ::= TEXTUAL-CONVENTION ... SYNTAX INTEGER { label(n), ... }``
- ``name OBJECT-TYPE SYNTAX INTEGER { label(n), ... } ...``

Comments (``--`` to the end of the line, or to the next ``--`` on the same line, as ASN.1 has
it) are dropped first; strings ("...") are blanked so that a DESCRIPTION mentioning
``resetToNVRAM(5)`` or ``warningUnaryChangeEvent(4)`` is never read as an enumeration.
"""

from __future__ import annotations

import re
from pathlib import Path

MIB_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "mibs"

_COMMENT = re.compile(r"--.*?(--|$)", re.MULTILINE)
_STRING = re.compile(r'"[^"]*"', re.DOTALL)
_DEFINITION = re.compile(
    r"\b([A-Za-z][A-Za-z0-9-]*)\s+(?:::=\s*TEXTUAL-CONVENTION|OBJECT-TYPE)\b"
    r"(?:(?!::=).)*?\bSYNTAX\s+INTEGER\s*\{([^}]*)\}",
    re.DOTALL,
)
_ITEM = re.compile(r"^\s*([a-z][A-Za-z0-9-]*)\s*\(\s*(-?\d+)\s*\)\s*$")


def strip(text: str) -> str:
    """Module text without comments and with every quoted string emptied."""
    return _COMMENT.sub("", _STRING.sub('""', text))


def enumerations(text: str) -> dict[str, dict[int, str]]:
    """Every INTEGER enumeration of a module: TC or object name → {number: RFC label}."""
    found: dict[str, dict[int, str]] = {}
    for match in _DEFINITION.finditer(strip(text)):
        name, body = match.group(1), match.group(2)
        values: dict[int, str] = {}
        for item in body.split(","):
            if not item.strip():
                continue
            parsed = _ITEM.match(item)
            if parsed is None:
                raise ValueError(f"{name}: cannot read enumeration item {item.strip()!r}")
            number = int(parsed.group(2))
            if number in values:
                raise ValueError(f"{name}: {number} appears twice")
            values[number] = parsed.group(1)
        if name in found:
            raise ValueError(f"{name} is defined twice")
        found[name] = values
    return found


def module(filename: str) -> dict[str, dict[int, str]]:
    return enumerations((MIB_DIR / filename).read_text(encoding="ascii"))


_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def snake(label: str) -> str:
    """An RFC label in snake_case.

    A word starts at each capital: ``wasteToner`` → ``waste_toner``. A run of capitals is one
    word (an acronym), the last capital starting the next word when a lower-case letter follows:
    ``printerNMSReset`` → ``printer_nms_reset``, ``hostResourcesMIBStorageTable`` →
    ``host_resources_mib_storage_table``. Digits stay with the word before them and letters after
    digits start a new word: ``chIEEE1284Port`` → ``ch_ieee1284_port``,
    ``impactMovingHeadDotMatrix9pin`` → ``impact_moving_head_dot_matrix9_pin``. A hyphen is a word
    break. Lower-case letters are never split: ``opc`` stays ``opc``, ``markerOpcLifeOver`` is
    ``marker_opc_life_over``.
    """
    words: list[str] = []
    for part in label.split("-"):
        for word in _WORD.findall(part):
            if word.isdigit() and words:
                words[-1] += word
            else:
                words.append(word.lower())
    return "_".join(words)
