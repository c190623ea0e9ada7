"""The psutil snapshot and the inventory, from injected values (never the test host's), and
what the agent builds is what the schema (and so the collector) accepts."""

from __future__ import annotations

from pathlib import Path

import psutil

from agent.inventory import inventory
from agent.schema import Inventory, Snapshot
from agent.snapshot import Snapshotter
from tests.agent.fakepsutil import FakePsutil


def test_snapshot_reads_every_field_from_psutil() -> None:
    ticks = iter(range(100))
    snapper = Snapshotter(FakePsutil(disk_percent=91.5, cpu=12.5),
                          clock=lambda: 1_700_000_100.0, mono=lambda: float(next(ticks)))
    first = Snapshot.model_validate(snapper.take())
    assert first.top_cpu == []  # no CPU figure at a process's first sight
    snap = Snapshot.model_validate(snapper.take())
    assert snap.cpu.percent == 12.5 and snap.cpu.per_core == [12.5, 12.5]
    assert (snap.cpu.load1, snap.cpu.count) == (0.5, 4)
    assert snap.memory.used_percent == 30.0 and snap.memory.swap_used_percent == 5.0
    assert [d.mountpoint for d in snap.disks] == ["/", "/home"]  # tmpfs left out
    assert snap.disks[0].used_percent == 91.5
    assert snap.disks[1].used_percent is None  # its usage failed: missing, not a crash
    assert "disks./home" in snap.failed
    assert snap.uptime_seconds == 100.0
    assert snap.users == ["alice"]
    assert snap.battery is not None and snap.battery.percent == 77.0
    assert snap.temperatures[0].celsius == 48.0
    assert [(p.name, p.cpu_percent) for p in snap.top_cpu[:2]] == [("busy", 95.0), ("fat", 1.0)]
    assert snap.top_memory[0].name == "fat"
    assert "hidden" not in {p.name for p in snap.top_memory}  # unreadable: skipped
    assert {(a.family, a.address) for a in snap.addresses} >= {("ipv4", "192.0.2.10"),
                                                             ("mac", "52:54:00:12:34:56")}


def test_the_process_table_is_read_every_nth_snapshot() -> None:
    ticks = iter(range(100))
    ps = FakePsutil()
    snapper = Snapshotter(ps, mono=lambda: float(next(ticks)), processes_every=3)
    shown = ["top_memory" in snapper.take() for _ in range(7)]
    assert shown == [True, False, False, True, False, False, True] and ps.scans == 3


def test_a_failing_field_is_missing_never_a_crash() -> None:
    ps = FakePsutil(broken=frozenset({"cpu_percent", "virtual_memory", "getloadavg",
                                      "disk_partitions", "sensors_temperatures"}))
    snap = Snapshot.model_validate(Snapshotter(ps).take())
    assert snap.cpu.percent is None and snap.cpu.load1 is None
    assert snap.memory.used_percent is None and snap.memory.swap_used_percent == 5.0
    assert snap.disks == [] and snap.temperatures == []
    assert {"cpu.percent", "memory", "cpu.load", "disks", "temperatures"} <= set(snap.failed)


def test_this_hosts_real_snapshot_and_inventory_fit_the_schema() -> None:
    """The real psutil of the test host, for the shape only (no value is asserted)."""
    snap = Snapshotter(psutil)
    Snapshot.model_validate(snap.take())
    Snapshot.model_validate(snap.take())
    Inventory.model_validate(inventory(psutil))


class _Platform:
    @staticmethod
    def system() -> str:
        return "Linux"

    @staticmethod
    def version() -> str:
        return "#1 SMP"

    @staticmethod
    def release() -> str:
        return "6.1.0"

    @staticmethod
    def machine() -> str:
        return "x86_64"

    @staticmethod
    def processor() -> str:
        return ""


def test_inventory_reads_dmi_and_skips_placeholders(tmp_path: Path) -> None:
    (tmp_path / "sys_vendor").write_text("LENOVO\n")
    (tmp_path / "product_name").write_text("20XW0055GE\n")
    (tmp_path / "product_serial").write_text("To be filled by O.E.M.\n")
    inv = Inventory.model_validate(inventory(FakePsutil(), platform=_Platform, dmi_dir=tmp_path,
                                             host_name=lambda: "pc-17"))
    assert (inv.hostname, inv.os, inv.os_release) == ("pc-17", "Linux", "6.1.0")
    assert (inv.manufacturer, inv.model, inv.serial) == ("LENOVO", "20XW0055GE", None)
    assert inv.macs == ["52:54:00:12:34:56"] and inv.ips == ["192.0.2.10"]
    assert (inv.cpu_cores, inv.cpu_threads, inv.memory_bytes) == (2, 4, 8_000_000_000)


def test_inventory_without_dmi_names_the_missing_fields(tmp_path: Path) -> None:
    inv = inventory(FakePsutil(), platform=_Platform, dmi_dir=tmp_path / "absent")
    assert "manufacturer" not in inv and {"manufacturer", "model", "serial"} <= set(inv["failed"])


def test_inventory_serial_when_readable_else_absent(tmp_path: Path) -> None:
    (tmp_path / "product_serial").write_text("PC0XYZ12\n")
    inv = inventory(FakePsutil(), platform=_Platform, dmi_dir=tmp_path)
    assert inv["serial"] == "PC0XYZ12" and "serial" not in inv["failed"]
    # unreadable (root only on Linux; a directory stands in here, as tests run as root)
    (tmp_path / "product_serial").unlink()
    (tmp_path / "product_serial").mkdir()
    inv = inventory(FakePsutil(), platform=_Platform, dmi_dir=tmp_path)
    assert "serial" not in inv and "serial" in inv["failed"]
    assert inv["macs"] == ["52:54:00:12:34:56"]  # the AF_LINK address of the fake NIC
