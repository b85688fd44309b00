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

An exchange with a private stream (`order_stream.py`) is not polled while its stream is up:
`sync_streamed` books what the stream delivered (trades, and the final state of the orders
whose update says they ended) and runs the polling round only as the stream's repair.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from weakref import WeakKeyDictionary

from apps.oms import metrics
from apps.oms.domain.events import ORDER_CHANGE_REPLACE_FAILED
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.ports import MatchingVenuePort, Structure, implements
from apps.oms.service.execution.booking import book_report
from apps.oms.service.execution.order_stream import OrderStream
from apps.oms.service.execution.results import adopt
from apps.oms.service.execution.runtime import AccountRuntime
from apps.oms.store import books, order_records
from apps.oms.store.order_rows import OrderChanges, OrderRow

LOOKBACK = timedelta(seconds=5)
REPLACE_PENDING = "replace_pending"
_CURSORS: WeakKeyDictionary[Any, dict[str, int]] = WeakKeyDictionary()
#: the venue's final order states an order update from the stream is adopted with
FINAL = frozenset({"closed", "canceled", "cancelled", "expired", "rejected"})
POLL, REPAIR, STREAM = "poll", "repair", "stream"


async def sync_orders(rt: AccountRuntime, stream: OrderStream | None = None) -> int:
    """One sync round; returns how many trades or order states were recorded. `stream`: the
    account's private stream, if its venue has one (booked from while it is up)."""
    if stream is not None and stream.up:
        return await sync_streamed(rt, stream)
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
    done = (await _book_trades(rt, trades)).count
    listed = {str(o["id"]) for o in venue_open}
    for row in await _still_open(rt, [r for r in open_rows
                                      if str(r["exchange_order_id"]) not in listed]):  # fmt: skip
        done += await _refresh(rt, row)
    return done


async def sync_streamed(rt: AccountRuntime, stream: OrderStream) -> int:
    """Book what the stream delivered, then repair through the polling round when one is due:
    every open order after a (re)connect and by the period (`OrderStream.repair_due`), the
    open orders of a gap's symbol when the gap's trades did not follow in time."""
    done = await drain(rt, stream)
    if not stream.repair_due(orders_open=True) and not stream.gaps():
        return done  # nothing to repair, whatever is open: no read
    async with rt.store.read() as conn:
        open_rows = await order_records.linked_open_orders(conn, rt.account_id)
    whole = stream.repair_due(bool(open_rows))
    by_id = {str(r["exchange_order_id"]): r for r in open_rows}
    for exchange_order_id, gap in stream.gaps().items():
        row = by_id.get(exchange_order_id)
        if row is None or row["filled_qty"] >= gap.venue_filled:
            stream.close_gap(exchange_order_id)  # its trades came (or it ended)
    symbols = stream.gaps_due()
    if not whole and not symbols:
        return done
    rows = open_rows if whole else [r for r in open_rows if str(r["symbol"]) in symbols]
    if rows:
        async with rt.store.read() as conn:
            unlinked_since = await order_records.oldest_unlinked_open(conn, rt.account_id)
        done += await sync_polled(rt, rows, unlinked_since, purpose=REPAIR)
    stream.repaired(whole)
    return done


async def drain(rt: AccountRuntime, stream: OrderStream) -> int:
    """Book the trades the stream delivered (those of orders not linked yet wait in the stream
    for their order's record) and adopt the final state of each open order whose update says
    it ended; an update saying the venue filled more than the books now hold opens a gap."""
    taken = stream.take()
    if not taken.trades and not taken.orders:
        return 0
    booked = await _book_trades(rt, taken.trades, STREAM)
    stream.wait_for_link(booked.unlinked)
    gaps = stream.gaps()
    for exchange_order_id, after in booked.rows.items():  # trades that followed their update
        gap = gaps.get(exchange_order_id)
        if gap is not None and (not after["is_open"] or after["filled_qty"] >= gap.venue_filled):
            stream.close_gap(exchange_order_id)
    if not taken.orders:
        return booked.count
    rows = await _open_rows(rt, taken.orders, booked)
    ended: list[tuple[OrderRow, Structure]] = []
    for update in taken.orders:
        exchange_order_id = str(update["id"])
        row = rows.get(exchange_order_id)
        if row is None:
            continue  # ended in the books already, an earlier venue order of a replaced one, or
            # not linked yet (its send's own record adopts the venue's answer)
        filled = update.get("filled")
        if isinstance(filled, Decimal) and filled > row["filled_qty"]:
            stream.watch_gap(exchange_order_id, str(row["symbol"]), filled)
        else:
            stream.close_gap(exchange_order_id)
        if str(update.get("status")) in FINAL and row["edit_replace_state"] != REPLACE_PENDING:
            ended.append((row, update))
    return booked.count + await _adopt_ended(rt, ended)


async def _open_rows(
    rt: AccountRuntime, updates: list[Structure], booked: Booked
) -> dict[str, OrderRow]:
    """The open orders the updates are of, by venue order id: those whose trades were just
    booked as they are now, the others read."""
    rows = {k: r for k, r in booked.rows.items() if r["is_open"]}
    unknown = [str(u["id"]) for u in updates if str(u["id"]) not in booked.rows]
    if unknown:
        async with rt.store.read() as conn:
            rows.update((str(r["exchange_order_id"]), r) for r in
                        await order_records.open_orders_with_exchange_ids(
                            conn, rt.account_id, unknown))  # fmt: skip
    return rows


async def _adopt_ended(rt: AccountRuntime, ended: list[tuple[OrderRow, Structure]]) -> int:
    """Adopt the venue's final state of orders that ended (one transaction)."""
    done = 0
    if ended:
        async with rt.record() as rec:
            for row, update in ended:
                locked = await rec.rows.order_row(int(row["id"]))
                if locked["is_open"]:
                    await adopt(rec, locked, update)
                    done += 1
    return done


def _ms(when: datetime) -> int:
    return int((when - LOOKBACK).timestamp() * 1000)


async def sync_polled(
    rt: AccountRuntime,
    open_rows: list[OrderRow],
    unlinked_since: datetime | None,
    *,
    purpose: str = POLL,
) -> int:
    """One polling round for a venue without a matching engine (see module docstring); as the
    repair of a private stream, `purpose` is REPAIR."""
    cursors = _CURSORS.setdefault(rt.venue, {})
    timeout = rt.settings.venue_timeout_seconds
    by_symbol: dict[str, list[OrderRow]] = {}
    for row in open_rows:
        by_symbol.setdefault(str(row["symbol"]), []).append(row)
    done = 0
    for symbol, rows in by_symbol.items():
        since = cursors.get(symbol, _ms(min(r["created_at"] for r in rows)))
        try:
            metrics.SYNC_REST_CALLS.labels(purpose).inc(2)
            trades = await asyncio.wait_for(rt.venue.fetch_my_trades(symbol, since), timeout)
            venue_open = await asyncio.wait_for(rt.venue.fetch_open_orders(symbol), timeout)
        except (TimeoutError, ccxt.BaseError):
            continue
        done += (await _book_trades(rt, trades, purpose)).count
        ours = {str(r["exchange_order_id"]) for r in rows}
        stamps = [int(t["timestamp"]) for t in trades if str(t.get("order")) in ours
                  and t.get("timestamp") is not None]  # fmt: skip
        cap = _ms(unlinked_since) if unlinked_since is not None else None
        cursors[symbol] = min(x for x in (max([since, *stamps]), cap) if x is not None)
        listed = {str(o["id"]) for o in venue_open}
        for row in await _still_open(rt, [r for r in rows
                                          if str(r["exchange_order_id"]) not in listed]):  # fmt: skip
            done += await _refresh(rt, row, purpose)
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


@dataclass
class Booked:
    """What `_book_trades` did: how many trades it booked, the trades whose venue order is not
    linked, and the rows of the orders it booked on as they are now, by venue order id."""

    count: int = 0
    unlinked: list[Structure] = field(default_factory=list)
    rows: dict[str, OrderRow] = field(default_factory=dict)


async def _book_trades(rt: AccountRuntime, trades: list[Structure], path: str = POLL) -> Booked:
    """Book the trades not booked yet of linked orders. A trade's venue order may not be
    linked yet (an unknown outcome being resolved, a send not recorded yet) or never be (an
    order placed outside the gateway). Only the account's task books or links its orders, so
    what one read finds holds in the transaction after it."""
    if not trades:
        return Booked()
    async with rt.store.read() as conn:
        booked = await books.booked_keys(conn, rt.account_id, [str(t["id"]) for t in trades])
        fresh: list[Structure] = []
        seen: set[str] = set()
        for trade in trades:
            key = str(trade["id"])
            if (key, 0) not in booked and trade.get("order") and key not in seen:
                seen.add(key)
                fresh.append(trade)
        linked = await order_records.orders_for_exchange_ids(
            conn, rt.account_id, [str(t["order"]) for t in fresh]
        )
    result = Booked(unlinked=[t for t in fresh if str(t["order"]) not in linked])
    by_order: dict[str, list[Structure]] = {}
    for trade in fresh:  # an order's trades in one report (they come in the venue's order)
        if str(trade["order"]) in linked:
            by_order.setdefault(str(trade["order"]), []).append(trade)
    if not by_order:
        return result
    async with rt.record() as rec:
        for exchange_order_id, its_trades in by_order.items():
            row = await rec.rows.order_row(linked[exchange_order_id])
            row = await book_report(rec, row, its_trades)
            if str(row["exchange_order_id"]) == exchange_order_id:
                result.rows[exchange_order_id] = row
            result.count += len(its_trades)
    _observe_booked([t for ts in by_order.values() for t in ts], path)
    return result


def _observe_booked(trades: list[Structure], path: str) -> None:
    """From each booked trade's venue time to now (its record committed)."""
    now_ms = time.time() * 1000
    for trade in trades:
        stamp = trade.get("timestamp")
        if isinstance(stamp, int | Decimal):
            metrics.FILL_BOOKED.labels(path).observe(max(0.0, (now_ms - float(stamp)) / 1000))


async def _refresh(rt: AccountRuntime, row: OrderRow, purpose: str = POLL) -> int:
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
        metrics.SYNC_REST_CALLS.labels(purpose).inc()
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
