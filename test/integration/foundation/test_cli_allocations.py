"""The allocation CLI commands on SQLite and MariaDB (audited as the CLI), and migration
0011_strategy_allocations matching the table definition."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from apps.oms.store.store import Store
from apps.oms.store.tables import audit_log, metadata

from .test_cli import cli, cli_env, cli_store_url, on_store  # noqa: F401 - fixtures

pytestmark = pytest.mark.mysql


def test_set_list_and_clear_allocation(cli_env: str) -> None:  # noqa: F811
    account = cli("add-account", "--label", "alloccli")["account_id"]
    strategy = cli("admin-create-strategy", "--name", "al", "--account-ids", str(account))[
        "strategy_id"]
    args = ["--account-id", str(account), "--strategy-id", str(strategy)]
    made = cli("set-allocation", *args, "--amount", "1000.5", "--comment", "bot A")
    assert made["allocation"]["amount"] == "1000.5"
    assert made["allocation"]["currency"] == "USDT"
    listed = cli("list-allocations", "--account-id", str(account))["items"]
    assert [(i["strategy_id"], i["amount"]) for i in listed] == [(strategy, "1000.5")]
    bad = cli("set-allocation", *args, "--amount", "1e400", "--comment", "x", ok=False)
    assert "--amount" in bad["stderr"]
    neither = cli("set-allocation", *args, "--comment", "x", ok=False)
    assert "--amount or --clear" in neither["stderr"]
    lower = cli("set-allocation", *args, "--amount", "-1", "--comment", "x", ok=False)
    assert "non-negative" in lower["stderr"]
    cli("set-allocation", *args, "--clear", "--comment", "retired")
    assert cli("list-allocations", "--account-id", str(account))["items"] == []

    async def query(conn: Any) -> Any:
        return [tuple(r) for r in await conn.execute(
            select(audit_log.c.action, audit_log.c.comment, audit_log.c.client_address).where(
                audit_log.c.target_id == str(account),
                audit_log.c.action.like("%strategy_allocation")).order_by(audit_log.c.id))]  # fmt: skip

    assert on_store(cli_env, query) == [("set_strategy_allocation", "bot A", "cli"),
                                        ("clear_strategy_allocation", "retired", "cli")]


async def test_migration_matches_the_allocations_table(cli_store_url: str) -> None:  # noqa: F811
    store = Store.from_url(cli_store_url)

    def diff(sync_conn: Any) -> list[Any]:
        return compare_metadata(MigrationContext.configure(sync_conn, opts={
            "compare_type": True}), metadata)  # fmt: skip

    try:
        async with store.engine.connect() as conn:
            changes = await conn.run_sync(diff)
    finally:
        await store.close()
    assert [c for c in changes if "strategy_allocations" in repr(c)] == []
