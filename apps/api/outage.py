"""A store outage is 503 `store_unavailable` with `Retry-After`, logged once per interval.

Without this every request of an outage answered 500 `internal_error` with a full traceback in
the log (5 MB in 6 s). Here the first failure of an interval is logged at ERROR with its cause
(one line, no traceback); later ones are counted and summarised when the next interval starts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from apps.oms.store.store import STORE_ERRORS as STORE_ERRORS
from apps.oms.store.store import is_store_outage as is_store_outage

log = logging.getLogger("apps.api.store")
RETRY_AFTER_SECONDS = 5
LOG_INTERVAL_SECONDS = 30.0


@dataclass
class OutageLog:
    """Rate-limits outage logging: one line per `interval` seconds, with the suppressed count."""

    interval: float = LOG_INTERVAL_SECONDS
    what: str = "store unavailable"  # the line's opening words
    _last: float = float("-inf")
    _suppressed: int = 0

    def reset(self) -> None:
        """Forget the interval: the next failure is logged (a process starts this way)."""
        self._last, self._suppressed = float("-inf"), 0

    def report(self, exc: BaseException, where: str) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            self._suppressed += 1
            return
        first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        log.error(
            "%s (%s): %s: %s%s",
            self.what,
            where,
            type(exc).__name__,
            first,
            f" ({self._suppressed} more failures since the last report)" if self._suppressed else "",
        )
        self._last = now
        self._suppressed = 0


OUTAGES = OutageLog()
