"""Acceptance of commands that change what exists (no new order): cancels, change, close-by,
merge, position change.

Cancelling an order whose send is still queued happens here, in the acceptance transaction (no
venue call); everything else is validated against committed state and queued for the worker,
which re-checks under the account lease.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import cast

from apps.oms.domain import breakers
from apps.oms.domain.access import Role
from apps.oms.domain.closing import release_close
from apps.oms.domain.enums import OrderStatus, Side
from apps.oms.domain.errors import InvalidOrderState, InvalidPositionId, InvalidQty, NotSupported
from apps.oms.domain.events import ORDER_CANCELED, POSITION_UPDATED, CancelItem
from apps.oms.domain.money import to_plain
from apps.oms.domain.targets import UNSET, change_targets
from apps.oms.errors import ErrorBody, NotFound, ValidationFailed
from apps.oms.service import exposure
from apps.oms.service.accept_orders import check_price_collar, open_position
from apps.oms.service.acceptance import Accepted, Ctx
from apps.oms.service.command_models import (
    CancelAllOrders,
    CancelOrder,
    ChangeOrder,
    CloseBy,
    MergePositions,
    PositionChange,
)
from apps.oms.service.risk_snapshot import reference_price
from apps.oms.service.strategy_funds import check_change
from apps.oms.service.views import order_view, position_view
from apps.oms.store import commands as command_store
from apps.oms.store import order_groups as group_store
from apps.oms.store import orders as order_store
from apps.oms.store import positions as position_store
from apps.oms.store.records import ColumnValues


def _csv_ids(text: str | None, name: str) -> list[int]:
    if not text:
        return []
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise ValidationFailed(f"{name} must be comma-separated integers") from exc
    if any(i < 0 for i in ids):
        raise ValidationFailed(f"{name} must list non-negative integers")
    return ids


async def visible_order(ctx: Ctx, order_id: int, *, lock: bool = False) -> ColumnValues:
    row = await order_store.get_order(ctx.conn, order_id, for_update=lock)
    flags = ctx.principal.flags_for(ctx.account_id)
    if (
        row is None
        or int(row["account_id"]) != ctx.account_id
        or (flags is not None and not flags.sees_strategy(int(row["strategy_id"])))
    ):
        raise NotFound(f"order {order_id} not found", code="order_not_found")
    return row


async def _cancel_queued_send(ctx: Ctx, order: ColumnValues) -> bool:
    """Cancel an order whose send command has not been claimed yet; False if it already runs."""
    if order["status"] != OrderStatus.PENDING_SUBMIT or order["command_id"] is None:
        return False
    if not await command_store.cancel_queued(ctx.conn, int(order["command_id"]), ctx.now):
        return False
    await order_store.mark_canceled_before_send(ctx.conn, int(order["id"]), ctx.now)
    # a held order reserved nothing (its child would have)
    if order["reduce_only"] and int(order["position_id"]) > 0 and order.get("emulation") != "gateway":
        row = await position_store.get_position(
            ctx.conn, int(order["position_id"]), for_update=True
        )
        if row is not None:
            released = release_close(position_store.position_from_row(row), order["qty"])
            await position_store.save_reservation(ctx.conn, replace(released, updated_at=ctx.now))
            updated = await position_store.get_position(ctx.conn, released.position_id)
            assert updated is not None  # noqa: S101
            await ctx.event(POSITION_UPDATED, position_view(updated), released.strategy_id)
    canceled = await order_store.get_order(ctx.conn, int(order["id"]))
    assert canceled is not None  # noqa: S101
    await ctx.event(ORDER_CANCELED, order_view(canceled), int(order["strategy_id"]))
    return True


async def accept_cancel_order(ctx: Ctx) -> Accepted:
    """Per order: terminal → error item; send still queued → cancelled here; else the worker.
    Items have the worker's shape (`order_id`, `ok`, `status` / `code`); the worker keeps the
    items decided here and cancels the rest on the venue."""
    p = cast(CancelOrder, ctx.payload)
    explicit = [p.order_id] if p.order_id else []
    ids = list(
        dict.fromkeys(
            [*explicit, *(p.order_ids or []), *_csv_ids(p.order_ids_csv, "order_ids_csv")]
        )
    )
    if not ids:
        raise ValidationFailed("give order_id, order_ids or order_ids_csv")
    decided: list[CancelItem] = []
    pending = False
    groups: set[int] = set()
    for order_id in ids:
        order = await visible_order(ctx, order_id, lock=True)
        if order.get("group_id") is not None and OrderStatus(order["status"]).is_open:
            groups.add(int(order["group_id"]))  # a member's cancel ends its group whole
        if not OrderStatus(order["status"]).is_open:
            decided.append(
                {
                    "order_id": order_id,
                    "ok": False,
                    "code": "invalid_order_state",
                    "status": order["status"],
                }
            )
        elif await _cancel_queued_send(ctx, order):
            decided.append({"order_id": order_id, "ok": True, "status": "CANCELED"})
        else:
            pending = True
    if groups:
        await group_store.request_cancel(ctx.conn, sorted(groups))
    single = ids[0] if len(ids) == 1 else None  # the order it cancels, as the result's order_id
    if pending:
        command_id = await _with_order_id(ctx, await ctx.insert_command(
            result={"items": decided}), single)
        return Accepted(command_id, single, "queued")
    failed = [item for item in decided if not item["ok"]]
    status = "failed" if len(failed) == len(decided) else "completed"
    error: ErrorBody | None = None
    if status == "failed":
        error = {"code": "invalid_order_state", "message": f"order is {failed[0]['status']}"}
    command_id = await ctx.insert_command(status=status, result={"items": decided}, error=error)
    return Accepted(await _with_order_id(ctx, command_id, single), single, status, error)


async def _with_order_id(ctx: Ctx, command_id: int, order_id: int | None) -> int:
    """Record the one order a cancel names on its command (reads and repeats show it)."""
    if order_id is not None:
        await command_store.set_order_id(ctx.conn, command_id, order_id)
    return command_id


async def accept_cancel_all_orders(ctx: Ctx) -> Accepted:
    p = cast(CancelAllOrders, ctx.payload)
    strategies = [*(p.strategy_ids or []), *_csv_ids(p.strategy_ids_csv, "strategy_ids_csv")]
    flags = ctx.principal.flags_for(ctx.account_id)
    if flags is not None and flags.restrict_to_strategies:
        for strategy_id in strategies:
            ctx.check_strategy_visible(strategy_id)
        # a strategy-restricted key cancels only its own strategies' orders: the scope is fixed
        # here, at acceptance, so the worker's "no strategy filter = every order" never applies
        scope = sorted(set(strategies)) if strategies else sorted(flags.strategy_ids)
        ctx.payload = p.model_copy(update={"strategy_ids": scope, "strategy_ids_csv": None})
        if not scope:
            command_id = await ctx.insert_command(status="completed", result={"items": []})
            return Accepted(command_id, None, "completed")
    command_id = await ctx.insert_command()
    return Accepted(command_id, None, "queued")


async def accept_change_order(ctx: Ctx) -> Accepted:
    p = cast(ChangeOrder, ctx.payload)
    if p.new_price is None and p.new_qty is None:
        raise ValidationFailed("give new_price and/or new_qty")
    order = await visible_order(ctx, p.order_id)
    if not OrderStatus(order["status"]).is_open:
        raise InvalidOrderState(f"order {p.order_id} is {order['status']}")
    if order.get("emulation") == "gateway":
        raise NotSupported("an order the gateway holds is not changed: cancel it and send a "
                           "new one (its child, once fired, is an order like any other)",
                           "order_id", ctx.account.exchange_id)  # fmt: skip
    if await _leg_of_venue_oco(ctx, order):
        raise NotSupported("a leg of the venue's own OCO is not changed (the exchange changes "
                           "an order by cancelling it, which ends the whole list): cancel the "
                           "OCO and send a new one", "order_id", ctx.account.exchange_id)
    if p.new_qty is not None and p.new_qty < order["filled_qty"]:
        raise InvalidQty(f"new_qty {to_plain(p.new_qty)} is below the filled qty "
                         f"{to_plain(order['filled_qty'])}")
    await check_change(ctx, order, p.new_qty, p.new_price)
    # a tripped loss breaker of the order's scope: halted refuses the change, reduce-only a
    # larger opening order
    tripped = ctx.share.tripped.get(ctx.account_id, ())
    breakers.check_halted(tripped, int(order["strategy_id"]), "change_order", False,
                          ctx.principal.role is Role.RISK)  # fmt: skip
    breakers.check_reduce_only(tripped, int(order["strategy_id"]), closing=bool(
        order["reduce_only"]) or p.new_qty is None or p.new_qty <= order["qty"])
    if p.new_price is not None:  # a new price meets the collar as a new order's does
        await check_price_collar(ctx, order["symbol"], Side(order["side"]),
                                 Decimal(order["qty"]), p.new_price, int(order["strategy_id"]))
    # last: a change that raises the order's notional counts in the batch's exposure
    await exposure.check_order_change(ctx, order, p.new_qty, p.new_price)
    command_id = await ctx.insert_command()
    return Accepted(command_id, p.order_id, "queued")


async def _leg_of_venue_oco(ctx: Ctx, order: ColumnValues) -> bool:
    """Whether the order is a leg of an OCO the venue holds (Binance spot's order list)."""
    group_id = order.get("group_id")
    if group_id is None or order.get("group_kind") != "oco" or order.get("emulation") != "venue":
        return False
    group = await group_store.get(ctx.conn, int(group_id))
    return group is not None and group["spec"].get("emulation") == "venue"


async def accept_close_by(ctx: Ctx) -> Accepted:
    p = cast(CloseBy, ctx.payload)
    if p.position_id_a == p.position_id_b:
        raise InvalidPositionId("close_by needs two different positions")
    a = await open_position(ctx, p.position_id_a)
    b = await open_position(ctx, p.position_id_b)
    if a.symbol != b.symbol or a.side is b.side:
        raise InvalidPositionId("close_by needs two open positions of one symbol on opposite sides")
    if p.qty is not None and p.qty > min(a.available_qty, b.available_qty):
        raise InvalidQty("qty exceeds what both positions hold unreserved")
    if p.strategy_id is not None:
        ctx.check_strategy_visible(p.strategy_id)
    command_id = await ctx.insert_command()
    return Accepted(command_id, None, "queued")


async def accept_merge_positions(ctx: Ctx) -> Accepted:
    p = cast(MergePositions, ctx.payload)
    if p.source_position_id == p.target_position_id:
        raise InvalidPositionId("merge needs two different positions")
    source = await open_position(ctx, p.source_position_id)
    target = await open_position(ctx, p.target_position_id)
    if source.symbol != target.symbol or source.side is not target.side:
        raise InvalidPositionId("merge needs two open positions of one symbol on the same side")
    if p.stop_mode == "set" and p.oms_stop_loss is None and p.oms_stop_gain is None:
        raise ValidationFailed("stop_mode=set needs oms_stop_loss and/or oms_stop_gain")
    command_id = await ctx.insert_command()
    return Accepted(command_id, None, "queued")


async def accept_position_change(ctx: Ctx) -> Accepted:
    p = cast(PositionChange, ctx.payload)
    if not (p.model_fields_set - {"position_id"}):
        raise ValidationFailed("give at least one of oms_stop_loss, oms_stop_gain, comment")
    position = await open_position(ctx, p.position_id)
    given = p.model_fields_set
    change_targets(  # stop below / target above the reference price (mirrored for a short)
        position,
        p.oms_stop_loss if "oms_stop_loss" in given else UNSET,
        p.oms_stop_gain if "oms_stop_gain" in given else UNSET,
        await reference_price(ctx.conn, ctx.account.exchange_id, position.symbol, ctx.now),
    )
    command_id = await ctx.insert_command()
    return Accepted(command_id, None, "queued")
