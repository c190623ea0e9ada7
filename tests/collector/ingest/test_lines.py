"""Agent reports as line protocol, and docs/influxdb-schema.md documents every host field."""

from __future__ import annotations

import re
from pathlib import Path

from agent.schema import Battery, Cpu, Disk, Memory, Process, Report, Snapshot
from collector.config import DeviceConfig
from collector.ingest.lines import HOST_SCHEMA, report_lines

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
