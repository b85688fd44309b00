"""A user's exposure limits (`user_risk_limits`) and what their check reads: the open positions
and working orders of the accounts the user's keys may trade, in one statement
(`domain/exposure.py` decides on them)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert as sa_insert
from sqlalchemy import literal, null, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.domain.exposure import ExposureLimits
from apps.oms.store.records import Row
from apps.oms.store.tables import (
    accounts,
    api_key_permissions,
    api_keys,
    orders,
    positions,
    user_risk_limits,
    users,
)

U = user_risk_limits.c
#: the user's limits, read with the account at acceptance (`risk.ACCEPTANCE_STATE`)
LIMIT_COLUMNS = (U.max_gross_exposure.label("ul_gross"), U.max_net_exposure.label("ul_net"))


def limits_of(row: Row) -> ExposureLimits | None:
    """The user's limits of an acceptance row (None: no row, or nothing set)."""
    found = ExposureLimits(row.get("ul_gross"), row.get("ul_net"))
    return None if found.checks_nothing else found


def _traded_accounts(user_id: int) -> Any:
    p = api_key_permissions.c
    return (select(p.account_id).join(api_keys, api_keys.c.id == p.api_key_id)
            .where(api_keys.c.user_id == user_id, p.can_trade.is_(True)))  # fmt: skip


async def holdings(conn: AsyncConnection, user_id: int) -> list[dict[str, Any]]:
    """The open positions (`kind` p: qty, price = average price, contract size) and the working
    orders that are not reduce-only (`kind` o: qty, filled, price = the limit or else the
    trigger or stop price, no contract size) of the accounts the user's keys may trade, with
    each one's venue (`exchange_id`)."""
    mine = _traded_accounts(user_id)
    p, o = positions.c, orders.c
    held = (select(literal("p").label("kind"), accounts.c.exchange_id, p.symbol, p.side, p.qty,
                   literal(0).label("filled_qty"), p.avg_price.label("price"),
                   null().label("trigger_price"), p.contract_size)
            .join(accounts, accounts.c.id == p.account_id)
            .where(p.is_open.is_(True), p.account_id.in_(mine)))  # fmt: skip
    working = (select(literal("o").label("kind"), accounts.c.exchange_id, o.symbol, o.side,
                      o.qty, o.filled_qty, o.price, o.trigger_price,
                      null().label("contract_size"))
               .join(accounts, accounts.c.id == o.account_id)
               .where(o.is_open.is_(True), o.reduce_only.is_(False),
                      o.account_id.in_(mine)))  # fmt: skip
    rows = await conn.execute(union_all(held, working))
    # a union's columns are typed by its first select: numbers are read back exactly
    return [{**r, **{k: as_decimal(r[k]) for k in NUMBERS}} for r in rows.mappings()]


async def lock_limits(conn: AsyncConnection, user_id: int) -> ExposureLimits | None:
    """The user's limits row, locked until the transaction ends (acceptances of one user's
    orders that meet the limits queue on it); None without a row."""
    row = (await conn.execute(select(*LIMIT_COLUMNS).where(U.user_id == user_id)
                              .with_for_update())).mappings().first()  # fmt: skip
    return None if row is None else ExposureLimits(row["ul_gross"], row["ul_net"])


async def get_limits(conn: AsyncConnection, user_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(select(user_risk_limits).where(U.user_id == user_id))
           ).mappings().first()  # fmt: skip
    return None if row is None else dict(row)


async def put_limits(
    conn: AsyncConnection, user_id: int, limits: ExposureLimits, comment: str, now: datetime
) -> None:
    """Create or replace the user's limits (the user row locked: writers queue on it);
    `LookupError` if there is no such user."""
    locked = select(users.c.id).where(users.c.id == user_id).with_for_update()
    if (await conn.execute(locked)).first() is None:
        raise LookupError(f"user {user_id} not found")
    values = {"max_gross_exposure": limits.max_gross, "max_net_exposure": limits.max_net,
              "comment": comment, "updated_at": now}  # fmt: skip
    done = await conn.execute(update(user_risk_limits).where(U.user_id == user_id).values(**values))
    if not done.rowcount:
        await conn.execute(sa_insert(user_risk_limits).values(user_id=user_id, **values))


async def accounts_of_user(conn: AsyncConnection, user_id: int) -> list[int]:
    """The accounts the user's keys may trade on (what the limits cover)."""
    return sorted({int(r[0]) for r in await conn.execute(_traded_accounts(user_id))})


NUMBERS = ("qty", "filled_qty", "price", "trigger_price", "contract_size")


def as_decimal(value: Any) -> Decimal | None:
    """A number of the union's rows, exactly (a DECIMAL, or a SQLite money text)."""
    return None if value is None else Decimal(str(value))
