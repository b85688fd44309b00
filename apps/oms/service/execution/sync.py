"""Order sync: fills, partial fills, cancels and expiries that happen after submission reach the
books without any manual step.

For a matching (paper) venue `match()` advances resting orders first. Then the account's trades
since the oldest open order are fetched and every trade of a known venue order that is not
booked yet is booked (deals come only from trade records; `(trade id, leg)` dedupes), and open
orders the venue no longer lists, and the trades did not fill, get their final state from
`fetch_order`. A trade maps to its
OMS order through `order_venue_orders`, so an order replaced by cancel/replace books the fills
of every one of its venue orders (the cancelled ones too: fills always win).

Venues without a matching engine (CCXT) are polled per symbol of the open orders
(`sync_polled`): `fetch_my_trades(symbol, since=cursor)`, `fetch_open_orders(symbol)`, then
`fetch_order` for the ones no longer listed. The cursor (per venue instance and symbol, in
memory) is the newest trade time seen of the account's linked open orders, never past an open
order still waiting for its exchange id; after a restart it starts again at the oldest open order.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from apps.oms.domain.events import ORDER_CHANGE_REPLACE_FAILED
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.ports import MatchingVenuePort, Structure, implements
from apps.oms.service.execution.booking import book_report
from apps.oms.service.execution.results import adopt
from apps.oms.service.execution.runtime import AccountRuntime
from apps.oms.store import books, order_records
from apps.oms.store.order_rows import OrderChanges, OrderRow

LOOKBACK = timedelta(seconds=5)
REPLACE_PENDING = "replace_pending"
_CURSORS: WeakKeyDictionary[Any, dict[str, int]] = WeakKeyDictionary()


async def sync_orders(rt: AccountRuntime) -> int:
    """One sync round; returns how many trades or order states were recorded."""
    polled = not implements(rt.venue, MatchingVenuePort)
    async with rt.store.read() as conn:
        open_rows = await order_records.linked_open_orders(conn, rt.account_id)
        unlinked_since = None
        if open_rows and polled:
            unlinked_since = await order_records.oldest_unlinked_open(conn, rt.account_id)
    if not open_rows:
        return 0
    if polled:
        return await sync_polled(rt, open_rows, unlinked_since)
    timeout = rt.settings.venue_timeout_seconds
    try:
        if implements(rt.venue, MatchingVenuePort):
            await asyncio.wait_for(rt.venue.match(), timeout)
        since = min(r["created_at"] for r in open_rows) - LOOKBACK
        trades = await asyncio.wait_for(
            rt.venue.fetch_my_trades(None, int(since.timestamp() * 1000)), timeout
        )
        venue_open = await asyncio.wait_for(rt.venue.fetch_open_orders(), timeout)
    except (TimeoutError, ccxt.BaseError):
        return 0
    done = await _book_trades(rt, trades)
    listed = {str(o["id"]) for o in venue_open}
    for row in await _still_open(rt, [r for r in open_rows
                                      if str(r["exchange_order_id"]) not in listed]):  # fmt: skip
        done += await _refresh(rt, row)
    return done


def _ms(when: datetime) -> int:
    return int((when - LOOKBACK).timestamp() * 1000)


async def sync_polled(
    rt: AccountRuntime, open_rows: list[OrderRow], unlinked_since: datetime | None
) -> int:
    """One polling round for a venue without a matching engine (see module docstring)."""
    cursors = _CURSORS.setdefault(rt.venue, {})
    timeout = rt.settings.venue_timeout_seconds
    by_symbol: dict[str, list[OrderRow]] = {}
    for row in open_rows:
        by_symbol.setdefault(str(row["symbol"]), []).append(row)
    done = 0
    for symbol, rows in by_symbol.items():
        since = cursors.get(symbol, _ms(min(r["created_at"] for r in rows)))
        try:
            trades = await asyncio.wait_for(rt.venue.fetch_my_trades(symbol, since), timeout)
            venue_open = await asyncio.wait_for(rt.venue.fetch_open_orders(symbol), timeout)
        except (TimeoutError, ccxt.BaseError):
            continue
        done += await _book_trades(rt, trades)
        ours = {str(r["exchange_order_id"]) for r in rows}
        stamps = [int(t["timestamp"]) for t in trades if str(t.get("order")) in ours
                  and t.get("timestamp") is not None]  # fmt: skip
        cap = _ms(unlinked_since) if unlinked_since is not None else None
        cursors[symbol] = min(x for x in (max([since, *stamps]), cap) if x is not None)
        listed = {str(o["id"]) for o in venue_open}
        for row in await _still_open(rt, [r for r in rows
                                          if str(r["exchange_order_id"]) not in listed]):  # fmt: skip
            done += await _refresh(rt, row)
    return done


async def _still_open(rt: AccountRuntime, gone: list[OrderRow]) -> list[OrderRow]:
    """Of the orders the venue no longer lists, those still open in the books. The trades just
    booked may have filled the others (a Binance USDⓈ-M order's answer carries no fills, so the
    sync books them), and their final state then needs no `fetch_order`: a request less of the
    exchange's rate budget per filled order (with CCXT's rate limiter on, that budget bounds a
    futures account's orders per second)."""
    if not gone:
        return []
    async with rt.store.read() as conn:
        still = {int(r["id"]) for r in await order_records.linked_open_orders(conn, rt.account_id)}
    return [row for row in gone if int(row["id"]) in still]


async def _book_trades(rt: AccountRuntime, trades: list[Structure]) -> int:
    async with rt.store.read() as conn:
        booked = await books.booked_keys(conn, rt.account_id, [str(t["id"]) for t in trades])
    fresh = [t for t in trades if (str(t["id"]), 0) not in booked and t.get("order")]
    if not fresh:
        return 0
    count = 0
    async with rt.record() as rec:
        for trade in fresh:
            order_id = await order_records.order_for_exchange_id(
                rec.conn, rt.account_id, str(trade["order"])
            )
            if order_id is None:
                continue  # not linked yet (unknown outcome being resolved, or external)
            row = await rec.rows.order_row(order_id)
            await book_report(rec, row, [trade])
            count += 1
    return count


async def _refresh(rt: AccountRuntime, row: OrderRow) -> int:
    """An open order the venue no longer lists: adopt its final state (and any last trades).
    An order in the middle of a cancel/replace is left to its `change_order` (its venue order
    is gone on purpose); one whose `change_order` gave up ends here (`replace_failed`)."""
    pending = row["edit_replace_state"] == REPLACE_PENDING
    if pending:
        async with rt.store.read() as conn:
            if await order_records.change_in_flight(conn, int(row["id"])):
                return 0
    exchange_order_id = row["exchange_order_id"]
    assert exchange_order_id is not None  # noqa: S101 - only linked orders are synced
    try:
        final = await asyncio.wait_for(
            rt.venue.fetch_order(exchange_order_id, row["symbol"]),
            rt.settings.venue_timeout_seconds,
        )
    except (TimeoutError, ccxt.BaseError):
        return 0
    async with rt.record() as rec:
        locked = await rec.rows.order_row(int(row["id"]))
        if not locked["is_open"]:
            return 0
        new = await adopt(rec, locked, final)
        if pending and locked["edit_replace_state"] == REPLACE_PENDING:
            values: OrderChanges = {"edit_replace_state": "replace_failed",
                                    "edit_replace_at": rec.now}  # fmt: skip
            new = rec.rows.update_order(new, values)
            rec.hold_event(ORDER_CHANGE_REPLACE_FAILED,
                           lambda: {**rec.order_view(new), "reason": "abandoned"},
                           strategy_id=int(new["strategy_id"]))  # fmt: skip
    return 1
