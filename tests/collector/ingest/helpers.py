"""A whole collector app on loopback with agent ingest, and report builders."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from agent.schema import Cpu, Disk, Memory, Report, Snapshot
from collector.app import build_app
from collector.config import (
    CollectorSettings,
    Config,
    DeviceConfig,
    StorageConfig,
    TicketSettings,
)
from collector.ingest.settings import IngestSettings
from probes.secret import Secret
from tests.apps import Client, serving

SECRET = "enroll-me-please"
ADMIN = "admin-token"


class Server(Client):
    async def enroll(self, hostname: str = "pc-1") -> tuple[str, str]:
        status, body = await self.call("POST", "/api/v1/agents/enroll",
                                       {"secret": SECRET, "hostname": hostname})
        assert status == 200, body
        return body["agent_id"], body["token"]


def report(agent_id: str, seq: int, *, disk: float = 40.0, cpu: float = 5.0,
           mem: float = 30.0, at: float | None = None, interval: float = 10.0) -> Report:
    return Report(agent_id=agent_id, seq=seq, time=at if at is not None else time.time(),
                  interval=interval, snapshot=Snapshot(
                      cpu=Cpu(percent=cpu, load1=0.1), memory=Memory(used_percent=mem),
                      disks=[Disk(mountpoint="/", used_percent=disk, total_bytes=1000)]))


def batch(*reports: Report) -> dict[str, Any]:
    return {"version": 1, "reports": [r.model_dump(mode="json", exclude_none=True)
                                      for r in reports]}


def config(tmp: Path, devices: tuple[DeviceConfig, ...] = (),
           storage: StorageConfig | None = None) -> Config:
    return Config(path=tmp / "fleetwatch.yaml",
                  collector=CollectorSettings(state_dir=tmp / "state", api_token=Secret(ADMIN)),
                  tickets=TicketSettings(debounce_polls=2), devices=devices,
                  storage=storage or StorageConfig())


async def serve(tmp: Path, settings: IngestSettings | None = None,
                devices: tuple[DeviceConfig, ...] = (),
                storage: StorageConfig | None = None) -> AsyncIterator[Server]:
    (tmp / "secret").write_text(SECRET + "\n")
    settings = settings or IngestSettings(enroll_secret_file=tmp / "secret")
    app = build_app(config(tmp, devices, storage), ingest=settings)
    async with serving(app) as url, aiohttp.ClientSession() as http:
        yield Server(app, url, http)
