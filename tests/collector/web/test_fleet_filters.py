"""The fleet page's rows: filters by site, kind and status, search, every reason, trays."""

from __future__ import annotations

from dataclasses import replace

from collector.config import DeviceConfig
from collector.state import DeviceState
from collector.web.fleet import fleet_rows
from probes.model import Identity, Tray
from tests.collector.conftest import down, printer

A = DeviceConfig(name="hq-copier", host="10.0.0.5", site="HQ", kind="copier", location="Lobby")
B = DeviceConfig(name="annex-1", host="10.0.1.7", site="Annex")
C = DeviceConfig(name="annex-2", host="10.0.1.8", site="Annex")
EMPTY = Tray(index="1.2", description="Tray 2", media="A4", level=0, capacity=500, percent=0.0,
             state="empty", manual=False)
BYPASS = replace(EMPTY, index="1.1", description="Bypass", manual=True)


def states() -> list[DeviceState]:
    reasons = ("jammed", "door open", "Black Toner low (8%)", "Tray 2 empty")
    return [
        DeviceState(A, {"snmp_printer": replace(printer("hq-copier"), problems=reasons,
                                                status="critical", trays=(BYPASS, EMPTY),
                                                identity=Identity(model="MP C2503",
                                                                  serial="E1234"))}),
        DeviceState(B, {"snmp_printer": down("annex-1")}),
        DeviceState(C, {"snmp_printer": printer("annex-2")}),
    ]


def test_worst_first_and_every_reason() -> None:
    rows, matching = fleet_rows(states())
    first, also = fleet_rows(states(), limit=1)
    assert matching == also == 3 and [r["name"] for r in first] == ["hq-copier"]
    assert [r["name"] for r in rows] == ["hq-copier", "annex-1", "annex-2"]
    assert rows[0]["reasons"] == ["jammed", "door open", "Black Toner low (8%)", "Tray 2 empty"]
    assert [(t["name"], t["alarm"]) for t in rows[0]["trays"]] == [("Bypass", False),
                                                                   ("Tray 2", True)]
    assert rows[1]["reasons"] == ["timeout: no answer"]


def test_filters_and_search() -> None:
    names = lambda **f: [r["name"] for r in fleet_rows(states(), **f)[0]]  # noqa: E731
    assert names(site="Annex") == ["annex-1", "annex-2"]
    assert names(kind="copier") == ["hq-copier"]
    assert names(status="unreachable") == ["annex-1"]
    assert names(q="e1234") == ["hq-copier"]  # serial, any case
    assert names(q="10.0.1.8") == ["annex-2"]
    assert names(q="lobby") == ["hq-copier"]
    assert names(site="Annex", status="ok") == ["annex-2"]
    assert names(q="nothing like it") == []
