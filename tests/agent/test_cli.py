"""The agent's command line runs without the collector: ``collector`` made unimportable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A meta path finder that refuses ``collector`` (and pydantic and aiohttp, which the running
# agent does not load: its memory budget), then the agent's CLI.
NO_COLLECTOR = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"collector", "pydantic", "aiohttp"}:
            raise ImportError(f"{name} is not installed here")
        return None
sys.meta_path.insert(0, Block())
from agent.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", NO_COLLECTOR, *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_agent_cli_runs_without_the_collector(tmp_path: Path) -> None:
    done = _run("--once", "--state-dir", str(tmp_path), "--collector-url", "http://127.0.0.1:9",
                "--enroll-secret-file", str(tmp_path / "absent"))
    assert done.returncode == 2 and "not installed" not in done.stderr, done.stderr
    assert "enrollment secret" in done.stderr


def test_print_schema() -> None:
    done = subprocess.run([sys.executable, "-m", "agent", "--print-schema"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["title"] == "Fleetwatch agent report batch"


def test_bad_settings_are_one_line_and_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text("interval: 0\nnope: 1\n")
    done = _run("--config", str(cfg))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{cfg}:1: interval:" in done.stderr and f"{cfg}:2: nope:" in done.stderr


def test_no_secret_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    env_free = {k: v for k, v in os.environ.items() if k != "FLEETWATCH_ENROLL_SECRET"}
    done = subprocess.run([sys.executable, "-c", NO_COLLECTOR, "--once", "--state-dir",
                           str(tmp_path), "--collector-url", "http://127.0.0.1:9"],
                          capture_output=True, text=True, timeout=60,
                          env={**env_free, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and "enrollment secret" in done.stderr, done.stderr
