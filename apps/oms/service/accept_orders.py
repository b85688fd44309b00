"""Acceptance of commands that create an order: `send_order` and `close_position`.

Domain rules decide (preview, reduce-only, reservations, risk); this module loads what they need
and writes the command, the `PENDING_SUBMIT` order and its events in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from apps.oms.domain.access import Role
from apps.oms.domain.book import AccountBook, Instrument, OrderRef
from apps.oms.domain.breakers import check_halted
from apps.oms.domain.breakers import check_reduce_only as check_breakers
from apps.oms.domain.closing import check_reduce_only, plan_close, reserve_close, validate_reduce
from apps.oms.domain.controls import (
    ControlIntent,
    ControlScope,
    check_collar,
    check_controls,
)
from apps.oms.domain.controls import needs_reference_price as collars
from apps.oms.domain.enums import PositionMode, Side
from apps.oms.domain.errors import (
    InvalidPositionId,
    InvalidPrice,
    InvalidQty,
    InvalidStrategyId,
    OrderFieldConflict,
    UnsupportedMarket,
)
from apps.oms.domain.events import ORDER_ACCEPTED, POSITION_CLOSE_REQUESTED, OrderView
from apps.oms.domain.fills import consults_open_positions, preview_target
from apps.oms.domain.held_orders import Emulation
from apps.oms.domain.markets import price_problem, qty_problem
from apps.oms.domain.order_features import OrderAsk, check_honoured
from apps.oms.domain.positions import Position
from apps.oms.domain.risk import OrderIntent, check_order
from apps.oms.domain.targets import validate_targets
from apps.oms.errors import NotFound
from apps.oms.exchange.order_features import order_features
from apps.oms.exchange.profiles import profile
from apps.oms.service import exposure
from apps.oms.service.accept_groups import (
    check_group,
    first_role,
    group_kind,
    has_trigger,
    link_first,
    member_prices,
    open_group,
)
from apps.oms.service.acceptance import (
    Accepted,
    Ctx,
    require_price_for_limit,
)
from apps.oms.service.command_models import ClosePosition, SendOrder
from apps.oms.service.pretrade import control_limits, load_controls, needs_rows
from apps.oms.service.risk_snapshot import (
    needs_reference_price,
    reads_counters,
    reference_price,
    risk_scopes,
)
from apps.oms.service.shadow import note_strategy_link, record_shadow, shadow_scope
from apps.oms.service.strategy_funds import check_allocation
from apps.oms.service.views import order_view, position_view
from apps.oms.store import positions as position_store
from apps.oms.store import strategies as strategy_store
from apps.oms.store.records import ColumnValues


def instrument_for(
    exchange_id: str, symbol: str, qty: Decimal, price: Decimal | None
) -> Instrument:
    """The market of a venue that lists its markets in advance (checked now, by the market's
    precision rules); other venues validate symbols in the worker."""
    venue = profile(exchange_id)
    if venue.listed is None:
        return Instrument(symbol, spot=":" not in symbol)
    market = venue.market(symbol)
    if market is None:
        raise UnsupportedMarket(f"unknown symbol {symbol}")
    if (problem := qty_problem(market, qty)) is not None:
        raise InvalidQty(problem)
    if price is not None and (problem := price_problem(market, price)) is not None:
        raise InvalidPrice(problem)
    return Instrument(symbol, contract_size=market.contract_size, spot=not market.is_swap)


def check_venue_executes(exchange_id: str, symbol: str, payload: SendOrder | ClosePosition
                         ) -> Emulation:
    """Refuse an order with a field neither the account's venue nor the gateway would execute
    (422 `not_supported`): a field the gateway accepts is a promise, never stored and dropped.
    Returns who executes its conditional part (`venue`, or `gateway`: a held order)."""
    features = order_features(exchange_id, symbol)
    fields = frozenset(type(payload).model_fields)
    if isinstance(payload, SendOrder):
        ask = OrderAsk(
            payload.order_type, payload.time_in_force, payload.post_only,
            trigger_price=payload.trigger_price is not None,
            stop_price=payload.stop_price is not None,
            take_profit_price=payload.take_profit_price is not None,
            trailing_amount=payload.trailing_amount is not None,
            trailing_percent=payload.trailing_percent is not None,
            trailing_trigger_price=payload.trailing_trigger_price is not None,
            trigger_price_type=payload.trigger_price_type,
            emulation=_emulation_asked(payload),
            params=frozenset(payload.params), fields=fields,
        )
    else:
        ask = OrderAsk(payload.order_type, payload.time_in_force, payload.post_only,
                       params=frozenset(payload.params), fields=fields)
    if features is None:  # an engine this gateway does not run: refused elsewhere
        return Emulation.VENUE
    return check_honoured(ask, features)


def _emulation_asked(p: SendOrder) -> Emulation | None:
    """An OCO's legs with a trigger are all held by the gateway (one fires, the others are
    disarmed in the same transaction), its first leg included; a plain limit leg rests on the
    venue."""
    if p.emulation is not None:
        return Emulation(p.emulation)
    return Emulation.GATEWAY if p.oco_orders is not None and has_trigger(p) else None


def check_expiry(p: SendOrder, now: datetime) -> None:
    """A good-till-date order must expire in the future."""
    if p.expire_at is not None and p.expire_at <= now:
        raise OrderFieldConflict(f"expire_at {p.expire_at.isoformat()} has passed", "expire_at")


async def strategy_allows_new(ctx: Ctx, strategy_id: int) -> bool:
    """Visible to the key, active and linked to the account; returns its allow_new_positions."""
    ctx.check_strategy_visible(strategy_id)
    if strategy_id == 0:
        return True
    link = await strategy_store.get_link(ctx.conn, strategy_id, ctx.account_id)
    note_strategy_link(ctx, strategy_id, link)
    if link is None or link.status != "active":
        raise InvalidStrategyId(f"strategy {strategy_id} is not an active strategy of this account")
    return link.allow_new_positions


async def visible_position(ctx: Ctx, position_id: int, *, lock: bool = False) -> Position:
    row = await position_store.get_position(ctx.conn, position_id, for_update=lock)
    flags = ctx.principal.flags_for(ctx.account_id)
    if (
        row is None
        or int(row["account_id"]) != ctx.account_id
        or (flags is not None and not flags.sees_strategy(int(row["strategy_id"])))
    ):
        raise NotFound(f"position {position_id} not found", code="position_not_found")
    return position_store.position_from_row(row)


async def open_position(ctx: Ctx, position_id: int, *, lock: bool = False) -> Position:
    """A position a command acts on: one vocabulary for every command. An id the key cannot see
    is 404 `position_not_found`; a position that is no longer open is 422
    `invalid_position_id` with its state (as an order that is no longer open is
    `invalid_order_state`)."""
    position = await visible_position(ctx, position_id, lock=lock)
    if not position.is_open:
        raise InvalidPositionId(f"position {position_id} is {position.state}",
                                position_id=str(position_id), state=str(position.state))
    return position


async def load_book(ctx: Ctx, symbol: str, position_id: int, *, all_open: bool = False
                    ) -> AccountBook:
    """The order's position, plus the symbol's open positions where the mode consults them
    (or `all_open`: a hedge reduce-only order that names no position looks for one)."""
    mode = PositionMode(ctx.account.position_mode)
    book: dict[int, Position] = {}
    if all_open or consults_open_positions(mode):
        rows = await position_store.open_positions_of(ctx.conn, ctx.account_id, symbol)
        book = {int(r["id"]): position_store.position_from_row(r) for r in rows}
    if position_id > 0 and position_id not in book:
        explicit = await visible_position(ctx, position_id)
        book[explicit.position_id] = explicit
    return AccountBook(ctx.account_id, mode, book)


def order_values(ctx: Ctx, **fields: Any) -> ColumnValues:
    """A new order's row but for the ids it gets from its command (`Ctx.hold`)."""
    return {
        "account_id": ctx.account_id, "status": "PENDING_SUBMIT", "is_open": True,
        "created_at": ctx.now, "updated_at": ctx.now, **fields,
    }  # fmt: skip


async def _record_order(
    ctx: Ctx,
    client_order_id: str | None,
    fields: ColumnValues,
    reserve: Position | None,
    qty: Decimal,
) -> Accepted:
    """The command and its `PENDING_SUBMIT` order, held to be written with the batch's others
    (`Ctx.hold`); a close's reservation is written now (one conditional row update)."""
    scope = await shadow_scope(ctx, int(fields["strategy_id"]))
    if scope is not None:
        return await record_shadow(ctx, client_order_id, fields, scope)
    accepted = Accepted(0, None, "queued")
    strategy_id = int(fields["strategy_id"])
    # its payload is the order's view, set once the order has its ids
    await ctx.event(ORDER_ACCEPTED, cast(OrderView, {}), strategy_id)
    accepted_event = ctx.events[-1]

    def complete(_command_id: int, row: ColumnValues | None) -> None:
        assert row is not None  # noqa: S101 - held with its order
        accepted_event["payload"] = order_view(row)

    if reserve is not None:
        reserved = replace(reserve_close(reserve, qty), updated_at=ctx.now)
        await position_store.save_reservation(ctx.conn, reserved)
        prow = await position_store.get_position(ctx.conn, reserved.position_id)
        assert prow is not None  # noqa: S101
        await ctx.event(POSITION_CLOSE_REQUESTED, position_view(prow), reserved.strategy_id)
    ctx.hold(accepted, complete, order=order_values(ctx, **fields), client_order_id=client_order_id)
    return accepted


def _instrument(ctx: Ctx, p: SendOrder) -> Instrument:
    """The order's market, its price and those of the group members it asks for checked."""
    instrument = instrument_for(ctx.account.exchange_id, p.symbol, p.qty, p.price)
    instrument.check_supported()
    for price in member_prices(p):
        instrument_for(ctx.account.exchange_id, p.symbol, p.qty, price)
    return instrument


async def accept_send_order(ctx: Ctx) -> Accepted:
    p = cast(SendOrder, ctx.payload)
    require_price_for_limit(p.order_type, p.price)
    group_specs = check_group(p, ctx.account.exchange_id)  # before the order's own check
    emulation = check_venue_executes(ctx.account.exchange_id, p.symbol, p)
    check_expiry(p, ctx.now)
    side = Side(p.side)
    instrument = _instrument(ctx, p)
    allow_new = await strategy_allows_new(ctx, p.strategy_id)
    book = await load_book(ctx, p.symbol, p.position_id,
                           all_open=p.reduce_only and not p.position_id)
    position_id = p.position_id
    if p.reduce_only and not position_id and book.position_mode is PositionMode.HEDGE:
        hedged = book.hedge_reduce_target(p.symbol, p.strategy_id, side)
        position_id = hedged.position_id if hedged is not None else 0
    preview = preview_target(
        book, OrderRef(None, p.strategy_id, position_id, p.reason), p.symbol, side, p.qty
    )
    reserve = None
    if p.reduce_only:
        check_reduce_only(preview.target, side, p.qty)
        reserve = preview.target
    elif (
        book.position_mode is PositionMode.HEDGE
        and preview.target
        and side is not preview.target.side
    ):
        validate_reduce(preview.target, side, p.qty)
        reserve = preview.target
    if reserve is not None:  # reserved rows are re-read under lock before the conditional write
        reserve = await visible_position(ctx, reserve.position_id, lock=True)
    limits = await ctx.risk_limits()
    key_limits = await ctx.key_limits()
    if reads_counters(limits, p.strategy_id) or needs_rows(limits, key_limits, p.strategy_id):
        await ctx.write_held()  # they count the orders of the sends held so far
    scopes = await risk_scopes(
        ctx.conn,
        account_id=ctx.account_id,
        symbol=p.symbol,
        strategy_id=p.strategy_id,
        account_allow_new=ctx.account.allow_new_positions,
        out_of_sync=ctx.account.out_of_sync_blocks,
        strategy_allow_new=allow_new,
        position_qty=preview.position_qty,
        now=ctx.now,
        limits=limits,
    )
    controls = await load_controls(
        ctx.conn, account_id=ctx.account_id, api_key_id=ctx.principal.api_key_id,
        symbol=p.symbol, side=side, strategy_id=p.strategy_id, limits=limits,
        key_limits=key_limits, position_qty=preview.position_qty, now=ctx.now,
        locked_keys=ctx.share.locked_keys, locked_accounts=ctx.share.locked_accounts,
    )  # fmt: skip
    if controls.key_scope is not None:
        scopes.append(controls.key_scope)
    control_intent = ControlIntent(p.symbol, side, p.qty, p.price, reduce_only=reserve is not None)
    targets = p.oms_stop_loss is not None or p.oms_stop_gain is not None
    quote = None
    if (needs_reference_price(scopes) or (targets and p.price is None)
            or collars(controls.scopes, control_intent)):
        quote = await reference_price(ctx.conn, ctx.account.exchange_id, p.symbol, ctx.now)
    intent = OrderIntent(
        p.symbol,
        side,
        p.qty,
        instrument.contract_size,
        p.price,
        reduce_only=reserve is not None,
        opens_position=preview.opens_position,
        privileged_close=ctx.principal.role is Role.RISK,
    )
    check_order(
        intent, scopes, account_blocked=ctx.account.blocked, quote_price=quote
    )
    check_controls(control_intent, controls.scopes, reference_price=quote,
                   recent=controls.recent, now=ctx.now)
    if p.oms_stop_loss is not None or p.oms_stop_gain is not None:
        validate_targets(side, p.oms_stop_loss, p.oms_stop_gain, p.price or quote)
    target = preview.target
    closing = reserve is not None or (
        target is not None and side is not target.side and p.qty <= target.qty
    )  # closing orders are never refused for funds
    # a tripped loss breaker's scope takes closing orders only
    check_breakers(ctx.share.tripped.get(ctx.account_id, ()), p.strategy_id, closing)
    if not closing:
        price = p.price or p.trigger_price or p.stop_price or p.take_profit_price or quote
        await check_allocation(ctx, p.strategy_id, p.symbol, side, p.qty, price)
        # last: an order that passes counts in the batch's exposure
        await exposure.check(ctx, p.symbol, side, p.qty, price, instrument.contract_size)
    fields = {
        "symbol": p.symbol, "side": p.side, "order_type": p.order_type, "qty": p.qty, "price": p.price,
        "trigger_price": p.trigger_price, "stop_price": p.stop_price,
        "take_profit_price": p.take_profit_price, "trailing_amount": p.trailing_amount,
        "trailing_percent": p.trailing_percent, "time_in_force": p.time_in_force,
        "trailing_trigger_price": p.trailing_trigger_price,
        "trigger_price_type": p.trigger_price_type, "expire_at": p.expire_at,
        "emulation": emulation.value,
        "post_only": p.post_only, "reduce_only": reserve is not None, "strategy_id": p.strategy_id,
        # a reserving order names the position it reserved on (netting: the net position), so the
        # worker knows what to release when it ends
        "position_id": reserve.position_id if reserve is not None else p.position_id,
        "reason": p.reason, "comment": p.comment,
        "stop_loss": p.oms_stop_loss, "stop_gain": p.oms_stop_gain, "params": p.params,
    }  # fmt: skip
    # a held order reserves nothing: its child will, when it fires
    held = emulation is Emulation.GATEWAY
    return await _record_send(ctx, p, fields, None if held else reserve, group_specs)


async def _record_send(ctx: Ctx, p: SendOrder, fields: ColumnValues, reserve: Position | None,
                       group_specs: list[ColumnValues]) -> Accepted:  # fmt: skip
    """The order, and the group it forms (its row first: the order names it)."""
    if group_kind(p) is None:
        return await _record_order(ctx, p.client_order_id, fields, reserve, p.qty)
    group_id = await open_group(ctx, p, group_specs)
    kind = group_kind(p)
    tags = {"group_id": group_id, "group_kind": kind and kind.value, "group_role": first_role(p)}
    accepted = await _record_order(ctx, p.client_order_id, {**fields, **tags}, reserve, p.qty)
    await ctx.write_held()  # the group names its first order
    await link_first(ctx, p, group_id, accepted.order_id)
    return accepted


async def check_price_collar(
    ctx: Ctx, symbol: str, side: Side, qty: Decimal, price: Decimal, strategy_id: int
) -> None:
    """The price collar alone, for a price that is not a new order's (a close's limit price,
    a changed price): the scopes of the order and of the key acting on it."""
    key = await ctx.key_limits() if ctx.principal.api_key_id else None
    named = control_limits(await ctx.risk_limits(), key, strategy_id)
    scopes = [ControlScope(name, limits) for name, limits in named]
    intent = ControlIntent(symbol, side, qty, price)
    if collars(scopes, intent):
        quote = await reference_price(ctx.conn, ctx.account.exchange_id, symbol, ctx.now)
        check_collar(intent, scopes, quote)


async def accept_close_position(ctx: Ctx) -> Accepted:
    p = cast(ClosePosition, ctx.payload)
    require_price_for_limit(p.order_type, p.price)
    position = await open_position(ctx, p.position_id, lock=True)
    plan = plan_close(position, p.qty, p.strategy_id, PositionMode(ctx.account.position_mode))
    ctx.check_strategy_visible(plan.strategy_id)
    # a halted strategy's positions are closed by the risk role only (its command names none)
    check_halted(ctx.share.tripped.get(ctx.account_id, ()), plan.strategy_id, "close_position",
                 False, ctx.principal.role is Role.RISK)  # fmt: skip
    check_venue_executes(ctx.account.exchange_id, plan.symbol, p)
    instrument_for(ctx.account.exchange_id, position.symbol, plan.qty, p.price)
    if p.price is not None:  # a limit close meets the collar as any limit order does
        await check_price_collar(ctx, plan.symbol, plan.side, plan.qty, p.price, plan.strategy_id)
    fields = {
        "symbol": plan.symbol, "side": plan.side.value, "order_type": p.order_type, "qty": plan.qty,
        "price": p.price, "time_in_force": p.time_in_force, "post_only": p.post_only,
        "reduce_only": True, "strategy_id": plan.strategy_id, "position_id": plan.position_id,
        "reason": p.reason, "comment": p.comment, "params": p.params,
    }  # fmt: skip
    return await _record_order(ctx, p.client_order_id, fields, position, plan.qty)
