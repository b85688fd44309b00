"""The principal cache never answers with an old identity: a key disabled, expired, narrowed or
deleted through the store's identity writes (by any process) is refused or narrowed on the next
request once that change's transaction has returned; an unchanged key is answered from memory
while the identity version's lease runs; a change made by hand in SQL takes effect within the
recheck interval."""

import secrets
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete

from apps.oms.clock import utcnow
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.errors import AuthenticationFailed
from apps.oms.service import admin
from apps.oms.service.auth_cache import PrincipalCache
from apps.oms.store import auth_version, identity
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


async def new_key(world: World, flags: AccountFlags, tag: str) -> Any:
    async with world.store.transaction() as conn:
        user_id = await admin.create_user(
            conn, CLI_ACTOR, name=f"{tag}{secrets.token_hex(3)}", role=Role.TRADER
        )
        key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user_id, label=tag)
        await admin.set_permission(
            conn, CLI_ACTOR, api_key_id=key.id, account_id=world.account_id, flags=flags
        )
    return key


async def test_changes_take_effect_on_the_next_request_once_their_transaction_returns(
    api: Api,
) -> None:
    client, world = api
    app: FastAPI = client._transport.app  # type: ignore[attr-defined]
    cache: PrincipalCache = app.state.principal_cache
    store = world.store
    key = await new_key(world, AccountFlags(can_read=True), "cache")
    # the first use records last_used_at (a changed row): the next request reads it again
    assert (await read_open(client, key.plain, world.account_id)).status_code == 200
    assert (await read_open(client, key.plain, world.account_id)).status_code == 200
    await cache.refresh()  # a lease from now, whatever the refresher's timing
    hits = cache.hits
    assert (await read_open(client, key.plain, world.account_id)).status_code == 200
    assert cache.hits == hits + 1  # answered from memory
    # disabled (as another process would, through the store's identity writes): refused at once
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
        await identity.delete_permission(conn, key.id, world.account_id)
    assert (await read_open(client, key.plain, world.account_id)).status_code == 404
    async with store.transaction() as conn:
        await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id,
                                   account_id=world.account_id, flags=AccountFlags(can_read=True))  # fmt: skip
    assert (await read_open(client, key.plain, world.account_id)).status_code == 200
    # expired: refused at once
    async with store.transaction() as conn:
        await identity.update_api_key(conn, key.id, expires_at=utcnow() - timedelta(seconds=1))
    assert (await read_open(client, key.plain, world.account_id)).status_code == 401


async def test_another_process_refuses_a_disabled_key_once_the_change_returns(api: Api) -> None:
    """Two caches on one store stand for two API processes: the one that did not make the change
    has a fresh lease on the old version when the change commits, and still refuses the key on
    its next request after the change's transaction has returned (the writer waits the lease)."""
    _, world = api
    other = PrincipalCache(world.store, PEPPER)  # no refresher: its lease is what the test gives
    key = await new_key(world, AccountFlags(can_read=True), "other")
    await other.authenticate(key.plain)  # records last_used_at
    await other.refresh()
    await other.authenticate(key.plain)  # reads the changed row once, at that version
    before = other.hits
    assert (await other.authenticate(key.plain)).grants[world.account_id].can_read
    assert other.hits == before + 1  # trusted from memory, on a fresh lease
    await other.refresh()  # a lease from now, then the change
    async with world.store.transaction() as conn:
        await set_key_status(conn, key.id, "disabled")
    with pytest.raises(AuthenticationFailed):
        await other.authenticate(key.plain)


async def test_hand_made_changes_take_effect_within_the_recheck(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change in SQL by hand bumps nothing; entries are read again at least every
    `RECHECK_SECONDS`, so it takes effect within that (here shortened to nothing)."""
    client, world = api
    key = await new_key(world, AccountFlags(can_read=True), "hand")
    assert (await read_open(client, key.plain, world.account_id)).status_code == 200
    assert (await read_open(client, key.plain, world.account_id)).status_code == 200
    monkeypatch.setattr(auth_version, "RECHECK_SECONDS", 0.0)
    async with world.store.transaction() as conn:
        await conn.execute(
            delete(api_key_permissions).where(api_key_permissions.c.api_key_id == key.id)
        )
    assert (await read_open(client, key.plain, world.account_id)).status_code == 404
    async with world.store.transaction() as conn:
        await conn.execute(delete(api_keys).where(api_keys.c.id == key.id))
    assert (await read_open(client, key.plain, world.account_id)).status_code == 401


async def test_without_a_lease_every_request_reads_the_key(api: Api) -> None:
    """The version unreadable (store away, refresher late): requests read the key as before."""
    _, world = api
    other = PrincipalCache(world.store, PEPPER)
    key = await new_key(world, AccountFlags(can_read=True), "nolease")
    await other.authenticate(key.plain)
    await other.authenticate(key.plain)
    assert other.version is None  # never read
    hits, checks = other.hits, other.checks
    await other.authenticate(key.plain)
    await other.authenticate(key.plain)
    assert (other.hits, other.checks) == (hits, checks + 2)
    await other.refresh()
    other.trusted_until = 0.0  # the lease ran out
    await other.authenticate(key.plain)
    assert (other.hits, other.checks) == (hits, checks + 3)


async def test_only_changes_to_existing_identities_bump_the_version(api: Api) -> None:
    """A key created with its grants bumps nothing and returns at once; a change to an existing
    grant, key or user bumps the version once per transaction; `last_used_at` never does."""
    _, world = api

    async def version() -> int | None:
        async with world.store.read() as conn:
            return await auth_version.read_version(conn)

    start = await version()
    assert start is not None
    key = await new_key(world, AccountFlags(can_read=True), "bump")
    async with world.store.transaction() as conn:
        await identity.touch_key(conn, key.id, utcnow())
        user_id = await identity.insert_user(conn, name=f"pw{secrets.token_hex(3)}",
                                             role=Role.READONLY)  # fmt: skip
        await identity.update_user(conn, user_id, status="disabled")
    async with world.store.transaction() as conn:  # a password is in no principal
        await identity.update_user(conn, user_id, password_hash="x")
    assert await version() == start
    async with world.store.transaction() as conn:
        await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id,
                                   account_id=world.account_id, flags=AccountFlags(can_read=True))  # fmt: skip
        await set_key_status(conn, key.id, "active")
    assert await version() == start + 1
    async with world.store.transaction() as conn:
        await identity.update_user(conn, user_id, status="active")
    assert await version() == start + 2

    async def abandoned() -> None:
        async with world.store.transaction() as conn:  # rolled back: no bump, no mark left
            await set_key_status(conn, key.id, "disabled")
            raise RuntimeError("abandoned")

    with pytest.raises(RuntimeError):
        await abandoned()
    async with world.store.transaction() as conn:
        await identity.touch_key(conn, key.id, utcnow())
    assert await version() == start + 2


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
    monkeypatch.setattr(auth_version, "RECHECK_SECONDS", 0.0)  # every call reads the key
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
