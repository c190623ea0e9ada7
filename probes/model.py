"""What a probe returns: frozen, JSON-friendly dataclasses.

A :class:`Reading` is one device at one moment. An unreachable device is a reading with
``reachable=False`` and ``error`` set, never an exception.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "warning", "critical", "unreachable", "unknown"]
# What became of a poll: a closed set of codes (docs/check-json.md lists them), beside the human
# ``error`` text. Code decides on ``result``, never on the wording of ``error``.
Result = Literal[
    "ok",                # the device answered and its answer was read
    "timeout",           # no answer in time (a printer may be asleep)
    "refused",           # the port is closed (TCP RST, ICMP port unreachable)
    "auth_failed",       # wrong SNMPv3 user, key or protocol
    "bad_address",       # the host name does not resolve
    "malformed_answer",  # an answer that is not valid SNMP
    "snmp_error",        # the agent answered with an SNMP error (error-status, pysnmp failure)
    "not_a_printer",     # SNMP works but there is no Printer-MIB data
    "parse_error",       # the answer decoded but its values made no sense
    "not_permitted",     # this host may not send the probe (ICMP without privilege)
    "connect_failed",    # another network failure (no route, reset, TLS, HTTP protocol error)
    "unexpected_status",  # HTTP answered with another status than expected
]
RESULTS: tuple[str, ...] = Result.__args__  # type: ignore[attr-defined]
STATUS_ORDER: dict[str, int] = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3, "unreachable": 3}


@dataclass(frozen=True, slots=True)
class Supply:
    """One prtMarkerSuppliesTable row, normalised.

    ``level``/``capacity`` are the raw values (sentinels kept); ``percent`` is 100*level/capacity
    only when both are real numbers, else ``None``. For a filled receptacle (``supply_class ==
    "filled"``, a waste container) the level is its remaining space (RFC 3805
    prtMarkerSuppliesLevel), so ``percent`` is the space left: 100 is an empty box, 0 a full one;
    ``state`` follows the fill (100 − percent): ``near_full``, then ``full`` at level 0.
    ``state``: ok | low | empty | near_full | full | some_remaining | unknown | other.
    """

    index: str
    description: str
    type: str
    supply_class: str
    colour: str | None
    unit: str | None
    level: int | None
    capacity: int | None
    percent: float | None
    state: str
    part_number: str | None


@dataclass(frozen=True, slots=True)
class Tray:
    """One prtInputTable row. ``state``: ok | low | empty | some_remaining | unknown | other."""

    index: str
    description: str
    media: str | None
    level: int | None
    capacity: int | None
    percent: float | None
    state: str
    manual: bool


@dataclass(frozen=True, slots=True)
class Alert:
    """One prtAlertTable row."""

    index: str
    severity: str
    group: str
    group_index: int | None
    location: int | None
    code: str
    description: str


@dataclass(frozen=True, slots=True)
class Identity:
    sys_descr: str | None = None
    sys_name: str | None = None
    sys_object_id: str | None = None
    sys_location: str | None = None
    model: str | None = None
    serial: str | None = None
    # Read on full polls (probes.parsing.parse_firmware / parse_mac); None: not told.
    firmware: str | None = None
    mac: str | None = None  # "aa:bb:cc:dd:ee:ff"


@dataclass(frozen=True, slots=True)
class PageCounter:
    index: str
    value: int


@dataclass(frozen=True, slots=True)
class PollCost:
    """What one poll cost (snmp_exporter's scrape_duration, plus PDUs and retries)."""

    duration_s: float = 0.0
    pdus: int = 0
    retries: int = 0


@dataclass(frozen=True, slots=True)
class Reading:
    device: str
    host: str
    probe: str
    time: float = field(default_factory=time.time)
    reachable: bool = True
    result: Result = "ok"
    error: str | None = None
    status: Status = "ok"
    identity: Identity = field(default_factory=Identity)
    uptime_seconds: float | None = None
    device_status: str | None = None
    printer_status: str | None = None
    # None: the device does not report hrPrinterDetectedErrorState at all.
    faults: frozenset[str] | None = None
    error_state_hex: str | None = None
    alerts: tuple[Alert, ...] = ()
    supplies: tuple[Supply, ...] = ()
    trays: tuple[Tray, ...] = ()
    page_counters: tuple[PageCounter, ...] = ()
    # Human-readable reasons behind ``status`` (e.g. "Black Toner low (8%)").
    problems: tuple[str, ...] = ()
    cost: PollCost = field(default_factory=PollCost)
    # Values copied from an earlier good poll while a sleeping printer does not answer.
    stale: bool = False
    # Free-form numeric metrics of other probes (ping rtt, http status, host cpu ...).
    metrics: tuple[tuple[str, float], ...] = ()

    @property
    def page_count(self) -> int | None:
        return sum(c.value for c in self.page_counters) if self.page_counters else None

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (docs/check-json.md)."""
        return {
            "device": self.device,
            "host": self.host,
            "probe": self.probe,
            "time": self.time,
            "reachable": self.reachable,
            "result": self.result,
            "error": self.error,
            "status": self.status,
            "stale": self.stale,
            "identity": dataclasses.asdict(self.identity),
            "uptime_seconds": self.uptime_seconds,
            "device_status": self.device_status,
            "printer_status": self.printer_status,
            "page_count": self.page_count,
            "page_counters": [dataclasses.asdict(c) for c in self.page_counters],
            "faults": sorted(self.faults) if self.faults is not None else None,
            "error_state_hex": self.error_state_hex,
            "alerts": [dataclasses.asdict(a) for a in self.alerts],
            "supplies": [dataclasses.asdict(s) for s in self.supplies],
            "trays": [dataclasses.asdict(t) for t in self.trays],
            "problems": list(self.problems),
            "metrics": dict(self.metrics),
            "cost": dataclasses.asdict(self.cost),
        }
