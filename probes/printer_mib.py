"""Printer-MIB (RFC 3805) and HOST-RESOURCES-MIB (RFC 2790) knowledge, as data.

Numeric OIDs only (MIB lookups are off: FIELD-NOTES measured ~37 % throughput cost). Enumerations
map the standard integer to the short names Fleetwatch uses in JSON, InfluxDB tags and tickets.
Code branches on these meanings (a class-4 supply fills up), never on a vendor name.
"""

from __future__ import annotations

from typing import Final

# --- scalars (GET) -----------------------------------------------------------------------------
SYS_DESCR: Final = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID: Final = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME: Final = "1.3.6.1.2.1.1.3.0"
SYS_NAME: Final = "1.3.6.1.2.1.1.5.0"
SYS_LOCATION: Final = "1.3.6.1.2.1.1.6.0"
SYSTEM_SCALARS: Final = (SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME, SYS_LOCATION)

# --- table columns (walked) --------------------------------------------------------------------
HR_DEVICE_TYPE: Final = "1.3.6.1.2.1.25.3.2.1.2"
HR_DEVICE_DESCR: Final = "1.3.6.1.2.1.25.3.2.1.3"
HR_DEVICE_STATUS: Final = "1.3.6.1.2.1.25.3.2.1.5"
HR_PRINTER_STATUS: Final = "1.3.6.1.2.1.25.3.5.1.1"
HR_PRINTER_ERROR_STATE: Final = "1.3.6.1.2.1.25.3.5.1.2"
PRT_SERIAL: Final = "1.3.6.1.2.1.43.5.1.1.17"
PRT_INPUT_ENTRY: Final = "1.3.6.1.2.1.43.8.2.1"
PRT_MARKER_LIFE_COUNT: Final = "1.3.6.1.2.1.43.10.2.1.4"
PRT_SUPPLIES_ENTRY: Final = "1.3.6.1.2.1.43.11.1.1"
PRT_COLORANT_VALUE: Final = "1.3.6.1.2.1.43.12.1.1.4"
PRT_ALERT_ENTRY: Final = "1.3.6.1.2.1.43.18.1.1"

# prtMarkerSuppliesEntry column numbers
SUP_COLORANT_INDEX, SUP_CLASS, SUP_TYPE, SUP_DESCR, SUP_UNIT, SUP_MAX, SUP_LEVEL = 3, 4, 5, 6, 7, 8, 9
SUPPLY_COLUMNS: Final = (
    SUP_COLORANT_INDEX, SUP_CLASS, SUP_TYPE, SUP_DESCR, SUP_UNIT, SUP_MAX, SUP_LEVEL,
)
# prtInputEntry column numbers
IN_TYPE, IN_MAX, IN_LEVEL, IN_MEDIA, IN_NAME, IN_DESCR = 2, 9, 10, 12, 13, 18
INPUT_COLUMNS: Final = (IN_TYPE, IN_MAX, IN_LEVEL, IN_MEDIA, IN_NAME, IN_DESCR)
# prtAlertEntry column numbers
AL_SEVERITY, AL_TRAINING, AL_GROUP, AL_GROUP_INDEX, AL_LOCATION, AL_CODE, AL_DESCR = 2, 3, 4, 5, 6, 7, 8
ALERT_COLUMNS: Final = (AL_SEVERITY, AL_GROUP, AL_GROUP_INDEX, AL_LOCATION, AL_CODE, AL_DESCR)

# --- identity beyond RFC 3805: MAC and firmware (read on full polls only) ----------------------
# IF-MIB (RFC 2863) ifType / ifPhysAddress columns, and RFC 1213/4293 ipAdEntIfIndex: the index
# of the interface that carries an address (GET ``IP_AD_ENT_IF_INDEX.<a.b.c.d>``).
IF_TYPE: Final = "1.3.6.1.2.1.2.2.1.3"
IF_PHYS_ADDRESS: Final = "1.3.6.1.2.1.2.2.1.6"
IP_AD_ENT_IF_INDEX: Final = "1.3.6.1.2.1.4.20.1.2"
# IANAifType values of interfaces whose ifPhysAddress is a MAC-48 station address: ethernetCsmacd
# (6) and the codes RFC 3635 deprecated in its favour but old agents still send, iso88023Csmacd
# (7: seen on the Brother NC-8300h and FUJIFILM Apeos C7580 recordings), fastEther (62),
# fastEtherFX (69), gigabitEthernet (117); and ieee80211 (71, Wi-Fi).
ETHERNET_LIKE_IF_TYPES: Final = frozenset({6, 7, 62, 69, 71, 117})
# ENTITY-MIB (RFC 6933) entPhysicalFirmwareRev and entPhysicalSoftwareRev columns. RFC 3805
# (Printer MIB v2) defines no firmware object, nor does any PWG SNMP MIB (the PWG firmware
# attributes, printer-firmware-name/-string-version, are IPP's); HOST-RESOURCES
# hrSWInstalledTable has no "this is the firmware" marker and lists hundreds of rows on hosts.
ENT_PHYSICAL_FIRMWARE_REV: Final = "1.3.6.1.2.1.47.1.1.1.1.9"
ENT_PHYSICAL_SOFTWARE_REV: Final = "1.3.6.1.2.1.47.1.1.1.1.10"
# Walked with the rest on a full poll: an agent without these tables answers each column's first
# GETBULK with the next subtree's OIDs, which ends the column (no extra request, no timeout).
IDENTITY_COLUMNS: Final = (IF_TYPE, IF_PHYS_ADDRESS, ENT_PHYSICAL_FIRMWARE_REV,
                           ENT_PHYSICAL_SOFTWARE_REV)

# Firmware written into sysDescr (or the printer's hrDeviceDescr) by agents without ENTITY-MIB:
# labels that name the whole device's software, tried in this order, each followed by the
# version token (probes.parsing.firmware_from_text has the rules). ``field_start``: the label
# counts only at the start of a comma/semicolon-separated field (short labels that could be
# words of a model name); ``letters_ok``: a version without digits counts (else a token must
# hold a digit). Labels of parts ("Engine", "NIC", "ME", "PCL", "kernel") are not here.
FIRMWARE_LABELS: Final[tuple[tuple[str, bool, bool, str], ...]] = (
    # (label regex, field_start, letters_ok, where it was seen)
    (r"firmware(?:\s*ver(?:sion)?\.?)?|f/w(?:\s*ver\.?)?", False, True,
     "Brother NC-8300h 'Firmware Ver.1.14'; Ricoh SP 230SFNw 'Firmware Ver.D'"),
    (r"sys(?:tem)?\s*sw\s*version|system\s*software|system", True, False,
     "Xerox WorkCentre 'System Software 061.121.225.14700', 'Sys SW Version ...'"),
    (r"ss", True, False, "Xerox AltaLink C8045 'SS 100.002.057.09608' (System Software)"),
    (r"os", True, False, "Xerox Phaser 3300MFP 'OS 1.50.00.14' (the controller's software)"),
    (r"version", False, False,
     "Dell S5830dn 'version NH62.YS.N636 kernel ...' (Lexmark-built: same form)"),
)

# Everything a full printer poll walks, in one multi-column GETBULK walk.
POLL_COLUMNS: Final = (
    HR_DEVICE_TYPE,
    HR_DEVICE_DESCR,
    HR_DEVICE_STATUS,
    HR_PRINTER_STATUS,
    HR_PRINTER_ERROR_STATE,
    PRT_SERIAL,
    PRT_MARKER_LIFE_COUNT,
    PRT_COLORANT_VALUE,
    *(f"{PRT_SUPPLIES_ENTRY}.{c}" for c in SUPPLY_COLUMNS),
    *(f"{PRT_INPUT_ENTRY}.{c}" for c in INPUT_COLUMNS),
    *(f"{PRT_ALERT_ENTRY}.{c}" for c in ALERT_COLUMNS),
    *IDENTITY_COLUMNS,
)
# The columns that change between polls; the rest (names, capacities, serial) are "static" and
# the collector refreshes them rarely (see collector.scheduler). The rows of the first group are
# those of the static ones (one level per known supply, ...): a light poll GETs them by name. The
# alert table's rows come and go: it is walked.
DYNAMIC_ROW_COLUMNS: Final = (
    HR_DEVICE_STATUS,
    HR_PRINTER_STATUS,
    HR_PRINTER_ERROR_STATE,
    PRT_MARKER_LIFE_COUNT,
    f"{PRT_SUPPLIES_ENTRY}.{SUP_LEVEL}",
    f"{PRT_INPUT_ENTRY}.{IN_LEVEL}",
)
ALERT_COLUMN_OIDS: Final = tuple(f"{PRT_ALERT_ENTRY}.{c}" for c in ALERT_COLUMNS)
# The walked columns whose SYNTAX is an INTEGER, Counter32 or enumeration (RFC 2790, RFC 3805)
# and whose values decide a status: one of another type is a garbled answer, never a value.
INTEGER_COLUMNS: Final = (
    HR_DEVICE_STATUS,
    HR_PRINTER_STATUS,
    PRT_MARKER_LIFE_COUNT,
    *(f"{PRT_SUPPLIES_ENTRY}.{c}" for c in (SUP_CLASS, SUP_TYPE, SUP_UNIT, SUP_MAX, SUP_LEVEL)),
    *(f"{PRT_INPUT_ENTRY}.{c}" for c in (IN_TYPE, IN_MAX, IN_LEVEL)),
    *(f"{PRT_ALERT_ENTRY}.{c}" for c in (AL_SEVERITY, AL_GROUP, AL_CODE)),
)
DYNAMIC_COLUMNS: Final = (*DYNAMIC_ROW_COLUMNS, *ALERT_COLUMN_OIDS)

# --- enumerations ------------------------------------------------------------------------------
# hrPrinterDetectedErrorState bits, numbered from the MSB of the first octet (RFC 2790 + RFC 3805).
ERROR_BITS: Final[tuple[str, ...]] = (
    "low_paper", "no_paper", "low_toner", "no_toner", "door_open", "jammed", "offline",
    "service_requested", "input_tray_missing", "output_tray_missing", "marker_supply_missing",
    "output_near_full", "output_full", "input_tray_empty", "overdue_prevent_maint",
)

# hrDeviceType values (RFC 2790 hrDeviceTypes). An agent whose device table lists a printer and
# no processor is a printer even without Printer-MIB data (seen: Canon imagePROGRAF iPF670,
# hrDeviceTable only); a computer always lists its processors (a Windows host also lists its
# print queues as printers, so a printer row alone is not enough).
HR_DEVICE_TYPE_PRINTER: Final = "1.3.6.1.2.1.25.3.1.5"
HR_DEVICE_TYPE_PROCESSOR: Final = "1.3.6.1.2.1.25.3.1.3"

HR_DEVICE_STATUS_NAMES: Final = {1: "unknown", 2: "running", 3: "warning", 4: "testing", 5: "down"}
HR_PRINTER_STATUS_NAMES: Final = {1: "other", 2: "unknown", 3: "idle", 4: "printing", 5: "warmup"}
# A device with several printers (hrPrinterTable rows) reports the status of the one that ranks
# highest here. hrDeviceStatus: the worst (down > warning > testing > running); unknown ranks
# lowest because it says nothing. hrPrinterStatus: the most telling; "other" comes first because
# RFC 2790 pairs it with error conditions (offline, down), then warmup, printing, idle, unknown.
# A code without a name ranks below all of them.
HR_DEVICE_STATUS_RANK: Final = {"down": 5, "warning": 4, "testing": 3, "running": 2, "unknown": 1}
HR_PRINTER_STATUS_RANK: Final = {"other": 5, "warmup": 4, "printing": 3, "idle": 2, "unknown": 1}

# Enumerations below carry the RFC / IANA labels in snake_case (tests/probes/test_printer_mib_rfc.py
# checks every table against the module texts in tests/fixtures/mibs/), except where noted.

# PrtMarkerSuppliesClassTC (Printer-MIB). Deliberately short: RFC supplyThatIsConsumed(3) and
# receptacleThatIsFilled(4) are "consumed" and "filled" in JSON, the InfluxDB `class` tag and the
# code that branches on them.
SUPPLY_CLASS_NAMES: Final = {1: "other", 3: "consumed", 4: "filled"}
# PrtMarkerSuppliesTypeTC (IANA-PRINTER-MIB)
SUPPLY_TYPE_NAMES: Final = {
    1: "other", 2: "unknown", 3: "toner", 4: "waste_toner", 5: "ink", 6: "ink_cartridge",
    7: "ink_ribbon", 8: "waste_ink", 9: "opc", 10: "developer", 11: "fuser_oil", 12: "solid_wax",
    13: "ribbon_wax", 14: "waste_wax", 15: "fuser", 16: "corona_wire", 17: "fuser_oil_wick",
    18: "cleaner_unit", 19: "fuser_cleaning_pad", 20: "transfer_unit", 21: "toner_cartridge",
    22: "fuser_oiler", 23: "water", 24: "waste_water", 25: "glue_water_additive",
    26: "waste_paper", 27: "binding_supply", 28: "banding_supply", 29: "stitching_wire",
    30: "shrink_wrap", 31: "paper_wrap", 32: "staples", 33: "inserts", 34: "covers",
    35: "matte_toner", 36: "matte_ink",
}
# Types that are receptacles: they fill up. Used when prtMarkerSuppliesClass is missing.
FILLED_TYPES: Final = frozenset({"waste_toner", "waste_ink", "waste_wax", "waste_water",
                                 "waste_paper"})
# Types whose running out stops printing (reorder-relevant marking supplies).
MARKING_TYPES: Final = frozenset({"toner", "toner_cartridge", "ink", "ink_cartridge",
                                  "ink_ribbon", "solid_wax", "ribbon_wax", "matte_toner",
                                  "matte_ink"})

# Some agents omit prtMarkerSuppliesType (seen: Xerox WorkCentre, HP JetDirect, Konica bizhub
# recordings all lack the column). Then the description is the only evidence of meaning. First
# match wins; keywords are matched case-insensitively as substrings, so order matters: waste
# before "toner"/"ink"; the units that are not marking supplies (drum, developer, fuser, transfer)
# before "toner"; the generic "cartridge" last, so that "Drum Cartridge (Cyan)", "Developer
# Cartridge (Cyan)" (Konica bizhub) and "Drum Cartridge (R1)" (Xerox WorkCentre) are not taken
# for toner cartridges (a marking type that would raise reorders).
TYPE_KEYWORDS: Final[tuple[tuple[str, str], ...]] = (
    ("waste toner", "waste_toner"), ("waste ink", "waste_ink"), ("waste", "waste_toner"),
    ("drum", "opc"), ("photoconductor", "opc"), ("opc", "opc"), ("developer", "developer"),
    ("fuser", "fuser"), ("fusing", "fuser"), ("transfer", "transfer_unit"),
    ("belt", "transfer_unit"), ("toner", "toner"), ("ink", "ink"), ("staple", "staples"),
    ("cleaner", "cleaner_unit"), ("cartridge", "toner_cartridge"),
)

# PrtMarkerSuppliesSupplyUnitTC (Printer-MIB; 14 is spelt "hundreths" there, and so here)
SUPPLY_UNIT_NAMES: Final = {
    1: "other", 2: "unknown", 3: "ten_thousandths_of_inches", 4: "micrometers", 7: "impressions",
    8: "sheets", 11: "hours", 12: "thousandths_of_ounces", 13: "tenths_of_grams",
    14: "hundreths_of_fluid_ounces", 15: "tenths_of_milliliters", 16: "feet", 17: "meters",
    18: "items", 19: "percent",
}

# Level / capacity sentinels (RFC 3805 prtMarkerSuppliesLevel, prtInputCurrentLevel).
SENTINEL_STATES: Final = {-1: "other", -2: "unknown", -3: "some_remaining"}

# PrtInputTypeTC (IANA-PRINTER-MIB); 5 = sheetFeedManual: an empty manual/bypass feed is normal,
# not a fault.
INPUT_TYPE_NAMES: Final = {
    1: "other", 2: "unknown", 3: "sheet_feed_auto_removable_tray",
    4: "sheet_feed_auto_non_removable_tray", 5: "sheet_feed_manual", 6: "continuous_roll",
    7: "continuous_fan_fold", 8: "sheet_feed_pull",
}
MANUAL_INPUT_TYPES: Final = frozenset({5})
# When prtInputType is missing (most recordings lack it), a tray whose name says it is a manual
# feed is treated as one (seen: "Bypass Tray" Sharp, "MP Tray" Samsung/Dell, "Multi-Purpose Tray"
# Canon, "MANUAL TRAY" Brother).
MANUAL_TRAY_KEYWORDS: Final = ("bypass", "manual", "mp tray", "mptray", "multi-purpose",
                               "multipurpose", "envelope")

# PrtAlertSeverityLevelTC (Printer-MIB)
ALERT_SEVERITY_NAMES: Final = {1: "other", 3: "critical", 4: "warning",
                               5: "warning_binary_change_event"}
# PrtAlertGroupTC (IANA-PRINTER-MIB, with the PWG 5107.3 MFD groups 50-70)
ALERT_GROUP_NAMES: Final = {
    1: "other", 2: "unknown", 3: "host_resources_mib_storage_table",
    4: "host_resources_mib_device_table", 5: "general_printer", 6: "cover", 7: "localization",
    8: "input", 9: "output", 10: "marker", 11: "marker_supplies", 12: "marker_colorant",
    13: "media_path", 14: "channel", 15: "interpreter", 16: "console_display_buffer",
    17: "console_lights", 18: "alert", 30: "fin_device", 31: "fin_supply",
    32: "fin_supply_media_input", 33: "fin_attribute", 50: "scan_device", 51: "scanner",
    52: "scan_media_path", 60: "fax_device", 61: "fax_modem", 70: "output_channel",
}
# PrtAlertCodeTC (IANA-PRINTER-MIB), all of it; a number without a name prints as "code_<n>".
_GENERIC_ALERT_CODES: Final = {
    3: "cover_open", 4: "cover_closed", 5: "interlock_open", 6: "interlock_closed",
    7: "configuration_change", 8: "jam", 9: "subunit_missing", 10: "subunit_life_almost_over",
    11: "subunit_life_over", 12: "subunit_almost_empty", 13: "subunit_empty",
    14: "subunit_almost_full", 15: "subunit_full", 16: "subunit_near_limit",
    17: "subunit_at_limit", 18: "subunit_opened", 19: "subunit_closed", 20: "subunit_turned_on",
    21: "subunit_turned_off", 22: "subunit_offline", 23: "subunit_power_saver",
    24: "subunit_warming_up", 25: "subunit_added", 26: "subunit_removed",
    27: "subunit_resource_added", 28: "subunit_resource_removed",
    29: "subunit_recoverable_failure", 30: "subunit_unrecoverable_failure",
    31: "subunit_recoverable_storage_error", 32: "subunit_unrecoverable_storage_error",
    33: "subunit_motor_failure", 34: "subunit_memory_exhausted",
    35: "subunit_under_temperature", 36: "subunit_over_temperature",
    37: "subunit_timing_failure", 38: "subunit_thermistor_failure",
}
# The finisher codes (IANA, 2010) repeat the generic ones per finishing device:
# 30000 + 100 * FinDeviceTypeTC + generic code, "stapler_jam" = 30208 (the "subunit" is dropped).
_FINISHER_DEVICES: Final = {
    2: "stapler", 3: "stitcher", 4: "folder", 5: "binder", 6: "trimmer", 7: "die_cutter",
    8: "puncher", 9: "perforater", 10: "slitter", 11: "separation_cutter", 12: "imprinter",
    13: "wrapper", 14: "bander", 15: "make_envelope", 16: "stacker", 17: "sheet_rotator",
    18: "inserter",
}
ALERT_CODE_NAMES: Final[dict[int, str]] = {
    1: "other", 2: "unknown", **_GENERIC_ALERT_CODES,
    # General Printer group
    501: "door_open", 502: "door_closed", 503: "power_up", 504: "power_down",
    505: "printer_nms_reset", 506: "printer_manual_reset", 507: "printer_ready_to_print",
    # Input group
    801: "input_media_tray_missing", 802: "input_media_size_change",
    803: "input_media_weight_change", 804: "input_media_type_change",
    805: "input_media_color_change", 806: "input_media_form_parts_change",
    807: "input_media_supply_low", 808: "input_media_supply_empty",
    809: "input_media_change_request", 810: "input_manual_input_request",
    811: "input_tray_position_failure", 812: "input_tray_elevation_failure",
    813: "input_cannot_feed_size_selected", 814: "input_media_tray_feed_error",
    815: "input_media_tray_jam", 816: "input_media_tray_failure",
    817: "input_media_tray_pick_roller_life_warn", 818: "input_media_tray_pick_roller_life_over",
    819: "input_media_tray_pick_roller_failure", 820: "input_media_tray_pick_roller_missing",
    # Output group
    901: "output_media_tray_missing", 902: "output_media_tray_almost_full",
    903: "output_media_tray_full", 904: "output_mailbox_select_failure",
    905: "output_media_tray_feed_error", 906: "output_media_tray_jam",
    907: "output_media_tray_failure",
    # Marker group
    1001: "marker_fuser_under_temperature", 1002: "marker_fuser_over_temperature",
    1003: "marker_fuser_timing_failure", 1004: "marker_fuser_thermistor_failure",
    1005: "marker_adjusting_print_quality",
    # Marker Supplies group
    1101: "marker_toner_empty", 1102: "marker_ink_empty", 1103: "marker_print_ribbon_empty",
    1104: "marker_toner_almost_empty", 1105: "marker_ink_almost_empty",
    1106: "marker_print_ribbon_almost_empty",
    1107: "marker_waste_toner_receptacle_almost_full",
    1108: "marker_waste_ink_receptacle_almost_full",
    1109: "marker_waste_toner_receptacle_full", 1110: "marker_waste_ink_receptacle_full",
    1111: "marker_opc_life_almost_over", 1112: "marker_opc_life_over",
    1113: "marker_developer_almost_empty", 1114: "marker_developer_empty",
    1115: "marker_toner_cartridge_missing", 1116: "marker_cleaner_missing",
    1117: "marker_developer_missing", 1118: "marker_fuser_missing", 1119: "marker_ink_missing",
    1120: "marker_opc_missing", 1121: "marker_print_ribbon_missing",
    1122: "marker_supply_almost_empty", 1123: "marker_supply_empty",
    1124: "marker_supply_missing", 1125: "marker_waste_almost_full", 1126: "marker_waste_full",
    1127: "marker_waste_missing", 1128: "marker_waste_ink_receptacle_missing",
    1129: "marker_waste_toner_receptacle_missing", 1130: "marker_toner_missing",
    # Media Path group
    1301: "media_path_media_tray_missing", 1302: "media_path_media_tray_almost_full",
    1303: "media_path_media_tray_full", 1304: "media_path_cannot_duplex_media_selected",
    1305: "media_path_failure", 1306: "media_path_jam", 1310: "media_path_input_request",
    1311: "media_path_input_feed_error", 1312: "media_path_input_jam",
    1321: "media_path_output_feed_error", 1322: "media_path_output_jam",
    1323: "media_path_output_full", 1331: "media_path_pick_roller_life_warn",
    1332: "media_path_pick_roller_life_over", 1333: "media_path_pick_roller_failure",
    1334: "media_path_pick_roller_missing",
    # Interpreter group
    1501: "interpreter_memory_increase", 1502: "interpreter_memory_decrease",
    1503: "interpreter_cartridge_added", 1504: "interpreter_cartridge_deleted",
    1505: "interpreter_resource_added", 1506: "interpreter_resource_deleted",
    1507: "interpreter_resource_unavailable", 1509: "interpreter_complex_page_encountered",
    # Alert group
    1801: "alert_removal_of_binary_change_entry",
    # Scanner group (PWG 5107.3)
    5101: "scanner_light_life_almost_over", 5102: "scanner_light_life_over",
    5103: "scanner_light_failure", 5104: "scanner_light_missing",
    5111: "scanner_sensor_life_almost_over", 5112: "scanner_sensor_life_over",
    5113: "scanner_sensor_failure", 5114: "scanner_sensor_missing",
    # Scan Media Path group
    5201: "scan_media_path_tray_missing", 5202: "scan_media_path_tray_almost_full",
    5203: "scan_media_path_tray_full", 5205: "scan_media_path_failure",
    5206: "scan_media_path_jam", 5210: "scan_media_path_input_request",
    5211: "scan_media_path_input_feed_error", 5212: "scan_media_path_input_jam",
    5221: "scan_media_path_output_feed_error", 5222: "scan_media_path_output_jam",
    5223: "scan_media_path_output_full", 5231: "scan_media_path_pick_roller_life_warn",
    5232: "scan_media_path_pick_roller_life_over", 5233: "scan_media_path_pick_roller_failure",
    5234: "scan_media_path_pick_roller_missing",
    # Fax Modem group (6110-6118 deprecated)
    6101: "fax_modem_missing", 6102: "fax_modem_life_almost_over", 6103: "fax_modem_life_over",
    6104: "fax_modem_turned_on", 6105: "fax_modem_turned_off",
    6110: "fax_modem_inactivity_timeout", 6111: "fax_modem_protocol_alert",
    6112: "fax_modem_equipment_failure", 6113: "fax_modem_no_dial_tone",
    6114: "fax_modem_line_busy", 6115: "fax_modem_no_answer", 6116: "fax_modem_voice_detected",
    6117: "fax_modem_carrier_lost", 6118: "fax_modem_training_failure",
    # Finisher devices
    **{30000 + 100 * device + code: f"{prefix}_{generic.removeprefix('subunit_')}"
       for device, prefix in _FINISHER_DEVICES.items()
       for code, generic in _GENERIC_ALERT_CODES.items()},
}

# The severity an alert implies when the agent leaves out prtAlertSeverityLevel: printing has
# stopped (critical) or will soon (warning). Codes not listed imply none ("unknown").
_CRITICAL_ALERT_CODES: Final = (
    "cover_open", "interlock_open", "jam", "subunit_missing", "subunit_life_over",
    "subunit_empty", "subunit_full", "subunit_at_limit", "subunit_unrecoverable_failure",
    "subunit_unrecoverable_storage_error", "subunit_motor_failure", "door_open",
    "input_media_tray_missing", "input_media_supply_empty", "output_media_tray_missing",
    "output_media_tray_full", "marker_fuser_under_temperature", "marker_fuser_over_temperature",
    "marker_fuser_timing_failure", "marker_fuser_thermistor_failure", "marker_toner_empty",
    "marker_ink_empty", "marker_print_ribbon_empty", "marker_waste_toner_receptacle_full",
    "marker_waste_ink_receptacle_full", "marker_opc_life_over", "marker_developer_empty",
    "marker_toner_cartridge_missing", "media_path_media_tray_missing",
    "media_path_media_tray_full",
)
_WARNING_ALERT_CODES: Final = (
    "subunit_life_almost_over", "subunit_almost_empty", "subunit_almost_full",
    "subunit_near_limit", "subunit_recoverable_failure", "input_media_supply_low",
    "output_media_tray_almost_full", "marker_toner_almost_empty", "marker_ink_almost_empty",
    "marker_print_ribbon_almost_empty", "marker_waste_toner_receptacle_almost_full",
    "marker_waste_ink_receptacle_almost_full", "marker_opc_life_almost_over",
    "marker_developer_almost_empty", "media_path_media_tray_almost_full",
)
ALERT_CODE_SEVERITY: Final[dict[str, str]] = {
    **{code: "critical" for code in _CRITICAL_ALERT_CODES},
    **{code: "warning" for code in _WARNING_ALERT_CODES},
}

# Colour words found in descriptions, used when the colorant table is missing (e.g. Konica
# "Toner (Cyan)", which has no prtMarkerColorantTable in its recording).
COLOUR_WORDS: Final = ("black", "cyan", "magenta", "yellow", "matte black", "photo black",
                       "light cyan", "light magenta", "gray", "grey", "red", "green", "blue")

# How bad each decoded error bit is for the printer's overall status.
FAULT_SEVERITY: Final = {
    "low_paper": "warning", "no_paper": "critical", "low_toner": "warning",
    "no_toner": "critical", "door_open": "critical", "jammed": "critical",
    "offline": "critical", "service_requested": "critical", "input_tray_missing": "critical",
    "output_tray_missing": "warning", "marker_supply_missing": "critical",
    "output_near_full": "warning", "output_full": "critical", "input_tray_empty": "warning",
    "overdue_prevent_maint": "warning",
}
# Bits whose weight the printer itself tells by hrDeviceStatus (RFC 3805 §2.2.13.2, the overall
# status table): serviceRequested stands under both "non-critical alert" (warning) and "critical
# alert" (down), offline under both "moving offline" (warning) and "offline" (down). When the
# device reports its status, down makes them critical and anything else a warning; without it,
# FAULT_SEVERITY stands. Seen: Konica Minolta bizhub C250i, serviceRequested with status warning.
STATUS_WEIGHED_FAULTS: Final = frozenset({"service_requested", "offline"})
