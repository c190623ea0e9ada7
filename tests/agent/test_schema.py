"""docs/agent-report.schema.json is generated from agent.schema and kept current."""

from __future__ import annotations

from pathlib import Path

from agent.schema import json_schema

ROOT = Path(__file__).resolve().parents[2]


def test_json_schema_in_docs_is_current() -> None:
    doc = (ROOT / "docs" / "agent-report.schema.json").read_text()
    assert doc == json_schema(), ("docs/agent-report.schema.json is stale: run "
                                  "`python -m agent.schema > docs/agent-report.schema.json`")
