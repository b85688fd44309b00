"""What the layers above the store may name of it: the handle of an open transaction or read
(`Connection`: passed back to store functions, never executed on above the store), a
savepoint within it, the engine a venue's own store is built on, and the errors a store call
can raise. Nothing else of
SQLAlchemy is imported above `apps/oms/store/` (`test/unit/foundation/test_sql_boundary.py`).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

Connection = AsyncConnection
Engine = AsyncEngine


def savepoint(conn: Connection) -> AbstractAsyncContextManager[object]:
    """A part of the open transaction that rolls back alone when its block raises (the rest
    of the transaction goes on)."""
    return conn.begin_nested()


__all__ = ["Connection", "DBAPIError", "Engine", "IntegrityError", "OperationalError",
           "SQLAlchemyError", "savepoint"]
