"""The demo's simulated printers tell a firmware revision and a MAC (issue 13 acceptance: the
demo's asset list had both columns empty for every printer), read by the real probe over SNMP
from snmpsim."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from collector.cli import main
from collector.demo.simfleet import SimFleet
from tests.apps import simulated_async


async def test_simulated_printers_tell_firmware_and_mac(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fleet = SimFleet(tmp_path / "fleet", count=3, prefix="demo")
    async with simulated_async(fleet) as sim:
        for printer in fleet.printers:
            code = await _check(sim.host, sim.port, printer.name)
            identity = json.loads(capsys.readouterr().out)["identity"]
            assert code == 0, identity
            assert identity["firmware"] == printer.firmware
            assert identity["mac"] == printer.mac
    macs = {p.mac for p in fleet.printers}
    assert len(macs) == 3 and all(m.startswith("02:") for m in macs)  # locally administered
    assert SimFleet(tmp_path / "again", count=3, prefix="demo").printers[0].mac == \
        fleet.printers[0].mac  # the same on every run


async def _check(host: str, port: int, community: str) -> int:
    # main runs its own event loop: give it a thread
    return await asyncio.to_thread(main, ["check", host, "--port", str(port),
                                          "--community", community, "--json"])
