"""What this host is (:func:`inventory`): name, OS, CPU, RAM, disks, addresses, maker/model/serial.

Where each field comes from, per OS, is the table in ``docs/agent.md``. psutil, ``platform``
and the DMI directory are injected so tests feed values. A field that cannot be read is
missing (and named in ``failed``), never a crash. The result is a plain dict shaped as
:class:`agent.schema.Inventory` (the agent does not import pydantic at run time).
"""

from __future__ import annotations

import functools
import logging
import platform as _platform
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

# Linux exposes the SMBIOS/DMI strings here; product_serial is readable by root only.
DMI_DIR = Path("/sys/class/dmi/id")
# Placeholder strings firmware vendors leave in DMI fields: not a value.
DMI_JUNK = frozenset({"", "to be filled by o.e.m.", "default string", "system serial number",
                      "not specified", "none", "0", "system product name",
                      "system manufacturer", "o.e.m."})


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _dmi(dmi_dir: Path, name: str) -> str | None:
    value = (dmi_dir / name).read_text(errors="replace").strip()
    return None if value.lower() in DMI_JUNK else value[:256]


def _cpu_model(platform: Any) -> str | None:
    """Linux: the first ``model name`` of /proc/cpuinfo; elsewhere ``platform.processor()``."""
    cpuinfo = Path("/proc/cpuinfo")
    if platform.system() == "Linux" and cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()[:256] or None
    return (platform.processor() or None) and platform.processor()[:256]


def inventory(ps: Any, *, platform: Any = _platform, dmi_dir: Path = DMI_DIR,
              host_name: Callable[[], str] = socket.gethostname) -> dict[str, Any]:
    failed: list[str] = []

    def g(name: str, read: Callable[[], T]) -> T | None:
        try:
            return read()
        except Exception as err:  # a missing field, never a crash (module contract)
            log.debug("inventory field %s failed: %s", name, err)
            failed.append(name)
            return None

    system = g("os", platform.system)
    linux = system == "Linux"
    link = getattr(ps, "AF_LINK", -1)
    addrs = g("addresses", ps.net_if_addrs) or {}
    macs = sorted({a.address for v in addrs.values() for a in v
                   if a.family == link and a.address and a.address != "00:00:00:00:00:00"})
    ips = sorted({a.address for nic, v in addrs.items() for a in v
                  if a.family in (socket.AF_INET, socket.AF_INET6) and nic != "lo"
                  and not str(a.address).startswith(("127.", "::1"))})
    parts = g("disks", lambda: ps.disk_partitions(all=False)) or []
    disks = []
    for p in parts[:256]:
        usage = g(f"disks.{p.mountpoint}", functools.partial(ps.disk_usage, p.mountpoint))
        disks.append(_clean({"device": (p.device or "?")[:256],
                             "mountpoint": p.mountpoint[:256], "fstype": p.fstype[:256] or None,
                             "total_bytes": int(usage.total) if usage else None}))
    vm = g("memory_bytes", ps.virtual_memory)
    return _clean(dict(
        hostname=g("hostname", lambda: host_name()[:253] or None),
        os=system or None,
        os_version=g("os_version", lambda: platform.version()[:256] or None),
        os_release=g("os_release", lambda: platform.release()[:256] or None),
        architecture=g("architecture", lambda: platform.machine()[:256] or None),
        cpu_model=g("cpu_model", lambda: _cpu_model(platform)),
        cpu_cores=g("cpu_cores", lambda: ps.cpu_count(logical=False)),
        cpu_threads=g("cpu_threads", lambda: ps.cpu_count(logical=True)),
        memory_bytes=int(vm.total) if vm else None,
        disks=disks,
        macs=[m[:256] for m in macs][:64],
        ips=[i[:256] for i in ips][:256],
        manufacturer=g("manufacturer", lambda: _dmi(dmi_dir, "sys_vendor")) if linux else None,
        model=g("model", lambda: _dmi(dmi_dir, "product_name")) if linux else None,
        serial=g("serial", lambda: _dmi(dmi_dir, "product_serial")) if linux else None,
        failed=list(dict.fromkeys(failed)),
    ))
