"""The kill switch webhook's signing secrets (`kill_webhook_secrets`), one per API key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.tables import kill_webhook_secrets

W = kill_webhook_secrets.c


async def put_secret(conn: AsyncConnection, api_key_id: int, secret: str, now: datetime) -> bool:
    """Set the key's secret (stored as given: encrypted by the caller); True if it had one.
    A new secret forgets the replay mark: its first call may carry any fresh timestamp."""
    done = await conn.execute(update(kill_webhook_secrets).where(W.api_key_id == api_key_id)
                              .values(secret=secret, last_sent_at=None, updated_at=now))
    if done.rowcount:
        return True
    await conn.execute(insert(kill_webhook_secrets).values(
        api_key_id=api_key_id, secret=secret, updated_at=now))
    return False


async def get_secret(conn: AsyncConnection, api_key_id: int) -> str | None:
    query = select(W.secret).where(W.api_key_id == api_key_id)
    value = (await conn.execute(query)).scalar()
    return None if value is None else str(value)


async def advance(conn: AsyncConnection, api_key_id: int, sent_at: datetime) -> bool:
    """Take a call's timestamp if it is newer than every accepted one (False: a replay)."""
    done = await conn.execute(update(kill_webhook_secrets).where(
        W.api_key_id == api_key_id, or_(W.last_sent_at.is_(None), W.last_sent_at < sent_at),
    ).values(last_sent_at=sent_at))  # fmt: skip
    return bool(done.rowcount)
