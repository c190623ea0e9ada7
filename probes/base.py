"""What every probe shares: its settings model, the target it polls, and the protocol it keeps.

A probe kind is a class with ``kind`` (its YAML name), ``settings`` (a pydantic model of its
config keys: types, defaults, bounds and descriptions in one place), ``sleeps`` (whether its
devices doze, so that a timeout after a good poll is first "asleep?"), a constructor taking the
shared :class:`Resources`, and ``async collect(target) -> Reading``. :mod:`probes.registry` lists
the kinds; the collector's scheduler and config take them from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

from probes.model import Reading
from probes.snmp import SnmpClient, SnmpTarget

if TYPE_CHECKING:  # a type only: aiohttp is imported by the probes that use it
    import aiohttp


class ProbeSettings(BaseModel):
    """The keys every probe has. Subclasses fix ``kind`` to a literal and add their own keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(description="the probe's kind (its YAML name)")
    interval: float = Field(60.0, gt=0, description="seconds between polls")
    timeout: float = Field(2.0, gt=0, description="seconds one poll may take")


@dataclass(frozen=True, slots=True)
class Target:
    """One poll's target: the device, how to reach it, and the probe's settings.

    ``poll`` counts this probe's polls of this device since the collector started (0 first);
    ``snmp`` is the device's SNMP target (credentials, per-request timeout and retries)."""

    device: str
    host: str
    port: int
    settings: ProbeSettings
    snmp: SnmpTarget | None = None
    poll: int = 0


@dataclass(frozen=True, slots=True)
class Resources:
    """What the process shares between probes: one SNMP engine, one HTTP session."""

    snmp: SnmpClient
    http: aiohttp.ClientSession


class Probe(Protocol):
    kind: ClassVar[str]
    settings: ClassVar[type[ProbeSettings]]
    sleeps: ClassVar[bool]

    def __init__(self, resources: Resources) -> None: ...

    async def collect(self, target: Target) -> Reading:
        """One poll. Never raises for device trouble: a failure is ``result``/``error``."""
        ...

    def forget(self, target: Target) -> None:
        """Drop what the probe remembers of ``target`` (the device failed: it may come back
        changed), so that the next poll is a full one."""
        ...
