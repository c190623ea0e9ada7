"""The YAML config loader and ``fleetwatch config check``: every kind of error names file, line
and key path; secrets never print; defaults merge; the example file loads."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from collector.config import (
    DEFAULT_SNMP_PROFILE,
    CollectorSettings,
    DeviceConfig,
    Listen,
    StorageConfig,
    Threshold,
    WeeklyWindow,
)
from collector.config.loader import ConfigErrors, load_config
from collector.ingest.lines import HOST_SCHEMA
from collector.ingest.rollup import ROLLUP_SCHEMA
from collector.schema import DEVICE_TAGS, SCHEMA
from probes.errors import ConfigError
from probes.registry import probe_settings
from probes.secret import Secret

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "config" / "example.yaml"
DOCS = ROOT / "docs" / "configuration.md"
MARK = "#<"  # in a snippet, marks the line the (single) error must point at; the last mark wins

DEV = "devices:\n  - {name: p1, host: 10.0.0.1}\n"
V3 = "snmp_profiles:\n  v3:  #<\n    version: 3\n    user: fw\n"


def write(tmp_path: Path, text: str, name: str = "fleet.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigErrors:
    path = write(tmp_path, text)
    with pytest.raises(ConfigErrors) as info:
        load_config(path, env=env or {})
    return info.value


# Every tag key a line can carry, from the schema itself (not a second list), minus "time".
RESERVED_TAGS = {*DEVICE_TAGS, *(t for tags, _ in SCHEMA.values() for t in tags),
                 *(t for tags, _ in HOST_SCHEMA.values() for t in tags),
                 *(t for tags, _ in ROLLUP_SCHEMA.values() for t in tags)}
RESERVED_TAG_MESSAGE = (
    "{name!r} is a reserved tag name (Fleetwatch writes " + ", ".join(sorted(RESERVED_TAGS))
    + " itself, and InfluxDB refuses a tag named time); pick another name")

# (id, YAML with the error line marked "#<", key path, message)
CASES = [
    ("unknown top-level key", "devcies: []  #<\n", "devcies",
     "unknown key; did you mean 'devices'?"),
    ("unknown device key", """\
        devices:
          - name: p1
            host: 10.0.0.1
            hots: x  #<
        """, "devices[0].hots", "unknown key; did you mean 'host'?"),
    ("unknown key, no close match", "collector:\n  colour: red  #<\n", "collector.colour",
     "unknown key; expected one of: listen, state_dir, max_concurrency, jitter, sleep_grace, "
     "api_token, allowed_hosts, max_event_streams"),
    ("duplicate key", "collector:\n  jitter: 0.5\n  jitter: 0.2  #<\n", "collector.jitter",
     "duplicate key (first at line 2)"),
    ("wrong type: text for a number", "collector:\n  max_concurrency: lots  #<\n",
     "collector.max_concurrency", "expected a whole number, got 'lots'"),
    ("wrong type: list for a mapping", "storage: [influxdb_v1]  #<\n", "storage",
     "expected a mapping (key: value lines), got a list"),
    ("wrong type: mapping for text", "devices:\n  - name: p1\n    host: {ip: 1}  #<\n",
     "devices[0].host", "expected text, got a mapping"),
    ("wrong type: bool", "tickets:\n  auto_resolve: sometimes  #<\n", "tickets.auto_resolve",
     "expected true or false, got 'sometimes'"),
    ("no value", "devices:\n  - name: p1\n    host:  #<\n", "devices[0].host",
     "has no value; expected text"),
    ("negative interval", """\
        devices:
          - name: p1
            host: 10.0.0.1
            probes:
              - kind: ping
                interval: -5  #<
        """, "devices[0].probes[0].interval", "must be greater than 0, not -5"),
    ("bad duration text", """\
        devices:
          - name: p1
            host: 10.0.0.1
            probes:
              - {kind: ping, interval: 5 minutes}  #<
        """, "devices[0].probes[0].interval",
     "expected seconds or a duration like 30s, 5m, 1h, got '5 minutes'"),
    ("negative duration", "tickets:\n  flap_window: -1  #<\n", "tickets.flap_window",
     "must be at least 0, not -1"),
    ("number out of range", "collector:\n  jitter: 1.5  #<\n", "collector.jitter",
     "must be between 0 and 1, not 1.5"),
    ("unknown device kind", "devices:\n  - {name: p1, host: 10.0.0.1, kind: prnter}  #<\n",
     "devices[0].kind", "unknown device kind 'prnter'; did you mean 'printer'?"),
    ("unknown probe kind", """\
        devices:
          - name: p1
            host: 10.0.0.1
            probes:
              - kind: pnig  #<
        """, "devices[0].probes[0].kind", "unknown probe kind 'pnig'; did you mean 'ping'?"),
    ("probe without kind", """\
        devices:
          - name: p1
            host: 10.0.0.1
            probes:
              - interval: 30  #<
        """, "devices[0].probes[0].kind",
     "is required (one of snmp_printer, ping, tcp, http)"),
    ("device port out of range", "devices:\n  - {name: p1, host: 10.0.0.1, port: 70000}  #<\n",
     "devices[0].port", "must be between 1 and 65535, not 70000"),
    ("tcp probe port out of range", """\
        devices:
          - name: p1
            host: 10.0.0.1
            probes:
              - kind: tcp
                port: 0  #<
        """, "devices[0].probes[0].port", "must be between 1 and 65535, not 0"),
    ("tcp probe without port", """\
        devices:
          - name: p1
            host: 10.0.0.1
            probes:
              - kind: tcp  #<
        """, "devices[0].probes[0].port", "is required for a tcp probe"),
    ("key of another probe kind", """\
        devices:
          - name: p1
            host: 10.0.0.1
            probes:
              - kind: ping
                url: http://x/  #<
        """, "devices[0].probes[0].url", "applies to http probes only"),
    ("probe timeout not below interval", """\
        devices:
          - name: p1
            host: 10.0.0.1
            probes:
              - kind: ping
                interval: 5
                timeout: 5s  #<
        """, "devices[0].probes[0].timeout", "timeout (5 s) must be shorter than interval (5 s)"),
    ("two probes of one kind", """\
        devices:
          - name: p1
            host: 10.0.0.1
            probes:
              - kind: ping
              - kind: ping  #<
        """, "devices[0].probes[1].kind",
     "one probe per kind per device: ping is already at line 5"),
    ("bad http url", """\
        devices:
          - name: p1
            host: 10.0.0.1
            probes:
              - kind: http
                url: ftp://10.0.0.1/  #<
        """, "devices[0].probes[0].url",
     "expected an http:// or https:// URL with a host, got 'ftp://10.0.0.1/'"),
    ("unknown snmp profile", """\
        snmp_profiles:
          office: {community: abc}
        devices:
          - {name: p1, host: 10.0.0.1, snmp: ofice}  #<
        """, "devices[0].snmp", "unknown snmp profile 'ofice'; did you mean 'office'?"),
    ("unknown snmp profile, none defined", DEV.replace("}", ", snmp: x}  #<"),
     "devices[0].snmp", "unknown snmp profile 'x'; no snmp_profiles are defined"),
    ("unknown parent", """\
        devices:
          - {name: sw1, host: 10.0.0.2}
          - {name: p1, host: 10.0.0.1, parent: sw2}  #<
        """, "devices[1].parent", "unknown parent device 'sw2'; did you mean 'sw1'?"),
    ("duplicate device name", """\
        devices:
          - {name: p1, host: 10.0.0.1}
          - {name: p1, host: 10.0.0.2}  #<
        """, "devices[1].name", "duplicate device name 'p1' (first at line 2)"),
    ("parent cycle", """\
        devices:
          - {name: a, host: 10.0.0.1, parent: b}  #<
          - {name: b, host: 10.0.0.2, parent: c}
          - {name: c, host: 10.0.0.3, parent: a}
        """, "devices[0].parent", "parent cycle: a -> b -> c -> a"),
    ("own parent", "devices:\n  - {name: a, host: 10.0.0.1, parent: a}  #<\n",
     "devices[0].parent", "parent cycle: a -> a"),
    ("missing host", "devices:\n  - name: p1  #<\n", "devices[0].host",
     "is required (IP address or DNS name)"),
    ("missing name", "devices:\n  - host: 10.0.0.1  #<\n", "devices[0].name", "is required"),
    ("bad device name", "devices:\n  - {name: 'front desk', host: 10.0.0.1}  #<\n",
     "devices[0].name", "device name 'front desk' may only use letters, digits, '.', '_' and "
     "'-' (start with a letter or digit; at most 128)"),
    ("host with port", "devices:\n  - {name: p1, host: '10.0.0.1:161'}  #<\n", "devices[0].host",
     "'10.0.0.1:161' is not a valid address (put the port under port:, IPv6 without brackets)"),
    ("bad IP address", "devices:\n  - {name: p1, host: 10.0.0.300}  #<\n", "devices[0].host",
     "'10.0.0.300' is not a valid IP address"),
    ("bad host name", "devices:\n  - {name: p1, host: 'printer one.local'}  #<\n",
     "devices[0].host", "'printer one.local' is not a valid host name or IP address"),
    ("unknown site", """\
        sites:
          hq: {timezone: UTC}
          branch: {}
        devices:
          - {name: p1, host: 10.0.0.1, site: brnch}  #<
          - {name: p2, host: 10.0.0.2, site: hq}
        """, "devices[0].site", "unknown site 'brnch'; did you mean 'branch'?"),
    ("unknown site, no close match", """\
        sites:
          hq: {timezone: UTC}
          branch: {}
        devices:
          - {name: p1, host: 10.0.0.1, site: attic}  #<
        """, "devices[0].site", "unknown site 'attic'; expected one of: hq, branch"),
    ("unknown time zone", "sites:\n  hq:\n    timezone: Europe/Berln  #<\n", "sites.hq.timezone",
     "unknown time zone 'Europe/Berln' (IANA names like Europe/Berlin); did you mean "
     "'Europe/Berlin'?"),
    ("bad time", """\
        sites:
          hq:
            business_hours:
              - {days: mon-fri, start: "25:00", end: "18:00"}  #<
        """, "sites.hq.business_hours[0].start",
     "expected a time like 08:00 or 17:30, got '25:00'"),
    ("bad day", """\
        sites:
          hq:
            business_hours:
              - days: tues-fri  #<
                start: "08:00"
                end: "18:00"
        """, "sites.hq.business_hours[0].days",
     "unknown day 'tues-fri'; use mon, tue, wed, thu, fri, sat, sun or a range like mon-fri"),
    ("bad day in a list", """\
        sites:
          hq:
            business_hours:
              - days: [mon, funday]  #<
                start: "08:00"
                end: "18:00"
        """, "sites.hq.business_hours[0].days",
     "unknown day 'funday'; use mon, tue, wed, thu, fri, sat, sun or a range like mon-fri"),
    ("business hours end before start", """\
        sites:
          hq:
            business_hours:
              - days: mon-fri
                start: "18:00"
                end: "08:00"  #<
        """, "sites.hq.business_hours[0].end",
     "must be after start (a window over midnight is two windows: 22:00-24:00 and 00:00-06:00)"),
    ("business hours window without end", """\
        devices:
          - name: p1
            host: 10.0.0.1
            business_hours:
              - {days: mon, start: "08:00"}  #<
        """, "devices[0].business_hours[0].end", "is required"),
    ("maintenance end before start", """\
        devices:
          - name: p1
            host: 10.0.0.1
            maintenance:
              - start: 2030-01-02 10:00
                end: 2030-01-02 09:00  #<
        """, "devices[0].maintenance[0].end", "must be after start"),
    ("maintenance bad timestamp", """\
        devices:
          - name: p1
            host: 10.0.0.1
            maintenance:
              - start: next tuesday  #<
                end: 2030-01-02 09:00
        """, "devices[0].maintenance[0].start", "expected a date and time like 2024-06-01 08:00 "
     "or 2024-06-01T08:00:00+02:00, got 'next tuesday'"),
    ("maintenance mixed offsets", """\
        devices:
          - name: p1
            host: 10.0.0.1
            maintenance:
              - start: 2030-01-02T08:00:00+01:00
                end: 2030-01-02 09:00  #<
        """, "devices[0].maintenance[0].end", "give a UTC offset on both start and end, or on "
     "neither (then the site's time zone applies)"),
    ("snmp version", "snmp_profiles:\n  p:\n    version: 2  #<\n", "snmp_profiles.p.version",
     "unknown SNMP version '2'; did you mean '2c'?"),
    ("v3 privacy without authentication", V3 + "    priv_protocol: aes\n    priv_key: abcdefgh\n",
     "snmp_profiles.v3", "SNMPv3 privacy needs authentication too"),
    ("v3 without user", "snmp_profiles:\n  v3:  #<\n    version: 3\n", "snmp_profiles.v3",
     "SNMPv3 needs a user"),
    ("v3 auth protocol without key", V3 + "    auth_protocol: sha\n", "snmp_profiles.v3",
     "SNMPv3 authentication needs an auth key"),
    ("v3 key too short", V3 + "    auth_protocol: SHA\n    auth_key: short\n", "snmp_profiles.v3",
     "SNMPv3 keys must be at least 8 characters (RFC 3414)"),
    ("v3 unknown auth protocol", V3 + "    auth_protocol: sha9  #<\n    auth_key: abcdefgh\n",
     "snmp_profiles.v3.auth_protocol", "unknown auth protocol 'sha9'; did you mean 'sha'?"),
    ("v3 key without protocol", V3 + "    auth_key: abcdefgh  #<\n", "snmp_profiles.v3.auth_key",
     "needs auth_protocol as well"),
    ("community on v3", V3 + "    community: public  #<\n", "snmp_profiles.v3.community",
     "applies to SNMP versions 1 and 2c only (version is 3)"),
    ("v3 key on v2c", "snmp_profiles:\n  p:\n    user: fw  #<\n", "snmp_profiles.p.user",
     "applies to SNMPv3 only (version is 2c); set version: 3"),
    ("unknown storage backend", "storage:\n  backend: influxdb1  #<\n", "storage.backend",
     "unknown storage backend 'influxdb1'; did you mean 'influxdb_v1'?"),
    ("v2 without token", "storage:  #<\n  backend: influxdb_v2\n  org: o\n  bucket: b\n",
     "storage.token", "is required for backend influxdb_v2"),
    ("v2 key on v1", "storage:\n  backend: influxdb_v1\n  bucket: b  #<\n", "storage.bucket",
     "applies to backend influxdb_v2 only (backend is influxdb_v1)"),
    ("storage key while off", "storage:\n  url: http://influx:8086/  #<\n", "storage.url",
     "storage is off (backend: none): set backend: influxdb_v1 or influxdb_v2, or remove this key"),
    ("username without password", "storage:  #<\n  backend: influxdb_v1\n  username: u\n",
     "storage.password", "username and password go together: give both or neither"),
    ("bad size", "storage:\n  backend: influxdb_v1\n  spool_max_bytes: lots  #<\n",
     "storage.spool_max_bytes", "expected bytes or a size like 256MiB, 1GB, got 'lots'"),
    ("bad listen", "collector:\n  listen: 8730  #<\n", "collector.listen",
     "expected HOST:PORT like 127.0.0.1:8730 or [::]:8730 (port 1-65535), got '8730'"),
    ("env secret not set", "collector:\n  api_token: {env: FW_TOKEN}  #<\n",
     "collector.api_token", "environment variable FW_TOKEN is not set"),
    ("secret with both sources", "collector:\n  api_token: {env: A, file: b}  #<\n",
     "collector.api_token", "a secret takes either env: or file:, not both"),
    ("secret with unknown source", "collector:\n  api_token: {vault: x}  #<\n",
     "collector.api_token.vault", "unknown key; expected one of: env, file"),
    ("secret of the wrong type", "collector:\n  api_token: [a, b]  #<\n", "collector.api_token",
     "expected a secret: text, {env: NAME} or {file: PATH}"),
    ("threshold without levels", """\
        devices:
          - name: p1
            host: 10.0.0.1
            thresholds:
              - metric: disk_used_percent  #<
        """, "devices[0].thresholds[0]", "needs warning, critical or both"),
    ("threshold levels in the wrong order", """\
        devices:
          - name: p1
            host: 10.0.0.1
            thresholds:
              - metric: toner_percent
                direction: below
                warning: 5  #<
                critical: 15
        """, "devices[0].thresholds[0].warning",
     "with direction below, warning (5) must not be below critical (15)"),
    ("threshold direction", """\
        devices:
          - name: p1
            host: 10.0.0.1
            thresholds:
              - {metric: x, warning: 1, direction: up}  #<
        """, "devices[0].thresholds[0].direction",
     "unknown direction 'up'; expected one of: above, below"),
    ("duplicate threshold metric", """\
        devices:
          - name: p1
            host: 10.0.0.1
            thresholds:
              - {metric: x, warning: 1}
              - {metric: x, critical: 2}  #<
        """, "devices[0].thresholds[1].metric", "x already has a threshold at line 5"),
    ("bad tag name", DEV.replace("}", ", tags: {cost centre: a}}  #<"),
     "devices[0].tags.cost centre",
     "a tag name may only use letters, digits and '_' (not starting with a digit)"),
    ("tag name Fleetwatch writes itself", """\
        devices:
          - name: p1
            host: 10.0.0.1
            tags:
              floor: "2"
              type: laser  #<
        """, "devices[0].tags.type", RESERVED_TAG_MESSAGE.format(name="type")),
    ("tag name InfluxDB refuses", "defaults:\n  printer:\n    tags: {time: x}  #<\n",
     "defaults.printer.tags.time", RESERVED_TAG_MESSAGE.format(name="time")),
    ("device tag named like the device tag",
     DEV.replace("}", ", tags: {device: x}}  #<"), "devices[0].tags.device",
     RESERVED_TAG_MESSAGE.format(name="device")),
    ("device tag named like a host line's tag (an agent host's disks)",
     DEV.replace("}", ", tags: {mountpoint: x}}  #<"), "devices[0].tags.mountpoint",
     RESERVED_TAG_MESSAGE.format(name="mountpoint")),
    ("unknown device time zone", """\
        devices:
          - name: p1
            host: 10.0.0.1
            timezone: Europe/Pariss  #<
        """, "devices[0].timezone", "unknown time zone 'Europe/Pariss' (IANA names like "
     "Europe/Berlin); did you mean 'Europe/Paris'?"),
    ("unknown time zone in defaults", "defaults:\n  copier:\n    timezone: CET+1  #<\n",
     "defaults.copier.timezone", "unknown time zone 'CET+1' (IANA names like Europe/Berlin); "
     "did you mean 'CET'?"),
    ("v1 token and username", """\
        storage:
          backend: influxdb_v1
          username: u
          password: p
          token: t  #<
        """, "storage.token", "give either token or username and password, not both"),
    ("v2 database", "storage:\n  backend: influxdb_v2\n  database: d  #<\n  org: o\n"
     "  bucket: b\n  token: t\n", "storage.database",
     "applies to backend influxdb_v1 only (backend is influxdb_v2)"),
    ("defaults for an unknown kind", "defaults:\n  printers: {}  #<\n", "defaults.printers",
     "unknown key; did you mean 'printer'?"),
    ("error inside defaults", """\
        defaults:
          printer:
            probes:
              - kind: snmp_printer
                interval: 0  #<
        """, "defaults.printer.probes[0].interval", "must be greater than 0, not 0"),
    ("device key not allowed in defaults", "defaults:\n  printer:\n    host: x  #<\n",
     "defaults.printer.host", "belongs to each device, not to defaults"),
    ("unknown key in defaults", "defaults:\n  printer:\n    probe: []  #<\n",
     "defaults.printer.probe", "unknown key; did you mean 'probes'?"),
    ("email without recipients", """\
        notifications:
          email:
            host: smtp.example.org
            to: []  #<
        """, "notifications.email.to", "needs at least one address"),
    ("bad email address", """\
        notifications:
          email:
            host: smtp.example.org
            to: [it-desk]  #<
        """, "notifications.email.to[0]",
     "expected an e-mail address like it@example.org, got 'it-desk'"),
    ("webhook without url", "notifications:\n  webhook:  #<\n    retries: 2\n",
     "notifications.webhook.url", "is required"),
    ("merge of a non-mapping", "devices:\n  - <<: [1]  #<\n    name: p1\n    host: 10.0.0.1\n",
     "devices[0]", "<< must merge a mapping or a list of mappings"),
    ("top level is a list", "- devices  #<\n", "",
     "expected a mapping (key: value lines), got a list"),
    ("unsupported tag", "collector:\n  listen: !env LISTEN  #<\n", "collector.listen",
     "unsupported YAML tag !env"),
]


def marked_line(text: str) -> int:
    lines = textwrap.dedent(text).splitlines()
    marked = [i + 1 for i, line in enumerate(lines) if MARK in line]
    return marked[-1] if marked else 1


@pytest.mark.parametrize(("text", "key", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_each_error_names_file_line_and_key(tmp_path: Path, text: str, key: str,
                                            message: str) -> None:
    err = errors_of(tmp_path, text)
    file = str(tmp_path / "fleet.yaml")
    line = marked_line(text)
    expected = f"{file}:{line}: {key}: {message}" if key else f"{file}:{line}: {message}"
    assert [str(e) for e in err.errors] == [expected]
    assert str(err) == expected
    assert (err.where, err.key, err.message) == (f"{file}:{line}", key, message)


def test_yaml_syntax_error_has_file_and_line(tmp_path: Path) -> None:
    err = errors_of(tmp_path, "devices:\n  - name: p1\n    host: [10.0.0.1\n  - name: p2\n")
    assert len(err.errors) == 1
    assert str(err).startswith(f"{tmp_path / 'fleet.yaml'}:4: YAML syntax error: ")


def test_yaml_syntax_error_does_not_quote_the_line(tmp_path: Path) -> None:
    err = errors_of(tmp_path, 'snmp_profiles:\n  p:\n    community: "hunter2-not-closed\n')
    assert "hunter2" not in str(err)
    assert str(err).startswith(f"{tmp_path / 'fleet.yaml'}:4: YAML syntax error: ")


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty (see config/example.yaml)"),
    ("# only a comment\n", "the file is empty (see config/example.yaml)"),
    ("~\n", "the file has no settings (see config/example.yaml)"),
])
def test_empty_file(tmp_path: Path, text: str, message: str) -> None:
    assert str(errors_of(tmp_path, text)) == f"{tmp_path / 'fleet.yaml'}:1: {message}"


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found$"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"devices: []\n# caf\xe9\n")
    with pytest.raises(ConfigError, match=r"latin1\.yaml: not UTF-8 text \(byte 17\)$"):
        load_config(bad)


def test_all_errors_reported_together_in_line_order(tmp_path: Path) -> None:
    text = """\
        devices:
          - name: p1
            host: 10.0.0.1
            kind: Printer
            probes:
              - kind: ping
                interval: -1
          - name: p1
            host: 10.0.0.2
            parent: nobody
        collector:
          jitter: 2
        """
    err = errors_of(tmp_path, text)
    file = str(tmp_path / "fleet.yaml")
    lines = [
        f"{file}:4: devices[0].kind: unknown device kind 'Printer'; did you mean 'printer'?",
        f"{file}:7: devices[0].probes[0].interval: must be greater than 0, not -1",
        f"{file}:8: devices[1].name: duplicate device name 'p1' (first at line 2)",
        f"{file}:10: devices[1].parent: unknown parent device 'nobody'",
        f"{file}:12: collector.jitter: must be between 0 and 1, not 2",
    ]
    assert [str(e) for e in err.errors] == lines
    assert str(err) == "\n".join([f"5 errors in {file}", *lines])
    assert isinstance(err, ConfigError)


def test_a_cycle_is_reported_once(tmp_path: Path) -> None:
    err = errors_of(tmp_path, """\
        devices:
          - {name: a, host: 10.0.0.1, parent: b}
          - {name: b, host: 10.0.0.2, parent: a}
          - {name: c, host: 10.0.0.3, parent: a}
        """)
    assert [e.key for e in err.errors] == ["devices[0].parent"]
    assert err.message == "parent cycle: a -> b -> a"


# -- values -------------------------------------------------------------------------------------


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> object:
    return load_config(write(tmp_path, text), env=env or {})


def test_example_file_loads() -> None:
    config = load_config(EXAMPLE, env={})
    assert config.path == EXAMPLE.resolve()
    assert len(config.devices) == 7 and set(config.sites) == {"hq", "branch"}
    home = config.device("home-office-printer-1")
    assert home is not None and home.site is None and home.schedule.timezone == "Europe/Lisbon"
    assert config.storage.backend == "influxdb_v1"
    assert config.storage.spool_max_bytes == 256 * 2**20
    assert config.collector.sleep_grace == 300.0
    assert config.collector.api_token == Secret("example-api-token-change-me")
    assert config.snmp_profiles["office-v3"].credentials().priv_key == Secret("example-priv-key")
    copier = config.device("hq-copier-1")
    assert copier is not None and copier.snmp.name == "office-v3" and copier.parent == "hq-switch-1"
    assert config.notifications.email is not None
    assert config.notifications.email.sender == "fleetwatch@example.org"
    assert config.notifications.webhook is not None


def test_every_documented_key_is_in_the_example() -> None:
    """Each key of docs/configuration.md's tables (rows "| `key` |") shows in the example."""
    documented = re.findall(r"^\| `(\w+)` \|", DOCS.read_text(), flags=re.MULTILINE)
    assert len(set(documented)) >= 60
    example = EXAMPLE.read_text()
    missing = [k for k in documented if not re.search(rf"(?<![\w-]){k}:", example)]
    assert missing == []


def test_builtin_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """\
        devices:
          - {name: p1, host: 10.0.0.1}
          - {name: pc1, host: pc1.example.org, kind: workstation}
        """), env={})
    p1, pc1 = config.devices
    assert p1.kind == "printer" and p1.port == 161 and p1.snmp == DEFAULT_SNMP_PROFILE
    assert p1.probes == (probe_settings("snmp_printer"),)
    assert pc1.probes == (probe_settings("ping"),)
    assert p1.schedule.timezone == "UTC" and p1.schedule.business_hours == ()
    assert config.storage.backend == "none" and config.tickets.debounce_polls == 2


def test_defaults_merge_under_devices(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """\
        snmp_profiles:
          default: {community: office}
          other: {version: 1, community: old}
        sites:
          hq:
            timezone: Europe/Berlin
            business_hours: [{days: mon-fri, start: 8:00, end: "24:00"}]
            maintenance: [{start: 2030-01-01 00:00, end: 2030-01-02 00:00, reason: new year}]
        defaults:
          printer:
            site: hq
            tags: {team: it, floor: "1"}
            probes: [{kind: snmp_printer, interval: 5m, full_every: 3}]
            thresholds:
              - {metric: black, warning: 20, direction: below}
              - {metric: cyan, warning: 20, direction: below}
            maintenance: [{start: 2030-02-01T10:00:00Z, end: 2030-02-01T11:00:00Z}]
        devices:
          - name: p1
            host: 10.0.0.1
          - name: p2
            host: 10.0.0.2
            snmp: other
            tags: {floor: "2"}
            probes: [{kind: ping}]
            thresholds: [{metric: black, critical: 1, direction: below}]
            business_hours: [{days: [sat, sun], start: "10:00", end: "12:00"}]
            maintenance: [{start: 2030-03-01 10:00, end: 2030-03-01 12:00}]
        """), env={})
    p1, p2 = config.devices
    berlin = ZoneInfo("Europe/Berlin")
    assert p1.snmp.name == "default" and p1.snmp.community == Secret("office")
    assert p2.snmp.name == "other" and p2.snmp.version == "1"
    assert dict(p1.tags) == {"team": "it", "floor": "1"}
    assert dict(p2.tags) == {"team": "it", "floor": "2"}
    assert p1.probes == (probe_settings("snmp_printer", interval=300.0, full_every=3),)
    assert p2.probes == (probe_settings("ping"),)
    assert p1.thresholds == (Threshold("black", warning=20, direction="below"),
                             Threshold("cyan", warning=20, direction="below"))
    assert p2.thresholds == (Threshold("black", critical=1, direction="below"),
                             Threshold("cyan", warning=20, direction="below"))
    assert p1.site == p2.site == "hq" and p1.schedule.timezone == "Europe/Berlin"
    assert p1.schedule.business_hours == (
        WeeklyWindow(frozenset(range(5)), dt.time(8, 0), dt.time.max),)
    assert p2.schedule.business_hours == (
        WeeklyWindow(frozenset({5, 6}), dt.time(10), dt.time(12)),)
    assert [(w.start, w.reason) for w in p1.schedule.maintenance] == [
        (dt.datetime(2030, 1, 1, tzinfo=berlin), "new year"),
        (dt.datetime(2030, 2, 1, 10, tzinfo=dt.UTC), ""),
    ]
    assert [w.start for w in p2.schedule.maintenance] == [
        dt.datetime(2030, 1, 1, tzinfo=berlin), dt.datetime(2030, 2, 1, 10, tzinfo=dt.UTC),
        dt.datetime(2030, 3, 1, 10, tzinfo=berlin)]
    assert config.sites["hq"].maintenance[0].end == dt.datetime(2030, 1, 2, tzinfo=berlin)


def test_device_time_zone(tmp_path: Path) -> None:
    """timezone: device > defaults.<kind> > site > UTC; naive maintenance times of the device
    and of its defaults take that zone, the site's windows keep the site's."""
    config = load_config(write(tmp_path, """\
        sites:
          hq:
            timezone: Europe/Berlin
            business_hours: [{days: mon-fri, start: "08:00", end: "18:00"}]
            maintenance: [{start: 2030-01-01 00:00, end: 2030-01-02 00:00}]
        defaults:
          copier: {timezone: America/New_York}
        devices:
          - name: p1
            host: 10.0.0.1
            site: hq
            timezone: Asia/Tokyo
            maintenance: [{start: 2030-03-01 10:00, end: 2030-03-01 12:00}]
          - {name: p2, host: 10.0.0.2, site: hq}
          - {name: p3, host: 10.0.0.3, timezone: UTC, site: hq}
          - {name: c1, host: 10.0.0.4, kind: copier, site: hq}
          - {name: c2, host: 10.0.0.5, kind: copier, timezone: Europe/Paris}
          - {name: p4, host: 10.0.0.6}
        """), env={})
    zones = {d.name: (d.timezone, d.schedule.timezone) for d in config.devices}
    assert zones == {"p1": ("Asia/Tokyo", "Asia/Tokyo"), "p2": (None, "Europe/Berlin"),
                     "p3": ("UTC", "UTC"), "c1": ("America/New_York", "America/New_York"),
                     "c2": ("Europe/Paris", "Europe/Paris"), "p4": (None, "UTC")}
    p1 = config.devices[0]
    assert p1.schedule.business_hours == config.sites["hq"].business_hours
    assert [w.start for w in p1.schedule.maintenance] == [
        dt.datetime(2030, 1, 1, tzinfo=ZoneInfo("Europe/Berlin")),
        dt.datetime(2030, 3, 1, 10, tzinfo=ZoneInfo("Asia/Tokyo"))]


def test_reserved_tag_names_are_documented() -> None:
    row = next(ln for ln in DOCS.read_text().splitlines() if ln.startswith("| `tags` |"))
    assert set(re.findall(r"`(\w+)`", row.split("Not allowed:", 1)[1])) == {*RESERVED_TAGS, "time"}


def test_influxdb_v1_token(tmp_path: Path) -> None:
    """The v1 API of InfluxDB 2.x/3.x takes a token (sent as ``Authorization: Token``)."""
    config = load_config(write(tmp_path, """\
        storage: {backend: influxdb_v1, database: fleet, token: {env: INFLUX_TOKEN}}
        """), env={"INFLUX_TOKEN": "tok-123"})
    assert config.storage.token == Secret("tok-123") and config.storage.username is None


@pytest.mark.parametrize(("written", "seconds"), [
    ("30", 30.0), ("2.5", 2.5), ('"30"', 30.0), ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0),
    ("1h30m", 5400.0), ("250ms", 0.25), ("1d", 86400.0), ("1.5m", 90.0),
])
def test_durations(tmp_path: Path, written: str, seconds: float) -> None:
    config = load_config(write(tmp_path, f"tickets:\n  flap_window: {written}\n"), env={})
    assert config.tickets.flap_window == seconds


@pytest.mark.parametrize(("days", "expected"), [
    ("mon-fri", {0, 1, 2, 3, 4}), ("sat-sun", {5, 6}), ("fri-mon", {4, 5, 6, 0}),
    ('"mon,wed,fri"', {0, 2, 4}), ("[tue, thu]", {1, 3}), ("[Monday, sat-sun]", {0, 5, 6}),
])
def test_days(tmp_path: Path, days: str, expected: set[int]) -> None:
    config = load_config(write(tmp_path, f"""\
        sites:
          hq:
            business_hours: [{{days: {days}, start: "08:00", end: "18:00"}}]
        """), env={})
    assert config.sites["hq"].business_hours[0].days == frozenset(expected)


def test_values_as_written(tmp_path: Path) -> None:
    """Text fields keep what was typed, so YAML 1.1 surprises (yes, 010, 8:00) do not bite."""
    config = load_config(write(tmp_path, """\
        snmp_profiles:
          p: {community: 0123, version: 1}
        collector: {listen: "[::1]:9000", state_dir: state, max_concurrency: 1_000}
        storage: {backend: influxdb_v1, spool_max_bytes: 1GB, create_database: no}
        devices:
          - {name: p1, host: 10.0.0.1, location: yes, snmp: p}
        """), env={})
    assert config.snmp_profiles["p"].community == Secret("0123")
    assert config.devices[0].location == "yes"
    assert (config.collector.listen_host, config.collector.listen_port) == ("::1", 9000)
    assert config.collector.state_dir == tmp_path / "state"
    assert config.collector.max_concurrency == 1000
    assert config.storage.spool_max_bytes == 10**9 and config.storage.create_database is False


def test_yaml_anchors_and_merge_keys(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """\
        devices:
          - &base {name: p1, host: 10.0.0.1, location: hall}
          - <<: *base
            name: p2
        """), env={})
    assert [(d.name, d.host, d.location) for d in config.devices] == [
        ("p1", "10.0.0.1", "hall"), ("p2", "10.0.0.1", "hall")]


def test_influxdb_v2(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """\
        storage:
          backend: influxdb_v2
          url: https://influx.example.org
          org: office
          bucket: fleet
          token: {env: INFLUX_TOKEN}
        """), env={"INFLUX_TOKEN": "tok-123"})
    assert config.storage.token == Secret("tok-123") and config.storage.bucket == "fleet"


# -- secrets ------------------------------------------------------------------------------------

SECRET_VALUES = ("s3cret-community", "s3cret-authkey", "s3cret-privkey", "s3cret-influx",
                 "s3cret-apitoken", "s3cret-smtp")


def test_secrets_from_env_and_file_never_print(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "priv").write_text("s3cret-privkey\n")
    (tmp_path / "smtp").write_text("s3cret-smtp\r\n")
    config = load_config(write(tmp_path, """\
        collector: {api_token: s3cret-apitoken}
        storage: {backend: influxdb_v1, username: u, password: {env: INFLUX_PW}}
        snmp_profiles:
          c: {community: {env: COMMUNITY}}
          v3:
            version: 3
            user: fw
            auth_protocol: sha256
            auth_key: {env: AUTH}
            priv_protocol: aes256
            priv_key: {file: keys/priv}
        notifications:
          email: {host: mail, to: [a@b.c], username: u, password: {file: smtp}}
        devices:
          - {name: p1, host: 10.0.0.1, snmp: c}
          - {name: p2, host: 10.0.0.2, snmp: v3}
        """), env={"COMMUNITY": "s3cret-community", "AUTH": "s3cret-authkey",
                   "INFLUX_PW": "s3cret-influx"})
    assert config.devices[0].snmp.community.reveal() == "s3cret-community"
    v3 = config.devices[1].snmp_target().credentials
    assert v3.auth_key == Secret("s3cret-authkey") and v3.priv_key == Secret("s3cret-privkey")
    assert v3.auth_protocol == "sha256" and v3.priv_protocol == "aes256"
    assert config.storage.password == Secret("s3cret-influx")
    assert config.notifications.email is not None
    assert config.notifications.email.password == Secret("s3cret-smtp")
    assert config.collector.api_token == Secret("s3cret-apitoken")
    shown = repr(config) + str(config)
    for value in SECRET_VALUES:
        assert value not in shown


def test_secrets_from_environ_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FW_TEST_TOKEN", "from-environ")
    config = load_config(write(tmp_path, "collector: {api_token: {env: FW_TEST_TOKEN}}\n"))
    assert config.collector.api_token == Secret("from-environ")


def test_secret_errors_never_quote_secrets(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")
    err = errors_of(tmp_path, """\
        snmp_profiles:
          short:
            version: 3
            user: fw
            auth_protocol: md5
            auth_key: s3cret
          community-on-v3:
            version: 3
            user: fw
            community: s3cret-community
          v2:
            community: s3cret-community
            priv_key: s3cret-privkey
        collector:
          api_token: {file: missing-token}
        storage:
          backend: influxdb_v1
          username: u
          password: {file: empty}
        notifications:
          email: {host: mail, to: [a@b.c], username: u, password: {env: EMPTY}}
        """, env={"EMPTY": ""})
    file = tmp_path / "fleet.yaml"
    assert [str(e) for e in err.errors] == [
        f"{file}:2: snmp_profiles.short: SNMPv3 keys must be at least 8 characters (RFC 3414)",
        f"{file}:10: snmp_profiles.community-on-v3.community: applies to SNMP versions 1 and 2c "
        "only (version is 3)",
        f"{file}:13: snmp_profiles.v2.priv_key: applies to SNMPv3 only (version is 2c); "
        "set version: 3",
        f"{file}:15: collector.api_token: secret file {tmp_path / 'missing-token'} not found",
        f"{file}:19: storage.password: secret file {tmp_path / 'empty'} is empty",
        f"{file}:21: notifications.email.password: environment variable EMPTY is empty",
    ]
    assert "s3cret" not in str(err) and "s3cret" not in repr(err)


# -- the command line ---------------------------------------------------------------------------


def fleetwatch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    run_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "collector.cli", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env=run_env)


def test_cli_config_check_ok() -> None:
    proc = fleetwatch("config", "check", str(EXAMPLE))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "config OK: 7 devices, 2 sites, 2 SNMP profiles\n"
    assert proc.stderr == ""


def test_cli_config_check_reports_every_error(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        snmp_profiles:
          v3: {version: 3, user: fw, auth_protocol: sha, auth_key: {env: FW_AUTH}}
        devices:
          - {name: p1, host: 10.0.0.1, snmp: v3, kind: laptop}
          - name: p2
        """)
    proc = fleetwatch("config", "check", str(path), env={"FW_AUTH": "s3cret-but-short"[:6]})
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"{path}:2: snmp_profiles.v3: SNMPv3 keys must be at least 8 characters (RFC 3414)",
        f"{path}:4: devices[0].kind: unknown device kind 'laptop'; expected one of: printer, "
        "copier, workstation, server, network",
        f"{path}:5: devices[1].host: is required (IP address or DNS name)",
        "config invalid: 3 errors",
    ]
    assert "s3cret" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("text", "first"), [
    (None, "{path}: file not found"),
    ("devices: [\n", "{path}:2: YAML syntax error: "),
    ("devices:\n  - {name: p1, host: 10.0.0.1, port: -1}\n",
     "{path}:2: devices[0].port: must be between 1 and 65535, not -1"),
])
def test_cli_config_check_single_error(tmp_path: Path, text: str | None, first: str) -> None:
    path = tmp_path / "bad.yaml"
    if text is not None:
        path.write_text(text)
    proc = fleetwatch("config", "check", str(path))
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(first.format(path=path)), proc.stderr
    assert lines[1:] == ["config invalid: 1 error"]
    assert "Traceback" not in proc.stderr


def test_cli_config_needs_an_action() -> None:
    proc = fleetwatch("config")
    assert proc.returncode == 2 and "ACTION" in proc.stderr and "Traceback" not in proc.stderr


def test_device_community_overrides_profile(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
        snmp_profiles:
          office: {community: shared}
          secure: {version: "3", user: u, auth_protocol: sha, auth_key: authkey-123}
        devices:
          - {name: p1, host: 10.0.0.1, snmp: office, community: {env: P1_COMMUNITY}}
          - {name: p2, host: 10.0.0.2, snmp: office}
    """), env={"P1_COMMUNITY": "printer-one"})
    p1, p2 = config.devices
    assert p1.snmp.community == Secret("printer-one")
    assert p2.snmp.community == Secret("shared")
    assert p1.snmp_target().credentials.community.reveal() == "printer-one"
    assert "printer-one" not in repr(config)
    errors = errors_of(tmp_path, """
        snmp_profiles:
          secure: {version: "3", user: u, auth_protocol: sha, auth_key: authkey-123}
        devices:
          - {name: p1, host: 10.0.0.1, snmp: secure, community: nope}
    """)
    assert "devices[0].community: profile 'secure' is SNMPv3, which has no community" in str(errors)


# -- the pydantic path: lines, keys, models built in code ------------------------------------------


def test_block_style_errors_point_at_the_value_or_the_key(tmp_path: Path) -> None:
    err = errors_of(tmp_path, """\
        devices:
          - name: p1
            host:
              10.0.0.300
        collector:
          colour:
            red
        snmp_profiles:
          'bad name': {}
        """)
    file = tmp_path / "fleet.yaml"
    assert [str(e) for e in err.errors] == [
        f"{file}:4: devices[0].host: '10.0.0.300' is not a valid IP address",
        f"{file}:6: collector.colour: unknown key; expected one of: listen, state_dir, "
        "max_concurrency, jitter, sleep_grace, api_token, allowed_hosts, max_event_streams",
        f"{file}:9: snmp_profiles.bad name: profile name 'bad name' may only use letters, "
        "digits, '.', '_' and '-' (start with a letter or digit; at most 128)",
    ]


def test_a_recursive_alias_is_an_error(tmp_path: Path) -> None:
    err = errors_of(tmp_path, "devices: &x [*x]\n")
    assert [e.message for e in err.errors] == ["a YAML alias may not contain itself"]


def test_sections_without_a_value_are_empty(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "collector:\nstorage:\nsites:\n  hq:\ndevices:\n"
                               "tickets:\nsnmp_profiles:\n  p:\n"), env={})
    assert config.devices == () and config.sites["hq"].timezone == "UTC"
    assert config.snmp_profiles["p"].community == Secret("public")
    err = errors_of(tmp_path, "notifications:\n  webhook:  #<\n")
    assert str(err).endswith("fleet.yaml:2: notifications.webhook.url: is required")


def test_models_check_values_from_code_too() -> None:
    with pytest.raises(ValidationError, match="needs warning, critical or both"):
        Threshold("black")
    with pytest.raises(ValidationError):
        DeviceConfig(name="p1", host="10.0.0.1", port=0)
    with pytest.raises(ValidationError) as info:
        StorageConfig(password=Secret("s3cret-pw"), batch_size=0)  # type: ignore[arg-type]
    assert "s3cret" not in str(info.value) and "s3cret" not in repr(info.value)
    settings = CollectorSettings(listen_port=9000)  # code may give the parts of listen
    assert settings.listen == Listen("127.0.0.1", 9000) and settings.listen_host == "127.0.0.1"
    assert replace(settings, jitter=0.5).listen_port == 9000


def test_probe_timeout_is_compared_even_when_another_key_is_wrong(tmp_path: Path) -> None:
    err = errors_of(tmp_path, """\
        devices:
          - name: p1
            host: 10.0.0.1
            probes:
              - kind: http
                expect_status: 700
                interval: 1m
                timeout: 2m
        """)
    file = tmp_path / "fleet.yaml"
    assert [str(e) for e in err.errors] == [
        f"{file}:6: devices[0].probes[0].expect_status: must be between 100 and 599, not 700",
        f"{file}:8: devices[0].probes[0].timeout: timeout (120 s) must be shorter than "
        "interval (60 s)",
    ]
