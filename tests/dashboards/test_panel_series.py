"""Every InfluxQL query of dashboards/*.json against a real influxd holding known test data (built
with the collector's own line-protocol writer), checked against the series it must return:
the jams/doors panel counts events (a fault going 0 → 1), not polls; the lowest-toner panel
returns only the lowest few cartridges, lowest first."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from dataclasses import replace
from typing import Any

import pytest

from collector.config import DeviceConfig
from collector.demo import Influxd
from collector.storage.lineproto import reading_lines
from dashboards import build
from probes.model import PageCounter
from tests.collector.conftest import ping, printer, toner
from tests.dashboards.test_dashboards import DASHBOARD_DIR, queries, substitute

# Polls 30 s apart, ending 5 minutes ago. d1 jams twice (0 1 1 1 0 1 1: five jammed polls);
# d2 is jammed at the start of the range (not a new event), then has its door opened once.
JAMS = {"d1": [set(), {"jammed"}, {"jammed"}, {"jammed"}, set(), {"jammed"}, {"jammed"}],
        "d2": [{"jammed"}, {"jammed"}, {"door_open"}, {"door_open"}, set(), set(), set()]}
# (device, last black %, last cyan %): twelve cartridges, more than the panel shows
LEVELS = [("d1", 50, 61), ("d2", 3, 44), ("d3", 80, 9), ("d4", 12, 70), ("d5", 7, 33),
          ("d6", 90, 25)]


def series(influxd: Influxd, db: str, query: str) -> list[dict[str, Any]]:
    result = influxd.query(substitute(query), db=db)
    statement = result["results"][0]  # type: ignore[index]
    assert "error" not in statement, statement
    found: list[dict[str, Any]] = statement.get("series", [])
    return found


def column(s: dict[str, Any], name: str) -> list[Any]:
    i = s["columns"].index(name)
    return [row[i] for row in s["values"]]


@pytest.fixture(scope="module")
def known(influxd: Influxd) -> str:
    db = f"panels_{uuid.uuid4().hex[:8]}"
    influxd.query(f'CREATE DATABASE "{db}"')
    start = time.time() - 300 - 30 * 7
    lines: list[str] = []
    devices = {name: DeviceConfig(name=name, host="192.0.2.1", site="HQ")
               for name, _, _ in LEVELS}
    for name, black, cyan in LEVELS:
        for i in range(7):
            faults = JAMS.get(name, [set()] * 7)[i]
            # levels fall to the listed value at the last poll
            supplies = (toner(black + 6 - i, index="1.1"),
                        toner(cyan + 6 - i, index="1.2", colour="cyan"))
            reading = replace(printer(name, faults, supplies=supplies), time=start + 30 * i,
                              page_counters=(PageCounter("1.1", 1000 + 10 * i),),
                              uptime_seconds=86400.0 * 3 + 30 * i)
            lines += reading_lines(reading, devices[name])
    gateway = DeviceConfig(name="gateway", host="127.0.0.1", kind="network", site="HQ")
    lines += reading_lines(replace(ping("gateway"), time=start), gateway)
    lines += reading_lines(replace(ping("gateway", ok=False), time=start + 60), gateway)
    req = urllib.request.Request(f"{influxd.url}/write?db={db}", data="\n".join(lines).encode(),
                                 method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 204
    return db


def _fault_events(found: list[dict[str, Any]]) -> None:
    (s,) = found
    totals = {name: sum(column(s, name)) for name in s["columns"][1:]}
    assert totals == {"jammed": 2, "door open": 1, "no paper": 0, "no toner": 0}


def _lowest(found: list[dict[str, Any]]) -> None:
    (s,) = found
    rows = sorted(zip(column(s, "percent"), column(s, "device"), column(s, "colour"),
                      strict=True))
    everything = sorted([(b, d, "black") for d, b, _ in LEVELS]
                        + [(c, d, "cyan") for d, _, c in LEVELS])
    assert rows == everything[:build.LOWEST]


def _per_device(count: int) -> Any:
    def check(found: list[dict[str, Any]]) -> None:
        assert len(found) == count and all(s["values"] for s in found)
    return check


def _availability(found: list[dict[str, Any]]) -> None:
    means = {s["tags"]["device"]: s["values"][0][1] for s in found}
    assert means["gateway"] == pytest.approx(50.0) and means["d1"] == pytest.approx(100.0)


# panel title → what its query must return (every panel needs one: see the last test)
EXPECTED = {
    "fleet-health.json": {
        "Status now (0 ok · 1 warning · 2 critical · 3 down/unknown)": _per_device(7),
        f"Lowest toner and ink (the {build.LOWEST} lowest)": _lowest,
        "Toner and ink over time": _per_device(12),
        "Faults reported by printers": _per_device(6),
        "Jams, open doors, no paper, no toner (new events)": _fault_events,
        "Pages printed": _per_device(6),
        "Paper trays": _per_device(0),  # the test printers have no trays
        "Poll cost (Fleetwatch itself)": lambda found: len(found) >= 1,
    },
    "uptime.json": {
        "Availability in the period": _availability,
        "Up / down": _per_device(7),
        "Days since last reboot": _per_device(6),
        "Ping round trip": _per_device(1),
    },
}


@pytest.mark.parametrize("name", sorted(build.DASHBOARDS))
def test_every_panel_returns_the_expected_series(influxd: Influxd, known: str,
                                                 name: str) -> None:
    dashboard = json.loads((DASHBOARD_DIR / name).read_text())
    titles = {title for title, _ in queries(dashboard)}
    assert titles == set(EXPECTED[name]), "every panel needs an expectation here"
    for title, query in queries(dashboard):
        found = series(influxd, known, query)
        outcome = EXPECTED[name][title](found)
        assert outcome is None or outcome, f"{title}: {found}"


def test_old_jam_query_counted_polls(influxd: Influxd, known: str) -> None:
    """The query this panel had before (issue 13: 96 shown for 13 jams) on the same data."""
    old = ('SELECT sum("jammed") FROM "printer" WHERE $timeFilter GROUP BY time($__interval)')
    (s,) = series(influxd, known, old)
    assert sum(v or 0 for v in column(s, "sum")) == 7  # polls with the bit set, not 2 jams
