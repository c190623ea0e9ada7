"""Builds the Grafana dashboards (JSON) over Fleetwatch's InfluxDB data.

Run ``python dashboards/build.py`` after changing a panel; the JSON files beside this script are
its output (Grafana imports them: Dashboards → Import, pick the InfluxDB data source that points
at the collector's database, InfluxQL). A test runs every query against a real influxd.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DS = {"type": "influxdb", "uid": "${DS_FLEETWATCH}"}
MARKING = "/^(toner|toner_cartridge|ink|ink_cartridge)$/"
DEVICE_FILTER = '"site" =~ /^$site$/ AND "device" =~ /^$device$/'


LOWEST = 10  # cartridges in the "lowest toner" panel
EVENT_FAULTS = (("jammed", "jammed"), ("door_open", "door open"), ("no_paper", "no paper"),
                ("no_toner", "no toner"))


def fault_events_query() -> str:
    """New occurrences of each fault per interval: per device, non_negative_difference of the
    0/1 fault field is 1 exactly where the bit went from clear to set (1 → 0 gives -1, dropped;
    1 → 1 gives 0); the outer query adds them up over all devices. A fault already set at the
    start of the time range is not a new event in it."""
    inner = ", ".join(f'non_negative_difference("{f}") AS "{f}"' for f, _ in EVENT_FAULTS)
    outer = ", ".join(f'sum("{f}") AS "{label}"' for f, label in EVENT_FAULTS)
    return (f'SELECT {outer} FROM (SELECT {inner} FROM "printer" WHERE $timeFilter AND '
            f'{DEVICE_FILTER} GROUP BY "device") WHERE $timeFilter '
            'GROUP BY time($__interval) fill(0)')


def lowest_supplies_query() -> str:
    return (f'SELECT bottom("percent", "device", "colour", {LOWEST}) AS "percent" FROM '
            '(SELECT last("percent") AS "percent" FROM "supply" WHERE $timeFilter AND '
            f'"type" =~ {MARKING} AND {DEVICE_FILTER} GROUP BY "device", "colour")')


def target(query: str, ref: str = "A", fmt: str = "time_series", alias: str = "") -> dict[str, Any]:
    return {"datasource": DS, "rawQuery": True, "query": query, "refId": ref,
            "resultFormat": fmt, "alias": alias}


def panel(pid: int, title: str, kind: str, grid: tuple[int, int, int, int],
          targets: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    x, y, w, h = grid
    return {"id": pid, "title": title, "type": kind, "datasource": DS,
            "gridPos": {"x": x, "y": y, "w": w, "h": h}, "targets": targets, **extra}


def variables() -> dict[str, Any]:
    def var(name: str, query: str) -> dict[str, Any]:
        return {"name": name, "type": "query", "datasource": DS, "query": query, "refresh": 2,
                "includeAll": True, "multi": True, "allValue": ".*",
                "current": {"text": "All", "value": "$__all"}}

    return {"list": [
        {"name": "DS_FLEETWATCH", "type": "datasource", "query": "influxdb", "label": "InfluxDB"},
        var("site", 'SHOW TAG VALUES FROM "availability" WITH KEY = "site"'),
        var("device", 'SHOW TAG VALUES FROM "availability" WITH KEY = "device" '
                      'WHERE "site" =~ /^$site$/'),
    ]}


def dashboard(uid: str, title: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    return {"uid": uid, "title": title, "tags": ["fleetwatch"], "timezone": "browser",
            "schemaVersion": 39, "version": 1, "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"}, "templating": variables(),
            "panels": panels}


def fleet_health() -> dict[str, Any]:
    return dashboard("fleetwatch-fleet", "Fleetwatch · Fleet health", [
        panel(1, "Status now (0 ok · 1 warning · 2 critical · 3 down/unknown)", "table",
              (0, 0, 12, 10), [target(
                  'SELECT last("status_level") AS "level", last("status") AS "status", '
                  'last("error") AS "error" FROM "availability" WHERE $timeFilter AND '
                  f'{DEVICE_FILTER} GROUP BY "device"', fmt="table")]),
        # bottom() over each cartridge's last level: the LOWEST cartridges, not all of them
        panel(2, f"Lowest toner and ink (the {LOWEST} lowest)", "bargauge", (12, 0, 12, 10),
              [target(lowest_supplies_query(), fmt="table")],
              fieldConfig={"defaults": {"unit": "percent", "min": 0, "max": 100,
                                        "displayName": "${__data.fields.device} "
                                                       "${__data.fields.colour}",
                                        "thresholds": {"mode": "absolute", "steps": [
                                            {"color": "red", "value": None},
                                            {"color": "orange", "value": 10},
                                            {"color": "green", "value": 25}]}}},
              options={"orientation": "horizontal", "displayMode": "lcd",
                       "reduceOptions": {"values": True, "calcs": [],
                                         "fields": "/^percent$/"}}),
        panel(3, "Toner and ink over time", "timeseries", (0, 10, 24, 9), [target(
            'SELECT last("percent") FROM "supply" WHERE $timeFilter AND '
            f'"type" =~ {MARKING} AND {DEVICE_FILTER} GROUP BY time($__interval), "device", '
            '"colour" fill(none)', alias="$tag_device $tag_colour")],
            fieldConfig={"defaults": {"unit": "percent", "min": 0, "max": 100}}),
        panel(4, "Faults reported by printers", "timeseries", (0, 19, 12, 8), [target(
            'SELECT max("fault_count") FROM "printer" WHERE $timeFilter AND '
            f'{DEVICE_FILTER} GROUP BY time($__interval), "device" fill(none)',
            alias="$tag_device")]),
        # events, not polls: a fault bit going 0 → 1 counts once however long it stays set
        panel(5, "Jams, open doors, no paper, no toner (new events)", "timeseries",
              (12, 19, 12, 8), [target(fault_events_query())],
              fieldConfig={"defaults": {"custom": {"drawStyle": "bars"}, "decimals": 0}}),
        panel(6, "Pages printed", "timeseries", (0, 27, 12, 8), [target(
            'SELECT non_negative_difference(last("count")) FROM "pages" WHERE $timeFilter AND '
            f'{DEVICE_FILTER} GROUP BY time($__interval), "device" fill(none)',
            alias="$tag_device")], fieldConfig={"defaults": {"custom": {"drawStyle": "bars"}}}),
        panel(7, "Paper trays", "timeseries", (12, 27, 12, 8), [target(
            'SELECT last("percent") FROM "tray" WHERE $timeFilter AND "manual" = 0 AND '
            f'{DEVICE_FILTER} GROUP BY time($__interval), "device", "tray" fill(none)',
            alias="$tag_device tray $tag_tray")],
            fieldConfig={"defaults": {"unit": "percent", "min": 0, "max": 100}}),
        panel(8, "Poll cost (Fleetwatch itself)", "timeseries", (0, 35, 24, 7), [
            target('SELECT mean("duration_s") FROM "availability" WHERE $timeFilter AND '
                   f'{DEVICE_FILTER} GROUP BY time($__interval), "probe" fill(none)',
                   alias="seconds $tag_probe"),
            target('SELECT sum("retries") FROM "availability" WHERE $timeFilter AND '
                   f'{DEVICE_FILTER} GROUP BY time($__interval) fill(0)', ref="B",
                   alias="retries")]),
    ])


def uptime() -> dict[str, Any]:
    return dashboard("fleetwatch-uptime", "Fleetwatch · Uptime", [
        panel(1, "Availability in the period", "bargauge", (0, 0, 12, 12), [target(
            'SELECT mean("up") * 100 FROM "availability" WHERE $timeFilter AND '
            f'{DEVICE_FILTER} GROUP BY "device"', alias="$tag_device")],
            fieldConfig={"defaults": {"unit": "percent", "min": 0, "max": 100}},
            options={"orientation": "horizontal"}),
        panel(2, "Up / down", "state-timeline", (12, 0, 12, 12), [target(
            'SELECT last("up") FROM "availability" WHERE $timeFilter AND '
            f'{DEVICE_FILTER} GROUP BY time($__interval), "device" fill(null)',
            alias="$tag_device")],
            fieldConfig={"defaults": {"mappings": [{"type": "value", "options": {
                "0": {"text": "down", "color": "red"}, "1": {"text": "up", "color": "green"}}}]}}),
        panel(3, "Days since last reboot", "table", (0, 12, 12, 9), [target(
            'SELECT last("seconds") / 86400 AS "days" FROM "uptime" WHERE $timeFilter AND '
            f'{DEVICE_FILTER} GROUP BY "device"', fmt="table")]),
        panel(4, "Ping round trip", "timeseries", (12, 12, 12, 9), [target(
            'SELECT mean("rtt_ms") FROM "metrics" WHERE "probe" = \'ping\' AND $timeFilter AND '
            f'{DEVICE_FILTER} GROUP BY time($__interval), "device" fill(none)',
            alias="$tag_device")], fieldConfig={"defaults": {"unit": "ms"}}),
    ])


DASHBOARDS = {"fleet-health.json": fleet_health, "uptime.json": uptime}


def render(build: Any) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    for name, build in DASHBOARDS.items():
        (HERE / name).write_text(render(build))
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
