"""Strategies and their account links."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.records import (
    Row,
    StrategyAccount,
    StrategyLink,
    StrategyRecord,
    strategy_link,
)
from apps.oms.store.tables import strategies, strategy_accounts


async def get_link(
    conn: AsyncConnection, strategy_id: int, account_id: int
) -> StrategyLink | None:
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
    return strategy_link(row) if row else None


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


STRATEGY_COLUMNS = (strategies.c.id, strategies.c.name, strategies.c.client_strategy_id,
                    strategies.c.status, strategies.c.created_at)


async def list_for_accounts(
    conn: AsyncConnection, account_ids: Iterable[int] | None
) -> list[StrategyRecord]:
    """Strategies linked to the accounts, with those links (all strategies with a link, and
    all their links, when `account_ids` is None), in id order."""
    query = select(
        *STRATEGY_COLUMNS, strategy_accounts.c.account_id, strategy_accounts.c.allow_new_positions
    ).join(strategy_accounts, strategy_accounts.c.strategy_id == strategies.c.id)
    if account_ids is not None:
        query = query.where(strategy_accounts.c.account_id.in_(sorted(set(account_ids))))
    rows = (await conn.execute(query.order_by(strategies.c.id))).mappings()
    by_id: dict[int, tuple[Row, list[StrategyAccount]]] = {}
    for row in rows:
        _, links = by_id.setdefault(int(row["id"]), (row, []))
        links.append(StrategyAccount(int(row["account_id"]), bool(row["allow_new_positions"])))
    return [_strategy(row, links) for row, links in by_id.values()]


def _strategy(row: Row, links: Iterable[StrategyAccount]) -> StrategyRecord:
    client = row["client_strategy_id"]
    return StrategyRecord(int(row["id"]), str(row["name"]),
                          None if client is None else int(client), str(row["status"]),
                          row["created_at"], tuple(links))  # fmt: skip


async def get_strategy(conn: AsyncConnection, strategy_id: int) -> StrategyRecord | None:
    """The strategy and all its links (None: no such strategy)."""
    query = select(*STRATEGY_COLUMNS).where(strategies.c.id == strategy_id)
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        return None
    a = strategy_accounts.c
    links = await conn.execute(select(a.account_id, a.allow_new_positions)
                               .where(a.strategy_id == strategy_id).order_by(a.account_id))
    return _strategy(row, (StrategyAccount(int(r[0]), bool(r[1])) for r in links))


async def update_strategy(
    conn: AsyncConnection,
    strategy_id: int,
    now: datetime,
    *,
    name: str | None = None,
    status: str | None = None,
) -> None:
    """Rename the strategy and/or set its status (None: unchanged)."""
    values: dict[str, object] = {"updated_at": now}
    if name is not None:
        values["name"] = name
    if status is not None:
        values["status"] = status
    await conn.execute(update(strategies).where(strategies.c.id == strategy_id).values(values))


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
