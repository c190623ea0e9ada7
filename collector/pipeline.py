"""Where readings go after a poll or an agent report.

The scheduler (and agent ingest) hand every :class:`Reading` to each registered sink in turn:
the InfluxDB writer, the state cache, the fault engine. A sink must not block for long (queue
the work) and must not raise for bad data; an exception from a sink is logged with a traceback
by the caller and never stops polling.
"""

from __future__ import annotations

from typing import Protocol

from collector.config import DeviceConfig
from probes.model import Reading


class ReadingSink(Protocol):
    async def handle(self, reading: Reading, device: DeviceConfig) -> None: ...
