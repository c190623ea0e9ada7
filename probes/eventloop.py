"""Which event loop runs the collector, the demo and ``fleetwatch check``.

uvloop (libuv's loop for asyncio, the ``fast`` extra: ``pip install 'fleetwatch[fast]'``) cut
the CPU of a poll in the collector's mix by about 15 % in bench/fleet.py (docs/benchmarks.md,
3 December 2026). It is optional: everything works on asyncio's own loop, and the tests run
both. ``FLEETWATCH_EVENT_LOOP`` chooses:

- ``auto`` (the default): uvloop when it is installed, else asyncio;
- ``asyncio``: asyncio's loop even when uvloop is installed;
- ``uvloop``: uvloop, and an error when it is not installed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from types import ModuleType
from typing import Any, TypeVar

from probes.errors import FleetwatchError

T = TypeVar("T")
CHOICES = ("auto", "asyncio", "uvloop")
ENV = "FLEETWATCH_EVENT_LOOP"


class EventLoopError(FleetwatchError):
    """``FLEETWATCH_EVENT_LOOP`` names a loop that cannot be used."""


try:  # the optional ``fast`` extra
    import uvloop as _uvloop_module
except ImportError:  # pragma: no cover - the test extra installs it
    _uvloop_module = None  # type: ignore[assignment]


def _uvloop() -> ModuleType | None:
    return _uvloop_module


def chosen(env: str | None = None) -> str:
    """The loop :func:`run` will use: "uvloop" or "asyncio"."""
    want = (os.environ.get(ENV, "auto") if env is None else env).strip().lower() or "auto"
    if want not in CHOICES:
        raise EventLoopError(f"{ENV}={want!r}: choose one of {', '.join(CHOICES)}")
    if want == "asyncio":
        return "asyncio"
    if _uvloop() is None:
        if want == "uvloop":
            raise EventLoopError(f"{ENV}=uvloop but uvloop is not installed "
                                 "(pip install 'fleetwatch[fast]')")
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the chosen loop."""
    try:
        name = chosen()
    except EventLoopError:
        main.close()
        raise
    if name == "uvloop":
        uvloop = _uvloop()
        assert uvloop is not None
        runner: Callable[[Coroutine[Any, Any, T]], T] = uvloop.run
        return runner(main)
    return asyncio.run(main)


def loop_name() -> str:
    """The running loop's kind, for the start-up log line: "uvloop" or "asyncio"."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") \
        else "asyncio"
