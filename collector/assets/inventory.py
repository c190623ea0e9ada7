"""The asset list: one row per configured device from the latest readings (make, model,
serial, firmware, location, MAC and IP, last seen, page count or hardware), and its CSV.

Pure functions over :class:`collector.state.DeviceState`; the page and the CSV route are in
:mod:`collector.web.assets`. A value the device has not told us is empty, never guessed.
The make comes from the sysObjectID's enterprise number (:data:`ENTERPRISES`, IANA's
registry), not from parsing model strings. Firmware and MAC are not read by the printer
probe yet (hrDeviceDescr/prtGeneralTable and ifPhysAddress: a later probe change); their
columns stay empty until a reading carries them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Final

from collector.state import DeviceState

# IANA private enterprise numbers of printer and copier makers (1.3.6.1.4.1.N)
ENTERPRISES: Final = {
    "11": "HP", "253": "Xerox", "367": "Ricoh", "641": "Lexmark", "1248": "Epson",
    "1347": "Kyocera", "1602": "Canon", "2001": "OKI", "2385": "Sharp", "2435": "Brother",
    "18334": "Konica Minolta", "236": "Samsung", "1129": "Toshiba", "2590": "Dell",
}
_PREFIX: Final = "1.3.6.1.4.1."


@dataclass(frozen=True, slots=True)
class Asset:
    device: str
    kind: str
    site: str
    location: str
    ip: str
    make: str
    model: str
    serial: str
    firmware: str
    mac: str
    last_seen: float | None
    page_count: int | None
    hardware: str


COLUMNS: Final = tuple(f.name for f in fields(Asset))


def make_of(sys_object_id: str | None) -> str:
    if not sys_object_id or not sys_object_id.lstrip(".").startswith(_PREFIX):
        return ""
    number = sys_object_id.lstrip(".")[len(_PREFIX):].split(".", 1)[0]
    return ENTERPRISES.get(number, "")


def asset(st: DeviceState) -> Asset:
    readings = list(st.readings.values())
    answered = [r for r in readings if r.reachable and not r.stale]
    # identity from the printer poll when there is one (it knows the most), else any reading
    best = st.readings.get("snmp_printer") or (readings[0] if readings else None)
    ident = best.identity if best is not None else None
    d = st.device
    return Asset(
        device=d.name, kind=d.kind, site=d.site or "", location=d.location or (
            (ident.sys_location or "") if ident else ""),
        ip=d.host, make=make_of(ident.sys_object_id if ident else None),
        model=(ident.model or "") if ident else "", serial=(ident.serial or "") if ident else "",
        firmware="", mac="",
        last_seen=max((r.time for r in answered), default=None),
        page_count=best.page_count if best is not None else None,
        hardware=", ".join(f"{k}={v:g}" for k, v in best.metrics) if best is not None else "")


def assets(states: Iterable[DeviceState]) -> list[Asset]:
    return sorted((asset(st) for st in states), key=lambda a: (a.site, a.device))


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # a cell that a spreadsheet would run as a formula (CSV injection) is quoted as text
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(rows: Iterable[Asset]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        values = asdict(row)
        if values["last_seen"] is not None:
            values["last_seen"] = _iso(values["last_seen"])
        writer.writerow([_cell(values[c]) for c in COLUMNS])
    return out.getvalue()


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")
