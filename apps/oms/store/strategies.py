"""Strategies and their account links."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.tables import strategies, strategy_accounts


async def get_link(
    conn: AsyncConnection, strategy_id: int, account_id: int
) -> dict[str, Any] | None:
    """The strategy (with its status) linked to the account, with the link's allow flag."""
    row = (
        (
            await conn.execute(
                select(
                    strategies.c.id,
                    strategies.c.name,
                    strategies.c.status,
                    strategy_accounts.c.allow_new_positions,
                    strategy_accounts.c.shadow,
                )
                .join(strategy_accounts, strategy_accounts.c.strategy_id == strategies.c.id)
                .where(strategies.c.id == strategy_id, strategy_accounts.c.account_id == account_id)
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def create_strategy(
    conn: AsyncConnection,
    *,
    name: str,
    client_strategy_id: int | None,
    account_ids: Iterable[int],
    user_id: int | None,
    now: datetime,
) -> int:
    result = await conn.execute(
        insert(strategies).values(
            name=name,
            client_strategy_id=client_strategy_id,
            status="active",
            created_by_user_id=user_id,
            created_at=now,
            updated_at=now,
        )
    )
    strategy_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    await conn.execute(
        insert(strategy_accounts),
        [
            {
                "strategy_id": strategy_id,
                "account_id": a,
                "allow_new_positions": True,
                "updated_at": now,
            }
            for a in sorted(set(account_ids))
        ],
    )
    return strategy_id


async def list_for_accounts(
    conn: AsyncConnection, account_ids: Iterable[int] | None
) -> list[dict[str, Any]]:
    """Strategies with their linked account ids (all when `account_ids` is None)."""
    query = select(
        strategies.c.id,
        strategies.c.name,
        strategies.c.client_strategy_id,
        strategies.c.status,
        strategies.c.created_at,
        strategy_accounts.c.account_id,
        strategy_accounts.c.allow_new_positions,
    ).join(strategy_accounts, strategy_accounts.c.strategy_id == strategies.c.id)
    if account_ids is not None:
        query = query.where(strategy_accounts.c.account_id.in_(sorted(set(account_ids))))
    by_id: dict[int, dict[str, Any]] = {}
    for row in (await conn.execute(query.order_by(strategies.c.id))).mappings():
        item = by_id.setdefault(
            int(row["id"]),
            {
                "strategy_id": int(row["id"]),
                "name": row["name"],
                "client_strategy_id": row["client_strategy_id"],
                "status": row["status"],
                "created_at": row["created_at"],
                "accounts": [],
            },
        )
        item["accounts"].append(
            {
                "account_id": int(row["account_id"]),
                "allow_new_positions": bool(row["allow_new_positions"]),
            }
        )
    return list(by_id.values())


async def get_strategy(conn: AsyncConnection, strategy_id: int) -> dict[str, Any] | None:
    row = (
        (await conn.execute(select(strategies).where(strategies.c.id == strategy_id)))
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def update_strategy(
    conn: AsyncConnection, strategy_id: int, values: dict[str, Any], now: datetime
) -> None:
    await conn.execute(
        update(strategies).where(strategies.c.id == strategy_id).values(**values, updated_at=now)
    )


async def link_accounts(
    conn: AsyncConnection, strategy_id: int, account_ids: Iterable[int], now: datetime
) -> list[int]:
    """Link the strategy to accounts it is not linked to yet; returns the accounts added."""
    wanted = sorted(set(account_ids))
    if not wanted:
        return []
    rows = await conn.execute(
        select(strategy_accounts.c.account_id).where(
            strategy_accounts.c.strategy_id == strategy_id,
            strategy_accounts.c.account_id.in_(wanted),
        )
    )
    have = {int(r[0]) for r in rows}
    added = [a for a in wanted if a not in have]
    if added:
        await conn.execute(
            insert(strategy_accounts),
            [{"strategy_id": strategy_id, "account_id": a, "allow_new_positions": True,
              "updated_at": now} for a in added],
        )  # fmt: skip
    return added
