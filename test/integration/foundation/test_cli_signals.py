"""The signal and shadow CLI commands on SQLite and MariaDB, and migration 0006 matching the
table definitions."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

import apps.oms.store.signal_tables  # noqa: F401 - registers the signal tables on `metadata`
from apps.oms.security.credentials import CredentialCipher
from apps.oms.store.signal_tables import account_signal_secrets
from apps.oms.store.store import Store
from apps.oms.store.tables import account_risk_state, audit_log, metadata

from .test_cli import MASTER, cli, cli_env, cli_store_url, on_store  # noqa: F401 - fixtures

pytestmark = pytest.mark.mysql


def _secret_of(url: str, account: int) -> Any:
    async def query(conn: Any) -> Any:
        return (await conn.execute(select(account_signal_secrets.c.secret).where(
            account_signal_secrets.c.account_id == account))).scalar_one_or_none()  # fmt: skip

    return on_store(url, query)


def test_signal_secret_and_shadow_commands(cli_env: str) -> None:  # noqa: F811
    account = cli("add-account", "--label", "sigcli")["account_id"]
    made = cli("set-signal-secret", "--account-id", str(account), "--generate")
    secret = made["signal_secret"]  # printed this once
    assert made["has_signal_secret"] is True
    assert len(secret) >= 32
    stored = _secret_of(cli_env, account)
    assert stored.startswith("enc:v1:")
    assert CredentialCipher(MASTER).decrypt(stored) == secret
    short = cli("set-signal-secret", "--account-id", str(account), "--secret", "short", ok=False)
    assert "at least 32" in short["stderr"]
    assert "exactly one" in cli("set-signal-secret", "--account-id", str(account), ok=False)[
        "stderr"]
    removed = cli("set-signal-secret", "--account-id", str(account), "--remove")
    assert removed["has_signal_secret"] is False
    assert _secret_of(cli_env, account) is None
    on = cli("set-shadow", "--account-id", str(account), "--on", "--comment", "dry run")
    assert (on["shadow"], on["previous"]) == (True, False)
    strategy = cli("admin-create-strategy", "--name", "sh", "--account-ids", str(account))[
        "strategy_id"]
    s_on = cli("set-shadow", "--account-id", str(account), "--strategy-id", str(strategy),
               "--on", "--comment", "one robot")  # fmt: skip
    assert s_on["strategy_id"] == strategy
    cli("set-shadow", "--account-id", str(account), "--off", "--comment", "live again")
    missing = cli("set-shadow", "--account-id", str(account), "--on", "--comment", "",
                  ok=False)  # fmt: skip
    assert "comment" in missing["stderr"]

    async def query(conn: Any) -> Any:
        shadow = (await conn.execute(select(account_risk_state.c.shadow).where(
            account_risk_state.c.account_id == account))).scalar_one()  # fmt: skip
        actions = [tuple(r) for r in await conn.execute(
            select(audit_log.c.action, audit_log.c.comment).where(
                audit_log.c.target_id == str(account)).order_by(audit_log.c.id))]  # fmt: skip
        return shadow, actions

    shadow, actions = on_store(cli_env, query)
    assert shadow is False
    assert ("risk_shadow", "dry run") in actions
    assert ("risk_strategy_shadow", "one robot") in actions
    assert [a for a, _c in actions].count("set_signal_secret") == 2


async def test_migration_matches_signal_tables(cli_store_url: str) -> None:  # noqa: F811
    store = Store.from_url(cli_store_url)

    def diff(sync_conn: Any) -> list[Any]:
        return compare_metadata(MigrationContext.configure(sync_conn, opts={
            "compare_type": True}), metadata)  # fmt: skip

    try:
        async with store.engine.connect() as conn:
            changes = await conn.run_sync(diff)
    finally:
        await store.close()
    ours = [c for c in changes if "signal" in repr(c) or "shadow" in repr(c)]
    assert ours == []
