"""The shared rows of the request budgets: one short write transaction per slice a process
reserves (`apps/oms/domain/request_budget.py` decides the grant), never one per exchange call.
The same transaction adds the grant to the process's holder row, so the store shows who spends
each limit (which hosts and processes, and how much of the window each took)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.domain.request_budget import Limit, Reserved, reserve
from apps.oms.store.store import Store
from apps.oms.store.tables import request_budget_holders, request_budgets

B = request_budgets.c
H = request_budget_holders.c
LOCKED = select(B.window_no, B.reserved).where(B.budget_key == bindparam("b_key")) \
    .with_for_update()  # fmt: skip
# a budget's first reservation (a concurrent first one: ignored, then read locked)
FIRST = (
    insert(request_budgets)
    .values(budget_key=bindparam("b_key"), window_no=-1, reserved=Decimal(0),
            updated_at=bindparam("b_now"))
    .prefix_with("IGNORE", dialect="mysql")
    .prefix_with("OR IGNORE", dialect="sqlite")
)  # fmt: skip
SAVE = update(request_budgets).where(B.budget_key == bindparam("b_key")).values(
    window_no=bindparam("b_window"), reserved=bindparam("b_reserved"), updated_at=bindparam("b_now"))
# the holder's row: its grants of the window added up, a new window's counted afresh (`reserved`
# is set before `window_no`: MySQL assigns left to right, reading the values already set)
HELD = (
    update(request_budget_holders)
    .where(H.budget_key == bindparam("b_key"), H.holder == bindparam("b_holder"))
    .ordered_values(
        (H.reserved, case((H.window_no == bindparam("b_window"),
                           H.reserved + bindparam("b_granted")), else_=bindparam("b_granted"))),
        (H.window_no, bindparam("b_window")),
        (H.updated_at, bindparam("b_now")),
    )
)  # fmt: skip
NEW_HOLDER = insert(request_budget_holders).values(
    budget_key=bindparam("b_key"), holder=bindparam("b_holder"), window_no=bindparam("b_window"),
    reserved=bindparam("b_granted"), updated_at=bindparam("b_now"))


async def take_slice(store: Store, key: str, limit: Limit, purpose: str, wanted: Decimal,
                     observed: Decimal, at_ms: int, now: datetime, *, holder: str) -> Decimal:  # fmt: skip
    """Reserve up to `wanted` units of budget `key` for `purpose` in the window of `at_ms`, for
    process `holder`; the units granted. The row stays locked to the commit (SELECT … FOR UPDATE on MySQL,
    the write transaction's lock on SQLite), so concurrent processes are served one by one.
    A budget's row is created on its first use in a transaction of its own: MySQL's locking
    read of a missing row takes a gap lock, and two such transactions inserting deadlock."""
    params = {"b_key": key, "b_now": now}
    for _ in range(2):
        async with store.transaction() as conn:
            found = (await conn.execute(LOCKED, params)).first()
            if found is not None:
                row = Reserved(int(found.window_no), Decimal(found.reserved))
                after, granted = reserve(row, limit, purpose, wanted, observed, at_ms)
                if after != row:
                    await conn.execute(SAVE, {**params, "b_window": after.window,
                                              "b_reserved": after.units})  # fmt: skip
                if granted > 0:
                    await _hold(conn, {**params, "b_holder": holder, "b_window": after.window,
                                       "b_granted": granted})  # fmt: skip
                return granted
        async with store.transaction() as conn:
            await conn.execute(FIRST, params)
    raise RuntimeError(f"the request budget row {key!r} could not be created")


async def _hold(conn: AsyncConnection, params: dict[str, object]) -> None:
    """Add a grant to its holder's row (under the budget row's lock, so one writer at a time)."""
    if (await conn.execute(HELD, params)).rowcount == 0:
        await conn.execute(NEW_HOLDER, params)
