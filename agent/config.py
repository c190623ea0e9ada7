"""The agent's settings: a YAML file (``--config FILE``) and/or command-line flags.

Defaults, types and bounds live in :data:`FIELDS`, in one place. Unknown keys and bad values
are errors reading ``FILE:LINE: key: message`` (all of them at once). The enrollment secret
comes from a file or an environment variable, never from the YAML itself, so the config file can
be world-readable. (A small table instead of pydantic: the running agent does not load pydantic,
which would cost about 17 MB of its 30 MB budget; docs/benchmarks.md.)
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from probes.errors import ConfigError


@dataclass(frozen=True, slots=True)
class AgentConfig:
    collector_url: str = "http://127.0.0.1:8730"
    interval: float = 10.0
    inventory_every: int = 360  # reports (an hour at 10 s)
    processes_every: int = 6  # reports between top-process scans (a minute at 10 s)
    state_dir: Path = Path("/var/lib/fleetwatch-agent")
    enroll_secret_file: Path | None = None
    enroll_secret_env: str = "FLEETWATCH_ENROLL_SECRET"
    hostname: str | None = None  # name to enroll under; default: the host's
    queue_max_bytes: int = 64 * 1024 * 1024
    queue_max_age: float = 7 * 86400.0
    batch_max_reports: int = 100
    batch_max_bytes: int = 512 * 1024
    timeout: float = 10.0
    ca_file: Path | None = None  # CA bundle for an https collector

    def enroll_secret(self) -> str | None:
        """The secret from ``enroll_secret_file`` (first line) or the environment variable."""
        if self.enroll_secret_file is not None:
            try:
                return self.enroll_secret_file.read_text().strip() or None
            except OSError as err:
                raise ConfigError(f"{self.enroll_secret_file}: cannot read the enrollment "
                                  f"secret: {err.strerror}") from err
        return os.environ.get(self.enroll_secret_env) or None


# key → (type, lowest, highest); None = unbounded
FIELDS: dict[str, tuple[type, float | None, float | None]] = {
    "collector_url": (str, None, None), "interval": (float, 1, 3600),
    "inventory_every": (int, 1, None), "processes_every": (int, 1, None),
    "state_dir": (Path, None, None),
    "enroll_secret_file": (Path, None, None), "enroll_secret_env": (str, None, None),
    "hostname": (str, None, None), "queue_max_bytes": (int, 4096, None),
    "queue_max_age": (float, 1, None), "batch_max_reports": (int, 1, 1000),
    "batch_max_bytes": (int, 1024, None), "timeout": (float, 0.1, 300),
    "ca_file": (Path, None, None),
}
assert set(FIELDS) == {f.name for f in dataclasses.fields(AgentConfig)}


def _value(key: str, raw: Any) -> Any:
    kind, low, high = FIELDS[key]
    if kind in (int, float):
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError(f"expected a number, not {raw!r}")
        value: int | float = kind(raw)
        if kind is int and float(raw) != value:
            raise ValueError(f"expected a whole number, not {raw!r}")
        if low is not None and value < low:
            raise ValueError(f"must be at least {low:g}")
        if high is not None and value > high:
            raise ValueError(f"must be at most {high:g}")
        return value
    if not isinstance(raw, str) or not raw:
        raise ValueError(f"expected a non-empty string, not {raw!r}")
    return Path(raw) if kind is Path else raw


def load(path: str | Path | None, overrides: dict[str, Any]) -> AgentConfig:
    """Settings from ``path`` (if any) with ``overrides`` (flags, None = not given) on top.
    Raises :class:`ConfigError` naming the file, line and key of every problem."""
    data: dict[str, Any] = {}
    lines: dict[str, int] = {}  # top-level key → its line in the file
    where = str(path) if path else "command line"
    if path is not None:
        try:
            text = Path(path).read_text()
            loaded = yaml.safe_load(text) or {}
            node = yaml.compose(text)
            if isinstance(node, yaml.MappingNode):
                lines = {str(k.value): k.start_mark.line + 1 for k, _ in node.value}
        except OSError as err:
            raise ConfigError(f"{path}: {err.strerror}") from err
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}{line}: not valid YAML: {err}") from err
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of agent settings")
        data.update(loaded)
    given = {k: v for k, v in overrides.items() if v is not None}
    data.update(given)
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, raw in data.items():
        at = ("command line" if key in given else
              f"{where}:{lines[key]}" if key in lines else where)
        if key not in FIELDS:
            problems.append(f"{at}: {key}: unknown setting (known: {', '.join(FIELDS)})")
            continue
        if raw is None:
            continue
        try:
            values[key] = _value(key, raw)
        except (ValueError, TypeError) as err:
            problems.append(f"{at}: {key}: {err}")
    if problems:
        raise ConfigError("; ".join(problems))
    return AgentConfig(**values)
