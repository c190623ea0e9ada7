"""Line protocol formatting: pure tables, no network."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from collector.config import DeviceConfig
from collector.schema import SCHEMA
from collector.storage.lineproto import (
    escape_key,
    escape_measurement,
    format_line,
    quote_string,
    reading_lines,
    time_ns,
)
from probes.model import PollCost, Reading, Supply
from probes.printer_mib import ERROR_BITS
from tests.collector.storage.samples import device, parse_line, printer_reading

ROOT = Path(__file__).resolve().parents[3]
T = 1_795_000_000.123456


@pytest.mark.parametrize(("func", "raw", "escaped"), [
    (escape_measurement, "cpu load,x=1", "cpu\\ load\\,x=1"),
    (escape_measurement, "trailing\\", "trailing"),
    (escape_key, "a b,c=d", "a\\ b\\,c\\=d"),
    (escape_key, 'say "hi"', 'say\\ "hi"'),
    (escape_key, "line\nbreak\r", "line\\ break\\ "),
    (escape_measurement, "two\nlines", "two\\ lines"),
    (escape_key, "back\\slash", "back\\slash"),
    (escape_key, "ends\\", "ends"),
    (escape_key, "Étage 2 – Süd", "Étage\\ 2\\ –\\ Süd"),
    (quote_string, 'say "hi" \\ bye', '"say \\"hi\\" \\\\ bye"'),
    (quote_string, "two\nlines", '"two lines"'),
    (quote_string, "x" * 5000, '"' + "x" * 1024 + '"'),
])
def test_escaping(func: object, raw: str, escaped: str) -> None:
    assert callable(func)
    assert func(raw) == escaped


@pytest.mark.parametrize(("seconds", "ns"), [
    (0.0, 0),
    (1.5, 1_500_000_000),
    (T, 1_795_000_000_123_456_000),
    (1_795_000_000.0000004, 1_795_000_000_000_000_000),  # rounded to the microsecond
])
def test_time_ns(seconds: float, ns: int) -> None:
    assert time_ns(seconds) == ns


@pytest.mark.parametrize(("fields", "expected"), [
    ({"a": 1, "b": 1.0, "c": "x", "d": True}, 'm,t=v a=1i,b=1.0,c="x",d=true 7'),
    ({"a": None, "b": float("nan"), "c": float("inf")}, None),
    ({"big": 2**40, "tiny": 1e-05}, "m,t=v big=1099511627776i,tiny=1e-05 7"),
])
def test_format_line(fields: dict[str, int | float | str | bool | None], expected: str | None
                     ) -> None:
    assert format_line("m", {"t": "v", "empty": "", "none": None}, fields, 7) == expected


def test_printer_reading_lines_exactly() -> None:
    dev = DeviceConfig(name="Front Desk, 2F", host="10.0.0.9", site="HQ Main",
                       tags=MappingProxyType({"owner": "it=ops", "device": "ignored"}))
    reading = Reading(
        device="Front Desk, 2F", host="10.0.0.9", probe="snmp_printer", time=T,
        uptime_seconds=120.5, device_status="warning", printer_status="idle",
        faults=frozenset({"low_toner", "jammed"}), error_state_hex="2400", status="warning",
        supplies=(Supply(index="1.1", description='Black "K" Toner\nCF410A', type="toner",
                         supply_class="consumed", colour="black", unit="percent", level=8,
                         capacity=100, percent=8.0, state="low", part_number="CF410A"),),
        cost=PollCost(duration_s=0.25, pdus=3, retries=1),
    )
    tags = "device=Front\\ Desk\\,\\ 2F,kind=printer,owner=it\\=ops,site=HQ\\ Main"
    faults = ",".join(f"{n}={int(n in {'low_toner', 'jammed'})}i" for n in ERROR_BITS)
    assert reading_lines(reading, dev) == [
        "availability,device=Front\\ Desk\\,\\ 2F,kind=printer,owner=it\\=ops,probe=snmp_printer,"
        "site=HQ\\ Main up=1i,status=\"warning\",status_level=1i,"
        "stale=0i,duration_s=0.25,pdus=3i,retries=1i,result=\"ok\" 1795000000123456000",
        f"uptime,{tags} seconds=120.5 1795000000123456000",
        f"supply,colour=black,{tags},supply=1.1,type=toner level=8i,capacity=100i,percent=8.0,"
        f'state="low",description="Black \\"K\\" Toner CF410A",part_number="CF410A",'
        f'unit="percent",class="consumed" 1795000000123456000',
        f'printer,{tags} device_status="warning",printer_status="idle",error_state="2400",'
        f"fault_count=2i,{faults},alert_count=0i,alerts_critical=0i 1795000000123456000",
    ]


@pytest.mark.parametrize(("level", "capacity", "percent", "written_percent"), [
    (-3, 100, None, None),  # some remaining: not a number
    (-2, -2, None, None),  # unknown
    (-1, 100, None, None),  # other / no restriction
    (50, 100, 50.0, 50.0),
    (0, 100, 0.0, 0.0),  # empty is a real 0 %
    (7, 0, None, None),  # capacity 0: no percent
])
def test_sentinel_percent_is_not_written(level: int, capacity: int, percent: float | None,
                                         written_percent: float | None) -> None:
    base = printer_reading("p", T)
    supply = replace(base.supplies[0], level=level, capacity=capacity, percent=percent)
    lines = reading_lines(replace(base, supplies=(supply,)), device(1))
    (line,) = [ln for ln in lines if ln.startswith("supply,")]
    _, _, fields, _ = parse_line(line)
    assert fields["level"] == ("integer", level)
    assert fields["capacity"] == ("integer", capacity)
    assert fields.get("percent") == (None if written_percent is None else ("float", written_percent))


def schema_type(measurement: str, field: str) -> str:
    declared = SCHEMA[measurement][1]
    return declared.get(field) or declared["*"]


# Values whose Python type differs from the schema type must still come out in the schema type:
# an int percent, a bool level, an int uptime, an int metric.
ODD_TYPES = [
    printer_reading("p", T),
    replace(printer_reading("p", T, cycle=3), uptime_seconds=100,
            supplies=(replace(printer_reading("p", T).supplies[0], percent=50, level=True),)),
    Reading(device="ws1", host="h", probe="ping", time=T, metrics=(("rtt_ms", 1), ("loss", 0.5))),
    Reading(device="ws1", host="h", probe="http", time=T, metrics=(("status_code", 200.0),)),
    printer_reading("p", T, reachable=False),
    printer_reading("p", T, faults=None),
]


@pytest.mark.parametrize("reading", ODD_TYPES)
def test_every_field_has_its_schema_type(reading: Reading) -> None:
    lines = reading_lines(reading, device(1))
    assert lines
    for line in lines:
        measurement, tags, fields, stamp = parse_line(line)
        assert measurement in SCHEMA
        assert stamp == time_ns(T)
        extra_tags = SCHEMA[measurement][0]
        assert set(tags) <= {"device", "kind", "site", "floor", *extra_tags}, line
        for name, (kind, _) in fields.items():
            assert kind == schema_type(measurement, name), f"{measurement}.{name} in {line}"


def test_unreachable_reading_writes_availability_only() -> None:
    lines = reading_lines(printer_reading("p", T, reachable=False), device(1))
    assert len(lines) == 1
    measurement, tags, fields, _ = parse_line(lines[0])
    assert measurement == "availability"
    assert tags["probe"] == "snmp_printer"
    assert fields["up"] == ("integer", 0)
    assert fields["error"] == ("string", "timeout: no SNMP response")
    assert fields["status"] == ("string", "unreachable")


def test_stale_reading_writes_availability_only() -> None:
    stale = replace(printer_reading("p", T), stale=True, error="timeout")
    (line,) = reading_lines(stale, device(1))
    _, _, fields, _ = parse_line(line)
    assert fields["stale"] == ("integer", 1)
    assert fields["up"] == ("integer", 1)


def test_full_printer_reading_measurements() -> None:
    lines = reading_lines(printer_reading("p", T, faults=frozenset({"no_paper"})), device(1))
    kinds = [parse_line(ln)[0] for ln in lines]
    assert kinds == ["availability", "uptime", *["supply"] * 6, *["tray"] * 2, "pages", "printer"]
    printer = next(parse_line(ln)[2] for ln in lines if ln.startswith("printer,"))
    assert printer["no_paper"] == ("integer", 1)
    assert printer["low_paper"] == ("integer", 0)
    assert printer["fault_count"] == ("integer", 1)
    assert printer["page_count"] == ("integer", 123456)
    assert printer["alert_count"] == ("integer", 1)
    drum = next(parse_line(ln) for ln in lines if ",supply=1.5," in ln)
    assert drum[1]["type"] == "opc" and "colour" not in drum[1]
    assert "percent" not in drum[2] and drum[2]["state"] == ("string", "some_remaining")


def test_printer_without_error_state_writes_no_fault_fields() -> None:
    lines = reading_lines(printer_reading("p", T, faults=None), device(1))
    printer = next(parse_line(ln)[2] for ln in lines if ln.startswith("printer,"))
    assert not set(ERROR_BITS) & set(printer)
    assert "fault_count" not in printer and "error_state" not in printer


def test_metrics_of_other_probes() -> None:
    reading = Reading(device="web", host="h", probe="http", time=T,
                      metrics=(("response_ms", 12.5), ("status_code", 200.0), ("time", 1.0),
                               ("odd name,x", 1.0), ("nan", float("nan"))))
    lines = reading_lines(reading, DeviceConfig(name="web", host="h", kind="server"))
    assert lines == [
        'availability,device=web,kind=server,probe=http up=1i,status="ok",status_level=0i,'
        "stale=0i,duration_s=0.0,pdus=0i,retries=0i,result=\"ok\" 1795000000123456000",
        "metrics,device=web,kind=server,probe=http response_ms=12.5,status_code=200.0,"
        "odd\\ name\\,x=1.0 1795000000123456000",
    ]


def test_schema_doc_lists_every_measurement_field_and_type() -> None:
    doc = (ROOT / "docs" / "influxdb-schema.md").read_text()
    for measurement, (tags, fields) in SCHEMA.items():
        section = re.search(rf"^### `{measurement}`\n(.*?)(?=^### |\Z)", doc, re.M | re.S)
        assert section, f"docs/influxdb-schema.md has no section for {measurement}"
        text = section.group(1)
        for tag in tags:
            assert f"`{tag}`" in text, f"{measurement}: tag {tag} undocumented"
        for field, kind in fields.items():
            if field == "*":
                assert kind in text
                continue
            row = re.search(rf"^\| `{field}` \| ([a-z]+) \|", text, re.M)
            assert row, f"{measurement}.{field} undocumented"
            assert row.group(1) == kind, f"{measurement}.{field}: doc says {row.group(1)}"
