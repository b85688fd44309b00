"""Worker-side order writes: order rows, their venue orders (exchange and client ids), and raw
venue payloads (append-only, deduplicated by content hash).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Executable, Text, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.domain.money import to_plain
from apps.oms.store import direct, json_codec
from apps.oms.store.leases import lock
from apps.oms.store.many import update_by_id_later
from apps.oms.store.order_rows import OrderChanges, OrderRow, order_row
from apps.oms.store.tables import commands, order_venue_orders, orders, venue_payloads

OC = orders.c
V = order_venue_orders.c
UPDATE_ORDER = update(orders).where(OC.id == bindparam("b_id"))
# built once, row lock included (SQLite renders no FOR UPDATE: it serialises writers)
LOCK_ORDERS = select(orders).where(OC.id.in_(bindparam("b_ids", expanding=True))).with_for_update()
# order sync's reads, once per housekeeping round of every account task: built once. Only the
# orders on the venue (an exchange id): a deep queue's orders still waiting for their placement
# (PENDING_SUBMIT, open) are not read, so a round does not cost O(queue) (they were 11 % of the
# worker's samples in P1 with a drained queue of 6,000)
LINKED_OPEN = select(orders).where(
    OC.account_id == bindparam("b_account"), OC.is_open.is_(True),
    OC.exchange_order_id.is_not(None)).order_by(OC.id)
# good-till-date orders on the venue whose date has passed (domain/good_till_date.py); an
# order whose placement is still unknown is left to its lookup, a held order to its own watch
DUE_TO_EXPIRE = select(orders).where(
    OC.account_id == bindparam("b_account"), OC.is_open.is_(True), OC.time_in_force == "GTD",
    OC.expire_at <= bindparam("b_now"), OC.exchange_order_id.is_not(None),
    OC.outcome_unknown.is_(False),
    or_(OC.emulation.is_(None), OC.emulation != "gateway")).order_by(OC.id)
NEXT_EXPIRY = select(func.min(OC.expire_at)).where(
    OC.account_id == bindparam("b_account"), OC.is_open.is_(True), OC.time_in_force == "GTD",
    or_(OC.emulation.is_(None), OC.emulation != "gateway"))
OLDEST_UNLINKED = select(func.min(OC.created_at)).where(
    OC.account_id == bindparam("b_account"), OC.is_open.is_(True),
    OC.exchange_order_id.is_(None), OC.emulation != "gateway")  # a held order is never sent
LINK_OWN = update(order_venue_orders).where(
    V.order_id == bindparam("b_order"),
    V.client_order_id == bindparam("b_client"),
    V.exchange_order_id.is_(None),
)
ADD_VENUE_ORDER = (
    insert(order_venue_orders)
    .prefix_with("IGNORE", dialect="mysql")
    .prefix_with("OR IGNORE", dialect="sqlite")
)
# the payload arrives encoded (`payload_row`): bound as text, not encoded again as JSON
ADD_PAYLOAD = (
    insert(venue_payloads)
    .values(payload=bindparam("payload_text", type_=Text()))
    .prefix_with("IGNORE", dialect="mysql")
    .prefix_with("OR IGNORE", dialect="sqlite")
)


def _plain_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return to_plain(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


async def get_order(conn: AsyncConnection, order_id: int) -> OrderRow | None:
    query = lock(select(orders).where(OC.id == order_id), conn.dialect.name)
    row = (await conn.execute(query)).mappings().first()
    return order_row(row) if row else None


async def require_order(conn: AsyncConnection, order_id: int) -> OrderRow:
    """The locked order row; `LookupError` if it vanished (never expected)."""
    row = await get_order(conn, order_id)
    if row is None:
        raise LookupError(f"order {order_id} not found")
    return row


async def lock_orders(conn: AsyncConnection, order_ids: list[int]) -> dict[int, OrderRow]:
    """Several order rows, locked, in one statement (id → row)."""
    if not order_ids:
        return {}
    return by_id(await direct.fetch(conn, *lock_orders_read(order_ids)))


def lock_orders_read(order_ids: list[int]) -> tuple[Executable, dict[str, Any]]:
    """The statement of `lock_orders` and its parameters (sent with other reads)."""
    return LOCK_ORDERS, {"b_ids": order_ids}


def by_id(rows: list[dict[str, Any]]) -> dict[int, OrderRow]:
    """Fetched `orders` rows (fresh dicts, every column) by id, as typed rows."""
    return {int(r["id"]): cast(OrderRow, r) for r in rows}


async def update_orders(conn: AsyncConnection, changes: Mapping[int, OrderChanges]) -> None:
    """Several (locked) orders' updates in one statement (order id -> values)."""
    if len(changes) == 1:  # held back to the next statement or the commit (`direct.later`)
        ((order_id, values),) = changes.items()
        await direct.later(conn, UPDATE_ORDER, {**values, "b_id": order_id})
    elif changes:
        await update_by_id_later(conn, orders, changes)


async def open_orders(
    conn: AsyncConnection,
    account_id: int,
    *,
    symbol: str | None = None,
    strategy_ids: list[int] | None = None,
    position_id: int | None = None,
) -> list[OrderRow]:
    query = select(orders).where(OC.account_id == account_id, OC.is_open.is_(True))
    if symbol is not None:
        query = query.where(OC.symbol == symbol)
    if strategy_ids is not None:
        query = query.where(OC.strategy_id.in_(strategy_ids))
    if position_id is not None:
        query = query.where(OC.position_id == position_id)
    return [order_row(r) for r in (await conn.execute(query.order_by(OC.id))).mappings()]


async def linked_open_orders(conn: AsyncConnection, account_id: int) -> list[OrderRow]:
    """The account's open orders that are on the venue (have an exchange id), oldest first."""
    rows = await direct.fetch(conn, LINKED_OPEN, {"b_account": account_id})
    return [cast(OrderRow, r) for r in rows]  # fresh dicts, every column


async def due_to_expire(conn: AsyncConnection, account_id: int, now: datetime
                        ) -> list[OrderRow]:  # fmt: skip
    """The account's good-till-date orders on the venue whose date has passed, oldest first."""
    rows = await conn.execute(DUE_TO_EXPIRE, {"b_account": account_id, "b_now": now})
    return [order_row(r) for r in rows.mappings()]


async def next_expiry(conn: AsyncConnection, account_id: int) -> datetime | None:
    """The earliest date of the account's open good-till-date orders the venue works (sent
    or still queued); None: it has none."""
    when = (await conn.execute(NEXT_EXPIRY, {"b_account": account_id})).scalar()
    return when if isinstance(when, datetime) else None


async def oldest_unlinked_open(conn: AsyncConnection, account_id: int) -> datetime | None:
    """When the oldest open order still waiting for its exchange id was created (None: none)."""
    when = (await conn.execute(OLDEST_UNLINKED, {"b_account": account_id})).scalar()
    return when if isinstance(when, datetime) else None


async def add_venue_order(
    conn: AsyncConnection,
    *,
    order_id: int,
    account_id: int,
    client_order_id: str,
    now: datetime,
) -> None:
    """Record the venue order we are about to send (idempotent on its client order id: the
    unique key turns a repeat into a no-op, in one statement)."""
    await direct.execute(
        conn,
        ADD_VENUE_ORDER,
        {
            "order_id": order_id,
            "account_id": account_id,
            "client_order_id": client_order_id,
            "created_at": now,
        },
    )


async def add_venue_orders(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Venue orders already placed (`order_id`, `account_id`, `client_order_id`,
    `exchange_order_id`, `created_at`), in one statement."""
    if rows:
        await direct.later_rows(conn, ADD_VENUE_ORDER, rows)


async def link_venue_orders(conn: AsyncConnection, links: list[dict[str, Any]]) -> None:
    """Give venue orders written ahead their exchange ids (`b_order`, `b_client`,
    `exchange_order_id`): each held back and sent with the transaction's next statement."""
    for link in links:
        await direct.later(conn, LINK_OWN, link)


async def venue_order_started(conn: AsyncConnection, client_order_id: str) -> datetime | None:
    """When the venue order with this client id was first sent (start of the lookup window)."""
    row = (
        await conn.execute(select(V.created_at).where(V.client_order_id == client_order_id))
    ).first()
    return None if row is None else row[0]


async def link_exchange_id(
    conn: AsyncConnection, order_id: int, exchange_order_id: str, client_order_id: str | None
) -> None:
    """Give the venue order its exchange id, once: the row of `order_id` with that client id
    when the venue echoes it, else the order's newest row still without one. A row already
    linked keeps its id (a replaced order's earlier venue orders stay mapped)."""
    if client_order_id is not None:  # the usual case, one statement: our row, still unlinked
        params = {"exchange_order_id": exchange_order_id, "b_order": order_id}
        linked = await conn.execute(LINK_OWN, {**params, "b_client": client_order_id})
        if linked.rowcount == 1:
            return
    of_order = V.order_id == order_id
    known = select(V.id).where(of_order, V.exchange_order_id == exchange_order_id)
    if (await conn.execute(known)).first() is not None:
        return
    # the venue did not echo our client id (or rewrote it): the newest row still unlinked
    unlinked = select(V.id).where(of_order, V.exchange_order_id.is_(None))
    row = (await conn.execute(unlinked.order_by(V.id.desc()).limit(1))).first()
    if row is not None:
        await conn.execute(
            update(order_venue_orders)
            .where(V.id == row[0])
            .values(exchange_order_id=exchange_order_id)
        )


async def pending_venue_order(conn: AsyncConnection, order_id: int) -> dict[str, Any] | None:
    """The order's written-ahead venue order not linked to an exchange id yet, if any."""
    query = (
        select(order_venue_orders)
        .where(V.order_id == order_id, V.exchange_order_id.is_(None))
        .order_by(V.id.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def client_id_taken(conn: AsyncConnection, client_order_id: str) -> bool:
    """Is this client order id used by any order or venue order already?"""
    for query in (
        select(V.id).where(V.client_order_id == client_order_id),
        select(OC.id).where(OC.client_order_id == client_order_id),
    ):
        if (await conn.execute(query)).first() is not None:
            return True
    return False


async def count_venue_orders(conn: AsyncConnection, order_id: int) -> int:
    query = select(func.count()).select_from(order_venue_orders).where(V.order_id == order_id)
    return int((await conn.execute(query)).scalar_one())


async def change_in_flight(conn: AsyncConnection, order_id: int) -> bool:
    """Is a `change_order` of this order still queued or running?"""
    C = commands.c
    query = select(C.id).where(
        C.order_id == order_id,
        C.command_type == "change_order",
        C.status.in_(("queued", "running")),
    )
    return (await conn.execute(query.limit(1))).first() is not None


async def order_for_exchange_id(
    conn: AsyncConnection, account_id: int, exchange_order_id: str
) -> int | None:
    row = (
        await conn.execute(
            select(V.order_id).where(
                V.account_id == account_id, V.exchange_order_id == exchange_order_id
            )
        )
    ).first()
    return None if row is None else int(row[0])


async def orders_for_exchange_ids(
    conn: AsyncConnection, account_id: int, exchange_order_ids: list[str]
) -> dict[str, int]:
    """`order_for_exchange_id` for many venue orders in one statement (those not linked are
    left out)."""
    if not exchange_order_ids:
        return {}
    rows = await conn.execute(
        select(V.exchange_order_id, V.order_id).where(
            V.account_id == account_id, V.exchange_order_id.in_(sorted(set(exchange_order_ids)))
        )
    )
    return {str(r[0]): int(r[1]) for r in rows}


async def open_orders_with_exchange_ids(
    conn: AsyncConnection, account_id: int, exchange_order_ids: list[str]
) -> list[OrderRow]:
    """The account's open orders whose current venue order is one of these."""
    if not exchange_order_ids:
        return []
    rows = await conn.execute(select(orders).where(
        OC.account_id == account_id, OC.is_open.is_(True),
        OC.exchange_order_id.in_(sorted(set(exchange_order_ids)))))  # fmt: skip
    return [order_row(r) for r in rows.mappings()]


async def venue_orders_of(conn: AsyncConnection, order_id: int) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(select(order_venue_orders).where(V.order_id == order_id).order_by(V.id))
    ).mappings()
    return [dict(r) for r in rows]


async def store_payload(
    conn: AsyncConnection,
    *,
    account_id: int,
    kind: str,
    exchange_id: str,
    object_id: str | None,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """Append a raw venue payload unless the same content is stored already."""
    await store_payloads(
        conn, [payload_row(account_id=account_id, kind=kind, exchange_id=exchange_id,
                           object_id=object_id, payload=payload, now=now)],
    )  # fmt: skip


#: a trade inside a stored `order` payload whose own `trade` payload row is written by the same
#: transaction is kept as a reference to that row: `{"$payload": <its content_hash>}`; the
#: reads of order payloads put the trade back (`ccxt_records.with_trades`)
TRADE_REF = "$payload"


def payload_row(
    *,
    account_id: int,
    kind: str,
    exchange_id: str,
    object_id: str | None,
    payload: dict[str, Any],
    now: datetime,
    trade_refs: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """The `venue_payloads` row of a raw payload (keyed by a hash of its content), for
    `store_payloads`: the payload encoded once, in its own key order (Decimals as plain
    strings), and hashed in a canonical form (sorted keys) of its decoded copy. `trade_refs`
    (an `order` payload's: position in its `trades` -> content hash of that trade's own row,
    written by the same transaction) stores those trades by reference (`TRADE_REF`: their
    bytes once, not twice); the hash is still the full content's, so a repeat of the same
    structure stays a no-op."""
    encoded, copy = json_codec.dumps_with_copy(payload, default=_plain_default)
    canonical = json.dumps([kind, copy], sort_keys=True, separators=(",", ":"))
    if trade_refs and isinstance(trades := copy.get("trades"), list):
        encoded = json_codec.dumps({**copy, "trades": [
            {TRADE_REF: trade_refs[k]} if k in trade_refs else trade
            for k, trade in enumerate(trades)]})  # fmt: skip
    return {
        "account_id": account_id,
        "kind": kind,
        "content_hash": hashlib.sha256(canonical.encode()).hexdigest(),
        "exchange_id": exchange_id,
        "exchange_object_id": object_id,
        "payload_text": encoded,
        "created_at": now,
    }


async def store_payloads(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Rows of `payload_row` in one statement; the unique (account_id, content_hash) key turns
    a repeat into a no-op."""
    if rows:
        await direct.later_rows(conn, ADD_PAYLOAD, rows)


async def outcome_unknown(conn: AsyncConnection, order_id: int) -> bool:
    """Whether the order's placement has an unknown outcome (a send's attempt timed out)."""
    row = await conn.execute(select(orders.c.outcome_unknown).where(orders.c.id == order_id))
    return bool(row.scalar())


async def move_open_orders(
    conn: AsyncConnection, source_position_id: int, target_position_id: int, now: datetime
) -> None:
    """The open orders of one position now belong to another (a merge)."""
    await conn.execute(
        update(orders)
        .where(orders.c.position_id == source_position_id, orders.c.is_open.is_(True))
        .values(position_id=target_position_id, updated_at=now)
    )
