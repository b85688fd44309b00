"""Alembic environment: runs migrations over the async engine of `apps.oms.store.engine`."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from apps.oms.store import signal_tables  # noqa: F401 - registers its tables
from apps.oms.store.engine import create_engine
from apps.oms.store.tables import metadata
from apps.paper.store import tables as paper_tables  # noqa: F401 - the paper venue's tables

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(config.attributes["database_url"], pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async())


run_migrations_online()
