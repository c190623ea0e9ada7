"""What the device page says about an agent host (issue 13): whether a device is one, and its
inventory (OS, hardware, CPU, memory, disks, addresses) with its uptime since boot.

A device is an agent host when its latest readings include the agent's (probe ``agent``) or an
enrolled agent maps to it (``Ingest.device_for``: the same rule as for reports), so that the
page knows it after a collector restart, before the first report. The inventory is the latest
one the agent sent (``AgentStore.inventories``); a row that does not parse is left out, never
an error for the page.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from typing import Any

from aiohttp import web

from collector.ingest.service import PROBE, Ingest
from collector.ingest.store import AgentStoreError
from collector.keys import INGEST
from collector.state import DeviceState
from probes.model import Reading

log = logging.getLogger(__name__)

MAX_LISTED = 8  # addresses and MACs shown; the count of the rest follows


def since_boot(seconds: float) -> str:
    """An uptime as ``3d 4h`` or, under a day, ``1h 5m`` (``0.0 days`` said nothing of an hour)."""
    minutes = int(seconds) // 60
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return f"{days}d {hours}h" if days else f"{hours}h {mins}m"


def _size(n: Any) -> str | None:
    if not isinstance(n, int | float) or isinstance(n, bool) or n <= 0:
        return None
    for unit, div in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n:.0f} B"


def _listed(items: Any) -> str | None:
    if not isinstance(items, list) or not items:
        return None
    text = ", ".join(str(i) for i in items[:MAX_LISTED])
    return text + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def _words(*parts: Any) -> str | None:
    seen: list[str] = []
    for p in parts:
        if isinstance(p, str) and p and p not in seen:
            seen.append(p)
    return " ".join(seen) or None


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def inventory_facts(inventory: dict[str, Any] | None, reading: Reading | None
                    ) -> list[tuple[str, str]]:
    """(label, text) rows of a host's inventory (the ``Inventory`` model's JSON, plus its
    ``time``) and, from its latest agent reading, the uptime since boot. Pure."""
    inv = inventory or {}
    cores, threads = inv.get("cpu_cores"), inv.get("cpu_threads")
    counts = ", ".join(f"{n} {what}" for n, what in ((cores, "cores"), (threads, "threads"))
                       if isinstance(n, int))
    disks = []
    for d in inv.get("disks") or []:
        if isinstance(d, dict):
            where = f" on {d['mountpoint']}" if d.get("mountpoint") else ""
            kind = f" ({d['fstype']})" if d.get("fstype") else ""
            size = _size(d.get("total_bytes"))
            disks.append(f"{d.get('device', '?')}{where}{kind}" + (f", {size}" if size else ""))
    up = None
    if reading is not None and reading.reachable and reading.uptime_seconds:
        up = (f"{since_boot(reading.uptime_seconds)} "
              f"(booted {_stamp(reading.time - reading.uptime_seconds)})")
    facts: list[tuple[str, str | None]] = [
        ("Host name", inv.get("hostname")),
        ("OS", _words(inv.get("os"), inv.get("os_release"), inv.get("os_version"))),
        ("Architecture", inv.get("architecture")),
        ("Hardware", _words(inv.get("manufacturer"), inv.get("model"))),
        ("Serial", inv.get("serial")),
        ("CPU", _words(inv.get("cpu_model"), f"({counts})" if counts else None)),
        ("Memory", _size(inv.get("memory_bytes"))),
        ("Disks", "; ".join(disks) or None),
        ("Addresses", _listed(inv.get("ips"))),
        ("MAC", _listed(inv.get("macs"))),
        ("Up since boot", up),
        ("Inventory of", _stamp(inv["time"]) if isinstance(inv.get("time"), int | float)
         else None),
        ("Not read", _listed(inv.get("failed"))),
    ]
    return [(k, str(v)) for k, v in facts if v]


async def host_facts(ingest: Ingest | None, st: DeviceState) -> list[tuple[str, str]] | None:
    """None when ``st`` is not an agent host; else its :func:`inventory_facts` (empty before
    any inventory and uptime are known). Reads the agents database; when that fails (logged),
    the latest readings alone decide and no inventory is shown."""
    host = PROBE in st.readings
    inventory: dict[str, Any] | None = None
    if ingest is not None:
        try:
            mine = [a.id for a in await ingest.store.all_agents()
                    if a.revoked_at is None and ingest.device_for(a).name == st.device.name]
            stored = await ingest.store.inventories() if mine else {}
        except (sqlite3.Error, AgentStoreError) as err:
            log.warning("agents database unreadable for the page of %s: %s", st.device.name, err)
            mine, stored = [], {}
        host = host or bool(mine)
        latest = max((stored[a] for a in mine if a in stored), default=None)
        if latest is not None:
            try:
                parsed = json.loads(latest[1])
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                inventory = {**parsed, "time": latest[0]}
    if not host:
        return None
    return inventory_facts(inventory, st.readings.get(PROBE))


async def app_host_facts(app: web.Application, st: DeviceState) -> list[tuple[str, str]] | None:
    """:func:`host_facts` with the app's ingest (absent before its cleanup context ran)."""
    return await host_facts(app.get(INGEST), st)
