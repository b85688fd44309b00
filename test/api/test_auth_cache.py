"""The per-request principal cache never answers with an old identity: a key disabled, expired,
narrowed or deleted in the store (by any process) is refused or narrowed on the very next
request; an unchanged key reuses its cached principal."""

import secrets
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, update

from apps.oms.clock import utcnow
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.service import admin
from apps.oms.service.auth_cache import PrincipalCache
from apps.oms.store import identity
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.identity import set_key_status
from apps.oms.store.tables import api_key_permissions, api_keys

from .conftest import PEPPER, World

pytestmark = pytest.mark.mysql
Api = tuple[httpx.AsyncClient, World]


async def read_open(client: httpx.AsyncClient, key: str, account_id: int) -> httpx.Response:
    return await client.get(
        "/oms/orders/open", headers={"x-api-key": key}, params={"account_ids": str(account_id)}
    )


async def test_changes_in_the_store_take_effect_on_the_next_request(api: Api) -> None:
    client, world = api
    transport = client._transport
    app: FastAPI = transport.app  # type: ignore[attr-defined]
    cache: PrincipalCache = app.state.principal_cache
    store = world.store
    async with store.transaction() as conn:
        user_id = await admin.create_user(
            conn, CLI_ACTOR, name=f"cache{secrets.token_hex(3)}", role=Role.TRADER
        )
        key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user_id, label="c")
        await admin.set_permission(
            conn, CLI_ACTOR, api_key_id=key.id, account_id=world.account_id,
            flags=AccountFlags(can_read=True),
        )  # fmt: skip
    # the first use records last_used_at (a changed row): the next request rebuilds once
    assert (await read_open(client, key.plain, world.account_id)).status_code == 200
    assert (await read_open(client, key.plain, world.account_id)).status_code == 200
    hits = cache.hits
    assert (await read_open(client, key.plain, world.account_id)).status_code == 200
    assert cache.hits == hits + 1  # unchanged rows: the cached principal
    # disabled by another process (straight in the store): refused at once
    async with store.transaction() as conn:
        await set_key_status(conn, key.id, "disabled")
    refused = await read_open(client, key.plain, world.account_id)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    async with store.transaction() as conn:
        await set_key_status(conn, key.id, "active")
    assert (await read_open(client, key.plain, world.account_id)).status_code == 200
    # the grant removed: the account disappears at once
    async with store.transaction() as conn:
        await conn.execute(
            delete(api_key_permissions).where(api_key_permissions.c.api_key_id == key.id)
        )
    assert (await read_open(client, key.plain, world.account_id)).status_code == 404
    # expired: refused at once
    async with store.transaction() as conn:
        await conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await read_open(client, key.plain, world.account_id)).status_code == 401
    # deleted: refused at once
    async with store.transaction() as conn:
        await conn.execute(delete(api_keys).where(api_keys.c.id == key.id))
    assert (await read_open(client, key.plain, world.account_id)).status_code == 401


async def test_a_change_between_the_reads_of_a_rebuild_is_never_cached(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild reads the rows it caches under and the principal in one snapshot: a grant
    widened between its two statements and narrowed again before the next request must not
    leave the wider principal cached under the narrow rows (READ COMMITTED would show each
    statement its own state)."""
    client, world = api
    app: FastAPI = client._transport.app  # type: ignore[attr-defined]
    cache: PrincipalCache = app.state.principal_cache
    store = world.store
    narrow, wide = AccountFlags(can_read=True), AccountFlags(can_read=True, can_trade=True)
    async with store.transaction() as conn:
        user_id = await admin.create_user(
            conn, CLI_ACTOR, name=f"race{secrets.token_hex(3)}", role=Role.TRADER
        )
        key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user_id, label="r")
        await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id,
                                   account_id=world.account_id, flags=narrow)  # fmt: skip
    await cache.authenticate(key.plain)  # records last_used_at: the next call rebuilds
    real = identity.find_key_with_grants

    async def widened_meanwhile(conn: Any, key_hash: str) -> Any:
        async with store.transaction() as other:  # another connection, committed
            await admin.set_permission(other, CLI_ACTOR, api_key_id=key.id,
                                       account_id=world.account_id, flags=wide)  # fmt: skip
        return await real(conn, key_hash)

    monkeypatch.setattr(identity, "find_key_with_grants", widened_meanwhile)
    during = await cache.authenticate(key.plain)
    monkeypatch.setattr(identity, "find_key_with_grants", real)
    assert during.grants[world.account_id].can_trade is False  # the snapshot of its first read
    async with store.transaction() as conn:
        await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id,
                                   account_id=world.account_id, flags=narrow)  # fmt: skip
    after = await cache.authenticate(key.plain)
    assert after.grants[world.account_id] == narrow
