"""Agent reports as line protocol, and docs/influxdb-schema.md documents every host field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.schema import (
    Battery,
    Cpu,
    Disk,
    DiskIo,
    Memory,
    NetIo,
    Process,
    Report,
    Snapshot,
    Temperature,
)
from collector.config import DeviceConfig
from collector.ingest.lines import HOST_SCHEMA, host_tags, report_lines
from collector.ingest.rollup import ROLLUP_SCHEMA
from collector.schema import HOST_TAGS, RESERVED_TAGS
from collector.storage.lineproto import device_tags, escaped_tags, join_tags, quote_string, time_ns

ROOT = Path(__file__).resolve().parents[3]


def test_lines_have_fixed_types_and_the_report_time() -> None:
    r = Report(agent_id="a", seq=7, time=1_800_000_000.5, snapshot=Snapshot(
        cpu=Cpu(percent=50, per_core=[40, 60], count=2), memory=Memory(total_bytes=8),
        disks=[Disk(mountpoint="/home x", fstype="ext4", used_percent=97)],
        battery=Battery(percent=80, plugged=True),
        top_cpu=[Process(pid=1, name='say "hi"', cpu_percent=3)]))
    lines = report_lines(r, DeviceConfig(name="pc 1", host="pc1", kind="workstation"))
    assert "host_cpu,device=pc\\ 1,kind=workstation percent=50.0,cores=2i 1800000000500000000" \
        in lines
    assert ("host_disk,device=pc\\ 1,fstype=ext4,kind=workstation,mountpoint=/home\\ x "
            "used_percent=97.0 1800000000500000000") in lines
    assert any(line.startswith("host_system,") and "seq=7i" in line and "battery_plugged=1i"
               in line for line in lines)
    assert any('name="say \\"hi\\""' in line for line in lines)


def test_schema_doc_lists_every_host_measurement() -> None:
    doc = (ROOT / "docs" / "influxdb-schema.md").read_text()
    for measurement, (tags, fields) in HOST_SCHEMA.items():
        section = re.search(rf"^### `{measurement}`\n(.*?)(?=^##|\Z)", doc, re.M | re.S)
        assert section, f"docs/influxdb-schema.md has no section for {measurement}"
        for tag in tags:
            assert f"`{tag}`" in section.group(1)
        for field, kind in fields.items():
            assert re.search(rf"^\| `{field}` \| {kind} \|", section.group(1), re.M), field


def test_every_host_line_tag_is_reserved_for_config_tags() -> None:
    # a device config tag of the same name would make a second tag on the line: InfluxDB refuses
    # "duplicate tags" and the report's points are lost
    written = {t for table in (HOST_SCHEMA, ROLLUP_SCHEMA) for tags, _ in table.values()
               for t in tags}
    assert written == set(HOST_TAGS) and written <= RESERVED_TAGS


# --- the inline formatter against the generic, schema-driven one it replaced -------------------

def _generic_fields(measurement: str, values: dict[str, object]) -> str:
    types = HOST_SCHEMA[measurement][1]
    parts = []
    for key, value in values.items():
        if value is None:
            continue
        if types[key] == "integer":
            parts.append(f"{key}={int(value)}i")  # type: ignore[call-overload]
        elif types[key] == "string":
            parts.append(f"{key}={quote_string(str(value))}")
        else:
            v = float(value)  # type: ignore[arg-type]
            if v == v and v not in (float("inf"), float("-inf")):
                parts.append(f"{key}={v!r}")
    return ",".join(parts)


def _generic_lines(report: Report, device: DeviceConfig) -> list[str]:
    """report_lines as it was before the inline formatter (bench: 53 µs per report)."""
    stamp = str(time_ns(report.time))
    base = escaped_tags(device_tags(device))
    out: list[str] = []

    def add(measurement: str, values: dict[str, object],
            tags: tuple[tuple[str, str | None], ...] = ()) -> None:
        fields = _generic_fields(measurement, values)
        if fields:
            out.append(f"{measurement}{join_tags([*base, *escaped_tags(tags)])} {fields} {stamp}")

    s = report.snapshot
    add("host_cpu", {"percent": s.cpu.percent, "load1": s.cpu.load1, "load5": s.cpu.load5,
                     "load15": s.cpu.load15, "cores": s.cpu.count})
    for i, pct in enumerate(s.cpu.per_core or ()):
        add("host_cpu_core", {"percent": pct}, (("core", str(i)),))
    m = s.memory
    add("host_mem", {"total_bytes": m.total_bytes, "available_bytes": m.available_bytes,
                     "used_percent": m.used_percent, "swap_total_bytes": m.swap_total_bytes,
                     "swap_used_bytes": m.swap_used_bytes,
                     "swap_used_percent": m.swap_used_percent})
    for d in s.disks:
        add("host_disk", {"total_bytes": d.total_bytes, "used_bytes": d.used_bytes,
                          "free_bytes": d.free_bytes, "used_percent": d.used_percent},
            (("mountpoint", d.mountpoint), ("fstype", d.fstype)))
    for io in s.disk_io:
        add("host_diskio", {"read_bytes": io.read_bytes, "write_bytes": io.write_bytes,
                            "read_count": io.read_count, "write_count": io.write_count},
            (("disk", io.name),))
    for n in s.net_io:
        add("host_net", {"bytes_sent": n.bytes_sent, "bytes_recv": n.bytes_recv,
                         "errin": n.errin, "errout": n.errout, "dropin": n.dropin,
                         "dropout": n.dropout}, (("interface", n.name),))
    b = s.battery
    add("host_system", {"uptime_seconds": s.uptime_seconds, "boot_time": s.boot_time,
                        "users": len(s.users), "seq": report.seq,
                        "battery_percent": b.percent if b else None,
                        "battery_plugged": int(b.plugged) if b and b.plugged is not None
                        else None})
    for t in s.temperatures:
        add("host_temp", {"celsius": t.celsius}, (("sensor", t.sensor), ("label", t.label)))
    for rank_by, procs in (("cpu", s.top_cpu), ("memory", s.top_memory)):
        for rank, p in enumerate(procs, 1):
            add("host_proc", {"pid": p.pid, "name": p.name, "cpu_percent": p.cpu_percent,
                              "memory_bytes": p.memory_bytes},
                (("rank_by", rank_by), ("rank", str(rank))))
    return out


_FULL = Snapshot(
    cpu=Cpu(percent=12.5, per_core=[0, 99.5, 1e-7], load1=0.0, load5=2, load15=1e9, count=3),
    memory=Memory(total_bytes=2**40, available_bytes=0, used_percent=100, swap_total_bytes=5,
                  swap_used_bytes=2, swap_used_percent=40.0),
    disks=[Disk(mountpoint="C:\\", fstype="NTFS", total_bytes=9, used_bytes=1, free_bytes=8,
                used_percent=11.1), Disk(mountpoint="/a,b=c d", fstype="")],
    disk_io=[DiskIo(name="sda", read_bytes=1, write_bytes=2, read_count=3, write_count=4),
             DiskIo(name="nvme0n1")],
    net_io=[NetIo(name="eth 0", bytes_sent=1, bytes_recv=2, errin=0, errout=0, dropin=5,
                  dropout=6), NetIo(name="lo")],
    uptime_seconds=12.25, boot_time=1_700_000_000.0, users=["ann", "bo"],
    battery=Battery(percent=55.5, plugged=False),
    temperatures=[Temperature(sensor="coretemp", label="Core 0", celsius=-1.5),
                  Temperature(sensor="acpitz", celsius=40)],
    top_cpu=[Process(pid=1, name='a "b" \\ c', cpu_percent=0.1, memory_bytes=10),
             Process(pid=2, name="x")],
    top_memory=[Process(pid=3, name="y", memory_bytes=2**33)])


@pytest.mark.parametrize("snapshot", [
    _FULL, Snapshot(), _FULL.model_copy(update={"battery": Battery()}),
    _FULL.model_copy(update={"battery": None, "cpu": Cpu()})])
@pytest.mark.parametrize("device", [
    DeviceConfig(name="pc 1", host="pc1", kind="workstation"),
    DeviceConfig(name="srv,=", host="srv", kind="server", site="HQ 2",
                 tags={"zone": "a b", "owner": "it"})])
def test_inline_lines_equal_the_generic_formatter(snapshot: Snapshot,
                                                  device: DeviceConfig) -> None:
    r = Report(agent_id="a", seq=123, time=1_800_000_000.123456, snapshot=snapshot)
    expected = _generic_lines(r, device)
    assert report_lines(r, device) == expected
    assert report_lines(r, device, host_tags(device)) == expected
