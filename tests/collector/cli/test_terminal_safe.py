"""Hostile device and ticket strings through the real commands: ``fleetwatch check`` against
snmpsim serving tests/fixtures/recordings/handmade_hostile.snmprec (hand-made: OSC 52, CSI, C1,
right-to-left overrides, bytes that are not UTF-8), and ``fleetwatch tickets`` against a real
collector. Nothing a terminal would act on reaches stdout or stderr."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from collector.demo import Snmpsim
from tests.collector.cli.test_commands import TOKEN, collector, fleetwatch  # noqa: F401 (fixture)
from tests.probes.test_safetext import unsafe_chars


def check(sim: Snmpsim, *extra: str) -> subprocess.CompletedProcess[str]:
    return fleetwatch("check", sim.host, "--port", str(sim.port), "--community",
                      "handmade_hostile", *extra)


def test_check_human_output_shows_hostile_strings_inert(snmpsim: Snmpsim) -> None:
    proc = check(snmpsim)
    assert proc.returncode == 2, proc.stderr  # still a jammed printer: critical
    assert unsafe_chars(proc.stdout, allow="\n") == [], proc.stdout
    out = proc.stdout
    assert "\\u202e" in out  # the RLO in sysLocation, visible
    assert "\\x9d" in out  # an undefined Windows-1252 byte, visible
    assert "jammed" in out
    assert "\x1b" not in out and "\x07" not in out


def test_check_json_is_safe_and_keeps_the_values(snmpsim: Snmpsim) -> None:
    proc = check(snmpsim, "--json")
    assert proc.returncode == 2, proc.stderr
    assert unsafe_chars(proc.stdout, allow="\n") == [], proc.stdout
    data = json.loads(proc.stdout)
    assert data["identity"]["sys_location"] == "Room \u202e101 ko"  # JSON keeps the value
    assert "jammed" in data["faults"]


def test_tickets_show_and_list_escape_hostile_text(
        collector: tuple[subprocess.Popen[str], str]) -> None:  # noqa: F811
    _, url = collector
    env = {"FLEETWATCH_URL": url, "USER": "mallory\x1b[2J", "FLEETWATCH_API_TOKEN": TOKEN}
    title = "Jam \u202eKO\x9b31m\x1b]52;c;aGFja2Vk\x07"
    made = fleetwatch("tickets", "create", title, "--json", env=env)
    assert made.returncode == 0, made.stderr
    assert unsafe_chars(made.stdout, allow="\n") == []
    ticket = json.loads(made.stdout)["ticket"]
    assert ticket["title"] == title  # stored as typed; only the output is escaped
    fleetwatch("tickets", "comment", str(ticket["id"]), "-m", "line\nforged \u2066x", env=env)
    for args in (["show", str(ticket["id"])], ["list"]):
        proc = fleetwatch("tickets", *args, env=env)
        assert proc.returncode == 0, proc.stderr
        assert unsafe_chars(proc.stdout, allow="\n") == [], proc.stdout
        assert "\\u202eKO\\x9b31m\\x1b]52" in proc.stdout
    shown = fleetwatch("tickets", "show", str(ticket["id"]), env=env).stdout
    assert "line\\x0aforged \\u2066x" in shown


def test_multi_line_errors_keep_their_lines(tmp_path: Path) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_text("collector: {listen: 127.0.0.1:1, nonsense: 1}\n"
                      "devices:\n  - {name: p1, host: 10.0.0.1, site: nowhere}\n")
    proc = fleetwatch("collector", "--config", str(config))
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) >= 3, proc.stderr  # a header and one line per error
    assert "\\x0a" not in proc.stderr
    assert any(f"{config}:1:" in line for line in lines)
    assert any(f"{config}:3:" in line for line in lines)
