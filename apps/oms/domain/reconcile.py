"""Reconciliation decisions (pure, no I/O): which window a run looks at, how venue orders and
trades map onto the books (linked, external, already booked), the trade cursor, and the
fail-closed comparison of venue positions with the books.

Venue objects are CCXT unified structures (plain dicts); the books are given as plain values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from apps.oms.domain.events import MismatchView, ReconcileRunView

ZERO = Decimal(0)
MINUTE_MS = 60_000
DAY_MS = 86_400_000
#: re-read this much before the cursor: a venue may publish a trade a little after its timestamp
CURSOR_OVERLAP_MS = 5_000
SCOPES = ("short", "hourly", "long", "period")


@dataclass(frozen=True, slots=True)
class Windows:
    """Lookback of each scheduled scope (settings `reconcile.*`)."""

    short_minutes: int = 10
    hourly_minutes: int = 60
    long_days: int = 10


def since_ms(
    scope: str,
    now_ms: int,
    windows: Windows,
    cursor_ms: int | None = None,
    start_ms: int | None = None,
    oldest_open_ms: int | None = None,
) -> int:
    """Where a run starts: the scope's window back from now, earlier if the trade cursor lags
    behind it (a worker that was down: nothing between the cursor and now is skipped) or an
    order open in the books is older; `period` starts at `start_ms`."""
    if scope == "period":
        if start_ms is None:
            raise ValueError("scope period needs start_date")
        return max(0, start_ms)
    back = {
        "short": windows.short_minutes * MINUTE_MS,
        "hourly": windows.hourly_minutes * MINUTE_MS,
        "long": windows.long_days * DAY_MS,
    }[scope]
    candidates = [now_ms - back]
    if cursor_ms is not None:
        candidates.append(cursor_ms - CURSOR_OVERLAP_MS)
    if oldest_open_ms is not None:
        candidates.append(oldest_open_ms - CURSOR_OVERLAP_MS)
    return max(0, min(candidates))


def next_cursor(cursor_ms: int | None, trades: Iterable[Mapping[str, Any]]) -> int | None:
    """The newest trade time seen (never moves back)."""
    stamps = [int(t["timestamp"]) for t in trades if t.get("timestamp") is not None]
    best = max(stamps, default=None)
    if best is None:
        return cursor_ms
    return best if cursor_ms is None else max(cursor_ms, best)


#: the most trades a venue answers per page where that is fewer than the gateway asks for:
#: Bybit's execution list and OKX's fills take a `limit` of at most 100 (Bybit refuses more,
#: "params error: limit invalid"), so a page of the gateway's size is refused or always short
TRADE_PAGE_LIMITS = {"bybit": 100, "okx": 100}


def trade_page_size(exchange_id: str, wanted: int) -> int:
    """The trades to ask for per page of an account's venue (`ccxt.okx`, `ccxtpro.bybit`, …)."""
    name = exchange_id.split(".", 1)[-1]
    return min(wanted, TRADE_PAGE_LIMITS.get(name, wanted))


#: market types a CCXT `defaultType` lists besides its own name: binance's "future" is its
#: USDⓈ-M futures API, perpetual swaps included
COVERED_TYPES = {"future": ("future", "swap")}


def outside_type(default_type: object, types: Mapping[str, object]) -> list[str]:
    """The symbols (with their market types) of another type than `default_type`: what a list
    asked for without a symbol leaves out on a venue that lists one type at a time."""
    if not default_type:
        return []
    covered = COVERED_TYPES.get(str(default_type), (str(default_type),))
    return [symbol for symbol, kind in types.items() if kind and kind not in covered]


def merge_orders(*listings: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Venue orders from several calls, one per id (the later listing wins), in id order of
    first appearance."""
    merged: dict[str, dict[str, Any]] = {}
    for listing in listings:
        for order in listing:
            if order.get("id") is not None:
                merged[str(order["id"])] = dict(order)
    return list(merged.values())


def unique_trades(trades: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One per trade id, oldest first (timestamp, then arrival)."""
    seen: dict[str, dict[str, Any]] = {}
    for trade in trades:
        if trade.get("id") is not None:
            seen.setdefault(str(trade["id"]), dict(trade))
    return sorted(seen.values(), key=lambda t: int(t.get("timestamp") or 0))


@dataclass(frozen=True, slots=True)
class OrderPlan:
    """Phase 1. `linked`: venue order → OMS order id (refresh its state); `external`: venue
    orders nobody placed through the OMS (create them); `skipped`: venue orders of OMS orders
    whose placement outcome is still being resolved (the send's lookup adopts them)."""

    linked: tuple[tuple[dict[str, Any], int], ...] = ()
    external: tuple[dict[str, Any], ...] = ()
    skipped: tuple[str, ...] = ()


def plan_orders(
    venue_orders: Iterable[Mapping[str, Any]],
    by_exchange_id: Mapping[str, int],
    by_client_id: Mapping[str, int],
    unresolved: frozenset[int] = frozenset(),
) -> OrderPlan:
    """Link each venue order by exchange id, then client order id; the rest are external."""
    linked: list[tuple[dict[str, Any], int]] = []
    external: list[dict[str, Any]] = []
    skipped: list[str] = []
    for order in venue_orders:
        oid = str(order["id"])
        order_id = by_exchange_id.get(oid)
        client = order.get("clientOrderId")
        if order_id is None and client:
            order_id = by_client_id.get(str(client))
        if order_id is None:
            external.append(dict(order))
        elif order_id in unresolved:
            skipped.append(oid)
        else:
            linked.append((dict(order), order_id))
    return OrderPlan(tuple(linked), tuple(external), tuple(skipped))


@dataclass(frozen=True, slots=True)
class TradePlan:
    """Phase 2. `book`: new trades with their OMS order id, in venue time order; `booked`:
    trade ids already in the books (seen before by sync or an earlier run); `orphans`: trades
    whose venue order is unknown even after phase 1 (left for a later run, counted)."""

    book: tuple[tuple[dict[str, Any], int], ...] = ()
    booked: tuple[str, ...] = ()
    orphans: tuple[str, ...] = ()


def plan_trades(
    trades: Iterable[Mapping[str, Any]],
    booked: frozenset[str],
    order_of: Mapping[str, int],
) -> TradePlan:
    """Which trades to book and on which OMS order (by venue order id)."""
    todo: list[tuple[dict[str, Any], int]] = []
    already: list[str] = []
    orphans: list[str] = []
    for trade in unique_trades(trades):
        tid = str(trade["id"])
        if tid in booked:
            already.append(tid)
            continue
        order_id = order_of.get(str(trade.get("order")))
        if order_id is None:
            orphans.append(tid)
        else:
            todo.append((trade, order_id))
    return TradePlan(tuple(todo), tuple(already), tuple(orphans))


def unknown_trade_orders(
    trades: Iterable[Mapping[str, Any]], known_order_ids: Iterable[str]
) -> list[str]:
    """Venue order ids of trades that neither the books nor the fetched orders know (fetch
    them one by one before deciding)."""
    known = set(known_order_ids)
    wanted: list[str] = []
    for trade in trades:
        order = trade.get("order")
        if order is not None and str(order) not in known and str(order) not in wanted:
            wanted.append(str(order))
    return wanted


# --- fail-closed position check ------------------------------------------------------------


def venue_net(positions: Iterable[Mapping[str, Any]]) -> dict[str, Decimal]:
    """Signed contracts per symbol from CCXT position structures (hedge-mode venues report a
    long and a short leg per symbol: they are summed)."""
    net: dict[str, Decimal] = {}
    for p in positions:
        contracts = p.get("contracts")
        if contracts is None:
            continue
        qty = Decimal(str(contracts))
        side = str(p.get("side") or "long")
        signed = -abs(qty) if side == "short" else abs(qty) if side == "long" else qty
        symbol = str(p["symbol"])
        net[symbol] = net.get(symbol, ZERO) + signed
    return net


@dataclass(frozen=True, slots=True)
class Mismatch:
    symbol: str
    venue_qty: Decimal
    books_qty: Decimal

    def view(self) -> MismatchView:
        return {
            "symbol": self.symbol,
            "venue_qty": _plain(self.venue_qty),
            "books_qty": _plain(self.books_qty),
            "difference": _plain(self.venue_qty - self.books_qty),
        }


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f") if value else "0"
    return text


def compare_positions(
    venue: Mapping[str, Decimal], books: Mapping[str, Decimal], derivative: frozenset[str]
) -> tuple[Mismatch, ...]:
    """Per derivative symbol either side knows: venue net qty must equal the books' net qty
    (sum of signed open positions, every strategy and external ones included). Spot symbols
    are not compared (a spot venue reports balances, not positions)."""
    symbols = sorted((set(venue) | set(books)) & derivative)
    out = []
    for symbol in symbols:
        v, b = venue.get(symbol, ZERO), books.get(symbol, ZERO)
        if v != b:
            out.append(Mismatch(symbol, v, b))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class SyncVerdict:
    """What a run concludes about the account: `checked` False when the venue reports no
    positions or moved during the run (the previous state stays)."""

    checked: bool
    out_of_sync: bool
    mismatches: tuple[Mismatch, ...] = ()


def verdict(
    before: Mapping[str, Decimal] | None,
    after: Mapping[str, Decimal] | None,
    books: Mapping[str, Decimal],
    derivative: frozenset[str],
) -> SyncVerdict:
    """Positions are read before and after the trades: if they differ, a fill landed during the
    run and the books may legitimately lag; the comparison waits for the next run."""
    if before is None or after is None:
        return SyncVerdict(checked=False, out_of_sync=False)
    if dict(before) != dict(after):
        return SyncVerdict(checked=False, out_of_sync=False)
    mismatches = compare_positions(after, books, derivative)
    return SyncVerdict(True, bool(mismatches), mismatches)


@dataclass(slots=True)
class RunStats:
    """Per-account statistics of one run (the `runs` items of `POST /oms/reconcile`)."""

    account_id: int
    scope: str
    since_ms: int = 0
    orders_seen: int = 0
    orders_linked: int = 0
    orders_refreshed: int = 0
    external_orders_created: int = 0
    trades_seen: int = 0
    trades_booked: int = 0
    trades_already_booked: int = 0
    trades_orphaned: int = 0
    pages: int = 0
    payloads_stored: int = 0
    positions_checked: bool = False
    out_of_sync: bool = False
    mismatches: list[MismatchView] = field(default_factory=list)
    cursor_ms: int | None = None

    def view(self) -> ReconcileRunView:
        return {
            "account_id": self.account_id, "scope": self.scope, "ok": True,
            "since_ms": self.since_ms, "orders_seen": self.orders_seen,
            "orders_linked": self.orders_linked, "orders_refreshed": self.orders_refreshed,
            "external_orders_created": self.external_orders_created,
            "trades_seen": self.trades_seen, "trades_booked": self.trades_booked,
            "trades_already_booked": self.trades_already_booked,
            "trades_orphaned": self.trades_orphaned, "pages": self.pages,
            "payloads_stored": self.payloads_stored,
            "positions_checked": self.positions_checked, "out_of_sync": self.out_of_sync,
            "mismatches": list(self.mismatches), "cursor_ms": self.cursor_ms,
        }  # fmt: skip


def freshness(age_ms: int | None, stale_after_ms: int) -> str:
    """`never` (no run yet), `fresh` (the last run is at most `stale_after_ms` old) or
    `stale`."""
    if age_ms is None:
        return "never"
    return "fresh" if age_ms <= stale_after_ms else "stale"
