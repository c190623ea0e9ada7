"""Real path: the lean v1/v2c transport and pysnmp's engine give identical Readings (and PDU
and retry tallies) on every recording, full and light, served by snmpsim over UDP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from collector.demo import Snmpsim
from probes.model import Reading
from probes.printer import PrinterProbe
from probes.secret import Secret
from probes.snmp import SnmpClient, SnmpCredentials, SnmpTarget
from tests.conftest import HANDMADE, shared_device_names

NAMES = shared_device_names() + sorted(p.stem for p in HANDMADE.glob("*.snmprec"))


@pytest.fixture(scope="module")
async def clients() -> AsyncIterator[tuple[SnmpClient, SnmpClient]]:
    lean = await SnmpClient.create()
    engine = await SnmpClient.create(lean=False)
    yield lean, engine
    lean.close()
    engine.close()


def comparable(reading: Reading) -> dict[str, Any]:
    data = reading.to_json()
    data.pop("time")
    data.pop("uptime_seconds")  # the uptime ticks on between polls
    data["cost"].pop("duration_s")
    return data


@pytest.mark.parametrize("version", ["2c", "1"])
@pytest.mark.parametrize("name", NAMES)
async def test_lean_and_pysnmp_read_the_same(clients: tuple[SnmpClient, SnmpClient],
                                             snmpsim: Snmpsim, name: str, version: str) -> None:
    lean, engine = clients
    target = SnmpTarget(snmpsim.host, snmpsim.port,
                        SnmpCredentials(version=version, community=Secret(name)),
                        timeout=2.0, retries=1)
    probes = PrinterProbe(lean), PrinterProbe(engine)
    full = [comparable(await p.collect(target, device=name, full=True)) for p in probes]
    assert full[0] == full[1]
    assert full[0]["error"] is None or "not a printer" in full[0]["error"]
    light = [comparable(await p.collect(target, device=name, full=False)) for p in probes]
    assert light[0] == light[1]
    assert lean.transport is not None and lean.transport.slow == 0  # the reader read them all
