"""The store handle: engine plus the two ways in — a write transaction and a read connection.

A write transaction commits when its block ends and rolls back on any exception (unit of work);
reads always end their transaction so that no MySQL snapshot or metadata lock is held.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from apps.oms.store.engine import create_engine, ping


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10) -> Store:
        return cls(create_engine(url, pool_size=pool_size))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One unit of work: commit on success, roll back on any exception."""
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection whose transaction is always ended (rolled back) afterwards."""
        async with self.engine.connect() as conn:
            try:
                yield conn
            finally:
                await conn.rollback()

    async def ping(self) -> None:
        await ping(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()
