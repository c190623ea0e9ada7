"""Settings of agent enrollment and ingest, as pydantic v2 models with their defaults.

The collector takes an :class:`IngestSettings` as a parameter (``collector.ingest.setup``); the
root config names it under one key, ``agents:`` (``Config.agents``). It imports only pydantic:
the config model imports it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class ThresholdModel(BaseModel):
    """A default threshold for agent metrics (same meaning as the config's ``thresholds``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    metric: str
    warning: float | None = None
    critical: float | None = None
    direction: str = "above"
    hysteresis: float = 0.0


def _default_thresholds() -> tuple[ThresholdModel, ...]:
    return (
        # disk nearly full: the fullest real file system of the host
        ThresholdModel(metric="disk_used_percent", warning=90, critical=97, hysteresis=2),
        # memory pressure: RAM in use (not cache) and swap in use
        ThresholdModel(metric="mem_used_percent", warning=90, critical=97, hysteresis=3),
        ThresholdModel(metric="swap_used_percent", warning=80, hysteresis=5),
        # sustained CPU: the mean over ``cpu_window`` seconds, not one busy snapshot
        ThresholdModel(metric="cpu_sustained_percent", warning=90, critical=98, hysteresis=5),
    )


class IngestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enroll_secret_file: Path | None = Field(
        default=None, description="file holding the enrollment secret (first line)")
    enroll_secret_env: str = Field(
        default="FLEETWATCH_ENROLL_SECRET", description="environment variable with the secret, "
        "used when no file is set; no secret at all = enrollment closed (403)")
    enroll_rate: Annotated[float, Field(gt=0)] = Field(
        default=1.0, description="enrollments per second per client address (token bucket)")
    enroll_burst: Annotated[int, Field(ge=1)] = 10
    max_body_bytes: Annotated[int, Field(ge=1024)] = 4 * 1024 * 1024
    # A workstation with no report for this many seconds *inside its business hours* is silent.
    silent_after: Annotated[float, Field(gt=0)] = 8 * 3600.0
    silence_check_every: Annotated[float, Field(gt=0)] = 60.0
    cpu_window: Annotated[float, Field(gt=0)] = 300.0
    # (agent, seq) keys older than this are forgotten; keep it above the agents'
    # queue_max_age (7 days), or a report that old could be stored a second time.
    seen_retention: Annotated[float, Field(gt=0)] = 30 * 86400.0
    device_kind: str = Field(default="workstation", description="kind of an agent host that is not "
                             "in the config's devices (those are matched by name or host)")
    thresholds: tuple[ThresholdModel, ...] = Field(
        default_factory=_default_thresholds,
        description="defaults for agent metrics; a device's own thresholds win by metric")

    def enroll_secret(self) -> str | None:
        if self.enroll_secret_file is not None:
            try:
                return self.enroll_secret_file.read_text().strip() or None
            except OSError:
                return None
        return os.environ.get(self.enroll_secret_env) or None
