"""Workstation agents for the demo and the benchmarks: simulated ones in this process, and the
real ``fleetwatch-agent`` as a child process.

:class:`SimAgents` enrolls a few made-up workstations through the collector's real HTTP API and
posts reports with varied values: one PC's disk fills steadily until its disk ticket opens by
itself, one runs its memory hot, the rest idle along. :class:`RealAgent` runs
``python -m agent`` against the collector (the demo machine itself).
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from agent.schema import Cpu, Disk, Inventory, Memory, NetIo, Report, ReportBatch, Snapshot
from collector.demo.lab import LabError, Process

ROOT = Path(__file__).resolve().parents[2]


@dataclass(slots=True)
class SimHost:
    """One simulated workstation. ``disk_rate``: percentage points per step."""

    name: str
    disk: float
    disk_rate: float = 0.0
    mem: float = 35.0
    cpu: float = 8.0
    agent_id: str = ""
    token: str = ""
    seq: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def report(self, now: float, interval: float) -> Report:
        self.seq += 1
        self.disk = min(99.5, self.disk + self.disk_rate)
        cpu = max(0.0, min(100.0, self.cpu + self.rng.gauss(0, 4)))
        mem = max(0.0, min(100.0, self.mem + 3 * math.sin(now / 300) + self.rng.gauss(0, 1)))
        total = 256_000_000_000
        used = int(total * self.disk / 100)
        inv = None
        if self.seq == 1:
            inv = Inventory(hostname=self.name, os="Windows", os_release="11",
                            cpu_model="Intel(R) Core(TM) i5-1245U", cpu_cores=10,
                            memory_bytes=16 * 2**30, manufacturer="Dell Inc.",
                            model="Latitude 5430", serial=f"SIM{abs(hash(self.name)) % 10**7:07d}")
        return Report(
            agent_id=self.agent_id, seq=self.seq, time=now, interval=interval,
            inventory=inv,
            snapshot=Snapshot(
                cpu=Cpu(percent=cpu, per_core=[cpu] * 4, load1=cpu / 25, count=4),
                memory=Memory(total_bytes=16 * 2**30, used_percent=mem,
                              available_bytes=int(16 * 2**30 * (100 - mem) / 100)),
                disks=[Disk(mountpoint="C:\\", fstype="NTFS", total_bytes=total,
                            used_bytes=used, free_bytes=total - used,
                            used_percent=round(self.disk, 2))],
                net_io=[NetIo(name="Ethernet", bytes_sent=self.seq * 50_000,
                              bytes_recv=self.seq * 400_000)],
                uptime_seconds=3600.0 + self.seq * interval))


def demo_hosts(seed: int = 7) -> list[SimHost]:
    """The demo's simulated PCs: a filling disk (ticket within minutes), a hot one, idle ones."""
    rng = random.Random(seed)
    return [
        SimHost("demo-pc-accounts", disk=89.0, disk_rate=0.25, rng=rng),
        SimHost("demo-pc-reception", disk=41.0, mem=92.5, rng=rng),
        SimHost("demo-pc-design", disk=63.0, cpu=35.0, rng=rng),
        SimHost("demo-pc-lab", disk=22.0, rng=rng),
    ]


class SimAgents:
    """Simulated agents posting to ``url`` every ``interval`` seconds."""

    def __init__(self, url: str, secret: str, hosts: list[SimHost], interval: float = 15.0
                 ) -> None:
        self.url = url.rstrip("/")
        self.secret = secret
        self.hosts = hosts
        self.interval = interval

    async def enroll(self, session: aiohttp.ClientSession) -> None:
        for h in self.hosts:
            async with asyncio.timeout(10), session.post(
                    f"{self.url}/api/v1/agents/enroll",
                    json={"secret": self.secret, "hostname": h.name}) as resp:
                data = await resp.json()
                if resp.status != 200:
                    raise LabError(f"enrollment of {h.name} refused ({resp.status}): "
                                   f"{data.get('error')}")
            h.agent_id, h.token = data["agent_id"], data["token"]

    async def step(self, session: aiohttp.ClientSession, now: float | None = None) -> int:
        """One report of every host; how many the collector accepted."""
        accepted = 0
        for h in self.hosts:
            body = ReportBatch(reports=[h.report(now or time.time(), self.interval)])
            async with asyncio.timeout(10), session.post(
                    f"{self.url}/api/v1/agents/reports",
                    data=body.model_dump_json(exclude_none=True),
                    headers={"Authorization": f"Bearer {h.token}",
                             "Content-Type": "application/json"}) as resp:
                data = await resp.json()
                accepted += int(data.get("accepted", 0)) if resp.status == 200 else 0
        return accepted

    async def run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    if not all(h.token for h in self.hosts):
                        await self.enroll(session)
                    await self.step(session)
                except Exception as err:  # the demo goes on; the next step retries
                    print(f"simulated agents: {err}", file=sys.stderr, flush=True)
                await asyncio.sleep(self.interval)


class RealAgent(Process):
    """``python -m agent`` (the real agent) against ``url``, its state in ``state_dir``."""

    def __init__(self, url: str, secret_file: Path, state_dir: Path, interval: float = 10.0
                 ) -> None:
        super().__init__()
        self.args = [sys.executable, "-m", "agent", "--collector-url", url, "--interval",
                     f"{interval:g}", "--state-dir", str(state_dir), "--enroll-secret-file",
                     str(secret_file)]

    def start(self) -> RealAgent:
        self._spawn(self.args, env={**os.environ, "PYTHONPATH": str(ROOT)})
        return self


def demo_secret(state_dir: Path) -> Path:
    """The demo's enrollment secret file (made once, mode 0600, kept with the demo's state)."""
    path = state_dir / "demo-enroll-secret"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24) + "\n")
    return path
