"""Apply and inspect schema migrations (Alembic) programmatically, for the CLI and tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from apps.oms.store.engine import create_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the store at `database_url` up to `revision` (synchronous; runs its own loop)."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, database_url, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
        )


async def current(database_url: str) -> dict[str, str | bool | None]:
    engine = create_engine(database_url, pool_size=1)
    try:
        revision = await current_revision(engine)
    finally:
        await engine.dispose()
    head = head_revision()
    return {"current": revision, "head": head, "up_to_date": revision == head}
