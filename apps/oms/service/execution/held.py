"""Orders the gateway holds (`emulation: gateway`): armed by the worker that owns the account,
watched in its housekeeping round, fired exactly once.

- **Arm** (the parent's `send_order`, under the lease): the `held_orders` row is written and the
  parent goes SUBMITTED in the command's record transaction; nothing goes to the venue.
- **Watch** (`check_held`, each housekeeping round): one ticker per symbol; the pure core
  (`domain/held_orders.observe`) decides. A trailing stop's moved trigger is written at once
  (the next owner continues from it after a kill -9). Each decision is re-taken on the held row
  locked in the writing transaction, so two owners (a takeover) cannot both act on it.
- **Fire**: in one transaction the held row goes `fired` and the child's `send_order` command
  (request id `held:{parent}:fire`, unique per account) and its PENDING_SUBMIT order are written:
  a crash before the commit fires nothing, after it the child is queued like any send; a second
  firing finds the request id and writes nothing. The child carries the parent's id, strategy
  and position; a reduce-only child reserves on its position as any close does.
- **Wait for a resting sibling**: an OCO leg whose sibling rests on the venue (a plain limit)
  goes `firing` instead, its crossing price and time written. From the next round on its
  worker cancels the sibling on the venue (`release`, again each round while the venue
  refuses) and writes the child only once the venue has ended the sibling, sized to what the
  sibling did not fill: the two never fill more than the qty together.
- **Follow**: the parent shows its child's fills and final status (`follow_child`); cancelling
  the parent cancels a live child; a good-till-date parent expires while armed and cancels its
  child when the date passes.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from apps.oms.clock import utcnow
from apps.oms.domain.booking import reserves_close as domain_reserves
from apps.oms.domain.closing import reserve_close
from apps.oms.domain.enums import OrderStatus, PositionMode, Side
from apps.oms.domain.events import (
    ORDER_ACCEPTED,
    ORDER_TRIGGER_MOVED,
    ORDER_TRIGGERED,
    CancelItem,
    OrderTriggered,
    OrderTriggerMoved,
)
from apps.oms.domain.held_orders import (
    Decision,
    Held,
    HeldKind,
    HeldState,
    child_qty,
    fire_request_id,
    follow_child,
    kind_of,
    observe,
    refires,
)
from apps.oms.domain.money import to_plain
from apps.oms.domain.orders import OrderState
from apps.oms.domain.positions import Position
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.exchange.profiles import profile
from apps.oms.ports import Structure
from apps.oms.service.execution import order_groups
from apps.oms.service.execution.order_state import STATUS_EVENTS, state_of, write_order
from apps.oms.service.execution.results import finish
from apps.oms.service.execution.runtime import AccountRuntime, Recorder
from apps.oms.service.views import order_view
from apps.oms.store import books, order_records
from apps.oms.store import held_orders as held_store
from apps.oms.store import positions as position_store
from apps.oms.store.held_orders import HeldRow
from apps.oms.store.order_rows import OrderChanges, OrderRow
from apps.oms.store.positions import position_from_row
from apps.oms.store.queue import Claimed
from apps.oms.store.records import ColumnValues

GATEWAY = "gateway"


def is_held(row: OrderRow) -> bool:
    """An order the gateway holds (never sent to the venue itself: its child is)."""
    return row.get("emulation") == GATEWAY


# --- arm -------------------------------------------------------------------------------------


def held_values(rec: Recorder, row: OrderRow) -> ColumnValues:
    """The armed `held_orders` row of a held order (its conditional fields)."""
    trailing = row["trailing_amount"] is not None or row["trailing_percent"] is not None
    kind = HeldKind.TIME if row.get("fire_at") is not None else \
        kind_of(row["trigger_price"], row["stop_price"], row["take_profit_price"], trailing)
    assert kind is not None  # noqa: S101 - acceptance holds conditional orders only
    activation = row["trailing_trigger_price"]
    return {
        "account_id": rec.rt.account_id, "order_id": int(row["id"]), "kind": kind.value,
        "side": row["side"], "symbol": row["symbol"], "state": HeldState.ARMED.value,
        "trigger_price": row["trigger_price"] or row["stop_price"] or row["take_profit_price"],
        "trailing_amount": row["trailing_amount"], "trailing_percent": row["trailing_percent"],
        "activation_price": activation, "activated": activation is None,
        "price_type": row["trigger_price_type"] or "last", "expire_at": row["expire_at"],
        "fire_at": row.get("fire_at"), "group_id": row.get("group_id"), "created_at": rec.now,
        "updated_at": rec.now,
    }  # fmt: skip


async def arm(rec: Recorder, cmd: Claimed, row: OrderRow) -> OrderRow:
    """The parent's send: its held row, SUBMITTED, the command finished (one transaction); an
    OCO's first leg arms the other legs with it (`order_groups.on_armed`)."""
    await held_store.arm(rec.conn, held_values(rec, row))
    armed = await write_order(rec, row, replace(state_of(row), status=OrderStatus.SUBMITTED))
    await order_groups.on_armed(rec, armed)
    await finish(rec, cmd, order=armed)
    return armed


# --- watch -----------------------------------------------------------------------------------


def held_of(row: HeldRow, price_increment: Decimal | None) -> Held:
    return Held(
        kind=HeldKind(row["kind"]), side=Side(row["side"]), trigger_price=row["trigger_price"],
        trailing_amount=row["trailing_amount"], trailing_percent=row["trailing_percent"],
        activation_price=row["activation_price"], activated=bool(row["activated"]),
        expire_at=row["expire_at"], price_increment=price_increment,
        state=HeldState(row["state"]), fire_at=row["fire_at"],
    )  # fmt: skip


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else to_plain(value)


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _price_of(ticker: Structure, price_type: str) -> Decimal | None:
    if price_type == "mark":
        return _decimal(ticker.get("markPrice"))
    return _decimal(ticker.get("last"))


async def check_held(rt: AccountRuntime) -> int:
    """One round over the account's armed and fired held orders; how many acted."""
    async with rt.store.read() as conn:
        live = await held_store.live_of(conn, rt.account_id)
    rt.held_armed = any(h["state"] == HeldState.ARMED for h in live)
    if not live:
        return 0
    # one ticker per symbol and price type watched (a time limit watches the clock only): a
    # mark price comes from the venue's own mark-price call where its ticker carries none
    tickers: dict[tuple[str, str], Structure | None] = {}
    for symbol, price_type in sorted({(str(h["symbol"]), str(h["price_type"])) for h in live
                                      if h["state"] == HeldState.ARMED
                                      and h["kind"] != HeldKind.TIME}):  # fmt: skip
        read = rt.venue.fetch_mark_price if price_type == "mark" else rt.venue.fetch_ticker
        try:
            tickers[(symbol, price_type)] = await asyncio.wait_for(
                read(symbol), rt.settings.venue_timeout_seconds)
        except (TimeoutError, ccxt.BaseError):
            tickers[(symbol, price_type)] = None  # no price now: expiries are still checked
    done = 0
    for row in live:
        if row["state"] == HeldState.ARMED:
            ticker = tickers.get((str(row["symbol"]), str(row["price_type"])))
            price = None if ticker is None else _price_of(ticker, str(row["price_type"]))
            done += await _watch(rt, row, price)
        elif row["state"] == HeldState.FIRING:
            done += await release(rt, row)
        else:
            done += await follow(rt, int(row["order_id"]))
    return done


def _increment(rt: AccountRuntime, symbol: str) -> Decimal | None:
    market = profile(rt.account.exchange_id).market(symbol)
    return None if market is None else market.price_step


async def _watch(rt: AccountRuntime, row: HeldRow, price: Decimal | None) -> int:
    """Decide on the row as read; act only if a decision is due, re-deciding under lock."""
    increment = _increment(rt, str(row["symbol"]))
    if observe(held_of(row, increment), price, utcnow()).decision is Decision.NONE:
        return 0
    async with rt.record() as rec:
        locked = await held_store.of_order(rec.conn, int(row["order_id"]), lock=True)
        if locked is None or locked["state"] != HeldState.ARMED:
            return 0
        step = observe(held_of(locked, increment), price, rec.now)
        if step.decision is Decision.MOVED:
            await _moved(rec, locked, step.held, price)
        elif step.decision is Decision.EXPIRE:
            await _expire(rec, locked)
        elif step.decision is Decision.FIRE:
            await _fire(rec, locked, step.held, price)
        return 0 if step.decision is Decision.NONE else 1


async def _moved(rec: Recorder, row: HeldRow, held: Held, price: Decimal | None) -> None:
    assert held.trigger_price is not None  # noqa: S101 - a move sets it
    assert price is not None  # noqa: S101 - only a price moves it
    await held_store.change(rec.conn, int(row["id"]), {
        "trigger_price": held.trigger_price, "activated": held.activated, "updated_at": rec.now})
    moved: OrderTriggerMoved = {
        "order_id": int(row["order_id"]), "trigger_price": to_plain(held.trigger_price),
        "activated": held.activated, "price": to_plain(price)}  # fmt: skip
    parent = await rec.rows.order_row(int(row["order_id"]))
    # the parent shows the trigger as it stands (CCXT's `triggerPrice` of a trailing stop)
    rec.rows.update_order(parent, {"trigger_price": held.trigger_price, "updated_at": rec.now})
    rec.hold_event(ORDER_TRIGGER_MOVED, moved, strategy_id=int(parent["strategy_id"]))


async def _expire(rec: Recorder, row: HeldRow) -> None:
    await held_store.change(rec.conn, int(row["id"]), {
        "state": HeldState.EXPIRED.value, "updated_at": rec.now})
    parent = await rec.rows.order_row(int(row["order_id"]))
    if OrderStatus(parent["status"]).is_open:
        await write_order(rec, parent, replace(state_of(parent), status=OrderStatus.EXPIRED))


# --- fire ------------------------------------------------------------------------------------


async def _fire(rec: Recorder, row: HeldRow, held: Held, price: Decimal | None) -> None:
    """Fire at `price` (None: a time limit, which the clock fires)."""
    parent = await rec.rows.order_row(int(row["order_id"]))
    if not OrderStatus(parent["status"]).is_open:  # ended meanwhile (a cancel)
        await held_store.change(rec.conn, int(row["id"]), {
            "state": HeldState.CANCELED.value, "updated_at": rec.now})
        return
    if not await order_groups.on_fire(rec, parent):  # another leg of its group fired first
        return
    fired = {"fired_at": rec.now, "fired_price": price, "trigger_price": held.trigger_price,
             "updated_at": rec.now}  # fmt: skip
    if held.kind is HeldKind.TRAILING:
        parent = rec.rows.update_order(parent, {"trigger_price": held.trigger_price,
                                                "updated_at": rec.now})
    if await order_groups.resting_legs(rec.conn, parent):
        # a sibling rests on the venue: its cancel and its final fills first, the child after
        await held_store.change(rec.conn, int(row["id"]), {
            **fired, "state": HeldState.FIRING.value})
        return
    await _send_child(rec, row, parent, Decimal(parent["qty"]), fired)


async def _send_child(rec: Recorder, row: HeldRow, parent: OrderRow, rest: Decimal,
                      fired: ColumnValues, n: int = 1) -> None:  # fmt: skip
    """The fired parent's `n`th child, sized to what is left to reduce and to `rest` (what
    resting siblings did not fill), or the parent ended CANCELED when nothing is left."""
    qty, position = await _child_size(rec, parent)
    qty = min(qty, rest)
    if qty <= 0:
        await held_store.change(rec.conn, int(row["id"]), {
            **fired, "state": HeldState.DONE.value})
        reason = ("sibling_filled", "its sibling on the venue filled it all") if rest <= 0 \
            else ("nothing_to_reduce", "fired with nothing left on its position to reduce")
        await write_order(rec, parent, replace(state_of(parent), status=OrderStatus.CANCELED),
                          error_code=reason[0], error_message=reason[1])
        return
    request_id = fire_request_id(int(parent["id"]), n)
    child_id = await _enqueue_child(rec, parent, qty, request_id)
    if child_id is None:  # fired before (a takeover between two owners): nothing twice
        return
    if position is not None:
        await books.update_position(rec.conn, reserve_close(position, qty))
    await held_store.change(rec.conn, int(row["id"]), {
        **fired, "state": HeldState.FIRED.value, "child_order_id": child_id})
    child = order_view(await order_records.require_order(rec.conn, child_id))
    strategy = int(parent["strategy_id"])
    price = fired["fired_price"]
    triggered: OrderTriggered = {
        "order": rec.order_view(parent), "child": child,
        "price": _plain(price if isinstance(price, Decimal) else None),
        "price_type": str(row["price_type"]), "request_id": request_id}  # fmt: skip
    rec.hold_event(ORDER_TRIGGERED, triggered, strategy_id=strategy)
    rec.hold_event(ORDER_ACCEPTED, child, strategy_id=strategy)


async def release(rt: AccountRuntime, row: HeldRow) -> int:
    """A firing leg: its resting siblings are cancelled on the venue (each round until the
    venue has ended them: it may be unreachable), then the venue is asked what each filled
    (a cancel's answer may report fills whose trades are not booked yet); the child goes out
    sized to what they did not fill, unless the group was cancelled or the leg's date passed
    meanwhile. Returns 1 when something was recorded."""
    async with rt.store.read() as conn:
        parent = await order_records.get_order(conn, int(row["order_id"]))
        resting = [] if parent is None else await order_groups.resting_legs(conn, parent)
    if parent is None:
        return 0
    from apps.oms.service.execution.cancel import cancel_one  # cancel imports this module

    for leg in resting:
        if leg.status.is_open:
            await cancel_one(rt, None, leg.order_id)
    async with rt.store.read() as conn:  # as the cancels left them
        rows = [await order_records.get_order(conn, m.order_id) for m in resting]
    venue_filled = await _venue_filled(rt, [r for r in rows if r is not None])
    if venue_filled is None:
        return 0  # the venue did not answer: the next round asks again
    async with rt.record() as rec:
        locked = await held_store.of_order(rec.conn, int(row["order_id"]), lock=True)
        if locked is None or locked["state"] != HeldState.FIRING:
            return 0
        parent = await rec.rows.order_row(int(row["order_id"]))
        if not OrderStatus(parent["status"]).is_open:  # cancelled while it waited
            await held_store.change(rec.conn, int(locked["id"]), {
                "state": HeldState.CANCELED.value, "updated_at": rec.now})
            return 1
        if not await order_groups.may_release(rec, parent):  # its group is being cancelled
            await held_store.change(rec.conn, int(locked["id"]), {
                "state": HeldState.CANCELED.value, "updated_at": rec.now})
            await write_order(rec, parent, replace(state_of(parent), status=OrderStatus.CANCELED))
            return 1
        if locked["expire_at"] is not None and rec.now >= locked["expire_at"]:
            await _expire(rec, locked)  # its date passed while it waited: nothing is sent
            return 1
        rest = await order_groups.rest_after_resting_legs(rec, parent, venue_filled)
        if rest is None:
            return 0  # the venue still works a sibling: the next round asks again
        fired: ColumnValues = {"fired_at": locked["fired_at"], "fired_price": locked["fired_price"],
                               "trigger_price": locked["trigger_price"], "updated_at": rec.now}
        await _send_child(rec, locked, parent, rest, fired)
        return 1


async def _venue_filled(rt: AccountRuntime, legs: list[OrderRow]) -> dict[int, Decimal] | None:
    """What the venue reports each ended resting leg filled, by order id (None: it did not
    answer). A leg still working or never placed is left out: the books decide for it."""
    found: dict[int, Decimal] = {}
    for leg in legs:
        if OrderStatus(leg["status"]).is_open or leg["exchange_order_id"] is None:
            continue
        try:
            report = await asyncio.wait_for(
                rt.venue.fetch_order(str(leg["exchange_order_id"]), str(leg["symbol"])),
                rt.settings.venue_timeout_seconds)
        except (TimeoutError, ccxt.BaseError):
            return None
        found[int(leg["id"])] = _decimal(report.get("filled")) or Decimal(0)
    return found


async def _child_size(rec: Recorder, parent: OrderRow) -> tuple[Decimal, Position | None]:
    """(qty, the position it reserves on or None): a child that closes on a position reserves
    what it closes, as acceptance reserves a close order."""
    qty = Decimal(parent["qty"])
    position_id = int(parent["position_id"])
    if position_id <= 0:
        return qty, None
    prow = await position_store.get_position(rec.conn, position_id, for_update=True)
    position = None if prow is None or not prow["is_open"] else position_from_row(prow)
    mode = PositionMode(rec.rt.account.position_mode)
    reserves = domain_reserves(position_id, Side(parent["side"]), bool(parent["reduce_only"]),
                               position, mode)  # fmt: skip
    if position is None:
        return (Decimal(0), None) if parent["reduce_only"] else (qty, None)
    if not reserves:
        return qty, None
    return child_qty(qty, True, position.available_qty), position


async def _enqueue_child(rec: Recorder, parent: OrderRow, qty: Decimal, request_id: str
                         ) -> int | None:  # fmt: skip
    account_id = rec.rt.account_id
    client_order_id = f"h{int(parent['id']):x}x{secrets.token_hex(8)}"[:32]
    payload = {
        "symbol": parent["symbol"], "side": parent["side"], "order_type": parent["order_type"],
        "qty": to_plain(qty), "price": None if parent["price"] is None
        else to_plain(parent["price"]), "strategy_id": int(parent["strategy_id"]),
        "position_id": int(parent["position_id"]), "reason": parent["reason"],
        "reduce_only": bool(parent["reduce_only"]), "client_order_id": client_order_id,
        "oms_stop_loss": _plain(parent["stop_loss"]), "oms_stop_gain": _plain(parent["stop_gain"]),
    }  # fmt: skip
    digest = hashlib.sha256(f"{account_id}:{request_id}".encode()).hexdigest()
    command_id = await held_store.queue_child(rec.conn, account_id, request_id, digest, payload,
                                              rec.now)  # fmt: skip
    if command_id is None:
        return None
    return await held_store.add_child(rec.conn, command_id, {
        "account_id": account_id, "client_order_id": client_order_id,
        "symbol": parent["symbol"], "side": parent["side"], "order_type": parent["order_type"],
        "qty": qty, "price": parent["price"], "reduce_only": bool(parent["reduce_only"]),
        "strategy_id": int(parent["strategy_id"]), "position_id": int(parent["position_id"]),
        "reason": parent["reason"], "comment": parent["comment"], "params": {},
        "stop_loss": parent["stop_loss"], "stop_gain": parent["stop_gain"],
        "parent_order_id": int(parent["id"]), "created_at": rec.now, "updated_at": rec.now,
    })  # fmt: skip


# --- follow and cancel -----------------------------------------------------------------------


async def follow(rt: AccountRuntime, parent_id: int) -> int:
    """A fired parent takes its child's fills and final state; a good-till-date parent's live
    child is cancelled once the date passed. Returns 1 when something was recorded."""
    async with rt.store.read() as conn:
        held = await held_store.of_order(conn, parent_id)
        child = parent = None
        if held is not None and held["child_order_id"] is not None:
            child = await order_records.get_order(conn, int(held["child_order_id"]))
            parent = await order_records.get_order(conn, parent_id)
    if held is None or held["state"] != HeldState.FIRED or child is None or parent is None:
        return 0
    expire_at: datetime | None = held["expire_at"]
    if OrderStatus(child["status"]).is_open and expire_at is not None \
            and utcnow() >= expire_at and child["exchange_order_id"] is not None:
        from apps.oms.service.execution.cancel import cancel_one  # cancel imports this module

        await cancel_one(rt, None, int(child["id"]))
    elif OrderStatus(parent["status"]).is_open and \
            follow_child(state_of(parent), state_of(child)) == state_of(parent):
        return 0  # the child still works: nothing to record (no transaction each round)
    async with rt.record() as rec:
        locked = await held_store.of_order(rec.conn, parent_id, lock=True)
        if locked is None or locked["state"] != HeldState.FIRED:
            return 0
        parent = await rec.rows.order_row(parent_id)
        child_row = await order_records.require_order(rec.conn, int(locked["child_order_id"]))
        if OrderStatus(parent["status"]).is_open and refires(state_of(child_row)):
            await _refire(rec, locked, parent, child_row)
            return 1
        new = follow_child(state_of(parent), state_of(child_row))
        if new != state_of(parent):
            await _write_parent(rec, parent, new, child_row)
        elif new.status.is_open:
            return 0
        if not new.status.is_open:
            await held_store.change(rec.conn, int(locked["id"]), {
                "state": HeldState.DONE.value, "updated_at": rec.now})
        return 1


async def _refire(rec: Recorder, row: HeldRow, parent: OrderRow, child: OrderRow) -> None:
    """The parent's child never reached the venue (`domain.held_orders.refires`): a new child
    of the same qty (re-sized to what is left to reduce), at the same firing, unless the
    parent's date passed meanwhile (it expires: nothing is sent)."""
    if row["expire_at"] is not None and rec.now >= row["expire_at"]:
        await _expire(rec, row)
        return
    fired: ColumnValues = {"fired_at": row["fired_at"], "fired_price": row["fired_price"],
                           "trigger_price": row["trigger_price"], "updated_at": rec.now}
    n = await held_store.firings_so_far(rec.conn, rec.rt.account_id, int(parent["id"])) + 1
    await _send_child(rec, row, parent, Decimal(child["qty"]), fired, n)


async def _write_parent(rec: Recorder, parent: OrderRow, new: OrderState, child: OrderRow
                        ) -> None:  # fmt: skip
    """The parent as its child: written whole (`follow_child`), with its event."""
    values: OrderChanges = {
        "status": new.status.value, "is_open": new.status.is_open,
        "filled_qty": new.filled_qty, "avg_fill_price": new.avg_fill_price,
        "fee": child["fee"], "fee_currency": child["fee_currency"], "updated_at": rec.now,
    }  # fmt: skip
    if not new.status.is_open:
        values["closed_at"] = rec.now
        if new.status is OrderStatus.REJECTED:
            values["error_code"] = child["error_code"]
            values["error_message"] = child["error_message"]
    written = rec.rows.update_order(parent, values)
    event = STATUS_EVENTS.get(new.status)
    if event is not None:
        rec.hold_event(event, lambda: rec.order_view(written),
                       strategy_id=int(written["strategy_id"]))


async def _never_placed(rec: Recorder, row: HeldRow) -> bool:
    """A fired parent whose child ended as never placed, not yet sent again: a cancel ends it
    at once (otherwise its next round would send a new child)."""
    if row["state"] != HeldState.FIRED or row["child_order_id"] is None:
        return False
    child = await order_records.require_order(rec.conn, int(row["child_order_id"]))
    return refires(state_of(child))


async def cancel_held(rt: AccountRuntime, cmd: Claimed | None, row: OrderRow) -> CancelItem:
    """Cancel a held parent: an armed one (or one whose child waits for a resting sibling's
    cancel, or whose child never reached the venue) ends CANCELED at once; a fired one cancels
    its live child and then follows it (its fills stay)."""
    order_id = int(row["id"])
    async with rt.record(cmd) as rec:
        locked = await held_store.of_order(rec.conn, order_id, lock=True)
        parent = await rec.rows.order_row(order_id)
        if locked is not None and (locked["state"] in (HeldState.ARMED, HeldState.FIRING)
                                   or await _never_placed(rec, locked)):
            await held_store.change(rec.conn, int(locked["id"]), {
                "state": HeldState.CANCELED.value, "updated_at": rec.now})
            new = await write_order(rec, parent,
                                    replace(state_of(parent), status=OrderStatus.CANCELED))
            return {"order_id": order_id, "ok": True, "status": new["status"]}
    if locked is None or locked["child_order_id"] is None:
        return {"order_id": order_id, "ok": False, "code": "invalid_order_state",
                "status": row["status"]}  # fmt: skip
    from apps.oms.service.execution.cancel import cancel_one  # cancel imports this module

    item = await cancel_one(rt, None, int(locked["child_order_id"]))
    await follow(rt, order_id)
    async with rt.store.read() as conn:
        final = await order_records.get_order(conn, order_id)
    status = str(row["status"]) if final is None else str(final["status"])
    if item.get("ok") or not OrderStatus(status).is_open:
        return {"order_id": order_id, "ok": True, "status": status}
    return {**item, "order_id": order_id, "status": status}
