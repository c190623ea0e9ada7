"""The agent's wire format: what it POSTs to the collector, as pydantic v2 models.

Shared by both ends: the agent builds these, ``collector.ingest`` validates requests with them
(the collector may import ``agent/``; ``agent/`` never imports ``collector/``).
``docs/agent-report.schema.json`` is generated from :class:`ReportBatch` (``python -m
agent.schema > docs/agent-report.schema.json``; a test keeps it current).

Contracts:
- Every metric field is optional: a field the OS does not give, or whose read failed, is absent
  (``None``), never a made-up value and never a reason to drop the report.
- Unknown keys are refused (``extra="forbid"``) so that a typo shows as a 400 with its path,
  not as silently missing data. Bounds keep one report small (lists are capped).
- ``(agent_id, seq)`` identifies a report: the collector stores each pair once.
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

Pct = Annotated[float, Field(ge=0, le=100)]
NonNeg = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(ge=0)]
Name = Annotated[str, Field(max_length=256)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cpu(_Model):
    percent: Pct | None = Field(default=None, description="all cores, mean since the last snapshot")
    per_core: list[Pct] | None = Field(default=None, max_length=1024)
    load1: NonNeg | None = None
    load5: NonNeg | None = None
    load15: NonNeg | None = None
    count: Count | None = None


class Memory(_Model):
    total_bytes: Count | None = None
    available_bytes: Count | None = None
    used_percent: Pct | None = None
    swap_total_bytes: Count | None = None
    swap_used_bytes: Count | None = None
    swap_used_percent: Pct | None = None


class Disk(_Model):
    mountpoint: Name
    device: Name | None = None
    fstype: Name | None = None
    total_bytes: Count | None = None
    used_bytes: Count | None = None
    free_bytes: Count | None = None
    used_percent: Pct | None = None


class DiskIo(_Model):
    name: Name
    read_bytes: Count | None = None
    write_bytes: Count | None = None
    read_count: Count | None = None
    write_count: Count | None = None


class NetIo(_Model):
    name: Name
    bytes_sent: Count | None = None
    bytes_recv: Count | None = None
    errin: Count | None = None
    errout: Count | None = None
    dropin: Count | None = None
    dropout: Count | None = None


class Address(_Model):
    interface: Name
    family: Annotated[str, Field(max_length=16)]  # ipv4 | ipv6 | mac
    address: Name


class Battery(_Model):
    percent: Pct | None = None
    plugged: bool | None = None
    seconds_left: NonNeg | None = None


class Temperature(_Model):
    sensor: Name
    label: Name | None = None
    celsius: Annotated[float, Field(ge=-273.15, le=1000)]


class Process(_Model):
    pid: Count
    name: Name
    cpu_percent: NonNeg | None = None
    memory_bytes: Count | None = None


class Snapshot(_Model):
    """One moment of one host. Lists are capped so one report stays small."""

    cpu: Cpu = Field(default_factory=Cpu)
    memory: Memory = Field(default_factory=Memory)
    disks: list[Disk] = Field(default_factory=list, max_length=256)
    disk_io: list[DiskIo] = Field(default_factory=list, max_length=256)
    net_io: list[NetIo] = Field(default_factory=list, max_length=256)
    addresses: list[Address] = Field(default_factory=list, max_length=512)
    boot_time: NonNeg | None = None
    uptime_seconds: NonNeg | None = None
    battery: Battery | None = None
    temperatures: list[Temperature] = Field(default_factory=list, max_length=256)
    users: list[Name] = Field(default_factory=list, max_length=256)
    top_cpu: list[Process] = Field(default_factory=list, max_length=20)
    top_memory: list[Process] = Field(default_factory=list, max_length=20)
    # Names of the fields whose read failed on this host (for the docs' "where from" table).
    failed: list[Name] = Field(default_factory=list, max_length=64)


class InventoryDisk(_Model):
    device: Name
    mountpoint: Name | None = None
    fstype: Name | None = None
    total_bytes: Count | None = None


class Inventory(_Model):
    """What a host is; sent at start and then every ``inventory_every`` reports."""

    hostname: Name | None = None
    os: Name | None = None
    os_version: Name | None = None
    os_release: Name | None = None
    architecture: Name | None = None
    cpu_model: Name | None = None
    cpu_cores: Count | None = None
    cpu_threads: Count | None = None
    memory_bytes: Count | None = None
    disks: list[InventoryDisk] = Field(default_factory=list, max_length=256)
    macs: list[Name] = Field(default_factory=list, max_length=64)
    ips: list[Name] = Field(default_factory=list, max_length=256)
    manufacturer: Name | None = None
    model: Name | None = None
    serial: Name | None = None
    failed: list[Name] = Field(default_factory=list, max_length=64)


class Report(_Model):
    agent_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    seq: Annotated[int, Field(ge=1, le=2**62)]
    time: Annotated[float, Field(ge=0, le=2**33)] = Field(description="seconds since the epoch")
    interval: Annotated[float, Field(gt=0, le=86400)] = 10.0
    snapshot: Snapshot
    inventory: Inventory | None = None


class ReportBatch(_Model):
    """The body of ``POST /api/v1/agents/reports``: oldest report first."""

    version: Annotated[int, Field(ge=1, le=SCHEMA_VERSION)] = SCHEMA_VERSION
    reports: list[Report] = Field(min_length=1, max_length=1000)


class BatchResult(_Model):
    """The collector's answer to a batch: ``accepted`` were new, ``duplicates`` already stored."""

    accepted: Count
    duplicates: Count


class EnrollRequest(_Model):
    secret: Annotated[str, Field(min_length=1, max_length=1024)]
    hostname: Annotated[str, Field(min_length=1, max_length=253)]
    # HMAC-SHA256 of the OS machine id keyed with an application id (agent/run.py), so that a
    # revoked host is still known after a rename; absent where the OS has none we read.
    machine_id: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class AllowRequest(_Model):
    """``POST /api/v1/agents/allow``: a revoked host name, machine id or agent id."""

    host: Annotated[str, Field(min_length=1, max_length=253)]


class EnrollResponse(_Model):
    agent_id: str
    token: str


def json_schema() -> str:
    """The JSON Schema of a report batch, as written to ``docs/agent-report.schema.json``."""
    schema = ReportBatch.model_json_schema()
    schema["$id"] = "https://fleetwatch.invalid/agent-report.schema.json"
    schema["title"] = "Fleetwatch agent report batch"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(json_schema(), end="")
