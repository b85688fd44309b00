"""Authenticate an `x-api-key` (API key or login token) into a `Principal`, and re-check many
keys at once (the websocket's periodic re-validation of connected sockets)."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import Counter

from apps.oms.clock import utcnow
from apps.oms.domain.access import AccountFlags
from apps.oms.errors import AuthenticationFailed, RateLimited
from apps.oms.security.keys import display_prefix, hash_api_key
from apps.oms.security.principal import Principal
from apps.oms.security.throttle import FailureThrottle
from apps.oms.store import identity
from apps.oms.store.boundary import OperationalError
from apps.oms.store.identity import LAST_USED_THROTTLE, KeyIdentity
from apps.oms.store.store import Store

log = logging.getLogger("apps.oms.auth")


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
        await _touch(store, found.api_key_id, now)
    return _principal(found, grants)


async def principal_of_key(store: Store, api_key_id: int) -> Principal:
    """The principal of an API key named by its id, as `authenticate` would make it: a call
    authenticated otherwise (a signature under the key's webhook secret) acts as the key.
    401 `invalid_signature` when the key is gone or may not be used."""
    async with store.read() as conn:
        hit = await identity.find_key_with_grants_by_id(conn, api_key_id)
    if hit is None or _refusal(hit[0], utcnow()) is not None:
        raise AuthenticationFailed("the signing key is not an active API key",
                                   code="invalid_signature")  # fmt: skip
    return _principal(*hit)


async def _touch(store: Store, api_key_id: int, now: datetime) -> None:
    """Record the key's use, best effort: a busy store (SQLite's one writer held past its busy
    timeout) must not fail the request it authenticates; the next request records it."""
    try:
        async with store.transaction() as conn:
            await identity.touch_key(conn, api_key_id, now)
    except OperationalError as exc:
        log.warning("last_used_at of key %s not recorded: %s", api_key_id, exc.orig)


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


AUTH_FAILURES = Counter(
    "oms_auth_failures_total",
    "Failed authentications (bad API key or login token, bad password), by reason",
    ["reason"],
)


@dataclass
class AuthGuard:
    """Failed-authentication throttling per client address and per presented key prefix
    (security.md: auth failures are rate-limited per client address; repeated failures logged).

    - API keys: once an address, or a key prefix (many wrong keys sharing the prefix of a real
      key, from anywhere), is over the limit, further WRONG keys answer 429 `rate_limited` with
      `Retry-After` instead of 401 until the failures age out. Valid keys keep working, also
      from a throttled address (an office behind one NAT address is not locked out by one
      misbehaving robot); guessing a 256-bit key is hopeless anyway, the throttle is about
      noise, cost and visibility.
    - Passwords (`/auth/login-password`, low entropy): a throttled address or user name is
      refused before the password is checked (`check_address` / `check_scope`), a real
      lockout, so guessing cannot continue.
    Failures are logged at WARNING (one line each until the scope is throttled, then one line
    when throttling starts); `oms_auth_failures_total{reason}` counts them all.
    """

    by_address: FailureThrottle = field(default_factory=FailureThrottle)
    by_prefix: FailureThrottle = field(default_factory=FailureThrottle)

    @classmethod
    def from_limits(cls, limit: int = 20, window_seconds: float = 60) -> AuthGuard:
        return cls(FailureThrottle(limit, window_seconds), FailureThrottle(limit, window_seconds))

    def check(self, address: str, scope: str) -> None:
        """429 before any check when the address or the scope is throttled (passwords)."""
        wait = max(self.by_address.retry_after(address), self.by_prefix.retry_after(scope))
        if wait > 0:
            AUTH_FAILURES.labels("throttled").inc()
            raise _throttled(wait)

    def failed(self, address: str, scope: str, reason: str) -> None:
        """Record a failure of `scope` (a key prefix or `user:<name>`) from `address`; raises 429
        if either is now throttled (the caller raises its 401 otherwise)."""
        AUTH_FAILURES.labels(reason).inc()
        was_address = self.by_address.retry_after(address) > 0
        was_scope = self.by_prefix.retry_after(scope) > 0
        count = self.by_address.fail(address)
        self.by_prefix.fail(scope)
        address_wait = self.by_address.retry_after(address)
        scope_wait = self.by_prefix.retry_after(scope)
        if not (address_wait or scope_wait):
            log.warning(
                "authentication failed (%s) from %s, %s; %d failure(s) from this address in %ds",
                reason, address, scope, count, int(self.by_address.window),
            )  # fmt: skip
            return
        if address_wait and not was_address:
            log.warning("throttling authentication from %s for %.0fs", address, address_wait)
        if scope_wait and not was_scope:
            log.warning("throttling authentication for %s for %.0fs", scope, scope_wait)
        raise _throttled(max(address_wait, scope_wait))


def _throttled(wait: float) -> RateLimited:
    seconds = max(1, math.ceil(wait))
    return RateLimited(
        "too many failed authentications; retry later",
        details={"retry_after_seconds": seconds},
    )


def key_scope(plain_key: str) -> str:
    return f"key:{display_prefix(plain_key)}"


async def authenticate_client(
    store: Store,
    pepper: str,
    plain_key: str | None,
    address: str,
    guard: AuthGuard,
    via: Callable[[str | None], Awaitable[Principal]] | None = None,
) -> Principal:
    """`authenticate` (or `via`, an equivalent such as the API's principal cache) behind the
    failure throttle of `guard` for a client at `address`."""
    try:
        if via is not None:
            return await via(plain_key)
        return await authenticate(store, pepper, plain_key)
    except AuthenticationFailed as exc:
        if plain_key:  # a missing header is a client bug, not a guess
            guard.failed(address, key_scope(plain_key), exc.code)
        raise
