"""The metric schema: every measurement Fleetwatch writes, with its tags and typed fields.

The single source of truth for docs/influxdb-schema.md: the line-protocol formatter
(:mod:`collector.storage.lineproto`) writes by it, and the config refuses device tags that would
collide with it (:data:`RESERVED_TAGS`). A field keeps one type forever (InfluxDB 1.x refuses a
change).
"""

from __future__ import annotations

from typing import Final

from probes.printer_mib import ERROR_BITS

INTEGER: Final = "integer"
FLOAT: Final = "float"
STRING: Final = "string"
BOOLEAN: Final = "boolean"

# Tags on every line of a device (plus the device's own config ``tags``, see RESERVED_TAGS).
DEVICE_TAGS: Final = ("device", "kind", "site")

# measurement → (extra tags, {field: type}). The single source of truth for the schema.
SCHEMA: Final[dict[str, tuple[tuple[str, ...], dict[str, str]]]] = {
    "availability": (("probe",), {
        "up": INTEGER, "status": STRING, "status_level": INTEGER, "stale": INTEGER,
        "duration_s": FLOAT, "pdus": INTEGER, "retries": INTEGER, "result": STRING,
        "error": STRING,
    }),
    "uptime": ((), {"seconds": FLOAT}),
    "supply": (("supply", "type", "colour"), {
        "level": INTEGER, "capacity": INTEGER, "percent": FLOAT, "state": STRING,
        "description": STRING, "part_number": STRING, "unit": STRING, "class": STRING,
    }),
    "tray": (("tray",), {
        "level": INTEGER, "capacity": INTEGER, "percent": FLOAT, "state": STRING,
        "description": STRING, "media": STRING, "manual": INTEGER,
    }),
    "pages": (("marker",), {"count": INTEGER}),
    "printer": ((), {
        "device_status": STRING, "printer_status": STRING, "error_state": STRING,
        "fault_count": INTEGER, **dict.fromkeys(ERROR_BITS, INTEGER),
        "alert_count": INTEGER, "alerts_critical": INTEGER, "page_count": INTEGER,
    }),
    # reading.metrics of non-printer probes (ping rtt_ms, http status_code, ...): all floats.
    "metrics": (("probe",), {"*": FLOAT}),
    # written by collector.supplies.engine: one point per supply per forecast (issue 12)
    "supply_forecast": (("supply", "type", "colour"), {
        "status": STRING, "days_left": FLOAT, "empty_at": FLOAT, "rate_per_day": FLOAT,
        "level": FLOAT, "plus_minus_days": FLOAT, "confidence": FLOAT, "pages_left": INTEGER,
        "ordered": INTEGER, "part_number": STRING,
    }),
}

# The extra tag keys of the agent's host lines (collector.ingest.lines.HOST_SCHEMA) and of their
# hourly rollups (collector.ingest.rollup.ROLLUP_SCHEMA); a test holds those tables to this list.
HOST_TAGS: Final = ("core", "mountpoint", "fstype", "disk", "interface", "sensor", "label",
                    "rank_by", "rank")

# Tag names a device's config ``tags`` may not use: every tag key Fleetwatch writes itself (a
# second "type" or "supply" would make InfluxDB refuse the line: "duplicate tags"), and "time",
# which InfluxDB refuses as a tag key. The config loader rejects them; :func:`device_tags` also
# leaves them out of hand-built configs.
RESERVED_TAGS: Final = frozenset(
    {*DEVICE_TAGS, *(tag for tags, _ in SCHEMA.values() for tag in tags), *HOST_TAGS, "time"})
