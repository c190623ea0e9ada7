"""What every sub-command shares: the argument parser class and the exit codes."""

from __future__ import annotations

import argparse
from typing import NoReturn

# Nagios plugin convention (``check``).
EXIT_CODES = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3, "unreachable": 3}


class Parser(argparse.ArgumentParser):
    """argparse's parser; one whose ``nagios_errors`` is set (``check``) reports a bad argument as
    one line and exit 3, Nagios UNKNOWN: argparse's exit 2 with a usage block would read as
    CRITICAL. Other sub-commands keep argparse's behaviour."""

    nagios_errors = False

    def error(self, message: str) -> NoReturn:
        if self.nagios_errors:
            self.exit(EXIT_CODES["unknown"], f"{self.prog}: {message}\n")
        super().error(message)
