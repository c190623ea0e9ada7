"""The sections other rooms add to the config file (docs/configuration.md "Adding a config
key"): ``supplies:`` is read, validated with file/line/key errors and in the JSON Schema."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from collector.config.file_schema import config_schema
from collector.config.loader import ConfigErrors, load_config
from collector.supplies.settings import SuppliesSettings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_supplies_defaults_and_overrides(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "devices: []\n")).supplies == SuppliesSettings()
    config = load_config(write(tmp_path, """\
        supplies:
          reorder: {lead_time_days: 10}
          parts:
            CF258A: {lead_time_days: 14}
        devices: []
        """))
    assert config.supplies.reorder.lead_time_days == 10
    assert config.supplies.parts["CF258A"].lead_time_days == 14


def test_supplies_errors_name_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        devices: []
        supplies:
          reorder:
            lead_time_days: -1
          colour: pink
        """)
    with pytest.raises(ConfigErrors) as err:
        load_config(path)
    text = str(err.value)
    assert f"{path}:4: supplies.reorder.lead_time_days:" in text
    assert f"{path}:5: supplies.colour:" in text


def test_supplies_in_the_json_schema() -> None:
    schema = config_schema()
    assert "supplies" in schema["properties"]
