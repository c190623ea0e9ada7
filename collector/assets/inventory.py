"""The asset list: one row per configured device and per agent host (make, model, serial,
firmware, OS, location, MAC and IP, last seen, page count or hardware), and its CSV.

Pure functions over :class:`collector.state.DeviceState` and the hosts' latest inventories
(:class:`collector.ingest.service.HostInventory`); the page and the CSV route are in
:mod:`collector.web.assets`. A value the device has not told us is empty, never guessed.

- Printers (``snmp_printer`` readings): the make comes from the sysObjectID's enterprise number
  (:data:`ENTERPRISES`, IANA's registry), not from parsing model strings; model, serial,
  firmware and MAC are the probe's (``probes.parsing.parse_identity``, rules in
  docs/check-json.md "Firmware and MAC").
- Hosts (an agent's inventory): make, model and serial are the DMI/SMBIOS strings the agent
  sends, OS its name and release, MAC every interface MAC it reports, IP the configured
  address, else the addresses the agent reports (IPv4 first), hardware the CPU model, cores,
  memory and disks. A host known only from its stored inventory (no report since the
  collector started) is listed too, last seen from the agents database.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Final

from agent.schema import Inventory
from collector.ingest.service import HostInventory
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
    os: str
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


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def hardware_of(inv: Inventory) -> str:
    """One line: CPU model, cores / threads, memory, disks (mount point, size, file system)."""
    cores = " / ".join(x for x in (
        f"{inv.cpu_cores} cores" if inv.cpu_cores is not None else "",
        f"{inv.cpu_threads} threads" if inv.cpu_threads is not None else "") if x)
    disks = ", ".join(" ".join(x for x in (
        d.mountpoint or d.device, _size(d.total_bytes) if d.total_bytes is not None else "",
        d.fstype or "") if x) for d in inv.disks)
    parts = (inv.cpu_model or "", cores,
             f"{_size(inv.memory_bytes)} RAM" if inv.memory_bytes is not None else "",
             f"disks: {disks}" if disks else "")
    return "; ".join(p for p in parts if p)


def _ips(inv: Inventory) -> str:
    def key(ip: str) -> tuple[int, str]:
        return (0 if ":" not in ip else 1, ip)
    return " ".join(sorted(inv.ips, key=key))


def asset(st: DeviceState, host: HostInventory | None = None) -> Asset:
    """The row of one device; ``host``: its agent's latest inventory, if it runs one."""
    readings = list(st.readings.values())
    answered = [r for r in readings if r.reachable and not r.stale]
    # identity from the printer poll when there is one (it knows the most), else any reading
    best = st.readings.get("snmp_printer") or (readings[0] if readings else None)
    ident = best.identity if best is not None else None
    inv = host.inventory if host is not None else None
    d = st.device
    last_seen = max((r.time for r in answered), default=None)
    if last_seen is None and host is not None and not readings:
        last_seen = host.last_seen  # known from the agents database only (collector restarted)

    def pick(from_host: str | None, from_probe: str | None) -> str:
        return (from_host if inv is not None and from_host else from_probe) or ""

    printer = st.readings.get("snmp_printer")
    return Asset(
        device=d.name, kind=d.kind, site=d.site or "", location=d.location or (
            (ident.sys_location or "") if ident else ""),
        ip=d.host if _is_ip(d.host) or inv is None or not inv.ips else _ips(inv),
        make=pick(inv.manufacturer if inv else None,
                  make_of(ident.sys_object_id if ident else None)),
        model=pick(inv.model if inv else None, ident.model if ident else None),
        serial=pick(inv.serial if inv else None, ident.serial if ident else None),
        firmware=(ident.firmware or "") if ident else "",
        os=" ".join(x for x in (inv.os, inv.os_release) if x) if inv else "",
        mac=" ".join(inv.macs) if inv and inv.macs else ((ident.mac or "") if ident else ""),
        last_seen=last_seen,
        page_count=printer.page_count if printer is not None else None,
        hardware=hardware_of(inv) if inv is not None else "")


def assets(states: Iterable[DeviceState],
           hosts: Mapping[str, HostInventory] | None = None) -> list[Asset]:
    """Every device of the state cache, and every host with an inventory but no state yet."""
    hosts = hosts or {}
    rows = {st.device.name: asset(st, hosts.get(st.device.name)) for st in states}
    for name, host in hosts.items():
        if name not in rows:
            rows[name] = asset(DeviceState(host.device), host)
    return sorted(rows.values(), key=lambda a: (a.site, a.device))


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
