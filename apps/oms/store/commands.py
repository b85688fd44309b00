"""The command queue as the API sees it: insert at acceptance, idempotency lookups, status reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store import direct
from apps.oms.store.many import insert_returning_ids, update_by_id_later
from apps.oms.store.records import (
    TERMINAL,
    CommandRecord,
    CommandStatus,
    NewCommand,
    command_record,
    command_status,
)
from apps.oms.store.tables import commands

INSERT = insert(commands)


def command_values(command: NewCommand) -> dict[str, Any]:
    """A new command's row (every column but `id` and `order_id`: rows inserted together must
    have the same keys)."""
    now, status = command.created_at, command.status
    return {
        "account_id": command.account_id,
        "command_type": command.command_type,
        "request_id": command.request_id,
        "client_order_id": command.client_order_id,
        "content_hash": command.content_hash,
        "payload": command.payload,
        "status": status,
        "result": command.result,
        "error_code": command.error_code,
        "error_message": command.error_message,
        "api_key_id": command.api_key_id,
        "user_id": command.user_id,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
        "finished_at": now if status in TERMINAL else None,
    }


async def insert_command(conn: AsyncConnection, command: NewCommand) -> int:
    """Insert one command; returns its id."""
    return await direct.insert_row(conn, INSERT, command_values(command))


async def insert_commands(conn: AsyncConnection, new: list[NewCommand]) -> list[int]:
    """Insert commands, ids in list order, in one statement where the dialect can
    (`many.insert_returning_ids`)."""
    return await insert_returning_ids(conn, commands, [command_values(c) for c in new])


SET_ORDER_ID = update(commands).where(commands.c.id == bindparam("b_id"))


async def set_order_id(conn: AsyncConnection, command_id: int, order_id: int) -> None:
    await direct.execute(conn, SET_ORDER_ID, {"order_id": order_id, "b_id": command_id})


async def set_order_ids(conn: AsyncConnection, order_ids: dict[int, int]) -> None:
    """Several commands' order ids (command id -> order id) in one statement, held back to
    the transaction's next statement or its commit (`direct.later`)."""
    if len(order_ids) == 1:
        ((command_id, order_id),) = order_ids.items()
        await direct.later(conn, SET_ORDER_ID, {"order_id": order_id, "b_id": command_id})
    elif order_ids:
        await update_by_id_later(conn, commands,
                                 {c: {"order_id": o} for c, o in order_ids.items()})  # fmt: skip


async def find_by_request_id(
    conn: AsyncConnection, account_id: int, request_id: str
) -> CommandRecord | None:
    row = (
        (
            await conn.execute(
                select(commands).where(
                    commands.c.account_id == account_id, commands.c.request_id == request_id
                )
            )
        )
        .mappings()
        .first()
    )
    return command_record(row) if row else None


async def get_command(conn: AsyncConnection, command_id: int) -> CommandRecord | None:
    row = (
        (await conn.execute(select(commands).where(commands.c.id == command_id))).mappings().first()
    )
    return command_record(row) if row else None


async def cancel_queued(conn: AsyncConnection, command_id: int, now: datetime) -> bool:
    """queued → canceled, only if still queued (the worker has not claimed it)."""
    result = await conn.execute(
        update(commands)
        .where(commands.c.id == command_id, commands.c.status == "queued")
        .values(status="canceled", error_code="canceled", finished_at=now, updated_at=now)
    )
    return bool(result.rowcount)


async def statuses(conn: AsyncConnection, command_ids: Sequence[int]) -> dict[int, CommandStatus]:
    """Status, error and result of several commands (for wait=completed)."""
    if not command_ids:
        return {}
    rows = await conn.execute(
        select(
            commands.c.id,
            commands.c.status,
            commands.c.error_code,
            commands.c.error_message,
            commands.c.order_id,
            commands.c.result,
        ).where(commands.c.id.in_(list(command_ids)))
    )
    return {int(r.id): command_status(r._mapping) for r in rows}


async def newest_queued(
    conn: AsyncConnection, account_id: int, command_type: str, content_hash: str
) -> int | None:
    """The newest queued command of the account with this type and content hash."""
    c = commands.c
    row = (await conn.execute(
        select(c.id).where(c.account_id == account_id, c.status == "queued",
                           c.command_type == command_type, c.content_hash == content_hash)
        .order_by(c.id.desc()).limit(1))).first()  # fmt: skip
    return None if row is None else int(row[0])
