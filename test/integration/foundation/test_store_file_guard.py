"""Regression (issue 36, item 5): an embedded store file replaced (or deleted) under a running
process is noticed: writes are refused as a store outage (503 on HTTP), reads still answer, the
problem stays until a restart; other stores are not watched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text

from apps.oms.store.file_guard import StoreFileGone, guard_store_file, store_file_problem
from apps.oms.store.store import Store, is_store_outage


async def test_a_replaced_file_refuses_writes_until_restart(tmp_path: Path) -> None:
    path = tmp_path / "oms.sqlite3"
    store = Store.from_url(f"sqlite+aiosqlite:///{path}")
    guard_store_file(store.engine)
    try:
        async with store.transaction() as conn:
            await conn.execute(text("CREATE TABLE t (a INTEGER)"))
        assert store_file_problem(store.engine) is None
        os.replace(path, tmp_path / "moved.sqlite3")
        path.write_bytes(b"")  # another file at the same path
        with pytest.raises(StoreFileGone) as refused:
            async with store.transaction() as conn:
                await conn.execute(text("INSERT INTO t VALUES (1)"))
        assert is_store_outage(refused.value)
        assert refused.value.status == 503
        assert "replaced by another file" in str(refused.value)
        async with store.read() as conn:  # reads still answer from the open connection
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0
        os.replace(tmp_path / "moved.sqlite3", path)  # put back: still refused (restart)
        assert "replaced" in (store_file_problem(store.engine) or "")
    finally:
        await store.close()


async def test_mysql_stores_are_not_watched(mysql_url: str) -> None:
    store = Store.from_url(mysql_url)
    guard_store_file(store.engine)
    try:
        assert store_file_problem(store.engine) is None
    finally:
        await store.close()
