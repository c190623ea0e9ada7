"""``fleetwatch config schema``: a valid JSON Schema (draft 2020-12) that accepts the shipped
configs as an editor reads them (YAML 1.2) and refuses wrong types and unknown keys."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from collector.config.file_schema import config_schema

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = [ROOT / "config" / "example.yaml", ROOT / "config" / "demo.yaml"]


class _Yaml12Loader(yaml.SafeLoader):
    """Scalars typed as YAML 1.2's core schema types them (as yaml-language-server does):
    no timestamps, no yes/no booleans, no sexagesimal numbers."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag.rsplit(":", 1)[-1] not in ("bool", "int", "float", "timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?$"), list("-+0123456789."))


def yaml12(text: str) -> Any:
    return yaml.load(text, Loader=_Yaml12Loader)  # a SafeLoader subclass: no objects


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)  # raises SchemaError when invalid
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate(validator: jsonschema.Draft202012Validator,
                                  path: Path) -> None:
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(yaml12(path.read_text()))]
    assert errors == []


@pytest.mark.parametrize(("text", "valid"), [
    ("devices: [{name: p1, host: 10.0.0.1}]", True),
    ("devices: [{name: p1, host: 10.0.0.1, probes: [{kind: ping, interval: 5m}]}]", True),
    ("snmp_profiles: {v3: {version: 3, user: u}}", True),
    ("collector: {max_concurrency: lots}", False),  # a wrong type
    ("collector: {max_concurrency: 0}", False),  # below the bound
    ("collector: {jitter: 1.5}", False),
    ("collector: {colour: red}", False),  # an unknown key
    ("devices: {p1: 10.0.0.1}", False),  # a mapping for a list
    ("devices: [{host: 10.0.0.1}]", False),  # a required key missing
    ("devices: [{name: p1, host: 10.0.0.1, probes: [{kind: pnig}]}]", False),
    ("devices: [{name: p1, host: 10.0.0.1, probes: [{kind: ping, url: 'http://x/'}]}]", False),
    ("devices: [{name: p1, host: 10.0.0.1, probes: [{kind: tcp}]}]", False),
    ("devices: [{name: p1, host: 10.0.0.1, probes: [{kind: ping, interval: soon}]}]", False),
    ("storage: {backend: influxdb1}", False),
    ("collector: {api_token: {vault: x}}", False),
    ("snmp_profiles: {office: {name: office}}", False),  # set by the loader, not a key
    ("notifications: {email: {host: mail, from: a@b.c}}", False),  # "to" is required
])
def test_schema_accepts_and_refuses(validator: jsonschema.Draft202012Validator, text: str,
                                    valid: bool) -> None:
    assert validator.is_valid(yaml12(text)) is valid


def test_secret_defaults_are_masked() -> None:
    text = json.dumps(config_schema())
    profile = config_schema()["$defs"]["SnmpProfile"]["properties"]
    assert profile["community"]["default"] == "<secret>"
    assert '"public"' not in text


def test_cli_prints_the_schema() -> None:
    proc = subprocess.run([sys.executable, "-m", "collector.cli", "config", "schema"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == config_schema()
