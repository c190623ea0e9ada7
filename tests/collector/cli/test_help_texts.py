"""``--help`` as a technician reads it (found walking the demo, issue 13 acceptance)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.cli import COMMANDS, main

HELPS = [[name, "--help"] for name in COMMANDS] + [
    ["tickets", "list", "--help"], ["supplies", "stock", "add", "--help"],
    ["users", "token", "--help"], ["config", "check", "--help"]]


@pytest.mark.parametrize("argv", HELPS, ids=" ".join)
def test_help_has_no_sphinx_markup(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # `fleetwatch tickets --help` began "``fleetwatch tickets list|show|...``: work the ticket"
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: fleetwatch")
    assert "``" not in out and ":func:" not in out and ":mod:" not in out


def test_supplies_stock_takes_dash_c_like_users(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # `fleetwatch supplies stock list -c fleet.yaml` was "unrecognized arguments: -c"
    config = tmp_path / "fleet.yaml"
    config.write_text(f"collector:\n  state_dir: {tmp_path / 'state'}\ndevices: []\n")
    assert main(["supplies", "stock", "add", "CF258A", "3", "-c", str(config)]) == 0
    assert main(["supplies", "stock", "list", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "CF258A: 3" in out and out.splitlines()[-1].split() == ["CF258A", "3"]
