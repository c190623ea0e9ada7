"""What a fleet keeps per printer, and what it does not load at all (docs/benchmarks.md, "Issue 9
follow-up: memory at 10,000 printers").

- A v1/v2c-only client never imports pysnmp's v3arch API nor builds its engine; the first SNMPv3
  target does both, in the same client, and is polled (real snmpsim, in a fresh interpreter:
  the test session has imported pysnmp's engine API long before).
- PrinterProbe's static cache shares the OIDs of printers of one model (the row named after a
  printer's own address kept apart) and their OCTET STRING values, and gives each target its
  own rows back.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from collector.demo import Snmpsim
from probes import printer
from probes import printer_mib as mib
from probes.printer import PrinterProbe
from tests.conftest import ROOT, V3_USER

LAZY_ENGINE = r"""
import asyncio, json, sys
from probes.printer import PrinterProbe
from probes.secret import Secret
from probes.snmp import SnmpClient, SnmpCredentials, SnmpTarget

host, port, user, auth_key, priv_key = sys.argv[1:6]

async def main():
    client = await SnmpClient.create()
    probe = PrinterProbe(client)
    v2c = SnmpTarget(host, int(port), SnmpCredentials(community=Secret("handmade_jam")))
    full = await probe.collect(v2c)
    light = await probe.collect(v2c, full=False)
    before = {"hlapi": "pysnmp.hlapi.v3arch.asyncio" in sys.modules,
              "engine": client._engine is not None}
    v3 = SnmpTarget(host, int(port), SnmpCredentials(
        version="3", user=user, auth_protocol="sha", auth_key=Secret(auth_key),
        priv_protocol="aes", priv_key=Secret(priv_key), context="handmade_jam"))
    secure = await probe.collect(v3)
    client.close()
    print(json.dumps({"before": before, "full": full.result, "light": light.result,
                      "v3": secure.result, "v3_serial": secure.identity.serial,
                      "after": {"hlapi": "pysnmp.hlapi.v3arch.asyncio" in sys.modules,
                                "engine": client._engine is not None}}))

asyncio.run(main())
"""


def test_v2c_polls_never_load_the_engine_and_v3_loads_it(snmpsim: Snmpsim) -> None:
    out = subprocess.run(
        [sys.executable, "-c", LAZY_ENGINE, snmpsim.host, str(snmpsim.port), V3_USER["user"],
         V3_USER["auth-key"], V3_USER["priv-key"]],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["full"] == got["light"] == "ok"
    assert got["before"] == {"hlapi": False, "engine": False}
    assert got["v3"] == "ok" and got["v3_serial"] == "HM-JAM-0001"
    assert got["after"] == {"hlapi": True, "engine": True}


def rows_of(host: str, serial: bytes) -> dict[str, int | bytes | str]:
    """A full poll's rows as a printer polled at ``host`` answers them."""
    return {
        "1.3.6.1.2.1.1.1.0": b"ACME LaserWriter 9000",
        mib.SYS_UPTIME: 12345,
        f"{mib.IP_AD_ENT_IF_INDEX}.{host}": 2,
        "1.3.6.1.2.1.43.5.1.1.17.1": serial,
        "1.3.6.1.2.1.43.11.1.1.6.1.1": bytes(bytearray(b"Black Toner CF410A")),  # a new object
        "1.3.6.1.2.1.43.11.1.1.8.1.1": 23000,
        "1.3.6.1.2.1.43.11.1.1.9.1.1": 40,
    }


def test_static_cache_shares_a_model_and_keeps_each_printer_its_own_rows() -> None:
    a_rows, b_rows = rows_of("10.0.0.1", b"SER-A"), rows_of("10.0.0.2", b"SER-B")
    a, b = PrinterProbe._learn(a_rows), PrinterProbe._learn(b_rows)
    assert a.static_oids is b.static_oids  # one shape for the model
    assert a.dynamic_oids is b.dynamic_oids
    descr = "1.3.6.1.2.1.43.11.1.1.6.1.1"
    position = a.static_oids.index(descr)
    assert a.static_values[position] is b.static_values[position]  # one description object
    for known, rows in ((a, a_rows), (b, b_rows)):
        static = dict(zip(printer._static_oids(known), known.static_values, strict=True))
        # every row but the uptime and the dynamic ones, in the order the agent gave them
        want = {oid: v for oid, v in rows.items()
                if oid != mib.SYS_UPTIME and not oid.startswith(printer._DYNAMIC_ROW_PREFIXES)}
        assert list(static.items()) == list(want.items())
    assert f"{mib.IP_AD_ENT_IF_INDEX}.10.0.0.2" not in printer._static_oids(a)


def test_shared_pools_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(printer, "SHARED_POOL_SIZE", 4)
    monkeypatch.setattr(printer, "_values", {})
    for i in range(10):
        value = printer._shared_value(f"v{i}".encode())
        assert value == f"v{i}".encode()
        assert len(printer._values) <= 4
    assert printer._shared_value(7) == 7
    assert 7 not in printer._values
