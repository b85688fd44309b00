"""`cancel_order`, `cancel_all_orders` and `change_order` (native edit; cancel/replace lives in
`replace`) on orders already sent to the venue.

Each venue call runs outside any transaction; each order's outcome is recorded in its own fenced
transaction (a re-attempt after a crash sees already cancelled orders as `invalid_order_state`
items), then the command finishes with one item per order. A command that cancels many orders
(a kill switch's `cancel_all_orders`, a list of ids) has several of them in flight at once
(`CONCURRENCY`): one after another, each order's venue round trips and record added up to
~28 ms, so 1,000 working orders took half a minute to come off the venue.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

from apps.oms.domain.enums import OrderStatus
from apps.oms.domain.errors import DomainError
from apps.oms.domain.events import (
    ORDER_CHANGE_REPLACE_FAILED,
    ORDER_CHANGED,
    ORDERS_CANCELED_BATCH,
    CancelItem,
)
from apps.oms.domain.orders import cancel_before_send, check_cancellable
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.exchange.order_features import order_features
from apps.oms.ports import Structure
from apps.oms.service.execution.held import cancel_held, is_held
from apps.oms.service.execution.order_state import state_of, write_order
from apps.oms.service.execution.replace import execute_replace, has_native_edit
from apps.oms.service.execution.results import adopt, finish
from apps.oms.service.execution.runtime import AccountRuntime
from apps.oms.service.views import order_view
from apps.oms.store import order_groups as group_store
from apps.oms.store import order_records
from apps.oms.store.order_rows import OrderChanges, OrderRow
from apps.oms.store.queue import Claimed
from apps.oms.store.records import CommandPayload

log = logging.getLogger("apps.worker")

Item = CancelItem
#: orders of one command cancelled at once: their venue calls overlap (an exchange's request
#: rate is the CCXT client's to keep), their records queue on the account's lease row
CONCURRENCY = 8


def order_ids_of(payload: CommandPayload) -> list[int]:
    ids: list[int] = []
    if payload.get("order_id") is not None:
        ids.append(int(payload["order_id"]))
    ids += [int(i) for i in payload.get("order_ids") or ()]
    csv = payload.get("order_ids_csv") or ""
    ids += [int(part) for part in csv.split(",") if part.strip()]
    return list(dict.fromkeys(ids))


async def cancel_one(rt: AccountRuntime, cmd: Claimed | None, order_id: int) -> Item:
    """Cancel one open order on the venue and record the venue's answer."""
    async with rt.store.read() as conn:
        row = await order_records.get_order(conn, order_id)
    if row is None or int(row["account_id"]) != rt.account_id:
        return {"order_id": order_id, "ok": False, "code": "order_not_found"}
    if await _ended_by_its_group(rt, row):
        return {"order_id": order_id, "ok": True, "status": row["status"]}
    try:
        check_cancellable(state_of(row))
    except DomainError as exc:
        return {"order_id": order_id, "ok": False, "code": exc.code, "status": row["status"]}
    if is_held(row) and row["status"] != OrderStatus.PENDING_SUBMIT:
        return await cancel_held(rt, cmd, row)
    if row["exchange_order_id"] is None:
        return await _cancel_unsent(rt, cmd, row)
    try:
        await _venue(rt, rt.venue.cancel_order(row["exchange_order_id"], row["symbol"]))
    except ccxt.OrderNotFound:
        pass  # already gone on the venue: its final state is fetched below
    except (TimeoutError, ccxt.BaseError) as exc:
        return {"order_id": order_id, "ok": False, "code": "venue_error", "message": str(exc)}
    return await _record_venue_state(rt, cmd, row)


async def _ended_by_its_group(rt: AccountRuntime, row: OrderRow) -> bool:
    """A group member's cancel asks, at acceptance, for its whole group to end: the group's
    step in the worker's housekeeping may then disarm every member, this one included, before
    the queued cancel runs. The cancel has then done what it asked; failing it as
    `invalid_order_state` would tell the caller the order was not cancelled."""
    if row["group_id"] is None or row["status"] != OrderStatus.CANCELED:
        return False
    async with rt.store.read() as conn:
        group = await group_store.get(conn, int(row["group_id"]))
    return group is not None and bool(group["cancel_requested"])


async def cancel_each(rt: AccountRuntime, cmd: Claimed, order_ids: list[int]) -> list[Item]:
    """`cancel_one` for each order, `CONCURRENCY` at a time; the items in the ids' order. An
    error that ends the command's run (the lease lost) stops the others."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(order_id: int) -> Item:
        async with gate:
            return await cancel_one(rt, cmd, order_id)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(order_id)) for order_id in order_ids]
    return [task.result() for task in tasks]


async def _venue(rt: AccountRuntime, call: Any) -> Structure:
    return await asyncio.wait_for(call, rt.settings.venue_timeout_seconds)


async def _record_venue_state(rt: AccountRuntime, cmd: Claimed | None, row: OrderRow) -> Item:
    exchange_order_id = row["exchange_order_id"]
    assert exchange_order_id is not None  # noqa: S101 - cancel_one sent only linked orders here
    try:
        final = await _venue(rt, rt.venue.fetch_order(exchange_order_id, row["symbol"]))
    except (TimeoutError, ccxt.BaseError) as exc:
        return {"order_id": row["id"], "ok": False, "code": "venue_error", "message": str(exc)}
    async with rt.record(cmd) as rec:
        locked = await rec.rows.order_row(int(row["id"]))
        new = await adopt(rec, locked, final)
    ok = new["status"] in (OrderStatus.CANCELED, OrderStatus.EXPIRED)
    item: Item = {"order_id": row["id"], "ok": ok, "status": new["status"]}
    if not ok:
        item["code"] = "invalid_order_state"
    return item


async def _cancel_unsent(rt: AccountRuntime, cmd: Claimed | None, row: OrderRow) -> Item:
    """A PENDING_SUBMIT order with no venue id: cancel locally unless its outcome is unknown."""
    if row["outcome_unknown"]:
        return {"order_id": row["id"], "ok": False, "code": "order_outcome_unknown"}
    async with rt.record(cmd) as rec:
        locked = await rec.rows.order_row(int(row["id"]))
        new = await write_order(rec, locked, cancel_before_send(state_of(locked)))
    return {"order_id": row["id"], "ok": True, "status": new["status"]}


async def finish_items(
    rt: AccountRuntime, cmd: Claimed, items: list[Item], batch_event: bool = False
) -> None:
    failed = [i for i in items if not i["ok"]]
    code = failed[0]["code"] if failed and len(failed) == len(items) else None
    async with rt.record(cmd) as rec:
        if batch_event:
            rec.hold_event(ORDERS_CANCELED_BATCH, {"command_id": cmd.command_id, "items": items})
        await finish(
            rec,
            cmd,
            result={"items": items},
            error_code=code,
            error_message=None if code is None else "no order could be cancelled",
        )


async def execute_cancel(rt: AccountRuntime, cmd: Claimed, stop: asyncio.Event) -> None:
    # orders decided at acceptance (a queued send cancelled there) keep their item
    decided = {int(i["order_id"]): i for i in (cmd.result or {}).get("items", [])}
    ids = order_ids_of(cmd.payload)
    undecided = [i for i in ids if i not in decided]
    done = dict(zip(undecided, await cancel_each(rt, cmd, undecided), strict=True))
    await finish_items(rt, cmd, [decided.get(i) or done[i] for i in ids])


async def execute_cancel_all(rt: AccountRuntime, cmd: Claimed, stop: asyncio.Event) -> None:
    strategies = [int(s) for s in cmd.payload.get("strategy_ids") or ()]
    csv = cmd.payload.get("strategy_ids_csv") or ""
    strategies += [int(s) for s in csv.split(",") if s.strip()]
    async with rt.store.read() as conn:
        rows = await order_records.open_orders(
            conn, rt.account_id, symbol=cmd.payload.get("symbol"), strategy_ids=strategies or None
        )
    ids = [int(r["id"]) for r in rows
           if r["command_id"] is None or int(r["command_id"]) != cmd.command_id]  # fmt: skip
    await finish_items(rt, cmd, await cancel_each(rt, cmd, ids), batch_event=True)


async def execute_change(rt: AccountRuntime, cmd: Claimed, stop: asyncio.Event) -> None:
    """Native `edit_order` where the venue amends an order (`has['editOrder']` True): same OMS
    order, new qty / price. Otherwise the gateway's cancel/replace (`replace.execute_replace`):
    where the venue's edit is itself a cancel and a new order (Binance spot), and for a
    conditional order a CCXT venue works (CCXT's `edit_order` is told its type, not its
    trigger: a stop would go out as a plain order)."""
    order_id = int(cmd.payload["order_id"])
    async with rt.store.read() as conn:
        row = await order_records.get_order(conn, order_id)
    if not has_native_edit(rt.venue) or (row is not None and _replaced_on_change(rt, row)):
        await execute_replace(rt, cmd, stop)
        return
    error = _change_error(rt, row, cmd.payload)
    if error is not None or row is None:
        async with rt.record(cmd) as rec:
            await finish(rec, cmd, error_code=error or "order_not_found", error_message=error)
        return
    new_qty = cmd.payload.get("new_qty")
    new_price = cmd.payload.get("new_price")
    exchange_order_id = row["exchange_order_id"]
    assert exchange_order_id is not None  # noqa: S101 - `_change_error` refused unlinked ones
    qty = None if new_qty is None else Decimal(new_qty)
    price = None if new_price is None else Decimal(new_price)
    try:
        edited = await _venue(rt, rt.venue.edit_order(
            exchange_order_id, row["symbol"], row["order_type"], row["side"], qty, price))  # fmt: skip
    except (TimeoutError, ccxt.BaseError) as exc:
        applied = await _applied(rt, row, qty, price)
        if applied is None and isinstance(exc, TimeoutError | ccxt.NetworkError):
            raise  # not applied, or not known: the change runs again (an amend may be repeated)
        if applied is None:
            async with rt.record(cmd) as rec:
                rec.hold_event(ORDER_CHANGE_REPLACE_FAILED, order_view(row))
                await finish(rec, cmd, error_code="venue_rejected", error_message=str(exc))
            return
        edited = applied
    await _record_change(rt, cmd, order_id, edited)


def _replaced_on_change(rt: AccountRuntime, row: OrderRow) -> bool:
    """Whether the order is changed by the gateway's cancel/replace though the venue has an
    edit (`execute_change`)."""
    features = order_features(rt.account.exchange_id, str(row["symbol"]))
    if features is None:
        return False
    conditional = (row["trigger_price"], row["stop_price"], row["take_profit_price"]) != (
        None, None, None)
    return features.edit_replaces or (conditional and not features.edit_keeps_trigger)


async def _applied(
    rt: AccountRuntime, row: OrderRow, qty: Decimal | None, price: Decimal | None
) -> Structure | None:
    """The venue's order when it already shows the change, else None (also when it cannot be
    read now). An amend's answer can be lost after the venue applied it (a timeout, a dropped
    connection), and the amend run again is then refused as changing nothing (Bybit: "order
    remains unchanged"): either way the venue's own order is what the books must follow."""
    exchange_order_id = row["exchange_order_id"]
    assert exchange_order_id is not None  # noqa: S101 - only linked orders are changed natively
    try:
        current = await _venue(rt, rt.venue.fetch_order(exchange_order_id, row["symbol"]))
    except (TimeoutError, ccxt.BaseError):
        return None
    shown = {"amount": qty, "price": price}
    for field, wanted in shown.items():
        value = current.get(field)
        if wanted is not None and (value is None or Decimal(str(value)) != wanted):
            return None
    return current


def _change_error(rt: AccountRuntime, row: OrderRow | None, payload: CommandPayload) -> str | None:
    if row is None or int(row["account_id"]) != rt.account_id:
        return "order_not_found"
    if not OrderStatus(row["status"]).is_open or row["exchange_order_id"] is None:
        return "invalid_order_state"
    new_qty = payload.get("new_qty")
    if new_qty is not None and Decimal(new_qty) < Decimal(row["filled_qty"]):
        return "invalid_qty"
    return None


async def _record_change(
    rt: AccountRuntime, cmd: Claimed, order_id: int, edited: Structure
) -> None:
    async with rt.record(cmd) as rec:
        row = await rec.rows.order_row(order_id)
        values: OrderChanges = {
            "qty": Decimal(edited["amount"]),
            "edit_replace_state": "edited",
            "edit_replace_at": rec.now,
        }
        if edited.get("price") is not None and row["price"] is not None:
            values["price"] = Decimal(edited["price"])
        if str(edited["id"]) != row["exchange_order_id"]:
            # the venue answered the edit with another order: follow that one (the one edited
            # is gone), never leave it working unseen
            log.warning("order %s: the venue's edit answered order %s for %s", order_id,
                        edited["id"], row["exchange_order_id"])
            values["exchange_order_id"] = str(edited["id"])
        row = rec.rows.update_order(row, values)
        row = await adopt(rec, row, edited)
        rec.hold_event(ORDER_CHANGED, lambda: rec.order_view(row),
                       strategy_id=int(row["strategy_id"]))  # fmt: skip
        await finish(rec, cmd, order=row)
