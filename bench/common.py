"""Shared parts of the benchmarks.

- Simulated fleets on loopback: snmpsim serving the recordings in place (community = file name),
  or net-snmp ``snmpd`` processes serving the printer subtrees of the recordings as ``override``
  lines, one process per recording, each printer on its own loopback address (127.0.x.y).
- The peer: ``prometheus-snmp-exporter`` 0.21 with a hand-written module that walks the same
  columns as :data:`probes.printer_mib.POLL_COLUMNS` and GETs the system scalars.
- Our poller in its own process (``bench/poller.py``) so that its CPU time is its own.
- CPU accounting: ``getrusage`` inside our poller; ``/proc/<pid>/stat`` utime+stime deltas for the
  exporter and the simulators.

Every process is started with its own session and a throw-away directory and is stopped in a
``finally`` by the caller (:class:`Lab` does it for everything it started).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import yaml

from bench import poller
from collector.demo import LabError, Process, Snmpsim, free_port, wait_http
from probes import printer_mib as mib

ROOT = Path(__file__).resolve().parents[1]
SHARED_DEVICES = Path(
    os.environ.get("FLEETWATCH_SHARED_DEVICES", ROOT.parent / "shared" / "devices")
)
HANDMADE = ROOT / "tests" / "fixtures" / "recordings"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# What a printer poll reads: system scalars, hrDevice/hrPrinter tables, the Printer-MIB.
SERVED_PREFIXES = ("1.3.6.1.2.1.1.", "1.3.6.1.2.1.25.3.", "1.3.6.1.2.1.43.")
SNMPD = "/usr/sbin/snmpd"
EXPORTER = "/usr/bin/prometheus-snmp-exporter"
MAX_ADDRESSES_PER_SNMPD = 500  # stay well below the 1,024 descriptors select() handles
EXPERIMENTS = poller.EXPERIMENTS  # what-if changes measured beside the real code, bench/poller.py


# --- fleets ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Printer:
    """One simulated printer: where it answers and which recording it plays."""

    name: str
    host: str
    port: int
    community: str
    model: str


def default_recordings() -> Path:
    """The shared recordings when present, else our hand-made ones."""
    return SHARED_DEVICES if any(SHARED_DEVICES.glob("*.snmprec")) else HANDMADE


def recording_files(directory: Path) -> list[Path]:
    files = sorted(directory.glob("*.snmprec"))
    if not files:
        raise LabError(f"no .snmprec recordings in {directory}")
    return files


def loopback_address(i: int) -> str:
    """Printer ``i`` → 127.0.x.y (x ≥ 1, so 127.0.0.1 stays free for everything else)."""
    x, y = divmod(i, 254)
    if x >= 255:
        raise ValueError("at most 64,770 loopback printers")
    return f"127.0.{x + 1}.{y + 1}"


def read_snmprec(path: Path, prefixes: tuple[str, ...] = SERVED_PREFIXES
                 ) -> list[tuple[str, str, str]]:
    """(oid, tag, value) of a recording, only OIDs under ``prefixes``."""
    out: list[tuple[str, str, str]] = []
    for line in path.read_text(encoding="latin-1").splitlines():
        if not line or line.startswith("#"):
            continue
        oid, tag, value = [*line.split("|", 2), "", ""][:3]
        if oid.startswith(prefixes):
            out.append((oid, tag, value))
    return out


def override_lines(records: Iterable[tuple[str, str, str]]) -> list[str]:
    """snmprec records → snmpd ``override`` lines. Octet strings go as hex (no quoting trouble;
    snmpsim reads text values as ISO-8859-1, so do we); snmpd's override has no Counter64 or
    IpAddress, which printer subtrees do not use (such records are skipped)."""
    lines: list[str] = []
    for oid, tag, value in records:
        if tag in ("4", "4x"):
            data = bytes.fromhex(value) if tag == "4x" else value.encode("latin-1")
            rendered = f"0x{data.hex()}" if data else '""'
            lines.append(f"override .{oid} octet_str {rendered}")
        elif tag == "2":
            lines.append(f"override .{oid} integer {int(value)}")
        elif tag == "6":
            lines.append(f"override .{oid} object_id .{value.lstrip('.')}")
        elif tag in ("65", "66", "67"):
            kind = {"65": "counter", "66": "uinteger", "67": "timeticks"}[tag]
            lines.append(f"override .{oid} {kind} {int(value) % 2**32}")
    return lines


class Snmpd(Process):
    """One net-snmp ``snmpd`` in the foreground serving one recording on many addresses."""

    def __init__(self, recording: Path, endpoints: Sequence[tuple[str, int]],
                 community: str = "public") -> None:
        super().__init__()
        self.recording = recording
        self.endpoints = list(endpoints)
        self.community = community

    def start(self) -> Snmpd:
        if not os.path.exists(SNMPD):
            raise LabError(f"{SNMPD} is not installed (apt-get install snmpd)")
        conf = [
            "dontLogTCPWrappersConnects yes",
            f"rocommunity {self.community} 127.0.0.0/8",
            *override_lines(read_snmprec(self.recording)),
        ]
        path = self.workdir / "snmpd.conf"
        path.write_text("\n".join(conf) + "\n")
        # -C: no system config; -I: only the override module (+ access control) so that nothing
        # of this host (its own system group, host resources) mixes into the printer's answers.
        # Addresses go on the command line: an ``agentaddress`` line is cut at 2,560 characters
        # (about 110 addresses), command-line addresses are not.
        self._spawn([SNMPD, "-f", "-Lo", "-C", "-c", str(path), "-I", "override,vacm_conf",
                     "--noPersistentLoad=1", "--noPersistentSave=1",
                     *(f"udp:{h}:{p}" for h, p in self.endpoints)],
                    env={"MIBS": "", "SNMP_PERSISTENT_DIR": str(self.workdir)})
        return self


class SnmpdFleet:
    """``count`` printers on distinct loopback addresses, served by one snmpd per recording
    (more processes when one would need over 500 addresses)."""

    def __init__(self, count: int, recordings: Path, port: int | None = None) -> None:
        self.files = recording_files(recordings)
        self.port = port or free_port("udp")
        nproc = max(min(count, len(self.files)), math.ceil(count / MAX_ADDRESSES_PER_SNMPD))
        self.printers: list[Printer] = []
        groups: list[list[tuple[str, int]]] = [[] for _ in range(nproc)]
        for i in range(count):
            host = loopback_address(i)
            groups[i % nproc].append((host, self.port))
            model = self.files[(i % nproc) % len(self.files)].stem
            self.printers.append(Printer(f"p{i:05d}-{model}", host, self.port, "public", model))
        self.procs = [Snmpd(self.files[p % len(self.files)], groups[p]) for p in range(nproc)]

    def start(self, timeout: float = 30.0) -> SnmpdFleet:
        for proc in self.procs:
            proc.start()
        # One answer from the first and last address of every process proves each bound all.
        probes = [(p.endpoints[0][0], self.port, "public") for p in self.procs]
        probes += [(p.endpoints[-1][0], self.port, "public") for p in self.procs]
        asyncio.run(wait_snmp(probes, timeout, self._check_alive))
        return self

    def _check_alive(self) -> None:
        for proc in self.procs:
            if not proc.alive():
                raise LabError(f"snmpd exited:\n{proc.log_tail()}")

    def pids(self) -> list[int]:
        return [p.proc.pid for p in self.procs if p.proc is not None]

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()

    @property
    def describe(self) -> str:
        return (f"{len(self.procs)} × net-snmp snmpd (override; default maxGetbulkResponses "
                f"100), {len(self.printers)} loopback addresses, port {self.port}")


class SnmpsimFleet:
    """``count`` printers on one snmpsim process: recording ``i % R`` (community = its name) on
    loopback address ``i // R``, so every (address, community) pair is a distinct printer."""

    def __init__(self, count: int, recordings: Path) -> None:
        self.files = recording_files(recordings)
        port = free_port("udp")
        n_addr = math.ceil(count / len(self.files))
        endpoints = [(loopback_address(a), port) for a in range(n_addr)]
        self.printers = []
        for i in range(count):
            address, model = divmod(i, len(self.files))
            stem = self.files[model].stem
            self.printers.append(Printer(f"p{i:05d}-{stem}", endpoints[address][0], port, stem, stem))
        # Served in place: the recordings are read where they are, never copied.
        self.sim = Snmpsim([], endpoints, live_dir=recordings)

    def start(self, timeout: float = 60.0) -> SnmpsimFleet:
        self.sim.start(timeout)
        return self

    def pids(self) -> list[int]:
        return [self.sim.proc.pid] if self.sim.proc is not None else []

    def stop(self) -> None:
        self.sim.stop()  # removes its own work dir; the recordings folder is left alone

    @property
    def describe(self) -> str:
        addresses = len({p.host for p in self.printers})
        return (f"1 × snmpsim, {len(self.printers)} printers ({len(self.files)} recordings × "
                f"{addresses} loopback addresses)")


Fleet = SnmpdFleet | SnmpsimFleet


async def wait_snmp(endpoints: Sequence[tuple[str, int, str]], timeout: float,
                    check_alive: Callable[[], None]) -> None:
    """Until each (host, port, community) answers a GET (any answer, even noSuchObject)."""
    from probes.errors import FleetwatchError
    from probes.secret import Secret
    from probes.snmp import SnmpClient, SnmpCredentials, SnmpTarget

    deadline = time.monotonic() + timeout
    client = await SnmpClient.create()
    try:
        for host, port, community in endpoints:
            target = SnmpTarget(host, port, SnmpCredentials(community=Secret(community)),
                                timeout=0.5, retries=0)
            while True:
                check_alive()
                try:
                    await client.get(target, [mib.SYS_DESCR])
                    break
                except FleetwatchError:
                    if time.monotonic() > deadline:
                        raise LabError(f"{host}:{port} did not answer in {timeout:g} s") from None
                    await asyncio.sleep(0.2)
    finally:
        client.close()


# --- the peer: prometheus-snmp-exporter 0.21 ------------------------------------------------------

def _metric(name: str, oid: str, typ: str, *indexes: str) -> dict[str, Any]:
    metric: dict[str, Any] = {"name": name, "oid": oid, "type": typ}
    if indexes:
        metric["indexes"] = [{"labelname": i, "type": "gauge"} for i in indexes]
    return metric


def exporter_metrics() -> list[dict[str, Any]]:
    """One metric per object our probe reads, typed as the generator would type it."""
    dev = "hrDeviceIndex"
    sup, inp, alr = (f"{mib.PRT_SUPPLIES_ENTRY}.", f"{mib.PRT_INPUT_ENTRY}.",
                     f"{mib.PRT_ALERT_ENTRY}.")
    metrics = [
        _metric("sysDescr", mib.SYS_DESCR[:-2], "DisplayString"),
        _metric("sysObjectID", mib.SYS_OBJECT_ID[:-2], "DisplayString"),
        _metric("sysUpTime", mib.SYS_UPTIME[:-2], "gauge"),
        _metric("sysName", mib.SYS_NAME[:-2], "DisplayString"),
        _metric("sysLocation", mib.SYS_LOCATION[:-2], "DisplayString"),
        _metric("hrDeviceDescr", mib.HR_DEVICE_DESCR, "DisplayString", dev),
        _metric("hrDeviceStatus", mib.HR_DEVICE_STATUS, "gauge", dev),
        _metric("hrPrinterStatus", mib.HR_PRINTER_STATUS, "gauge", dev),
        _metric("hrPrinterDetectedErrorState", mib.HR_PRINTER_ERROR_STATE, "OctetString", dev),
        _metric("prtGeneralSerialNumber", mib.PRT_SERIAL, "DisplayString", dev),
        _metric("prtMarkerLifeCount", mib.PRT_MARKER_LIFE_COUNT, "counter", dev,
                "prtMarkerIndex"),
        _metric("prtMarkerColorantValue", mib.PRT_COLORANT_VALUE, "DisplayString", dev,
                "prtMarkerColorantIndex"),
    ]
    names = {mib.SUP_COLORANT_INDEX: "ColorantIndex", mib.SUP_CLASS: "Class",
             mib.SUP_TYPE: "Type", mib.SUP_DESCR: "Description", mib.SUP_UNIT: "SupplyUnit",
             mib.SUP_MAX: "MaxCapacity", mib.SUP_LEVEL: "Level"}
    for col in mib.SUPPLY_COLUMNS:
        typ = "DisplayString" if col == mib.SUP_DESCR else "gauge"
        metrics.append(_metric(f"prtMarkerSupplies{names[col]}", f"{sup}{col}", typ, dev,
                               "prtMarkerSuppliesIndex"))
    names = {mib.IN_TYPE: "Type", mib.IN_MAX: "MaxCapacity", mib.IN_LEVEL: "CurrentLevel",
             mib.IN_MEDIA: "MediaName", mib.IN_NAME: "Name", mib.IN_DESCR: "Description"}
    for col in mib.INPUT_COLUMNS:
        typ = "DisplayString" if col in (mib.IN_MEDIA, mib.IN_NAME, mib.IN_DESCR) else "gauge"
        metrics.append(_metric(f"prtInput{names[col]}", f"{inp}{col}", typ, dev, "prtInputIndex"))
    names = {mib.AL_SEVERITY: "SeverityLevel", mib.AL_GROUP: "Group",
             mib.AL_GROUP_INDEX: "GroupIndex", mib.AL_LOCATION: "Location", mib.AL_CODE: "Code",
             mib.AL_DESCR: "Description"}
    for col in mib.ALERT_COLUMNS:
        typ = "DisplayString" if col == mib.AL_DESCR else "gauge"
        metrics.append(_metric(f"prtAlert{names[col]}", f"{alr}{col}", typ, dev, "prtAlertIndex"))
    return metrics


def exporter_module(community: str, *, timeout: float, retries: int,
                    max_repetitions: int) -> dict[str, Any]:
    """A 0.21 module (auth, version, retries and timeout live in the module in 0.21)."""
    return {
        "walk": list(mib.POLL_COLUMNS),
        "get": list(mib.SYSTEM_SCALARS),
        "version": 2,
        "max_repetitions": max_repetitions,
        "retries": retries,
        "timeout": f"{timeout:g}s",
        "auth": {"community": community},
        "metrics": exporter_metrics(),
    }


def module_name(community: str) -> str:
    return f"fw_{community}"


class SnmpExporter(Process):
    """prometheus-snmp-exporter on a free loopback port with one module per community."""

    def __init__(self, communities: Iterable[str], *, timeout: float, retries: int,
                 max_repetitions: int) -> None:
        super().__init__()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.modules = {
            module_name(c): exporter_module(c, timeout=timeout, retries=retries,
                                            max_repetitions=max_repetitions)
            for c in sorted(set(communities))
        }

    def start(self, timeout: float = 30.0) -> SnmpExporter:
        if not os.path.exists(EXPORTER):
            raise LabError(f"{EXPORTER} is not installed (apt-get install prometheus-snmp-exporter)")
        conf = self.workdir / "snmp.yml"
        conf.write_text(yaml.safe_dump(self.modules, sort_keys=False))
        self._spawn([EXPORTER, f"--config.file={conf}",
                     f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=error"])
        wait_http(self.url + "/metrics", {200}, timeout, self)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


# --- measuring ----------------------------------------------------------------------------------

def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5)


def proc_peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_of(pids: Iterable[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # a simulator that died counts as 0
            total += proc_cpu_seconds(pid)
    return total


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class PhaseResult:
    """What one poller did in the measured cycles (warm-up excluded)."""

    name: str
    polls: int = 0
    ok: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    peak_rss_mb: float = float("nan")
    sim_cpu_s: float = 0.0
    driver_cpu_s: float | None = None
    latency_p50_s: float = float("nan")
    latency_p95_s: float = float("nan")
    cycle_wall_s: list[float] = field(default_factory=list)
    setup_s: float = 0.0
    warmup_wall_s: float = 0.0
    detail: str = ""  # e.g. "10 % full polls", "27.0 PDUs/poll"
    # fleetwatch: RSS (MB) after imports, client, targets prepared, warm-up, the measured cycles
    rss_stages_mb: dict[str, float] = field(default_factory=dict)
    # fleetwatch with ``tracemalloc``: traced MB at the end, largest holders by file and line
    traced: dict[str, Any] = field(default_factory=dict)

    @property
    def per_cpu_s(self) -> float:
        return self.ok / self.cpu_s if self.cpu_s > 0 else float("nan")

    @property
    def per_wall_s(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else float("nan")


# --- our poller, in its own process -------------------------------------------------------------

def experiment(value: str) -> tuple[str, ...]:
    """argparse type: "a,b" → ("a", "b"), each a known experiment."""
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown experiment {', '.join(unknown) or value!r}; "
                                         f"known: {', '.join(EXPERIMENTS)}")
    return names


@dataclass(frozen=True)
class PollOptions:
    concurrency: int = 50
    cycles: int = 3
    # 1: every poll full (the same OIDs as the exporter); 0: every measured poll dynamic-only;
    # N: printer i is full in cycle c when (c + i) % N == 0 (the collector's mix, staggered).
    full_every: int = 1
    timeout: float = 2.0
    retries: int = 1
    max_repetitions: int = 10
    # pysmi is a test-only dependency (snmpsim needs it); a runtime install has none, so the
    # worker hides it by default (FIELD-NOTES: it costs start-up time and ~20 MB RSS).
    with_pysmi: bool = False
    profile: str | None = None
    # What-if patches applied inside the worker only (see bench/poller.py), e.g. "gc-freeze".
    experiments: tuple[str, ...] = ()
    # > 0: trace allocations (slow: for where the memory goes, not for CPU figures) and report
    # this many largest holders by file and by line
    tracemalloc: int = 0


def run_poller(name: str, printers: Sequence[Printer], options: PollOptions,
               sim_pids: Sequence[int]) -> PhaseResult:
    """Run ``bench/poller.py`` in a new process; sample the simulators' CPU over exactly the
    window it measures (it prints ``measure-start``/``measure-end``)."""
    spec = {"printers": [asdict(p) for p in printers], "options": asdict(options)}
    argv = [sys.executable, "-m", "bench.poller"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    result: dict[str, Any] | None = None
    sim0 = sim1 = 0.0
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(spec))
        proc.stdin.close()
        for line in proc.stdout:
            if line.startswith("measure-start"):
                sim0 = cpu_of(sim_pids)
            elif line.startswith("measure-end"):
                sim1 = cpu_of(sim_pids)
            elif line.startswith("result "):
                result = json.loads(line[len("result "):])
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0 or result is None:
        raise RuntimeError(f"poller exited with {proc.returncode}")
    phase = PhaseResult(name=name, **result)
    phase.sim_cpu_s = sim1 - sim0
    return phase


# --- the exporter, driven over HTTP like Prometheus would ---------------------------------------

def _count_series(body: str) -> tuple[int, bool]:
    series = [ln for ln in body.splitlines() if ln and not ln.startswith("#")]
    printer_data = any(ln.startswith(("prt", "hrPrinter")) for ln in series)
    return len(series), printer_data


async def _scrape_cycles(exporter: SnmpExporter, printers: Sequence[Printer], concurrency: int,
                         cycles: int, sim_pids: Sequence[int], scrape_timeout: float
                         ) -> PhaseResult:
    phase = PhaseResult(name="snmp_exporter 0.21")
    sem = asyncio.Semaphore(concurrency)
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    series_total = 0
    url = exporter.url + "/snmp"
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=scrape_timeout)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def scrape(p: Printer, record: bool) -> None:
            nonlocal series_total
            params = {"target": f"{p.host}:{p.port}", "module": module_name(p.community)}
            async with sem:
                started = time.perf_counter()
                try:
                    async with session.get(url, params=params) as resp:
                        body = await resp.text()
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError) as err:
                    status, body = 0, type(err).__name__
            if not record:
                return
            latencies.append(time.perf_counter() - started)
            phase.polls += 1
            count, printer_data = _count_series(body) if status == 200 else (0, False)
            if status == 200 and printer_data:
                phase.ok += 1
                series_total += count
            else:
                phase.failed += 1
                reason = ("no printer data" if status == 200 else
                          f"http {status}" if status else body)
                errors[reason] += 1

        started = time.perf_counter()
        await asyncio.gather(*(scrape(p, False) for p in printers))
        phase.warmup_wall_s = time.perf_counter() - started

        cpu0, sim0, drv0 = proc_cpu_seconds(exporter.pid), cpu_of(sim_pids), time.process_time()
        wall0 = time.perf_counter()
        for _ in range(cycles):
            c0 = time.perf_counter()
            await asyncio.gather(*(scrape(p, True) for p in printers))
            phase.cycle_wall_s.append(round(time.perf_counter() - c0, 3))
        phase.wall_s = time.perf_counter() - wall0
        phase.cpu_s = proc_cpu_seconds(exporter.pid) - cpu0
        phase.sim_cpu_s = cpu_of(sim_pids) - sim0
        phase.driver_cpu_s = time.process_time() - drv0
    phase.errors = dict(errors)
    phase.latency_p50_s = percentile(latencies, 0.5)
    phase.latency_p95_s = percentile(latencies, 0.95)
    phase.peak_rss_mb = proc_peak_rss_mb(exporter.pid)
    phase.detail = f"{series_total / max(1, phase.ok):.0f} series/scrape"
    return phase


def run_exporter(printers: Sequence[Printer], options: PollOptions, sim_pids: Sequence[int]
                 ) -> PhaseResult:
    exporter = SnmpExporter({p.community for p in printers}, timeout=options.timeout,
                            retries=options.retries, max_repetitions=options.max_repetitions)
    try:
        exporter.start()
        # Generous: 27 sequential PDUs per scrape, each with its own timeout and retry.
        scrape_timeout = 60.0 + options.timeout * (options.retries + 1) * 30
        return asyncio.run(_scrape_cycles(exporter, printers, options.concurrency,
                                          options.cycles, sim_pids, scrape_timeout))
    finally:
        exporter.stop()


# --- output -------------------------------------------------------------------------------------

def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


RSS_STAGES = ("imported", "client", "prepared", "warm-up", "end")


def traced_table(phase: PhaseResult) -> str:
    """The largest holders of traced memory of one phase run with ``tracemalloc``."""
    if not phase.traced:
        return ""
    lines = [f"# {phase.name}: {phase.traced['total_mb']:.1f} MB traced at the end",
             "| where | MB | blocks |", "|---|---|---|"]
    for key in ("by_file", "by_line"):
        lines += [f"| {where} | {mb:.2f} | {count:,} |" for where, mb, count in phase.traced[key]]
        lines.append("| | | |")
    return "\n".join(lines[:-1])


def table(phases: Sequence[PhaseResult], target_per_60s: int | None = None) -> str:
    """The figures side by side, one column per poller."""
    rows: list[tuple[str, list[str]]] = [
        ("polls completed (ok)", [f"{p.ok:,}" for p in phases]),
        ("polls failed (missed)", [f"{p.failed:,}" for p in phases]),
        ("failure reasons", [", ".join(f"{k} {v}" for k, v in p.errors.items()) or "–"
                             for p in phases]),
        ("poller CPU-seconds", [_fmt(p.cpu_s, 2) for p in phases]),
        ("wall seconds", [_fmt(p.wall_s, 2) for p in phases]),
        ("polls per CPU-second", [_fmt(p.per_cpu_s) for p in phases]),
        ("polls per wall-second", [_fmt(p.per_wall_s) for p in phases]),
        ("printers per 60 s on one core", [f"{p.per_cpu_s * 60:,.0f}" if p.cpu_s else "–"
                                           for p in phases]),
        ("printers per 60 s (wall, this run)", [f"{p.per_wall_s * 60:,.0f}" if p.wall_s else "–"
                                                for p in phases]),
        ("CPU ms per poll", [_fmt(1000 * p.cpu_s / p.ok if p.ok else None, 2) for p in phases]),
        ("latency p50 / p95 ms", [f"{_fmt(1000 * p.latency_p50_s, 0)} / "
                                  f"{_fmt(1000 * p.latency_p95_s, 0)}" for p in phases]),
        ("cycle wall s (each)", [" ".join(f"{c:.1f}" for c in p.cycle_wall_s) for p in phases]),
        ("peak RSS MB (poller)", [_fmt(p.peak_rss_mb) for p in phases]),
        ("RSS MB " + "/".join(RSS_STAGES), ["/".join(_fmt(p.rss_stages_mb.get(k)) for k in
                                                     RSS_STAGES) if p.rss_stages_mb else "–"
                                            for p in phases]),
        ("simulator CPU-s (same window)", [_fmt(p.sim_cpu_s, 2) for p in phases]),
        ("load-driver CPU-s", [_fmt(p.driver_cpu_s, 2) if p.driver_cpu_s is not None else "–"
                               for p in phases]),
        ("setup s (register targets)", [_fmt(p.setup_s, 2) for p in phases]),
        ("warm-up cycle wall s", [_fmt(p.warmup_wall_s, 2) for p in phases]),
        ("notes", [p.detail or "–" for p in phases]),
    ]
    if target_per_60s:
        rows.insert(9, (f"vs target {target_per_60s:,}/60 s/core",
                        [f"{100 * p.per_cpu_s * 60 / target_per_60s:.0f} %" if p.cpu_s else "–"
                         for p in phases]))
    head = ["", *(p.name for p in phases)]
    widths = [max(len(r[0]) for r in rows)] + [
        max(len(head[i + 1]), *(len(r[1][i]) for r in rows)) for i in range(len(phases))
    ]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for label, cells in rows:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in
                                       zip([label, *cells], widths, strict=True)) + " |")
    return "\n".join(lines)


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} cores ({cpu}), "
            f"{mem_gib:.0f} GiB, Python {sys.version.split()[0]}, load average at start {load}")


def exit_on_sigterm() -> None:
    """SIGTERM → SystemExit, so that every ``finally`` stops the processes it started."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


class Lab:
    """Stops, in reverse order, everything registered with :meth:`add` (a ``finally`` for all)."""

    def __init__(self) -> None:
        self._items: list[Any] = []

    def add(self, item: Any) -> Any:
        self._items.append(item)
        return item

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        while self._items:
            self._items.pop().stop()
