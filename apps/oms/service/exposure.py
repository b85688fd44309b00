"""Gross and net exposure across a user's accounts at acceptance (the credit limit; decisions
in `domain/exposure.py`, rows in `store/exposure.py`).

The user's limits come with the account in acceptance's one statement. Only an order that
opens or increases exposure (or a change that raises a working order's notional), sent by a
user with a limit, meets them: the first such order of a batch locks the user's limits row,
then reads the user's positions and working orders across their accounts (one statement) and
the marks of the positions' symbols, and each order accepted after it in the batch is added to
that exposure, so a batch's orders count each other without another read.

The lock makes the check hold across API processes: two acceptances for one user at the same
instant queue on the row, and the second reads its holdings (READ COMMITTED: each statement
sees what committed before it) only after the first committed its order, so both cannot pass
a limit that only one fits under. It is taken only by users with a limit, for the rest of the
acceptance transaction. Setting the limits: `put_limits` (the risk role with
`risk_limits` on every account the user's keys may trade).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any, TypedDict

from apps.oms.clock import iso_z, utcnow
from apps.oms.domain.access import Action, Role
from apps.oms.domain.enums import Side
from apps.oms.domain.errors import RiskBlocked
from apps.oms.domain.exposure import (
    Exposure,
    ExposureLimits,
    Holding,
    check_change,
    check_exposure,
    exposure_of,
    notional,
)
from apps.oms.domain.money import ZERO
from apps.oms.domain.risk import plain
from apps.oms.errors import NotFound, PermissionDenied
from apps.oms.exchange.profiles import profile
from apps.oms.security.principal import Principal
from apps.oms.service.acceptance import Ctx
from apps.oms.service.portfolio import marks as mark_prices
from apps.oms.service.request_model import mandatory_comment
from apps.oms.service.risk_snapshot import reference_price
from apps.oms.store import audit
from apps.oms.store import exposure as exposure_store
from apps.oms.store.audit import Actor
from apps.oms.store.records import ColumnValues
from apps.oms.store.store import Store


def contract_size(exchange_id: str, symbol: str) -> Decimal:
    market = profile(exchange_id).market(symbol)
    return Decimal(1) if market is None else market.contract_size


Marks = dict[tuple[str, str], Decimal]


def holdings(rows: list[ColumnValues], marks: Marks) -> Iterator[Holding]:
    """Positions at their notional at the mark of (venue, symbol), the entry price without
    one; working orders at their remaining notional at their own price (an order without any
    price, a market order in flight, is not counted)."""
    for r in rows:
        price = order_price(r)
        if r["kind"] == "p":
            price = marks.get((r["exchange_id"], r["symbol"]), price)
        if price is None:
            continue
        qty = r["qty"] - (r["filled_qty"] or 0)
        size = r["contract_size"] or contract_size(r["exchange_id"], r["symbol"])
        if qty > 0:
            yield Holding(r["symbol"], Side(r["side"]), notional(qty, price, size))


def order_price(row: ColumnValues) -> Decimal | None:
    """The price a working order is valued at: its limit, else its trigger or stop price."""
    price: Decimal | None = row["price"] if row["price"] is not None else row["trigger_price"]
    return price


async def _marks(ctx: Ctx, rows: list[ColumnValues]) -> Marks:
    """The marks of the positions' symbols, one read per venue among them."""
    by_venue: dict[str, set[str]] = {}
    for r in rows:
        if r["kind"] == "p":
            by_venue.setdefault(r["exchange_id"], set()).add(r["symbol"])
    found: Marks = {}
    for exchange_id, symbols in by_venue.items():
        for symbol, mark in (await mark_prices(ctx.conn, exchange_id, symbols)).items():
            found[(exchange_id, symbol)] = mark
    return found


async def _exposure(ctx: Ctx, user_id: int, limits: ExposureLimits) -> tuple[
        ExposureLimits, Exposure]:  # fmt: skip
    """The batch's exposure: read once, under the user's locked limits row (which may have
    changed since acceptance read it with the account: the locked values hold)."""
    if ctx.share.exposure is None:
        await ctx.write_held()  # the batch's orders so far are read with the others
        locked = await exposure_store.lock_limits(ctx.conn, user_id)
        if locked is not None:
            ctx.share.exposure_limits = limits = locked
        rows = await exposure_store.holdings(ctx.conn, user_id)
        ctx.share.exposure = exposure_of(holdings(rows, await _marks(ctx, rows)))
    return limits, ctx.share.exposure


async def check(ctx: Ctx, symbol: str, side: Side, qty: Decimal, price: Decimal | None,
                size: Decimal) -> None:  # fmt: skip
    """Refuse (409, scope `user`) an order that opens or increases exposure past the user's
    limits; once it passes, it counts in the batch's exposure. Call it last: it assumes the
    order is accepted."""
    limits = ctx.share.exposure_limits
    user_id = ctx.principal.user_id
    if limits is None or user_id is None:
        return
    if price is None:
        price = await reference_price(ctx.conn, ctx.account.exchange_id, symbol, ctx.now)
    if price is None:
        raise RiskBlocked("no_reference_price", "order refused by risk rule no_reference_price "
                          "(user): no price to value it at", "user")  # fmt: skip
    amount = notional(qty, price, size)
    limits, exposure = await _exposure(ctx, user_id, limits)
    check_exposure(limits, exposure, symbol, side, amount)
    ctx.share.exposure = exposure.with_order(symbol, side, amount)


async def check_order_change(
    ctx: Ctx, order: ColumnValues, new_qty: Decimal | None, new_price: Decimal | None
) -> None:
    """Refuse (409, scope `user`) a change that raises a working order's notional past the
    user's limits; a reduce-only order, or a change that does not raise it, meets nothing."""
    limits = ctx.share.exposure_limits
    user_id = ctx.principal.user_id
    if limits is None or user_id is None or order["reduce_only"]:
        return
    size = order.get("contract_size") or contract_size(ctx.account.exchange_id, order["symbol"])
    filled = order["filled_qty"] or 0
    old_price = order_price(order)
    before = ZERO if old_price is None else notional(order["qty"] - filled, old_price, size)
    price = new_price if new_price is not None else old_price
    if price is None:
        return  # still priced by nothing: not counted before or after
    after = notional((new_qty if new_qty is not None else order["qty"]) - filled, price, size)
    if after <= before:
        return
    side = Side(order["side"])
    limits, exposure = await _exposure(ctx, user_id, limits)
    check_change(limits, exposure, order["symbol"], side, before, after)
    ctx.share.exposure = exposure.with_order(order["symbol"], side, after - before)


class UserLimits(TypedDict):
    user_id: int
    accounts: list[int]
    max_gross_exposure: str | None
    max_net_exposure: str | None
    comment: str | None
    updated_at: str | None


def _text(value: Decimal | None) -> str | None:
    return None if value is None else plain(value)


async def _authorised(principal: Principal, conn: Any, user_id: int) -> list[int]:
    """The user's traded accounts, on each of which the caller must set risk limits."""
    account_ids = await exposure_store.accounts_of_user(conn, user_id)
    for account_id in account_ids:
        principal.require(Action.RISK_LIMITS, account_id)
    if principal.role is not Role.RISK:  # a user who trades nowhere yet: the risk role's still
        raise PermissionDenied("only the risk role sets a user's exposure limits")
    return account_ids


async def get_limits(store: Store, principal: Principal, user_id: int) -> UserLimits:
    """A user's exposure limits: the user themself or whoever may set them."""
    async with store.read() as conn:
        account_ids = await exposure_store.accounts_of_user(conn, user_id)
        if principal.user_id != user_id:
            await _authorised(principal, conn, user_id)
        row = await exposure_store.get_limits(conn, user_id) or {}
    return {"user_id": user_id, "accounts": account_ids,
            "max_gross_exposure": _text(row.get("max_gross_exposure")),
            "max_net_exposure": _text(row.get("max_net_exposure")),
            "comment": row.get("comment"), "updated_at": iso_z(row.get("updated_at"))}  # fmt: skip


async def put_limits(
    store: Store, principal: Principal, actor: Actor, user_id: int, limits: ExposureLimits,
    comment: str,
) -> UserLimits:  # fmt: skip
    """Set (replace) a user's exposure limits; audited `set_exposure_limits`."""
    reason = mandatory_comment(comment)
    async with store.transaction() as conn:
        account_ids = await _authorised(principal, conn, user_id)
        before = await exposure_store.get_limits(conn, user_id)
        try:
            await exposure_store.put_limits(conn, user_id, limits, reason, utcnow())
        except LookupError as exc:
            raise NotFound(str(exc), code="not_found") from exc
        await audit.record(
            conn, actor, action="set_exposure_limits", target_type="user", target_id=user_id,
            before=None if before is None else {
                "max_gross_exposure": _text(before["max_gross_exposure"]),
                "max_net_exposure": _text(before["max_net_exposure"])},
            after={"max_gross_exposure": _text(limits.max_gross),
                   "max_net_exposure": _text(limits.max_net), "accounts": account_ids},
            comment=reason,
        )  # fmt: skip
    return await get_limits(store, principal, user_id)
