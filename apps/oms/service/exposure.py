"""Gross and net exposure across a user's accounts at acceptance (the credit limit; decisions
in `domain/exposure.py`, rows in `store/exposure.py`).

The user's limits come with the account in acceptance's one statement. Only an order that
opens or increases exposure, sent by a user with a limit, meets them: the first such order of
a batch reads the user's positions and working orders across their accounts (one statement),
and each order accepted after it in the batch is added to that exposure, so a batch's orders
count each other without another read. Setting the limits: `put_limits` (the risk role with
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
    ExposureLimits,
    Holding,
    check_exposure,
    exposure_of,
    notional,
)
from apps.oms.domain.risk import plain
from apps.oms.errors import NotFound, PermissionDenied
from apps.oms.exchange.profiles import profile
from apps.oms.security.principal import Principal
from apps.oms.service.acceptance import Ctx
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


def holdings(rows: list[ColumnValues]) -> Iterator[Holding]:
    """Positions at entry notional; working orders at their remaining notional (an order
    without any price, a market order in flight, is not counted)."""
    for r in rows:
        price = r["price"] if r["price"] is not None else r["trigger_price"]
        if price is None:
            continue
        qty = r["qty"] - (r["filled_qty"] or 0)
        size = r["contract_size"] or contract_size(r["exchange_id"], r["symbol"])
        if qty > 0:
            yield Holding(r["symbol"], Side(r["side"]), notional(qty, price, size))


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
    if ctx.share.exposure is None:
        await ctx.write_held()  # the batch's orders so far are read with the others
        rows = await exposure_store.holdings(ctx.conn, user_id)
        ctx.share.exposure = exposure_of(holdings(rows))
    check_exposure(limits, ctx.share.exposure, symbol, side, amount)
    ctx.share.exposure = ctx.share.exposure.with_order(symbol, side, amount)


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
