"""Stop-loss / take-profit: watch open positions with targets against the venue's bid/ask and,
when one fires, cancel the position's pending close orders and enqueue a reduce-only market
`close_position` (reason `stop_loss` / `take_profit`, request id `trg:{position}:{kind}:{n}`,
idempotent through the unique `(account_id, request_id)`), with a `stop_triggered` event.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from apps.oms.domain.closing import reserve_close
from apps.oms.domain.enums import TriggerKind
from apps.oms.domain.events import (
    ORDER_ACCEPTED,
    POSITION_CLOSE_REQUESTED,
    STOP_TRIGGERED,
    StopTriggered,
)
from apps.oms.domain.positions import Position
from apps.oms.domain.targets import trigger, trigger_request_id
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.service.execution.cancel import cancel_one
from apps.oms.service.execution.runtime import AccountRuntime, Recorder
from apps.oms.service.views import order_view, position_view
from apps.oms.store import books, order_records, trigger_records
from apps.oms.store.positions import position_from_row

KINDS = (TriggerKind.STOP_LOSS.value, TriggerKind.TAKE_PROFIT.value)


async def check_triggers(rt: AccountRuntime) -> int:
    """Fire every target crossed now; returns how many closes were enqueued."""
    async with rt.store.read() as conn:
        watched = await books.positions_with_targets(conn, rt.account_id)
    fired = 0
    for position in watched:
        try:
            ticker = await asyncio.wait_for(
                rt.venue.fetch_ticker(position.symbol), rt.settings.venue_timeout_seconds
            )
        except (TimeoutError, ccxt.BaseError):
            continue
        kind = trigger(position, ticker.get("bid"), ticker.get("ask"))
        if kind is not None and await _fire(rt, position, kind):
            fired += 1
    return fired


async def _fire(rt: AccountRuntime, position: Position, kind: TriggerKind) -> bool:
    async with rt.store.read() as conn:
        pending = await order_records.open_orders(
            conn, rt.account_id, position_id=position.position_id
        )
    if any(o["reason"] in KINDS for o in pending):
        return False  # a trigger close is already in flight
    for order in pending:
        if order["side"] != position.side.value:
            await cancel_one(rt, None, int(order["id"]))
    async with rt.record() as rec:
        row = await books.get_position_row(rec.conn, position.position_id)
        if row is None or not row["is_open"]:
            return False
        current = position_from_row(row)
        if current.available_qty <= 0:
            return False
        return await _enqueue_close(rec, current, kind)


async def _trigger_number(rec: Recorder, position_id: int, kind: TriggerKind) -> int:
    """n of `trg:{position}:{kind}:{n}`: one more than the trigger orders of that kind so far."""
    return await trigger_records.trigger_orders_so_far(rec.conn, position_id, kind.value) + 1


async def _enqueue_close(rec: Recorder, position: Position, kind: TriggerKind) -> bool:
    pid, qty = position.position_id, position.available_qty
    request_id = trigger_request_id(pid, kind, await _trigger_number(rec, pid, kind))
    payload = {"position_id": pid, "order_type": "market", "qty": str(qty),
               "reason": kind.value}
    digest = hashlib.sha256(f"{rec.rt.account_id}:{request_id}".encode()).hexdigest()
    command_id = await trigger_records.queue_close(rec.conn, rec.rt.account_id, request_id,
                                                   digest, payload, rec.now)  # fmt: skip
    if command_id is None:  # this trigger was enqueued already
        return False
    order_id = await trigger_records.add_close_order(
        rec.conn, account_id=rec.rt.account_id, command_id=command_id,
        client_order_id=f"t{command_id:x}{secrets.token_hex(6)}"[:32], symbol=position.symbol,
        side=position.side.opposite.value, qty=qty, strategy_id=position.strategy_id,
        position_id=pid, reason=kind.value, now=rec.now)  # fmt: skip
    await books.update_position(rec.conn, reserve_close(position, qty))
    order = order_view(await order_records.require_order(rec.conn, order_id))
    body: StopTriggered = {"kind": kind.value, "position_id": pid, "request_id": request_id,
                           "order": order}  # fmt: skip
    strategy = position.strategy_id
    rec.hold_event(STOP_TRIGGERED, body, strategy_id=strategy)
    rec.hold_event(ORDER_ACCEPTED, order, strategy_id=strategy)
    changed = await books.require_position_row(rec.conn, pid)
    rec.hold_event(POSITION_CLOSE_REQUESTED, position_view(changed), strategy_id=strategy)
    return True
