"""What every sub-command shares: the argument parser class and the exit codes."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

# Nagios plugin convention (``check``).
EXIT_CODES = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3, "unreachable": 3}


class Parser(argparse.ArgumentParser):
    """argparse's parser; one whose ``nagios_errors`` is set (``check``) reports a bad argument as
    one line and exit 3, Nagios UNKNOWN: argparse's exit 2 with a usage block would read as
    CRITICAL. Other sub-commands keep argparse's behaviour."""

    nagios_errors = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # the sub-commands' descriptions are their module docstrings, written for Sphinx:
        # ``--help`` showed the ``double backticks`` of inline code to the technician
        for key in ("description", "epilog"):
            if isinstance(kwargs.get(key), str):
                kwargs[key] = kwargs[key].replace("``", "")
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        if self.nagios_errors:
            self.exit(EXIT_CODES["unknown"], f"{self.prog}: {message}\n")
        super().error(message)
