"""Helpers for identity tests: fresh accounts, users and keys with any role and flags, and
reading audit rows and outbox events back from the store."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select

from apps.oms.domain.access import AccountFlags, Role
from apps.oms.service import admin
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.store import Store
from apps.oms.store.tables import audit_log, outbox
from test.api.conftest import PEPPER


async def new_account(store: Store, exchange_id: str = "paper") -> int:
    async with store.transaction() as conn:
        return await admin.add_account(
            conn, CLI_ACTOR, user_id=None, exchange_id=exchange_id,
            label=f"t{secrets.token_hex(3)}", position_mode="hedge",
            testnet=exchange_id != "paper", live=False,
        )  # fmt: skip


async def new_key(
    store: Store, role: Role, grants: dict[int, AccountFlags] | None = None
) -> tuple[int, int, str]:
    """(user id, key id, plain key) of a fresh user of `role` with `grants` on accounts."""
    async with store.transaction() as conn:
        user_id = await admin.create_user(
            conn, CLI_ACTOR, name=f"{role.value}{secrets.token_hex(4)}", role=role
        )
        key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user_id,
                                         label=role.value)  # fmt: skip
        for account_id, flags in (grants or {}).items():
            await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id,
                                       account_id=account_id, flags=flags)  # fmt: skip
    return user_id, key.id, key.plain


async def audit_rows(store: Store, **where: Any) -> list[dict[str, Any]]:
    """The audit rows matching `where`. A `target_id` names nothing without its `target_type`:
    key 48 and account 48 share the column, and the store is shared by the tests of a worker."""
    assert "target_id" not in where or "target_type" in where, "target_id needs target_type"
    query = select(audit_log).order_by(audit_log.c.id)
    for name, value in where.items():
        query = query.where(audit_log.c[name] == value)
    async with store.read() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def events(store: Store, account_id: int, namespace: str | None = None
                 ) -> list[dict[str, Any]]:  # fmt: skip
    query = select(outbox).where(outbox.c.account_id == account_id).order_by(outbox.c.id)
    if namespace is not None:
        query = query.where(outbox.c.namespace == namespace)
    async with store.read() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]
