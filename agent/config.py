"""The agent's settings: a YAML file (``--config FILE``) and/or command-line flags.

Defaults live here. Unknown keys are errors (``FILE: key: message``). The enrollment secret
comes from a file or an environment variable, never from the YAML itself, so the config file can
be world-readable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from probes.errors import ConfigError


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    collector_url: str = Field("http://127.0.0.1:8730",
                               description="base URL of the collector (http or https)")
    interval: Annotated[float, Field(ge=1, le=3600)] = 10.0
    inventory_every: Annotated[int, Field(ge=1)] = 360  # reports (an hour at 10 s)
    state_dir: Path = Path("/var/lib/fleetwatch-agent")
    enroll_secret_file: Path | None = None
    enroll_secret_env: str = "FLEETWATCH_ENROLL_SECRET"
    hostname: str | None = Field(None, description="name to enroll under; default: the host's")
    queue_max_bytes: Annotated[int, Field(ge=4096)] = 64 * 1024 * 1024
    queue_max_age: Annotated[float, Field(gt=0)] = 7 * 86400.0
    batch_max_reports: Annotated[int, Field(ge=1, le=1000)] = 100
    batch_max_bytes: Annotated[int, Field(ge=1024)] = 512 * 1024
    timeout: Annotated[float, Field(gt=0, le=300)] = 10.0
    ca_file: Path | None = Field(None, description="CA bundle for an https collector")

    def enroll_secret(self) -> str | None:
        """The secret from ``enroll_secret_file`` (first line) or the environment variable."""
        if self.enroll_secret_file is not None:
            try:
                return self.enroll_secret_file.read_text().strip() or None
            except OSError as err:
                raise ConfigError(f"{self.enroll_secret_file}: cannot read the enrollment "
                                  f"secret: {err.strerror}") from err
        return os.environ.get(self.enroll_secret_env) or None


def load(path: str | Path | None, overrides: dict[str, Any]) -> AgentConfig:
    """Settings from ``path`` (if any) with ``overrides`` (flags, None = not given) on top.
    Raises :class:`ConfigError` naming the file and key."""
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
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            key = ".".join(str(p) for p in e["loc"]) or "(top)"
            top = str(e["loc"][0]) if e["loc"] else ""
            at = ("command line" if top in given else
                  f"{where}:{lines[top]}" if top in lines else where)
            problems.append(f"{at}: {key}: {e['msg']}")
        raise ConfigError("; ".join(problems)) from err
