"""Pure: what one reading shows, as fault observations (:func:`observe`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from collector.config import DeviceConfig, Threshold
from collector.faults.catalogue import (
    ALERT_CODE_FAULTS,
    ALERT_GROUP_CODE_FAULTS,
    CATALOGUE,
    INFORMATIONAL_ALERT_CODES,
    PRINTER_KEYS,
    REORDER_REFILLED_PERCENT,
    SEVERITY_ORDER,
    spec_for,
)
from probes import printer_mib as mib
from probes.model import Reading
from probes.parsing import fault_severity


@dataclass(frozen=True, slots=True)
class Observation:
    """One fault seen in one reading."""

    key: str
    kind: str
    severity: str
    title: str
    detail: str = ""
    part_number: str | None = None


@dataclass(frozen=True, slots=True)
class ReorderAdvice:
    """What the supplies engine (collector/supplies) says about one marking supply's reorder
    key: ``ordered`` while the current cartridge has an order out (it went past its reorder
    point and the gate let it); False once a new cartridge is in, which clears the ticket."""

    ordered: bool
    severity: str = "warning"
    detail: str = ""
    title: str = ""
    part_number: str | None = None


@dataclass(frozen=True, slots=True)
class Observed:
    """What one reading says: the faults it shows, and every key it can speak about (a key it
    covers but does not show is absent; a key it does not cover is unknown, not cleared)."""

    present: Mapping[str, Observation]
    covered: frozenset[str]


def _merge(present: dict[str, Observation], key: str, severity: str, detail: str = "", *,
           title: str | None = None, kind: str = "fault", part_number: str | None = None) -> None:
    old = present.get(key)
    if old is None:
        present[key] = Observation(key, kind, severity, title or spec_for(key).title, detail,
                                   part_number)
        return
    worse = severity if SEVERITY_ORDER[severity] > SEVERITY_ORDER[old.severity] else old.severity
    details = [d for d in (old.detail, detail) if d]
    merged = "; ".join(dict.fromkeys(details))
    present[key] = Observation(key, old.kind, worse, old.title, merged, old.part_number or part_number)


def unreachable_key(probe: str, primary: bool) -> str:
    return "unreachable" if primary else f"unreachable:{probe}"


def has_printer_data(reading: Reading) -> bool:
    """Whether a reading carries printer state (and so may clear printer faults)."""
    return reading.error is None and (
        reading.faults is not None or reading.printer_status is not None
        or bool(reading.supplies or reading.trays or reading.alerts))


def supply_metrics(reading: Reading) -> dict[str, float]:
    """Numeric metrics derived from a printer reading for thresholds: ``supply_<colour>_percent``
    of each marking supply (``supply_<index>_percent`` when its colour is unknown)."""
    out: dict[str, float] = {}
    for s in reading.supplies:
        if s.type in mib.MARKING_TYPES and s.percent is not None:
            name = (s.colour or s.index).replace(" ", "_").replace(".", "_")
            out.setdefault(f"supply_{name}_percent", s.percent)
    return out


def threshold_level(th: Threshold, value: float, previous: str | None) -> str | None:
    """The severity a metric value is at (None = fine), with hysteresis: a level once reached
    holds until the value is back past ``level ∓ hysteresis``."""
    above = th.direction != "below"

    def bad(level: float) -> bool:
        return value >= level if above else value <= level

    def still(level: float) -> bool:
        return value > level - th.hysteresis if above else value < level + th.hysteresis

    if th.critical is not None and (bad(th.critical) or (previous == "critical"
                                                        and still(th.critical))):
        return "critical"
    if th.warning is not None and (bad(th.warning) or (previous in {"warning", "critical"}
                                                      and still(th.warning))):
        return "warning"
    return None


def observe(reading: Reading, device: DeviceConfig, *, primary: bool,
            active: Mapping[str, str] | None = None,
            reorder: Mapping[str, ReorderAdvice] | None = None) -> Observed:
    """Pure: the faults one reading shows. ``active`` maps keys that have an open fault to its
    current severity (threshold hysteresis and reorder refill rules depend on it). ``reorder``
    (from the supplies engine) decides the ``reorder:<index>`` keys it names, in place of the
    device's own low/empty state.

    A stale reading (a sleeping printer's last values) says nothing. An unreachable one speaks
    only about its own reachability: a jam is not cleared by a timeout.
    """
    active = active or {}
    present: dict[str, Observation] = {}
    if reading.stale:
        return Observed(present, frozenset())
    ukey = unreachable_key(reading.probe, primary)
    covered: set[str] = {ukey}
    if not reading.reachable:
        title = "Device unreachable" if primary else f"{reading.probe} check failing"
        _merge(present, ukey, "critical", reading.error or "no answer", title=title)
        return Observed(present, frozenset(covered))

    if has_printer_data(reading):
        covered |= PRINTER_KEYS
        _observe_printer(reading, present, covered, active, reorder or {})

    metrics = dict(reading.metrics)
    if reading.error is None:
        for name, value in supply_metrics(reading).items():
            metrics.setdefault(name, value)
    for th in device.thresholds:
        if th.metric not in metrics:
            continue
        value = metrics[th.metric]
        key = f"threshold:{th.metric}"
        covered.add(key)
        level = threshold_level(th, value, active.get(key))
        if level is not None:
            limit = th.critical if level == "critical" else th.warning
            word = "below" if th.direction == "below" else "above"
            _merge(present, key, level, f"{th.metric} = {value:g} ({level} {word} {limit:g})",
                   title=f"{th.metric.replace('_', ' ')} {word} limit")
    return Observed(present, frozenset(covered | present.keys()))


def _observe_printer(reading: Reading, present: dict[str, Observation], covered: set[str],
                     active: Mapping[str, str], reorder: Mapping[str, ReorderAdvice]) -> None:
    for bit in sorted(reading.faults or ()):
        if bit in CATALOGUE:
            _merge(present, bit, fault_severity(bit, reading.device_status),
                   f"error state bit {bit}")
    for alert in reading.alerts:
        code = ALERT_GROUP_CODE_FAULTS.get((alert.group, alert.code)) or ALERT_CODE_FAULTS.get(
            alert.code)
        if code is None:
            if alert.code in INFORMATIONAL_ALERT_CODES or alert.severity not in {"critical",
                                                                                 "warning"}:
                continue
            code = f"alert_{alert.group}" if f"alert_{alert.group}" in CATALOGUE else "alert_other"
            severity = alert.severity
        else:
            severity = CATALOGUE[code].severity
        detail = alert.description or alert.code.replace("_", " ")
        _merge(present, code, severity, f"alert: {detail}")
    for s in reading.supplies:
        if s.supply_class == "filled" or s.type in mib.FILLED_TYPES:
            if s.state == "full":
                _merge(present, "waste_full", "critical", s.description)
            elif s.state == "near_full":
                _merge(present, "waste_near_full", "warning", s.description)
            continue
        if s.type not in mib.MARKING_TYPES:
            continue
        key = f"reorder:{s.index}"
        advice = reorder.get(key)
        if advice is not None:
            covered.add(key)
            if advice.ordered:
                _merge(present, key, advice.severity, advice.detail, kind="reorder",
                       part_number=advice.part_number, title=advice.title or None)
            continue
        if s.state in {"low", "empty"}:
            covered.add(key)
            pct = f" ({s.percent:g}%)" if s.percent is not None else ""
            what = s.description or s.colour or s.type
            # The part number once: many descriptions already carry it ("… P/N 842310").
            part = (f" (part {s.part_number})"
                    if s.part_number and s.part_number not in what else "")
            _merge(present, key, "critical" if s.state == "empty" else "warning",
                   f"{what} {s.state}{pct}", kind="reorder", part_number=s.part_number,
                   title=f"Reorder {what}{part}")
        elif s.state == "some_remaining" or (s.state == "ok" and (
                key not in active or s.percent is None or s.percent >= REORDER_REFILLED_PERCENT)):
            covered.add(key)  # refilled (or never low): absent
    if any(k.startswith("reorder:") for k in present):
        # the reorder ticket already says it, with the part number
        present.pop("low_toner", None)
    for t in reading.trays:
        if t.state == "empty" and not t.manual:
            _merge(present, "input_tray_empty", "warning", f"{t.description} empty")
    if reading.device_status == "down" and not any(
            o.severity == "critical" for o in present.values()):
        _merge(present, "device_down", "critical", "hrDeviceStatus down")
