"""Indexed list queries behind the `/oms/*` reads: scope by account (and strategy for restricted
keys), filters, newest first, paging with a total. Every query starts from an `account_id` index."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Select, Table, and_, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store import direct
from apps.oms.store.tables import commands, deals, orders, positions


@dataclass(frozen=True)
class Scope:
    """Accounts to read and, per account, the strategies a restricted key may see (None = all)."""

    strategies_by_account: Mapping[int, frozenset[int] | None]

    def condition(self, table: Table) -> ColumnElement[bool]:
        free = [a for a, s in self.strategies_by_account.items() if s is None]
        parts: list[ColumnElement[bool]] = []
        if free:
            parts.append(table.c.account_id.in_(sorted(free)))
        for account_id, allowed in sorted(self.strategies_by_account.items()):
            if allowed is not None:
                parts.append(
                    and_(table.c.account_id == account_id, table.c.strategy_id.in_(sorted(allowed)))
                )
        return or_(*parts) if parts else table.c.account_id.in_([])


@dataclass(frozen=True)
class Filters:
    strategy_id: int | None = None
    symbol: str | None = None
    status: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    order_id: int | None = None
    position_id: int | None = None


def _where(
    table: Table, scope: Scope, f: Filters, time_column: Column[Any] | None
) -> list[ColumnElement[bool]]:
    where = [scope.condition(table)]
    if f.strategy_id is not None:
        where.append(table.c.strategy_id == f.strategy_id)
    if f.symbol is not None:
        where.append(table.c.symbol == f.symbol)
    if f.status is not None:
        where.append((table.c.state if table is positions else table.c.status) == f.status)
    if f.order_id is not None:
        where.append(table.c.order_id == f.order_id)
    if f.position_id is not None:
        where.append(table.c.position_id == f.position_id)
    if time_column is not None and f.start is not None:
        where.append(time_column >= f.start)
    if time_column is not None and f.end is not None:
        where.append(time_column < f.end)
    return where


def open_query(table: Table, scope: Scope, f: Filters, limit: int) -> Select[Any]:
    """Open orders or positions (`is_open` index), newest first, at most `limit`."""
    where = [*_where(table, scope, f, None), table.c.is_open.is_(True)]
    return select(table).where(*where).order_by(table.c.id.desc()).limit(limit)


def page_queries(
    table: Table, scope: Scope, f: Filters, time_column: Column[Any], page: int, page_size: int
) -> tuple[Select[Any], Select[Any]]:
    """(count, page) queries, newest first by `time_column`."""
    where = _where(table, scope, f, time_column)
    count = select(func.count()).select_from(table).where(*where)
    rows = (
        select(table)
        .where(*where)
        .order_by(time_column.desc(), table.c.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return count, rows


async def open_rows(
    conn: AsyncConnection, kind: str, scope: Scope, f: Filters, limit: int
) -> list[dict[str, Any]]:
    """The open `orders` or `positions` (`kind`) of the scope, newest first."""
    query = open_query(TABLES[kind], scope, f, limit)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def every_open_row(
    conn: AsyncConnection, kind: str, account_ids: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """Every open order or position (`kind`; of `account_ids`, or of every account): the read
    model's load and its per-account re-read."""
    table = TABLES[kind]
    query = select(table).where(table.c.is_open.is_(True))
    if account_ids is not None:
        query = query.where(table.c.account_id.in_(sorted(account_ids)))
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def page_rows(
    conn: AsyncConnection, kind: str, scope: Scope, f: Filters, page: int, page_size: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of `orders`, `deals` or `positions` (`kind`), newest first by its time column,
    and the total count."""
    count, rows = page_queries(TABLES[kind], scope, f, TIME_COLUMNS[kind], page, page_size)
    total = int((await conn.execute(count)).scalar_one())
    return [dict(r) for r in (await conn.execute(rows)).mappings()], total


async def rows_by_ids(
    conn: AsyncConnection, kind: str, scope: Scope | None, ids: Sequence[int]
) -> list[dict[str, Any]]:
    """Rows of `kind` by primary key, within `scope` (None: every account, for admins)."""
    table = TABLES[kind]
    query = select(table).where(table.c.id.in_(sorted(set(ids)))).order_by(table.c.id)
    if scope is not None and table is commands:
        query = query.where(table.c.account_id.in_(sorted(scope.strategies_by_account)))
    elif scope is not None:
        query = query.where(scope.condition(table))
    return [dict(r) for r in (await conn.execute(query)).mappings()]


_OPEN_BY_IDS: dict[str, Select[Any]] = {}


async def open_rows_by_ids(
    conn: AsyncConnection, kind: str, ids: Sequence[int]
) -> list[dict[str, Any]]:
    """The open rows (`is_open`) among `ids` of `orders` or `positions`, in id order: what the
    read model re-reads after events named them (a closed row is only dropped, not read)."""
    return await direct.fetch(conn, *open_rows_by_ids_read(kind, ids))


def open_rows_by_ids_read(kind: str, ids: Sequence[int]) -> tuple[Select[Any], dict[str, Any]]:
    """The statement of `open_rows_by_ids` and its parameters (several tables' in one round
    trip: `direct.fetch_each`)."""
    query = _OPEN_BY_IDS.get(kind)
    if query is None:  # built once per table; the id list is expanded at execution
        table = TABLES[kind]
        query = _OPEN_BY_IDS[kind] = (
            select(table)
            .where(table.c.id.in_(bindparam("b_ids", expanding=True)), table.c.is_open.is_(True))
            .order_by(table.c.id)
        )
    return query, {"b_ids": sorted(set(ids))}


async def all_rows(
    conn: AsyncConnection, kind: str, scope: Scope, f: Filters
) -> list[dict[str, Any]]:
    """Every matching row of `kind` (for statistics); bounded by the caller's date range."""
    table = TABLES[kind]
    query = select(table).where(*_where(table, scope, f, TIME_COLUMNS[kind]))
    return [dict(r) for r in (await conn.execute(query)).mappings()]


TABLES = {"orders": orders, "deals": deals, "positions": positions, "commands": commands}
# the column a kind's pages and date filters go by (newest first)
TIME_COLUMNS = {"orders": orders.c.created_at, "deals": deals.c.executed_at,
                "positions": positions.c.opened_at}


async def newest_rows(
    conn: AsyncConnection, kind: str, account_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """The newest rows of `kind` (of one account, or of every account): an admin's view."""
    table = TABLES[kind]
    query = select(table).order_by(table.c.id.desc()).limit(limit)
    if account_id is not None:
        query = query.where(table.c.account_id == account_id)
    return [dict(r) for r in (await conn.execute(query)).mappings()]

