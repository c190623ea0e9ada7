"""Pure functions from raw SNMP rows to Fleetwatch dataclasses. No I/O here.

Raw rows are ``{numeric_oid: value}`` where a value is ``int`` (INTEGER, Counter, Gauge,
TimeTicks), ``bytes`` (OCTET STRING, IpAddress) or ``str`` (OBJECT IDENTIFIER). A missing column
is missing data: the row survives with ``None`` in that field.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from probes import printer_mib as mib
from probes.model import Alert, Identity, PageCounter, Status, Supply, Tray

Value = int | bytes | str
Rows = Mapping[str, Value]
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Where a level turns into a state. Percentages, inclusive."""

    supply_low_pct: float = 10.0
    waste_near_full_pct: float = 90.0
    tray_low_pct: float = 10.0


DEFAULT_THRESHOLDS = Thresholds()

# Every printer's latest reading stays in memory (the scheduler's last good one, the state
# cache), so the values they repeat are shared: texts and indexes are interned (sys.intern:
# freed again when nothing holds them), percentages and fault sets come from small bounded
# pools. Equal values, fewer objects (docs/benchmarks.md, "Issue 9 follow-up").
SHARED_POOL_SIZE = 4096
_percents: dict[float, float] = {}
_fault_sets: dict[frozenset[str], frozenset[str]] = {}


def pooled(pool: dict[_T, _T], value: _T, size: int = SHARED_POOL_SIZE) -> _T:
    """The one shared copy of ``value`` in ``pool`` (emptied when it holds ``size``)."""
    found = pool.get(value)
    if found is None:
        if len(pool) >= size:
            pool.clear()
        found = pool[value] = value
    return found


# --- generic helpers ---------------------------------------------------------------------------
def index_key(index: str) -> tuple[int, ...]:
    """Sort key for a dotted index: "1.10" after "1.9"."""
    return tuple(int(p) for p in index.split(".") if p.isdigit())


def table(rows: Rows, entry_oid: str, columns: Iterable[int]) -> dict[str, dict[int, Value]]:
    """Group the rows under ``entry_oid`` by index: ``{index: {column: value}}``.

    A row appears if any of its columns is present; absent columns are absent keys.
    """
    wanted = set(columns)
    prefix = entry_oid + "."
    out: dict[str, dict[int, Value]] = {}
    for oid, value in rows.items():
        if not oid.startswith(prefix):
            continue
        col, _, index = oid[len(prefix):].partition(".")
        if not index or not col.isdigit() or int(col) not in wanted:
            continue
        row = out.get(index)
        if row is None:
            row = out[sys.intern(index)] = {}
        row[int(col)] = value
    return dict(sorted(out.items(), key=lambda kv: index_key(kv[0])))


def column(rows: Rows, column_oid: str) -> dict[str, Value]:
    """``{index: value}`` for one column, ordered by index."""
    prefix = column_oid + "."
    found = {sys.intern(oid[len(prefix):]): v for oid, v in rows.items()
             if oid.startswith(prefix)}
    return dict(sorted(found.items(), key=lambda kv: index_key(kv[0])))


def as_int(value: Value | None) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, bytes | str):
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        try:
            return int(text.strip())
        except ValueError:
            return None
    return None


_HEX_LINE = re.compile(r"(?:[0-9A-Fa-f]{2}(?: |$))+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")  # C0, DEL and C1 controls
_SPACES = re.compile(r"\s+")


def _hex_line_text(line: str) -> str | None:
    """Decode a line of space-separated hex byte pairs ("38 32 37 41 00"), or None."""
    stripped = line.strip()
    if not stripped or not _HEX_LINE.fullmatch(stripped):
        return None
    raw = bytes.fromhex(stripped.replace(" ", ""))
    return raw.decode("utf-8", "replace")


def decode_text(value: Value | None) -> str:
    """Turn an OCTET STRING into clean text.

    Handles: bytes in UTF-8 (Ricoh MP C2503 sends Chinese names hex-encoded on the wire) or
    Windows-1252/Latin-1; trailing/embedded NULs; and a description that arrives as its first 16 characters
    followed by lines of space-separated hex bytes (HP LaserJet M880 via JetDirect: the rest of the
    text rendered as a hex dump). Control characters (C0, DEL, C1) become spaces; whitespace is
    collapsed. Bidirectional controls are kept (right-to-left names use them); every terminal
    output escapes them (``probes.safetext``).
    """
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        raw = value.rstrip(b"\x00")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            # Not UTF-8: an 8-bit code page. Windows-1252 is Latin-1 plus printable characters
            # (€, dashes, quotes) where Latin-1 has C1 controls, so it reads both; the five
            # bytes it leaves undefined are kept as visible escapes (``\x9d``), never decoded
            # into control characters.
            try:
                text = raw.decode("cp1252")
            except UnicodeDecodeError:
                text = raw.decode("cp1252", "backslashreplace")
    else:
        text = value
    lines = text.split("\n")
    if len(lines) > 1:
        decoded = [_hex_line_text(line) for line in lines[1:]]
        if all(d is not None for d in decoded if lines[1:]) and any(decoded):
            text = lines[0] + "".join(d or "" for d in decoded)
    elif len(text.split()) >= 3:
        # A whole value as hex pairs; only trusted when it decodes to printable text.
        whole = _hex_line_text(text)
        if whole is not None and whole.replace("\x00", "").isprintable():
            text = whole
    text = _CONTROL.sub(" ", text)
    return sys.intern(_SPACES.sub(" ", text).strip())


# --- error state -------------------------------------------------------------------------------
def decode_errors(octets: bytes | None) -> frozenset[str]:
    """Decode hrPrinterDetectedErrorState (1 or 2 octets, or empty) into fault names.

    Bit 0 is the most significant bit of the first octet. Bits beyond the 15 named ones
    (reserved, or vendor extensions in a third octet) are ignored.
    """
    if not octets:
        return frozenset()
    faults = set()
    for bit, name in enumerate(mib.ERROR_BITS):
        byte, offset = divmod(bit, 8)
        if byte < len(octets) and octets[byte] & (0x80 >> offset):
            faults.add(name)
    return frozenset(faults)


def error_octets(value: Value | None) -> bytes | None:
    """The raw octets of an error-state value, tolerating agents that send an INTEGER.

    Only an OCTET STRING (``bytes``) or an INTEGER in 0..0xFFFF is an error state; anything else
    (an OBJECT IDENTIFIER, a negative or oversized number) is ``None``, "not reported": its text
    must never be decoded into faults the printer does not have.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, int):
        # Seen on some embedded agents: the octet(s) as a plain INTEGER. Treat as big-endian.
        length = 2 if value > 0xFF else 1
        return value.to_bytes(length, "big") if 0 <= value <= 0xFFFF else None
    return None


# --- part numbers ------------------------------------------------------------------------------
_PN_EXPLICIT = re.compile(
    r"(?:\bP/N|\bPN|\bPart\s*(?:No\.?|Number|#))\s*[:#.]?\s*([A-Z0-9][A-Z0-9/\-]{3,})",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
_SERIAL_MARK = re.compile(r"(?:\bS/?N|\bSerial)\s*[:#]?\s*$", re.IGNORECASE)
# A mains-voltage variant written before the part code: "110V-C1N54A, 220V-C1N58A" (HP LaserJet
# M880 fuser kit). The voltage is not part of the code.
_VOLTAGE_PREFIX = re.compile(r"^\d{2,3}V-(?=[A-Z0-9])", re.IGNORECASE)


def _strip_voltage(token: str) -> str:
    return _VOLTAGE_PREFIX.sub("", token, count=1)


def find_part_number(description: str) -> str | None:
    """The reorder part number a description carries, if any.

    Explicit markers first ("PN 006R01509", "P/N 106R01443"); otherwise the first token that
    looks like a part code: 5-15 characters with at least one letter and two digits, all capitals
    (HP "CF410A", Epson "T9441"). Tokens right after "S/N"/"SN" are serials, not parts. A leading
    mains-voltage token ("110V-", "220V-") is dropped: "110V-C1N54A" orders as "C1N54A".
    """
    explicit = _PN_EXPLICIT.search(description)
    if explicit:
        candidate = _strip_voltage(explicit.group(1).rstrip(",;."))
        return None if candidate.lower() in {"unknown", "none", "n/a"} else sys.intern(candidate)
    for match in _TOKEN.finditer(description):
        token = _strip_voltage(match.group(0))
        if not 5 <= len(token) <= 15 or token != token.upper():
            continue
        if sum(c.isdigit() for c in token) < 2 or not any(c.isalpha() for c in token):
            continue
        if token.upper().startswith("SN") or _SERIAL_MARK.search(description[: match.start()]):
            continue
        return sys.intern(token)
    return None


# --- supplies ----------------------------------------------------------------------------------
def _colour_from_text(text: str) -> str | None:
    lowered = text.lower()
    for word in sorted(mib.COLOUR_WORDS, key=len, reverse=True):
        if re.search(rf"\b{re.escape(word)}\b", lowered):
            return word
    return None


def _infer_type(type_code: int | None, description: str) -> str:
    name = mib.SUPPLY_TYPE_NAMES.get(type_code) if type_code is not None else None
    if name and name not in {"other", "unknown"}:
        return name
    lowered = description.lower()
    for keyword, inferred in mib.TYPE_KEYWORDS:
        if keyword in lowered:
            return inferred
    return name or "unknown"


def level_percent(level: int | None, capacity: int | None) -> float | None:
    """100*level/capacity when both are real numbers (capacity > 0, level >= 0)."""
    if level is None or capacity is None or level < 0 or capacity <= 0:
        return None
    return pooled(_percents, round(100.0 * level / capacity, 1))


def supply_state(
    supply_class: str, level: int | None, capacity: int | None, thresholds: Thresholds
) -> str:
    """The state of one supply. Sentinels are states, never numbers.

    A consumed supply empties (ok → low → empty). For a filled supply (a receptacle: a waste
    container) RFC 3805 prtMarkerSuppliesLevel is "the remaining space": the level counts down as
    it fills, 0 means no space left (``full``), and it is ``near_full`` once it is at least
    ``waste_near_full_pct`` full, i.e. when the space left is at most 100 − that. A positive level
    against an unknown capacity leaves some space, amount unknown (``some_remaining``).
    """
    if level is None:
        return "unknown"
    if level < 0:
        return mib.SENTINEL_STATES.get(level, "unknown")
    if supply_class == "filled":
        if level == 0:
            return "full"
        if capacity is None or capacity <= 0:
            return "some_remaining"
        space_left = 100.0 * level / capacity
        return "near_full" if space_left <= 100.0 - thresholds.waste_near_full_pct else "ok"
    percent = level_percent(level, capacity)
    if level == 0:
        return "empty"
    if percent is None:
        # A positive level against an unknown capacity: something is left, we can't say how much.
        return "some_remaining"
    return "low" if percent <= thresholds.supply_low_pct else "ok"


def parse_supplies(
    rows: Rows, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> tuple[Supply, ...]:
    colorants = {
        idx: sys.intern(decode_text(v).lower()) or None
        for idx, v in column(rows, mib.PRT_COLORANT_VALUE).items()
    }
    supplies = []
    for index, cols in table(rows, mib.PRT_SUPPLIES_ENTRY, mib.SUPPLY_COLUMNS).items():
        description = decode_text(cols.get(mib.SUP_DESCR))
        type_name = _infer_type(as_int(cols.get(mib.SUP_TYPE)), description)
        class_code = as_int(cols.get(mib.SUP_CLASS))
        supply_class = mib.SUPPLY_CLASS_NAMES.get(class_code or 0) or (
            "filled" if type_name in mib.FILLED_TYPES else "consumed"
        )
        level = as_int(cols.get(mib.SUP_LEVEL))
        capacity = as_int(cols.get(mib.SUP_MAX))
        colour = None
        colorant_index = as_int(cols.get(mib.SUP_COLORANT_INDEX))
        if colorant_index:  # 0 means "no colorant" (fuser, drum of a mono printer, ...)
            device_index = index.split(".")[0]
            colour = colorants.get(f"{device_index}.{colorant_index}")
        if not colour or colour in {"unknown", "other", "none"}:
            colour = _colour_from_text(description)
        unit_code = as_int(cols.get(mib.SUP_UNIT))
        supplies.append(
            Supply(
                index=index,
                description=description,
                type=type_name,
                supply_class=supply_class,
                colour=colour,
                unit=mib.SUPPLY_UNIT_NAMES.get(unit_code) if unit_code is not None else None,
                level=level,
                capacity=capacity,
                percent=level_percent(level, capacity),
                state=supply_state(supply_class, level, capacity, thresholds),
                part_number=find_part_number(description),
            )
        )
    return tuple(supplies)


# --- trays -------------------------------------------------------------------------------------
def parse_trays(rows: Rows, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> tuple[Tray, ...]:
    trays = []
    for index, cols in table(rows, mib.PRT_INPUT_ENTRY, mib.INPUT_COLUMNS).items():
        name = decode_text(cols.get(mib.IN_NAME)) or decode_text(cols.get(mib.IN_DESCR))
        name = name or f"Tray {index.split('.')[-1]}"
        level = as_int(cols.get(mib.IN_LEVEL))
        capacity = as_int(cols.get(mib.IN_MAX))
        input_type = as_int(cols.get(mib.IN_TYPE))
        manual = input_type in mib.MANUAL_INPUT_TYPES or (
            input_type is None and any(k in name.lower() for k in mib.MANUAL_TRAY_KEYWORDS)
        )
        percent = level_percent(level, capacity)
        if level is None:
            state = "unknown"
        elif level < 0:
            state = mib.SENTINEL_STATES.get(level, "unknown")
        elif level == 0:
            state = "empty"
        elif percent is None:
            state = "some_remaining"
        else:
            state = "low" if percent <= thresholds.tray_low_pct else "ok"
        trays.append(
            Tray(
                index=index,
                description=name,
                media=decode_text(cols.get(mib.IN_MEDIA)) or None,
                level=level,
                capacity=capacity,
                percent=percent,
                state=state,
                manual=manual,
            )
        )
    return tuple(trays)


# --- alerts, counters, identity ----------------------------------------------------------------
def _enum_name(value: int | None, names: Mapping[int, str], prefix: str) -> str:
    """The name of an enumerated value; ``<prefix>_<n>`` for a value without one; ``unknown``
    when the column is missing (or not a number)."""
    if value is None:
        return "unknown"
    return names.get(value, f"{prefix}_{value}")


def parse_alerts(rows: Rows) -> tuple[Alert, ...]:
    """prtAlertTable rows. A missing column is ``unknown``; a missing severity falls back to the
    one its code implies (``mib.ALERT_CODE_SEVERITY``: a jam is critical even unlabelled)."""
    alerts = []
    for index, cols in table(rows, mib.PRT_ALERT_ENTRY, mib.ALERT_COLUMNS).items():
        code = _enum_name(as_int(cols.get(mib.AL_CODE)), mib.ALERT_CODE_NAMES, "code")
        severity_code = as_int(cols.get(mib.AL_SEVERITY))
        severity = (_enum_name(severity_code, mib.ALERT_SEVERITY_NAMES, "severity")
                    if severity_code is not None
                    else mib.ALERT_CODE_SEVERITY.get(code, "unknown"))
        alerts.append(
            Alert(
                index=index,
                severity=severity,
                group=_enum_name(as_int(cols.get(mib.AL_GROUP)), mib.ALERT_GROUP_NAMES, "group"),
                group_index=as_int(cols.get(mib.AL_GROUP_INDEX)),
                location=as_int(cols.get(mib.AL_LOCATION)),
                code=code,
                description=decode_text(cols.get(mib.AL_DESCR)),
            )
        )
    return tuple(alerts)


def parse_counters(rows: Rows) -> tuple[PageCounter, ...]:
    return tuple(
        PageCounter(index=idx, value=v)
        for idx, raw in column(rows, mib.PRT_MARKER_LIFE_COUNT).items()
        if (v := as_int(raw)) is not None and v >= 0
    )


def printer_indexes(rows: Rows) -> list[str]:
    """hrDeviceIndex values of the printer devices: rows of hrPrinterTable, and hrDeviceTable
    rows whose hrDeviceType is hrDevicePrinter."""
    found = set(column(rows, mib.HR_PRINTER_STATUS)) | set(column(rows, mib.HR_PRINTER_ERROR_STATE))
    found |= _device_rows_of_type(rows, mib.HR_DEVICE_TYPE_PRINTER)
    return sorted(found, key=index_key)


def _device_rows_of_type(rows: Rows, device_type: str) -> set[str]:
    return {idx for idx, v in column(rows, mib.HR_DEVICE_TYPE).items()
            if decode_text(v) == device_type}


def host_resources_printer(rows: Rows) -> bool:
    """True when HOST-RESOURCES-MIB says the agent is a printer (``mib.HR_DEVICE_TYPE_PRINTER``
    rows, no processor rows): for agents without Printer-MIB data."""
    return bool(_device_rows_of_type(rows, mib.HR_DEVICE_TYPE_PRINTER)) and not \
        _device_rows_of_type(rows, mib.HR_DEVICE_TYPE_PROCESSOR)


# --- MAC and firmware --------------------------------------------------------------------------
def ipv4_literal(host: str | None) -> str | None:
    """``host`` when it is a dotted IPv4 address (the index of ipAddrTable rows), else None."""
    if not host:
        return None
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        return None


def format_mac(value: Value | None) -> str | None:
    """An ifPhysAddress as ``aa:bb:cc:dd:ee:ff``: only 6 octets that are not all zero (no
    address: loopbacks, PPP) nor all ones (a broadcast, never a station's address)."""
    if not isinstance(value, bytes) or len(value) != 6 or value in (b"\x00" * 6, b"\xff" * 6):
        return None
    return ":".join(f"{octet:02x}" for octet in value)


def parse_mac(rows: Rows, host: str | None = None) -> str | None:
    """The device's MAC address.

    1. The ifPhysAddress of the interface that carries the polled address: ipAdEntIfIndex.<host>
       (GET on full polls when ``host`` is an IPv4 literal), if that interface has a MAC.
    2. Else the first (lowest ifIndex) MAC of an ethernet-like or Wi-Fi interface
       (``mib.ETHERNET_LIKE_IF_TYPES``). A printer polled through NAT, or by name, gets this.
    3. Else None: a loopback's, a tunnel's or a missing address is never reported.
    """
    macs = column(rows, mib.IF_PHYS_ADDRESS)
    ip = ipv4_literal(host)
    if ip is not None:
        if_index = as_int(rows.get(f"{mib.IP_AD_ENT_IF_INDEX}.{ip}"))
        if if_index is not None and (mac := format_mac(macs.get(str(if_index)))):
            return mac
    types = column(rows, mib.IF_TYPE)
    for idx, value in macs.items():
        if as_int(types.get(idx)) in mib.ETHERNET_LIKE_IF_TYPES and (mac := format_mac(value)):
            return mac
    return None


_TOKEN_CHARS = r"[A-Za-z0-9][A-Za-z0-9._\-]*"
_FIRMWARE_LABELS = tuple(
    (re.compile((r"(?:^|[;,]\s*)" if field_start else r"\b") + f"(?:{label})"
                + rf"\s*[.:=]?\s*({_TOKEN_CHARS})", re.IGNORECASE), letters_ok)
    for label, field_start, letters_ok, _seen in mib.FIRMWARE_LABELS
)
_REV = re.compile(r"\bRev\.?\s*(\d[A-Za-z0-9._\-]*)", re.IGNORECASE)
_ATTACHED = re.compile(r"\battached\s+to\b", re.IGNORECASE)
_BARE_VERSION = re.compile(r"[Vv]?\d+(?:\.\d+)+(?:_[A-Za-z0-9.\-]+)?")
_FIELD_SEPARATORS = re.compile(r";|\s/\s")
_LETTERS = re.compile(r"[A-Z]{1,2}")  # a letter-only version ("Firmware Ver.D")
# Values that say "no firmware revision" (RFC 6933: a zero-length string if not applicable).
_NO_VALUE = frozenset({"", "n/a", "na", "none", "unknown", "-", "0"})


def _token(raw: str) -> str:
    return raw.rstrip(".-_")


def firmware_from_text(text: str | None) -> str | None:
    """The device's firmware version written in a description (sysDescr, hrDeviceDescr), by
    these rules, first match wins; None when no rule applies (never a guess):

    ==  ==========================================  =============================================
    #   rule                                        seen on (value read)
    ==  ==========================================  =============================================
    1   a label naming the whole device's software  Brother NC-8300h "Firmware Ver.1.14" (1.14);
        (``mib.FIRMWARE_LABELS``, in its order),    Xerox AltaLink "SS 100.002.057.09608";
        then the version token after it; short      Dell S5830dn "version NH62.YS.N636";
        labels (SS, OS, System) only at the start   Xerox Phaser "OS 1.50.00.14". A token must
        of a ``,``/``;`` field                      hold a digit, except after "Firmware Ver."
                                                    (1-2 capitals: Ricoh SP 230SFNw "Ver.D")
    2   "Rev.<n>": a print server describes itself  OKI OkiLAN 9450g "... Rev.00.69 ... Attached
        first and then the printer "attached to"    to MC873 Rev.07.87" (07.87, the printer's;
        it: the revision after "attached to" wins,  00.69 is the print server's)
        else the first
    3   an unlabelled version (digits with dots,    Ricoh MP C2503 "RICOH MP C2503 1.35 / RICOH
        optional V prefix and _build suffix): the   Network Printer ..." (1.35); Samsung M4080FX
        last word of the first ``;`` or `` / ``     "Samsung M4080FX; V11.01.03.04_02-27-2017;
        field after the model, or a whole later     Engine V1.00.06 ..." (the system's version;
        field                                       "Engine ..." is a part's, labelled)
    ==  ==========================================  =============================================

    Labels of parts (engine, NIC, UI, PCL, kernel) and print-server-only strings (HP JetDirect
    "EEPROM JDI...", the card's, not the printer's) are deliberately not read.
    """
    if not text:
        return None
    for pattern, letters_ok in _FIRMWARE_LABELS:
        for match in pattern.finditer(text):
            token = _token(match.group(1))
            if any(c.isdigit() for c in token) or (letters_ok and _LETTERS.fullmatch(token)):
                return token
    attached = _ATTACHED.search(text)
    rev = _REV.search(text, attached.end()) if attached else None
    rev = rev or _REV.search(text)
    if rev:
        return _token(rev.group(1))
    fields = [f.strip() for f in _FIELD_SEPARATORS.split(text)]
    words = fields[0].split()
    if len(words) >= 2 and _BARE_VERSION.fullmatch(words[-1]):
        return words[-1]
    for field in fields[1:]:
        if _BARE_VERSION.fullmatch(field):
            return field
    return None


def parse_firmware(rows: Rows, model_descr: str | None = None) -> str | None:
    """The device's firmware: by the standard first, then by the vendors' descriptions.

    1. ENTITY-MIB (RFC 6933): the first entPhysicalFirmwareRev with a value, in entPhysicalIndex
       order (the chassis, index 1, on the agents that have the table); else the first
       entPhysicalSoftwareRev.
    2. :func:`firmware_from_text` of sysDescr, then of the printer's hrDeviceDescr
       (``model_descr``).
    """
    for column_oid in (mib.ENT_PHYSICAL_FIRMWARE_REV, mib.ENT_PHYSICAL_SOFTWARE_REV):
        for value in column(rows, column_oid).values():
            text = decode_text(value)[:128]
            if text.lower() not in _NO_VALUE:
                return text
    found = firmware_from_text(decode_text(rows.get(mib.SYS_DESCR)))
    return found or firmware_from_text(model_descr)


def parse_identity(rows: Rows, host: str | None = None) -> Identity:
    """sys* scalars, model (the printer's hrDeviceDescr), serial, firmware and MAC. ``host``:
    the polled address (for the MAC, :func:`parse_mac`)."""
    printers = printer_indexes(rows)
    descrs = column(rows, mib.HR_DEVICE_DESCR)
    model = None
    for idx in printers or list(descrs)[:1]:
        if idx in descrs:
            model = decode_text(descrs[idx]) or None
            break
    serials = [decode_text(v) for v in column(rows, mib.PRT_SERIAL).values()]
    return Identity(
        sys_descr=decode_text(rows.get(mib.SYS_DESCR)) or None,
        sys_name=decode_text(rows.get(mib.SYS_NAME)) or None,
        # An OBJECT IDENTIFIER arrives as str; an agent that sends it as an OCTET STRING gets
        # its text decoded, never rendered as "b'...'".
        sys_object_id=decode_text(rows.get(mib.SYS_OBJECT_ID)) or None,
        sys_location=decode_text(rows.get(mib.SYS_LOCATION)) or None,
        model=model,
        serial=next((s for s in serials if s), None),
        firmware=parse_firmware(rows, model),
        mac=parse_mac(rows, host),
    )


def uptime_seconds(rows: Rows) -> float | None:
    """sysUpTime in seconds. TimeTicks are unsigned 32-bit (Samsung M4080FX sends 3.7e9)."""
    ticks = as_int(rows.get(mib.SYS_UPTIME))
    if ticks is None:
        return None
    return (ticks & 0xFFFFFFFF) / 100.0


def worst_status(
    rows: Rows, column_oid: str, names: Mapping[int, str], rank: Mapping[str, int]
) -> str | None:
    """The status (hrDeviceStatus or hrPrinterStatus) of a device's printers: over every printer
    index (hrPrinterTable row) the one that ranks highest in ``rank`` (``mib.HR_*_STATUS_RANK``);
    ties go to the lowest index. A second engine that is down is never hidden behind a first
    that runs. Without hrPrinterTable there is no telling which hrDevice row is the printer, so
    the first reported row stands.
    """
    values = column(rows, column_oid)
    printers = printer_indexes(rows)
    codes = [c for idx in (printers or values) if (c := as_int(values.get(idx))) is not None]
    found = [names.get(c, f"code_{c}") for c in (codes if printers else codes[:1])]
    return max(found, key=lambda name: rank.get(name, 0)) if found else None


def printer_faults(rows: Rows) -> tuple[frozenset[str] | None, str | None]:
    """Decoded faults of all printer devices, and the raw hex of the first. ``(None, None)`` if
    unreported: no value, or none of a usable type (see :func:`error_octets`)."""
    faults: set[str] = set()
    first_hex = None
    for value in column(rows, mib.HR_PRINTER_ERROR_STATE).values():
        octets = error_octets(value)
        if octets is None:
            continue
        if first_hex is None:
            first_hex = octets.hex()
        faults |= decode_errors(octets)
    if first_hex is None:
        return None, None
    return pooled(_fault_sets, frozenset(faults)), first_hex


def mistyped(rows: Rows) -> tuple[str, ...]:
    """One line per value that does not decode as its column's type, among the columns that
    decide a status (``mib.INTEGER_COLUMNS``, and hrPrinterDetectedErrorState: an OCTET STRING,
    or the INTEGER some agents send, see :func:`error_octets`). Empty for a well-typed answer.
    Such a value is never read as data: a reading with one is ``parse_error``, status unknown."""
    found = []
    prefixes = tuple(c + "." for c in mib.INTEGER_COLUMNS)
    error_prefix = mib.HR_PRINTER_ERROR_STATE + "."
    for oid, value in rows.items():
        if oid.startswith(error_prefix):
            if error_octets(value) is None:
                found.append(f"{oid}: hrPrinterDetectedErrorState is {_kind(value)}, not an "
                             "OCTET STRING")
        elif oid.startswith(prefixes) and type(value) is not int:
            found.append(f"{oid}: {_kind(value)} where the column is an INTEGER")
    return tuple(sorted(found))


def _kind(value: Value | None) -> str:
    if isinstance(value, bytes):
        return f"an OCTET STRING of {len(value)} octets"
    if isinstance(value, str):
        return "an OBJECT IDENTIFIER"
    if isinstance(value, int):
        return f"the INTEGER {value}"
    return "NULL"


# --- overall status ----------------------------------------------------------------------------
def fault_severity(fault: str, device_status: str | None) -> str:
    """How bad one decoded error bit is, given the printer's own hrDeviceStatus (see
    ``mib.STATUS_WEIGHED_FAULTS``)."""
    if fault in mib.STATUS_WEIGHED_FAULTS and device_status in mib.HR_DEVICE_STATUS_RANK \
            and device_status != "unknown":
        return "critical" if device_status == "down" else "warning"
    return mib.FAULT_SEVERITY.get(fault, "warning")


def evaluate(
    *,
    faults: frozenset[str] | None,
    device_status: str | None,
    alerts: Iterable[Alert],
    supplies: Iterable[Supply],
    trays: Iterable[Tray],
) -> tuple[Status, tuple[str, ...]]:
    """Overall status and the reasons for it. 0x00 in the error state is not proof of health:
    hrDeviceStatus, the alert table and the supply levels are cross-checked."""
    critical: list[str] = []
    warning: list[str] = []
    for fault in sorted(faults or ()):
        (critical if fault_severity(fault, device_status) == "critical" else warning).append(fault)
    if device_status == "down":
        critical.append("device status down")
    elif device_status == "warning":
        warning.append("device status warning")
    for alert in alerts:
        text = f"alert {alert.code}" + (f": {alert.description}" if alert.description else "")
        if alert.severity == "critical":
            critical.append(text)
        elif alert.severity.startswith("warning"):
            warning.append(text)
    for s in supplies:
        pct = f" ({s.percent:g}%)" if s.percent is not None else ""
        if s.supply_class == "filled" and s.percent is not None:
            pct = f" ({s.percent:g}% space left)"  # a receptacle's level is its free space
        if s.state in {"empty", "full"}:
            critical.append(f"{s.description or s.type} {s.state}{pct}")
        elif s.state in {"low", "near_full"}:
            warning.append(f"{s.description or s.type} {s.state.replace('_', ' ')}{pct}")
    for t in trays:
        if t.state == "empty" and not t.manual:
            warning.append(f"{t.description} empty")
    if critical:
        return "critical", tuple(critical + warning)
    if warning:
        return "warning", tuple(warning)
    return "ok", ()
