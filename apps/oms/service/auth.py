"""Authenticate an `x-api-key` (API key or login token) into a `Principal`, and re-check many
keys at once (the websocket's periodic re-validation of connected sockets)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from apps.oms.clock import utcnow
from apps.oms.domain.access import AccountFlags
from apps.oms.errors import AuthenticationFailed
from apps.oms.security.keys import hash_api_key
from apps.oms.service.principal import Principal
from apps.oms.store import identity
from apps.oms.store.identity import LAST_USED_THROTTLE, KeyIdentity
from apps.oms.store.store import Store


def _refusal(found: KeyIdentity, now: datetime) -> AuthenticationFailed | None:
    """Why a key that exists may not be used now (None: it may)."""
    if found.key_status != "active" or found.user_status != "active":
        return AuthenticationFailed("API key is disabled", code="invalid_api_key")
    if found.expires_at is not None and found.expires_at <= now:
        return AuthenticationFailed("API key has expired", code="invalid_api_key")
    return None


def _principal(found: KeyIdentity, grants: dict[int, AccountFlags]) -> Principal:
    return Principal(
        user_id=found.user_id,
        user_name=found.user_name,
        role=found.role,
        api_key_id=found.api_key_id,
        key_kind=found.kind,
        key_label=found.label,
        key_prefix=found.key_prefix,
        grants=grants,
    )


async def authenticate(store: Store, pepper: str, plain_key: str | None) -> Principal:
    """One indexed lookup by keyed hash, then the key's grants; 401 on anything wrong."""
    if not plain_key:
        raise AuthenticationFailed("missing x-api-key header", code="missing_api_key")
    key_hash = hash_api_key(plain_key, pepper)
    async with store.read() as conn:
        hit = await identity.find_key_with_grants(conn, key_hash)
        if hit is None:
            raise AuthenticationFailed("invalid API key", code="invalid_api_key")
        found, grants = hit
        now = utcnow()
        refusal = _refusal(found, now)
        if refusal is not None:
            raise refusal
    if found.last_used_at is None or found.last_used_at < now - LAST_USED_THROTTLE:
        async with store.transaction() as conn:
            await identity.touch_key(conn, found.api_key_id, now)
    return _principal(found, grants)


async def revalidate(
    store: Store, pepper: str, plain_keys: Iterable[str]
) -> dict[str, Principal | AuthenticationFailed]:
    """Every key's current principal (fresh grants), or why it may no longer be used (deleted,
    disabled, user disabled, expired). One indexed query for all keys; `last_used_at` is not
    touched (holding a socket open is not a use)."""
    by_hash = {hash_api_key(key, pepper): key for key in set(plain_keys)}
    if not by_hash:
        return {}
    async with store.read() as conn:
        hits = await identity.find_keys_with_grants(conn, by_hash)
    now = utcnow()
    out: dict[str, Principal | AuthenticationFailed] = {}
    for key_hash, key in by_hash.items():
        hit = hits.get(key_hash)
        if hit is None:
            out[key] = AuthenticationFailed("API key was revoked", code="invalid_api_key")
            continue
        found, grants = hit
        out[key] = _refusal(found, now) or _principal(found, grants)
    return out
