"""Strategy allocations on an account: read, set and clear (docs/identity-and-risk.md → Strategy
allocations). Set and cleared by a portfolio manager (a key that may trade on the account, not
restricted to strategies) or an admin; audited in the same transaction."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, TypedDict

from apps.oms.clock import iso_z, utcnow
from apps.oms.domain.access import Action, Role
from apps.oms.domain.money import to_plain
from apps.oms.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from apps.oms.security.principal import Principal
from apps.oms.service.request_model import mandatory_comment
from apps.oms.store import allocations as allocation_store
from apps.oms.store import audit
from apps.oms.store import strategies as strategy_store
from apps.oms.store.accounts import get_account
from apps.oms.store.audit import Actor
from apps.oms.store.boundary import IntegrityError
from apps.oms.store.records import ColumnValues
from apps.oms.store.store import Store

CURRENCY = re.compile(r"^[A-Z0-9]{1,16}$")


def require_allocator(principal: Principal, account_id: int) -> None:
    """Admins, or portfolio managers whose key may trade on the account for every strategy."""
    if principal.is_admin:
        principal.require(Action.ADMINISTER)
        return
    principal.require(Action.READ, account_id)
    flags = principal.flags_for(account_id)
    if principal.role is not Role.PORTFOLIO_MANAGER or flags is None or flags.restrict_to_strategies:
        raise PermissionDenied(
            "allocations are set by a portfolio manager (a key not restricted to strategies) "
            "or an admin",
            code="permission_denied",
        )
    principal.require(Action.TRADE, account_id)


class AllocationView(TypedDict):
    """A strategy's allocation on the wire."""

    strategy_id: int
    currency: str
    amount: str
    comment: str | None
    updated_by_user_id: int | None
    updated_at: str | None


class Allocations(TypedDict):
    account_id: int
    items: list[AllocationView]


class AllocationSet(TypedDict):
    ok: bool
    account_id: int
    allocation: AllocationView


class AllocationCleared(TypedDict):
    ok: bool
    account_id: int
    strategy_id: int


class AuditedAllocation(TypedDict):
    strategy_id: int
    currency: str
    amount: str


def allocation_view(row: ColumnValues) -> AllocationView:
    return {
        "strategy_id": int(row["strategy_id"]),
        "currency": row["currency"],
        "amount": to_plain(row["amount"]),
        "comment": row["comment"],
        "updated_by_user_id": row["updated_by_user_id"],
        "updated_at": iso_z(row["updated_at"]),
    }


async def list_allocations(store: Store, principal: Principal, account_id: int) -> Allocations:
    """The account's allocations a key may see (a restricted key: its strategies' only)."""
    principal.require(Action.READ, account_id)
    flags = principal.flags_for(account_id)
    async with store.read() as conn:
        rows = await allocation_store.allocations_of(conn, account_id)
    items = [
        allocation_view(row)
        for strategy_id, row in sorted(rows.items())
        if flags is None or flags.sees_strategy(strategy_id)
    ]
    return {"account_id": account_id, "items": items}


async def _linked(conn: Any, account_id: int, strategy_id: int) -> None:
    if await get_account(conn, account_id) is None:
        raise NotFound(f"account {account_id} not found", code="account_not_found")
    if await strategy_store.get_link(conn, strategy_id, account_id) is None:
        raise NotFound(
            f"strategy {strategy_id} is not linked to account {account_id}",
            code="strategy_not_found",
        )


async def set_allocation(
    store: Store,
    principal: Principal,
    actor: Actor,
    account_id: int,
    strategy_id: int,
    currency: str,
    amount: Decimal,
    comment: str,
) -> AllocationSet:
    require_allocator(principal, account_id)
    comment = mandatory_comment(comment)
    if not CURRENCY.match(currency) or amount < 0:
        raise ValidationFailed(
            "an allocation is a non-negative amount in a currency code such as USDT",
            details={"currency": currency, "amount": to_plain(amount)},
        )
    for attempt in (1, 2):
        try:
            row = await _put(store, principal, actor, account_id, strategy_id, currency, amount,
                             comment)  # fmt: skip
            break
        except IntegrityError as exc:  # a concurrent first allocation won the insert: update it
            if attempt == 2:
                raise Conflict("a concurrent change of the same allocation") from exc
    return {"ok": True, "account_id": account_id, "allocation": allocation_view(row)}


async def _put(
    store: Store,
    principal: Principal,
    actor: Actor,
    account_id: int,
    strategy_id: int,
    currency: str,
    amount: Decimal,
    comment: str,
) -> ColumnValues:
    async with store.transaction() as conn:
        await _linked(conn, account_id, strategy_id)
        before = (
            await allocation_store.allocations_of(conn, account_id, lock_strategy=strategy_id)
        ).get(strategy_id)
        await allocation_store.put_allocation(
            conn, account_id=account_id, strategy_id=strategy_id, currency=currency,
            amount=amount, comment=comment, user_id=principal.user_id or None, now=utcnow(),
        )  # fmt: skip
        await audit.record(
            conn, actor, action="set_strategy_allocation", target_type="account",
            target_id=account_id,
            before=None if before is None else _audited(before),
            after={"strategy_id": strategy_id, "currency": currency, "amount": to_plain(amount)},
            comment=comment,
        )  # fmt: skip
        return (await allocation_store.allocations_of(conn, account_id))[strategy_id]


async def clear_allocation(
    store: Store,
    principal: Principal,
    actor: Actor,
    account_id: int,
    strategy_id: int,
    comment: str,
) -> AllocationCleared:
    """Remove the allocation: the strategy is no longer funds-checked. 404 when there is none."""
    require_allocator(principal, account_id)
    comment = mandatory_comment(comment)
    async with store.transaction() as conn:
        before = (
            await allocation_store.allocations_of(conn, account_id, lock_strategy=strategy_id)
        ).get(strategy_id)
        if before is None:
            raise NotFound(
                f"strategy {strategy_id} has no allocation on account {account_id}",
                code="allocation_not_found",
            )
        await allocation_store.delete_allocation(conn, account_id, strategy_id)
        await audit.record(
            conn, actor, action="clear_strategy_allocation", target_type="account",
            target_id=account_id, before=_audited(before), after={"strategy_id": strategy_id},
            comment=comment,
        )  # fmt: skip
    return {"ok": True, "account_id": account_id, "strategy_id": strategy_id}


def _audited(row: ColumnValues) -> AuditedAllocation:
    return {"strategy_id": int(row["strategy_id"]), "currency": row["currency"],
            "amount": to_plain(row["amount"])}  # fmt: skip
