"""A local lab: start real snmpsim, influxd and victoria-metrics processes on loopback.

Used by ``fleetwatch demo``, the test-suite and the benchmarks, so that all three exercise the
same real services. Every process gets a throw-away directory and a free loopback port and is
stopped by :meth:`stop` (or the context manager). Nothing here touches a system service.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType

from probes.errors import FleetwatchError
from probes.secret import Secret
from probes.snmp import SnmpClient, SnmpCredentials, SnmpTarget


class LabError(FleetwatchError):
    """A lab process could not be started."""


def free_port(kind: str = "tcp", host: str = "127.0.0.1") -> int:
    """A port that is free right now on ``host`` (UDP or TCP)."""
    sock_type = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, sock_type) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _which(name: str, *extra: str) -> str:
    for candidate in (shutil.which(name), *extra):
        if candidate and os.path.exists(candidate):
            return candidate
    raise LabError(f"{name} is not installed (run scripts/install-deps.sh)")


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _death_signal(sig: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to send the child ``sig`` when its parent dies (even by
    SIGKILL), or None where ``prctl`` does not exist. libc is loaded here, in the parent: the
    child between fork and exec only makes the one call (and kills itself if the parent died
    before it, which the kernel would not report)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return preexec


class Process:
    """A child process with a log file; the context manager stops it.

    ``die_with_parent`` (set it before starting; the demo does) makes Linux SIGTERM the child
    when the process that started it dies, even by SIGKILL. Off by default: the kernel tracks
    the *thread* that spawned the child, and the tests restart servers from worker threads
    (``asyncio.to_thread``) that end long before the server should."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix=f"fleetwatch-{type(self).__name__.lower()}-"))
        self.log_path = self.workdir / "log.txt"
        self.die_with_parent = False

    def _spawn(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        # (preexec_fn is unsafe with threads running: the demo starts its children before any)
        preexec = _death_signal(signal.SIGTERM) if self.die_with_parent else None
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                list(argv), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                env={**os.environ, **(env or {})}, start_new_session=True,
                preexec_fn=preexec,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self, sig: int = signal.SIGTERM) -> None:
        """Stop the process now (SIGKILL to simulate a crash)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Process:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def wait_http(url: str, ok: Iterable[int], timeout: float, proc: Process) -> None:
    deadline = time.monotonic() + timeout
    wanted = set(ok)
    while time.monotonic() < deadline:
        if not proc.alive():
            raise LabError(f"process exited early:\n{proc.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status in wanted:
                    return
        except urllib.error.HTTPError as err:
            if err.code in wanted:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise LabError(f"{url} did not answer within {timeout:g} s:\n{proc.log_tail()}")


class Snmpsim(Process):
    """snmpsim serving ``.snmprec`` files (community = file name) on one or more endpoints."""

    def __init__(self, sources: Iterable[Path], endpoints: Sequence[tuple[str, int]] | None = None,
                 *, v3_users: Sequence[dict[str, str]] = (), live_dir: Path | None = None) -> None:
        """Serve copies of ``sources`` (files or folders), or, with ``live_dir``, that folder in
        place so that rewriting a file there changes what the simulated device answers."""
        super().__init__()
        self.data_dir = live_dir or self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for source in sources if live_dir is None else ():
            files = sorted(source.glob("*.snmprec")) if source.is_dir() else [source]
            for f in files:
                shutil.copy(f, self.data_dir / f.name)
        self.endpoints = list(endpoints or [("127.0.0.1", free_port("udp"))])
        self.v3_users = list(v3_users)

    @property
    def host(self) -> str:
        return self.endpoints[0][0]

    @property
    def port(self) -> int:
        return self.endpoints[0][1]

    def communities(self) -> list[str]:
        return sorted(p.stem for p in self.data_dir.glob("*.snmprec"))

    def start(self, timeout: float = 60.0) -> Snmpsim:
        exe = _which("snmpsim-command-responder",
                     str(Path(sys.executable).parent / "snmpsim-command-responder"))
        argv = [exe, f"--data-dir={self.data_dir}", f"--cache-dir={self.workdir / 'cache'}",
                "--logging-method=null"]
        argv += [f"--agent-udpv4-endpoint={h}:{p}" for h, p in self.endpoints]
        for user in self.v3_users:
            argv.append(f"--v3-user={user['user']}")
            for key in ("auth-key", "auth-proto", "priv-key", "priv-proto"):
                if key in user:
                    argv.append(f"--v3-{key}={user[key]}")
        self._spawn(argv, env={"SNMPSIM_ALLOW_ROOT": "true"})
        community = self.communities()[0]
        asyncio.run(self._wait_ready(community, time.monotonic() + timeout))
        return self

    async def _wait_ready(self, community: str, deadline: float) -> None:
        client = await SnmpClient.create()
        try:
            for host, port in self.endpoints:
                target = SnmpTarget(host, port, SnmpCredentials(community=Secret(community)),
                                    timeout=0.5, retries=0)
                while True:
                    if not self.alive():
                        raise LabError(f"snmpsim exited:\n{self.log_tail()}")
                    try:
                        if await client.get(target, ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.3.0"]):
                            break
                    except FleetwatchError:
                        pass
                    if time.monotonic() > deadline:
                        raise LabError(f"snmpsim not ready in time:\n{self.log_tail()}")
                    await asyncio.sleep(0.2)
        finally:
            client.close()


class Influxd(Process):
    """InfluxDB 1.x (Debian's ``influxdb``) with its own data dir and loopback ports."""

    def __init__(self, port: int | None = None) -> None:
        super().__init__()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Influxd:
        exe = _which("influxd", "/usr/bin/influxd")
        conf = subprocess.run([exe, "config"], capture_output=True, text=True, check=True).stdout
        data = self.workdir / "influx"
        conf = conf.replace("/var/lib/influxdb/meta", str(data / "meta"))
        conf = conf.replace("/var/lib/influxdb/data", str(data / "data"))
        conf = conf.replace("/var/lib/influxdb/wal", str(data / "wal"))
        conf = re.sub(r'(?m)^bind-address = ".*"', f'bind-address = "127.0.0.1:{free_port()}"', conf)
        conf = re.sub(r'(?ms)(^\[http\].*?bind-address = )"[^"]*"', rf'\1"127.0.0.1:{self.port}"',
                      conf, count=1)
        conf = conf.replace('  log-enabled = true', '  log-enabled = false', 1)
        conf = conf.replace('  store-enabled = true', '  store-enabled = false', 1)
        conf = conf.replace('reporting-disabled = false', 'reporting-disabled = true')
        (self.workdir / "influxdb.conf").write_text(conf)
        self._spawn([exe, "-config", str(self.workdir / "influxdb.conf")])
        wait_http(self.url + "/ping", {204}, timeout, self)
        return self

    def restart(self, timeout: float = 60.0) -> None:
        """Start again on the same port and data dir (after :meth:`kill`)."""
        self.kill()
        exe = _which("influxd", "/usr/bin/influxd")
        self._spawn([exe, "-config", str(self.workdir / "influxdb.conf")])
        wait_http(self.url + "/ping", {204}, timeout, self)

    def query(self, q: str, db: str | None = None) -> dict[str, object]:
        params = {"q": q, "epoch": "ns"}
        if db:
            params["db"] = db
        with urllib.request.urlopen(f"{self.url}/query?{urllib.parse.urlencode(params)}",
                                    timeout=30) as resp:
            result: dict[str, object] = json.load(resp)
            return result


class VictoriaMetrics(Process):
    """Debian's victoria-metrics: a real server that accepts InfluxDB ``/api/v2/write``."""

    def __init__(self, port: int | None = None) -> None:
        super().__init__()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> VictoriaMetrics:
        exe = _which("victoria-metrics", "/usr/bin/victoria-metrics")
        self._spawn([exe, f"-httpListenAddr=127.0.0.1:{self.port}",
                     f"-storageDataPath={self.workdir / 'vm'}", "-loggerLevel=ERROR"])
        wait_http(self.url + "/health", {200}, timeout, self)
        return self
