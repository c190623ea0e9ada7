"""probes.printer_mib's enumerations against the MIB modules themselves.

Each table that names a MIB enumeration must map exactly the module's numbers to the module's
labels in snake_case (``mib_text.snake``: a word per capital, a run of capitals is one acronym
word, digits stay with the word before them): no missing number, no extra one, no other name.
The reference is the module text kept in tests/fixtures/mibs/ (see its README.md), read by
``mib_text``, never a second hand-typed list. A name the project keeps on purpose is listed in
``DELIBERATE`` with the reason; the test also fails when such an exception no longer differs.

hrPrinterDetectedErrorState is a bit string, not an enumeration: its bit names are the project's
own (shared/DESIGN.md, not to be renamed); the test checks their number and order against the
table in the RFC 2790 DESCRIPTION.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest

from collector.faults import catalogue as faults
from probes import printer_mib as mib
from tests.probes import mib_text

IANA = "IANA-PRINTER-MIB.txt"
PRINTER = "Printer-MIB.txt"
HOST = "HOST-RESOURCES-MIB.txt"

# table in probes.printer_mib → (module file, TC or object name)
TABLES: dict[str, tuple[str, str]] = {
    "HR_DEVICE_STATUS_NAMES": (HOST, "hrDeviceStatus"),
    "HR_PRINTER_STATUS_NAMES": (HOST, "hrPrinterStatus"),
    "SUPPLY_CLASS_NAMES": (PRINTER, "PrtMarkerSuppliesClassTC"),
    "SUPPLY_TYPE_NAMES": (IANA, "PrtMarkerSuppliesTypeTC"),
    "SUPPLY_UNIT_NAMES": (PRINTER, "PrtMarkerSuppliesSupplyUnitTC"),
    "INPUT_TYPE_NAMES": (IANA, "PrtInputTypeTC"),
    "ALERT_SEVERITY_NAMES": (PRINTER, "PrtAlertSeverityLevelTC"),
    "ALERT_GROUP_NAMES": (IANA, "PrtAlertGroupTC"),
    "ALERT_CODE_NAMES": (IANA, "PrtAlertCodeTC"),
}

# (table, number) → the project's name, and why it is not the RFC's.
DELIBERATE: dict[tuple[str, int], tuple[str, str]] = {
    ("SUPPLY_CLASS_NAMES", 3): (
        "consumed", "supplyThatIsConsumed: the JSON supply_class, the InfluxDB `class` tag and "
        "the code that branches on it say consumed/filled"),
    ("SUPPLY_CLASS_NAMES", 4): ("filled", "receptacleThatIsFilled: as above"),
}


def _rfc(table: str) -> dict[int, str]:
    filename, name = TABLES[table]
    return {n: mib_text.snake(label) for n, label in mib_text.module(filename)[name].items()}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_table_matches_the_mib(table: str) -> None:
    ours: Mapping[int, str] = getattr(mib, table)
    expected = _rfc(table)
    for (name, number), (deliberate, _why) in DELIBERATE.items():
        if name == table:
            assert expected[number] != deliberate, f"{table}[{number}]: exception not needed"
            expected[number] = deliberate
    missing = {n: expected[n] for n in expected.keys() - ours.keys()}
    extra = {n: ours[n] for n in ours.keys() - expected.keys()}
    misnamed = {n: (ours[n], expected[n]) for n in ours.keys() & expected.keys()
                if ours[n] != expected[n]}
    assert (missing, extra, misnamed) == ({}, {}, {})


def test_every_named_module_definition_exists() -> None:
    for filename, name in TABLES.values():
        assert mib_text.module(filename)[name], (filename, name)


def test_error_bits_follow_rfc_2790() -> None:
    text = (mib_text.MIB_DIR / HOST).read_text(encoding="ascii")
    block = text.split("hrPrinterDetectedErrorState OBJECT-TYPE", 1)[1].split("::=", 1)[0]
    bits = {int(n): label for label, n in re.findall(r"^\s+([a-z][A-Za-z]+)\s+(\d+)$", block,
                                                     re.MULTILINE)}
    assert sorted(bits) == list(range(len(mib.ERROR_BITS)))
    # The project's names (shared/DESIGN.md) happen to be the RFC's words in snake_case.
    assert [mib_text.snake(bits[i]) for i in sorted(bits)] == list(mib.ERROR_BITS)


def test_names_the_rest_of_the_code_uses_exist() -> None:
    """Every alert / supply name another table refers to is a name of its enumeration."""
    codes = set(mib.ALERT_CODE_NAMES.values())
    assert set(mib.ALERT_CODE_SEVERITY) <= codes
    types = set(mib.SUPPLY_TYPE_NAMES.values())
    assert mib.FILLED_TYPES <= types and mib.MARKING_TYPES <= types
    assert {inferred for _kw, inferred in mib.TYPE_KEYWORDS} <= types
    assert {mib.SUPPLY_TYPE_NAMES[21], mib.INPUT_TYPE_NAMES[5]} == {"toner_cartridge",
                                                                    "sheet_feed_manual"}
    assert mib.MANUAL_INPUT_TYPES == {5}
    assert set(faults.ALERT_CODE_FAULTS) <= codes
    assert faults.INFORMATIONAL_ALERT_CODES <= codes
    assert {code for _group, code in faults.ALERT_GROUP_CODE_FAULTS} <= codes
    assert {group for group, _code in faults.ALERT_GROUP_CODE_FAULTS} <= set(
        mib.ALERT_GROUP_NAMES.values())


@pytest.mark.parametrize(("label", "snake"), [
    ("tonerCartridge", "toner_cartridge"), ("wasteToner", "waste_toner"), ("opc", "opc"),
    ("printerNMSReset", "printer_nms_reset"),
    ("hostResourcesMIBStorageTable", "host_resources_mib_storage_table"),
    ("chIEEE1284Port", "ch_ieee1284_port"), ("markerOpcLifeOver", "marker_opc_life_over"),
    ("warningBinaryChangeEvent", "warning_binary_change_event"),
])
def test_snake_case(label: str, snake: str) -> None:
    assert mib_text.snake(label) == snake


def test_parser_ignores_comments_and_descriptions() -> None:
    text = '''
    FooTC ::= TEXTUAL-CONVENTION
        STATUS current
        DESCRIPTION "mentions bar(9) and SYNTAX INTEGER { baz(7) }"
        SYNTAX INTEGER {
            one(1), -- two(2) is gone
            three(3), -- a comment -- four(4)
            }
    bar OBJECT-TYPE
        SYNTAX INTEGER { on(1), off(2) }
        ::= { x 1 }
    '''
    assert mib_text.enumerations(text) == {"FooTC": {1: "one", 3: "three", 4: "four"},
                                           "bar": {1: "on", 2: "off"}}
