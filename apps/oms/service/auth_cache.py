"""Per-request authentication from memory, invalidated explicitly by the identity version.

A cached principal (a key, its user and its grants, folded) answers a request without a store
read while (a) it was checked against the store at the current identity version, (b) this
process's last successful read of that version started less than a lease ago
(`auth_version.LEASE_SECONDS`), and (c) it was checked within `auth_version.RECHECK_SECONDS`. A
writer that changes an existing key, user or grant bumps the version in its transaction and waits
out the lease after its commit (`Store.transaction`), so when the change returns to its caller,
every process refuses or narrows the key on its next request. Otherwise the key is read again:
one indexed query whose rows come back as one JSON array each, compared with the rows the cached
principal was built from. Equal rows: the cached principal, checked again at the version known
before that read. Different rows: the typed read and fold of `auth.authenticate` run, with the
raw read again, in one snapshot, and their result is cached with those rows. The refusal rules
(e.g. expiry) always run against the current time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from apps.oms.clock import utcnow
from apps.oms.errors import AuthenticationFailed
from apps.oms.security.keys import hash_api_key
from apps.oms.security.principal import Principal
from apps.oms.service.auth import _principal, _refusal
from apps.oms.store import auth_version, identity
from apps.oms.store.boundary import Connection
from apps.oms.store.identity import LAST_USED_THROTTLE, KeyIdentity
from apps.oms.store.store import Store
from apps.oms.store.stream import consistent_read

MAX_KEYS = 10_000
Rows = tuple[tuple[Any, ...], ...]
log = logging.getLogger(__name__)


def _due_for_touch(found: KeyIdentity, now: datetime) -> bool:
    """Whether a use now is recorded (`last_used_at`, at most once per throttle period)."""
    return found.last_used_at is None or found.last_used_at < now - LAST_USED_THROTTLE


@dataclass(slots=True)
class _Entry:
    rows: Rows  # the raw rows the principal was built from
    found: KeyIdentity
    principal: Principal
    version: int | None  # the identity version known before the read that last matched `rows`
    checked_at: float  # monotonic time that read started


class PrincipalCache:
    def __init__(self, store: Store, pepper: str) -> None:
        self.store = store
        self.pepper = pepper
        self._by_hash: OrderedDict[str, _Entry] = OrderedDict()
        self._raw = identity.RawKeyRows(store.engine.dialect)
        self.version: int | None = None  # the identity version last read
        self.trusted_until = 0.0  # monotonic: that read's start + the lease
        self.hits = 0  # answered from memory
        self.checks = 0  # rows read and equal to the cached ones
        self._refresher: asyncio.Task[None] | None = None

    # --- the identity version --------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read the identity version; its lease runs from before the read was sent."""
        started = time.monotonic()
        async with self.store.read() as conn:
            value = await self._raw.version(conn)
        if value is None:  # no row (a store made by hand): trust nothing, read every request
            self.version, self.trusted_until = None, 0.0
            return
        self.version, self.trusted_until = int(value), started + auth_version.LEASE_SECONDS

    async def _refresh_forever(self) -> None:
        failing = False
        while True:
            try:
                await self.refresh()
                failing = False
            except Exception as exc:  # the store away: every request reads until it is back
                if not failing:
                    log.warning("identity version not readable (%s); keys are read per request",
                                type(exc).__name__)
                failing = True
            await asyncio.sleep(auth_version.REFRESH_SECONDS)

    def start(self) -> None:
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_forever(), name="auth-version")

    async def stop(self) -> None:
        task, self._refresher = self._refresher, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _trusted(self, entry: _Entry, now: float) -> bool:
        return (
            entry.version is not None
            and entry.version == self.version
            and now < self.trusted_until
            and now - entry.checked_at < auth_version.RECHECK_SECONDS
        )

    async def _rows(self, conn: Connection, key_hash: str) -> Rows:
        return await self._raw.rows(conn, key_hash)

    async def _rebuild(
        self, key_hash: str, version: int | None, checked_at: float
    ) -> tuple[KeyIdentity, Principal]:
        """The typed read and fold, cached under the raw rows of the SAME snapshot: under READ
        COMMITTED two statements may see two states (a grant added between them and reverted
        before the next request would leave the wider principal cached under the narrower
        rows), so both run in one consistent read."""
        async with consistent_read(self.store) as conn:
            rows = await self._rows(conn, key_hash)
            hit = await identity.find_key_with_grants(conn, key_hash)
        if hit is None:
            self._by_hash.pop(key_hash, None)
            raise AuthenticationFailed("invalid API key", code="invalid_api_key")
        found, grants = hit
        principal = _principal(found, grants)
        self._by_hash[key_hash] = _Entry(rows, found, principal, version, checked_at)
        self._by_hash.move_to_end(key_hash)
        while len(self._by_hash) > MAX_KEYS:
            self._by_hash.popitem(last=False)
        return found, principal

    async def authenticate(self, plain_key: str | None) -> Principal:
        """`auth.authenticate`, same answers, same `last_used_at` recording."""
        if not plain_key:
            raise AuthenticationFailed("missing x-api-key header", code="missing_api_key")
        key_hash = hash_api_key(plain_key, self.pepper)
        entry = self._by_hash.get(key_hash)
        started = time.monotonic()
        if entry is not None and self._trusted(entry, started):
            self.hits += 1
            self._by_hash.move_to_end(key_hash)  # the least recently used go first
            found, principal = entry.found, entry.principal
        else:
            version = self.version  # read before the rows: they are at least that new
            async with self.store.read() as conn:
                rows = await self._rows(conn, key_hash)
            if entry is not None and entry.rows == rows:
                self.checks += 1
                self._by_hash.move_to_end(key_hash)
                entry.version, entry.checked_at = version, started
                found, principal = entry.found, entry.principal
            else:
                found, principal = await self._rebuild(key_hash, version, started)
        now = utcnow()
        refusal = _refusal(found, now)
        if refusal is not None:
            raise refusal
        if _due_for_touch(found, now):
            async with self.store.transaction() as conn:
                await identity.touch_key(conn, found.api_key_id, now)
            self._touched(key_hash, found, now)
        return principal

    def trusted(self, plain_key: str) -> Principal | None:
        """The principal `authenticate` would return from memory, without side effects; None
        when it would read the store, refuse the key or record `last_used_at`."""
        key_hash = hash_api_key(plain_key, self.pepper)
        entry = self._by_hash.get(key_hash)
        if entry is None or not self._trusted(entry, time.monotonic()):
            return None
        found, now = entry.found, utcnow()
        if _refusal(found, now) is not None:
            return None
        if _due_for_touch(found, now):
            return None
        self.hits += 1
        self._by_hash.move_to_end(key_hash)
        return entry.principal

    def _touched(self, key_hash: str, found: KeyIdentity, now: datetime) -> None:
        """Answers from memory see the use just recorded (no touch per request); the rows still
        hold the old time, so the next read of them rebuilds once."""
        entry = self._by_hash.get(key_hash)
        if entry is not None and entry.found is found:
            entry.found = replace(found, last_used_at=now)
