"""``fleetwatch collector`` that dies (``os._exit(9)``, as a SIGKILL: no clean-up, no flush) at
one point of an agent batch; test_crash_order.py runs it as a subprocess.

The point is chosen with ``CRASH_AT`` (test-only; the collector itself has no such hook):

- ``keys``: right after a transaction of ``AgentStore._accept_many`` committed a new key;
- ``spool``: right after ``InfluxWriter.write_lines`` returned for lines with ``host_system``
  points (they are fsynced in the spool), before the batch's keys are recorded.

``CRASH_SKIP`` batches reach that point unharmed first. Usage:
``python -m tests.collector.ingest.crashing_collector collector --config FILE``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence

from collector.cli import main
from collector.ingest.store import AgentStore
from collector.storage.influx import InfluxWriter

AT = os.environ.get("CRASH_AT", "")
_skip = int(os.environ.get("CRASH_SKIP", "0"))


def _maybe_die() -> None:
    global _skip
    if _skip > 0:
        _skip -= 1
        return
    sys.stderr.write(f"crashing_collector: os._exit(9) after {AT}\n")
    sys.stderr.flush()
    os._exit(9)


_accept_many = AgentStore._accept_many
_write_lines = InfluxWriter.write_lines


def accept_many(self: AgentStore, work: list[tuple[str, Sequence[tuple[int, float]], float, int]]
                ) -> list[list[int]]:
    out = _accept_many(self, work)  # committed when it returns
    if any(out):
        _maybe_die()
    return out


async def write_lines(self: InfluxWriter, lines: Iterable[str]) -> None:
    lines = list(lines)
    await _write_lines(self, lines)
    if any(line.startswith("host_system,") for line in lines):
        _maybe_die()


if AT == "keys":
    AgentStore._accept_many = accept_many  # type: ignore[method-assign]
elif AT == "spool":
    InfluxWriter.write_lines = write_lines  # type: ignore[method-assign]
elif AT:
    raise SystemExit(f"CRASH_AT={AT!r}: not keys or spool")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
