"""Failed-login counting: at most ``limit`` failures per key within ``window`` seconds.

The login handler counts each failure under the user name and under the client address, so
that neither guessing one account's password nor trying many accounts from one place goes far.
In memory: a restart forgets the counts, which costs an attacker a restart they cannot cause.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class LoginLimiter:
    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        cutoff = self._clock() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, *keys: str) -> float:
        """Seconds until another attempt is allowed for all of ``keys`` (0: allowed now)."""
        wait = 0.0
        for key in keys:
            times = self._recent(key)
            if len(times) >= self.limit:
                wait = max(wait, times[-self.limit] + self.window - self._clock())
        return max(wait, 0.0)

    def failed(self, *keys: str) -> None:
        if len(self._failures) >= self._max_keys:  # a flood of names: forget the oldest keys
            for key in list(self._failures)[: self._max_keys // 2]:
                del self._failures[key]
        now = self._clock()
        for key in keys:
            self._failures.setdefault(key, deque(maxlen=self.limit)).append(now)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)
