"""An account's private order stream: what the exchange pushes about the account's own orders
and trades (CCXT Pro's `watch_orders` / `watch_my_trades`), gathered for the account's task to
book.

Why a stream: polling sees a fill one poll late and spends REST requests per symbol and round
against a budget of a few requests per second per key; the stream delivers each fill as it
happens for nothing. Why the account's task books what it gathers (rather than the stream
booking by itself): one writer per account, in the order of its commands, as everywhere else;
a trade the stream delivers before the send that placed its order is recorded (the exchange
can be faster than the gateway's own record) waits here until the order is linked.

A stream is not trusted alone. Events between a drop and the next subscription are lost, and
an exchange may skip one (Binance's `executionReport` carries an order's update and its trade in
one message, so a lost message loses both). So the order sync repairs through REST
(`sync.repair`, the polling round's own code): after every (re)connect, once the new
subscription had `SETTLE_SECONDS` to start; when an order's update says the venue filled more
than the books hold and its trades did not follow within `GAP_GRACE_SECONDS`; and every
`REPAIR_EVERY_SECONDS` while orders are open, for what nothing else shows. A trade that the
stream and a repair both deliver is booked once (`(trade id, leg)` dedupes). While the stream
is down, the sync polls as for an exchange without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

from apps.oms import metrics
from apps.oms.ports import StreamingVenuePort, Structure, VenuePort, implements

log = logging.getLogger("apps.worker")

#: after a (re)connect: how long the new subscription is given to start before the repair
#: (events after it reach the stream, those before it the repair; the period covers the rest)
SETTLE_SECONDS = 1.0
#: an order whose update says the venue filled more than the books hold: how long its trades
#: may take to follow (Bybit and OKX send orders and executions as separate messages)
GAP_GRACE_SECONDS = 1.0
#: the repair's period while the stream is up and orders are open
REPAIR_EVERY_SECONDS = 10.0
#: a trade of an order not linked yet: how long it waits for the order's record (a trade of an
#: order placed outside the gateway never links; reconciliation adopts those)
LINK_WAIT_SECONDS = 60.0
#: at most this many such trades wait (the oldest go first)
WAITING_MAX = 10_000
#: waits between attempts to open a failed stream again
BACKOFF_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


def streaming(venue: VenuePort) -> StreamingVenuePort | None:
    """The venue as a streaming port if it can stream the account's orders, else None."""
    if implements(venue, StreamingVenuePort) and venue.streams():
        return venue
    return None


@dataclass
class Gap:
    """An order the venue says is filled beyond the books: its symbol, what the venue filled,
    and when a repair is due if its trades have not come."""

    symbol: str
    venue_filled: Decimal
    due: float


@dataclass
class Taken:
    """What the stream gathered since the last `take`: trades (the waiting ones first) and the
    newest update of each order."""

    trades: list[Structure] = field(default_factory=list)
    orders: list[Structure] = field(default_factory=list)


class OrderStream:
    """The two watches of one account and what they gathered. Started and stopped by the
    account's task; `on_news` is called whenever something arrived (the task wakes)."""

    def __init__(
        self,
        venue: StreamingVenuePort,
        account_id: int,
        on_news: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.venue = venue
        self.account_id = account_id
        self.on_news = on_news
        self.clock = clock
        self._up = {"trades": False, "orders": False}
        self._trades: list[Structure] = []
        self._orders: dict[str, Structure] = {}
        self._waiting: list[tuple[float, Structure]] = []
        self._gaps: dict[str, Gap] = {}
        self._repair_at: float | None = None  # a repair is due at (None: only the period's)
        self._last_repair = clock()
        self._tasks: list[asyncio.Task[None]] = []
        self.reconnects = 0

    # --- lifetime ---------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.ensure_future(self._watch("trades", self.venue.watch_my_trades, self._trade)),
            asyncio.ensure_future(self._watch("orders", self.venue.watch_orders, self._order)),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        self._set_up("trades", False)
        self._set_up("orders", False)

    @property
    def up(self) -> bool:
        """Both watches are subscribed: the sync books from the stream and only repairs."""
        return all(self._up.values())

    # --- the watches --------------------------------------------------------------------------

    async def _watch(
        self,
        name: str,
        watch: Callable[[], Awaitable[list[Structure]]],
        keep: Callable[[Structure], None],
    ) -> None:
        failures = 0
        while True:
            call = asyncio.ensure_future(watch())
            try:
                if not self._up[name]:
                    # subscribed once the call has not failed for a moment (CCXT tells no more):
                    # events from then on come through the stream, the repair covers before
                    await asyncio.wait({call}, timeout=SETTLE_SECONDS)
                    if not call.done() or call.exception() is None:
                        self._set_up(name, True)
                        self.repair_now()
                items = await call
            except asyncio.CancelledError:
                call.cancel()
                raise
            except Exception as exc:
                was_up = self.up  # both watches share a connection: one drop, one count
                self._set_up(name, False)
                if was_up:
                    self.reconnects += 1
                    metrics.ORDER_STREAM_RECONNECTS.labels(str(self.account_id)).inc()
                log.info("account %s: %s stream failed (%s: %s); opening it again",
                         self.account_id, name, type(exc).__name__, exc)  # fmt: skip
                await asyncio.sleep(BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)])
                failures += 1
                continue
            failures = 0
            for item in items:
                keep(item)
            if items:
                self.on_news()

    def _set_up(self, name: str, up: bool) -> None:
        self._up[name] = up
        metrics.ORDER_STREAM_UP.labels(str(self.account_id)).set(1 if self.up else 0)

    def _trade(self, trade: Structure) -> None:
        self._trades.append(trade)

    def _order(self, order: Structure) -> None:
        if order.get("id") is not None:
            self._orders[str(order["id"])] = order

    # --- what the account's task takes --------------------------------------------------------

    def has_news(self) -> bool:
        return bool(self._trades or self._orders)

    def take(self) -> Taken:
        """The trades (those waiting for their order's link first) and order updates gathered
        since the last call."""
        now = self.clock()
        waiting = [t for at, t in self._waiting if now - at < LINK_WAIT_SECONDS]
        taken = Taken(waiting + self._trades, list(self._orders.values()))
        self._waiting, self._trades, self._orders = [], [], {}
        return taken

    def wait_for_link(self, trades: list[Structure]) -> None:
        """Trades of orders not linked yet: offered again at the next `take`, until
        `LINK_WAIT_SECONDS` after they were first put back."""
        now = self.clock()
        self._waiting.extend((now, t) for t in trades)
        del self._waiting[:-WAITING_MAX]

    # --- repairs ------------------------------------------------------------------------------

    def repair_now(self) -> None:
        self._repair_at = self.clock()

    def watch_gap(self, exchange_order_id: str, symbol: str, venue_filled: Decimal) -> None:
        """An order's update says the venue filled `venue_filled`, more than the books hold."""
        known = self._gaps.get(exchange_order_id)
        due = known.due if known is not None else self.clock() + GAP_GRACE_SECONDS
        self._gaps[exchange_order_id] = Gap(symbol, venue_filled, due)

    def gaps(self) -> dict[str, Gap]:
        return dict(self._gaps)

    def close_gap(self, exchange_order_id: str) -> None:
        self._gaps.pop(exchange_order_id, None)

    def repair_due(self, orders_open: bool) -> bool:
        """A repair of every open order is due: after a (re)connect, or by the period while
        orders are open."""
        now = self.clock()
        if self._repair_at is not None and now >= self._repair_at:
            return True
        return orders_open and now - self._last_repair >= REPAIR_EVERY_SECONDS

    def gaps_due(self) -> set[str]:
        """The symbols of the gaps past their grace."""
        now = self.clock()
        return {g.symbol for g in self._gaps.values() if g.due <= now}

    def repaired(self, whole: bool) -> None:
        """A repair ran: of every open order (`whole`), or of the gaps' symbols due."""
        now = self.clock()
        self._gaps = {k: g for k, g in self._gaps.items() if g.due > now}
        if whole:
            self._repair_at = None
            self._last_repair = now
