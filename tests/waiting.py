"""Waiting for a condition, not for a fixed time: the one helper tests use instead of sleeps.

``wait_until(predicate)`` / ``await async_wait_until(predicate)`` call ``predicate`` every
``interval`` seconds until it returns something truthy, and return that value; after
``timeout`` seconds they raise ``TimeoutError`` naming what was awaited and the last value seen.
The predicate may be a plain function or (async variant) a coroutine function. A fixed sleep
stays only where letting time pass is the thing under test (a debounce, a retry backoff, "no
second ticket after more polls").
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def _what(predicate: Callable[..., object], message: str | None) -> str:
    return message or getattr(predicate, "__name__", repr(predicate))


def wait_until(predicate: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.05,
               message: str | None = None) -> T:
    """``predicate()``'s first truthy value, polled every ``interval`` s for ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not within {timeout:g} s: {_what(predicate, message)} "
                               f"(last: {value!r})")
        time.sleep(interval)


async def async_wait_until(predicate: Callable[[], T | Awaitable[T]], *, timeout: float = 10.0,
                           interval: float = 0.05, message: str | None = None) -> T:
    """As :func:`wait_until`, without blocking the loop; ``predicate`` may be async."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if loop.time() >= deadline:
            raise TimeoutError(f"not within {timeout:g} s: {_what(predicate, message)} "
                               f"(last: {value!r})")
        await asyncio.sleep(interval)
