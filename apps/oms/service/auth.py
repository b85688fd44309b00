"""Authenticate an `x-api-key` (API key or login token) into a `Principal`."""

from __future__ import annotations

from apps.oms.clock import utcnow
from apps.oms.errors import AuthenticationFailed
from apps.oms.security.keys import hash_api_key
from apps.oms.service.principal import Principal
from apps.oms.store import identity
from apps.oms.store.identity import LAST_USED_THROTTLE
from apps.oms.store.store import Store


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
        if found.key_status != "active" or found.user_status != "active":
            raise AuthenticationFailed("API key is disabled", code="invalid_api_key")
        if found.expires_at is not None and found.expires_at <= now:
            raise AuthenticationFailed("API key has expired", code="invalid_api_key")
    if found.last_used_at is None or found.last_used_at < now - LAST_USED_THROTTLE:
        async with store.transaction() as conn:
            await identity.touch_key(conn, found.api_key_id, now)
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
