"""A whole collector app on loopback with agent ingest, and report builders."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from agent.schema import Cpu, Disk, Memory, Report, Snapshot
from collector.app import build_app
from collector.config import CollectorSettings, Config, DeviceConfig, TicketSettings
from collector.demo import free_port
from collector.ingest.settings import IngestSettings
from probes.secret import Secret

SECRET = "enroll-me-please"
ADMIN = "admin-token"


@dataclass
class Server:
    app: web.Application
    url: str
    http: aiohttp.ClientSession

    async def call(self, method: str, path: str, body: Any = None, *, token: str | None = None,
                   raw: bytes | None = None, headers: dict[str, str] | None = None
                   ) -> tuple[int, Any]:
        h = dict(headers or {})
        if method in {"POST", "PUT", "PATCH"} and "Content-Type" not in h:
            h["Content-Type"] = "application/json"  # (the request gate refuses other types)
        if token:
            h["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        async with self.http.request(method, self.url + path, data=data, headers=h) as r:
            text = await r.text()
            try:
                return r.status, json.loads(text)
            except ValueError:
                return r.status, text

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


def config(tmp: Path, devices: tuple[DeviceConfig, ...] = ()) -> Config:
    return Config(path=tmp / "fleetwatch.yaml",
                  collector=CollectorSettings(state_dir=tmp / "state", api_token=Secret(ADMIN)),
                  tickets=TicketSettings(debounce_polls=2), devices=devices)


async def serve(tmp: Path, settings: IngestSettings | None = None,
                devices: tuple[DeviceConfig, ...] = ()) -> AsyncIterator[Server]:
    (tmp / "secret").write_text(SECRET + "\n")
    settings = settings or IngestSettings(enroll_secret_file=tmp / "secret")
    app = build_app(config(tmp, devices), ingest=settings)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Server(app, f"http://127.0.0.1:{port}", http)
    finally:
        await runner.cleanup()
