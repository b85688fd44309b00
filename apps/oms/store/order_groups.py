"""Contingent groups (`order_groups`, `order_group_members`): a group's row and its members as
the worker's group step reads them (the member orders and their held state joined), and the
rows the step writes, each creation unique (a member per role, a cancel per request id) so a
step taken twice (a takeover) writes nothing twice (`service/execution/order_groups.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.domain.order_groups import GroupState
from apps.oms.store.tables import (
    commands,
    deals,
    held_orders,
    order_group_members,
    order_groups,
    orders,
)

GroupRow = dict[str, Any]
LIVE = tuple(s.value for s in GroupState if s.is_live)


async def create(conn: AsyncConnection, values: dict[str, Any]) -> int:
    result = await conn.execute(insert(order_groups).values(**values))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def add_member(conn: AsyncConnection, group_id: int, order_id: int, role: str,
                     now: datetime) -> bool:  # fmt: skip
    """Link an order to its group under `role`, the order showing the group, its kind and the
    role (`orders.group_*`); False if the role is taken (created before: a savepoint, so the
    transaction goes on)."""
    try:
        async with conn.begin_nested():
            await conn.execute(insert(order_group_members).values(
                group_id=group_id, order_id=order_id, role=role, created_at=now))
    except IntegrityError:
        return False
    kind = select(order_groups.c.kind).where(order_groups.c.id == group_id).scalar_subquery()
    await conn.execute(update(orders).where(orders.c.id == order_id)
                       .values(group_id=group_id, group_kind=kind, group_role=role))  # fmt: skip
    return True


async def live_of(conn: AsyncConnection, account_id: int) -> list[GroupRow]:
    query = select(order_groups).where(order_groups.c.account_id == account_id,
                                       order_groups.c.state.in_(LIVE)).order_by(order_groups.c.id)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def get(conn: AsyncConnection, group_id: int, *, lock: bool = False) -> GroupRow | None:
    query = select(order_groups).where(order_groups.c.id == group_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else dict(row)


async def members_of(conn: AsyncConnection, group_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The members of the groups with their orders' state and their held rows' state (None:
    not held), in creation order."""
    query = (
        select(order_group_members.c.group_id, order_group_members.c.role,
               orders.c.id.label("order_id"), orders.c.status, orders.c.qty,
               orders.c.filled_qty, orders.c.position_id, held_orders.c.state.label("held"))
        .join(orders, orders.c.id == order_group_members.c.order_id)
        .outerjoin(held_orders, held_orders.c.order_id == orders.c.id)
        .where(order_group_members.c.group_id.in_(list(group_ids)))
        .order_by(order_group_members.c.id)
    )  # fmt: skip
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def change(conn: AsyncConnection, group_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(order_groups).where(order_groups.c.id == group_id).values(**values))


async def request_cancel(conn: AsyncConnection, group_ids: Sequence[int]) -> None:
    """A cancel named a member of these groups: they end whole (`cancel_requested`)."""
    await conn.execute(update(order_groups).where(order_groups.c.id.in_(list(group_ids)))
                       .values(cancel_requested=True))  # fmt: skip


class _Taken(Exception):
    pass


async def add_member_order(conn: AsyncConnection, group_id: int, role: str,
                           values: dict[str, Any], now: datetime) -> int | None:  # fmt: skip
    """A member order the group step creates (an OCO leg, an exit: held, never sent itself)
    and its link; None if the role was created before (a savepoint: nothing is written)."""
    try:
        async with conn.begin_nested():
            result = await conn.execute(insert(orders).values(**values))
            order_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            if not await add_member(conn, group_id, order_id, role, now):
                raise _Taken
    except _Taken:
        return None
    return order_id


async def filled_position(conn: AsyncConnection, order_id: int) -> int | None:
    """The position an order's fills went to (its first deal's, or its child's when the
    gateway holds it), None before any fill."""
    family = select(orders.c.id).where(orders.c.parent_order_id == order_id)
    query = select(deals.c.position_id).where(
        (deals.c.order_id == order_id) | deals.c.order_id.in_(family)).order_by(deals.c.id)
    found = (await conn.execute(query.limit(1))).scalar()
    return None if found is None else int(found)


async def first_fill_at(conn: AsyncConnection, order_id: int) -> datetime | None:
    """When an order's first fill was executed (its own, or its child's when the gateway holds
    it), None before any fill."""
    family = select(orders.c.id).where(orders.c.parent_order_id == order_id)
    query = select(func.min(deals.c.executed_at)).where(
        (deals.c.order_id == order_id) | deals.c.order_id.in_(family))
    found: datetime | None = (await conn.execute(query)).scalar()
    return found


async def queue_command(
    conn: AsyncConnection, account_id: int, command_type: str, request_id: str,
    content_hash: str, payload: dict[str, Any], now: datetime,
) -> bool:  # fmt: skip
    """A command the group step queues (a cancel of a member); False if its request id was
    queued already (the step was taken before: nothing is queued twice)."""
    try:
        async with conn.begin_nested():
            await conn.execute(insert(commands).values(
                account_id=account_id, command_type=command_type, request_id=request_id,
                content_hash=content_hash, payload=payload, status="queued", attempts=0,
                created_at=now, updated_at=now))  # fmt: skip
    except IntegrityError:
        return False
    return True
