"""Binance's request weight per client address, as a served venue counts and enforces it: the
weight used in the current window (`X-MBX-USED-WEIGHT-1M`), and, when a limit is set, Binance's
answers past it: 429 -1003 with `Retry-After` (the window's end), then 418 (the address banned
for a while) to a client that keeps sending after its 429s; and the new orders per API key
that an order's answer reports (`X-MBX-ORDER-COUNT-10S`, `-1D`): an OCO order list counts 2.

Pure and synchronous (the caller passes the clock's ms). Off by default (`limit` 0): the weight
is only counted, as before there was a limit. Binance bans for 2 minutes up to 3 days; the
venue bans for `ban_s` (default 120 s) each time.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Binance's spot limit per minute, what the 429's message names when no limit is set
BINANCE_LIMIT = 6000
#: the new orders a `POST` to a path other than an `…/order` one (1) places: an OCO order list
#: places 2, as Binance counts it (its request weight is 1: `endpoints.py`)
ORDER_COUNTS = {"/api/v3/orderList/oco": 2}


@dataclass(frozen=True, slots=True)
class Verdict:
    """A request refused: 418 when `banned`, else 429; retry after `retry_after_s`."""

    banned: bool
    retry_after_s: int


class Weights:
    """Request weight used per client address and window (Binance counts per IP, per minute).

    `limit` 0 = unlimited. A request whose weight would pass the limit is refused (429) and not
    counted; each request refused this way is a strike, and a client refused `ban_after` times
    in one window is banned (418) for `ban_s`, strikes and window notwithstanding."""

    def __init__(self, limit: int = 0, window_ms: int = 60_000, ban_after: int = 3,
                 ban_s: int = 120) -> None:  # fmt: skip
        self.window = -1
        self.used: dict[str, int] = {}
        self.strikes: dict[str, int] = {}
        self.banned_until: dict[str, int] = {}
        self.configure(limit, window_ms, ban_after, ban_s)

    def configure(self, limit: int, window_ms: int = 60_000, ban_after: int = 3,
                  ban_s: int = 120) -> None:  # fmt: skip
        """Set the limit (0: off) and the window; bans and counts start again."""
        if limit < 0 or window_ms <= 0 or ban_after < 1 or ban_s < 1:
            raise ValueError("limit >= 0, window_ms > 0, ban_after >= 1 and ban_s >= 1")
        self.limit, self.window_ms, self.ban_after, self.ban_s = limit, window_ms, ban_after, ban_s
        self.window, self.used, self.strikes, self.banned_until = -1, {}, {}, {}
        # the answers given past the limit since it was set: 429s and 418s (what a test of a
        # client that must never be refused reads back)
        self.refused = self.banned = 0

    def show(self) -> dict[str, int]:
        return {"limit": self.limit, "window_ms": self.window_ms, "ban_after": self.ban_after,
                "ban_s": self.ban_s, "refused": self.refused, "banned": self.banned}  # fmt: skip

    def _roll(self, at_ms: int) -> None:
        window = at_ms // self.window_ms
        if window != self.window:
            self.window, self.used, self.strikes = window, {}, {}

    def admit(self, weight: int, at_ms: int, client: str = "") -> Verdict | None:
        """None when the request may run (its weight then counted by `add`), else why not."""
        self._roll(at_ms)
        until = self.banned_until.get(client, 0)
        if until > at_ms:
            self.banned += 1
            return Verdict(True, _seconds(until - at_ms))
        if not self.limit or self.used.get(client, 0) + weight <= self.limit:
            return None
        strikes = self.strikes[client] = self.strikes.get(client, 0) + 1
        if strikes >= self.ban_after:
            self.banned_until[client] = at_ms + self.ban_s * 1000
            self.banned += 1
            return Verdict(True, self.ban_s)
        self.refused += 1
        return Verdict(False, _seconds((self.window + 1) * self.window_ms - at_ms))

    def add(self, weight: int, at_ms: int, client: str = "") -> int:
        """Count a request's weight; the client's weight used in the window, with it."""
        self._roll(at_ms)
        self.used[client] = self.used.get(client, 0) + weight
        return self.used[client]

    def message_limit(self) -> int:
        return self.limit or BINANCE_LIMIT


class OrderCounts:
    """New orders per API key in the last 10 s and the day (UTC), as Binance reports them on an
    order's answer (`X-MBX-ORDER-COUNT-10S`, `-1D`): counted, not enforced."""

    def __init__(self) -> None:
        self.tens: dict[str, tuple[int, int]] = {}  # key -> (10-s window, count)
        self.days: dict[str, tuple[int, int]] = {}

    def add(self, api_key: str, at_ms: int, orders: int = 1) -> tuple[int, int]:
        """Count `orders` new orders; the key's counts in its 10-s window and day, with them."""
        counts = []
        for table, size in ((self.tens, 10_000), (self.days, 86_400_000)):
            window, n = table.get(api_key, (-1, 0))
            n = n + orders if window == at_ms // size else orders
            table[api_key] = (at_ms // size, n)
            counts.append(n)
        return counts[0], counts[1]


def _seconds(ms: int) -> int:
    """Whole seconds, rounded up (a `Retry-After` of 0 would invite a retry too soon)."""
    return max(1, -(-ms // 1000))
