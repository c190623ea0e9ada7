"""The agent runs without the collector: ``fleetwatch-agent`` (the entry point named in
pyproject.toml) and ``python -m agent`` work in an interpreter where importing ``collector``
raises ImportError, and load no ``collector`` module."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Installed first thing in the child: a meta path finder that refuses ``collector`` and its
# submodules, ahead of every other finder (the editable install's included).
BLOCK_COLLECTOR = """
import importlib.abc, sys
class NoCollector(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "collector" or name.startswith("collector."):
            raise ImportError(f"collector is unimportable here: {name}")
        return None
sys.meta_path.insert(0, NoCollector())
"""

# Then: resolve the entry point as pip's script would, run it, and report leaked modules.
RUN = """
import importlib, runpy, tomllib
how, *args = sys.argv[1:]
sys.argv = ["fleetwatch-agent", *args]
try:
    if how == "-m":
        runpy.run_module("agent", run_name="__main__", alter_sys=True)
        code = 0
    else:
        scripts = tomllib.load(open(how, "rb"))["project"]["scripts"]
        module, _, func = scripts["fleetwatch-agent"].partition(":")
        code = getattr(importlib.import_module(module), func)()
except SystemExit as stop:
    code = stop.code
leaked = sorted(m for m in sys.modules if m == "collector" or m.startswith("collector."))
if leaked:
    print("collector modules loaded:", leaked, file=sys.stderr)
    code = 99
raise SystemExit(code)
"""


def run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", BLOCK_COLLECTOR + code, *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


def agent(*args: str) -> subprocess.CompletedProcess[str]:
    return run(RUN, str(ROOT / "pyproject.toml"), *args)


def test_the_blocker_blocks() -> None:
    proc = run("import collector.cli")
    assert proc.returncode == 1 and "collector is unimportable here" in proc.stderr


def test_entry_point_is_the_agent_cli() -> None:
    with open(ROOT / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    assert project["scripts"]["fleetwatch-agent"] == "agent.cli:main"


def test_version_without_the_collector() -> None:
    proc = agent("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("fleetwatch-agent ") and proc.stderr == ""


def test_missing_config_file_is_one_line_and_exit_2() -> None:
    proc = agent("--config", "/nonexistent/fleetwatch/agent.yaml")
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line == "fleetwatch-agent: /nonexistent/fleetwatch/agent.yaml: No such file or directory"


def test_no_enrollment_secret_is_one_line_and_exit_2() -> None:
    proc = agent()  # (no --config, no $FLEETWATCH_ENROLL_SECRET in the test environment)
    assert proc.returncode == 2 and "no enrollment secret" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_argument_is_argparse_exit_2() -> None:
    proc = agent("--frobnicate")
    assert proc.returncode == 2 and "unrecognized arguments: --frobnicate" in proc.stderr


def test_python_dash_m_agent_without_the_collector() -> None:
    proc = run(RUN, "-m", "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("fleetwatch-agent ")
