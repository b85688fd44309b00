"""Throttling of failed authentication (API keys, login tokens, passwords), in memory per process.

A scope (a client address, a presented key's prefix, a user name) that fails `limit` times within
`window` seconds is throttled until its oldest failure in the window ages out. Pure bookkeeping
with an injectable clock; callers decide what a throttled scope means (see `service/auth.py`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_TRACKED = 100_000  # scopes kept at most (an attacker rotating addresses cannot grow memory)


@dataclass
class FailureThrottle:
    limit: int = 10
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, scope: str, now: float) -> deque[float] | None:
        times = self._failures.get(scope)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[scope]
            return None
        return times

    def retry_after(self, scope: str) -> float:
        """Seconds until `scope` may try again (0: not throttled)."""
        now = self.clock()
        times = self._recent(scope, now)
        if times is None or len(times) < self.limit:
            return 0.0
        return max(0.0, times[-self.limit] + self.window - now)

    def fail(self, scope: str) -> int:
        """Record a failure; returns the failures of `scope` within the window."""
        now = self.clock()
        times = self._recent(scope, now)
        if times is None:
            if len(self._failures) >= MAX_TRACKED:
                self._prune(now)
            times = self._failures.setdefault(scope, deque(maxlen=self.limit * 4))
        times.append(now)
        return len(times)

    def clear(self, scope: str) -> None:
        self._failures.pop(scope, None)

    def _prune(self, now: float) -> None:
        for scope in list(self._failures):
            self._recent(scope, now)
        while len(self._failures) >= MAX_TRACKED:  # still full: drop the oldest scopes
            self._failures.pop(next(iter(self._failures)))
