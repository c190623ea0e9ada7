"""The workstation agent's footprint and the collector's ingest rate (issue 11).

``footprint``: the real agent (``python -m agent``, 10 s interval) posting to a real collector
process for ``--minutes`` (≥ 5), beside Debian's ``prometheus-node-exporter`` in the same run,
scraped every 10 s as Prometheus would. Every 10 s both processes' RSS (``/proc/PID/status``
VmRSS) and CPU (utime+stime of ``/proc/PID/stat``) are sampled; CPU is reported over the run
after the first interval (start-up: imports, enrollment, first inventory).

``ingest``: a real collector process (with a real influxd behind it) and ``--agents`` simulated
agents in this process, each posting batches of ``--batch`` reports in a closed loop for
``--seconds``. Reported: reports/s per core of the collector (reports / its CPU seconds), wall
rate, request latency p50/p99 (client side), and the count check: every report accepted by the
collector is in its (agent, seq) table and in InfluxDB once, none lost.

    python -m bench.agent footprint --minutes 5
    python -m bench.agent ingest --agents 50 --batch 1 --seconds 20 [--nice 10] [--peer]

``--peer``: the same load against a bare aiohttp app (reads the body, answers JSON) instead of
the collector: the floor that aiohttp itself costs per request on this machine at that moment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from agent.schema import Cpu, Disk, Memory, NetIo, Report, Snapshot
from collector.demo import Influxd, LabError, free_port
from collector.ingest.store import DB_NAME, AgentStore
from probes import eventloop

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
SECRET = "bench-secret"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"{proc.args!r} exited early ({proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise LabError(f"{url} did not answer in {timeout:g} s")


def start_collector(tmp: Path, storage: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    cfg = tmp / "collector.yaml"
    # public_read: the bench reads /api/v1/agents without an account (reads need one otherwise)
    cfg.write_text(f"collector: {{listen: 127.0.0.1:{port}, state_dir: '{tmp / 'state'}'}}\n"
                   f"storage: {storage}\nauth: {{public_read: true}}\ndevices: []\n")
    env = {**os.environ, "FLEETWATCH_ENROLL_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "collector.cli", "collector", "--config",
                             str(cfg), "--log-level", "WARNING"], env=env,
                            stdout=(tmp / "collector.log").open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_up(f"http://127.0.0.1:{port}/api/v1/agents", proc)
    except BaseException:
        stop(proc)  # a collector that never answered is not left running
        raise
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- footprint ---------------------------------------------------------------------------------

def footprint(minutes: float, interval: float = 10.0) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="fleetwatch-bench-agent-"))
    collector, port = start_collector(tmp, "{backend: none}")
    (tmp / "secret").write_text(SECRET)
    agent = subprocess.Popen(
        [sys.executable, "-m", "agent", "--collector-url", f"http://127.0.0.1:{port}",
         "--interval", f"{interval:g}", "--state-dir", str(tmp / "agent"),
         "--enroll-secret-file", str(tmp / "secret"), "--log-level", "WARNING"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=(tmp / "agent.log").open("wb"),
        stderr=subprocess.STDOUT, start_new_session=True)
    ne_port = free_port()
    exporter = subprocess.Popen([NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{ne_port}"],
                                stdout=(tmp / "ne.log").open("wb"), stderr=subprocess.STDOUT,
                                start_new_session=True)
    samples: list[dict[str, float]] = []
    try:
        wait_up(f"http://127.0.0.1:{ne_port}/metrics", exporter)
        start = time.monotonic()
        while time.monotonic() - start < minutes * 60 + 2 * interval:
            with urllib.request.urlopen(f"http://127.0.0.1:{ne_port}/metrics", timeout=10) as r:
                r.read()  # a Prometheus scrape: node-exporter works only when scraped
            samples.append({"t": time.monotonic() - start,
                            "agent_cpu": cpu_seconds(agent.pid), "agent_rss": rss_mb(agent.pid),
                            "ne_cpu": cpu_seconds(exporter.pid), "ne_rss": rss_mb(exporter.pid)})
            time.sleep(interval)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/agents", timeout=10) as r:
            agents = json.load(r)["agents"]
    finally:
        for p in (agent, exporter, collector):
            stop(p)
    first, last = samples[1], samples[-1]  # from the first interval on: start-up excluded
    span = last["t"] - first["t"]

    def pct(key: str) -> float:
        return 100 * (last[key] - first[key]) / span

    return {
        "minutes": round(span / 60, 2), "interval_s": interval, "samples": len(samples),
        "reports_accepted": sum(a["reports"] for a in agents),
        "agent": {"rss_mb_max": round(max(s["agent_rss"] for s in samples), 1),
                  "rss_mb_first": round(samples[0]["agent_rss"], 1),
                  "rss_mb_last": round(last["agent_rss"], 1),
                  "cpu_percent_of_core": round(pct("agent_cpu"), 3),
                  "cpu_s_startup": round(samples[0]["agent_cpu"], 2)},
        "node_exporter": {"rss_mb_max": round(max(s["ne_rss"] for s in samples), 1),
                          "rss_mb_last": round(last["ne_rss"], 1),
                          "cpu_percent_of_core": round(pct("ne_cpu"), 3)},
    }


# --- ingest ------------------------------------------------------------------------------------

def _report(agent_id: str, seq: int, now: float) -> dict[str, Any]:
    r = Report(agent_id=agent_id, seq=seq, time=now + seq * 1e-3, snapshot=Snapshot(
        cpu=Cpu(percent=12.5, per_core=[10.0, 15.0, 12.0, 13.0], load1=0.4, count=4),
        memory=Memory(total_bytes=16 * 2**30, available_bytes=9 * 2**30, used_percent=43.7),
        disks=[Disk(mountpoint="/", fstype="ext4", total_bytes=512 * 10**9,
                    used_bytes=200 * 10**9, free_bytes=312 * 10**9, used_percent=39.1)],
        net_io=[NetIo(name="eth0", bytes_sent=seq * 1000, bytes_recv=seq * 9000)],
        uptime_seconds=1000.0 + seq))
    return r.model_dump(mode="json", exclude_none=True)


async def _load(url: str, agents: list[tuple[str, str]], batch: int, seconds: float,
                rate: float | None) -> tuple[int, list[float], int]:
    """Closed loop (each agent posts again as soon as answered) or, with ``rate`` (reports/s
    over all agents), open loop: each agent posts on its own fixed schedule, so latency is
    the service time at that load, not the queue of a saturated server."""
    latencies: list[float] = []
    sent = 0
    errors = 0
    deadline = time.monotonic() + seconds
    now = time.time()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(agent_id: str, token: str) -> None:
            nonlocal sent, errors
            seq = 0
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            period = len(agents) * batch / rate if rate else 0.0
            due = time.monotonic() + random.uniform(0, period)
            # one report rendered once; each send only patches seq and time (client CPU is
            # not what is measured, and the 2 cores are shared with the collector)
            template = json.dumps(_report(agent_id, 999_999_999, now)).replace(
                "999999999", "{seq}", 1).replace(f"{now + 999_999.999}", "{time}")
            while time.monotonic() < deadline:
                if period:
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    due += period
                body = ('{"version":1,"reports":[' + ",".join(
                    template.replace("{seq}", str(seq + i + 1)).replace(
                        "{time}", repr(now + (seq + i + 1) * 1e-3)) for i in range(batch))
                    + "]}").encode()
                t0 = time.perf_counter()
                async with session.post(f"{url}/api/v1/agents/reports", data=body,
                                        headers=headers) as resp:
                    answer = await resp.json()
                latencies.append(time.perf_counter() - t0)
                if resp.status == 200 and answer["accepted"] == batch:
                    seq += batch
                    sent += batch
                else:
                    errors += 1
        await asyncio.gather(*(one(a, t) for a, t in agents))
    return sent, latencies, errors


async def _enroll(state: Path, n: int) -> list[tuple[str, str]]:
    """Tokens made in the collector's database before it starts (the HTTP enrollment is
    rate-limited per address, as it should be, which would make setting up 100s of agents
    from one address slow)."""
    store = await AgentStore.open(state / DB_NAME)
    try:
        out = []
        for i in range(n):
            row, token = await store.enroll(f"bench-pc-{i:04d}", "bench")
            out.append((row.id, token))
        return out
    finally:
        await store.close()


def ingest(n_agents: int, batch: int, seconds: float, rate: float | None = None,
           nice: int = 0) -> dict[str, Any]:
    """``nice``: the load generator (this process) lowers its own priority by that much once
    influxd and the collector run (they keep the normal one), so that on a busy machine the
    collector's figure is less disturbed by the load it is measured under."""
    tmp = Path(tempfile.mkdtemp(prefix="fleetwatch-bench-ingest-"))
    (tmp / "state").mkdir()
    agents = asyncio.run(_enroll(tmp / "state", n_agents))
    influxd = Influxd().start()
    db = "bench_ingest"
    collector: subprocess.Popen[bytes] | None = None
    try:
        collector, port = start_collector(
            tmp, f"{{backend: influxdb_v1, url: '{influxd.url}', database: {db}, "
                 "flush_interval: 1s}")
        if nice:
            os.nice(nice)
        url = f"http://127.0.0.1:{port}"
        load0 = os.getloadavg()
        cpu0, t0 = cpu_seconds(collector.pid), time.monotonic()
        sent, latencies, errors = asyncio.run(_load(url, agents, batch, seconds, rate))
        cpu1, t1 = cpu_seconds(collector.pid), time.monotonic()
        load1 = os.getloadavg()
        with urllib.request.urlopen(f"{url}/api/v1/agents", timeout=30) as r:
            rows = json.load(r)["agents"]
        stop(collector)  # flushes what the writer holds
        time.sleep(1)
        result: Any = influxd.query("SELECT count(seq) FROM host_system", db=db)
        series = result["results"][0].get("series", [])
        in_influx = series[0]["values"][0][1] if series else 0
    finally:
        if collector is not None:
            stop(collector)
        influxd.stop()
    qs = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [0.0] * 99
    cpu = cpu1 - cpu0
    stored = sum(a["reports"] for a in rows)
    return {
        "agents": n_agents, "batch": batch, "offered_reports_per_s": rate or "closed loop",
        "seconds": round(t1 - t0, 1), "load_generator_nice": nice,
        "load_average_1m_before_after": [round(load0[0], 2), round(load1[0], 2)],
        "reports_sent": sent, "requests": len(latencies), "errors": errors,
        "collector_cpu_s": round(cpu, 2),
        "reports_per_s_wall": round(sent / (t1 - t0), 1),
        "reports_per_s_per_core": round(sent / cpu, 1) if cpu else None,
        "latency_ms_p50": round(qs[49] * 1000, 2), "latency_ms_p99": round(qs[98] * 1000, 2),
        "stored_in_collector": stored, "duplicates": sum(a["duplicates"] for a in rows),
        "in_influxdb": in_influx, "lost": sent - min(stored, in_influx),
    }


def _peer_app() -> web.Application:
    """The peer: a bare aiohttp app on the collector's event loop choice that reads the body
    and answers as the collector does, with no middleware, validation, storage or sinks."""
    async def reports(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response({"accepted": body.count(b'"seq"'), "duplicates": 0})

    async def agents(request: web.Request) -> web.Response:
        return web.json_response({"agents": []})

    app = web.Application()
    app.router.add_post("/api/v1/agents/reports", reports)
    app.router.add_get("/api/v1/agents", agents)
    return app


async def _serve_peer(port: int) -> None:
    runner = web.AppRunner(_peer_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.Event().wait()  # until SIGTERM (stop())
    finally:
        await runner.cleanup()


def peer(n_agents: int, batch: int, seconds: float, rate: float | None = None,
         nice: int = 0) -> dict[str, Any]:
    """The same load against :func:`_peer_app` in a process of its own: what aiohttp alone
    costs per request on this machine, in the same minutes."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.agent", "peer-server", str(port)],
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            start_new_session=True)
    try:
        wait_up(f"http://127.0.0.1:{port}/api/v1/agents", proc)
        if nice:
            os.nice(nice)
        load0 = os.getloadavg()
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        sent, latencies, errors = asyncio.run(_load(
            f"http://127.0.0.1:{port}", [(f"peer-{i}", "t") for i in range(n_agents)], batch,
            seconds, rate))
        cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
        load1 = os.getloadavg()
    finally:
        stop(proc)
    qs = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [0.0] * 99
    cpu = cpu1 - cpu0
    return {"peer": "bare aiohttp", "agents": n_agents, "batch": batch,
            "offered_reports_per_s": rate or "closed loop", "seconds": round(t1 - t0, 1),
            "load_generator_nice": nice,
            "load_average_1m_before_after": [round(load0[0], 2), round(load1[0], 2)],
            "reports_sent": sent, "errors": errors, "server_cpu_s": round(cpu, 2),
            "reports_per_s_wall": round(sent / (t1 - t0), 1),
            "reports_per_s_per_core": round(sent / cpu, 1) if cpu else None,
            "latency_ms_p50": round(qs[49] * 1000, 2), "latency_ms_p99": round(qs[98] * 1000, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.agent", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="part", required=True)
    f = sub.add_parser("footprint")
    f.add_argument("--minutes", type=float, default=5.0)
    f.add_argument("--interval", type=float, default=10.0)
    g = sub.add_parser("ingest")
    g.add_argument("--agents", type=int, default=50)
    g.add_argument("--batch", type=int, default=1)
    g.add_argument("--seconds", type=float, default=20.0)
    g.add_argument("--rate", type=float, help="offered reports/s in all (open loop); "
                   "default: closed loop, as fast as the collector answers")
    g.add_argument("--nice", type=int, default=0, help="lower the load generator's priority "
                   "by this much once the collector runs (the collector keeps its own)")
    g.add_argument("--peer", action="store_true", help="measure the peer instead: a bare "
                   "aiohttp app answering the same requests (no collector, no influxd)")
    ps = sub.add_parser("peer-server", help="(internal) serve the peer app on 127.0.0.1:PORT")
    ps.add_argument("port", type=int)
    for s in (f, g):
        s.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    if args.part == "peer-server":
        eventloop.run(_serve_peer(args.port))
        return 0
    # SIGTERM ends the run through the ``finally`` blocks that stop what it started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.part == "footprint":
        out = footprint(args.minutes, args.interval)
    elif args.peer:
        out = peer(args.agents, args.batch, args.seconds, args.rate, args.nice)
    else:
        out = ingest(args.agents, args.batch, args.seconds, args.rate, args.nice)
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
