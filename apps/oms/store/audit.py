"""The audit log: one row per non-trading mutation, written in the mutation's own transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.clock import utcnow
from apps.oms.store.tables import audit_log


@dataclass(frozen=True)
class Actor:
    """Who did it: a user and key over the API, or the operator at the CLI (both None)."""

    user_id: int | None = None
    api_key_id: int | None = None
    client_address: str | None = None


CLI_ACTOR = Actor(client_address="cli")


async def record(
    conn: AsyncConnection,
    actor: Actor,
    *,
    action: str,
    target_type: str,
    target_id: int | str | None,
    before: Mapping[str, object] | None = None,
    after: Mapping[str, object] | None = None,
    comment: str | None = None,
) -> None:
    await conn.execute(
        insert(audit_log).values(
            actor_user_id=actor.user_id,
            actor_api_key_id=actor.api_key_id,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            before=before,
            after=after,
            comment=comment,
            client_address=actor.client_address,
            created_at=utcnow(),
        )
    )


async def list_entries(conn: AsyncConnection, *, limit: int = 100) -> list[dict[str, Any]]:
    rows = await conn.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(limit))
    return [dict(r) for r in rows.mappings()]


FILTERS = ("action", "target_type", "target_id", "actor_user_id", "actor_api_key_id")


async def search_entries(
    conn: AsyncConnection,
    *,
    limit: int = 100,
    offset: int = 0,
    since: datetime | None = None,
    until: datetime | None = None,
    **equal: Any,
) -> tuple[list[dict[str, Any]], int]:
    """Newest first, filtered by exact `FILTERS` values and a [since, until) time range;
    returns (page of rows, total matching)."""
    where = [audit_log.c[name] == value for name, value in equal.items() if value is not None]
    if since is not None:
        where.append(audit_log.c.created_at >= since)
    if until is not None:
        where.append(audit_log.c.created_at < until)
    total = (await conn.execute(select(func.count()).select_from(audit_log).where(*where)))
    rows = await conn.execute(
        select(audit_log).where(*where).order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
    )
    return [dict(r) for r in rows.mappings()], int(total.scalar_one())
