"""The latest reading of every device and probe, for the web pages, the API and the CLI."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from collector.config import DeviceConfig
from probes.model import STATUS_ORDER, Reading


@dataclass(slots=True)
class DeviceState:
    device: DeviceConfig
    readings: dict[str, Reading] = field(default_factory=dict)  # probe name → latest
    last_change: float = field(default_factory=time.time)
    polls: int = 0

    @property
    def status(self) -> str:
        """Worst status over the device's probes; 'pending' before the first poll."""
        if not self.readings:
            return "pending"
        return max((r.status for r in self.readings.values()), key=lambda s: STATUS_ORDER.get(s, 3))

    @property
    def reachable(self) -> bool | None:
        if not self.readings:
            return None
        return all(r.reachable for r in self.readings.values())


class StateCache:
    """A ReadingSink that keeps the latest reading per (device, probe)."""

    def __init__(self, devices: tuple[DeviceConfig, ...]) -> None:
        self._states = {d.name: DeviceState(d) for d in devices}

    async def handle(self, reading: Reading, device: DeviceConfig) -> None:
        state = self._states.get(device.name)
        if state is None:
            state = self._states[device.name] = DeviceState(device)
        before = state.status
        state.readings[reading.probe] = reading
        state.polls += 1
        if state.status != before:
            state.last_change = reading.time

    def get(self, name: str) -> DeviceState | None:
        return self._states.get(name)

    def all(self) -> list[DeviceState]:
        return list(self._states.values())
