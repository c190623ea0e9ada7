"""The state directory of the commands that open the collector's files directly (``users``,
``supplies stock``): ``--state-dir DIR`` or the ``collector.state_dir`` of ``--config FILE``.
Not a command itself.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from collector.config import load_config


def state_dir(args: argparse.Namespace, otherwise: Callable[[], Path]) -> Path:
    """``--state-dir``, else the ``collector.state_dir`` of ``--config`` (loaded and validated:
    a bad file raises ConfigError), else ``otherwise()`` (a default, or it raises)."""
    if args.state_dir is not None:
        return Path(args.state_dir)
    if args.config is not None:
        return load_config(args.config).collector.state_dir
    return otherwise()
