"""What the layers above the store may name of it: the handle of an open transaction or read
(`Connection`: passed back to store functions, never executed on above the store), a
savepoint within it, the engine a venue's own store is built on, and the errors a store call
can raise. Nothing else of
SQLAlchemy is imported above `apps/oms/store/` (`test/unit/foundation/test_sql_boundary.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

Connection = AsyncConnection
Engine = AsyncEngine


@asynccontextmanager
async def savepoint(conn: Connection) -> AsyncIterator[object]:
    """A part of the open transaction that rolls back alone when its block raises (the rest
    of the transaction goes on). When the server rolled the whole transaction back under the
    block (a deadlock victim), the savepoint went with it and rolling back to it fails (MySQL
    1305, "SAVEPOINT does not exist"): the block's own error is raised then, so the caller
    sees the deadlock it can retry, not a missing savepoint."""
    nested = await conn.begin_nested()
    try:
        yield nested
    except BaseException as exc:
        try:
            await nested.rollback()
        except DBAPIError as lost:
            raise exc from lost
        raise
    await nested.commit()


__all__ = ["Connection", "DBAPIError", "Engine", "IntegrityError", "OperationalError",
           "SQLAlchemyError", "savepoint"]
