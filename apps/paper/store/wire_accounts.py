"""The accounts of a paper venue served at the wire (`apps/paper/wire/`): rows of its own store's
`accounts` table labelled `wire`, whose `config["wire"]` holds the API key and secret."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from apps.oms.store.tables import accounts

WIRE_LABEL = "wire"


async def load_wire_accounts(engine: AsyncEngine) -> list[tuple[int, dict[str, Any]]]:
    """(account id, config) of every account created by a served venue on this store."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(accounts.c.id, accounts.c.config)
                                   .where(accounts.c.label == WIRE_LABEL))).all()  # fmt: skip
    return [(int(row.id), row.config if isinstance(row.config, dict) else {}) for row in rows]


async def insert_wire_account(engine: AsyncEngine, config: dict[str, Any]) -> int:
    """A new paper account row of a served venue; returns its id."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        result = await conn.execute(insert(accounts).values(
            exchange_id="paper", label=WIRE_LABEL, position_mode="netting", config=config,
            created_at=now, updated_at=now))  # fmt: skip
        return int(result.inserted_primary_key[0])  # type: ignore[index]
