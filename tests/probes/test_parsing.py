"""Pure parsing: tables of raw rows → expected values. No network."""

from __future__ import annotations

import pytest

from probes import parsing
from probes import printer_mib as mib
from probes.parsing import (
    decode_errors,
    decode_text,
    find_part_number,
    parse_supplies,
    parse_trays,
    supply_state,
)
from probes.printer import PrinterProbe

SUP = mib.PRT_SUPPLIES_ENTRY
INP = mib.PRT_INPUT_ENTRY


@pytest.mark.parametrize(
    ("octets", "faults"),
    [
        (b"", set()),
        (b"\x00", set()),
        (b"\x00\x00", set()),
        (b"\x80", {"low_paper"}),
        (b"\x40", {"no_paper"}),
        (b"\x20", {"low_toner"}),
        (b"\x10", {"no_toner"}),
        (b"\x08", {"door_open"}),
        (b"\x04", {"jammed"}),
        (b"\x02", {"offline"}),
        (b"\x01", {"service_requested"}),
        (b"\x00\x80", {"input_tray_missing"}),
        (b"\x00\x40", {"output_tray_missing"}),
        (b"\x00\x20", {"marker_supply_missing"}),
        (b"\x00\x10", {"output_near_full"}),
        (b"\x00\x08", {"output_full"}),
        (b"\x00\x04", {"input_tray_empty"}),
        (b"\x00\x02", {"overdue_prevent_maint"}),
        (b"\x00\x01", set()),  # bit 15: not assigned
        (b"\x01\x42", {"service_requested", "output_tray_missing", "overdue_prevent_maint"}),
        (b"\x24", {"low_toner", "jammed"}),
        (b"\x20\x00\xff", {"low_toner"}),  # a third (vendor) octet is ignored
    ],
)
def test_decode_errors(octets: bytes, faults: set[str]) -> None:
    assert decode_errors(octets) == faults


@pytest.mark.parametrize(
    ("value", "octets"),
    [(b"\x20", b"\x20"), (0x20, b"\x20"), (0x0142, b"\x01\x42"), (None, None),
     # wrong-typed values are not reported, never decoded into faults
     ("1.3.6.1.4.1.11", None), ("", None), (-1, None), (0x10000, None)],
)
def test_error_octets_accepts_integer_agents(value: object, octets: bytes | None) -> None:
    assert parsing.error_octets(value) == octets  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"Black Toner\x00\x00\x00", "Black Toner"),
        (bytes.fromhex("E9BB91E889B2E7A2B3E7B289"), "黑色碳粉"),
        (b"Cyan \xe9", "Cyan é"),  # not UTF-8: Latin-1
        # HP M880 via JetDirect: 16 characters, then the rest as a hex dump.
        (b"Black Cartridge \n38 32 37 41 20 48 50 20 43 46 33 30 30 41 00 ",
         "Black Cartridge 827A HP CF300A"),
        (b"Magenta Cartridg\n65 20 38 32 37 41 20 48 50 20 43 46 33 30 33 41 \n00 ",
         "Magenta Cartridge 827A HP CF303A"),
        (b"Tray  1\r\n", "Tray 1"),
        (b"42 6C 61 63 6B", "Black"),
        (b"Room 10 20 30", "Room 10 20 30"),
        (None, ""),
    ],
)
def test_decode_text(raw: bytes | None, text: str) -> None:
    assert decode_text(raw) == text


@pytest.mark.parametrize(
    ("description", "part"),
    [
        ("Black Cartridge HP CF410A", "CF410A"),
        ("Black Cartridge 827A HP CF300A", "CF300A"),
        ("Black Toner, PN 006R01509;SN48178080E0000481", "006R01509"),
        ("Toner P/N 106R01443", "106R01443"),
        ("Fuser, PN unknown;SNunknown", None),
        ("Black Ink Supply Unit T9441/T9451/T9461", "T9441"),
        ("Black Toner Cartridge S/N:CRUM-12345678", None),
        ("Black Toner Cartridge OKI DATA CORP", None),
        ("Drum Cartridge (R1)", None),
        ("Toner (Cyan)", None),
        # HP LaserJet M880: the fuser is sold per mains voltage; the voltage is no part of it.
        ("Fuser Kit HP 110V-C1N54A, 220V-C1N58A", "C1N54A"),
        ("Fuser Kit, PN 220V-C1N58A", "C1N58A"),
        ("Fuser 230V-JC91-01080A", "JC91-01080A"),
    ],
)
def test_find_part_number(description: str, part: str | None) -> None:
    assert find_part_number(description) == part


def supply_rows(idx: str, **cols: object) -> dict[str, object]:
    numbers = {"colorant": 3, "cls": 4, "type": 5, "descr": 6, "unit": 7, "max": 8, "level": 9}
    return {f"{SUP}.{numbers[k]}.{idx}": v for k, v in cols.items()}


@pytest.mark.parametrize(
    ("cols", "percent", "state", "supply_class"),
    [
        (dict(cls=3, type=3, max=100, level=54), 54.0, "ok", "consumed"),
        (dict(cls=3, type=3, max=100, level=10), 10.0, "low", "consumed"),
        (dict(cls=3, type=3, max=100, level=0), 0.0, "empty", "consumed"),
        (dict(cls=3, type=3, max=-2, level=-3), None, "some_remaining", "consumed"),
        (dict(cls=3, type=3, max=100, level=-2), None, "unknown", "consumed"),
        (dict(cls=3, type=3, max=-1, level=-1), None, "other", "consumed"),
        (dict(cls=3, type=15, max=0, level=80), None, "some_remaining", "consumed"),
        (dict(cls=3, type=15, max=-2, level=0), None, "empty", "consumed"),
        # A filled supply (receptacle) reports its remaining space (RFC 3805
        # prtMarkerSuppliesLevel): percent is that space; 0 left is full.
        (dict(cls=4, type=4, max=100, level=100), 100.0, "ok", "filled"),  # a fresh waste box
        (dict(cls=4, type=4, max=100, level=92), 92.0, "ok", "filled"),
        (dict(cls=4, type=4, max=100, level=11), 11.0, "ok", "filled"),
        (dict(cls=4, type=4, max=100, level=10), 10.0, "near_full", "filled"),  # 90 % full
        (dict(cls=4, type=4, max=100, level=5), 5.0, "near_full", "filled"),
        (dict(cls=4, type=4, max=100, level=0), 0.0, "full", "filled"),
        (dict(cls=4, type=8, max=6700, level=6030), 90.0, "ok", "filled"),
        (dict(cls=4, type=4, max=-2, level=-3), None, "some_remaining", "filled"),
        (dict(cls=4, type=4, max=-2, level=-2), None, "unknown", "filled"),
        # space left against an unknown capacity: some space remains, amount unknown
        (dict(cls=4, type=4, max=-2, level=100), None, "some_remaining", "filled"),
        (dict(cls=4, type=4, max=-2, level=0), None, "full", "filled"),
        # class missing: a waste type is still a receptacle
        (dict(type=4, max=6700, level=6700), 100.0, "ok", "filled"),
        (dict(type=4, max=6700, level=0), 0.0, "full", "filled"),
        # type and class missing: the description says waste
        (dict(descr=b"Waste Toner Container", max=100, level=5), 5.0, "near_full", "filled"),
    ],
)
def test_supply_levels_and_states(
    cols: dict[str, object], percent: float | None, state: str, supply_class: str
) -> None:
    [s] = parse_supplies(supply_rows("1.1", **cols))  # type: ignore[arg-type]
    assert (s.percent, s.state, s.supply_class) == (percent, state, supply_class)


def test_sentinel_is_never_a_number() -> None:
    for level in (-1, -2, -3):
        assert supply_state("consumed", level, 100, parsing.DEFAULT_THRESHOLDS) in {
            "other", "unknown", "some_remaining"}
        [s] = parse_supplies(supply_rows("1.1", cls=3, type=3, max=100, level=level))  # type: ignore[arg-type]
        assert s.percent is None


def test_colour_comes_from_colorant_table_not_index() -> None:
    rows = {
        **supply_rows("1.1", colorant=1, cls=3, type=3, descr=b"Toner A", max=100, level=50),
        **supply_rows("1.2", colorant=4, cls=3, type=3, descr=b"Toner B", max=100, level=50),
        **supply_rows("1.3", colorant=0, cls=3, type=15, descr=b"Fuser", max=100, level=50),
        f"{mib.PRT_COLORANT_VALUE}.1.1": b"cyan",
        f"{mib.PRT_COLORANT_VALUE}.1.4": b"black",
    }
    colours = {s.index: s.colour for s in parse_supplies(rows)}  # type: ignore[arg-type]
    assert colours == {"1.1": "cyan", "1.2": "black", "1.3": None}


def test_colour_falls_back_to_description() -> None:
    rows = supply_rows("1.1", descr=b"Toner (Magenta)", max=100, level=31)
    [s] = parse_supplies(rows)  # type: ignore[arg-type]
    assert (s.colour, s.type) == ("magenta", "toner")


def test_missing_columns_keep_the_row() -> None:
    rows = supply_rows("1.7", level=20)
    [s] = parse_supplies(rows)  # type: ignore[arg-type]
    assert (s.index, s.description, s.capacity, s.percent, s.state) == (
        "1.7", "", None, None, "some_remaining")


def test_indexes_sort_numerically() -> None:
    rows = {**supply_rows("1.10", max=100, level=1), **supply_rows("1.9", max=100, level=1),
            **supply_rows("1.2", max=100, level=1)}
    assert [s.index for s in parse_supplies(rows)] == ["1.2", "1.9", "1.10"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cols", "state", "percent", "manual"),
    [
        ({2: 3, 9: 550, 10: 385, 13: b"Paper Tray 1"}, "ok", 70.0, False),
        ({9: 550, 10: 55, 13: b"Tray 1"}, "low", 10.0, False),
        ({2: 4, 9: 100, 10: 0, 13: b"Tray 2"}, "empty", 0.0, False),
        ({9: 100, 10: 0, 13: b"MP Tray"}, "empty", 0.0, True),
        ({2: 5, 9: 1, 10: 0, 13: b"Slot"}, "empty", 0.0, True),
        ({9: 250, 10: -3, 13: b"AUTO"}, "some_remaining", None, False),
        ({9: 250, 10: -2}, "unknown", None, False),
        ({9: -2, 10: 40, 18: b"Lower cassette"}, "some_remaining", None, False),
    ],
)
def test_trays(cols: dict[int, object], state: str, percent: float | None, manual: bool) -> None:
    rows = {f"{INP}.{c}.1.1": v for c, v in cols.items()}
    [t] = parse_trays(rows)  # type: ignore[arg-type]
    assert (t.state, t.percent, t.manual) == (state, percent, manual)
    assert t.description


def test_uptime_is_unsigned() -> None:
    assert parsing.uptime_seconds({mib.SYS_UPTIME: 3721980054}) == pytest.approx(37219800.54)
    assert parsing.uptime_seconds({mib.SYS_UPTIME: -572987242}) == pytest.approx(37219800.54)


def test_evaluate_cross_checks_beyond_error_bits() -> None:
    status, why = parsing.evaluate(faults=frozenset(), device_status="down", alerts=(),
                                   supplies=(), trays=())
    assert status == "critical" and "device status down" in why
    status, _ = parsing.evaluate(faults=frozenset({"low_toner"}), device_status="warning",
                                 alerts=(), supplies=(), trays=())
    assert status == "warning"
    status, _ = parsing.evaluate(faults=frozenset({"jammed"}), device_status="running",
                                 alerts=(), supplies=(), trays=())
    assert status == "critical"
    status, _ = parsing.evaluate(faults=None, device_status="running", alerts=(), supplies=(),
                                 trays=())
    assert status == "ok"


@pytest.mark.parametrize(("fault", "device_status", "status"), [
    # RFC 3805 §2.2.13.2: serviceRequested and offline weigh what hrDeviceStatus says
    ("service_requested", "warning", "warning"),   # Konica bizhub C250i: 0100 with warning
    ("service_requested", "running", "warning"),
    ("service_requested", "down", "critical"),
    ("service_requested", None, "critical"),       # no status: the table's default
    ("offline", "warning", "warning"),             # "moving offline"
    ("offline", "down", "critical"),
    ("jammed", "warning", "critical"),             # always stops printing
    ("no_paper", "running", "critical"),
    ("low_toner", "down", "warning"),              # the bit itself; "down" counts on its own
])
def test_status_weighed_error_bits(fault: str, device_status: str | None, status: str) -> None:
    assert parsing.fault_severity(fault, device_status) == status
    overall, _ = parsing.evaluate(faults=frozenset({fault}), device_status=device_status,
                                  alerts=(), supplies=(), trays=())
    expected = "critical" if device_status == "down" else status
    assert overall == expected


def test_wrong_typed_error_state_is_not_reported() -> None:
    err = mib.HR_PRINTER_ERROR_STATE
    # an OBJECT IDENTIFIER where the OCTET STRING belongs: no invented faults
    assert parsing.printer_faults({f"{err}.1": "1.3.6.1.4.1.11.2"}) == (None, None)
    # one printer wrong-typed, the other real: only the real one counts
    assert parsing.printer_faults({f"{err}.1": "1.3.6.1", f"{err}.2": b"\x04"}) == (
        frozenset({"jammed"}), "04")


@pytest.mark.parametrize(
    ("statuses", "device_status"),
    [
        ({1: 2, 2: 5}, "down"),  # a second engine down is not ignored
        ({1: 5, 2: 2}, "down"),
        ({1: 2, 2: 3}, "warning"),
        ({1: 4, 2: 2}, "testing"),
        ({1: 3, 2: 4}, "warning"),
        ({1: 1, 2: 2}, "running"),  # a known state beats unknown
        ({1: 2}, "running"),
    ],
)
def test_device_status_is_the_worst_printer(statuses: dict[int, int], device_status: str) -> None:
    rows: dict[str, object] = {}
    for idx, code in statuses.items():
        rows[f"{mib.HR_DEVICE_STATUS}.{idx}"] = code
        rows[f"{mib.HR_PRINTER_STATUS}.{idx}"] = 3
    rows[f"{mib.HR_DEVICE_STATUS}.9"] = 5  # a disk, not in hrPrinterTable: not the printer
    got = parsing.worst_status(rows, mib.HR_DEVICE_STATUS, mib.HR_DEVICE_STATUS_NAMES,  # type: ignore[arg-type]
                               mib.HR_DEVICE_STATUS_RANK)
    assert got == device_status


@pytest.mark.parametrize(
    ("statuses", "printer_status"),
    [
        ({1: 3, 2: 1}, "other"),  # "other" (offline, in error) matters most
        ({1: 4, 2: 3}, "printing"),
        ({1: 3, 2: 5}, "warmup"),
        ({1: 2, 2: 3}, "idle"),
        ({1: 3, 2: 3}, "idle"),
    ],
)
def test_printer_status_picks_the_most_telling(statuses: dict[int, int],
                                               printer_status: str) -> None:
    rows = {f"{mib.HR_PRINTER_STATUS}.{i}": c for i, c in statuses.items()}
    got = parsing.worst_status(rows, mib.HR_PRINTER_STATUS, mib.HR_PRINTER_STATUS_NAMES,  # type: ignore[arg-type]
                               mib.HR_PRINTER_STATUS_RANK)
    assert got == printer_status


def test_second_engine_down_makes_the_printer_critical() -> None:
    rows = {
        f"{mib.HR_DEVICE_STATUS}.1": 2, f"{mib.HR_DEVICE_STATUS}.2": 5,
        f"{mib.HR_PRINTER_STATUS}.1": 3, f"{mib.HR_PRINTER_STATUS}.2": 1,
        f"{mib.HR_PRINTER_ERROR_STATE}.1": b"\x00", f"{mib.HR_PRINTER_ERROR_STATE}.2": b"\x00",
        f"{mib.PRT_SERIAL}.1": b"X1",
    }
    reading = PrinterProbe(None).parse(rows, device="d", host="h")  # type: ignore[arg-type]
    assert (reading.device_status, reading.printer_status, reading.status) == (
        "down", "other", "critical")


ALE = mib.PRT_ALERT_ENTRY


@pytest.mark.parametrize(
    ("cols", "severity", "group", "code"),
    [
        ({2: 3, 4: 13, 7: 8}, "critical", "media_path", "jam"),
        ({7: 8}, "critical", "unknown", "jam"),  # severity implied by the code
        ({4: 6, 7: 3}, "critical", "cover", "cover_open"),
        ({7: 501}, "critical", "unknown", "door_open"),
        ({7: 1101}, "critical", "unknown", "marker_toner_empty"),
        ({7: 1104}, "warning", "unknown", "marker_toner_almost_empty"),
        ({7: 1107}, "warning", "unknown", "marker_waste_toner_receptacle_almost_full"),
        ({7: 12}, "warning", "unknown", "subunit_almost_empty"),
        ({7: 503}, "unknown", "unknown", "power_up"),  # no severity implied
        ({8: b"Something"}, "unknown", "unknown", "unknown"),
        ({2: 4, 7: 8}, "warning", "unknown", "jam"),  # the device's own severity wins
        ({2: 9, 4: 99, 7: 4242}, "severity_9", "group_99", "code_4242"),  # present, unnamed
    ],
)
def test_alerts_with_missing_columns(cols: dict[int, object], severity: str, group: str,
                                     code: str) -> None:
    rows = {f"{ALE}.{c}.1.1": v for c, v in cols.items()}
    [alert] = parsing.parse_alerts(rows)  # type: ignore[arg-type]
    assert (alert.severity, alert.group, alert.code) == (severity, group, code)
    assert "None" not in f"{alert.severity}{alert.group}{alert.code}"


def test_alert_without_severity_counts() -> None:
    alerts = parsing.parse_alerts({f"{ALE}.7.1.1": 8})
    status, why = parsing.evaluate(faults=frozenset(), device_status="running", alerts=alerts,
                                   supplies=(), trays=())
    assert status == "critical" and why == ("alert jam",)


@pytest.mark.parametrize(
    ("description", "type_name"),
    [
        ("Drum Cartridge (Cyan)", "opc"),  # Konica bizhub
        ("Developer Cartridge (Cyan)", "developer"),  # Konica bizhub
        ("Drum Cartridge (R1), PN 013R00662;SN5238EF80E000048E", "opc"),  # Xerox WorkCentre
        ("Imaging Unit Photoconductor Cartridge", "opc"),
        ("Fuser Cartridge", "fuser"),
        ("Transfer Cartridge", "transfer_unit"),
        ("Waste Toner Cartridge", "waste_toner"),
        ("Toner Cartridge (Black)", "toner"),
        ("Black Cartridge", "toner_cartridge"),
        ("Ink Cartridge", "ink"),
    ],
)
def test_type_from_description(description: str, type_name: str) -> None:
    [s] = parse_supplies(supply_rows("1.1", descr=description.encode(), max=100, level=50))  # type: ignore[arg-type]
    assert s.type == type_name


def test_waste_problem_says_space_left() -> None:
    supplies = parse_supplies({**supply_rows("1.1", cls=4, type=4, descr=b"Waste Box", max=100,  # type: ignore[arg-type]
                                             level=4),
                               **supply_rows("1.2", cls=4, type=4, descr=b"Waste Two",
                                             max=100, level=0)})
    status, why = parsing.evaluate(faults=frozenset(), device_status="running", alerts=(),
                                   supplies=supplies, trays=())
    assert status == "critical"
    assert why == ("Waste Two full (0% space left)", "Waste Box near full (4% space left)")


@pytest.mark.parametrize(
    ("value", "text"),
    [("1.3.6.1.4.1.11.2.3.9.1", "1.3.6.1.4.1.11.2.3.9.1"),
     (b"1.3.6.1.4.1.367.1.1", "1.3.6.1.4.1.367.1.1"),  # sent as an OCTET STRING
     (b"HP\x00", "HP"), (None, None)],
)
def test_sys_object_id_is_text(value: object, text: str | None) -> None:
    rows = {} if value is None else {mib.SYS_OBJECT_ID: value}
    assert parsing.parse_identity(rows).sys_object_id == text  # type: ignore[arg-type]
