"""Stores of the direct-statement tests (`test_direct.py`, `test_held_writes.py`): a fresh
database per test on each MySQL driver (and SQLite), at the current schema."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from apps.oms.store.migrate import upgrade_async
from apps.oms.store.store import Store

from ...conftest import create_mysql_database, drop_mysql_database


@asynccontextmanager
async def opened(driver: str, tmp_path: Path) -> AsyncIterator[Store]:
    if driver == "sqlite":
        url, name = f"sqlite+aiosqlite:///{tmp_path / 'direct.sqlite3'}", None
    else:
        name, url = create_mysql_database("oms_direct")
        url = url.replace("mysql+aiomysql://", f"mysql+{driver}://")
    try:
        await upgrade_async(url)
        s = Store.from_url(url, pool_size=2)
        try:
            yield s
        finally:
            await s.close()
    finally:
        if name is not None:
            drop_mysql_database(name)


@pytest.fixture(params=["asyncmy", "aiomysql", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with opened(request.param, tmp_path) as s:
        yield s


@pytest.fixture(params=["asyncmy", "aiomysql"])
async def mysql_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with opened(request.param, tmp_path) as s:
        yield s
