"""Agent reports as line protocol, and docs/influxdb-schema.md documents every host field."""

from __future__ import annotations

import re
from pathlib import Path

from agent.schema import Battery, Cpu, Disk, Memory, Process, Report, Snapshot
from collector.config import DeviceConfig
from collector.ingest.lines import HOST_SCHEMA, report_lines
from collector.ingest.rollup import ROLLUP_SCHEMA
from collector.schema import HOST_TAGS, RESERVED_TAGS

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
