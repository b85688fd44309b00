"""Kill switch halts (`risk_halts`) and what engaging one reads: the accounts of a scope, its
working orders and open positions (`domain/kill.py` decides on them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select, update

from apps.oms.domain.kill import Halt, Scope, WorkingOrder
from apps.oms.store.boundary import Connection
from apps.oms.store.tables import (
    accounts,
    api_key_permissions,
    api_keys,
    commands,
    orders,
    positions,
    risk_halts,
    strategy_accounts,
)

H = risk_halts.c


def halt_of(row: Any) -> Halt:
    return Halt(int(row["id"]), row["scope"], int(row["scope_id"]), str(row["reason"]))


async def insert_halt(
    conn: Connection, scope: Scope, scope_id: int, flatten: bool, reason: str,
    user_id: int | None, api_key_id: int | None, now: datetime,
) -> int:  # fmt: skip
    result = await conn.execute(insert(risk_halts).values(
        scope=scope, scope_id=scope_id, flatten=flatten, reason=reason,
        engaged_by_user_id=user_id, engaged_by_api_key_id=api_key_id, engaged_at=now))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def active(conn: Connection, scope: Scope | None = None, scope_id: int | None = None,
                 *, lock: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    """Active halts (of one scope if given), oldest first; `lock`: for the lift's transaction."""
    query = select(risk_halts).where(H.lifted_at.is_(None)).order_by(H.id)
    if scope is not None:
        query = query.where(H.scope == scope, H.scope_id == scope_id)
    if lock:
        query = query.with_for_update()
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def lift(conn: Connection, halt_ids: list[int], reason: str, user_id: int | None,
               api_key_id: int | None, now: datetime) -> None:  # fmt: skip
    await conn.execute(update(risk_halts).where(H.id.in_(halt_ids), H.lifted_at.is_(None))
                       .values(lifted_at=now, lift_reason=reason, lifted_by_user_id=user_id,
                               lifted_by_api_key_id=api_key_id))  # fmt: skip


def _accounts_query(scope: Scope, scope_id: int) -> Select[Any]:
    if scope == "all":
        return select(accounts.c.id)
    if scope == "account":
        return select(accounts.c.id).where(accounts.c.id == scope_id)
    if scope == "strategy":
        return select(strategy_accounts.c.account_id).where(
            strategy_accounts.c.strategy_id == scope_id)
    p = api_key_permissions.c
    if scope == "key":
        return select(p.account_id).where(p.api_key_id == scope_id)
    return (select(p.account_id).join(api_keys, api_keys.c.id == p.api_key_id)
            .where(api_keys.c.user_id == scope_id))  # fmt: skip


async def accounts_of(conn: Connection, scope: Scope, scope_id: int) -> list[int]:
    """The accounts a scope reaches: a key's or a user's granted accounts, a strategy's linked
    accounts, one account, or every account."""
    return sorted({int(r[0]) for r in await conn.execute(_accounts_query(scope, scope_id))})


async def working_orders(
    conn: Connection, scope: Scope, scope_id: int, account_ids: list[int]
) -> list[WorkingOrder]:
    """The scope's open orders on these accounts (a key's or a user's: those its commands
    created)."""
    if not account_ids:
        return []
    o = orders.c
    query = (select(o.id, o.account_id, o.strategy_id)
             .where(o.account_id.in_(account_ids), o.is_open.is_(True)))  # fmt: skip
    if scope == "strategy":
        query = query.where(o.strategy_id == scope_id)
    elif scope in ("key", "user"):
        query = query.join(commands, commands.c.id == o.command_id).where(
            (commands.c.api_key_id if scope == "key" else commands.c.user_id) == scope_id)
    return [WorkingOrder(int(r[0]), int(r[1]), int(r[2])) for r in await conn.execute(query)]


async def open_positions(
    conn: Connection, scope: Scope, scope_id: int, account_ids: list[int]
) -> list[tuple[int, int]]:
    """(account id, position id) of the scope's open positions on these accounts."""
    if not account_ids:
        return []
    c = positions.c
    query = select(c.account_id, c.id).where(c.account_id.in_(account_ids), c.is_open.is_(True))
    if scope == "strategy":
        query = query.where(c.strategy_id == scope_id)
    return [(int(r[0]), int(r[1])) for r in await conn.execute(query)]
