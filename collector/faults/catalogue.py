"""The fault catalogue (data): every fault Fleetwatch knows, with a code, a severity and a title a
technician understands, and the alert-code and error-bit mappings onto it.

A fault key is the catalogue code, plus a qualifier where a device can have several:
``jammed``, ``unreachable`` (the device's first probe) / ``unreachable:http`` (another probe),
``alert_fin_device``, ``threshold:disk_used_percent``, ``reorder:1.2`` (supply index).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from probes import printer_mib as mib

SEVERITY_ORDER: Final = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One catalogue entry. ``kind`` is the ticket kind it opens (fault | reorder)."""

    code: str
    severity: str
    title: str
    source: str  # error_bit | alert | device | supply | tray | threshold
    kind: str = "fault"


_BIT_TITLES: Final = {
    "low_paper": "Paper low",
    "no_paper": "Out of paper",
    "low_toner": "Toner or ink low",
    "no_toner": "Out of toner or ink",
    "door_open": "Door or cover open",
    "jammed": "Paper jam",
    "offline": "Printer offline",
    "service_requested": "Service requested",
    "input_tray_missing": "Input tray missing",
    "output_tray_missing": "Output tray missing",
    "marker_supply_missing": "Toner or ink cartridge missing",
    "output_near_full": "Output tray nearly full",
    "output_full": "Output tray full",
    "input_tray_empty": "Input tray empty",
    "overdue_prevent_maint": "Preventive maintenance overdue",
}
_EXTRA: Final = (
    FaultSpec("unreachable", "critical", "Device unreachable", "device"),
    FaultSpec("device_down", "critical", "Device reports it is down", "device"),
    FaultSpec("waste_near_full", "warning", "Waste container nearly full", "supply"),
    FaultSpec("waste_full", "critical", "Waste container full", "supply"),
    FaultSpec("drum_near_end", "warning", "Drum (OPC) near end of life", "alert"),
    FaultSpec("drum_end", "critical", "Drum (OPC) at end of life", "alert"),
    FaultSpec("fuser_failure", "critical", "Fuser failure", "alert"),
    FaultSpec("hardware_failure", "critical", "Hardware failure", "alert"),
    FaultSpec("threshold", "warning", "Metric beyond threshold", "threshold"),
    FaultSpec("reorder", "warning", "Reorder supply", "supply", kind="reorder"),
)
_ALERT_GROUP_TITLES: Final = {
    group: f"Printer alert: {group.replace('_', ' ')}"
    for group in mib.ALERT_GROUP_NAMES.values() if group not in {"other", "unknown"}
}

CATALOGUE: Final[Mapping[str, FaultSpec]] = {
    **{bit: FaultSpec(bit, mib.FAULT_SEVERITY[bit], _BIT_TITLES[bit], "error_bit")
       for bit in mib.ERROR_BITS},
    **{spec.code: spec for spec in _EXTRA},
    **{f"alert_{group}": FaultSpec(f"alert_{group}", "warning", title, "alert")
       for group, title in _ALERT_GROUP_TITLES.items()},
    "alert_other": FaultSpec("alert_other", "warning", "Printer alert", "alert"),
}

# prtAlertCode → catalogue code, whatever the group.
ALERT_CODE_FAULTS: Final[Mapping[str, str]] = {
    "cover_open": "door_open", "interlock_open": "door_open", "door_open": "door_open",
    "jam": "jammed",
    "input_media_tray_missing": "input_tray_missing", "input_media_supply_low": "low_paper",
    "input_media_supply_empty": "no_paper",
    "output_media_tray_missing": "output_tray_missing",
    "output_media_tray_almost_full": "output_near_full", "output_media_tray_full": "output_full",
    "media_path_media_tray_missing": "output_tray_missing",
    "media_path_media_tray_almost_full": "output_near_full",
    "media_path_media_tray_full": "output_full",
    "marker_toner_empty": "no_toner", "marker_ink_empty": "no_toner",
    "marker_print_ribbon_empty": "no_toner",
    "marker_toner_almost_empty": "low_toner", "marker_ink_almost_empty": "low_toner",
    "marker_print_ribbon_almost_empty": "low_toner",
    "marker_toner_cartridge_missing": "marker_supply_missing",
    "marker_waste_toner_receptacle_almost_full": "waste_near_full",
    "marker_waste_ink_receptacle_almost_full": "waste_near_full",
    "marker_waste_toner_receptacle_full": "waste_full",
    "marker_waste_ink_receptacle_full": "waste_full",
    "marker_opc_life_almost_over": "drum_near_end", "marker_opc_life_over": "drum_end",
    "marker_fuser_under_temperature": "fuser_failure",
    "marker_fuser_over_temperature": "fuser_failure",
    "marker_fuser_timing_failure": "fuser_failure",
    "marker_fuser_thermistor_failure": "fuser_failure",
    "subunit_offline": "offline",
    "subunit_unrecoverable_failure": "hardware_failure",
    "subunit_unrecoverable_storage_error": "hardware_failure",
    "subunit_motor_failure": "hardware_failure", "subunit_timing_failure": "hardware_failure",
    "subunit_thermistor_failure": "hardware_failure",
    "subunit_over_temperature": "hardware_failure",
    "subunit_memory_exhausted": "hardware_failure",
}
# The generic "subunit" codes mean something only with their group.
ALERT_GROUP_CODE_FAULTS: Final[Mapping[tuple[str, str], str]] = {
    ("cover", "subunit_opened"): "door_open",
    ("input", "subunit_missing"): "input_tray_missing",
    ("input", "subunit_almost_empty"): "low_paper", ("input", "subunit_empty"): "no_paper",
    ("output", "subunit_missing"): "output_tray_missing",
    ("output", "subunit_almost_full"): "output_near_full", ("output", "subunit_full"): "output_full",
    ("marker_supplies", "subunit_missing"): "marker_supply_missing",
    ("marker_supplies", "subunit_almost_empty"): "low_toner",
    ("marker_supplies", "subunit_empty"): "no_toner",
}
# Alerts that report an event or a good state, never a fault to work on.
INFORMATIONAL_ALERT_CODES: Final = frozenset({
    "cover_closed", "interlock_closed", "door_closed", "configuration_change", "subunit_closed",
    "subunit_turned_on", "subunit_power_saver", "subunit_warming_up", "subunit_added",
    "subunit_resource_added", "power_up", "printer_ready_to_print", "printer_nms_reset",
    "printer_manual_reset", "marker_adjusting_print_quality", "input_media_change_request",
    "input_manual_input_request",
})

# Keys a reading with printer data speaks about (present or absent) besides supplies/metrics.
PRINTER_KEYS: Final = frozenset(
    code for code, spec in CATALOGUE.items()
    if spec.source in {"error_bit", "alert", "supply", "tray"} and spec.kind == "fault"
) | {"device_down"}

# A reorder ticket resolves when its supply is back to "ok" with at least this level (a new
# cartridge), so a level wobbling around the low mark does not resolve and reopen it.
REORDER_REFILLED_PERCENT: Final = 50.0


def spec_for(key: str) -> FaultSpec:
    """The catalogue entry of a fault key (``threshold:disk_used_percent`` → ``threshold``)."""
    code = key.split(":", 1)[0]
    return CATALOGUE.get(code) or CATALOGUE["alert_other"]



def catalogue_rows() -> Iterable[FaultSpec]:
    """The catalogue in documentation order."""
    return sorted(CATALOGUE.values(), key=lambda s: (s.source, s.code))
