"""Password login and logout (`/auth/*`) and a user's own profile, password and keys (`/user/*`).

A login token is a short-lived key of kind `login_token` (security.md): it authenticates like an
API key (`x-api-key`), carries a copy of the grants of the key it was issued for (`api_key_id`)
or, without one, the union of the user's active keys' grants, and is revoked by logout.
"""

from __future__ import annotations

import asyncio
from typing import TypedDict

from apps.oms.clock import iso_z, utcnow
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.errors import AuthenticationFailed, NotFound, PermissionDenied, ValidationFailed
from apps.oms.security.keys import display_prefix, generate_api_key, hash_api_key
from apps.oms.security.passwords import verify_password
from apps.oms.security.principal import Principal
from apps.oms.service import identity_admin
from apps.oms.service.auth import AuthGuard
from apps.oms.store import audit, identity
from apps.oms.store.audit import Actor
from apps.oms.store.boundary import Connection
from apps.oms.store.records import KeyRecord
from apps.oms.store.store import Store


def merge_grants(grants: list[dict[int, AccountFlags]]) -> dict[int, AccountFlags]:
    """Union of several keys' grants: a flag is set if any key sets it; a strategy restriction
    holds only if every key with a grant on the account is restricted."""
    out: dict[int, AccountFlags] = {}
    for per_key in grants:
        for account_id, f in per_key.items():
            g = out.get(account_id)
            if g is None:
                out[account_id] = f
                continue
            restricted = g.restrict_to_strategies and f.restrict_to_strategies
            out[account_id] = AccountFlags(
                **{n: getattr(g, n) or getattr(f, n) for n in identity.FLAG_COLUMNS
                   if n != "restrict_to_strategies"},
                restrict_to_strategies=restricted,
                strategy_ids=(g.strategy_ids | f.strategy_ids) if restricted else frozenset(),
                allowed_functions=g.allowed_functions | f.allowed_functions,
            )  # fmt: skip
    return out


async def _grants_for_token(
    conn: Connection, user_id: int, api_key_id: int | None
) -> tuple[dict[int, AccountFlags], int | None]:
    now = utcnow()
    keys = [k for k in await identity.list_api_keys(conn, user_id=user_id) if k.usable(now)]
    if api_key_id is not None:
        if api_key_id not in {k.api_key_id for k in keys}:
            raise NotFound(f"API key {api_key_id} is not an active key of this user")
        return await identity.permissions_of_key(conn, api_key_id), api_key_id
    per_key = [await identity.permissions_of_key(conn, k.api_key_id) for k in keys]
    return merge_grants(per_key), None


class LoginToken(TypedDict):
    """`POST /auth/login`: a login token (an API key of kind `login_token`)."""

    ok: bool
    token: str
    token_type: str
    api_key_id: int
    user_id: int
    role: str
    expires_at: str | None


class LoggedOut(TypedDict):
    ok: bool
    revoked_api_key_id: int


class Done(TypedDict):
    ok: bool


async def login(
    store: Store,
    pepper: str,
    guard: AuthGuard,
    address: str,
    *,
    user_name: str,
    password: str,
    api_key_id: int | None,
    token_hours: float,
) -> LoginToken:
    """A new login token for a correct password; 401 otherwise (429 once throttled: a
    throttled address or user name is refused before the password is checked)."""
    scope = f"user:{user_name[:100]}"
    guard.check(address, scope)
    async with store.read() as conn:
        user = await identity.find_user_by_name(conn, user_name)
    stored = None if user is None else user.password_hash
    ok = await asyncio.to_thread(verify_password, password, stored)
    if user is None or not ok or user.status != "active":
        async with store.transaction() as conn:
            await audit.record(
                conn, Actor(None, None, address), action="login_failed", target_type="user",
                target_id=None if user is None else user.user_id,
                after={"user_name": user_name[:100]},
            )  # fmt: skip
        guard.failed(address, scope, "bad_password")
        raise AuthenticationFailed("wrong user name or password", code="invalid_credentials")
    guard.by_prefix.clear(scope)
    plain = generate_api_key()
    expires_at = identity_admin.login_expiry(token_hours)
    async with store.transaction() as conn:
        grants, source_key = await _grants_for_token(conn, user.user_id, api_key_id)
        token_id = await identity.insert_api_key(
            conn, user_id=user.user_id, key_hash=hash_api_key(plain, pepper),
            key_prefix=display_prefix(plain), label="login", kind="login_token",
            expires_at=expires_at,
        )  # fmt: skip
        for account_id, flags in grants.items():
            await identity.upsert_permission(
                conn, api_key_id=token_id, account_id=account_id, flags=flags
            )
        await audit.record(
            conn, Actor(user.user_id, token_id, address), action="login",
            target_type="user", target_id=user.user_id,
            after={"token_id": token_id, "source_api_key_id": source_key,
                   "expires_at": iso_z(expires_at)},
        )  # fmt: skip
    return {
        "ok": True, "token": plain, "token_type": "api_key", "api_key_id": token_id,
        "user_id": user.user_id, "role": user.role, "expires_at": iso_z(expires_at),
    }  # fmt: skip


async def logout(store: Store, principal: Principal, actor: Actor) -> LoggedOut:
    if principal.key_kind != "login_token":
        raise ValidationFailed(
            "logout revokes login tokens; disable an API key with PATCH /user/api-keys/{id}"
        )
    async with store.transaction() as conn:
        await identity.update_api_key(
            conn, principal.api_key_id, status="revoked", revoked_at=utcnow()
        )
        await audit.record(conn, actor, action="logout", target_type="api_key",
                           target_id=principal.api_key_id)  # fmt: skip
    return {"ok": True, "revoked_api_key_id": principal.api_key_id}


# --- the caller's own user -------------------------------------------------------------------


async def own_key(conn: Connection, principal: Principal, api_key_id: int) -> KeyRecord:
    row = await identity.get_api_key_info(conn, api_key_id)
    if row is None or row.user_id != principal.user_id:
        raise NotFound(f"API key {api_key_id} not found", code="not_found")
    return row


async def change_password(
    store: Store, principal: Principal, actor: Actor, current: str | None, new: str
) -> Done:
    async with store.read() as conn:
        user = await identity_admin.require_user(conn, principal.user_id)
    if user.password_hash is not None and not await asyncio.to_thread(
        verify_password, current or "", user.password_hash
    ):
        raise AuthenticationFailed("the current password is wrong", code="invalid_credentials")
    async with store.transaction() as conn:
        await identity_admin.update_user(conn, actor, principal.user_id, password=new)
    return {"ok": True}


def subset_of(wanted: AccountFlags, held: AccountFlags | None) -> bool:
    """A user may give its new keys at most what the calling key holds on the account."""
    if held is None:
        return False
    for name in identity.FLAG_COLUMNS:
        if name != "restrict_to_strategies" and getattr(wanted, name) and not getattr(held, name):
            return False
    if held.restrict_to_strategies and not (
        wanted.restrict_to_strategies and wanted.strategy_ids <= held.strategy_ids
    ):
        return False
    return wanted.allowed_functions <= held.allowed_functions


def check_delegation(principal: Principal, items: list[identity_admin.PermissionIn]) -> None:
    if principal.role is Role.ADMIN:
        return
    for item in items:
        if not subset_of(item.flags(), principal.flags_for(item.account_id)):
            raise PermissionDenied(
                f"a key you create may hold at most your own rights on account {item.account_id}"
            )
