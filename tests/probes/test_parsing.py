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
    [(b"\x20", b"\x20"), (0x20, b"\x20"), (0x0142, b"\x01\x42"), (None, None)],
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
        (dict(cls=4, type=4, max=100, level=5), 5.0, "ok", "filled"),
        (dict(cls=4, type=4, max=100, level=0), 0.0, "ok", "filled"),  # a fresh waste box
        (dict(cls=4, type=4, max=100, level=92), 92.0, "near_full", "filled"),
        (dict(cls=4, type=4, max=100, level=100), 100.0, "full", "filled"),
        (dict(cls=4, type=4, max=-2, level=-3), None, "some_remaining", "filled"),
        (dict(cls=4, type=4, max=-2, level=100), None, "unknown", "filled"),
        # class missing: a waste type still fills up
        (dict(type=4, max=6700, level=6700), 100.0, "full", "filled"),
        # type and class missing: the description says waste
        (dict(descr=b"Waste Toner Container", max=100, level=95), 95.0, "near_full", "filled"),
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
