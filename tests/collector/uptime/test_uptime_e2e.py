"""The uptime report through the real path: a ``fleetwatch collector`` process polling a port
that answers and one that refuses, its ``/api/v1/uptime`` JSON and CSV, the incident naming
the ``unreachable`` ticket it opened, ``fleetwatch uptime``, and the record after a restart."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.demo import free_port

ROOT = Path(__file__).resolve().parents[3]
EXE = [sys.executable, "-m", "collector.cli"]


def get(url: str) -> tuple[str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.headers.get("Content-Type", ""), resp.read()


def get_json(url: str) -> Any:
    return json.loads(get(url)[1])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once it is closed


class Collector:
    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp_path / "fleet.yaml"
        self.config.write_text(f"""
collector: {{listen: 127.0.0.1:{self.port}, state_dir: {tmp_path / "state"}, jitter: 0}}
auth: {{public_read: true}}
storage: {{backend: none}}
tickets: {{debounce_polls: 2}}
sites: {{hq: {{timezone: UTC}}, annex: {{timezone: UTC}}}}
devices:
  - name: web-1
    host: 127.0.0.1
    kind: server
    site: hq
    probes: [{{kind: tcp, port: {self.port}, interval: 1s, timeout: 0.5s}}]
  - name: pc-off
    host: 127.0.0.1
    kind: workstation
    site: annex
    probes: [{{kind: tcp, port: {closed_port()}, interval: 1s, timeout: 0.5s}}]
""")
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> Collector:
        self.proc = subprocess.Popen([*EXE, "collector", "--config", str(self.config)], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.communicate()
            try:
                get(self.url + "/api/v1/health")
                return self
            except OSError:
                time.sleep(0.2)
        pytest.fail("collector did not start")

    def stop(self) -> str:
        assert self.proc is not None
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, out
        return out


@pytest.fixture()
def collector(tmp_path: Path) -> Iterator[Collector]:
    c = Collector(tmp_path).start()
    try:
        yield c
    finally:
        if c.proc is not None and c.proc.poll() is None:
            c.proc.kill()
            c.proc.communicate()


def wait_for(predicate: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail("condition not met in time")


def test_uptime_report_incident_ticket_csv_cli_and_restart(collector: Collector) -> None:
    def incident_with_ticket() -> dict[str, Any] | None:
        data = get_json(collector.url + "/api/v1/uptime/incidents?window=24h&device=pc-off")
        found = [i for i in data["incidents"] if i["ticket"]]
        return found[0] if found else None

    incident = wait_for(incident_with_ticket)
    assert incident["device"] == "pc-off" and incident["end"] is None  # still down
    ticket = get_json(f"{collector.url}/api/v1/tickets/{incident['ticket']}")["ticket"]
    assert (ticket["device"], ticket["fault_key"]) == ("pc-off", "unreachable")

    time.sleep(2)  # a few more polls of each
    data = get_json(collector.url + "/api/v1/uptime?window=24h")
    devices = {d["device"]: d for d in data["devices"]}
    assert devices["web-1"]["availability_percent"] == 100.0
    assert devices["web-1"]["up_s"] >= 2 and devices["web-1"]["incidents"] == 0
    assert devices["pc-off"]["availability_percent"] == 0.0
    assert devices["pc-off"]["down_s"] >= 2 and devices["pc-off"]["incidents"] == 1
    assert devices["web-1"]["no_data_s"] > 23 * 3600  # before the collector ran: no data
    assert set(data["sites"]) == {"hq", "annex"}
    assert 0 < data["fleet"]["availability_percent"] < 100

    ctype, body = get(collector.url + "/api/v1/uptime?window=7d&format=csv")
    assert ctype.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [r["device"] for r in rows] == ["web-1", "pc-off"]
    assert rows[0]["availability_percent"] == "100.0"

    _, body = get(collector.url + "/api/v1/uptime/incidents?window=7d&format=csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert rows[0]["device"] == "pc-off" and rows[0]["ticket"] == str(incident["ticket"])

    env = {**os.environ, "FLEETWATCH_URL": collector.url}
    cli = subprocess.run([*EXE, "uptime", "--window", "24h"], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "web-1" in cli.stdout and "100.000%" in cli.stdout and "0.000%" in cli.stdout
    cli = subprocess.run([*EXE, "uptime", "--incidents", "--csv"], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=60)
    assert cli.returncode == 0 and cli.stdout.startswith("device,start,end,duration_s")
    cli = subprocess.run([*EXE, "uptime", "--window", "2w"], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=60)
    assert cli.returncode == 2 and "HTTP 400: window '2w'" in cli.stderr

    down_before = devices["pc-off"]["down_s"]
    collector.stop()
    collector.start()
    data = get_json(collector.url + "/api/v1/uptime?window=24h")
    again = {d["device"]: d for d in data["devices"]}
    assert again["pc-off"]["down_s"] >= down_before  # the record survived the restart
    assert again["web-1"]["availability_percent"] == 100.0


@pytest.mark.parametrize(("query", "status"), [
    ("window=0h", 400), ("window=9999d", 400), ("window=abc", 400), ("format=xml", 400),
    ("site=nowhere", 404)])
def test_bad_queries_are_4xx_json(collector: Collector, query: str, status: int) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        get(f"{collector.url}/api/v1/uptime?{query}")
    assert err.value.code == status
    assert "error" in json.loads(err.value.read())
