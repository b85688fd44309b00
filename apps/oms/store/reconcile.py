"""SQL of reconciliation: how venue ids map to OMS orders, the books' net quantity per symbol,
trade cursors and run records per account and scope, the out-of-sync flag, and the status read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.leases import skip_locked
from apps.oms.store.tables import (
    account_risk_state,
    accounts,
    commands,
    order_venue_orders,
    orders,
    positions,
    reconcile_cursors,
    sequencer_state,
)

OC = orders.c
V = order_venue_orders.c
R = reconcile_cursors.c
S = account_risk_state.c


async def orders_by_exchange_id(
    conn: AsyncConnection, account_id: int, exchange_ids: Iterable[str]
) -> dict[str, int]:
    """Venue order id → OMS order id, through every venue order an OMS order used."""
    ids = sorted(set(exchange_ids))
    out: dict[str, int] = {}
    for chunk in _chunks(ids):
        rows = await conn.execute(
            select(V.exchange_order_id, V.order_id).where(
                V.account_id == account_id, V.exchange_order_id.in_(chunk)
            )
        )
        out.update({str(r[0]): int(r[1]) for r in rows})
        rows = await conn.execute(
            select(OC.exchange_order_id, OC.id).where(
                OC.account_id == account_id, OC.exchange_order_id.in_(chunk)
            )
        )
        for r in rows:
            out.setdefault(str(r[0]), int(r[1]))
    return out


async def orders_by_client_id(
    conn: AsyncConnection, account_id: int, client_ids: Iterable[str]
) -> dict[str, int]:
    """Client order id → OMS order id (the order's own id or a chained replacement's)."""
    ids = sorted({c for c in client_ids if c})
    out: dict[str, int] = {}
    for chunk in _chunks(ids):
        rows = await conn.execute(
            select(V.client_order_id, V.order_id).where(
                V.account_id == account_id, V.client_order_id.in_(chunk)
            )
        )
        out.update({str(r[0]): int(r[1]) for r in rows})
        rows = await conn.execute(
            select(OC.client_order_id, OC.id).where(
                OC.account_id == account_id, OC.client_order_id.in_(chunk)
            )
        )
        for r in rows:
            out.setdefault(str(r[0]), int(r[1]))
    return out


async def client_id_used(conn: AsyncConnection, client_order_id: str) -> bool:
    row = (
        await conn.execute(select(OC.id).where(OC.client_order_id == client_order_id).limit(1))
    ).first()
    if row is not None:
        return True
    row = (
        await conn.execute(select(V.id).where(V.client_order_id == client_order_id).limit(1))
    ).first()
    return row is not None


async def unresolved_orders(conn: AsyncConnection, account_id: int) -> frozenset[int]:
    """OMS orders whose placement outcome is unknown (their send resolves them, not us)."""
    rows = await conn.execute(
        select(OC.id).where(
            OC.account_id == account_id, OC.is_open.is_(True), OC.outcome_unknown.is_(True)
        )
    )
    return frozenset(int(r[0]) for r in rows)


async def oldest_open_sent(conn: AsyncConnection, account_id: int) -> datetime | None:
    """Creation time of the oldest open OMS order that reached the venue."""
    rows = await conn.execute(
        select(OC.created_at).where(
            OC.account_id == account_id,
            OC.is_open.is_(True),
            OC.exchange_order_id.is_not(None),
        )
    )
    stamps = [r[0] for r in rows]
    return min(stamps, default=None)


async def books_net(conn: AsyncConnection, account_id: int) -> dict[str, Decimal]:
    """Signed open quantity per symbol over every open position (summed in Python: money is
    TEXT on SQLite)."""
    P = positions.c
    rows = await conn.execute(
        select(P.symbol, P.side, P.qty).where(P.account_id == account_id, P.is_open.is_(True))
    )
    net: dict[str, Decimal] = {}
    for row in rows:
        symbol, side, qty = row[0], row[1], row[2]
        signed = Decimal(qty) if side == "buy" else -Decimal(qty)
        net[str(symbol)] = net.get(str(symbol), Decimal(0)) + signed
    return net


async def cursor(conn: AsyncConnection, account_id: int) -> int | None:
    """The account's trade cursor: the newest trade time any run has seen."""
    rows = await conn.execute(select(R.cursor_ms).where(R.account_id == account_id))
    values = [int(r[0]) for r in rows if r[0] is not None]
    return max(values, default=None)


async def save_run(
    conn: AsyncConnection,
    account_id: int,
    scope: str,
    *,
    cursor_ms: int | None,
    now: datetime,
    stats: Mapping[str, object],
) -> None:
    """Upsert the (account, scope) row; runs of one account are serialised by its lease."""
    values = {"cursor_ms": cursor_ms, "last_run_at": now, "last_stats": stats, "status": "done"}
    result = await conn.execute(
        update(reconcile_cursors)
        .where(R.account_id == account_id, R.scope == scope)
        .values(**values)
    )
    if result.rowcount == 0:
        await conn.execute(
            insert(reconcile_cursors).values(account_id=account_id, scope=scope, **values)
        )


async def sync_state(conn: AsyncConnection, account_id: int) -> tuple[bool, bool]:
    """(out_of_sync, out_of_sync_blocks) of the account."""
    row = (
        await conn.execute(
            select(S.out_of_sync, S.out_of_sync_blocks).where(S.account_id == account_id)
        )
    ).first()
    return (False, False) if row is None else (bool(row[0]), bool(row[1]))


async def set_sync_state(
    conn: AsyncConnection, account_id: int, *, out_of_sync: bool, blocks: bool, now: datetime
) -> None:
    await conn.execute(
        update(account_risk_state)
        .where(S.account_id == account_id)
        .values(out_of_sync=out_of_sync, out_of_sync_blocks=blocks, updated_at=now)
    )


async def status_rows(
    conn: AsyncConnection, account_ids: Iterable[int] | None
) -> list[dict[str, Any]]:
    """One row per account: its newest run over every scope, and its sync flags."""
    query = select(accounts.c.id, S.out_of_sync, S.out_of_sync_blocks).join(
        account_risk_state, S.account_id == accounts.c.id
    )
    if account_ids is not None:
        query = query.where(accounts.c.id.in_(sorted(set(account_ids))))
    base = [dict(r) for r in (await conn.execute(query.order_by(accounts.c.id))).mappings()]
    if not base:
        return []
    runs = (
        await conn.execute(
            select(reconcile_cursors).where(R.account_id.in_([r["id"] for r in base]))
        )
    ).mappings()
    newest: dict[int, dict[str, Any]] = {}
    cursors: dict[int, int] = {}
    for run in runs:
        aid = int(run["account_id"])
        if run["cursor_ms"] is not None:
            cursors[aid] = max(cursors.get(aid, 0), int(run["cursor_ms"]))
        if run["last_run_at"] is None:
            continue
        if aid not in newest or run["last_run_at"] > newest[aid]["last_run_at"]:
            newest[aid] = dict(run)
    return [
        {**row, "run": newest.get(int(row["id"])), "cursor_ms": cursors.get(int(row["id"]))}
        for row in base
    ]


def _chunks(ids: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# --- the schedule ----------------------------------------------------------------------------

SCHEDULER = "reconcile_scheduler"


async def hold_scheduler(conn: AsyncConnection, now: datetime, *, dialect: str) -> bool:
    """Take the scheduler's row for this transaction (`FOR UPDATE SKIP LOCKED`): False when
    another worker's scheduler holds it (that one enqueues this round)."""
    c = sequencer_state.c
    query = skip_locked(select(c.name).where(c.name == SCHEDULER), dialect)
    if (await conn.execute(query)).first() is not None:
        return True
    exists = (await conn.execute(select(c.name).where(c.name == SCHEDULER))).first()
    if exists is not None:
        return False  # present but locked by another scheduler
    try:
        async with conn.begin_nested():
            await conn.execute(insert(sequencer_state).values(name=SCHEDULER, last_seq=0,
                                                              last_id=0, updated_at=now))
    except IntegrityError:
        return False
    return True


async def schedulable_accounts(conn: AsyncConnection) -> list[int]:
    rows = await conn.execute(select(accounts.c.id).order_by(accounts.c.id))
    return [int(r[0]) for r in rows]


async def busy_accounts(conn: AsyncConnection) -> set[int]:
    """Accounts with a reconcile run queued or running (the schedule does not pile up)."""
    c = commands.c
    rows = await conn.execute(
        select(c.account_id)
        .where(c.command_type == "reconcile", c.status.in_(("queued", "running")))
        .group_by(c.account_id)
    )
    return {int(r[0]) for r in rows}


async def has_request(conn: AsyncConnection, account_id: int, request_id: str) -> bool:
    c = commands.c
    row = (
        await conn.execute(
            select(c.id).where(c.account_id == account_id, c.request_id == request_id)
        )
    ).first()
    return row is not None
