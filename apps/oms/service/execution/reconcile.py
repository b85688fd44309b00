"""A reconciliation run of one held account (a queued `reconcile` command; docs/reconciliation.md).

Shape: venue reads (no transaction) → raw payloads stored (own transaction, append-only,
deduplicated by content hash) → one fenced record transaction that loads what the books know,
decides in the pure core (`domain.reconcile`) and writes: external orders, new deals, order
states, the cursor, the out-of-sync flag, the events and the command's result. A run killed
anywhere leaves either nothing or everything of that transaction; a re-run books only what is
not booked yet (deals are unique per account, trade id and leg).

1. **Orders**: `fetch_open_orders` + `fetch_orders(since)` (or closed orders where the venue
   has no `fetchOrders`); each venue order links to an OMS order by exchange id, then client
   order id; unknown ones become external orders (`reason = external`, `strategy_id = 0`,
   `reconciled = false`).
2. **Trades**: `fetch_my_trades(since)` page by page until a short page; a trade of a venue
   order nobody knows is looked up with `fetch_order` (and becomes external); every new trade is
   booked once on its order's position by the mode rules (`booking.book_report`).
Then, where the venue reports positions, the net quantity per derivative symbol is compared with
the books (read before and after the trades: a venue that moved meanwhile is compared next run).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from apps.oms.clock import utcnow
from apps.oms.domain import reconcile as core
from apps.oms.domain.enums import OrderStatus, Reason
from apps.oms.domain.events import (
    ACCOUNT_OUT_OF_SYNC,
    ORDER_ACCEPTED,
    RECONCILIATION_TICK,
    AccountOutOfSync,
    ReconcileRunView,
)
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.ports import MatchingVenuePort, Structure
from apps.oms.service.execution.booking import book_report
from apps.oms.service.execution.results import CCXT_STATUS, adopt, finish
from apps.oms.service.execution.runtime import AccountRuntime, Recorder
from apps.oms.service.views import order_view
from apps.oms.store import books, order_records, orders
from apps.oms.store import reconcile as store
from apps.oms.store.queue import Claimed
from apps.oms.store.records import ColumnValues, CommandPayload, VenueConfig

log = logging.getLogger("apps.worker")
PAGE = 500
MAX_PAGES = 200


class Fetched:
    """What the venue said during one run (plain CCXT structures)."""

    def __init__(self) -> None:
        self.orders: list[Structure] = []
        self.trades: list[Structure] = []
        self.extra_orders: list[Structure] = []
        self.positions_before: dict[str, Decimal] | None = None
        self.positions_after: dict[str, Decimal] | None = None
        self.raw_positions: list[Structure] = []
        self.pages = 0


def windows_of(payload: CommandPayload) -> core.Windows:
    w = payload.get("windows") or {}
    return core.Windows(
        short_minutes=int(w.get("short_minutes", 10)),
        hourly_minutes=int(w.get("hourly_minutes", 60)),
        long_days=int(w.get("long_days", 10)),
    )


async def execute_reconcile(rt: AccountRuntime, cmd: Claimed, stop: asyncio.Event) -> None:
    """The executor of `reconcile` commands. A venue that cannot be read fails the run visibly
    (`venue_unavailable`), with nothing booked."""
    try:
        stats = await run(rt, cmd.payload, cmd)
    except (TimeoutError, ccxt.NetworkError) as exc:
        async with rt.record(cmd) as rec:
            await finish(rec, cmd, error_code="venue_unavailable",
                         error_message=f"reconcile: venue unavailable: {type(exc).__name__}")
        return
    except ccxt.BaseError as exc:
        async with rt.record(cmd) as rec:
            await finish(rec, cmd, error_code="venue_error",
                         error_message=f"reconcile: {type(exc).__name__}: {str(exc)[:300]}")
        return
    log.debug("account %s reconciled: %s", rt.account_id, stats)


async def run(
    rt: AccountRuntime, payload: CommandPayload, cmd: Claimed | None
) -> ReconcileRunView:
    """One run; returns its statistics (also the command's result)."""
    scope = str(payload.get("scope") or "short")
    now_ms = int(utcnow().timestamp() * 1000)
    async with rt.store.read() as conn:
        cursor_ms = await store.cursor(conn, rt.account_id)
        oldest = await store.oldest_open_sent(conn, rt.account_id)
    since = core.since_ms(
        scope, now_ms, windows_of(payload), cursor_ms, payload.get("start_ms"),
        None if oldest is None else int(oldest.timestamp() * 1000),
    )  # fmt: skip
    until = payload.get("end_ms")
    stats = core.RunStats(rt.account_id, scope, since_ms=since)
    fetched = await fetch(rt, since, until, list(payload.get("symbols_hint") or []))
    stats.pages = fetched.pages
    stats.payloads_stored = await store_raw(rt, fetched)
    async with rt.record(cmd) as rec:
        await decide_and_write(rec, fetched, stats, cursor_ms, payload)
        result = stats.view()
        if cmd is not None:
            await finish(rec, cmd, result=result)
    return result


# --- venue reads ---------------------------------------------------------------------------


async def _call(rt: AccountRuntime, coro: Awaitable[Any]) -> Any:
    return await asyncio.wait_for(coro, rt.settings.venue_timeout_seconds)


async def _per_symbol(
    rt: AccountRuntime, call: Callable[[str | None], Awaitable[list[Structure]]],
    symbols: list[str],
) -> list[Structure]:
    """`call(None)`; venues that need a symbol (`ArgumentsRequired`, or an exchange error
    about the missing symbol such as binance's open-orders warning) are asked per symbol. A
    list without a symbol covers the venue's default market type only where CCXT asks for
    one type (okx: `instType` SPOT): the symbols of other types are asked for as well."""
    try:
        result: list[Structure] = await _call(rt, call(None))
    except ccxt.ExchangeError as exc:
        if not isinstance(exc, ccxt.ArgumentsRequired) and "symbol" not in str(exc).lower():
            raise
        out: list[Structure] = []
        for symbol in symbols:
            out.extend(await _call(rt, call(symbol)))
        return out
    for symbol in await _outside_default_type(rt, symbols):
        result = [*result, *await _call(rt, call(symbol))]
    return result


async def _outside_default_type(rt: AccountRuntime, symbols: list[str]) -> list[str]:
    """The symbols a CCXT venue's no-symbol list leaves out: those of another market type than
    its `defaultType` option (none for the paper venue, which lists every market)."""
    options = getattr(getattr(rt.venue, "exchange", None), "options", None)
    if not isinstance(options, dict) or not symbols:
        return []
    markets = await _call(rt, rt.venue.load_markets())
    return core.outside_type(options.get("defaultType"),
                             {s: (markets.get(s) or {}).get("type") for s in symbols})


async def _positions(rt: AccountRuntime) -> tuple[dict[str, Decimal] | None, list[Structure]]:
    """Venue positions, where the venue has them: `has['fetchPositions']` and derivative
    markets listed. A refusal (not supported, no permission for derivatives) means no check;
    a network error fails the run like any venue read."""
    has = getattr(rt.venue, "has", {}) or {}
    if not has.get("fetchPositions"):
        return None, []
    markets = await _call(rt, rt.venue.load_markets())
    if all((m or {}).get("spot", True) for m in markets.values()):
        return None, []
    try:
        raw = await _call(rt, rt.venue.fetch_positions())
    except ccxt.NetworkError:
        raise
    except ccxt.BaseError:
        return None, []
    return core.venue_net(raw), list(raw)


async def candidate_symbols(rt: AccountRuntime, hint: list[str]) -> list[str]:
    """For venues that need a symbol per call: the hint, then symbols the books hold."""
    async with rt.store.read() as conn:
        net = await store.books_net(conn, rt.account_id)
        open_rows = await order_records.open_orders(conn, rt.account_id)
    symbols = list(dict.fromkeys([*hint, *net, *(str(r["symbol"]) for r in open_rows)]))
    return symbols


async def fetch(rt: AccountRuntime, since: int, until: int | None, hint: list[str]) -> Fetched:
    venue = rt.venue
    out = Fetched()
    if isinstance(venue, MatchingVenuePort):
        await _call(rt, venue.match())  # resting orders advance first, as order sync does
    symbols = await candidate_symbols(rt, hint)
    out.positions_before, _ = await _positions(rt)
    open_orders = await _per_symbol(rt, lambda s: venue.fetch_open_orders(s), symbols)
    has = getattr(venue, "has", {}) or {}
    if has.get("fetchOrders"):
        recent = await _per_symbol(rt, lambda s: venue.fetch_orders(s, since), symbols)
    else:
        recent = await _per_symbol(rt, lambda s: venue.fetch_closed_orders(s, since), symbols)
    out.orders = core.merge_orders(recent, open_orders)
    out.trades = await fetch_trades(rt, since, until, symbols, out)
    known_venue = {str(o["id"]) for o in out.orders}
    async with rt.store.read() as conn:
        wanted = core.unknown_trade_orders(out.trades, known_venue)
        booked = await store.orders_by_exchange_id(conn, rt.account_id, wanted)
    for order_id in [w for w in wanted if w not in booked]:
        symbol = next(str(t["symbol"]) for t in out.trades if str(t.get("order")) == order_id)
        try:
            out.extra_orders.append(await _call(rt, venue.fetch_order(order_id, symbol)))
        except ccxt.OrderNotFound:
            continue  # its trades stay orphans (counted) until the venue shows the order
    out.positions_after, out.raw_positions = await _positions(rt)
    return out


async def fetch_trades(
    rt: AccountRuntime, since: int, until: int | None, symbols: list[str], out: Fetched
) -> list[Structure]:
    """Own trades from `since`, page by page (the next page starts at the newest timestamp of
    the last; repeats are dropped) until a short page or a page with nothing new."""

    size = core.trade_page_size(rt.account.exchange_id, PAGE)

    async def pages(symbol: str | None) -> list[Structure]:
        seen: dict[str, Structure] = {}
        start = since
        for _ in range(MAX_PAGES):
            page = await _call(rt, rt.venue.fetch_my_trades(symbol, start, size))
            out.pages += 1
            fresh = [t for t in page if str(t["id"]) not in seen]
            for trade in fresh:
                seen[str(trade["id"])] = trade
            if len(page) < size or not fresh:
                break
            start = max(int(t.get("timestamp") or start) for t in page)
        trades = list(seen.values())
        if until is not None:
            trades = [t for t in trades if int(t.get("timestamp") or 0) <= until]
        return trades

    return await _per_symbol(rt, pages, symbols)


async def store_raw(rt: AccountRuntime, fetched: Fetched) -> int:
    """Raw payloads first, in their own transaction (append-only, deduplicated by content)."""
    acct = rt.account
    now = utcnow()

    def row(kind: str, obj: Structure) -> ColumnValues:
        oid = None if obj.get("id") is None else str(obj.get("id"))
        if kind == "position":
            oid = str(obj.get("symbol"))
        return order_records.payload_row(account_id=acct.account_id, kind=kind,
                                         exchange_id=acct.exchange_id, object_id=oid,
                                         payload=obj, now=now)  # fmt: skip

    rows = [row("order", o) for o in [*fetched.orders, *fetched.extra_orders]]
    rows += [row("trade", t) for t in fetched.trades]
    rows += [row("position", p) for p in fetched.raw_positions]
    if rows:
        async with rt.store.transaction() as conn:
            await order_records.store_payloads(conn, rows)
    return len(rows)


# --- load → decide → write -------------------------------------------------------------------


async def decide_and_write(
    rec: Recorder,
    fetched: Fetched,
    stats: core.RunStats,
    cursor_ms: int | None,
    payload: CommandPayload,
) -> None:
    rt = rec.rt
    aid = rt.account_id
    venue_orders = core.merge_orders(fetched.orders, fetched.extra_orders)
    stats.orders_seen = len(venue_orders)
    stats.trades_seen = len(fetched.trades)
    ids = {str(o["id"]) for o in venue_orders} | {str(t.get("order")) for t in fetched.trades}
    by_exchange = await store.orders_by_exchange_id(rec.conn, aid, ids)
    by_client = await store.orders_by_client_id(
        rec.conn, aid, [str(o.get("clientOrderId")) for o in venue_orders
                        if o.get("clientOrderId")],
    )  # fmt: skip
    unresolved = await store.unresolved_orders(rec.conn, aid)
    plan = core.plan_orders(venue_orders, by_exchange, by_client, unresolved)
    order_of = dict(by_exchange)
    for structure, order_id in plan.linked:
        order_of[str(structure["id"])] = order_id
    for structure in plan.external:
        order_of[str(structure["id"])] = await create_external(rec, structure)
    stats.external_orders_created = len(plan.external)
    stats.orders_linked = len(plan.linked)
    for oid in plan.skipped:
        order_of.pop(oid, None)
    booked = await _booked_trade_ids(rec, [str(t["id"]) for t in fetched.trades])
    trades = core.plan_trades(fetched.trades, booked, order_of)
    for trade, order_id in trades.book:
        row = await rec.rows.order_row(order_id)
        await book_report(rec, row, [trade])
    stats.trades_booked = len(trades.book)
    stats.trades_already_booked = len(trades.booked)
    stats.trades_orphaned = len(trades.orphans)
    # order states after their trades: fills first, then the venue's status
    for structure, order_id in [*plan.linked,
                                *((s, order_of[str(s["id"])]) for s in plan.external)]:
        if await refresh_order(rec, order_id, structure):
            stats.orders_refreshed += 1
    stats.cursor_ms = core.next_cursor(cursor_ms, fetched.trades)
    await check_positions(rec, fetched, stats, payload)
    await store.save_run(rec.conn, aid, stats.scope, cursor_ms=stats.cursor_ms, now=rec.now,
                         stats=stats.view())  # fmt: skip
    rec.hold_event(RECONCILIATION_TICK, stats.view())


async def _booked_trade_ids(rec: Recorder, trade_ids: list[str]) -> frozenset[str]:
    keys = await books.booked_keys(rec.conn, rec.rt.account_id, trade_ids)
    return frozenset(tid for tid, leg in keys if leg == 0)


async def create_external(rec: Recorder, structure: Structure) -> int:
    """An order found on the venue only: `reason = external`, strategy 0, `reconciled =
    false`, linked to its venue order. Its status and fills come from the venue afterwards."""
    acct = rec.rt.account
    exchange_order_id = str(structure["id"])
    client = structure.get("clientOrderId")
    client_id = str(client)[:64] if client else ""
    if not client_id or await store.client_id_used(rec.conn, client_id):
        client_id = f"ext-{acct.account_id}-{exchange_order_id}"[:64]
    amount = structure.get("amount") or structure.get("filled") or 0
    price = structure.get("price")
    values: ColumnValues = {
        "account_id": acct.account_id, "client_order_id": client_id,
        "exchange_order_id": exchange_order_id, "symbol": str(structure["symbol"]),
        "side": str(structure["side"]), "order_type": str(structure.get("type") or "market"),
        "qty": Decimal(str(amount)), "price": None if price is None else Decimal(str(price)),
        "status": OrderStatus.SUBMITTED.value, "is_open": True, "strategy_id": 0,
        "position_id": 0, "reason": Reason.EXTERNAL.value, "reconciled": False,
        "reduce_only": bool(structure.get("reduceOnly") or False),
        "post_only": bool(structure.get("postOnly") or False),
        "time_in_force": structure.get("timeInForce"),
        "comment": "found by reconciliation", "created_at": rec.now, "updated_at": rec.now,
        "submitted_at": rec.now,
    }  # fmt: skip
    order_id = await orders.insert_order(rec.conn, values)
    await order_records.add_venue_orders(rec.conn, [{
        "order_id": order_id, "account_id": acct.account_id, "client_order_id": client_id,
        "exchange_order_id": exchange_order_id, "created_at": rec.now,
    }])  # fmt: skip
    row = orders.inserted_row(order_id, values)
    rec.hold_event(ORDER_ACCEPTED, order_view(row), strategy_id=0)
    return order_id


async def refresh_order(rec: Recorder, order_id: int, structure: Structure) -> bool:
    """Apply the venue's view of a linked order (status, and trades it carries); True if the
    order row changed."""
    row = await rec.rows.order_row(order_id)
    status = CCXT_STATUS.get(str(structure.get("status")), OrderStatus.SUBMITTED)
    if status.value == row["status"] and not structure.get("trades"):
        return False  # nothing new (an open order still open, a final state already known)
    if row["edit_replace_state"] == "replace_pending":
        return False  # its change_order owns the venue order switch
    new = await adopt(rec, row, structure)
    return bool(new["status"] != row["status"] or new["filled_qty"] != row["filled_qty"])


async def check_positions(
    rec: Recorder, fetched: Fetched, stats: core.RunStats, payload: CommandPayload
) -> None:
    """Fail-closed: compare venue and books per derivative symbol; set or clear the flag."""
    rt = rec.rt
    await rec.write_held()  # the books' net reads the positions this run booked
    books_net = await store.books_net(rec.conn, rt.account_id)
    markets = await rt.venue.load_markets()
    symbols = set(books_net) | set(fetched.positions_after or {})
    derivative = frozenset(s for s in symbols if not (markets.get(s) or {}).get("spot", True))
    result = core.verdict(fetched.positions_before, fetched.positions_after, books_net, derivative)
    stats.positions_checked = result.checked
    was, was_blocking = await store.sync_state(rec.conn, rt.account_id)
    if not result.checked:
        stats.out_of_sync = was
        return
    blocks = result.out_of_sync and block_configured(rt.account.config, payload)
    stats.out_of_sync = result.out_of_sync
    stats.mismatches = [m.view() for m in result.mismatches]
    if (was, was_blocking) != (result.out_of_sync, blocks):
        await store.set_sync_state(rec.conn, rt.account_id, out_of_sync=result.out_of_sync,
                                   blocks=blocks, now=rec.now)  # fmt: skip
    if result.out_of_sync or was:
        flagged: AccountOutOfSync = {
            "account_id": rt.account_id, "out_of_sync": result.out_of_sync,
            "blocks_new_positions": blocks, "mismatches": stats.mismatches,
        }  # fmt: skip
        rec.hold_event(ACCOUNT_OUT_OF_SYNC, flagged)


def block_configured(config: VenueConfig, payload: CommandPayload) -> bool:
    """`accounts.config.reconcile.block_new_positions`, else the settings default (carried in
    the command payload by whoever enqueued the run)."""
    own = (config or {}).get("reconcile") or {}
    if "block_new_positions" in own:
        return bool(own["block_new_positions"])
    return bool(payload.get("block_new_positions", False))
